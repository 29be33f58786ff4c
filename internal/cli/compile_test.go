package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/compiler"
	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

// compileCLI runs `aiflow-runner ARGS` with the built-in plugins and an empty environment.
func compileCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	r := plugin.NewRegistry()
	builtin.Register(r)
	env := map[string]string{"AIFLOW_HOME": t.TempDir()}
	var out, errb bytes.Buffer
	code = cli.RunWith(&cli.Env{
		Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Registry: r,
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}, args)
	return code, out.String(), errb.String()
}

var compileExamples = filepath.Join("..", "..", "examples")

func TestCompileWritesOneFilePerPipeline(t *testing.T) {
	out := t.TempDir()
	// Flags after the paths.
	code, stdout, stderr := compileCLI(t, "compile", compileExamples, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, id := range []string{"quickstart_user_orders", "daily_user_feature_pipeline"} {
		b, err := os.ReadFile(filepath.Join(out, id+".py"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(compiler.Header+"\n")) {
			t.Errorf("%s.py lacks the header", id)
		}
		if !strings.Contains(stdout, "written") {
			t.Errorf("stdout: %s", stdout)
		}
	}
	first, _ := os.ReadFile(filepath.Join(out, "quickstart_user_orders.py"))
	// Flags before the paths; same bytes, nothing rewritten.
	code, stdout, stderr = compileCLI(t, "compile", "--out", out, compileExamples)
	if code != 0 || strings.Contains(stdout, "written") || !strings.Contains(stdout, "unchanged") {
		t.Fatalf("recompile: exit %d, stdout %s, stderr %s", code, stdout, stderr)
	}
	again, _ := os.ReadFile(filepath.Join(out, "quickstart_user_orders.py"))
	if !bytes.Equal(first, again) {
		t.Error("recompiling changed the file")
	}
}

// TestCompileMatchesCompilerGoldens: the command hands the compiler what loading validated and
// hashed (compiler.Options.Validated: no second decode of every node's config, no second
// canonical IR) and must still write exactly the compiler's golden files.
func TestCompileMatchesCompilerGoldens(t *testing.T) {
	out := t.TempDir()
	testdata := filepath.Join("..", "..", "compiler", "testdata")
	if code, _, stderr := compileCLI(t, "compile", compileExamples, filepath.Join(testdata, "corpus"), "--out", out, "-q"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	goldens, err := filepath.Glob(filepath.Join(testdata, "golden", "kubernetes-default", "*.py"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no goldens (%v)", err)
	}
	written, _ := filepath.Glob(filepath.Join(out, "*.py"))
	if len(written) != len(goldens) {
		t.Errorf("%d DAG files written, %d goldens", len(written), len(goldens))
	}
	for _, golden := range goldens {
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, filepath.Base(golden)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", filepath.Base(golden), golden)
		}
	}
}

func TestCompileCheck(t *testing.T) {
	out := t.TempDir()
	if code, _, stderr := compileCLI(t, "compile", "--check", compileExamples, "--out", out); code != 65 || !strings.Contains(stderr, "missing") {
		t.Fatalf("check on an empty folder: exit %d, %s", code, stderr)
	}
	if code, _, stderr := compileCLI(t, "compile", compileExamples, "--out", out); code != 0 {
		t.Fatalf("compile: %d %s", code, stderr)
	}
	if code, stdout, stderr := compileCLI(t, "compile", "--check", compileExamples, "--out", out); code != 0 || !strings.Contains(stdout, "up to date") {
		t.Fatalf("check after compile: exit %d, %s %s", code, stdout, stderr)
	}
	// A stale file: edited by hand, or compiled from an older spec.
	path := filepath.Join(out, "quickstart_user_orders.py")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(b, []byte(`"retries": 2`), []byte(`"retries": 9`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := compileCLI(t, "compile", "--check", compileExamples, "--out", out)
	if code != 65 || !strings.Contains(stderr, "quickstart_user_orders.py: stale") {
		t.Fatalf("check a stale file: exit %d, %s", code, stderr)
	}
	after, _ := os.ReadFile(path)
	if bytes.Equal(after, b) {
		t.Fatal("--check rewrote the file")
	}
	// An orphan: a generated DAG whose pipeline is gone.
	if code, _, _ := compileCLI(t, "compile", compileExamples, "--out", out); code != 0 {
		t.Fatal("recompile failed")
	}
	orphan := filepath.Join(out, "old_pipeline.py")
	if err := os.WriteFile(orphan, []byte(compiler.Header+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "hand_written.py"), []byte("from airflow.sdk import DAG\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = compileCLI(t, "compile", "--check", compileExamples, "--out", out)
	if code != 65 || !strings.Contains(stderr, "old_pipeline.py: generated DAG of no pipeline") || strings.Contains(stderr, "hand_written") {
		t.Fatalf("check with an orphan: exit %d, %s", code, stderr)
	}
}

func TestCompileBadInput(t *testing.T) {
	dir := t.TempDir()
	invalid := filepath.Join(dir, "cycle.yaml")
	spec := `api_version: aiflow/v1
pipeline: {id: cyc, env: dev}
nodes:
  - {id: a, transform: arrow, inputs: [b]}
  - {id: b, transform: arrow, inputs: [a]}
`
	if err := os.WriteFile(invalid, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "dags")
	code, _, stderr := compileCLI(t, "compile", invalid, "--out", out)
	if code != 78 || !strings.Contains(stderr, "cycle") {
		t.Errorf("invalid IR: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an invalid pipeline produced output")
	}

	profiles := filepath.Join(dir, "profiles.yaml")
	if err := os.WriteFile(profiles, []byte("api_version: aiflow/v1\nprofiles:\n  - match: {env: staging}\n    image: r/aiflow-runner@sha256:"+strings.Repeat("a", 64)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = compileCLI(t, "compile", filepath.Join(compileExamples, "quickstart"), "--out", out, "--profiles", profiles)
	if code != 78 || !strings.Contains(stderr, `no deployment profile for env "dev"`) {
		t.Errorf("missing profile: exit %d, %s", code, stderr)
	}
	code, _, stderr = compileCLI(t, "compile", filepath.Join(compileExamples, "quickstart"), "--out", out, "--profiles", filepath.Join(dir, "nope.yaml"))
	if code != 78 {
		t.Errorf("unreadable profiles: exit %d, %s", code, stderr)
	}
	if code, _, _ := compileCLI(t, "compile", compileExamples, "--out", out, "--target", "nomad"); code != 64 {
		t.Errorf("bad target: exit %d", code)
	}
	if code, _, _ := compileCLI(t, "compile", compileExamples); code != 64 {
		t.Errorf("no --out: exit %d", code)
	}
}

// TestCompileAllOrNothing: when one pipeline fails to compile, no DAG file changes, even those of
// pipelines that compiled before it, and no temporary file is left behind.
func TestCompileAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "dags")
	if code, _, stderr := compileCLI(t, "compile", compileExamples, "--out", out, "-q"); code != 0 {
		t.Fatalf("compile: exit %d, %s", code, stderr)
	}
	before := readDir(t, out)
	// Only env dev has a profile: the dev pipelines compile (to a different image), the prod one fails.
	profiles := filepath.Join(dir, "profiles.yaml")
	if err := os.WriteFile(profiles, []byte("api_version: aiflow/v1\nprofiles:\n  - match: {env: dev}\n    image: r/aiflow-runner@sha256:"+strings.Repeat("b", 64)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := compileCLI(t, "compile", compileExamples, "--out", out, "--profiles", profiles)
	if code != 78 || !strings.Contains(stderr, `no deployment profile for env "prod"`) || stdout != "" {
		t.Fatalf("compile with a failing pipeline: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	after := readDir(t, out)
	if len(after) != len(before) {
		t.Errorf("files after the failed compile: %v, want %v", mapKeys(after), mapKeys(before))
	}
	for name, data := range before {
		if after[name] != data {
			t.Errorf("%s changed although the compile failed", name)
		}
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

func mapKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestCompileLocalAndFuse(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := compileCLI(t, "compile", filepath.Join(compileExamples, "quickstart"), "--out", out, "--target", "local", "--fuse", "--runner", "/usr/bin/aiflow-runner")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(filepath.Join(out, "quickstart_user_orders.py"))
	for _, want := range []string{
		"AiflowLocalOperator(", `RUNNER = "/usr/bin/aiflow-runner"`,
		`t["orders__paid_orders_by_user"]`, // its two sinks (a folder and a Delta table) stay apart
		`"--node", "orders",` + "\n" + `            "--node", "paid_orders_by_user",`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("local fused DAG lacks %q", want)
		}
	}
}

// TestCompilerIREncodingMatchesRunner: the runner decodes what the compiler encodes.
func TestCompilerIREncodingMatchesRunner(t *testing.T) {
	specs, ps := ir.LoadPaths([]string{compileExamples})
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	canon, err := specs[0].Pipeline.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := compiler.EncodeIR(canon)
	if err != nil {
		t.Fatal(err)
	}
	back, err := cli.DecodeIR(blob)
	if err != nil || !bytes.Equal(back, canon) {
		t.Fatalf("runner decoded %d bytes, %v", len(back), err)
	}
	if runnerBlob, _ := cli.EncodeIR(canon); runnerBlob != blob {
		t.Error("compiler and runner encode the IR differently")
	}
}

// TestCompileRecordsVersions: with a metadata store configured, compile records the version of
// every pipeline it compiled, and `pipelines record` does so for any spec.
func TestCompileRecordsVersions(t *testing.T) {
	w := newWorkspace(t)
	w.env["AIFLOW_METADATA_DSN"] = "sqlite://" + w.path("meta.db")
	if r := w.run("compile", "../../examples/user_features/pipeline.yaml", "--out", w.path("dags")); r.code != 0 {
		t.Fatalf("compile: exit %d\n%s", r.code, r.stderr)
	}
	r := w.run("pipelines", "list", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, "daily_user_feature_pipeline") {
		t.Fatalf("pipelines list after compile: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := w.run("pipelines", "record", "../../examples/quickstart"); r.code != 0 || !strings.Contains(r.stdout, "recorded quickstart_user_orders") {
		t.Fatalf("pipelines record: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := w.run("pipelines", "list"); !strings.Contains(r.stdout, "quickstart_user_orders") {
		t.Fatalf("pipelines list after record:\n%s", r.stdout)
	}
}

// The commands that load a whole tree of specs lift the runner's fallback soft memory limit
// (Env.LiftMemoryLimit); a node run keeps it.
func TestTreeCommandsLiftMemoryLimit(t *testing.T) {
	spec := filepath.Join(compileExamples, "quickstart", "pipeline.yaml")
	for _, tc := range []struct {
		args []string
		lift bool
	}{
		{[]string{"compile", spec, "--out", t.TempDir(), "-q"}, true},
		{[]string{"compile", spec, "--out", t.TempDir(), "--check", "-q"}, true},
		{[]string{"validate", spec, "-q"}, true},
		{[]string{"plan", spec}, true},
		{[]string{"version"}, false},
	} {
		t.Run(strings.Join(tc.args[:1], " "), func(t *testing.T) {
			r := plugin.NewRegistry()
			builtin.Register(r)
			env := map[string]string{"AIFLOW_HOME": t.TempDir()}
			lifted := false
			var out, errb bytes.Buffer
			cli.RunWith(&cli.Env{
				Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Registry: r,
				Lookup:          func(k string) (string, bool) { v, ok := env[k]; return v, ok },
				LiftMemoryLimit: func() { lifted = true },
			}, tc.args)
			if lifted != tc.lift {
				t.Errorf("%v: lifted %v, want %v (stderr %s)", tc.args, lifted, tc.lift, errb.String())
			}
		})
	}
}
