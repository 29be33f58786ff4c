package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// built is this module's runner, built once for the tests (as a team would build it).
var built struct {
	once sync.Once
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

func runnerBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "custom-runner-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "custom-runner")
		build := exec.Command("go", "build", "-o", built.bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// TestCustomRunner builds this module's runner, as a team would, and runs a pipeline through
// its jsonl sink: files in, JSON lines out, and a retry that changes nothing.
func TestCustomRunner(t *testing.T) {
	dir := t.TempDir()
	bin := runnerBinary(t)
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

// TestCustomRunnerPythonDSL: the runner writes the Python DSL's builders of its own kinds
// (`plugins --python jsonl`); a pipeline file importing them writes `sink.jsonl(...)` beside the
// built-in builders, `python -m aiflow_sdk build` turns it into IR, and the runner runs it.
func TestCustomRunnerPythonDSL(t *testing.T) {
	py := os.Getenv("AIFLOW_TEST_PYTHON") // python with pyarrow and aiflow_sdk (make test's .venv)
	if py == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("AIFLOW_TEST_PYTHON is not set: run make test")
		}
		t.Skip("AIFLOW_TEST_PYTHON not set; run make test")
	}
	dir := t.TempDir()
	bin := runnerBinary(t)
	sdk, err := filepath.Abs(filepath.Join("..", "..", "python"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AIFLOW_") && !strings.HasPrefix(kv, "PYTHONPATH=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "AIFLOW_HOME="+filepath.Join(dir, ".aiflow"), "AIFLOW_LOG_FORMAT=text", "PYTHONPATH="+dir+string(os.PathListSeparator)+sdk)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %v: %v\n%s%s", filepath.Base(name), args, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	builders := run(bin, "plugins", "--python", "jsonl")
	if err := os.WriteFile(filepath.Join(dir, "team_builders.py"), []byte(builders), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"in/orders.csv": "user_id,amount\n1,10.5\n2,3\n1,4\n",
		"pipeline.py": `from aiflow_sdk.dsl import pipeline, sink, source
import team_builders  # noqa: F401  (this runner's own kinds: sink.jsonl)


@pipeline(id="custom_runner_dsl", owner="me", team="demo", env="dev")
def custom_runner_dsl(p):
    orders = p.read(source.files(id="orders", path="in/orders.csv", format="csv",
                                 schema={"user_id": "int64", "amount": "float64"}))
    p.write(orders, sink.jsonl(id="out", path="out/"))
`,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(py, "-m", "aiflow_sdk", "build", "pipeline.py", "--out", "ir")
	irs, _ := filepath.Glob(filepath.Join(dir, "ir", "*.json"))
	if len(irs) != 1 {
		t.Fatalf("build wrote %v, want one IR file", irs)
	}
	run(bin, "validate", irs[0])
	run(bin, "run", "--pipeline", "custom_runner_dsl", "--all", "--ir", irs[0], "--run-id", "d1")
	if got := readLines(t, filepath.Join(dir, "out", "d1.jsonl")); len(got) != 3 || got[0]["amount"] != 10.5 {
		t.Errorf("the DSL pipeline's jsonl sink wrote %v, want the 3 orders", got)
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
