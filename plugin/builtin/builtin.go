// Package builtin declares the config specs of aiflow's built-in plugins (ARCHITECTURE §8; names
// from the seed): sources onelake, onestream, files, kafka; sinks onelake, feature_store, files,
// kafka; engines spark, arrow, python. Importing the package registers them in plugin.Default;
// Register adds them to any other registry. The runtimes live in internal/* and attach
// themselves with Registry.RegisterReader / RegisterRuntime.
package builtin

import (
	"maps"
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/plugin"
)

func init() { Register(plugin.Default) }

// Engine names.
const (
	Spark  = "spark"
	Arrow  = "arrow"
	Python = "python"
)

// Register adds every built-in spec to r.
func Register(r *plugin.Registry) {
	r.Register(plugin.Spec{Kind: "onelake", Role: plugin.RoleSource, Engines: []string{Spark, Arrow},
		Summary: "a lake table: Delta Lake at <lake root>/<namespace>/<table> on every engine (format parquet: Hive-partitioned files, or a Spark catalog table)",
		New:     func() plugin.Config { return &OnelakeSource{Format: "delta"} }})
	r.Register(plugin.Spec{Kind: "onestream", Role: plugin.RoleSource, Engines: []string{Arrow, Spark},
		Summary: "the company stream (Kafka): a bounded offset range pinned by the source node",
		New:     func() plugin.Config { return newStreamSource() }})
	r.Register(plugin.Spec{Kind: "kafka", Role: plugin.RoleSource, Engines: []string{Arrow},
		Summary: "a Kafka topic: a bounded offset range pinned by the source node",
		New:     func() plugin.Config { return newStreamSource() }})
	r.Register(plugin.Spec{Kind: "files", Role: plugin.RoleSource, Engines: []string{Arrow, Spark},
		Summary: "Parquet, CSV, NDJSON or Arrow IPC files on file:// or s3://: one file, a folder or a Hive-partitioned dataset",
		New:     func() plugin.Config { return &FilesSource{} }})

	r.Register(plugin.Spec{Kind: "onelake", Role: plugin.RoleSink, Engines: []string{Spark, Arrow},
		Summary: "a lake table (Delta Lake by default), written once per run: overwrite replaces only the partitions the run touched",
		New:     func() plugin.Config { return &OnelakeSink{Mode: "overwrite", Format: "delta"} }})
	r.Register(plugin.Spec{Kind: "feature_store", Role: plugin.RoleSink, Engines: []string{Arrow},
		Summary: "a feature group in PostgreSQL: rows upserted by entity keys, newer event time wins, committed with the run",
		New: func() plugin.Config {
			return &FeatureStoreSink{Mode: "upsert", Schema: "public", DSN: plugin.Secret{Env: "AIFLOW_FEATURE_STORE_DSN"}}
		}})
	r.Register(plugin.Spec{Kind: "files", Role: plugin.RoleSink, Engines: []string{Arrow, Spark},
		Summary: "Parquet, CSV or Arrow IPC files on file:// or s3://, published once per run",
		New:     func() plugin.Config { return &FilesSink{Format: "parquet", Mode: "overwrite", Compression: "zstd"} }})
	r.Register(plugin.Spec{Kind: "kafka", Role: plugin.RoleSink, Engines: []string{Arrow},
		Summary: "a Kafka topic, written by a transactional producer so a retry never duplicates",
		New:     func() plugin.Config { return &KafkaSink{Compression: "zstd", ValueFormat: "json"} }})

	r.Register(plugin.Spec{Kind: Spark, Role: plugin.RoleEngine, Open: true,
		Summary: "Spark SQL, a PySpark function main(spark, inputs, params) or a registered Go DataFrame function on a Spark cluster through Spark Connect",
		New:     func() plugin.Config { return &SparkTransform{OutputFormat: "parquet"} },
		NewResources: func() plugin.Config {
			return &SparkResources{DriverMemory: "2g", ExecutorMemory: "4g", ExecutorCores: 2}
		}})
	r.Register(plugin.Spec{Kind: Arrow, Role: plugin.RoleEngine,
		Summary:      "in-process Go over Arrow record batches: declarative steps or a registered Go function",
		New:          func() plugin.Config { return &ArrowTransform{} },
		NewResources: func() plugin.Config { return &plugin.PodResources{} }})
	r.Register(plugin.Spec{Kind: Python, Role: plugin.RoleEngine, Open: true,
		Summary:      "a Python function fn(inputs: dict[str, pyarrow.Table], params: dict) run in a subprocess, exchanging Arrow IPC",
		New:          func() plugin.Config { return &PythonTransform{Timeout: plugin.Duration{Duration: 3600e9}} },
		NewResources: func() plugin.Config { return &plugin.PodResources{} }})
}

