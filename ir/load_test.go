package ir_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/ir"
)

const goodYAML = `api_version: aiflow/v1
pipeline:
  id: p
  env: dev
nodes:
  - id: a
    source: files
    with: {path: in/}
  - id: s
    sink: files
    inputs: [a]
    with: {path: out/}
`

// billionLaughs is the classic YAML alias bomb: 9^9 strings once expanded.
const billionLaughs = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name, file, data string
		line             int
		msg              string // substring of the one problem
	}{
		{"empty", "e.yaml", "", 1, "file is empty"},
		{"blank", "e.yaml", " \n\t\n", 1, "file is empty"},
		{"comment only", "c.yaml", "# nothing\n", 1, "file holds no document"},
		{"non-UTF-8", "u.yaml", "api_version: aiflow/v1\nid: \xff\n", 2, "file is not valid UTF-8 (byte 0xff at offset 27)"},
		{"malformed YAML", "m.yaml", "api_version: aiflow/v1\npipeline: [\n", 2, "invalid YAML"},
		{"malformed YAML on line 1", "m.yaml", "\tfoo: 1", 1, "invalid YAML: found character that cannot start any token"},
		{"YAML control character", "m.yaml", "a: \"\x01\"", 1, "invalid YAML: control characters are not allowed"},
		{"YAML unknown anchor", "m.yaml", "a: &x 1\nb: *y\n", 2, "unknown anchor 'y'"},
		{"duplicate YAML key", "d.yaml", "api_version: aiflow/v1\npipeline:\n  id: a\n  id: b\n", 4, `duplicate key "id" (first at line 3)`},
		{"YAML merge key", "m.yaml", "x: &x {a: 1}\ny:\n  <<: *x\n", 3, "merge keys"},
		{"YAML non-string key", "k.yaml", "? [a]\n: 1\n", 1, "mapping keys must be plain strings"},
		{"YAML binary tag", "b.yaml", "a: !!binary aGVsbG8=\n", 1, "unsupported YAML tag !!binary"},
		{"YAML infinity", "i.yaml", "a: 1\nb: .inf\n", 2, "not representable in JSON"},
		{"alias bomb", "bomb.yaml", billionLaughs, 0, "YAML alias bomb"},
		{"deep nesting", "deep.yaml", "a: " + strings.Repeat("[", 150) + strings.Repeat("]", 150), 1, "nesting deeper than 100 levels"},
		{"top-level list", "l.yaml", "- a\n- b\n", 1, "top level must be a mapping, not a list"},
		{"malformed JSON", "m.json", "{\"api_version\": \"aiflow/v1\",\n \"id\": 1,\n}", 3, "invalid JSON: invalid character '}'"},
		{"truncated JSON", "t.json", "{\"a\":\n[1,\n2", 3, "invalid JSON: unexpected end of file"},
		{"duplicate JSON key", "d.json", "{\"id\": \"a\",\n\"id\": \"b\"}", 2, `duplicate key "id" (first at line 1)`},
		{"JSON number out of range", "n.json", "{\"a\":\n1e999}", 2, "number 1e999 out of range"},
		{"JSON deep nesting", "deep.json", strings.Repeat("[", 150) + strings.Repeat("]", 150), 1, "nesting deeper than 100 levels"},
		{"JSON top-level string", "s.json", `"x"`, 1, "top level must be a mapping, not a string"},
		{"unknown top-level field", "u.yaml", strings.Replace(goodYAML, "nodes:", "nodez: 1\nnodes:", 1), 5, `unknown field "nodez" in the spec (did you mean "nodes"?)`},
		{"unknown pipeline field", "u.yaml", strings.Replace(goodYAML, "  env: dev", "  env: dev\n  scedule: x", 1), 5, `unknown field "scedule" in pipeline (did you mean "schedule"?)`},
		{"unknown node field", "u.yaml", strings.Replace(goodYAML, "    inputs: [a]", "    input: [a]", 1), 11, `p/s: unknown field "input" in node (did you mean "inputs"?)`},
		{"wrong type: inputs", "w.yaml", strings.Replace(goodYAML, "inputs: [a]", "inputs: a", 1), 11, "p/s: inputs must be a list of strings, not a string"},
		{"wrong type: with", "w.yaml", strings.Replace(goodYAML, "with: {path: out/}", "with: out/", 1), 12, "p/s: with must be a mapping, not a string"},
		{"wrong type: sla", "w.yaml", strings.Replace(goodYAML, "  env: dev", "  env: dev\n  sla_minutes: soon", 1), 5, `sla_minutes must be an integer, not the string "soon"`},
		{"two roles", "r.yaml", strings.Replace(goodYAML, "    sink: files", "    sink: files\n    source: files", 1), 9, "p/s: a node must have exactly one of source, transform or sink (has 2)"},
		{"node without id", "r.yaml", strings.Replace(goodYAML, "  - id: s\n", "  - \n", 1), 10, "node is missing its id"},
		{"kind inside with", "k.yaml", strings.Replace(goodYAML, "{path: out/}", "{path: out/, kind: kafka}", 1), 12, "kind is set by sink:, not inside with"},
		{"api_version missing", "a.yaml", strings.Replace(goodYAML, "api_version: aiflow/v1\n", "", 1), 1, "api_version is required"},
		{"api_version wrong", "a.yaml", strings.Replace(goodYAML, "aiflow/v1", "aiflow/v0", 1), 1, `api_version "aiflow/v0" is not supported`},
		{"IR: unknown node field", "n.json", "{\"api_version\":\"aiflow/v1\",\"id\":\"p\",\"nodes\":{\"a\":{\n\"typ\":\"source\"}}}", 2, `p/a: unknown field "typ" in node (did you mean "type"?)`},
		{"IR: nodes a list", "n.json", "{\"api_version\":\"aiflow/v1\",\"id\":\"p\",\n\"nodes\":[]}", 2, "nodes must be a mapping of node id to node"},
		{"IR: bad edge", "n.json", "{\"api_version\":\"aiflow/v1\",\"id\":\"p\",\"nodes\":{},\n\"edges\":[[\"a\"]]}", 2, "an edge must be a [from, to] pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs, ps := ir.Parse(tt.file, []byte(tt.data), false)
			if len(ps) != 1 {
				t.Fatalf("want one problem, got %d specs and %d problems:\n%v", len(specs), len(ps), ps)
			}
			p := ps[0]
			if p.File != tt.file || !strings.Contains(p.Msg+p.String(), tt.msg) {
				t.Errorf("got %q, want file %s and message containing %q", p.String(), tt.file, tt.msg)
			}
			if tt.line > 0 && p.Line != tt.line {
				t.Errorf("got line %d, want %d (%s)", p.Line, tt.line, p)
			}
			if p.Line < 1 {
				t.Errorf("problem has no line: %s", p)
			}
		})
	}
}

