// Package sinktest is the conformance suite every sink passes, built-in or a team's own (the
// way go-cloud's drivertest checks every blob driver). It runs a real pipeline — a files source
// of a few rows, then the sink — through the node lifecycle a pod runs, and checks what readers
// of the destination see:
//
//   - a retry of a committed sink is a no-op: nothing written again;
//   - replay without --publish writes only under the attempt's staging folder;
//   - an attempt killed after its publish and before its commit is retried without a duplicate;
//   - two concurrent attempts of the same node commit once and publish once.
//
// A sink's test calls Run with a registry holding the sink (and the built-ins the suite uses:
// the files source), how to make a fresh destination and how to count the rows it holds.
package sinktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/node"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Rows is how many rows the suite's source holds: columns user_id (int64), score (float64),
// name (string) and event_time (timestamp[us, UTC]).
const Rows = 5

// Target is the sink under test.
type Target struct {
	// Registry holds the sink and the files source.
	Registry *plugin.Registry
	// Kind is the sink kind; Engine, when set, is the node's engine.
	Kind, Engine string
	// Params returns the params (`with:`) of a fresh destination, different on every call.
	Params func(t *testing.T) map[string]any
	// Count returns how many rows a reader of the destination named by params sees.
	Count func(t *testing.T, params map[string]any) int
	// Configure, when set, adjusts the runner's configuration (Kafka brokers, lake root); the
	// suite sets a private staging folder first.
	Configure func(c *config.Config)
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, tg Target) {
	t.Run("RetryIsNoOp", func(t *testing.T) {
		h := newHarness(t, tg)
		h.mustRun(t, h.request("r", 1), nil)
		h.expectRows(t, Rows)
		res := h.mustRun(t, h.request("r", 2), nil)
		if res.Status != string(metadata.AttemptSkippedCommitted) || res.Committed {
			t.Errorf("retry of a committed sink: status %s committed %v, want a no-op", res.Status, res.Committed)
		}
		h.expectRows(t, Rows)
	})
	t.Run("ReplayWithoutPublishTouchesOnlyStaging", func(t *testing.T) {
		h := newHarness(t, tg)
		h.mustRun(t, h.request("r", 1), nil)
		req := h.request("replay", 1)
		req.InputsRunID, req.NoPublish = h.run+"-r", true
		// A second destination proves it: the replay's node points at a destination no one has
		// written, and it must stay empty.
		h.p.Nodes["out"].Params = h.freshParams(t)
		var err error
		if req.IRHash, err = h.p.Hash(); err != nil {
			t.Fatal(err)
		}
		res := h.mustRun(t, req, nil)
		if n := tg.Count(t, h.p.Nodes["out"].Params); n != 0 {
			t.Errorf("replay without --publish wrote %d rows to the destination", n)
		}
		objs, err := h.store.List(context.Background(), res.OutputURI+"/")
		if err != nil || len(objs) == 0 {
			t.Errorf("replay without --publish staged nothing under %s (%v)", res.OutputURI, err)
		}
	})
	t.Run("KilledAfterPublishBeforeCommit", func(t *testing.T) {
		h := newHarness(t, tg)
		killed := errors.New("pod killed after publish, before commit")
		_, err := h.runner.Run(context.Background(), h.request("r", 1), func(context.Context, *plugin.Env) error {
			return fault.Wrap(fault.Temporary, killed, "")
		})
		if !errors.Is(err, killed) {
			t.Fatalf("the killed attempt: %v", err)
		}
		h.mustRun(t, h.request("r", 2), nil)
		h.expectRows(t, Rows)
	})
	t.Run("ConcurrentAttemptsCommitOnce", func(t *testing.T) {
		h := newHarness(t, tg)
		var wg sync.WaitGroup
		results := make([]*node.Result, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() { results[i], errs[i] = h.runner.Run(context.Background(), h.request("r", i+1), nil) })
		}
		wg.Wait()
		committed := 0
		for i, err := range errs {
			// The loser may fail, but only as a retryable error (a fenced Kafka producer, say):
			// its retry finds the commit.
			if err != nil && fault.ClassOf(err) != fault.Temporary {
				t.Errorf("attempt %d lost the race with a non-retryable error: %v", i+1, err)
			}
			if err == nil && results[i].Committed {
				committed++
			}
		}
		if committed != 1 {
			t.Errorf("%d attempts committed, want exactly 1", committed)
		}
		if res := h.mustRun(t, h.request("r", 3), nil); res.Committed {
			t.Error("a retry after the race committed again")
		}
		h.expectRows(t, Rows)
	})
}

