// Package sparkspec declares the spark engine's configs apart from its runtime (package spark),
// so that a runner built without Spark (-tags nospark) still validates and compiles spark
// pipelines and links no Spark Connect client.
package sparkspec

import (
	"maps"
	"slices"

	"github.com/aiflow-dev/aiflow/plugin"
)

// Engine is the spark engine's name.
const Engine = "spark"

// Kind is the spark engine.
var Kind = plugin.EngineKind[*Transform, *Resources]{Kind: Engine, Open: true,
	Summary: "Spark SQL, a PySpark function main(spark, inputs, params) or a registered Go DataFrame function on a Spark cluster through Spark Connect",
	New:     func() *Transform { return &Transform{OutputFormat: "parquet"} },
	NewResources: func() *Resources {
		return &Resources{DriverMemory: "2g", ExecutorMemory: "4g", ExecutorCores: 2}
	},
	Destinations: func(c *Transform) []plugin.Destination {
		var out []plugin.Destination
		if c.OutputTable != "" {
			out = append(out, plugin.Destination{Kind: plugin.DestTable, Value: c.OutputTable, Field: "output_table"})
		}
		if c.OutputPath != "" {
			out = append(out, plugin.Destination{Kind: plugin.DestPath, Value: c.OutputPath, Field: "output_path"})
		}
		return out
	}}

// Register registers the spark engine's spec alone (a runner without the Spark runtime).
func Register(r *plugin.Registry) { plugin.RegisterEngine[*Transform, *Resources](r, Kind, nil) }

// Transform runs Spark SQL, a PySpark function or a registered Go function over the inputs.
type Transform struct {
	SQL          string `json:"sql" doc:"Spark SQL over the inputs, each registered as a temp view named by its node id (templates allowed)"`
	Entrypoint   string `json:"entrypoint" doc:"module:function instead of sql: a Python function main(spark, inputs, params) returning a DataFrame (run in a Python subprocess on a Spark Connect session), or a Go function registered under that name"`
	OutputTable  string `json:"output_table" doc:"also save the result as this table (namespace.table)"`
	OutputPath   string `json:"output_path" doc:"also save the result under this path"`
	OutputFormat string `json:"output_format" doc:"format of output_path: parquet, delta, json, csv, orc"`
	// Rest holds the entrypoint's own params (the seed's transform(..., **kwargs)).
	Rest map[string]any `json:"-" plugin:"rest"`
}

func (c *Transform) Validate() error {
	if (c.SQL == "") == (c.Entrypoint == "") {
		return plugin.Errorf("", "a spark transform needs exactly one of sql or entrypoint")
	}
	if c.SQL != "" && len(c.Rest) > 0 {
		keys := slices.Sorted(maps.Keys(c.Rest))
		return plugin.Errorf(keys[0], "unknown field %q (only an entrypoint takes params of its own)", keys[0])
	}
	if c.OutputTable != "" {
		if err := plugin.CheckTable("output_table", c.OutputTable); err != nil {
			return err
		}
	}
	return plugin.OneOf("output_format", c.OutputFormat, "parquet", "delta", "json", "csv", "orc")
}

// Resources are the seed's resources.spark(...) plus the pod's own.
type Resources struct {
	Cluster        string `json:"cluster" doc:"Spark cluster name, mapped to a sc:// remote by the runtime config (AIFLOW_SPARK_REMOTE when empty)"`
	DriverMemory   string `json:"driver_memory" doc:"Spark driver memory"`
	ExecutorMemory string `json:"executor_memory" doc:"Spark executor memory"`
	ExecutorCores  int    `json:"executor_cores" doc:"cores per executor"`
	plugin.PodResources
}

func (c *Resources) Validate() error {
	for f, v := range map[string]string{"driver_memory": c.DriverMemory, "executor_memory": c.ExecutorMemory} {
		if _, err := plugin.MemoryBytes(v); err != nil {
			return plugin.Errorf(f, "%v", err)
		}
	}
	if c.ExecutorCores < 1 {
		return plugin.Errorf("executor_cores", "must be at least 1")
	}
	return c.PodResources.Validate()
}
