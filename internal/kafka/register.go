package kafka

import (
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/node"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/plugin"
)

func init() {
	Register(plugin.Default)
	readers.RegisterOpener(manifest.KindKafka, OpenKafka)
	node.OnCommitted(CommitUpstreamOffsets)
}

// Register attaches the Kafka source (kinds onestream and kafka) and sink runtimes to r. The
// offset-commit hook is process-wide (node.OnCommitted) and registered once, by init.
func Register(r *plugin.Registry) {
	r.RegisterRuntime(plugin.RoleSource, "onestream", Source{})
	r.RegisterRuntime(plugin.RoleSource, "kafka", Source{})
	r.RegisterRuntime(plugin.RoleSink, "kafka", Sink{})
}
