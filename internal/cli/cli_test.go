package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/bad")

const (
	exitUsage  = 64
	exitConfig = 78
)

type result struct {
	code           int
	stdout, stderr string
}

// run calls the CLI as main does, with the built-in plugins and a fake environment.
func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	r := plugin.NewRegistry()
	builtin.Register(r)
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["AIFLOW_HOME"]; !ok {
		env["AIFLOW_HOME"] = t.TempDir()
	}
	var stdout, stderr bytes.Buffer
	code := cli.RunWith(&cli.Env{
		Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Registry: r,
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}, args)
	return result{code, stdout.String(), stderr.String()}
}

var (
	examplesDir = filepath.Join("..", "..", "examples")
	exampleYAML = filepath.Join(examplesDir, "user_features", "pipeline.yaml")
	exampleIR   = filepath.Join(examplesDir, "user_features", "pipeline.ir.json")
	badDir      = filepath.Join("testdata", "bad")
)

// generatedBad are bad inputs too big or too odd to check in: written to a temporary folder and
// reported as if they lived in testdata/bad.
var generatedBad = map[string]func() []byte{
	"too_large.yaml": func() []byte {
		line := []byte("# padding to push the file over the size limit\n")
		return append([]byte("api_version: aiflow/v1\n"), bytes.Repeat(line, ir.MaxSpecSize/len(line)+1)...)
	},
}

func checkGolden(t *testing.T, golden string, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("stderr differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", golden, got, want)
	}
}

// TestBadInputCorpus: every bad input exits 78 with one `file:line: ` line per problem, never a
// panic; the exact text is pinned by a golden file beside the input.
func TestBadInputCorpus(t *testing.T) {
	entries, err := os.ReadDir(badDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".stderr") {
			cases = append(cases, e.Name())
		}
	}
	for name := range generatedBad {
		cases = append(cases, name)
	}
	if len(cases) < 20 {
		t.Fatalf("only %d bad inputs in %s", len(cases), badDir)
	}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(badDir, name)
			tmp := ""
			if gen, ok := generatedBad[name]; ok {
				tmp = t.TempDir()
				path = filepath.Join(tmp, name)
				if err := os.WriteFile(path, gen(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res := run(t, nil, "validate", path)
			stderr := res.stderr
			if tmp != "" {
				stderr = strings.ReplaceAll(stderr, tmp, badDir)
			}
			if res.code != exitConfig {
				t.Errorf("exit %d, want %d; stderr:\n%s", res.code, exitConfig, stderr)
			}
			if res.stdout != "" {
				t.Errorf("stdout not empty: %q", res.stdout)
			}
			prefix := regexp.MustCompile(`^` + regexp.QuoteMeta(filepath.Join(badDir, name)) + `:[1-9][0-9]*: \S`)
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if stderr == "" {
				lines = nil
			}
			if len(lines) == 0 {
				t.Error("no problem reported")
			}
			for _, l := range lines {
				if !prefix.MatchString(l) {
					t.Errorf("line does not start with file:line: %q", l)
				}
			}
			checkGolden(t, filepath.Join(badDir, name+".stderr"), stderr)
		})
	}
}

