package config_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/config"
)

// envRead is a place outside internal/config where the process environment is read.
type envRead struct {
	File string // slash path from the module root
	Func string // enclosing function: "Name", "Type.Method", or "(package level)"
	Call string // "os.Getenv", ...
	Line int
}

// envAllowed lists the reads of the process environment that are not configuration, by file
// and function, each with why it may not go through internal/config. A new read anywhere else
// fails TestNoStrayEnvironmentReads: the runner's settings come from config.Config, built once
// from the lookup its entry point passes in (a test's map, a custom runner's own), so a package
// reading os.Getenv behind that lookup would see a different configuration than the runner.
var envAllowed = []struct{ File, Func, Why string }{
	// Entry points: the only places the process environment becomes the runner's lookup.
	{"runner/runner.go", "Main", "the runner binary's entry point hands os.LookupEnv to the CLI as its lookup"},
	{"runner/runner.go", "Run", "public entry point documented to read the process environment"},
	{"internal/cli/cli.go", "Run", "the CLI's process entry point hands os.LookupEnv over as its lookup"},
	{"runner/memlimit.go", "setMemoryLimit", "GOMEMLIMIT is the Go runtime's own variable: the runtime reads it, this only avoids overriding it"},
	// Secrets: user data named by the pipeline, filled by the pod's Secret env refs.
	{"plugin/types.go", "Secret.Resolve", "${ENV} and AIFLOW_SECRET_<NAME>_<KEY> secrets: variable names chosen by the pipeline, values never configuration"},
	// Child processes inherit the pod's environment (PATH, HOME, locale, their libraries' own
	// settings); the runner's settings reach them explicitly (request files, PYTHONPATH).
	{"internal/pyengine/call.go", "Call", "environment passed through to the Python child process"},
	{"internal/pyengine/pyengine.go", "Engine.Transform", "environment passed through to the Python child process"},
	{"internal/pyengine/pyengine.go", "ChildPythonPath", "the pod's PYTHONPATH passed through, after the embedded SDK, to Python children"},
	{"internal/pyplugin/run.go", "start", "environment passed through to the plugin's Python child process"},
	{"internal/pyplugin/pyplugin.go", "Describe", "environment passed through to the plugin describer's Python child process"},
	// Test helpers: service addresses of make test, not runner configuration.
	{"internal/testenv/testenv.go", "CI", "test helper: CI=true turns a missing test service into a failure"},
	{"internal/testenv/testenv.go", "Require", "test helper: the addresses of the services make test started"},
	{"internal/observability/oltest/oltest.go", "Dir", "test helper: another OpenLineage schema folder to test against"},
	{"internal/dataset/testhooks.go", "init", "test hook compiled only with -tags aiflow_testhooks: kill tests name their marker file"},
	// Tools, not the runner: flag defaults and entry points of benchmarks and sample-data tools.
	{"bench/transform/main.go", "main", "benchmark tool's entry point hands os.LookupEnv to the CLI as its lookup"},
	{"bench/kafka/main.go", "main", "benchmark tool: the test services' addresses"},
	{"bench/dataset/copy/main.go", "main", "benchmark tool: where to write a heap profile, and its own configuration (config.Load)"},
	{"bench/scale/mdsim/main.go", "main", "simulation tool: flag default from the test database's DSN"},
	{"bench/scale/pushsim/main.go", "main", "simulation tool: flag default from the test Pushgateway's URL"},
	{"examples/user_features/sampledata/main.go", "main", "sample-data tool: flag default from the Spark Connect address"},
	{"examples/user_features/sampledata/main.go", "run", "sample-data tool: its own configuration (the lake root), from its process environment"},
}

// docVars are the variables of Config (config.Doc).
var docVars = func() map[string]bool {
	m := map[string]bool{}
	for _, kv := range config.Doc {
		m[kv[0]] = true
	}
	return m
}()

// envFuncs are the functions that read the process environment, by import path.
var envFuncs = map[string][]string{
	"os":                    {"Getenv", "LookupEnv", "Environ", "ExpandEnv"},
	"syscall":               {"Getenv", "Environ"},
	"golang.org/x/sys/unix": {"Getenv", "Environ"},
	// config.Load reads the process environment: a package that calls it instead of using the
	// runner's Config ignores the lookup the runner was given.
	"github.com/aiflow-dev/aiflow/internal/config": {"Load"},
}

