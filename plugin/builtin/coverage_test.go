package builtin_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/plugin"
)

// conformance is the test that runs a family's conformance suite (plugin/sinktest,
// plugin/sourcetest) for one kind on one engine.
type conformance struct {
	role         plugin.Role
	kind, engine string
	dir, test    string // the package folder (from the repository root) and the test function
	// why, when set, says why this test covers the pair without running the suite on the engine
	// itself.
	why string
}

// The flink engine reads a pinned file list or lake table through package readers (its
// hand-over stages exactly the pinned rows for Flink), the read the suite makes on the arrow
// engine.
const viaReaders = "the flink engine reads this pin through package readers, like the arrow engine"

// suites lists, for every built-in source and sink kind and every engine its spec lists, the
// test running the family's conformance suite. TestEveryPairHasAConformanceTest fails when a
// registered pair has no row (a new kind, or an engine added to one), and when a row names a pair
// no longer registered or a test that does not run the suite for its kind. docs/plugins.md
// lists the same tests.
var suites = []conformance{
	{plugin.RoleSink, "files", "arrow", "internal/files", "TestFilesSinkConformance", ""},
	{plugin.RoleSink, "files", "spark", "internal/files", "TestFilesSinkConformance", ""},
	{plugin.RoleSink, "onelake", "arrow", "internal/files", "TestOnelakeSinkConformance", ""},
	{plugin.RoleSink, "onelake", "spark", "internal/spark", "TestOnelakeSinkConformance", ""},
	{plugin.RoleSink, "kafka", "arrow", "internal/kafka", "TestKafkaSinkConformance", ""},
	{plugin.RoleSink, "feature_store", "arrow", "internal/featurestore", "TestFeatureStoreSinkConformance", ""},

	{plugin.RoleSource, "files", "arrow", "internal/files", "TestFilesSourceConformance", ""},
	{plugin.RoleSource, "files", "spark", "internal/spark", "TestSourceConformance", ""},
	{plugin.RoleSource, "files", "flink", "internal/files", "TestFilesSourceConformance", viaReaders},
	{plugin.RoleSource, "onelake", "arrow", "internal/onelake", "TestOnelakeSourceConformance", ""},
	{plugin.RoleSource, "onelake", "spark", "internal/spark", "TestSourceConformance", ""},
	{plugin.RoleSource, "onelake", "flink", "internal/onelake", "TestOnelakeSourceConformance", viaReaders},
	{plugin.RoleSource, "kafka", "arrow", "internal/kafka", "TestKafkaSourceConformance", ""},
	{plugin.RoleSource, "kafka", "spark", "internal/spark", "TestSourceConformance", ""},
	{plugin.RoleSource, "onestream", "arrow", "internal/kafka", "TestKafkaSourceConformance", ""},
	{plugin.RoleSource, "onestream", "spark", "internal/spark", "TestSourceConformance", ""},
}

// uncovered are registered pairs with no conformance test yet, and why. A pair here is not a
// pass: the test logs each, and docs/plugins.md says so too.
var uncovered = []conformance{
	{role: plugin.RoleSource, kind: "kafka", engine: "flink",
		why: "Flink reads a pinned range with its own Kafka connector, bounded to the pinned offsets; tested in internal/flink (TestPinnedTopicGoneOrRecreated), not by the suite"},
	{role: plugin.RoleSource, kind: "onestream", engine: "flink",
		why: "as kafka on flink: Flink's Kafka connector bounded to the pinned offsets"},
}

// TestEveryPairHasAConformanceTest: every (kind, engine) pair of a built-in source or sink has a
// test running its family's conformance suite, named in suites.
func TestEveryPairHasAConformanceTest(t *testing.T) {
	for _, p := range coverageProblems(registry()) {
		t.Error(p)
	}
	for _, c := range uncovered {
		t.Logf("no conformance test: %s %s on %s: %s", c.role, c.kind, c.engine, c.why)
	}
}

