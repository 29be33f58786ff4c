// Package onelake is the onelake technology: a lake table is the Delta Lake table at
// AIFLOW_LAKE_ROOT/<namespace>/<table> (raw.sales_orders → <root>/raw/sales_orders/), read and
// written through internal/delta on the arrow and python engines and by Spark (internal/spark)
// at the same location, so every engine and every Delta reader (delta-rs, Polars, DuckDB, Trino)
// sees one table. format: parquet keeps a plain Hive-partitioned folder published through the
// files table protocol on the arrow engine, and a catalog table on Spark.
package onelake

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/files"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/spark/sparkspec"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Register adds the onelake source and sink to r. The source pins for both engines; the sink
// here writes on the arrow engine, and the spark engine attaches its own (package spark).
func Register(r *plugin.Registry) {
	plugin.RegisterSource(r, SourceKind, source{}, "arrow", sparkspec.Engine, "flink")
	plugin.RegisterSink(r, SinkKind, sink{}, "arrow")
}

var (
	_ plugin.Source[*SourceConfig] = source{}
	_ plugin.Sink[*SinkConfig]     = sink{}
)

// TableDir maps a onelake table name to its folder under the lake root:
// raw.sales_orders → <root>/raw/sales_orders/. The folder is confined where it is used: the
// store's guard checks every local path it opens, `..` and symlinks resolved (a symlinked
// namespace folder under the root cannot lead out), and a folder handed whole to Spark is
// checked first (objstore.Store.ConfineTree).
func TableDir(root, name string) (string, error) {
	if _, err := sqltext.QualifiedName(name); err != nil {
		return "", fault.Wrap(fault.Config, err, "")
	}
	root, err := readers.ResolveURI(nil, root)
	if err != nil {
		return "", err
	}
	return readers.ResolveURI(nil, strings.TrimSuffix(root, "/")+"/"+strings.ReplaceAll(name, ".", "/")+"/")
}

type source struct{}

func (source) Pin(ctx context.Context, env *plugin.Env, cfg *SourceConfig) (*plugin.Output, error) {
	dir, err := TableDir(env.Config.LakeRoot, cfg.Table)
	if err != nil {
		return nil, err
	}
	if env.Node.EngineName() == sparkspec.Engine || consumedBySpark(env) {
		return pinTable(ctx, env, cfg, dir)
	}
	if cfg.Format == "delta" {
		return pinDelta(ctx, env, cfg, dir)
	}
	ds, details, err := files.PinFolder(ctx, env.Store, dir, dataset.ReadOptions{Format: dataset.Parquet, Partitions: cfg.Partitions, Columns: cfg.Columns})
	if err != nil {
		return nil, err
	}
	m := files.Manifest(ds, &manifest.DatasetRef{Namespace: "onelake", Name: cfg.Table}, details)
	env.Log.Info("pinned onelake table", "table", cfg.Table, "dir", dir, "files", len(ds.Files), "bytes", m.Bytes)
	return &plugin.Output{Manifest: m}, nil
}

// consumedBySpark reports whether any consumer of the source runs on Spark: then the source pins
// a catalog table that Spark reads itself.
func consumedBySpark(env *plugin.Env) bool {
	for _, id := range env.Pipeline.Downstream(env.Node.ID) {
		if env.Pipeline.Nodes[id].EngineName() == sparkspec.Engine {
			return true
		}
	}
	return false
}

// pinTable pins a table for the Spark engine: the table, its format and the partition filter as
// safely quoted SQL. A delta table is pinned by its location under the lake root and, read from
// its log here, its current version (VERSION AS OF): a retry reads exactly what the first
// attempt read.
func pinTable(ctx context.Context, env *plugin.Env, cfg *SourceConfig, dir string) (*plugin.Output, error) {
	var conds []string
	for _, k := range slices.Sorted(maps.Keys(cfg.Partitions)) {
		c, err := sqltext.Equals(k, cfg.Partitions[k])
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "partition %s", k)
		}
		conds = append(conds, c)
	}
	t := &manifest.Table{Name: cfg.Table, Format: cfg.Format, Snapshot: cfg.Snapshot, Filter: strings.Join(conds, " AND ")}
	m := &manifest.Manifest{Kind: manifest.KindTable, Table: t, Dataset: &manifest.DatasetRef{Namespace: "onelake", Name: cfg.Table}}
	if len(cfg.Columns) > 0 {
		m.Details = map[string]any{"columns": cfg.Columns}
	}
	if cfg.Format == "delta" {
		t.Location = strings.TrimSuffix(dir, "/")
		if t.Snapshot == "" {
			s, err := delta.New(env.Store, t.Location).Latest(ctx)
			if err != nil {
				return nil, fmt.Errorf("onelake table %s: %w", cfg.Table, err)
			}
			t.Snapshot = strconv.FormatInt(s.Version, 10)
		}
	}
	return &plugin.Output{Manifest: m}, nil
}