// The alias bomb fails on the node limit, fast, rather than expanding 9^9 strings.
func TestAliasBombFailsClearly(t *testing.T) {
	res := run(t, nil, "validate", filepath.Join(badDir, "alias_bomb.yaml"))
	if res.code != exitConfig || !strings.Contains(res.stderr, "YAML alias bomb") {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestBadFolder(t *testing.T) {
	res := run(t, nil, "validate", badDir)
	if res.code != exitConfig {
		t.Fatalf("exit %d", res.code)
	}
	line := regexp.MustCompile(`^testdata/bad/[a-z0-9_]+\.(yaml|json):[1-9][0-9]*: \S`)
	for _, l := range strings.Split(strings.TrimSpace(res.stderr), "\n") {
		if !line.MatchString(l) {
			t.Errorf("line does not start with file:line: %q", l)
		}
	}
}

func TestValidateExamples(t *testing.T) {
	res := run(t, nil, "validate", examplesDir)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	for _, id := range []string{"daily_user_feature_pipeline", "quickstart_user_orders"} {
		if !strings.Contains(res.stdout, "ok  "+id) {
			t.Errorf("stdout lacks %s:\n%s", id, res.stdout)
		}
	}
	if res := run(t, nil, "validate", "-q", examplesDir); res.code != 0 || res.stdout != "" {
		t.Errorf("-q: exit %d, stdout %q", res.code, res.stdout)
	}
}

func TestFlagsBeforeAndAfterPaths(t *testing.T) {
	before := run(t, nil, "plan", "--json", "--pipeline", "daily_user_feature_pipeline", examplesDir)
	after := run(t, nil, "plan", examplesDir, "--pipeline", "daily_user_feature_pipeline", "--json")
	mixed := run(t, nil, "plan", "--pipeline=daily_user_feature_pipeline", examplesDir, "--json")
	for _, r := range []result{before, after, mixed} {
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	if before.stdout != after.stdout || before.stdout != mixed.stdout {
		t.Errorf("flag position changes the output:\n%s\n%s\n%s", before.stdout, after.stdout, mixed.stdout)
	}
	if r := run(t, nil, "validate", exampleYAML, "-q"); r.code != 0 || r.stdout != "" {
		t.Errorf("validate PATH -q: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := run(t, nil, "validate", "-q", "--", exampleYAML); r.code != 0 {
		t.Errorf("validate -q -- PATH: exit %d %s", r.code, r.stderr)
	}
}

func TestPlanJSONSameForYAMLAndIR(t *testing.T) {
	y := run(t, nil, "plan", "--json", exampleYAML)
	j := run(t, nil, "plan", "--json", exampleIR)
	if y.code != 0 || j.code != 0 {
		t.Fatalf("exit %d/%d: %s%s", y.code, j.code, y.stderr, j.stderr)
	}
	if y.stdout != j.stdout {
		t.Fatalf("plan --json differs:\nyaml: %s\njson: %s", y.stdout, j.stdout)
	}
	var pj cli.PlanJSON
	if err := json.Unmarshal([]byte(y.stdout), &pj); err != nil {
		t.Fatal(err)
	}
	if ir.HashBytes(pj.IR) != pj.IRHash {
		t.Errorf("ir_hash %s is not the sha256 of the printed IR (%s)", pj.IRHash, ir.HashBytes(pj.IR))
	}
	raw, _ := os.ReadFile(exampleIR)
	var compact bytes.Buffer
	json.Compact(&compact, raw)
	if !bytes.Equal(pj.IR, compact.Bytes()) {
		t.Errorf("printed IR is not canonical:\n%s\n%s", pj.IR, compact.Bytes())
	}
	if want := []string{"orders_onelake", "enrich_orders", "build_user_features", "user_features_onelake"}; strings.Join(pj.Order, ",") != strings.Join(want, ",") {
		t.Errorf("order %v", pj.Order)
	}
	// Both files together are one pipeline (identical IR), not a conflict.
	if r := run(t, nil, "plan", "--json", exampleYAML, exampleIR); r.code != 0 || r.stdout != y.stdout {
		t.Errorf("both files: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestPlanText(t *testing.T) {
	r := run(t, nil, "plan", exampleYAML, "--logical-date", "2024-01-02")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"pipeline daily_user_feature_pipeline", "ir_hash   32f05eab9a06", "schedule  0 3 * * *",
		"tags      env:prod, project:feature-store, team:feature-platform",
		" 1. orders_onelake", " 4. user_features_onelake", `partitions = {"dt":"2024-01-02"}`,
		`resources = {"cluster":"emr-feature-prod","driver_memory":"4g","executor_cores":4,"executor_memory":"8g"}`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := run(t, nil, "plan", exampleYAML, "--logical-date", "yesterday"); r.code != exitUsage {
		t.Errorf("bad --logical-date: exit %d", r.code)
	}
	if r := run(t, nil, "plan", examplesDir, "--pipeline", "daily_user_feature_pipelin"); r.code != exitConfig ||
		!strings.Contains(r.stderr, `(did you mean "daily_user_feature_pipeline"?)`) {
		t.Errorf("unknown --pipeline: exit %d %s", r.code, r.stderr)
	}
}

func TestConflictingDefinitions(t *testing.T) {
	dir := t.TempDir()
	data, _ := os.ReadFile(exampleYAML)
	os.WriteFile(filepath.Join(dir, "a.yaml"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), bytes.Replace(data, []byte("owner: team_feature"), []byte("owner: someone_else"), 1), 0o644)
	r := run(t, nil, "validate", dir)
	if r.code != exitConfig || !strings.Contains(r.stderr, "b.yaml:7: daily_user_feature_pipeline: pipeline \"daily_user_feature_pipeline\" is also defined in") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no arguments", nil, "Usage: aiflow-runner COMMAND"},
		{"unknown command", []string{"valdate"}, `unknown command "valdate"`},
		{"bad flag", []string{"validate", "--nope", exampleYAML}, "aiflow-runner validate: unknown flag --nope\nRun 'aiflow-runner validate --help' for usage."},
		{"misspelt flag after path", []string{"plan", exampleYAML, "--jsn"}, `unknown flag --jsn, did you mean "--json"?`},
		{"misspelt flag", []string{"run", "--pipline", "p", "--all"}, `unknown flag --pipline, did you mean "--pipeline"?`},
		{"flag without value", []string{"plan", exampleYAML, "--pipeline"}, "--pipeline: expected string value"},
		{"bad bool", []string{"plan", "--json=maybe", exampleYAML}, `--json: bool value must be true`},
		{"misspelt command", []string{"runz"}, `unknown command "runz" (did you mean "run"?)` + "\nRun 'aiflow-runner --help'"},
		{"misspelt subcommand", []string{"runs", "shwo", "r1"}, `unexpected argument shwo (did you mean "show"?)`},
		{"unknown help topic", []string{"help", "nosuch"}, `unknown command "nosuch"`},
		{"misspelt help topic", []string{"help", "compil"}, `(did you mean "compile"?)`},
		{"bad --param", []string{"run", "--pipeline", "p", "--all", "--param", "novalue"}, `--param "novalue": want NAME=VALUE` + "\nRun 'aiflow-runner run --help' for usage."},
		{"unknown plugin kind", []string{"plugins", "feature_stor"}, `no source, sink or engine "feature_stor"`},
		{"misspelt plugin kind", []string{"plugins", "feature_stor"}, `(did you mean "feature_store"?)`},
		{"misspelt --target", []string{"compile", exampleYAML, "--out", "x", "--target", "kubernets"}, `(did you mean "kubernetes"?)`},
		{"no paths", []string{"validate"}, "no spec paths given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, tt.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d", r.code, exitUsage)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, r.stderr)
			}
		})
	}
}

// TestHyphenValues: a flag's value may start with a single dash (a negative number, a param
// value) without "="; a word starting with "--", or one of the command's short flags, is still a
// flag, so a forgotten value is reported, not swallowed.
func TestHyphenValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr
		not  string // not in stderr
	}{
		{"negative int, short flag", []string{"head", "-n", "-1", exampleYAML}, exitUsage, "--rows must not be negative", "expected"},
		{"negative int, long flag", []string{"head", "--rows", "-1", exampleYAML}, exitUsage, "--rows must not be negative", "expected"},
		{"negative int, default subcommand", []string{"runs", "--limit", "-5", "--json"}, exitUsage, "--limit -5: must not be negative", "expected"},
		{"dash value of a repeatable flag", []string{"run", "--pipeline", "p", "--all", "--param", "-novalue"}, exitUsage, `--param "-novalue": want NAME=VALUE`, "expected"},
		{"dash value after positional", []string{"plan", exampleYAML, "--logical-date", "-2024"}, exitUsage, `--logical-date "-2024": want YYYY-MM-DD`, "expected"},
		{"long flag is never a value", []string{"plan", exampleYAML, "--pipeline", "--json"}, exitUsage, `perhaps try --pipeline="--json"?`, ""},
		{"a short flag of the command is never a value", []string{"compile", exampleYAML, "--out", "-q"}, exitUsage, `expected string value but got "-q"`, ""},
		{"after --, nothing is joined", []string{"validate", "--", "-x"}, exitConfig, "-x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) || tt.not != "" && strings.Contains(r.stderr, tt.not) {
				t.Errorf("stderr should have %q and not %q:\n%s", tt.want, tt.not, r.stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := run(t, nil, args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d", args, r.code)
		}
		for _, want := range []string{"Exit codes", "64  usage", "78  configuration", "75  temporary", "65  data", "validate", "plan", "plugins", "version", "AIFLOW_HOME"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: help lacks %q", args, want)
			}
		}
	}
	for _, args := range [][]string{{"validate", "--help"}, {"plan", "-h"}, {"help", "plan"}, {"help", "runs", "show"}} {
		r := run(t, nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: aiflow-runner "+args[len(args)-1]) && !strings.Contains(r.stdout, "Usage: aiflow-runner "+args[0]) &&
			!strings.Contains(r.stdout, "Usage: aiflow-runner "+strings.Join(args[1:], " ")) {
			t.Errorf("%v: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	// `help X` is `X --help`, byte for byte.
	for _, cmd := range []string{"run", "compile", "runs"} {
		if h, f := run(t, nil, "help", cmd), run(t, nil, cmd, "--help"); h.stdout != f.stdout || h.code != 0 || f.code != 0 {
			t.Errorf("help %s differs from %s --help:\n%s\n---\n%s", cmd, cmd, h.stdout, f.stdout)
		}
	}
	// GNU long flags in the help, with their values named.
	if r := run(t, nil, "plan", "--help"); !strings.Contains(r.stdout, "--logical-date=D") || !strings.Contains(r.stdout, "--json") {
		t.Errorf("plan --help lacks its flags: %s", r.stdout)
	}
}

func TestVersion(t *testing.T) {
	line := regexp.MustCompile(`^aiflow-runner \S+ \(commit \S+, go1\.\S+ \w+/\w+, plugins [0-9a-f]{12}\)\n$`)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := run(t, nil, args...)
		if r.code != 0 || !line.MatchString(r.stdout) {
			t.Errorf("%v: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	full := plugin.NewRegistry()
	builtin.Register(full)
	if cli.PluginSetHash(full) == cli.PluginSetHash(full.Without(plugin.RoleEngine, "python")) {
		t.Error("plugin set hash ignores the plugin set")
	}
	if cli.PluginSetHash(full) != cli.PluginSetHash(full.Clone()) {
		t.Error("plugin set hash is not stable")
	}
}

func TestPlugins(t *testing.T) {
	r := run(t, nil, "plugins")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"source onelake", "source onestream", "source files", "source kafka",
		"sink onelake", "sink feature_store", "sink files", "sink kafka",
		"engine spark", "engine arrow", "engine python",
		"partition_by", "list of string", "required", `"delta"`, "driver_memory", `"2g"`, "(other params are passed to the function)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plugins output lacks %q", want)
		}
	}
	one := run(t, nil, "plugins", "feature_store")
	if one.code != 0 || !strings.Contains(one.stdout, "sink feature_store") || strings.Contains(one.stdout, "engine spark") {
		t.Errorf("plugins feature_store: %s", one.stdout)
	}
	// --python prints the checked-in DSL builders (internal/pydsl holds them to the specs).
	py := run(t, nil, "plugins", "--python")
	want, err := os.ReadFile(filepath.Join("..", "..", "python", "aiflow_sdk", "builtin_plugins.py"))
	if err != nil {
		t.Fatal(err)
	}
	if py.code != 0 || py.stdout != string(want) {
		t.Errorf("plugins --python: exit %d, %d bytes, not python/aiflow_sdk/builtin_plugins.py; stderr %s", py.code, len(py.stdout), py.stderr)
	}
	// With kinds, --python writes a team runner's module for its own kinds only: a built-in's
	// builder is aiflow_sdk's already, an unknown kind gets the nearest name.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"plugins", "--python", "files"}, "files is built in"},
		{[]string{"plugins", "--python", "feature_stor"}, `did you mean "feature_store"`},
		{[]string{"plugins", "--python", "--json"}, "not --json"},
	} {
		if r := run(t, nil, tt.args...); r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", tt.args, r.code, exitUsage, tt.want, r.stderr)
		}
	}
	if r := run(t, nil, "plugins", "files", "kafka"); r.code != 0 || !strings.Contains(r.stdout, "sink kafka") || !strings.Contains(r.stdout, "source files") || strings.Contains(r.stdout, "onelake") {
		t.Errorf("plugins files kafka: exit %d\n%s", r.code, r.stdout)
	}
}

func TestEnvironment(t *testing.T) {
	// AIFLOW_ENVS changes what env a pipeline may name.
	r := run(t, map[string]string{"AIFLOW_ENVS": "qa,live"}, "validate", filepath.Join(examplesDir, "quickstart"))
	if r.code != exitConfig || !strings.Contains(r.stderr, `env "dev" is not one of qa, live`) {
		t.Errorf("AIFLOW_ENVS: exit %d %s", r.code, r.stderr)
	}
	// A bad setting is a configuration error.
	r = run(t, map[string]string{"AIFLOW_LOG_FORMAT": "xml"}, "validate", examplesDir)
	if r.code != exitConfig || !strings.Contains(r.stderr, "AIFLOW_LOG_FORMAT") {
		t.Errorf("bad AIFLOW_LOG_FORMAT: exit %d %s", r.code, r.stderr)
	}
}

func TestRunUsesDefaultRegistry(t *testing.T) {
	// Run wires plugin.Default, which this test binary fills by importing plugin/builtin.
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), []string{"validate", "-q", examplesDir}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

// TestCompletion runs the generated bash completion in bash: commands, subcommands, flags, flag
// values and plugin kinds complete; zsh and fish scripts name every command.
func TestCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash: %v", err)
	}
	r := run(t, nil, "completion", "bash")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	script := filepath.Join(t.TempDir(), "aiflow-runner.bash")
	if err := os.WriteFile(script, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		words []string // the command line, the last word being completed
		want  string   // COMPREPLY, space separated
	}{
		{[]string{"ru"}, "run runs"},
		{[]string{"compile", "examples/", "--tar"}, "--target"},
		{[]string{"compile", "examples/", "--target", ""}, "kubernetes local"},
		{[]string{"runs", "sh"}, "show"},
		{[]string{"runs", "show", "r1", "--j"}, "--json"},
		{[]string{"runs", "--st"}, "--status"},
		{[]string{"usage", "--by", "co"}, "cost_center"},
		{[]string{"plugins", "feat"}, "feature_store"},
		{[]string{"validate", "-"}, "--quiet -q --json --help -h"},
		{[]string{"help", "comp"}, "compile completion"},
	} {
		words := append([]string{"aiflow-runner"}, tt.words...)
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		sh := fmt.Sprintf("source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _aiflow_runner; echo \"${COMPREPLY[*]}\"", script, strings.Join(quoted, " "), len(words)-1)
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", sh).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", tt.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("complete %q: got %q, want %q", tt.words, got, tt.want)
		}
	}
	for _, shell := range []string{"zsh", "fish"} {
		r := run(t, nil, "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, "compile") || !strings.Contains(r.stdout, "runs") || !strings.Contains(r.stdout, "feature_store") {
			t.Errorf("completion %s: exit %d\n%s", shell, r.code, r.stdout)
		}
	}
	if r := run(t, nil, "completion", "bsh"); r.code != exitUsage || !strings.Contains(r.stderr, `(did you mean "bash"?)`) {
		t.Errorf("completion bsh: exit %d %s", r.code, r.stderr)
	}
}

