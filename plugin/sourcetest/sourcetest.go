// Package sourcetest is the conformance suite every source passes, built-in or a team's own (the
// sources' counterpart of plugin/sinktest). It runs the source node through the node lifecycle a
// pod runs and reads its committed output the way every consumer does, and checks:
//
//   - a retry of a committed source is a no-op and its output still reads the same rows;
//   - what the source pinned is what consumers read: rows added to the source after the commit
//     (a new file, new records) are not in it, however often and however late it is read;
//   - an attempt killed after pinning and before its commit is retried into one complete pin;
//   - two concurrent attempts of the same node commit once, and the output reads once;
//   - when the target can rewrite its rows in place (Target.Rewrite): a consumer of a pin taken
//     before the rewrite reads the pinned rows or fails with a data error (65), never the new rows.
//
// A source's test calls Run with a registry holding the source, how to make a fresh source of
// Rows rows, and how to add rows to it. Consumers on the arrow and python engines read a
// committed output through package readers, which the suite does by default; an engine that
// reads its inputs its own way (the spark engine's registered readers) gives Target.Read, so the
// properties are checked on what that engine's consumers read.
package sourcetest

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

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/node"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Rows is how many rows a fresh source holds (Target.Params).
const Rows = 5

// Target is the source under test.
type Target struct {
	// Registry holds the source.
	Registry *plugin.Registry
	// Kind is the source kind; Engine, when set, is the node's engine.
	Kind, Engine string
	// Params returns the params (`with:`) of a fresh source holding exactly Rows rows, different
	// on every call. The suite's runner has the configuration Configure gives it.
	Params func(t *testing.T) map[string]any
	// Append adds n rows to the source named by params (a new file, new records), as a producer
	// writing after the source's run pinned it would.
	Append func(t *testing.T, params map[string]any, n int)
	// Configure, when set, adjusts the runner's configuration (Kafka brokers, lake root); the
	// suite sets a private staging folder and lake root first.
	Configure func(c *config.Config)
	// Rewrite, when set, replaces the rows of the source named by params in place, under the
	// same names (a file rewritten with other rows), as a producer that does not append would.
	Rewrite func(t *testing.T, params map[string]any)
	// Read, when set, counts the rows a consumer on Engine reads of the committed source output
	// env.Inputs[env.InputOrder[0]], or returns the consumer's error: env is that consumer's,
	// with a fresh staging folder (OutDir) of its own. Unset, the output is read through package
	// readers, the way the arrow and python engines read it.
	Read func(t *testing.T, env *plugin.Env) (int, error)
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, tg Target) {
	if tg.Params == nil || tg.Append == nil {
		t.Fatal("sourcetest: a Target needs Params and Append")
	}
	t.Run("RetryIsNoOp", func(t *testing.T) {
		h := newHarness(t, tg)
		first := h.mustRun(t, h.request("r", 1), nil)
		h.expectRows(t, first, Rows)
		res := h.mustRun(t, h.request("r", 2), nil)
		if res.Status != string(metadata.AttemptSkippedCommitted) || res.Committed {
			t.Errorf("retry of a committed source: status %s committed %v, want a no-op", res.Status, res.Committed)
		}
		h.expectRows(t, res, Rows)
	})
	t.Run("ConsumersReadThePin", func(t *testing.T) {
		h := newHarness(t, tg)
		res := h.mustRun(t, h.request("r", 1), nil)
		tg.Append(t, h.params, 3)
		// Read twice (a consumer and its retry, or a replay days later): the pinned rows only.
		h.expectRows(t, res, Rows)
		h.expectRows(t, h.mustRun(t, h.request("r", 2), nil), Rows)
		// The next run pins what is there now (a fresh source holds Rows, plus the 3 added).
		next := h.mustRun(t, h.request("next", 1), nil)
		if n := h.rows(t, next); n < 3 || n > Rows+3 {
			t.Errorf("the next run's pin reads %d rows, want the %d added (or all %d)", n, 3, Rows+3)
		}
	})
	t.Run("KilledBeforeCommit", func(t *testing.T) {
		h := newHarness(t, tg)
		killed := errors.New("pod killed after the pin, before the commit")
		_, err := h.runner.Run(context.Background(), h.request("r", 1), func(context.Context, *plugin.Env) error {
			return fault.Wrap(fault.Temporary, killed, "")
		})
		if !errors.Is(err, killed) {
			t.Fatalf("the killed attempt: %v", err)
		}
		h.expectRows(t, h.mustRun(t, h.request("r", 2), nil), Rows)
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
		res := h.mustRun(t, h.request("r", 3), nil)
		if res.Committed {
			t.Error("a retry after the race committed again")
		}
		h.expectRows(t, res, Rows)
	})
	if tg.Rewrite != nil {
		t.Run("RewriteAfterThePin", func(t *testing.T) {
			h := newHarness(t, tg)
			res := h.mustRun(t, h.request("r", 1), nil)
			tg.Rewrite(t, h.params)
			n, err := h.read(t, res)
			switch {
			case err != nil && fault.ClassOf(err) != fault.Data:
				t.Errorf("reading a pin whose source was rewritten since fails as %s, want data (65) or the pinned rows: %v", fault.ClassOf(err), err)
			case err == nil && n != Rows:
				t.Errorf("a consumer of the pin reads %d rows of a source rewritten after it, want the %d pinned (or a data error)", n, Rows)
			}
		})
	}
}