func TestParseGoodDocuments(t *testing.T) {
	for name, data := range map[string]string{
		"p.yaml":   goodYAML,
		"p.yml":    goodYAML,
		"two.yaml": goodYAML + "---\n" + strings.Replace(goodYAML, "id: p", "id: q", 1),
		"p.json": `{"api_version":"aiflow/v1","id":"p","extra":{"env":"dev"},"nodes":{
			"a":{"id":"a","type":"source","params":{"kind":"files","path":"in/"}},
			"s":{"type":"sink","params":{"kind":"files","path":"out/"},"input_ids":["a"]}}}`,
	} {
		specs, ps := ir.Parse(name, []byte(data), false)
		if len(ps) > 0 || len(specs) == 0 {
			t.Errorf("%s: %d specs, problems: %v", name, len(specs), ps)
			continue
		}
		for _, s := range specs {
			if cps := s.Check(ir.CheckOptions{}); len(cps) > 0 {
				t.Errorf("%s: check: %v", name, cps)
			}
		}
	}
}

func TestSpecLines(t *testing.T) {
	specs, ps := ir.Parse("p.yaml", []byte(goodYAML), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	s := specs[0]
	if s.Line != 3 || s.NodeLine("a") != 6 || s.NodeLine("s") != 9 || s.ParamLine("s", "path") != 12 || s.ParamLine("s", "nope") != 9 || s.NodeLine("zz") != 3 {
		t.Errorf("lines: pipeline %d, a %d, s %d, s.path %d, s.nope %d, zz %d", s.Line, s.NodeLine("a"), s.NodeLine("s"), s.ParamLine("s", "path"), s.ParamLine("s", "nope"), s.NodeLine("zz"))
	}
	got := s.Locate(ir.Problem{Node: "s", Msg: "m"}, "path").String()
	if got != "p.yaml:12: p/s: m" {
		t.Errorf("Locate = %q", got)
	}
}

// TestParamPathLines: a path into a node's params (a step of a list, a key below it) has the
// line of its deepest recorded part, in block and flow YAML and in IR JSON.
func TestParamPathLines(t *testing.T) {
	yaml := `api_version: aiflow/v1
pipeline: {id: p, owner: me, env: dev}
nodes:
  - id: t
    transform: arrow
    with:
      steps:
        - filter: "a > 1"
        - group_by:
            keys: [k]
            aggs: {n: "count(*)"}
      flow: [{x: 1}, {y: 2}]
`
	specs, ps := ir.Parse("p.yaml", []byte(yaml), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	s := specs[0]
	for path, want := range map[string]int{
		"steps": 7, "steps[0]": 8, "steps[1]": 9, "steps[1].group_by": 9, "steps[1].group_by.aggs": 11,
		"steps[1].group_by.aggs.n": 11, "steps[1].group_by.nope": 9, "steps[7]": 7, "flow[1]": 12, "nope[1]": 4, "": 7,
	} {
		if got := s.ParamLine("t", path); got != want {
			t.Errorf("ParamLine(t, %q) = %d, want %d", path, got, want)
		}
	}
	js := "{\"api_version\":\"aiflow/v1\",\"id\":\"p\",\"extra\":{\"env\":\"dev\"},\"nodes\":{\n" +
		"\"t\":{\"type\":\"transform\",\"engine\":\"arrow\",\"params\":{\"steps\":[\n" +
		"{\"filter\":\"a > 1\"},\n" +
		"{\"limit\":3}]}}}}"
	specs, ps = ir.Parse("p.json", []byte(js), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if got := specs[0].ParamLine("t", "steps[1]"); got != 4 {
		t.Errorf("IR JSON: ParamLine(t, steps[1]) = %d, want 4", got)
	}
}

func TestIRNodeIDDiffersFromKey(t *testing.T) {
	js := "{\"api_version\":\"aiflow/v1\",\"id\":\"p\",\"extra\":{\"env\":\"dev\"},\"nodes\":{\n" +
		"\"a\":{\"id\":\"a\",\"type\":\"source\",\"params\":{\"kind\":\"files\"}},\n" +
		"\"s\":{\"id\":\"sink\",\"type\":\"sink\",\"params\":{\"kind\":\"files\"},\"input_ids\":[\"a\"]}}}"
	specs, ps := ir.Parse("k.json", []byte(js), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	got := messages(specs[0].Check(ir.CheckOptions{}))
	if len(got) != 1 || got[0] != `k.json:3: p/s: node id "sink" differs from its key "s"` {
		t.Fatalf("got %q", got)
	}
}

func TestLoadPathsFolder(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", strings.Replace(goodYAML, "id: p", "id: pa", 1))
	write("sub/b.yml", strings.Replace(goodYAML, "id: p", "id: pb", 1))
	write("sub/deeper/c.json", `{"api_version":"aiflow/v1","id":"pc","extra":{"env":"dev"},"nodes":{"a":{"type":"source","params":{"kind":"files"}}}}`)
	write("D.YAML", strings.Replace(goodYAML, "id: p", "id: pd", 1))
	write(".hidden/x.yaml", "this is: [not valid")
	write("node_modules/x.yaml", "this is: [not valid")
	write("notes.txt", "not a spec")
	write("docker-compose.yaml", "services: {db: {image: postgres}}\n") // foreign: skipped in folders
	write("package.json", `{"name": "x"}`)

	specs, ps := ir.LoadPaths([]string{dir})
	if len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	var ids []string
	for _, s := range specs {
		ids = append(ids, s.Pipeline.ID)
	}
	if got := strings.Join(ids, ","); got != "pd,pa,pb,pc" {
		t.Errorf("loaded %s, want pd,pa,pb,pc (sorted by path)", got)
	}

	// A foreign file named explicitly is an error; so is a missing path.
	_, ps = ir.LoadPaths([]string{filepath.Join(dir, "docker-compose.yaml"), filepath.Join(dir, "missing.yaml")})
	if msg := ps.Error(); !strings.Contains(msg, "docker-compose.yaml:1: unknown field \"services\"") || !strings.Contains(msg, "missing.yaml: stat: no such file") {
		t.Fatalf("got %v", ps)
	}
}

func TestLoadFileTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	data := bytes.Repeat([]byte("# padding padding padding padding\n"), ir.MaxSpecSize/34+10)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, ps := ir.LoadFile(p, false)
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, "larger than the 4 MiB limit") || ps[0].Line != 1 {
		t.Fatalf("got %v", ps)
	}
}

func TestProblemsFormat(t *testing.T) {
	ps := ir.Problems{
		{File: "b.yaml", Line: 2, Msg: "z"},
		{File: "a.yaml", Line: 10, Pipeline: "p", Node: "n", Msg: "m"},
		{File: "a.yaml", Line: 9, Pipeline: "p", Msg: "m"},
		{Msg: "bare"},
	}
	ps.Sort()
	want := "bare\na.yaml:9: p: m\na.yaml:10: p/n: m\nb.yaml:2: z"
	if ps.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", ps.Error(), want)
	}
	if (ir.Problems{}).Err() != nil {
		t.Error("empty Problems.Err() != nil")
	}
}

// TestPluginModules: plugin_modules under pipeline is extra.plugin_modules in the IR (what the
// DSL's @pipeline(plugin_modules=[...]) writes): the same pipeline, the same hash.
func TestPluginModules(t *testing.T) {
	head := "api_version: aiflow/v1\npipeline: {id: p, owner: me, env: dev, "
	nodes := "}\nnodes:\n  - {id: a, source: files, with: {path: /tmp/a}}\n"
	hash := func(doc string) string {
		t.Helper()
		specs, ps := ir.Parse("p.yaml", []byte(doc), false)
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		h, err := specs[0].Pipeline.Hash()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if a, b := hash(head+"plugin_modules: [team_plugins]"+nodes), hash(head+"extra: {plugin_modules: [team_plugins]}"+nodes); a != b {
		t.Errorf("plugin_modules and extra.plugin_modules differ: %s vs %s", a, b)
	}
	for _, bad := range []string{"plugin_modules: team_plugins", "plugin_modules: [1]", "plugin_modules: [a], extra: {plugin_modules: [a]}"} {
		if _, ps := ir.Parse("p.yaml", []byte(head+bad+nodes), false); len(ps) == 0 || !strings.Contains(ps.Error(), "plugin_modules") {
			t.Errorf("%s: %v", bad, ps)
		}
	}
}