// TestANewSinkWithoutASuiteFails: a sink kind linked into the runner without a conformance test
// fails the coverage check, naming the kind, the engine and what to do.
func TestANewSinkWithoutASuiteFails(t *testing.T) {
	r := registry()
	plugin.RegisterSink[*csvDir](r, plugin.Kind[*csvDir]{Kind: "csv_dir", Engines: []string{"arrow"}, Summary: "CSV files",
		New: func() *csvDir { return &csvDir{} }}, nil)
	got := coverageProblems(r)
	want := "sink csv_dir on engine arrow has no conformance test: write a test that runs plugin/sinktest (Run)"
	if len(got) != 1 || !strings.Contains(got[0], want) {
		t.Errorf("coverage problems = %q, want one containing %q", got, want)
	}
}

type csvDir struct {
	Path string `json:"path" doc:"where"`
}

func (*csvDir) Validate() error { return nil }

// coverageProblems compares the registered (kind, engine) pairs of r with suites and uncovered.
func coverageProblems(r *plugin.Registry) []string {
	type pair struct {
		role         plugin.Role
		kind, engine string
	}
	var out []string
	listed := map[pair]bool{}
	for _, c := range append(slices.Clone(suites), uncovered...) {
		p := pair{c.role, c.kind, c.engine}
		if listed[p] {
			out = append(out, fmt.Sprintf("%s %s on %s is listed twice", c.role, c.kind, c.engine))
		}
		listed[p] = true
	}
	registered := map[pair]bool{}
	for _, role := range []plugin.Role{plugin.RoleSource, plugin.RoleSink} {
		suite := map[plugin.Role]string{plugin.RoleSource: "plugin/sourcetest", plugin.RoleSink: "plugin/sinktest"}[role]
		for _, kind := range r.Kinds(role) {
			s, _ := r.Lookup(role, kind)
			for _, e := range s.Engines {
				p := pair{role, kind, e}
				registered[p] = true
				if !listed[p] {
					out = append(out, fmt.Sprintf("%s %s on engine %s has no conformance test: write a test that runs %s (Run) for it "+
						"on that engine, add it to suites in plugin/builtin/coverage_test.go and to the tables of docs/plugins.md",
						role, kind, e, suite))
				}
			}
		}
	}
	for _, c := range append(slices.Clone(suites), uncovered...) {
		if !registered[pair{c.role, c.kind, c.engine}] {
			out = append(out, fmt.Sprintf("coverage_test.go lists %s %s on %s, which is not registered: remove the row", c.role, c.kind, c.engine))
		}
	}
	return out
}

// TestConformanceTestsRunTheSuite: each test named in suites exists in its package, calls its
// family's Run, and names its kind; docs/plugins.md names it.
func TestConformanceTestsRunTheSuite(t *testing.T) {
	doc, err := os.ReadFile("../../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string]*ast.FuncDecl{} // dir/test → its declaration
	for _, c := range suites {
		key := c.dir + "/" + c.test
		fn, ok := funcs[key]
		if !ok {
			if fn, err = findTest(filepath.Join("../..", c.dir), c.test); err != nil {
				t.Errorf("%s %s on %s: %v", c.role, c.kind, c.engine, err)
				continue
			}
			funcs[key] = fn
		}
		suite := map[plugin.Role]string{plugin.RoleSource: "sourcetest", plugin.RoleSink: "sinktest"}[c.role]
		calls, kinds := false, map[string]bool{}
		ast.Inspect(fn, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && id.Name == suite && x.Sel.Name == "Run" {
					calls = true
				}
			case *ast.BasicLit:
				if x.Kind == token.STRING {
					if s, err := strconv.Unquote(x.Value); err == nil {
						kinds[s] = true
					}
				}
			}
			return true
		})
		if !calls {
			t.Errorf("%s %s: %s does not call %s.Run", c.dir, c.test, c.test, suite)
		}
		if !kinds[c.kind] {
			t.Errorf("%s %s: %s never names the kind %q", c.dir, c.test, c.test, c.kind)
		}
		if !strings.Contains(string(doc), "`"+c.test+"`") {
			t.Errorf("docs/plugins.md does not name %s (%s %s on %s)", c.test, c.role, c.kind, c.engine)
		}
	}
}

// findTest parses the test files of dir and returns the function named name.
func findTest(dir, name string) (*ast.FuncDecl, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == name {
				return fn, nil
			}
		}
	}
	return nil, fmt.Errorf("no func %s in %s/*_test.go", name, dir)
}
