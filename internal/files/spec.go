package files

import "github.com/aiflow-dev/aiflow/plugin"

// SourceKind is the files source.
var SourceKind = plugin.Kind[*SourceConfig]{Kind: "files", Engines: []string{"arrow", "spark", "flink"},
	Summary: "Parquet, CSV, NDJSON or Arrow IPC files on file:// or s3://: one file, a folder or a Hive-partitioned dataset",
	New:     func() *SourceConfig { return &SourceConfig{} },
	Asset:   func(c *SourceConfig) string { return plugin.PathAsset(c.Path) }}

// SinkKind is the files sink.
var SinkKind = plugin.Kind[*SinkConfig]{Kind: "files", Engines: []string{"arrow", "spark"},
	Summary: "Parquet, CSV or Arrow IPC files on file:// or s3://, published once per run",
	New:     func() *SinkConfig { return &SinkConfig{Format: "parquet", Mode: "overwrite", Compression: "zstd"} },
	Destinations: func(c *SinkConfig) []plugin.Destination {
		return []plugin.Destination{{Kind: plugin.DestPath, Value: c.Path, Field: "path"}}
	},
	Asset: func(c *SinkConfig) string { return plugin.PathAsset(c.Path) }}

// SourceConfig reads files.
type SourceConfig struct {
	Path       string            `json:"path" required:"true" doc:"file or folder URI: file:///data/orders/, s3://bucket/prefix/, or a path relative to the working directory"`
	Format     string            `json:"format" doc:"parquet, csv, json (NDJSON) or ipc (Arrow); from the file extension when empty"`
	Partitions map[string]string `json:"partitions" doc:"Hive partition filters, column to value (templates allowed)"`
	Columns    []string          `json:"columns" doc:"columns to read (all when empty)"`
	Schema     map[string]string `json:"schema" doc:"declared schema for csv/json, column to type (inferred when empty)"`
	Options    map[string]string `json:"options" doc:"format options: delimiter, header (csv)"`
}

func (c *SourceConfig) Validate() error {
	if c.Format != "" {
		return plugin.OneOf("format", c.Format, "parquet", "csv", "json", "ipc")
	}
	return nil
}

// SinkConfig writes files.
type SinkConfig struct {
	Path        string   `json:"path" required:"true" doc:"folder URI (file:// or s3://) the dataset is published under"`
	Format      string   `json:"format" doc:"parquet, csv or ipc"`
	Mode        string   `json:"mode" doc:"overwrite (the partitions this run touched), append, error, ignore"`
	PartitionBy []string `json:"partition_by" doc:"partition columns (Hive layout)"`
	Compression string   `json:"compression" doc:"parquet compression: zstd, snappy, gzip, none"`
}

func (c *SinkConfig) Validate() error {
	if err := plugin.OneOf("format", c.Format, "parquet", "csv", "ipc"); err != nil {
		return err
	}
	if err := plugin.OneOf("mode", c.Mode, "overwrite", "append", "error", "ignore"); err != nil {
		return err
	}
	return plugin.OneOf("compression", c.Compression, "zstd", "snappy", "gzip", "none")
}
