package policy_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// The policy through the runner's command line: compile refuses to write a DAG (exit 78), and
// run refuses, inside the pod, a pipeline a hand-edited DAG carries.

type ws struct {
	t   *testing.T
	dir string
	env map[string]string
}

func newWS(t *testing.T) *ws {
	dir := t.TempDir()
	w := &ws{t: t, dir: dir, env: map[string]string{
		"AIFLOW_HOME": filepath.Join(dir, ".aiflow"), "AIFLOW_LOG_FORMAT": "text", "AIFLOW_LOG_LEVEL": "warn",
		"AIFLOW_TERMINATION_LOG": filepath.Join(dir, "termination-log"),
	}}
	w.write("in/orders.csv", "order_id,user_id,amount\n1,10,9.5\n2,11,20.25\n")
	w.write("policy.yaml", strings.ReplaceAll(`
teams:
  growth:
    sources: [files]
    sinks: [files, onelake]
    engines: [arrow]
    write_namespaces: [growth]
    write_paths: ["DIR/growth/"]
    max_resources: {cpu: "2", memory: 4Gi}
  feature-platform:
    sources: ["*"]
    sinks: ["*"]
    engines: ["*"]
    write_namespaces: [feature_store]
    write_paths: ["DIR/fp/"]
`, "DIR", dir))
	return w
}

func (w *ws) path(p string) string { return filepath.Join(w.dir, p) }

func (w *ws) write(name, content string) string {
	w.t.Helper()
	p := w.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

type res struct {
	code           int
	stdout, stderr string
}

func (w *ws) run(args ...string) res {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.RunWith(&cli.Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Registry: plugin.Default, Lookup: func(k string) (string, bool) { v, ok := w.env[k]; return v, ok }}, args)
	return res{code, stdout.String(), stderr.String()}
}

// spec writes a growth pipeline: files → [transform] → sink.
func (w *ws) spec(name, transform, sink string) string {
	y := `api_version: aiflow/v1
pipeline: {id: ` + name + `, owner: me, team: growth, env: dev, params: {sub: daily}}
nodes:
  - {id: src, source: files, with: {path: ` + w.path("in/orders.csv") + `, format: csv}}
`
	input := "src"
	if transform != "" {
		y += "  - id: t\n    inputs: [src]\n" + transform + "\n"
		input = "t"
	}
	y += "  - id: out\n    inputs: [" + input + "]\n" + strings.ReplaceAll(sink, "DIR", w.dir) + "\n"
	return w.write("specs/"+name+".yaml", y)
}

