// Package files is the files technology: the files source (pins Parquet, CSV, NDJSON or Arrow IPC
// files on file:// or s3://) and the files sink, which publishes through internal/table so a
// reader sees the old or the new data, never a mix, and a retried node never publishes twice.
// Publish is shared with the onelake sink on the arrow engine.
package files

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/table"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Register adds the files source and sink to r. Both run the same way whatever the node's
// engine: Spark writes its outputs as files the sink publishes.
func Register(r *plugin.Registry) {
	plugin.RegisterSource(r, SourceKind, source{}, "arrow", "spark", "flink")
	plugin.RegisterSink(r, SinkKind, sink{}, "arrow", "spark")
}

var (
	_ plugin.Source[*SourceConfig] = source{}
	_ plugin.Sink[*SinkConfig]     = sink{}
)

type sink struct{}

func (sink) Publish(ctx context.Context, env *plugin.Env, c *SinkConfig) (*plugin.Output, error) {
	dir, err := readers.ResolveURI(env.Store.Guard(), c.Path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	return Publish(ctx, env, Target{Dir: dir, Format: c.Format, Mode: c.Mode, PartitionBy: c.PartitionBy, Compression: c.Compression,
		Ref: readers.DatasetRef(dir)})
}

// Target is where Publish writes: a table folder, its format, mode, partition columns and
// compression, and the dataset name lineage reports.
type Target struct {
	Dir, Format, Mode, Compression string
	PartitionBy                    []string
	Ref                            *manifest.DatasetRef
}

// Publish writes the main input to the target and publishes a new table version.
func Publish(ctx context.Context, env *plugin.Env, t Target) (*plugin.Output, error) {
	main := env.Inputs[env.InputOrder[0]]
	w := table.Writer{Pipeline: env.Pipeline.ID, RunID: env.RunID, Node: env.Node.ID, Attempt: env.Try}
	dir := strings.TrimSuffix(t.Dir, "/")
	if !env.Publish {
		// Replay without --publish: the same write, into the attempt's staging folder only.
		dir = env.OutDir + "/data"
	}
	decision, cur, err := table.Plan(ctx, env.Store, dir, t.Mode, w)
	if err != nil {
		return nil, err
	}
	switch decision {
	case table.AlreadyPublished:
		env.Log.Info("this run already published the current table version; recording the commit only", "table", dir, "version", cur.Version)
		removeSuperseded(ctx, env, dir, cur) // the earlier attempt may have died before it did
		return &plugin.Output{Manifest: versionManifest(cur, t.Ref, table.FileToken(w))}, nil
	case table.Skip:
		env.Log.Info("mode ignore: the table has data; nothing written", "table", dir)
		return &plugin.Output{Manifest: &manifest.Manifest{Kind: manifest.KindNone, Dataset: t.Ref, Details: map[string]any{"skipped": "mode ignore and the table has data"}}}, nil
	}
	c := &readers.Counter{}
	token := table.FileToken(w)
	var files []dataset.WrittenFile
	var schema *arrow.Schema
	var reuse []dataset.Reusable
	if dataset.Format(t.Format) == dataset.Parquet && len(t.PartitionBy) == 0 {
		if reuse, schema, err = ReusableInput(ctx, env, dataset.ReuseOptions{Compression: t.Compression}); err != nil {
			return nil, err
		}
	}
	if reuse != nil {
		// The staged files already are what this write would produce: publish them as they are.
		if files, err = dataset.CopyFiles(ctx, env.Store, dir, token, reuse); err != nil {
			return nil, err
		}
		for _, f := range files {
			c.Rows.Add(f.Rows)
			c.Bytes.Add(f.Bytes)
		}
	} else {
		rr, sc, err := readers.Reader(ctx, env.Store, env.Config, main, c, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("open input %s: %w", main.Node, err)
		}
		defer rr.Release()
		schema = sc
		for _, k := range t.PartitionBy {
			if schema.FieldIndices(k) == nil {
				return nil, fault.Dataf("partition_by column %q is not in the input (columns: %s)", k, dataset.ColumnNames(schema.Fields()))
			}
		}
		files, err = dataset.WriteFiles(ctx, env.Store, dir, rr, dataset.WriteOptions{
			Format: dataset.Format(t.Format), PartitionBy: t.PartitionBy, FilePrefix: token, Compression: t.Compression, Progress: env.Progress,
			KeepFinishedOnError: env.Publish,
		})
		if err != nil {
			return nil, err
		}
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
	v, err := table.Commit(ctx, env.Store, dir, cur, table.Version{Format: t.Format, PartitionBy: t.PartitionBy, Files: infos,
		Schema: readers.Fields(schema), Mode: t.Mode, Touched: touched, Writer: w}, fileRows)
	if err != nil {
		return nil, err
	}
	removeSuperseded(ctx, env, dir, v)
	m := readers.StagedManifest(files, schema)
	m.Format = t.Format
	m.Dataset = t.Ref
	m.Details = map[string]any{"table_dir": dir, "table_version": v.Version, "mode": t.Mode}
	if dead := c.DeadLetters.Load(); dead > 0 {
		m.Details["dead_letters"] = dead
	}
	env.Log.Info("published", "table", dir, "version", v.Version, "files", len(files), "rows", m.Rows, "copied_as_is", reuse != nil)
	return &plugin.Output{Manifest: m, RowsIn: c.Rows.Load(), BytesIn: c.Bytes.Load()}, nil
}

// ReusableInput returns the main input's staged files when a sink can publish them as they are
// (a copy, no decode and no encode): a Parquet output with exactly the schema its manifest
// records, compressed as opts asks, not partitioned, not projected. nil (and the reason, at
// debug level) when the sink must read and write the rows. The schema is the input's.
func ReusableInput(ctx context.Context, env *plugin.Env, opts dataset.ReuseOptions) ([]dataset.Reusable, *arrow.Schema, error) {
	m := env.Inputs[env.InputOrder[0]]
	switch {
	case m.Kind != manifest.KindFiles || dataset.Format(m.Format) != dataset.Parquet:
		return nil, nil, nil
	case len(m.Files) == 0 || len(m.Schema) == 0 || len(m.ReadSchema) > 0 || m.Details["columns"] != nil:
		// Nothing to copy, an unknown schema, or a reader that would convert or project.
		return nil, nil, nil
	}
	sc, err := readers.SchemaOf(m.Schema)
	if err != nil {
		return nil, nil, nil // a type this build cannot name: let the reader decide
	}
	opts.Schema = sc
	reuse, why, err := dataset.ReusableParquet(ctx, env.Store, m.Files, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("inspect input %s: %w", m.Node, err)
	}
	if why != "" {
		env.Log.Debug("the input is re-encoded, not copied", "input", m.Node, "reason", why)
		return nil, nil, nil
	}
	return reuse, sc, nil
}

// removeOrphans deletes data files of this run+node that an earlier, killed attempt wrote and
// that neither this attempt nor the current version holds: they would never be read, but they
// would confuse anyone listing the folder.
func removeOrphans(ctx context.Context, env *plugin.Env, dir, token string, written []dataset.WrittenFile, cur *table.Version) error {
	keep := map[string]bool{}
	for _, f := range written {
		keep[f.URI] = true
	}
	if cur != nil {
		for _, f := range cur.Files {
			keep[f.URI] = true
		}
	}
	// Temp files of an attempt killed in the middle of a write (kill -9) carry the same token.
	if err := env.Store.RemoveTemps(ctx, dir+"/", "part-"+token+"-"); err != nil {
		env.Log.Warn("could not remove the temp files of an earlier attempt", "dir", dir, "error", err)
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

// removeSuperseded deletes, once version v is published, every data file in the folder that v
// does not hold: the parts an overwrite replaced and those of older versions. The folder then
// holds exactly one complete version, so a reader that lists it (pyarrow, Polars, Spark reading
// the path) sees what aiflow readers see. Only aiflow's own part-* files are touched; a failure
// leaves extra files (logged), never a broken version.
func removeSuperseded(ctx context.Context, env *plugin.Env, dir string, v *table.Version) {
	live := map[string]bool{}
	for _, f := range v.Files {
		live[f.URI] = true
	}
	objs, err := env.Store.List(ctx, dir+"/")
	if err != nil {
		env.Log.Warn("could not list the published folder to remove superseded files", "dir", dir, "error", err)
		return
	}
	removed := 0
	for _, o := range objs {
		rel := strings.TrimPrefix(o.URI, dir+"/")
		if live[o.URI] || strings.HasPrefix(rel, "_") || !strings.HasPrefix(path.Base(rel), "part-") {
			continue
		}
		if err := env.Store.Delete(ctx, o.URI); err != nil {
			env.Log.Warn("could not remove a superseded file", "uri", o.URI, "error", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		env.Log.Info("removed superseded files", "dir", dir, "files", removed, "version", v.Version)
	}
}
