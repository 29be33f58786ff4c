package onelake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/files"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/table"
	"github.com/aiflow-dev/aiflow/plugin"
)

// publishDelta writes the main input to the Delta table at dir: data files first (invisible
// until committed), then the next log entry with put-if-absent, carrying a txn whose app id is
// derived from pipeline/run/node, so a retry of a write that did commit publishes nothing.
func publishDelta(ctx context.Context, env *plugin.Env, dir, mode string, partitionBy []string, ref *manifest.DatasetRef) (*plugin.Output, error) {
	if !env.Publish {
		// Replay without --publish: the same write, as a new table in the attempt's staging folder.
		dir = env.OutDir + "/data"
	}
	dir = strings.TrimSuffix(dir, "/")
	if err := refuseLegacyLayout(ctx, env.Store, dir); err != nil {
		return nil, err
	}
	main := env.Inputs[env.InputOrder[0]]
	c := &readers.Counter{}
	// Staged Parquet files that already are what the write below would produce are added to the
	// table as they are (copied, not decoded and encoded again).
	var reuse []dataset.Reusable
	var schema *arrow.Schema
	var rr array.RecordReader
	openInput := func() error {
		var err error
		if rr, schema, err = readers.Reader(ctx, env.Store, env.Config, main, c, memory.DefaultAllocator); err != nil {
			return fmt.Errorf("open input %s: %w", main.Node, err)
		}
		return nil
	}
	defer func() {
		if rr != nil {
			rr.Release()
		}
	}()
	if len(partitionBy) == 0 {
		var err error
		if reuse, schema, err = files.ReusableInput(ctx, env, dataset.ReuseOptions{Compression: "zstd", Interop: true}); err != nil {
			return nil, err
		}
	}
	if reuse == nil {
		if err := openInput(); err != nil {
			return nil, err
		}
	}
	commit := env.Pipeline.ID + "/" + env.RunID + "/" + env.Node.ID
	appID := delta.AppID(commit)
	tbl := delta.New(env.Store, dir)
	plan, err := tbl.Begin(ctx, delta.Write{Mode: mode, PartitionBy: partitionBy, AppID: appID, Schema: schema, Engine: "aiflow-runner arrow"})
	if err != nil {
		return nil, err
	}
	details := map[string]any{"format": "delta", "table_dir": dir, "mode": mode, "txn_app_id": appID}
	switch plan.Decision {
	case delta.AlreadyCommitted:
		return alreadyCommitted(ctx, env, plan.Base, appID, ref, details)
	case delta.Skip:
		env.Log.Info("mode ignore: the table has data; nothing written", "table", dir, "delta_version", plan.Base.Version)
		details["skipped"] = "mode ignore and the table has data"
		return &plugin.Output{Manifest: &manifest.Manifest{Kind: manifest.KindNone, Dataset: ref, Details: details}}, nil
	}
	// Names unique per attempt: a zombie attempt can never overwrite a file another attempt committed.
	token := table.FileToken(table.Writer{Pipeline: env.Pipeline.ID, RunID: env.RunID, Node: env.Node.ID})
	prefix := fmt.Sprintf("%s-a%d", token, env.Try)
	if reuse != nil && len(plan.PartitionBy) > 0 {
		// The table is partitioned: the rows must be split into its partition folders.
		reuse = nil
		if err := openInput(); err != nil {
			return nil, err
		}
	}
	written, res, err := writeAndCommit(ctx, env, plan, dir, prefix, reuse, rr, schema, c)
	if err != nil {
		// Another attempt of this write (a zombie beside its retry) that committed first removes
		// the files of every other attempt it finds, ours included, possibly while we still
		// write or read them: then its commit is this write's outcome, not our error.
		if s, lerr := tbl.Latest(ctx); lerr == nil {
			if _, ok := s.Txns[appID]; ok {
				removeFiles(ctx, env, written)
				return alreadyCommitted(ctx, env, s, appID, ref, details)
			}
		}
		return nil, err
	}
	switch {
	case res.AlreadyCommitted:
		// Another attempt of this very write committed first: ours are orphans, theirs count.
		removeFiles(ctx, env, written)
		return alreadyCommitted(ctx, env, plan.Base, appID, ref, details)
	case res.Skipped:
		removeFiles(ctx, env, written)
		details["skipped"] = "mode ignore and the table has data"
		return &plugin.Output{Manifest: &manifest.Manifest{Kind: manifest.KindNone, Dataset: ref, Details: details}}, nil
	}
	removeOldAttempts(ctx, env, dir, token, prefix)
	m := &manifest.Manifest{Kind: manifest.KindFiles, Format: string(dataset.Parquet), Schema: readers.Fields(schema), Dataset: ref, Details: details}
	for _, f := range written {
		m.Files = append(m.Files, dataset.FileInfo{URI: f.URI, Size: f.Bytes, Partition: f.Partition, NullPartitions: nullParts(f.Partition)})
		m.Rows += f.Rows
		m.Bytes += f.Bytes
	}
	details["delta_version"] = res.Version
	details["removed_files"] = res.Removed
	if dead := c.DeadLetters.Load(); dead > 0 {
		details["dead_letters"] = dead
	}
	env.Log.Info("committed delta table version", "table", dir, "delta_version", res.Version, "files", len(written), "copied_as_is", reuse != nil, "removed_files", res.Removed, "rows", m.Rows)
	return &plugin.Output{Manifest: m, RowsIn: c.Rows.Load(), BytesIn: c.Bytes.Load()}, nil
}