type harness struct {
	tg     Target
	run    string // prefix of this harness's run ids
	p      *ir.Pipeline
	hash   string
	store  *objstore.Store
	runner *hookRunner
	params map[string]any
}

// hookRunner runs node attempts, optionally failing one between its publish and its commit.
type hookRunner struct {
	*node.Runner
	mu sync.Mutex
}

func (r *hookRunner) Run(ctx context.Context, req node.Request, beforeCommit func(context.Context, *plugin.Env) error) (*node.Result, error) {
	if beforeCommit == nil {
		return r.Runner.Run(ctx, req)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rr := *r.Runner
	rr.BeforeCommit = beforeCommit
	return rr.Run(ctx, req)
}

func newHarness(t *testing.T, tg Target) *harness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st := objstore.New(objstore.Options{})
	in := "file://" + filepath.Join(dir, "in")
	if err := writeInput(ctx, st, in); err != nil {
		t.Fatal(err)
	}
	// Run ids unique per harness: a sink's own ledger (Kafka, the feature store) outlives the
	// test and is keyed by pipeline, run and node.
	h := &harness{tg: tg, store: st, run: fmt.Sprintf("%x", time.Now().UnixNano())}
	h.params = h.freshParams(t)
	src := map[string]any{"path": in + "/", "format": "parquet"}
	out := map[string]any{}
	for k, v := range h.params {
		if k != "kind" { // set by `sink:` in the document
			out[k] = v
		}
	}
	doc := map[string]any{
		"api_version": "aiflow/v1",
		"pipeline":    map[string]any{"id": "sinktest", "env": "dev", "team": "sinktest"},
		"nodes": []any{
			map[string]any{"id": "in", "source": "files", "with": src},
			sinkNode(tg, out),
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	specs, ps := ir.Parse("sinktest.json", b, false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if ps := tg.Registry.Validate(specs[0]); len(ps) > 0 {
		t.Fatal(ps)
	}
	h.p = specs[0].Pipeline
	if h.hash, err = h.p.Hash(); err != nil {
		t.Fatal(err)
	}
	meta, err := metadata.Open(ctx, "sqlite://"+filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	cfg, err := config.LoadFrom(ctx, noEnv{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.StagingURI = "file://" + filepath.Join(dir, "staging")
	cfg.LakeRoot = "file://" + filepath.Join(dir, "lake")
	if tg.Configure != nil {
		tg.Configure(cfg)
	}
	h.runner = &hookRunner{Runner: &node.Runner{Registry: tg.Registry, Config: cfg, Meta: meta, Store: st,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	src2 := h.request("r", 1)
	src2.Node = "in"
	if _, err := h.runner.Run(ctx, src2, nil); err != nil {
		t.Fatalf("source: %v", err)
	}
	return h
}

func sinkNode(tg Target, params map[string]any) map[string]any {
	n := map[string]any{"id": "out", "sink": tg.Kind, "inputs": []any{"in"}, "with": params}
	if tg.Engine != "" {
		n["engine"] = tg.Engine
	}
	return n
}

func (h *harness) freshParams(t *testing.T) map[string]any {
	p := h.tg.Params(t)
	p["kind"] = h.tg.Kind
	return p
}

func (h *harness) request(runID string, try int) node.Request {
	return node.Request{Pipeline: h.p, IRHash: h.hash, Node: "out", RunID: h.run + "-" + runID, Try: try,
		LogicalDate: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
}

func (h *harness) mustRun(t *testing.T, req node.Request, hook func(context.Context, *plugin.Env) error) *node.Result {
	t.Helper()
	res, err := h.runner.Run(context.Background(), req, hook)
	if err != nil {
		t.Fatalf("run %s try %d: %v", req.Node, req.Try, err)
	}
	return res
}

func (h *harness) expectRows(t *testing.T, want int) {
	t.Helper()
	if got := h.tg.Count(t, h.params); got != want {
		t.Errorf("the destination holds %d rows, want %d", got, want)
	}
}

// noEnv is an empty environment: the suite's configuration does not depend on the caller's.
type noEnv struct{}

func (noEnv) Lookup(string) (string, bool) { return "", false }

func writeInput(ctx context.Context, st *objstore.Store, uri string) error {
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "event_time", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	base := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	for i := range Rows {
		b.Field(0).(*array.Int64Builder).Append(int64(i + 1))
		b.Field(1).(*array.Float64Builder).Append(float64(i) + 0.5)
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("user-%d", i+1))
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(base.Add(time.Duration(i) * time.Minute).UnixMicro()))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rr, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
	if err != nil {
		return err
	}
	_, err = dataset.WriteFiles(ctx, st, uri, rr, dataset.WriteOptions{Format: dataset.Parquet, FilePrefix: "in"})
	return err
}