// ---- sources ----

// OnelakeSource reads a lake table.
type OnelakeSource struct {
	Table      string            `json:"table" required:"true" doc:"table name, namespace.table (raw.sales_orders); on the arrow engine it maps to <table root>/raw/sales_orders/"`
	Format     string            `json:"format" doc:"delta (a Delta Lake table at <lake root>/<namespace>/<table>, on every engine) or parquet (a plain Hive-layout folder on the arrow engine, a catalog table on Spark)"`
	Partitions map[string]string `json:"partitions" doc:"partition filters, column to value; values may use templates ({{ ds }}) and are quoted safely"`
	Columns    []string          `json:"columns" doc:"columns to read (all when empty)"`
	Snapshot   string            `json:"snapshot" doc:"a table version or snapshot id to pin (latest when empty)"`
}

func (c *OnelakeSource) Validate() error {
	if err := checkTable("table", c.Table); err != nil {
		return err
	}
	return plugin.OneOf("format", c.Format, "delta", "parquet")
}

// StreamSource reads a bounded range of a Kafka topic (kinds onestream and kafka).
type StreamSource struct {
	Topic           string            `json:"topic" required:"true" doc:"topic to read"`
	Brokers         []string          `json:"brokers" doc:"bootstrap brokers host:port (default $AIFLOW_KAFKA_BROKERS)"`
	GroupID         string            `json:"group_id" doc:"consumer group whose committed offsets start the range; committed after the downstream sink commits (default aiflow.<pipeline>.<node>)"`
	StartingOffsets string            `json:"starting_offsets" doc:"where to start without a committed offset: earliest, latest, or timestamp:<unix ms>"`
	ValueFormat     string            `json:"value_format" doc:"json (decoded into columns) or raw (bytes)"`
	Schema          map[string]string `json:"schema" doc:"declared JSON value schema, column to type (inferred from the first records when empty)"`
	OnError         string            `json:"on_error" doc:"undecodable record: fail (exit 65 naming the offset) or dead_letter"`
	DeadLetter      string            `json:"dead_letter" doc:"where dead letters go: kafka://topic or a file:// / s3:// folder (with on_error: dead_letter)"`
	MaxRecords      int64             `json:"max_records" doc:"cap on records pinned per run (0: up to the high watermark)"`
}

func newStreamSource() *StreamSource {
	return &StreamSource{StartingOffsets: "earliest", ValueFormat: "json", OnError: "fail"}
}

func (c *StreamSource) Validate() error {
	if c.Topic == "" || strings.ContainsAny(c.Topic, " /\\") {
		return plugin.Errorf("topic", "invalid topic %q", c.Topic)
	}
	if c.StartingOffsets != "earliest" && c.StartingOffsets != "latest" && !strings.HasPrefix(c.StartingOffsets, "timestamp:") {
		return plugin.Errorf("starting_offsets", "%q is not earliest, latest or timestamp:<unix ms>", c.StartingOffsets)
	}
	if err := plugin.OneOf("value_format", c.ValueFormat, "json", "raw"); err != nil {
		return err
	}
	if err := plugin.OneOf("on_error", c.OnError, "fail", "dead_letter"); err != nil {
		return err
	}
	if c.OnError == "dead_letter" && c.DeadLetter == "" {
		return plugin.Errorf("dead_letter", "on_error: dead_letter needs a dead_letter destination")
	}
	if c.MaxRecords < 0 {
		return plugin.Errorf("max_records", "must not be negative")
	}
	return nil
}

// FilesSource reads files.
type FilesSource struct {
	Path       string            `json:"path" required:"true" doc:"file or folder URI: file:///data/orders/, s3://bucket/prefix/, or a path relative to the working directory"`
	Format     string            `json:"format" doc:"parquet, csv, json (NDJSON) or ipc (Arrow); from the file extension when empty"`
	Partitions map[string]string `json:"partitions" doc:"Hive partition filters, column to value (templates allowed)"`
	Columns    []string          `json:"columns" doc:"columns to read (all when empty)"`
	Schema     map[string]string `json:"schema" doc:"declared schema for csv/json, column to type (inferred when empty)"`
	Options    map[string]string `json:"options" doc:"format options: delimiter, header (csv)"`
}

