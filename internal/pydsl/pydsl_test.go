package pydsl_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/pydsl"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

var update = flag.Bool("update", false, "rewrite python/aiflow_sdk/builtin_plugins.py")

var module = filepath.Join("..", "..", "python", "aiflow_sdk", "builtin_plugins.py")

// TestPythonBuildersGenerated: the checked-in DSL builders are what the built-in plugin specs
// generate; a field added, renamed or re-documented in Go without regenerating fails here.
func TestPythonBuildersGenerated(t *testing.T) {
	got, err := pydsl.Generate(builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(module, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is stale: regenerate it with go test ./internal/pydsl/ -run TestPythonBuildersGenerated -update", module)
	}
}

// The config of a made-up plugin whose fields exercise every shape the generator handles.
type oddConfig struct {
	Name    string            `json:"name" doc:"a name with a \"quote\", a backslash \\ and \"\"\" three quotes"`
	Count   int               `json:"count" doc:"how many"`
	Ratio   float64           `json:"ratio" doc:"a fraction"`
	On      bool              `json:"on" doc:"a switch"`
	Tags    []string          `json:"tags" doc:"labels"`
	Opts    map[string]any    `json:"opts" doc:"anything"`
	From    string            `json:"from" doc:"a Python keyword"`
	Dashed  string            `json:"dash-ed" doc:"not a Python name"`
	Table   string            `json:"table" required:"true" doc:"required after defaulted fields"`
	Secret  plugin.Secret     `json:"dsn" doc:"a secret"`
	Timeout plugin.Duration   `json:"timeout" doc:"a duration"`
	Labels  map[string]string `json:"labels" doc:"string map"`
}

func (*oddConfig) Kind() string    { return "odd" }
func (*oddConfig) Validate() error { return nil }

// TestGenerateShapes: defaults become sentinel-wrapped literals, a required field after
// defaulted ones is keyword-only, names Python cannot take are left to **kwargs and documented,
// and docstrings escape what would end them early.
func TestGenerateShapes(t *testing.T) {
	r := plugin.NewRegistry()
	r.Register(plugin.Spec{Kind: "odd", Role: plugin.RoleSource, Summary: "an odd source", New: func() plugin.Config {
		return &oddConfig{Name: "x\"y", Count: 3, Ratio: 0.5, On: true, Tags: []string{"a"}}
	}})
	src, err := pydsl.Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for _, want := range []string{
		`name: str = _DefaultStr("x\"y"),`,
		`count: int = _DefaultInt(3),`,
		`ratio: float = _DefaultFloat(0.5),`,
		`on: Optional[bool] = None,`,
		`tags: Optional[List[str]] = None,`,
		`opts: Optional[Dict[str, Any]] = None,`,
		"    *,\n    table: str,\n",
		`dsn: Optional[Union[str, Dict[str, str]]] = None,`,
		`timeout: Optional[str] = None,`,
		`labels: Optional[Dict[str, str]] = None,`,
		"Also takes from, dash-ed (not Python names: pass them as **{...}).",
		`a backslash \\ and ""\" three quotes`,
		"on: a switch (default true).",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("generated source lacks %q:\n%s", want, s)
		}
	}
	for _, bad := range []string{"from: ", "dash-ed:", "from=from"} {
		if strings.Contains(s, bad) {
			t.Errorf("generated source has %q:\n%s", bad, s)
		}
	}
}

// TestGeneratedPythonRuns: the odd plugin's module imports and its builder puts into the params
// what the author wrote, leaving the shown defaults out.
func TestGeneratedPythonRuns(t *testing.T) {
	python := testenv.Require(t, testenv.Python)
	r := plugin.NewRegistry()
	r.Register(plugin.Spec{Kind: "odd", Role: plugin.RoleSource, Summary: "an odd source", New: func() plugin.Config {
		return &oddConfig{Name: "x\"y", Count: 3, Ratio: 0.5, On: true}
	}})
	src, err := pydsl.Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mod := strings.Replace(string(src), "from .plugins import", "from aiflow_sdk.plugins import", 1)
	if err := os.WriteFile(filepath.Join(dir, "odd_builders.py"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import inspect, json, odd_builders
b = odd_builders.odd_source
sig = inspect.signature(b)
assert sig.parameters["name"].default == 'x"y', sig
assert sig.parameters["table"].kind is inspect.Parameter.KEYWORD_ONLY, sig
assert 'a backslash \\ and """ three quotes' in b.__doc__, b.__doc__
print(json.dumps([b("n", table="t"), b("n", table="t", count=3, **{"from": "f"})], sort_keys=True))
`
	cmd := exec.Command(python, "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONPATH="+dir+string(os.PathListSeparator)+filepath.Join("..", "..", "python"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := `[{"id": "n", "kind": "odd", "table": "t"}, {"count": 3, "from": "f", "id": "n", "kind": "odd", "table": "t"}]`
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("builder output\n got %s\nwant %s", got, want)
	}
}

// TestGenerateKindsBesideBuiltins: a team runner's module of builders for its own kind imports
// beside aiflow_sdk's built-in builders (no kind registered twice) and makes the kind a DSL
// builder (sink.odd); a kind the registry lacks is refused.
func TestGenerateKindsBesideBuiltins(t *testing.T) {
	python := testenv.Require(t, testenv.Python)
	r := builtin.Registry()
	r.Register(plugin.Spec{Kind: "odd", Role: plugin.RoleSink, Summary: "an odd sink", New: func() plugin.Config {
		return &oddConfig{Count: 3}
	}})
	if _, err := pydsl.GenerateKinds(r, []string{"odd", "even"}); err == nil || !strings.Contains(err.Error(), `"even"`) {
		t.Errorf("unknown kind: %v", err)
	}
	src, err := pydsl.GenerateKinds(r, []string{"odd"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(src), "def files_") || strings.Contains(string(src), "# ---- sources") {
		t.Errorf("the module holds more than the odd sink:\n%s", src)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "team_builders.py"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import json, team_builders
from aiflow_sdk.dsl import sink, source
print(json.dumps([sink.odd("o", table="t", count=4), source.files("f", path="/x")], sort_keys=True))
`
	cmd := exec.Command(python, "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONPATH="+dir+string(os.PathListSeparator)+filepath.Join("..", "..", "python"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := `[{"count": 4, "id": "o", "kind": "odd", "table": "t"}, {"id": "f", "kind": "files", "path": "/x"}]`
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("builders\n got %s\nwant %s", got, want)
	}
}
