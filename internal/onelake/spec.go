package onelake

import "github.com/aiflow-dev/aiflow/plugin"

// SourceKind is the onelake source: a lake table, read by the arrow engine from its files under
// the lake root and by the spark engine from its catalog.
var SourceKind = plugin.Kind[*SourceConfig]{Kind: "onelake", Engines: []string{"spark", "arrow", "flink"},
	Summary: "a lake table: Delta Lake at <lake root>/<namespace>/<table> on every engine (format parquet: Hive-partitioned files, or a Spark catalog table)",
	New:     func() *SourceConfig { return &SourceConfig{Format: "delta"} },
	Asset:   func(c *SourceConfig) string { return asset(c.Table) }}

// SinkKind is the onelake sink.
var SinkKind = plugin.Kind[*SinkConfig]{Kind: "onelake", Engines: []string{"spark", "arrow"},
	Summary: "a lake table (Delta Lake by default), written once per run: overwrite replaces only the partitions the run touched",
	New:     func() *SinkConfig { return &SinkConfig{Mode: "overwrite", Format: "delta"} },
	Destinations: func(c *SinkConfig) []plugin.Destination {
		return []plugin.Destination{{Kind: plugin.DestTable, Value: c.Table, Field: "table"}}
	},
	Asset: func(c *SinkConfig) string { return asset(c.Table) }}

func asset(table string) string {
	if t := plugin.Untemplated(table); t != "" {
		return "x-onelake://" + t
	}
	return ""
}

// SourceConfig reads a lake table.
type SourceConfig struct {
	Table      string            `json:"table" required:"true" doc:"table name, namespace.table (raw.sales_orders); on the arrow engine it maps to <table root>/raw/sales_orders/"`
	Format     string            `json:"format" doc:"delta (a Delta Lake table at <lake root>/<namespace>/<table>, on every engine) or parquet (a plain Hive-layout folder on the arrow engine, a catalog table on Spark)"`
	Partitions map[string]string `json:"partitions" doc:"partition filters, column to value; values may use templates ({{ ds }}) and are quoted safely"`
	Columns    []string          `json:"columns" doc:"columns to read (all when empty)"`
	Snapshot   string            `json:"snapshot" doc:"format delta: a table version (or, on Spark, a timestamp) to pin; latest when empty"`
}

func (c *SourceConfig) Validate() error {
	if err := plugin.CheckTable("table", c.Table); err != nil {
		return err
	}
	if err := plugin.OneOf("format", c.Format, "delta", "parquet"); err != nil {
		return err
	}
	if c.Snapshot != "" && c.Format != "delta" {
		// A parquet table keeps no versions to pin: the arrow engine ignored the field and Spark
		// refused it only when a consumer ran.
		return plugin.Errorf("snapshot", "needs format delta (a parquet table keeps no versions to pin)")
	}
	return nil
}

// SinkConfig writes a lake table.
type SinkConfig struct {
	Table       string   `json:"table" required:"true" doc:"table name, namespace.table"`
	Mode        string   `json:"mode" doc:"overwrite (the partitions this run touched), append, error (fail if data exists), ignore (skip if data exists)"`
	PartitionBy []string `json:"partition_by" doc:"partition columns (Hive layout)"`
	Format      string   `json:"format" doc:"delta (a Delta Lake table at <lake root>/<namespace>/<table>, on every engine) or parquet (a plain Hive-layout folder on the arrow engine, a catalog table on Spark)"`
}

func (c *SinkConfig) Validate() error {
	if err := plugin.CheckTable("table", c.Table); err != nil {
		return err
	}
	if err := plugin.OneOf("mode", c.Mode, "overwrite", "append", "error", "ignore"); err != nil {
		return err
	}
	return plugin.OneOf("format", c.Format, "parquet", "delta")
}
