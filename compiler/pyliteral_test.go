package compiler

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var pyStrCases = []struct {
	name, in, want string
}{
	{"empty", "", `""`},
	{"plain", "hello", `"hello"`},
	{"double quote", `say "hi"`, `"say \"hi\""`},
	{"single quote", `it's`, `"it's"`},
	{"backslash", `C:\path\n`, `"C:\\path\\n"`},
	{"trailing backslash", `x\`, `"x\\"`},
	{"newline and tab", "a\nb\tc\r", `"a\nb\tc\r"`},
	{"triple quotes", `"""x'''`, `"\"\"\"x'''"`},
	{"jinja braces kept", "{{ ds }} {% if x %}", `"{{ ds }} {% if x %}"`},
	{"python format braces", "{0} {name}", `"{0} {name}"`},
	{"nul and controls", "a\x00b\x1fc\x7f", `"a\x00b\x1fc\x7f"`},
	{"unicode printable", "ünïcødé — 数据 🚀", `"ünïcødé — 数据 🚀"`},
	{"c1 control", "a\u0085b", `"a\x85b"`},
	{"line separator", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
	{"zero width and bom", "a\u200bb\ufeff", `"a\u200bb\ufeff"`},
	{"invalid utf8", "a\xffb", `"a\ufffdb"`},
	{"private use astral", "\U000f0000", `"\U000f0000"`},
}

func TestPyStr(t *testing.T) {
	for _, c := range pyStrCases {
		t.Run(c.name, func(t *testing.T) {
			got := PyStr(c.in)
			if got != c.want {
				t.Errorf("PyStr(%q) = %s, want %s", c.in, got, c.want)
			}
			if strings.ContainsAny(got, "\n\r") {
				t.Errorf("PyStr(%q) spans lines: %s", c.in, got)
			}
		})
	}
}

// TestPyStrRoundTrip has a real Python read every literal back.
func TestPyStrRoundTrip(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH")
	}
	var src strings.Builder
	src.WriteString("import json, sys\nvals = [\n")
	var want []string
	for _, c := range pyStrCases {
		src.WriteString("    " + PyStr(c.in) + ",\n")
		want = append(want, strings.ToValidUTF8(c.in, "\ufffd"))
	}
	src.WriteString("]\nsys.stdout.write(json.dumps(vals))\n")
	file := filepath.Join(t.TempDir(), "lit.py")
	if err := os.WriteFile(file, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, file).Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, src.String())
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: Python read %q, want %q", pyStrCases[i].name, got[i], want[i])
		}
	}
}

func TestPyValue(t *testing.T) {
	cases := []struct {
		in   any
		want string
	}{
		{nil, "None"},
		{true, "True"},
		{false, "False"},
		{json.Number("42"), "42"},
		{json.Number("4.50"), "4.5"},
		{json.Number("1e21"), "1e+21"},
		{2.0, "2.0"},
		{0.1, "0.1"},
		{int64(-7), "-7"},
		{[]string{"a", `b"`}, `["a", "b\""]`},
		{[]any{nil, true, "x", json.Number("1")}, `[None, True, "x", 1]`},
		{map[string]any{"b": 1, "a": map[string]any{"z": nil, "y": []any{}}}, `{"a": {"y": [], "z": None}, "b": 1}`},
		{map[string]string{"k2": "v", "k1": "{{ x }}"}, `{"k1": "{{ x }}", "k2": "v"}`},
	}
	for _, c := range cases {
		got, err := PyValue(c.in)
		if err != nil {
			t.Errorf("PyValue(%#v): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("PyValue(%#v) = %s, want %s", c.in, got, c.want)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(-1), struct{}{}, json.Number("1e999")} {
		if _, err := PyValue(bad); err == nil {
			t.Errorf("PyValue(%#v): want an error", bad)
		}
	}
}
