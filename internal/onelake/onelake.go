// Package onelake is the onelake technology on the arrow engine: a lake table maps to
// Hive-partitioned files under AIFLOW_LAKE_ROOT (raw.sales_orders → <root>/raw/sales_orders/),
// pinned by the source and published by the sink through the files table protocol. On the spark
// engine a onelake table is a catalog table that internal/spark reads and writes.
package onelake

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/files"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

func init() { Register(plugin.Default) }

// Register attaches the onelake source and sink runtimes to r.
func Register(r *plugin.Registry) {
	r.RegisterRuntime(plugin.RoleSource, "onelake", source{})
	r.RegisterRuntime(plugin.RoleSink, "onelake", sink{})
}

var (
	_ plugin.SourceRuntime = source{}
	_ plugin.SinkRuntime   = sink{}
)

// TableDir maps a onelake table name to its folder under the lake root:
// raw.sales_orders → <root>/raw/sales_orders/.
func TableDir(root, name string) (string, error) {
	if _, err := sqltext.QualifiedName(name); err != nil {
		return "", fault.Wrap(fault.Config, err, "")
	}
	root, err := readers.ResolveURI(root)
	if err != nil {
		return "", err
	}
	// Checked again as a whole: a symlinked namespace folder under the root must not lead out.
	return readers.ResolveURI(strings.TrimSuffix(root, "/") + "/" + strings.ReplaceAll(name, ".", "/") + "/")
}

type source struct{}

func (source) Pin(ctx context.Context, env *plugin.Env) (*plugin.Output, error) {
	cfg := env.Decoded.Params.(*builtin.OnelakeSource)
	if cfg.Format == "delta" || env.Node.EngineName() == builtin.Spark || consumedBySpark(env) {
		return pinTable(env, cfg)
	}
	dir, err := TableDir(env.Config.LakeRoot, cfg.Table)
	if err != nil {
		return nil, err
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
		if env.Pipeline.Nodes[id].EngineName() == builtin.Spark {
			return true
		}
	}
	return false
}

// pinTable pins a catalog table for the Spark engine: the table, its format and the partition
// filter as safely quoted SQL.
func pinTable(env *plugin.Env, cfg *builtin.OnelakeSource) (*plugin.Output, error) {
	var conds []string
	for _, k := range slices.Sorted(maps.Keys(cfg.Partitions)) {
		c, err := sqltext.Equals(k, cfg.Partitions[k])
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "partition %s", k)
		}
		conds = append(conds, c)
	}
	m := &manifest.Manifest{Kind: manifest.KindTable, Table: &manifest.Table{Name: cfg.Table, Format: cfg.Format, Snapshot: cfg.Snapshot, Filter: strings.Join(conds, " AND ")},
		Dataset: &manifest.DatasetRef{Namespace: "onelake", Name: cfg.Table}}
	if len(cfg.Columns) > 0 {
		m.Details = map[string]any{"columns": cfg.Columns}
	}
	if cfg.Format == "delta" && env.Node.EngineName() != builtin.Spark && !consumedBySpark(env) {
		return nil, fault.Configf("onelake table %s has format delta, which only the spark engine reads: give its consumer engine spark, or use format parquet on the arrow engine", cfg.Table)
	}
	return &plugin.Output{Manifest: m}, nil
}

type sink struct{}

func (sink) Publish(ctx context.Context, env *plugin.Env) (*plugin.Output, error) {
	c := env.Decoded.Params.(*builtin.OnelakeSink)
	if env.Node.EngineName() == builtin.Spark || env.Inputs[env.InputOrder[0]].Kind == manifest.KindTable {
		// A catalog table on Spark: internal/spark's runtime (absent from a -tags nospark build).
		if rt, ok := env.Registry.Runtime(plugin.RoleSink, "onelake@spark"); ok {
			return rt.(plugin.SinkRuntime).Publish(ctx, env)
		}
		return nil, fault.Configf("onelake sink %s: needs the spark engine, which this aiflow-runner was built without", c.Table)
	}
	if c.Format == "delta" {
		return nil, fault.Configf("onelake sink %s: format delta needs the spark engine (engine: spark on the sink)", c.Table)
	}
	dir, err := TableDir(env.Config.LakeRoot, c.Table)
	if err != nil {
		return nil, err
	}
	return files.Publish(ctx, env, files.Target{Dir: dir, Format: "parquet", Mode: c.Mode, PartitionBy: c.PartitionBy, Compression: "zstd",
		Ref: &manifest.DatasetRef{Namespace: "onelake", Name: c.Table}})
}