// pinDelta pins a Delta table for the Go side (arrow and python engines): the data files of one
// table version that match the partition filter, with their partition values from the log.
func pinDelta(ctx context.Context, env *plugin.Env, cfg *SourceConfig, dir string) (*plugin.Output, error) {
	dir = strings.TrimSuffix(dir, "/")
	tbl := delta.New(env.Store, dir)
	version := int64(-1)
	if cfg.Snapshot != "" {
		v, err := strconv.ParseInt(cfg.Snapshot, 10, 64)
		if err != nil || v < 0 {
			return nil, fault.Configf("onelake table %s: snapshot %q: the arrow engine pins a delta version number (a timestamp needs the spark engine)", cfg.Table, cfg.Snapshot)
		}
		version = v
	}
	s, err := tbl.At(ctx, version)
	if errors.Is(err, delta.ErrNoTable) {
		if lerr := refuseLegacyLayout(ctx, env.Store, dir); lerr != nil {
			return nil, lerr
		}
		return nil, fault.Wrap(fault.Data, err, "onelake table %s: no Delta table at %s (write it first with a onelake sink)", cfg.Table, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("onelake table %s: %w", cfg.Table, err)
	}
	for k, v := range cfg.Partitions {
		if err := dataset.ValidatePartitionValue(k, v); err != nil {
			return nil, err
		}
	}
	sc, err := s.Scan(cfg.Partitions)
	if err != nil {
		return nil, err
	}
	ref := &manifest.DatasetRef{Namespace: "onelake", Name: cfg.Table}
	details := map[string]any{"format": "delta", "table_dir": dir, "delta_version": s.Version}
	if len(cfg.Columns) > 0 {
		details["columns"] = cfg.Columns
	}
	if len(sc.Files) == 0 {
		if len(cfg.Partitions) > 0 {
			return nil, fault.Dataf("no partition %s in version %d of delta table %s", partString(cfg.Partitions), s.Version, dir)
		}
		// An empty table: no files, its schema from the log.
		as, err := s.Schema.ArrowSchema()
		if err != nil {
			return nil, err
		}
		return &plugin.Output{Manifest: &manifest.Manifest{Kind: manifest.KindFiles, Format: string(dataset.Parquet), Schema: readers.Fields(as), Dataset: ref, Details: details}}, nil
	}
	ds, err := dataset.OpenFiles(ctx, env.Store, sc.Files, sc.ReadOptions(cfg.Columns))
	if err != nil {
		return nil, err
	}
	m := files.Manifest(ds, ref, details)
	if sc.Rows >= 0 {
		m.Rows = sc.Rows
	}
	env.Log.Info("pinned delta table", "table", cfg.Table, "dir", dir, "delta_version", s.Version, "files", len(ds.Files), "bytes", m.Bytes)
	return &plugin.Output{Manifest: m}, nil
}

func partString(p map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, ",")
}

type sink struct{}

func (sink) Publish(ctx context.Context, env *plugin.Env, c *SinkConfig) (*plugin.Output, error) {
	if env.Inputs[env.InputOrder[0]].Kind == manifest.KindTable {
		// A catalog table only Spark reads: the spark engine's onelake sink writes it (absent
		// from a -tags nospark build).
		if run, ok := env.Decoded.Runtime(sparkspec.Engine); ok {
			return run(ctx, env)
		}
		return nil, fault.Configf("onelake sink %s: needs the spark engine, which this aiflow-runner was built without", c.Table)
	}
	dir, err := TableDir(env.Config.LakeRoot, c.Table)
	if err != nil {
		return nil, err
	}
	if c.Format == "delta" {
		return publishDelta(ctx, env, dir, c.Mode, c.PartitionBy, &manifest.DatasetRef{Namespace: "onelake", Name: c.Table})
	}
	return files.Publish(ctx, env, files.Target{Dir: dir, Format: "parquet", Mode: c.Mode, PartitionBy: c.PartitionBy, Compression: "zstd",
		Ref: &manifest.DatasetRef{Namespace: "onelake", Name: c.Table}})
}