// TestJSONOutput: every command that prints data prints JSON lines with --json (those that need
// the metadata store are covered by the tests that start one).
func TestJSONOutput(t *testing.T) {
	dags := t.TempDir()
	for _, args := range [][]string{
		{"validate", "--json", examplesDir},
		{"plan", "--json", exampleYAML},
		{"plugins", "--json"},
		{"plugins", "--json", "files"},
		{"version", "--json"},
		{"compile", "--json", exampleYAML, "--out", dags},
		{"compile", "--json", "--check", exampleYAML, "--out", dags},
	} {
		r := run(t, nil, args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d %s", args, r.code, r.stderr)
			continue
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		for _, line := range lines {
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Errorf("%v: not a JSON object per line: %v\n%s", args, err, r.stdout)
				break
			}
		}
	}
	// Problems are JSON lines too, with their file and line; the exit code stays 78.
	r := run(t, nil, "validate", "--json", filepath.Join(badDir, "bad_cron.yaml"))
	var p struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Problem string `json:"problem"`
	}
	if r.code != exitConfig || json.Unmarshal([]byte(strings.Split(r.stdout, "\n")[0]), &p) != nil || p.Line == 0 || !strings.Contains(p.Problem, "cron") {
		t.Errorf("validate --json of a bad spec: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	var plugins []cli.PluginJSON
	for _, line := range strings.Split(strings.TrimSpace(run(t, nil, "plugins", "--json").stdout), "\n") {
		var pj cli.PluginJSON
		json.Unmarshal([]byte(line), &pj)
		plugins = append(plugins, pj)
	}
	if len(plugins) < 10 || plugins[0].Kind == "" || len(plugins[0].Params) == 0 {
		t.Errorf("plugins --json: %+v", plugins)
	}
}

// TestVersionAgreesWithSDK: the runner's release is aiflow_sdk's (pyproject and __version__).
func TestVersionAgreesWithSDK(t *testing.T) {
	var v cli.VersionJSON
	if r := run(t, nil, "version", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil {
		t.Fatalf("version --json: exit %d %q", r.code, r.stdout)
	}
	for file, re := range map[string]*regexp.Regexp{
		"../../python/pyproject.toml":         regexp.MustCompile(`(?m)^version = "([^"]+)"$`),
		"../../python/aiflow_sdk/__init__.py": regexp.MustCompile(`(?m)^__version__ = "([^"]+)"$`),
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(data)
		if m == nil || string(m[1]) != v.Version {
			t.Errorf("%s: version %q, the runner's is %q", file, m, v.Version)
		}
	}
}

// TestHead: the first rows of a file or folder, as a table and as JSON lines.
func TestHead(t *testing.T) {
	dir := t.TempDir()
	if r := run(t, nil, "demo-data", "--out", dir, "--rows", "50", "--users", "5"); r.code != 0 {
		t.Fatalf("demo-data: exit %d %s", r.code, r.stderr)
	}
	r := run(t, nil, "head", dir, "-n", "3")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 6 || !strings.Contains(lines[0], "1 parquet file(s)") ||
		!regexp.MustCompile(`^order_id\s+user_id\s+item_id\s+amount\s+status\s+dt$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^1\s+\d+\s+\d+\s+[\d.]+\s+\w+\s+2024-01-01$`).MatchString(lines[3]) {
		t.Errorf("head: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, "head", dir, "--rows", "2", "--json")
	var row struct {
		OrderID int64  `json:"order_id"`
		Status  string `json:"status"`
	}
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &row) != nil || row.OrderID != 2 || row.Status == "" {
		t.Errorf("head --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
