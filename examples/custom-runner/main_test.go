package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCustomRunner builds this module's runner, as a team would, and runs a pipeline through
// its jsonl sink: files in, JSON lines out, and a retry that changes nothing.
func TestCustomRunner(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "custom-runner")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("in/orders.csv", "user_id,amount\n1,10.5\n2,3\n1,4\n")
	spec := write("pipeline.yaml", `api_version: aiflow/v1
pipeline: {id: custom_runner_demo, env: dev, team: demo}
nodes:
  - id: orders
    source: files
    with: {path: in/orders.csv, format: csv, schema: {user_id: int64, amount: float64}}
  - id: by_user
    transform: arrow
    inputs: [orders]
    with:
      steps:
        - group_by: {keys: [user_id], aggs: {total: "sum(amount)"}}
        - sort: [user_id]
  - id: out
    sink: jsonl
    inputs: [by_user]
    with: {path: out/}
`)
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		// The embedded defaults (SQLite metadata, local staging under AIFLOW_HOME): no services.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AIFLOW_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "AIFLOW_HOME="+filepath.Join(dir, ".aiflow"), "AIFLOW_LOG_FORMAT=text")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}

	if out, code := run("plugins"); code != 0 || !strings.Contains(out, "jsonl") {
		t.Fatalf("plugins (exit %d) does not list jsonl:\n%s", code, out)
	}
	if out, code := run("validate", spec); code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, out)
	}
	if out, code := run("run", "--pipeline", "custom_runner_demo", "--all", "--ir", spec, "--run-id", "r1"); code != 0 {
		t.Fatalf("run --all: exit %d\n%s", code, out)
	}
	got := readLines(t, filepath.Join(dir, "out", "r1.jsonl"))
	want := []map[string]any{{"user_id": 1.0, "total": 14.5}, {"user_id": 2.0, "total": 3.0}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Errorf("row %d: %s = %v, want %v", i, k, got[i][k], v)
			}
		}
	}
	before, _ := os.Stat(filepath.Join(dir, "out", "r1.jsonl"))
	// A retry of the committed sink is a no-op (exit 0) and does not touch the file.
	if out, code := run("run", "--pipeline", "custom_runner_demo", "--node", "out", "--ir", spec, "--run-id", "r1", "--try", "2"); code != 0 {
		t.Fatalf("retry: exit %d\n%s", code, out)
	}
	after, _ := os.Stat(filepath.Join(dir, "out", "r1.jsonl"))
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("a retry of a committed node rewrote the file")
	}
	// A bad param is refused by the spec before anything runs (exit 78).
	bad := write("bad.yaml", strings.Replace(string(mustRead(t, spec)), "{path: out/}", "{path: ftp://x/}", 1))
	if out, code := run("validate", bad); code != 78 || !strings.Contains(out, "only file:// and s3://") {
		t.Errorf("validate of a bad path: exit %d\n%s", code, out)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readLines(t *testing.T, p string) []map[string]any {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}