func (c *FilesSource) Validate() error {
	if c.Format != "" {
		return plugin.OneOf("format", c.Format, "parquet", "csv", "json", "ipc")
	}
	return nil
}

// ---- sinks ----

// OnelakeSink writes a lake table.
type OnelakeSink struct {
	Table       string   `json:"table" required:"true" doc:"table name, namespace.table"`
	Mode        string   `json:"mode" doc:"overwrite (the partitions this run touched), append, error (fail if data exists), ignore (skip if data exists)"`
	PartitionBy []string `json:"partition_by" doc:"partition columns (Hive layout)"`
	Format      string   `json:"format" doc:"delta (a Delta Lake table at <lake root>/<namespace>/<table>, on every engine) or parquet (a plain Hive-layout folder on the arrow engine, a catalog table on Spark)"`
}

func (c *OnelakeSink) Validate() error {
	if err := checkTable("table", c.Table); err != nil {
		return err
	}
	if err := plugin.OneOf("mode", c.Mode, "overwrite", "append", "error", "ignore"); err != nil {
		return err
	}
	return plugin.OneOf("format", c.Format, "parquet", "delta")
}

// FeatureStoreSink upserts into a feature group table.
type FeatureStoreSink struct {
	FeatureGroup string        `json:"feature_group" required:"true" doc:"feature group (table) name"`
	Mode         string        `json:"mode" doc:"upsert (the only mode)"`
	EntityKeys   []string      `json:"entity_keys" doc:"entity key columns (default: user_id if present, else the first column)"`
	EventTime    string        `json:"event_time" doc:"event timestamp column: a row replaces the stored one only when newer"`
	Create       bool          `json:"create" doc:"create the table from the input schema when missing"`
	Schema       string        `json:"schema" doc:"PostgreSQL schema of the table"`
	DSN          plugin.Secret `json:"dsn" doc:"PostgreSQL DSN, a secret reference"`
}

func (c *FeatureStoreSink) Validate() error {
	if err := checkIdent("feature_group", c.FeatureGroup); err != nil {
		return err
	}
	if err := checkIdent("schema", c.Schema); err != nil {
		return err
	}
	for _, k := range c.EntityKeys {
		if err := checkIdent("entity_keys", k); err != nil {
			return err
		}
	}
	return plugin.OneOf("mode", c.Mode, "upsert")
}

// FilesSink writes files.
type FilesSink struct {
	Path        string   `json:"path" required:"true" doc:"folder URI (file:// or s3://) the dataset is published under"`
	Format      string   `json:"format" doc:"parquet, csv or ipc"`
	Mode        string   `json:"mode" doc:"overwrite (the partitions this run touched), append, error, ignore"`
	PartitionBy []string `json:"partition_by" doc:"partition columns (Hive layout)"`
	Compression string   `json:"compression" doc:"parquet compression: zstd, snappy, gzip, none"`
}

func (c *FilesSink) Validate() error {
	if err := plugin.OneOf("format", c.Format, "parquet", "csv", "ipc"); err != nil {
		return err
	}
	if err := plugin.OneOf("mode", c.Mode, "overwrite", "append", "error", "ignore"); err != nil {
		return err
	}
	return plugin.OneOf("compression", c.Compression, "zstd", "snappy", "gzip", "none")
}

// KafkaSink produces to a topic.
type KafkaSink struct {
	Topic       string   `json:"topic" required:"true" doc:"topic to write"`
	Brokers     []string `json:"brokers" doc:"bootstrap brokers host:port (default $AIFLOW_KAFKA_BROKERS)"`
	KeyColumn   string   `json:"key_column" doc:"column used as the message key (none: null keys)"`
	ValueFormat string   `json:"value_format" doc:"json: each row as a JSON object"`
	Compression string   `json:"compression" doc:"none, gzip, snappy, lz4 or zstd"`
}