func TestCompileDenied(t *testing.T) {
	w := newWS(t)
	cases := []struct {
		name, transform, sink, want string
	}{
		{"other_namespace", "", "    sink: onelake\n    with: {table: feature_store.user_features}",
			`other_namespace/out: table: namespace "feature_store" (table feature_store.user_features) is not allowed (allowed: growth) for team "growth"`},
		{"forbidden_engine", "    transform: python\n    with: {fn: 'jobs:main'}", "    sink: files\n    with: {path: DIR/growth/out/}",
			`forbidden_engine/t: engine "python" is not allowed for team "growth" (allowed: arrow)`},
		{"over_cap", "    transform: arrow\n    with: {steps: [{limit: 1}]}\n    resources: {cpu: '8', memory: 64Gi}", "    sink: files\n    with: {path: DIR/growth/out/}",
			`over_cap/t: resources.cpu 8 is over the cap 2 for team "growth"`},
		{"dotdot_escape", "", "    sink: files\n    with: {path: DIR/growth/../fp/out/}",
			`is outside the allowed write paths`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := w.spec(c.name, c.transform, c.sink)
			out := w.path("dags-" + c.name)
			r := w.run("compile", spec, "--out", out, "--policy", w.path("policy.yaml"))
			if r.code != 78 || !strings.Contains(r.stderr, "policy denied") || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("compile: exit %d, want 78 with %q\nstderr: %s", r.code, c.want, r.stderr)
			}
			if entries, _ := os.ReadDir(out); len(entries) > 0 {
				t.Fatalf("a denied pipeline got a DAG: %v", entries)
			}
			// The same through AIFLOW_POLICY_FILE.
			w.env["AIFLOW_POLICY_FILE"] = w.path("policy.yaml")
			defer delete(w.env, "AIFLOW_POLICY_FILE")
			if r := w.run("compile", spec, "--out", out); r.code != 78 {
				t.Fatalf("compile with AIFLOW_POLICY_FILE: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
	spec := w.spec("allowed", "    transform: arrow\n    with: {steps: [{limit: 1}]}\n    resources: {cpu: '1'}", "    sink: files\n    with: {path: DIR/growth/out/}")
	if r := w.run("compile", spec, "--out", w.path("dags"), "--policy", w.path("policy.yaml")); r.code != 0 {
		t.Fatalf("allowed pipeline: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.run("compile", spec, "--out", w.path("dags"), "--policy", w.path("missing.yaml")); r.code != 78 {
		t.Fatalf("a missing policy file must fail (exit 78), got %d", r.code)
	}
}

// TestRunDenied: the DAG was compiled without the policy (or edited by hand afterwards); the pod
// refuses before any node runs: exit 78, the reason in the termination message, nothing written.
func TestRunDenied(t *testing.T) {
	w := newWS(t)
	cases := []struct {
		name, transform, sink, want string
		params                      []string
	}{
		{"other_namespace", "", "    sink: onelake\n    with: {table: feature_store.user_features}", `namespace "feature_store"`, nil},
		{"forbidden_engine", "    transform: python\n    with: {fn: 'jobs:main'}", "    sink: files\n    with: {path: DIR/growth/out/}", `engine "python" is not allowed`, nil},
		{"over_cap", "    transform: arrow\n    with: {steps: [{limit: 1}]}\n    resources: {memory: 64Gi}", "    sink: files\n    with: {path: DIR/growth/out/}", `resources.memory 64Gi is over the cap 4Gi`, nil},
		// Allowed at compile time (the literal head is under DIR/growth/); the value given at run
		// time climbs out.
		{"param_escape", "", "    sink: files\n    with: {path: 'DIR/growth/{{ params.sub }}/'}", `is outside the allowed write paths`, []string{"--param", "sub=../fp"}},
	}
	w.env["AIFLOW_POLICY_FILE"] = w.path("policy.yaml")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := w.spec(c.name, c.transform, c.sink)
			// The IR a hand-edited DAG would carry, in AIFLOW_IR_B64, with its own hash.
			specs, ps := ir.LoadFile(spec, false)
			if len(ps) > 0 {
				t.Fatal(ps)
			}
			canon, err := specs[0].Pipeline.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			enc, err := cli.EncodeIR(canon)
			if err != nil {
				t.Fatal(err)
			}
			w.env[cli.IREnv] = enc
			defer delete(w.env, cli.IREnv)
			args := append([]string{"run", "--pipeline", c.name, "--node", "src", "--run-id", "r1", "--ir-hash", ir.HashBytes(canon)}, c.params...)
			r := w.run(args...)
			if r.code != 78 || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("run: exit %d, want 78 with %q\nstderr: %s", r.code, c.want, r.stderr)
			}
			term, _ := os.ReadFile(w.env["AIFLOW_TERMINATION_LOG"])
			if !strings.Contains(string(term), "exit 78") || !strings.Contains(string(term), "policy denied") {
				t.Errorf("termination message %q", term)
			}
			// --all from a spec file too.
			args = append([]string{"run", "--pipeline", c.name, "--all", "--ir", spec}, c.params...)
			if r := w.run(args...); r.code != 78 {
				t.Fatalf("run --all: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
	// Nothing ran: no node attempt was recorded, nothing was written.
	if _, err := os.Stat(w.path(".aiflow/metadata.db")); err == nil {
		r := w.run("runs", "list")
		if strings.Contains(r.stdout, "r1") {
			t.Errorf("a denied run was recorded:\n%s", r.stdout)
		}
	}
	for _, d := range []string{"growth", "fp", ".aiflow/lake/feature_store"} {
		if _, err := os.Stat(w.path(d)); err == nil {
			t.Errorf("%s was written by a denied pipeline", d)
		}
	}

	// The allowed pipeline runs under the same policy.
	spec := w.spec("allowed", "", "    sink: files\n    with: {path: 'DIR/growth/{{ params.sub }}/', format: csv}")
	if r := w.run("run", "--pipeline", "allowed", "--all", "--ir", spec); r.code != 0 {
		t.Fatalf("allowed pipeline: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(w.path("growth/daily/_aiflow/current.json")); err != nil {
		t.Fatalf("allowed pipeline published nothing: %v", err)
	}
}

// TestTeamPinned: AIFLOW_TEAM pins the team a pod may claim, so a DAG cannot borrow the rights of
// another team by editing its team field.
func TestTeamPinned(t *testing.T) {
	w := newWS(t)
	spec := w.spec("pinned", "", "    sink: files\n    with: {path: DIR/growth/out/, format: csv}")
	w.env["AIFLOW_POLICY_FILE"] = w.path("policy.yaml")
	w.env[cli.TeamEnv] = "feature-platform"
	r := w.run("run", "--pipeline", "pinned", "--all", "--ir", spec)
	if r.code != 78 || !strings.Contains(r.stderr, `team "growth" is not this deployment's team "feature-platform" (AIFLOW_TEAM)`) {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	w.env[cli.TeamEnv] = "growth"
	if r := w.run("run", "--pipeline", "pinned", "--all", "--ir", spec); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}
