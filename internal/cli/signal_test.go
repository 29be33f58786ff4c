package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gracePeriod is Kubernetes' default terminationGracePeriodSeconds: after SIGTERM the kubelet
// sends SIGKILL. The runner must have recorded the attempt and exited well before.
const gracePeriod = 30 * time.Second

// TestSIGTERMDuringSinkWrite sends a real SIGTERM to a real runner process while its sink is
// writing files (pod eviction, Airflow task killed): the node's context is cancelled, staging is
// aborted, the attempt is recorded as interrupted, the process exits 75 (retry), and nothing is
// published or committed. A retry then publishes everything once.
func TestSIGTERMDuringSinkWrite(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs signals")
	}
	bin := buildHookedRunner(t)
	w := newWorkspace(t)
	const rows = 20000
	w.orders("in/orders", rows)
	spec := w.write("spec.yaml", `api_version: aiflow/v1
pipeline: {id: sigterm, owner: me, env: dev}
nodes:
  - {id: src, source: files, with: {path: `+w.path("in/orders")+`/}}
  - id: out
    sink: files
    inputs: [src]
    with: {path: `+w.path("out")+`/, partition_by: [dt], format: csv}
`)
	env := os.Environ()
	for k, v := range w.env {
		env = append(env, k+"="+v)
	}
	marker := w.path("first-file-written")
	env = append(env, "AIFLOW_TERMINATION_LOG="+w.path("termination-log"), holdEnv+"="+marker)
	if r := w.run("run", "--pipeline", "sigterm", "--node", "src", "--ir", spec, "--run-id", "r"); r.code != 0 {
		t.Fatalf("source: exit %d\n%s", r.code, r.stderr)
	}

	cmd := exec.Command(bin, "run", "--pipeline", "sigterm", "--node", "out", "--ir", spec, "--run-id", "r", "--try", "1")
	cmd.Env, cmd.Dir = env, w.dir
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// The hooked runner holds the write once its first data file is complete: SIGTERM then
	// always lands in the middle of the write, never before or after it.
	waitForMarker(t, marker, done, &output)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	var err error
	select {
	case err = <-done:
	case <-time.After(gracePeriod):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the runner did not exit within %s of SIGTERM (the kubelet would SIGKILL it); output:\n%s", gracePeriod, output.String())
	}
	took := time.Since(sent)
	t.Logf("exited %s after SIGTERM", took)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 75 {
		t.Fatalf("exit %v, want 75 (temporary: retry); output:\n%s", err, output.String())
	}
	// Well within the grace period: the recorded attempt and the cleanup must not race SIGKILL.
	if took > gracePeriod/3 {
		t.Errorf("took %s to exit after SIGTERM, want well within the %s grace period", took, gracePeriod)
	}

	// Nothing published.
	if _, err := os.Stat(w.path("out/_aiflow/current.json")); err == nil {
		t.Error("an interrupted sink published a table version (out/_aiflow/current.json)")
	}
	// The attempt is recorded as interrupted, with no commit.
	r := w.run("runs", "show", "r", "--pipeline", "sigterm", "--json")
	if r.code != 0 {
		t.Fatalf("runs show: exit %d\n%s", r.code, r.stderr)
	}
	var detail struct {
		Attempts []struct {
			Node       string `json:"node"`
			Try        int    `json:"try"`
			Status     string `json:"status"`
			ErrorClass string `json:"error_class"`
			EndedAt    any    `json:"ended_at"`
		} `json:"attempts"`
		Commits []struct {
			Node string `json:"node"`
		} `json:"commits"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &detail); err != nil {
		t.Fatalf("runs show --json: %v\n%s", err, r.stdout)
	}
	found := false
	for _, a := range detail.Attempts {
		if a.Node == "out" && a.Try == 1 {
			found = true
			if a.Status != "interrupted" || a.EndedAt == nil {
				t.Errorf("attempt out/1: status %q, ended %v; want interrupted and ended", a.Status, a.EndedAt)
			}
		}
	}
	if !found {
		t.Errorf("no attempt of out recorded:\n%s", r.stdout)
	}
	for _, c := range detail.Commits {
		if c.Node == "out" {
			t.Error("an interrupted attempt has a commit row")
		}
	}
	// Staging aborted: of the attempt folder only result.json (how the attempt ended) is left.
	attempts, _ := filepath.Glob(filepath.Join(w.env["AIFLOW_HOME"], "staging", "sigterm", "r", "out", "attempt-1-*"))
	if len(attempts) != 1 {
		t.Fatalf("attempt folders of try 1: %v, want one", attempts)
	}
	attempt := attempts[0]
	var left []string
	filepath.WalkDir(attempt, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(attempt, p)
			left = append(left, rel)
		}
		return nil
	})
	if len(left) != 1 || left[0] != "result.json" {
		t.Errorf("attempt folder holds %v, want only result.json", left)
	}
	if b, err := os.ReadFile(filepath.Join(attempt, "result.json")); err == nil {
		var res struct {
			Status    string `json:"status"`
			ExitCode  int    `json:"exit_code"`
			Committed bool   `json:"committed"`
		}
		if err := json.Unmarshal(b, &res); err != nil || res.Status != "interrupted" || res.ExitCode != 75 || res.Committed {
			t.Errorf("result.json: %s", b)
		}
	}
	if b, _ := os.ReadFile(w.path("termination-log")); !strings.Contains(string(b), "exit 75") || !strings.Contains(string(b), "retryable=true") {
		t.Errorf("termination message %q, want the temporary class (exit 75, retryable)", b)
	}

	// The retry Airflow makes publishes every row once.
	if r := w.run("run", "--pipeline", "sigterm", "--node", "out", "--ir", spec, "--run-id", "r", "--try", "2"); r.code != 0 {
		t.Fatalf("retry: exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(w.path("out/_aiflow/current.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Rows int64 `json:"rows"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Rows != rows {
		t.Errorf("retry published %d rows (%v), want %d", v.Rows, err, rows)
	}
}

// holdEnv is dataset.HoldEnv, which only a runner built with -tags aiflow_testhooks has.
const holdEnv = "AIFLOW_TESTHOOK_HOLD_AFTER_FILE"

var hooked struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

// buildHookedRunner builds the runner with the test hooks (once per test binary): kill and
// signal tests stop a write at a known point with them instead of racing a timer.
func buildHookedRunner(t *testing.T) string {
	t.Helper()
	hooked.once.Do(func() {
		dir, err := os.MkdirTemp("", "aiflow-hooked-")
		if err != nil {
			hooked.err = err
			return
		}
		hooked.bin = filepath.Join(dir, "aiflow-runner")
		cmd := exec.Command("go", "build", "-tags", "aiflow_testhooks", "-o", hooked.bin, "github.com/aiflow-dev/aiflow/cmd/aiflow-runner")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		hooked.out, hooked.err = cmd.CombinedOutput()
	})
	if hooked.err != nil {
		t.Fatalf("build the hooked runner: %v\n%s", hooked.err, hooked.out)
	}
	return hooked.bin
}

// waitForMarker waits until the hooked runner says its first data file is complete; the
// process ending first, or two minutes without it, fails the test.
func waitForMarker(t *testing.T, marker string, done chan error, output fmt.Stringer) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		if _, err := os.Stat(marker); err == nil {
			return
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the runner ended (%v) before its first data file was complete; output:\n%s", err, output)
		case <-deadline:
			t.Fatalf("the runner wrote no data file within 2 minutes; output:\n%s", output)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
