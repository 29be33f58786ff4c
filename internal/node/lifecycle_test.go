package node_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/node"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
	_ "github.com/aiflow-dev/aiflow/plugin/builtin"
)

// commitHook wraps a store to stage what happens around the commit insert.
type commitHook struct {
	metadata.Store
	commit func(ctx context.Context, c metadata.Commit) (bool, *metadata.Commit, error)
}

func (h *commitHook) Commit(ctx context.Context, c metadata.Commit) (bool, *metadata.Commit, error) {
	return h.commit(ctx, c)
}

const lifecycleSpec = `api_version: aiflow/v1
pipeline: {id: lc, schedule: "@daily", owner: me, team: t, env: dev}
nodes:
  - id: src
    source: files
    with: {path: IN, format: parquet}
  - id: tr
    transform: arrow
    inputs: [src]
    with:
      steps:
        - filter: "x > 0"
`

func setup(t *testing.T) (*ir.Pipeline, string, metadata.Store, *objstore.Store, *config.Config) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st := objstore.New(objstore.Options{})
	sc := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues([]int64{1, 2, 3}, nil)
	col := b.NewArray()
	rec := array.NewRecordBatch(sc, []arrow.Array{col}, 3)
	rr, _ := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
	if _, err := dataset.WriteFiles(ctx, st, "file://"+dir+"/in", rr, dataset.WriteOptions{Format: dataset.Parquet, FilePrefix: "in"}); err != nil {
		t.Fatal(err)
	}
	specs, ps := ir.Parse("lc.yaml", []byte(strings.ReplaceAll(lifecycleSpec, "IN", dir+"/in/")), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if ps := plugin.Default.Validate(specs[0]); len(ps) > 0 {
		t.Fatal(ps)
	}
	p := specs[0].Pipeline
	h, err := p.Hash()
	if err != nil {
		t.Fatal(err)
	}
	meta, err := metadata.Open(ctx, "sqlite://"+filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	cfg := &config.Config{StagingURI: "file://" + dir + "/staging"}
	r := &node.Runner{Registry: plugin.Default, Config: cfg, Meta: meta, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := r.Run(ctx, node.Request{Pipeline: p, IRHash: h, Node: "src", RunID: "r", LogicalDate: time.Now(), Try: 1}); err != nil {
		t.Fatal(err)
	}
	return p, h, meta, st, cfg
}

// committedFilesExist fails the test when a file of the node's committed manifest is gone.
func committedFilesExist(t *testing.T, meta metadata.Store, node string) {
	t.Helper()
	c, err := meta.LookupCommit(context.Background(), "lc", "r", node)
	if err != nil || c == nil {
		t.Fatalf("no commit of %s: %v", node, err)
	}
	m, err := manifest.Unmarshal(c.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) == 0 {
		t.Fatal("committed manifest lists no files")
	}
	for _, f := range m.Files {
		if _, err := os.Stat(strings.TrimPrefix(f.URI, "file://")); err != nil {
			t.Fatalf("the commit of %s (try %d) points at a removed file: %v", node, c.Try, err)
		}
	}
}

// A zombie pod of the same try commits first: the loser shares the attempt folder, and must not
// remove the files the winner's commit points at.
func TestLosingToSameTryKeepsCommittedStaging(t *testing.T) {
	p, h, meta, st, cfg := setup(t)
	hook := &commitHook{Store: meta}
	hook.commit = func(ctx context.Context, c metadata.Commit) (bool, *metadata.Commit, error) {
		if _, _, err := meta.Commit(ctx, c); err != nil { // the zombie of the same try wins
			return false, nil, err
		}
		return meta.Commit(ctx, c)
	}
	r := &node.Runner{Registry: plugin.Default, Config: cfg, Meta: hook, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, err := r.Run(context.Background(), node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "r", LogicalDate: time.Now(), Try: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "skipped_committed" {
		t.Fatalf("status %s, want skipped_committed", res.Status)
	}
	committedFilesExist(t, meta, "tr")
}

// The commit insert succeeds but its answer is lost (connection reset): the attempt fails
// retryably, and its staging, which the ledger now points at, must stay.
func TestLostCommitAnswerKeepsCommittedStaging(t *testing.T) {
	p, h, meta, st, cfg := setup(t)
	hook := &commitHook{Store: meta}
	hook.commit = func(ctx context.Context, c metadata.Commit) (bool, *metadata.Commit, error) {
		if _, _, err := meta.Commit(ctx, c); err != nil {
			return false, nil, err
		}
		return false, nil, fault.Temporaryf("commit: connection reset by peer")
	}
	r := &node.Runner{Registry: plugin.Default, Config: cfg, Meta: hook, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, err := r.Run(context.Background(), node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "r", LogicalDate: time.Now(), Try: 1})
	if fault.ClassOf(err) != fault.Temporary || res.ExitCode != 75 {
		t.Fatalf("err %v exit %d, want a temporary failure", err, res.ExitCode)
	}
	committedFilesExist(t, meta, "tr")
	// The retry is a no-op, and what the ledger points at is still there.
	r.Meta = meta
	if res, err := r.Run(context.Background(), node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "r", LogicalDate: time.Now(), Try: 2}); err != nil || res.Status != "skipped_committed" {
		t.Fatalf("retry: %v %s", err, res.Status)
	}
	committedFilesExist(t, meta, "tr")
}

// logRecords runs fn with a runner logging JSON into a buffer and returns the records.
func logRecords(t *testing.T, r *node.Runner, fn func()) []map[string]any {
	t.Helper()
	var buf strings.Builder
	r.Log = slog.New(slog.NewJSONHandler(&buf, nil))
	fn()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func findRecord(recs []map[string]any, msg string) map[string]any {
	for _, m := range recs {
		if m["msg"] == msg {
			return m
		}
	}
	return nil
}

// TestNodeEndRecords: every attempt ends with one "node finished" record, or one "node failed"
// record at level ERROR, carrying rows, bytes, duration, exit code and error class.
func TestNodeEndRecords(t *testing.T) {
	p, h, meta, st, cfg := setup(t)
	hook := &commitHook{Store: meta}
	hook.commit = func(ctx context.Context, c metadata.Commit) (bool, *metadata.Commit, error) {
		return false, nil, fault.Temporaryf("commit: connection reset by peer")
	}
	r := &node.Runner{Registry: plugin.Default, Config: cfg, Meta: hook, Store: st}
	recs := logRecords(t, r, func() {
		if _, err := r.Run(context.Background(), node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "r", LogicalDate: time.Now(), Try: 1}); err == nil {
			t.Fatal("no error")
		}
	})
	failed := findRecord(recs, "node failed")
	if failed == nil || failed["level"] != "ERROR" || failed["exit_code"] != 75.0 || failed["error_class"] != "temporary" ||
		failed["retryable"] != true || !strings.Contains(failed["error"].(string), "connection reset") || failed["rows_in"] != 3.0 {
		t.Errorf("node failed record: %v", failed)
	}
	if findRecord(recs, "node finished") != nil {
		t.Error("a node finished record for a failure")
	}

	r.Meta = meta
	recs = logRecords(t, r, func() {
		if _, err := r.Run(context.Background(), node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "r", LogicalDate: time.Now(), Try: 2}); err != nil {
			t.Fatal(err)
		}
	})
	done := findRecord(recs, "node finished")
	if done == nil || done["level"] != "INFO" || done["rows_in"] != 3.0 || done["rows_out"] != 3.0 || done["exit_code"] != 0.0 ||
		done["status"] != "succeeded" || done["bytes_out"].(float64) <= 0 || done["duration_ms"] == nil || done["try"] != 2.0 {
		t.Errorf("node finished record: %v", done)
	}
	if findRecord(recs, "node failed") != nil {
		t.Error("a node failed record for a success")
	}
}

// vanishSink reports a written file that is not there (a cleanup that removed it, a write lost
// by the store): the attempt must fail without recording a commit.
type vanishSink struct{}

func (*vanishSink) Validate() error { return nil }

type vanishRuntime struct{ dir string }

func (v vanishRuntime) Publish(ctx context.Context, env *plugin.Env, _ *vanishSink) (*plugin.Output, error) {
	return &plugin.Output{Manifest: &manifest.Manifest{Kind: manifest.KindFiles, Format: "parquet", Rows: 3,
		Files: []dataset.FileInfo{{URI: "file://" + v.dir + "/gone/part-0.parquet", Size: 10}}}}, nil
}

func TestNoCommitForMissingFile(t *testing.T) {
	p, h, meta, st, cfg := setup(t)
	dir := t.TempDir()
	reg := plugin.Default.Clone()
	plugin.RegisterSink(reg, plugin.Kind[*vanishSink]{Kind: "vanish", Summary: "test only", Engines: []string{"arrow"},
		New: func() *vanishSink { return &vanishSink{} }}, vanishRuntime{dir: dir}, "arrow")
	p.Nodes["out"] = &ir.Node{ID: "out", Type: ir.Sink, InputIDs: []string{"src"}, Params: map[string]any{"kind": "vanish"}}
	r := &node.Runner{Registry: reg, Config: cfg, Meta: meta, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, err := r.Run(context.Background(), node.Request{Pipeline: p, IRHash: h, Node: "out", RunID: "r", LogicalDate: time.Now(), Try: 1})
	if err == nil || res.Status != "failed" {
		t.Fatalf("status %s err %v: a manifest naming a missing file was committed", res.Status, err)
	}
	if c, err := meta.LookupCommit(context.Background(), "lc", "r", "out"); err != nil || c != nil {
		t.Fatalf("commit recorded for a missing file: %+v %v", c, err)
	}
}

// Two processes run the same try (a zombie pod and its replacement). The zombie starts while
// the other has staged its output and fails before committing: its start and its cleanup must
// not touch the live attempt's files, which then commits what it staged.
func TestSameTryZombieLeavesLiveStagingAlone(t *testing.T) {
	p, h, meta, st, cfg := setup(t)
	ctx := context.Background()
	req := node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "r", LogicalDate: time.Now(), Try: 1}
	zombie := &node.Runner{Registry: plugin.Default, Config: cfg, Meta: meta, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	zombie.BeforeCommit = func(context.Context, *plugin.Env) error {
		return fault.Temporaryf("zombie: lost its node")
	}
	var zres *node.Result
	live := &node.Runner{Registry: plugin.Default, Config: cfg, Meta: meta, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	live.BeforeCommit = func(ctx context.Context, env *plugin.Env) error {
		zres, _ = zombie.Run(ctx, req)
		return nil
	}
	res, err := live.Run(ctx, req)
	if err != nil {
		t.Fatalf("live attempt: %v", err)
	}
	if res.Status != "succeeded" || zres == nil || zres.ExitCode != 75 {
		t.Fatalf("live %s, zombie %+v: want the live attempt to commit and the zombie to fail", res.Status, zres)
	}
	if strings.HasPrefix(zres.ResultURI, res.OutputURI+"/") {
		t.Errorf("both processes staged into %s", res.OutputURI)
	}
	committedFilesExist(t, meta, "tr")
}

// The tenant policy is enforced by the node runner itself, before an attempt touches the ledger:
// an entry path that does not check it (a replay, a runner built on this package) is still held
// to it. lc's team t is not in the policy; a pinned team other than t is refused too.
func TestPolicyEnforcedByTheRunner(t *testing.T) {
	p, h, meta, st, cfg := setup(t)
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("teams:\n  other: {sources: [\"*\"], sinks: [\"*\"], engines: [\"*\"]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"policy without the team", config.Config{StagingURI: cfg.StagingURI, PolicyFile: pol}, "policy denied"},
		{"another pinned team", config.Config{StagingURI: cfg.StagingURI, Team: "other"}, `is not this deployment's team "other"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &node.Runner{Registry: plugin.Default, Config: &tt.cfg, Meta: meta, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			for _, req := range []node.Request{
				{Pipeline: p, IRHash: h, Node: "tr", RunID: "denied", LogicalDate: time.Now(), Try: 1},
				{Pipeline: p, IRHash: h, Node: "tr", RunID: "denied-replay", LogicalDate: time.Now(), Try: 1, InputsRunID: "r", NoPublish: true},
			} {
				res, err := r.Run(context.Background(), req)
				if fault.ExitCode(err) != 78 || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("run %s: err %v (exit %d), want exit 78 with %q", req.RunID, err, fault.ExitCode(err), tt.want)
				}
				if res.ExitCode != 78 {
					t.Fatalf("result exit code %d, want 78", res.ExitCode)
				}
				if c, err := meta.LookupCommit(context.Background(), "lc", req.RunID, "tr"); err != nil || c != nil {
					t.Fatalf("a denied node committed: %v %v", c, err)
				}
				if _, err := meta.GetRun(context.Background(), "lc", req.RunID); err == nil {
					t.Fatalf("a denied node recorded run %s", req.RunID)
				}
			}
		})
	}
}
