// Package sinks holds the built-in sinks that publish files: files and onelake on the arrow
// engine. Both publish through internal/table, so a reader sees the old or the new data, never a
// mix, and a retried node never publishes twice.
package sinks

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowengine"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/node"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/table"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

func init() { Register(plugin.Default) }

// Register attaches the sink runtimes to r.
func Register(r *plugin.Registry) {
	r.RegisterRuntime(plugin.RoleSink, "files", filesSink{})
	r.RegisterRuntime(plugin.RoleSink, "onelake", onelakeSink{})
}

var (
	_ node.SinkRuntime = filesSink{}
	_ node.SinkRuntime = onelakeSink{}
)

type filesSink struct{}

func (filesSink) Publish(ctx context.Context, env *node.Env) (*node.Output, error) {
	c := env.Decoded.Params.(*builtin.FilesSink)
	dir, err := readers.ResolveURI(c.Path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	return publish(ctx, env, target{dir: dir, format: c.Format, mode: c.Mode, partitionBy: c.PartitionBy, compression: c.Compression,
		ref: readers.DatasetRef(dir)})
}

type onelakeSink struct{}

func (onelakeSink) Publish(ctx context.Context, env *node.Env) (*node.Output, error) {
	c := env.Decoded.Params.(*builtin.OnelakeSink)
	if env.Node.EngineName() == builtin.Spark || env.Inputs[env.InputOrder[0]].Kind == manifest.KindTable {
		// A catalog table on Spark: internal/spark's runtime (absent from a -tags nospark build).
		if rt, ok := env.Registry.Runtime(plugin.RoleSink, "onelake@spark"); ok {
			return rt.(node.SinkRuntime).Publish(ctx, env)
		}
		return nil, fault.Configf("onelake sink %s: needs the spark engine, which this aiflow-runner was built without", c.Table)
	}
	if c.Format == "delta" {
		return nil, fault.Configf("onelake sink %s: format delta needs the spark engine (engine: spark on the sink)", c.Table)
	}
	dir, err := readers.TableDir(env.Config.LakeRoot, c.Table)
	if err != nil {
		return nil, err
	}
	return publish(ctx, env, target{dir: dir, format: "parquet", mode: c.Mode, partitionBy: c.PartitionBy, compression: "zstd",
		ref: &manifest.DatasetRef{Namespace: "onelake", Name: c.Table}})
}

type target struct {
	dir, format, mode, compression string
	partitionBy                    []string
	ref                            *manifest.DatasetRef
}

// publish writes the main input to the target and publishes a new table version.
func publish(ctx context.Context, env *node.Env, t target) (*node.Output, error) {
	main := env.Inputs[env.InputOrder[0]]
	w := table.Writer{Pipeline: env.Pipeline.ID, RunID: env.RunID, Node: env.Node.ID, Attempt: env.Try}
	dir := strings.TrimSuffix(t.dir, "/")
	if !env.Publish {
		// Replay without --publish: the same write, into the attempt's staging folder only.
		dir = env.OutDir + "/data"
	}
	decision, cur, err := table.Plan(ctx, env.Store, dir, t.mode, w)
	if err != nil {
		return nil, err
	}
	switch decision {
	case table.AlreadyPublished:
		env.Log.Info("this run already published the current table version; recording the commit only", "table", dir, "version", cur.Version)
		return &node.Output{Manifest: versionManifest(cur, t.ref, table.FileToken(w))}, nil
	case table.Skip:
		env.Log.Info("mode ignore: the table has data; nothing written", "table", dir)
		return &node.Output{Manifest: &manifest.Manifest{Kind: manifest.KindNone, Dataset: t.ref, Details: map[string]any{"skipped": "mode ignore and the table has data"}}}, nil
	}
	c := &readers.Counter{}
	rr, schema, err := readers.Reader(ctx, env.Store, main, c, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("open input %s: %w", main.Node, err)
	}
	defer rr.Release()
	for _, k := range t.partitionBy {
		if schema.FieldIndices(k) == nil {
			return nil, fault.Dataf("partition_by column %q is not in the input (columns: %s)", k, dataset.ColumnNames(schema.Fields()))
		}
	}
	token := table.FileToken(w)
	files, err := dataset.WriteFiles(ctx, env.Store, dir, rr, dataset.WriteOptions{
		Format: dataset.Format(t.format), PartitionBy: t.partitionBy, FilePrefix: token, Compression: t.compression, Progress: env.Progress,
	})
	if err != nil {
		return nil, err
	}
	if err := removeOrphans(ctx, env, dir, token, files, cur); err != nil {
		return nil, err
	}
	touched := []map[string]string{}
	seen := map[string]bool{}
	fileRows := map[string]int64{}
	var infos []dataset.FileInfo
	for _, f := range files {
		infos = append(infos, dataset.FileInfo{URI: f.URI, Size: f.Bytes, Partition: f.Partition})
		fileRows[f.URI] = f.Rows
		key := fmt.Sprint(f.Partition)
		if !seen[key] {
			seen[key] = true
			touched = append(touched, f.Partition)
		}
	}
	v, err := table.Commit(ctx, env.Store, dir, cur, table.Version{Format: t.format, PartitionBy: t.partitionBy, Files: infos,
		Schema: readers.Fields(schema), Mode: t.mode, Touched: touched, Writer: w}, fileRows)
	if err != nil {
		return nil, err
	}
	m := arrowengine.StagedManifest(files, schema)
	m.Format = t.format
	m.Dataset = t.ref
	m.Details = map[string]any{"table_dir": dir, "table_version": v.Version, "mode": t.mode}
	if dead := c.DeadLetters.Load(); dead > 0 {
		m.Details["dead_letters"] = dead
	}
	env.Log.Info("published", "table", dir, "version", v.Version, "files", len(files), "rows", m.Rows)
	return &node.Output{Manifest: m, RowsIn: c.Rows.Load(), BytesIn: c.Bytes.Load()}, nil
}

// removeOrphans deletes data files of this run+node that an earlier, killed attempt wrote and
// that neither this attempt nor the current version holds: they would never be read, but they
// would confuse anyone listing the folder.
func removeOrphans(ctx context.Context, env *node.Env, dir, token string, written []dataset.WrittenFile, cur *table.Version) error {
	keep := map[string]bool{}
	for _, f := range written {
		keep[f.URI] = true
	}
	if cur != nil {
		for _, f := range cur.Files {
			keep[f.URI] = true
		}
	}
	objs, err := env.Store.List(ctx, dir+"/")
	if err != nil {
		return nil // listing is best effort
	}
	for _, o := range objs {
		if strings.Contains(o.URI, "/part-"+token+"-") && !keep[o.URI] {
			if err := env.Store.Delete(ctx, o.URI); err != nil {
				env.Log.Warn("could not remove an orphan file of an earlier attempt", "uri", o.URI, "error", err)
			}
		}
	}
	return nil
}

// versionManifest describes what this run+node published in version v: its own files.
func versionManifest(v *table.Version, ref *manifest.DatasetRef, token string) *manifest.Manifest {
	m := &manifest.Manifest{Kind: manifest.KindFiles, Format: v.Format, Schema: v.Schema, Dataset: ref,
		Details: map[string]any{"table_version": v.Version, "mode": v.Mode}}
	for _, f := range v.Files {
		if strings.Contains(f.URI, "/part-"+token+"-") {
			m.Files = append(m.Files, f)
			m.Rows += v.FileRows[f.URI]
			m.Bytes += f.Size
		}
	}
	return m
}
