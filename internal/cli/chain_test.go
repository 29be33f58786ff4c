package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
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

// stuckSink waits without looking at its context: a call that never honours its deadline.
type stuckSink struct {
	Sleep string `json:"sleep"`
}

func (*stuckSink) Validate() error { return nil }

type stuckRuntime struct{}

func (stuckRuntime) Publish(ctx context.Context, env *plugin.Env, c *stuckSink) (*plugin.Output, error) {
	d, err := time.ParseDuration(c.Sleep)
	if err != nil {
		return nil, err
	}
	time.Sleep(d)
	return nil, fmt.Errorf("stuck sink gave up")
}

// A node stuck in a call that ignores its context is ended by the watchdog with exit 75 shortly
// after the task's deadline (AIFLOW_NODE_TIMEOUT from the start), not when the call returns.
func TestWatchdogEndsAStuckNode(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a node timeout")
	}
	reg := plugin.Default.Clone()
	plugin.RegisterSink(reg, plugin.Kind[*stuckSink]{Kind: "stuck", Summary: "test only", Engines: []string{"arrow"},
		New: func() *stuckSink { return &stuckSink{} }}, stuckRuntime{}, "arrow")
	w := newWorkspace(t)
	w.orders("in", 100)
	const timeout, stuck = 6 * time.Second, 25 * time.Second
	w.env["AIFLOW_NODE_TIMEOUT"] = timeout.String()
	spec := w.write("stuck.yaml", `api_version: aiflow/v1
pipeline: {id: stuck, owner: me, env: dev}
nodes:
  - {id: src, source: files, with: {path: "`+w.path("in")+`/", format: parquet}}
  - {id: out, sink: stuck, inputs: [src], with: {sleep: `+stuck.String()+`}}
`)
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
	go func() { done <- run("run", "--pipeline", "stuck", "--node", "out", "--ir", spec, "--run-id", "s1") }()
	select {
	case code := <-exited:
		took := time.Since(start)
		if code != 75 {
			t.Errorf("watchdog exit %d, want 75", code)
		}
		if took >= stuck {
			t.Errorf("the watchdog fired after %s, when the stuck call returned (%s)", took, stuck)
		}
		t.Logf("watchdog: exit %d after %s", code, took.Round(time.Second))
	case r := <-done:
		t.Fatalf("the run ended by itself after %s (exit %d) without the watchdog: the stuck call returned first\n%s", time.Since(start), r.code, r.stderr)
	}
	<-done // the stuck call returns; nothing outlives the test
}