// writeAndCommit writes the input (or copies the reusable staged files) into dir under names
// starting with prefix, and commits them as the plan's next version. written is what it wrote
// so far, also on an error.
func writeAndCommit(ctx context.Context, env *plugin.Env, plan *delta.Plan, dir, prefix string, reuse []dataset.Reusable,
	rr array.RecordReader, schema *arrow.Schema, c *readers.Counter) ([]dataset.WrittenFile, *delta.Result, error) {
	var written []dataset.WrittenFile
	var err error
	if reuse != nil {
		if written, err = dataset.CopyFiles(ctx, env.Store, dir, prefix, reuse); err != nil {
			return written, nil, err
		}
		for _, f := range written {
			c.Rows.Add(f.Rows)
			c.Bytes.Add(f.Bytes)
		}
	} else {
		written, err = dataset.WriteFiles(ctx, env.Store, dir, rr, dataset.WriteOptions{
			Format: dataset.Parquet, PartitionBy: plan.PartitionBy, FilePrefix: prefix, Compression: "zstd", Interop: true, Progress: env.Progress,
		})
		if err != nil {
			return written, nil, err
		}
	}
	dsc, err := delta.SchemaOf(schema)
	if err != nil {
		return written, nil, err
	}
	newFiles := make([]delta.NewFile, 0, len(written))
	for _, f := range written {
		stats, err := delta.FileStats(ctx, env.Store, f.URI, dsc)
		if err != nil {
			return written, nil, fmt.Errorf("statistics of %s: %w", f.URI, err)
		}
		newFiles = append(newFiles, delta.NewFile{URI: f.URI, Size: f.Bytes, Partition: f.Partition, Stats: stats})
	}
	res, err := plan.Commit(ctx, newFiles)
	return written, res, err
}

func nullParts(p map[string]string) []string {
	var out []string
	for k, v := range p {
		if v == "" {
			out = append(out, k)
		}
	}
	return out
}