// scanEnvReads returns every use (call or function value) of an envFuncs function in one file.
// A dot import of such a package is reported as a read: its uses could not be told apart.
func scanEnvReads(fset *token.FileSet, name string, src any) ([]envRead, error) {
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	local := map[string]string{} // local package name → import path
	var out []envRead
	for _, im := range f.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		if _, ok := envFuncs[path]; !ok {
			continue
		}
		n := filepath.Base(path)
		if im.Name != nil {
			n = im.Name.Name
		}
		if n == "." {
			out = append(out, envRead{File: name, Func: "(package level)", Call: "import . " + path, Line: fset.Position(im.Pos()).Line})
			continue
		}
		local[n] = path
	}
	for _, d := range f.Decls {
		fn := "(package level)"
		if fd, ok := d.(*ast.FuncDecl); ok {
			fn = fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) > 0 {
				t := fd.Recv.List[0].Type
				if s, ok := t.(*ast.StarExpr); ok {
					t = s.X
				}
				if ix, ok := t.(*ast.IndexExpr); ok {
					t = ix.X
				}
				if id, ok := t.(*ast.Ident); ok {
					fn = id.Name + "." + fn
				}
			}
		}
		ast.Inspect(d, func(n ast.Node) bool {
			// A setting of Config looked up by its name through a lookup function (the CLI's
			// e.Lookup) bypasses Config's parsing and defaults: read the Config field instead.
			if call, ok := n.(*ast.CallExpr); ok && len(call.Args) == 1 {
				if fsel, ok := call.Fun.(*ast.SelectorExpr); ok && fsel.Sel.Name == "Lookup" {
					if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if v, err := strconv.Unquote(lit.Value); err == nil && docVars[v] {
							out = append(out, envRead{File: name, Func: fn, Call: "Lookup(" + lit.Value + ")", Line: fset.Position(call.Pos()).Line})
						}
					}
				}
			}
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			if path, ok := local[pkg.Name]; ok && slices.Contains(envFuncs[path], sel.Sel.Name) {
				out = append(out, envRead{File: name, Func: fn, Call: pkg.Name + "." + sel.Sel.Name, Line: fset.Position(sel.Pos()).Line})
			}
			return true
		})
	}
	return out, nil
}

// commented reports whether a comment ends on the line of pos or in the three lines above it
// (the "why" an allowed read must carry where it is).
func commented(fset *token.FileSet, f *ast.File, line int) bool {
	for _, cg := range f.Comments {
		if end := fset.Position(cg.End()).Line; end <= line && end >= line-3 {
			return true
		}
	}
	return false
}

