// Package builtin links aiflow's built-in plugins: sources onelake, onestream, files, kafka;
// sinks onelake, feature_store, files, kafka; engines spark, arrow, python, flink. Each lives in its
// technology's package with its typed config and runtime; Register adds them all to a registry,
// and importing this package fills plugin.Default with them.
package builtin

import (
	"github.com/aiflow-dev/aiflow/internal/arrowengine"
	"github.com/aiflow-dev/aiflow/internal/featurestore"
	"github.com/aiflow-dev/aiflow/internal/files"
	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/internal/kafka"
	"github.com/aiflow-dev/aiflow/internal/onelake"
	"github.com/aiflow-dev/aiflow/internal/pyengine"
	"github.com/aiflow-dev/aiflow/internal/spark/sparkspec"
	"github.com/aiflow-dev/aiflow/plugin"
)

func init() { Register(plugin.Default) }

// Engine names.
const (
	Spark  = sparkspec.Engine
	Arrow  = arrowengine.Name
	Python = pyengine.Name
	Flink  = flink.Name
)

// Register adds every built-in plugin to r: specs and, for a runner built with them, runtimes
// (`-tags nospark` leaves the Spark runtime out; its spec stays, so spark pipelines still
// validate and compile).
func Register(r *plugin.Registry) {
	files.Register(r)
	onelake.Register(r)
	kafka.Register(r)
	featurestore.Register(r)
	arrowengine.Register(r)
	pyengine.Register(r)
	flink.Register(r)
	registerSpark(r)
}

// Registry returns a new registry holding the built-ins: the start of a team's own runner.
func Registry() *plugin.Registry {
	r := plugin.NewRegistry()
	Register(r)
	return r
}

// The configs under their former names, for code written before they moved to their
// technology's package.
type (
	OnelakeSource    = onelake.SourceConfig
	OnelakeSink      = onelake.SinkConfig
	StreamSource     = kafka.SourceConfig
	KafkaSink        = kafka.SinkConfig
	FilesSource      = files.SourceConfig
	FilesSink        = files.SinkConfig
	FeatureStoreSink = featurestore.SinkConfig
	SparkTransform   = sparkspec.Transform
	SparkResources   = sparkspec.Resources
	ArrowTransform   = arrowengine.Config
	PythonTransform  = pyengine.Config
)