type harness struct {
	tg     Target
	run    string // prefix of this harness's run ids
	p      *ir.Pipeline
	hash   string
	cfg    *config.Config
	store  *objstore.Store
	runner *hookRunner
	params map[string]any
	reads  int // consumers made so far (Target.Read)
}

// hookRunner runs node attempts, optionally failing one between its pin and its commit.
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
	cfg, err := config.LoadFrom(ctx, noEnv{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.StagingURI = "file://" + filepath.Join(dir, "staging")
	cfg.LakeRoot = "file://" + filepath.Join(dir, "lake")
	if tg.Configure != nil {
		tg.Configure(cfg)
	}
	// Run ids unique per harness: a source's own state (a Kafka consumer group) outlives the
	// test and is keyed by pipeline and node.
	h := &harness{tg: tg, cfg: cfg, store: objstore.New(objstore.Options{}), run: fmt.Sprintf("%x", time.Now().UnixNano())}
	h.params = tg.Params(t)
	n := map[string]any{"id": "in", "source": tg.Kind, "with": h.params}
	if tg.Engine != "" {
		n["engine"] = tg.Engine
	}
	doc := map[string]any{
		"api_version": "aiflow/v1",
		"pipeline":    map[string]any{"id": "sourcetest_" + h.run, "env": "dev", "team": "sourcetest"},
		"nodes":       []any{n},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	specs, ps := ir.Parse("sourcetest.json", b, false)
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
	h.runner = &hookRunner{Runner: &node.Runner{Registry: tg.Registry, Config: cfg, Meta: meta, Store: h.store,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	return h
}

func (h *harness) request(runID string, try int) node.Request {
	return node.Request{Pipeline: h.p, IRHash: h.hash, Node: "in", RunID: h.run + "-" + runID, Try: try,
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

// rows reads the committed output an attempt reports (its own commit or the one it found) the
// way every consumer does, and counts its rows.
func (h *harness) rows(t *testing.T, res *node.Result) int {
	t.Helper()
	n, err := h.read(t, res)
	if err != nil {
		t.Fatalf("read the committed output: %v", err)
	}
	return n
}

// read is rows returning the consumer's error.
func (h *harness) read(t *testing.T, res *node.Result) (int, error) {
	t.Helper()
	m := res.Manifest
	if m == nil {
		t.Fatalf("attempt %d of %s reports no manifest (status %s)", res.Try, res.RunID, res.Status)
	}
	if m.Kind == manifest.KindNone {
		t.Fatalf("source %s committed a manifest of kind %s: nothing for consumers to read", h.tg.Kind, m.Kind)
	}
	if h.tg.Read != nil {
		return h.tg.Read(t, h.consumer(t, m))
	}
	rr, _, err := readers.Reader(context.Background(), h.store, h.cfg, m, nil, memory.DefaultAllocator)
	if err != nil {
		return 0, err
	}
	defer rr.Release()
	n := 0
	for rr.Next() {
		n += int(rr.RecordBatch().NumRows())
	}
	return n, rr.Err()
}

// consumer is the environment of a node reading the source's committed output m as its only
// input, with a staging folder of its own (Node is the source: the suite's pipeline has no
// consumer node, and a reader needs only the input's node).
func (h *harness) consumer(t *testing.T, m *manifest.Manifest) *plugin.Env {
	t.Helper()
	h.reads++
	return &plugin.Env{Pipeline: h.p, IRHash: h.hash, Node: h.p.Nodes["in"], RunID: h.run + "-read", Try: h.reads,
		Config: h.cfg, Registry: h.tg.Registry, Store: h.store, Log: h.runner.Log,
		Inputs: map[string]*manifest.Manifest{"in": m}, InputOrder: []string{"in"},
		OutDir: "file://" + t.TempDir(), Publish: true, Started: time.Now()}
}

func (h *harness) expectRows(t *testing.T, res *node.Result, want int) {
	t.Helper()
	if got := h.rows(t, res); got != want {
		t.Errorf("the committed output reads %d rows, want %d", got, want)
	}
}

// noEnv is an empty environment: the suite's configuration does not depend on the caller's.
type noEnv struct{}

func (noEnv) Lookup(string) (string, bool) { return "", false }