// envProblems scans every non-test Go file under root (examples and bench included) for reads
// of the process environment outside internal/config: each must be in envAllowed and carry a
// comment, and every envAllowed entry must still match a read. It returns the problems found
// and how many files it scanned.
func envProblems(t *testing.T, root string) (problems []string, files int) {
	t.Helper()
	fset := token.NewFileSet()
	used := map[int]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		if d.IsDir() {
			// Hidden folders hold the installed tools and virtualenvs (.tools, .venv*); testdata,
			// node_modules and vendor hold others' code.
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules" || d.Name() == "vendor" || rel == "internal/config") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		files++
		reads, err := scanEnvReads(fset, p, nil)
		if err != nil {
			return err
		}
		var f *ast.File
		for _, r := range reads {
			i := slices.IndexFunc(envAllowed, func(a struct{ File, Func, Why string }) bool { return a.File == rel && a.Func == r.Func })
			if i < 0 {
				problems = append(problems, fmt.Sprintf("%s:%d: %s in %s reads the process environment: read the setting through internal/config (a Config field, listed in config.Doc), or add the site to envAllowed with the reason it is not configuration", rel, r.Line, r.Call, r.Func))
				continue
			}
			used[i] = true
			if f == nil {
				if f, err = parser.ParseFile(fset, p, nil, parser.ParseComments|parser.SkipObjectResolution); err != nil {
					return err
				}
			}
			if !commented(fset, f, r.Line) {
				problems = append(problems, fmt.Sprintf("%s:%d: %s in %s is allowed (%s) but has no comment above it saying why", rel, r.Line, r.Call, r.Func, envAllowed[i].Why))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range envAllowed {
		if !used[i] {
			problems = append(problems, fmt.Sprintf("envAllowed lists %s %s, which no longer reads the environment: remove the entry", a.File, a.Func))
		}
	}
	return problems, files
}

// TestNoStrayEnvironmentReads: outside internal/config, the repository reads the process
// environment only where envAllowed says why.
func TestNoStrayEnvironmentReads(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	problems, files := envProblems(t, root)
	if files < 100 {
		t.Fatalf("scanned only %d Go files under %s: the walk missed the repository", files, root)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestEnvProblemsMutation: a stray read added to a copy of the tree fails the scan; so do an
// allowed read without its comment and a read moved into another function of an allowed file.
// Test files, internal/config and hidden folders are not scanned.
func TestEnvProblemsMutation(t *testing.T) {
	root := t.TempDir()
	for name, src := range map[string]string{
		"runner/runner.go":             "package runner\nimport \"os\"\n// Main: the entry point hands the process environment over.\nfunc Main() { _ = os.LookupEnv }\nfunc helper() string { return os.Getenv(\"AIFLOW_X\") }\n",
		"internal/stray/stray.go":      "package stray\nimport \"os\"\n// why: none\nfunc Read() string { return os.Getenv(\"AIFLOW_HOME\") }\n",
		"plugin/types.go":              "package plugin\nimport \"os\"\ntype Secret struct{}\n\n\n\n\nfunc (Secret) Resolve() { os.LookupEnv(\"X\") }\n",
		"internal/config/config.go":    "package config\nimport \"os\"\nfunc Load() string { return os.Getenv(\"AIFLOW_HOME\") }\n",
		"internal/stray/stray_test.go": "package stray\nimport \"os\"\nfunc x() string { return os.Getenv(\"CI\") }\n",
		".venv/lib/x.go":               "package x\nimport \"os\"\nfunc x() string { return os.Getenv(\"CI\") }\n",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	problems, files := envProblems(t, root)
	if files != 3 {
		t.Errorf("scanned %d files, want 3 (runner, stray, plugin)", files)
	}
	var gotAt []string
	for _, p := range problems {
		if parts := strings.SplitN(p, ":", 3); len(parts) == 3 && !strings.HasPrefix(p, "envAllowed lists") {
			gotAt = append(gotAt, parts[0]+":"+parts[1])
		}
	}
	want := []string{"internal/stray/stray.go:4", "plugin/types.go:8", "runner/runner.go:5"}
	slices.Sort(gotAt)
	if !slices.Equal(gotAt, want) {
		t.Errorf("problems at %q, want %q:\n%s", gotAt, want, strings.Join(problems, "\n"))
	}
	for _, p := range problems {
		if strings.HasPrefix(p, "plugin/types.go") && !strings.Contains(p, "no comment") {
			t.Errorf("uncommented allowed read: %s", p)
		}
		if strings.HasPrefix(p, "envAllowed lists runner/runner.go Main") {
			t.Errorf("the allowed read in Main was not matched: %s", p)
		}
	}
}

// TestScanEnvReads: the scan finds the forms a stray read takes (aliased imports, function
// values, syscall, a dot import) and names the enclosing function the allowlist matches on.
func TestScanEnvReads(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      []string // "Func Call"
	}{
		{"call", "package p\nimport \"os\"\nfunc f() string { return os.Getenv(\"X\") }", []string{"f os.Getenv"}},
		{"lookup value", "package p\nimport \"os\"\nvar l = os.LookupEnv", []string{"(package level) os.LookupEnv"}},
		{"aliased", "package p\nimport o \"os\"\ntype T struct{}\nfunc (*T) m() []string { return o.Environ() }", []string{"T.m o.Environ"}},
		{"closure", "package p\nimport \"os\"\nfunc init() { _ = func() string { return os.ExpandEnv(\"$X\") } }", []string{"init os.ExpandEnv"}},
		{"syscall", "package p\nimport \"syscall\"\nfunc g() { syscall.Getenv(\"X\") }", []string{"g syscall.Getenv"}},
		{"dot import", "package p\nimport . \"os\"\nfunc h() { Getenv(\"X\") }", []string{"(package level) import . os"}},
		{"config variable by name", "package p\nfunc k(e *E) { e.Lookup(\"AIFLOW_TEAM\"); e.Lookup(\"USER_VAR\"); m.Lookup(\"x\", 1) }", []string{`k Lookup("AIFLOW_TEAM")`}},
		{"config.Load", "package p\nimport \"github.com/aiflow-dev/aiflow/internal/config\"\nfunc l() { config.Load(nil); config.LoadFrom(nil, nil) }", []string{"l config.Load"}},
		{"other os use", "package p\nimport \"os\"\nfunc k() { os.Exit(1); os.Setenv(\"A\", \"b\") }", nil},
		{"other package named Getenv", "package p\nimport \"example.com/os2\"\nfunc k() { os2.Getenv() }", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reads, err := scanEnvReads(token.NewFileSet(), "x.go", tt.src)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range reads {
				got = append(got, r.Func+" "+r.Call)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