// alreadyCommitted describes the files the earlier attempt of this write committed.
func alreadyCommitted(ctx context.Context, env *plugin.Env, base *delta.Snapshot, appID string, ref *manifest.DatasetRef, details map[string]any) (*plugin.Output, error) {
	v, actions, err := base.FindTxn(ctx, appID)
	if err != nil {
		return nil, err
	}
	details["already_committed"] = true
	details["delta_version"] = v
	m := &manifest.Manifest{Kind: manifest.KindFiles, Format: string(dataset.Parquet), Dataset: ref, Details: details}
	if sc, err := base.Schema.ArrowSchema(); err == nil {
		m.Schema = readers.Fields(sc)
	}
	for _, a := range actions {
		if a.Add == nil {
			continue
		}
		vals, nulls := a.Add.PartitionValues.Values()
		fi := dataset.FileInfo{URI: base.Table.FileURI(a.Add.Path), Size: a.Add.Size}
		if len(vals) > 0 {
			fi.Partition, fi.NullPartitions = vals, nulls
		}
		m.Files = append(m.Files, fi)
		m.Bytes += a.Add.Size
		var st delta.Stats
		if a.Add.Stats != "" && json.Unmarshal([]byte(a.Add.Stats), &st) == nil {
			m.Rows += st.NumRecords
		}
	}
	env.Log.Info("this run already committed to the delta table; recording the commit only", "table", base.Table.URI(), "delta_version", v)
	return &plugin.Output{Manifest: m}, nil
}

// refuseLegacyLayout refuses a folder that holds a table in aiflow's former layout
// (_aiflow/current.json) and no Delta log: reading or writing it as Delta would silently hide
// its data.
func refuseLegacyLayout(ctx context.Context, st *objstore.Store, dir string) error {
	if _, err := st.Stat(ctx, dir+"/"+delta.LogDir+"/"+delta.CommitName(0)); err == nil {
		return nil
	}
	objs, err := st.List(ctx, dir+"/"+delta.LogDir+"/")
	if err == nil && len(objs) > 0 {
		return nil
	}
	if _, err := st.Stat(ctx, dir+"/_aiflow/current.json"); err != nil {
		if errors.Is(err, objstore.ErrNotExist) {
			return nil
		}
		return err
	}
	return fault.Dataf("%s holds a table in aiflow's former layout (_aiflow/current.json), not a Delta Lake table: "+
		"read it with format: parquet, or convert it once with a pipeline that reads it (onelake source, format: parquet) "+
		"and writes a new table (onelake sink, format: delta), then point readers at the new table", dir)
}

// removeFiles deletes data files this attempt wrote but did not commit (best effort).
func removeFiles(ctx context.Context, env *plugin.Env, files []dataset.WrittenFile) {
	for _, f := range files {
		if err := env.Store.Delete(ctx, f.URI); err != nil {
			env.Log.Warn("could not remove an uncommitted data file", "uri", f.URI, "error", err)
		}
	}
}

// removeOldAttempts deletes data files that earlier, killed attempts of this run and node wrote
// and never committed: invisible to Delta readers, but clutter for anyone listing the folder.
// The snapshot is re-read so that a file an earlier attempt did commit is never touched.
func removeOldAttempts(ctx context.Context, env *plugin.Env, dir, token, keepPrefix string) {
	objs, err := env.Store.List(ctx, dir+"/")
	if err != nil {
		return
	}
	var stale []string
	for _, o := range objs {
		if strings.Contains(o.URI, "/part-"+token+"-") && !strings.Contains(o.URI, "/part-"+keepPrefix+"-") && !strings.Contains(o.URI, "/"+delta.LogDir+"/") {
			stale = append(stale, o.URI)
		}
	}
	if len(stale) == 0 {
		return
	}
	s, err := delta.New(env.Store, dir).Latest(ctx)
	if err != nil {
		return
	}
	live := map[string]bool{}
	for _, a := range s.Files() {
		live[s.Table.FileURI(a.Path)] = true
	}
	for _, u := range stale {
		if !live[u] {
			if err := env.Store.Delete(ctx, u); err != nil {
				env.Log.Warn("could not remove an orphan file of an earlier attempt", "uri", u, "error", err)
			}
		}
	}
}