func (c *KafkaSink) Validate() error {
	if err := plugin.OneOf("value_format", c.ValueFormat, "json"); err != nil {
		return err
	}
	return plugin.OneOf("compression", c.Compression, "none", "gzip", "snappy", "lz4", "zstd")
}

// ---- engines ----

// SparkTransform runs Spark SQL, a PySpark function or a registered Go function over the inputs.
type SparkTransform struct {
	SQL          string `json:"sql" doc:"Spark SQL over the inputs, each registered as a temp view named by its node id (templates allowed)"`
	Entrypoint   string `json:"entrypoint" doc:"module:function instead of sql: a Python function main(spark, inputs, params) returning a DataFrame (run in a Python subprocess on a Spark Connect session), or a Go function registered under that name"`
	OutputTable  string `json:"output_table" doc:"also save the result as this table (namespace.table)"`
	OutputPath   string `json:"output_path" doc:"also save the result under this path"`
	OutputFormat string `json:"output_format" doc:"format of output_path: parquet, delta, json, csv, orc"`
	// Rest holds the entrypoint's own params (the seed's transform(..., **kwargs)).
	Rest map[string]any `json:"-" plugin:"rest"`
}

func (c *SparkTransform) Validate() error {
	if (c.SQL == "") == (c.Entrypoint == "") {
		return plugin.Errorf("", "a spark transform needs exactly one of sql or entrypoint")
	}
	if c.SQL != "" && len(c.Rest) > 0 {
		keys := slices.Sorted(maps.Keys(c.Rest))
		return plugin.Errorf(keys[0], "unknown field %q (only an entrypoint takes params of its own)", keys[0])
	}
	if c.OutputTable != "" {
		if err := checkTable("output_table", c.OutputTable); err != nil {
			return err
		}
	}
	return plugin.OneOf("output_format", c.OutputFormat, "parquet", "delta", "json", "csv", "orc")
}

// SparkResources are the seed's resources.spark(...) plus the pod's own.
type SparkResources struct {
	Cluster        string `json:"cluster" doc:"Spark cluster name, mapped to a sc:// remote by the runtime config (AIFLOW_SPARK_REMOTE when empty)"`
	DriverMemory   string `json:"driver_memory" doc:"Spark driver memory"`
	ExecutorMemory string `json:"executor_memory" doc:"Spark executor memory"`
	ExecutorCores  int    `json:"executor_cores" doc:"cores per executor"`
	plugin.PodResources
}

func (c *SparkResources) Validate() error {
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

// ArrowTransform runs declarative steps or a registered Go function in-process.
type ArrowTransform struct {
	Steps    []map[string]any `json:"steps" doc:"declarative steps applied in order: filter, derive, select, drop, rename, cast, group_by, join, sort, limit (see docs/arrow-engine.md)"`
	Function string           `json:"function" doc:"a registered Go function over record readers, instead of steps"`
	Params   map[string]any   `json:"params" doc:"parameters handed to the function"`
}

func (c *ArrowTransform) Validate() error {
	if len(c.Steps) > 0 && c.Function != "" {
		return plugin.Errorf("", "an arrow transform has steps or a function, not both")
	}
	return nil
}

// PythonTransform calls fn(inputs, params) in a Python subprocess.
type PythonTransform struct {
	Fn         string          `json:"fn" doc:"module:function, e.g. etl_jobs.build_user_features:main"`
	Entrypoint string          `json:"entrypoint" doc:"the seed's alternative spelling of fn"`
	Timeout    plugin.Duration `json:"timeout" doc:"kill the function after this long"`
	Rest       map[string]any  `json:"-" plugin:"rest"`
}

func (c *PythonTransform) Validate() error {
	fn := c.Function()
	if fn == "" {
		return plugin.Errorf("fn", "missing required field \"fn\" (module:function)")
	}
	mod, f, ok := strings.Cut(fn, ":")
	if !ok || mod == "" || f == "" || strings.ContainsAny(fn, " /\\") {
		return plugin.Errorf("fn", "%q is not module:function", fn)
	}
	if c.Fn != "" && c.Entrypoint != "" && c.Fn != c.Entrypoint {
		return plugin.Errorf("entrypoint", "fn and entrypoint disagree")
	}
	return nil
}

// Function is fn, or entrypoint when fn is empty.
func (c *PythonTransform) Function() string {
	if c.Fn != "" {
		return c.Fn
	}
	return c.Entrypoint
}
