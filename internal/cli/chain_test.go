package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/plugin"
)

// slowSink takes its time (Sleep) and then writes nothing: a stand-in for a long write.
type slowSink struct {
	Sleep string `json:"sleep"`
}

func (*slowSink) Validate() error { return nil }

type slowRuntime struct{}

func (slowRuntime) Publish(ctx context.Context, env *plugin.Env, c *slowSink) (*plugin.Output, error) {
	d, err := time.ParseDuration(c.Sleep)
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return nil, fmt.Errorf("slow sink interrupted: %w", context.Cause(ctx))
	}
	return &plugin.Output{Manifest: &manifest.Manifest{Kind: manifest.KindFiles, Format: "parquet"}}, nil
}

// A fused chain (several nodes in one task: run --node a --node b ...) has one deadline, the
// task's AIFLOW_NODE_TIMEOUT, not one per node: three nodes of 5 s each under a 12 s timeout
// cannot all run. The chain exits 75 with "node timeout" within the timeout, the node cut short
// is not committed, and its attempt is recorded as ended.
func TestFusedChainSharesOneDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a node timeout")
	}
	reg := plugin.Default.Clone()
	plugin.RegisterSink(reg, plugin.Kind[*slowSink]{Kind: "slow", Summary: "test only", Engines: []string{"arrow"},
		New: func() *slowSink { return &slowSink{} }}, slowRuntime{}, "arrow")
	w := newWorkspace(t)
	w.orders("in", 100)
	const timeout = 12 * time.Second
	w.env["AIFLOW_NODE_TIMEOUT"] = timeout.String()
	spec := w.write("chain.yaml", `api_version: aiflow/v1
pipeline: {id: chain, owner: me, env: dev}
nodes:
  - {id: src, source: files, with: {path: "`+w.path("in")+`/", format: parquet}}
  - {id: a, sink: slow, inputs: [src], with: {sleep: 5s}}
  - {id: b, sink: slow, inputs: [src], with: {sleep: 5s}}
  - {id: c, sink: slow, inputs: [src], with: {sleep: 5s}}
`)
	run := func(args ...string) runResult {
		var stdout, stderr bytes.Buffer
		code := cli.RunWith(&cli.Env{
			Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Registry: reg,
			Lookup: func(k string) (string, bool) { v, ok := w.env[k]; return v, ok },
		}, args)
		return runResult{code, stdout.String(), stderr.String()}
	}
	if r := run("run", "--pipeline", "chain", "--node", "src", "--ir", spec, "--run-id", "c1"); r.code != 0 {
		t.Fatalf("src: exit %d\n%s", r.code, r.stderr)
	}
	start := time.Now()
	r := run("run", "--pipeline", "chain", "--node", "a,b,c", "--ir", spec, "--run-id", "c1")
	took := time.Since(start)
	if r.code != 75 {
		t.Fatalf("a chain of 15 s under AIFLOW_NODE_TIMEOUT=%s: exit %d, want 75\n%s", timeout, r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "node timeout") {
		t.Errorf("the error does not say the task ran out of time:\n%s", r.stderr)
	}
	if took > timeout+10*time.Second { // the bound, with slack for a loaded machine
		t.Errorf("the chain exited after %s with AIFLOW_NODE_TIMEOUT=%s", took, timeout)
	}
	st, err := metadata.Open(context.Background(), "sqlite://"+w.path(".aiflow/metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.GetRun(context.Background(), "chain", "c1")
	if err != nil {
		t.Fatal(err)
	}
	committed := map[string]bool{}
	for _, c := range d.Commits {
		committed[c.Node] = true
	}
	if committed["a"] && committed["b"] && committed["c"] {
		t.Fatalf("every node of the chain committed: the chain ran past its deadline (%s)", took)
	}
	for _, a := range d.Attempts {
		if a.Status == metadata.AttemptRunning {
			t.Errorf("attempt of %s still running in the ledger after the task exited", a.Node)
		}
		if !committed[a.Node] && a.Node != "src" && (a.ExitCode == nil || *a.ExitCode != 75) {
			t.Errorf("attempt of %s: status %s exit %v, want 75", a.Node, a.Status, a.ExitCode)
		}
	}
	t.Logf("exit 75 after %s; committed %v", took.Round(time.Second), committed)
}

// stuckRelease holds, by name, the channel a test closes to let a stuck call return.
var stuckRelease sync.Map

// stuckSink waits without looking at its context: a call that never honours its deadline. It
// returns after Sleep, or when the test closes stuckRelease[Release]. With LockLedger it holds
// an exclusive lock on the SQLite ledger meanwhile: a ledger that does not answer.
type stuckSink struct {
	Sleep      string `json:"sleep"`
	Release    string `json:"release"`
	LockLedger bool   `json:"lock_ledger"`
}

func (*stuckSink) Validate() error { return nil }

type stuckRuntime struct{}

func (stuckRuntime) Publish(ctx context.Context, env *plugin.Env, c *stuckSink) (*plugin.Output, error) {
	d, err := time.ParseDuration(c.Sleep)
	if err != nil {
		return nil, err
	}
	if c.LockLedger {
		db, err := sql.Open("sqlite", strings.TrimPrefix(env.Config.MetadataDSN, "sqlite://"))
		if err != nil {
			return nil, err
		}
		defer db.Close()
		conn, err := db.Conn(context.Background())
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
			return nil, err
		}
		defer conn.ExecContext(context.Background(), "ROLLBACK") //nolint:errcheck
	}
	release := make(chan struct{})
	if ch, ok := stuckRelease.Load(c.Release); ok {
		release = ch.(chan struct{})
	}
	select {
	case <-time.After(d):
	case <-release:
	}
	return nil, fmt.Errorf("stuck sink gave up")
}

// A node stuck in a call that ignores its context is ended by the watchdog with exit 75 shortly
// after the task's deadline (AIFLOW_NODE_TIMEOUT from the start), not when the call returns. On
// its way out it records the attempt as interrupted (exit 75) and, on the task's last try, the
// run as failed; a ledger that does not answer does not hold the exit (the row then stays
// running until the retry).
func TestWatchdogEndsAStuckNode(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a node timeout")
	}
	reg := plugin.Default.Clone()
	plugin.RegisterSink(reg, plugin.Kind[*stuckSink]{Kind: "stuck", Summary: "test only", Engines: []string{"arrow"},
		New: func() *stuckSink { return &stuckSink{} }}, stuckRuntime{}, "arrow")
	for _, tc := range []struct {
		name       string
		lockLedger bool
		maxTries   string
		wantStatus metadata.AttemptStatus // of the stuck attempt, read once the ledger is free
		wantRun    metadata.RunStatus
	}{
		{"ledger answers, retries left", false, "2", metadata.AttemptInterrupted, metadata.RunRunning},
		{"ledger answers, last try", false, "0", metadata.AttemptInterrupted, metadata.RunFailed},
		{"ledger locked", true, "2", metadata.AttemptRunning, metadata.RunRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorkspace(t)
			w.orders("in", 100)
			const timeout, stuck = 6 * time.Second, 60 * time.Second
			w.env["AIFLOW_NODE_TIMEOUT"] = timeout.String()
			release := make(chan struct{})
			stuckRelease.Store(t.Name(), release)
			defer stuckRelease.Delete(t.Name())
			spec := w.write("stuck.yaml", fmt.Sprintf(`api_version: aiflow/v1
pipeline: {id: stuck, owner: me, env: dev}
nodes:
  - {id: src, source: files, with: {path: "%s/", format: parquet}}
  - {id: out, sink: stuck, inputs: [src], with: {sleep: %s, release: %q, lock_ledger: %v}}
`, w.path("in"), stuck, t.Name(), tc.lockLedger))
			exited := make(chan int, 1)
			run := func(args ...string) runResult {
				var stdout, stderr bytes.Buffer
				code := cli.RunWith(&cli.Env{
					Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Registry: reg,
					Lookup: func(k string) (string, bool) { v, ok := w.env[k]; return v, ok },
					Exit:   func(code int) { exited <- code },
				}, args)
				return runResult{code, stdout.String(), stderr.String()}
			}
			if r := run("run", "--pipeline", "stuck", "--node", "src", "--ir", spec, "--run-id", "s1"); r.code != 0 {
				t.Fatalf("src: exit %d\n%s", r.code, r.stderr)
			}
			start := time.Now()
			done := make(chan runResult, 1)
			go func() {
				done <- run("run", "--pipeline", "stuck", "--node", "out", "--ir", spec, "--run-id", "s1", "--max-tries", tc.maxTries)
			}()
			select {
			case code := <-exited:
				if code != 75 {
					t.Errorf("watchdog exit %d, want 75", code)
				}
				t.Logf("watchdog: exit %d after %s", code, time.Since(start).Round(time.Second))
			case r := <-done:
				t.Fatalf("the run ended by itself after %s (exit %d) without the watchdog: the stuck call returned first\n%s", time.Since(start), r.code, r.stderr)
			case <-time.After(stuck):
				t.Fatalf("no exit %s after the start: the watchdog waits on the ledger (or never fired)", stuck)
			}
			// What the ledger says right after the exit, the stuck call still stuck (its own end
			// would settle the run too); a locked ledger is read once the lock is released.
			if tc.lockLedger {
				close(release)
				<-done
			} else {
				defer func() { close(release); <-done }()
			}
			st, err := metadata.Open(context.Background(), "sqlite://"+w.path(".aiflow/metadata.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			d, err := st.GetRun(context.Background(), "stuck", "s1")
			if err != nil {
				t.Fatal(err)
			}
			var outs []metadata.Attempt
			for _, a := range d.Attempts {
				if a.Node == "out" {
					outs = append(outs, a)
				}
			}
			if len(outs) != 1 {
				t.Fatalf("%d attempts of out, want 1: %+v", len(outs), outs)
			}
			a := outs[0]
			if a.Status != tc.wantStatus {
				t.Errorf("stuck attempt: status %s, want %s", a.Status, tc.wantStatus)
			}
			if tc.wantStatus == metadata.AttemptInterrupted && (a.ExitCode == nil || *a.ExitCode != 75 || !strings.Contains(a.ErrorMessage, "node timeout")) {
				t.Errorf("stuck attempt: exit %v, error %q; want 75 and the watchdog's reason", a.ExitCode, a.ErrorMessage)
			}
			if d.Status != tc.wantRun {
				t.Errorf("run: status %s, want %s", d.Status, tc.wantRun)
			}
		})
	}
}
