package ir_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/aiflow-dev/aiflow/ir"
)

func generic(t *testing.T, js string) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(js)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return v
}

func TestCanonicalJSONVectors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"keys sorted, no whitespace", `{ "b": 1, "a": [ true, false, null ], "A": {} }`, `{"A":{},"a":[true,false,null],"b":1}`},
		{"nested keys sorted", `{"z":{"y":1,"x":2}}`, `{"z":{"x":2,"y":1}}`},
		{"integral float is an integer", `4.0`, `4`},
		{"integral exponent is an integer", `4e0`, `4`},
		{"negative zero", `-0.0`, `0`},
		{"large integral float", `1e15`, `1000000000000000`},
		{"0.1 shortest", `0.1`, `0.1`},
		{"0.1 long spelling", `0.1000000000000000055511151231257827`, `0.1`},
		{"1e21 exponent form", `1e21`, `1e+21`},
		{"1e16 exponent form like Python repr", `1e16`, `1e+16`},
		{"small exponent", `0.00001`, `1e-05`},
		{"small plain", `0.0001`, `0.0001`},
		{"big exponent", `1.5e300`, `1.5e+300`},
		{"negative fraction", `-2.5`, `-2.5`},
		{"int64", `9007199254740993`, `9007199254740993`},
		{"unicode raw", `"é✓ 日本"`, `"é✓ 日本"`},
		{"escaped unicode becomes raw", `"\u00e9"`, `"é"`},
		{"U+2028 and U+2029 escaped", `"a\u2028b\u2029c"`, `"a\u2028b\u2029c"`},
		{"HTML characters not escaped", `"<a href='x'>&</a>"`, `"<a href='x'>&</a>"`},
		{"short escapes", `"q\" b\\ n\n r\r t\t b\b f\f"`, `"q\" b\\ n\n r\r t\t b\b f\f"`},
		{"control characters", `"\u0001\u001f"`, `"\u0001\u001f"`},
		{"DEL stays raw", "\"\u007f\"", "\"\u007f\""},
		{"slash not escaped", `"a\/b"`, `"a/b"`},
		{"emoji", `"\ud83d\ude00"`, `"😀"`},
		{"empty containers", `{"a":[],"b":{}}`, `{"a":[],"b":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ir.CanonicalJSON(generic(t, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("CanonicalJSON(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalJSONGoValues(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"float64 integral", 4.0, `4`},
		{"float64 fraction", 0.1, `0.1`},
		{"int", 7, `7`},
		{"int64", int64(-3), `-3`},
		{"string slice", []string{"b", "<a>"}, `["b","<a>"]`},
		{"typed map via encoding/json", map[string]int{"b": 2, "a": 1}, `{"a":1,"b":2}`},
		{"struct via encoding/json", struct {
			Z string `json:"z"`
			A bool   `json:"a"`
		}{"&", true}, `{"a":true,"z":"&"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ir.CanonicalJSON(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), json.Number("1e999")} {
		if _, err := ir.CanonicalJSON(bad); err == nil {
			t.Errorf("CanonicalJSON(%v): want an error", bad)
		}
	}
}

func loadOne(t *testing.T, path string) *ir.Spec {
	t.Helper()
	specs, ps := ir.LoadFile(path, false)
	if len(ps) > 0 {
		t.Fatalf("load %s: %v", path, ps)
	}
	if len(specs) != 1 {
		t.Fatalf("load %s: %d specs, want 1", path, len(specs))
	}
	return specs[0]
}

var examples = filepath.Join("..", "examples", "user_features")

// The hash of the seed's example pipeline is part of the contract: compiled DAGs pin it. A change
// here means every generated DAG changes; update it only together with the canonical rules.
const userFeaturesHash = "32f05eab9a06"

func TestYAMLAndIRJSONGiveIdenticalCanonicalIR(t *testing.T) {
	y := loadOne(t, filepath.Join(examples, "pipeline.yaml"))
	j := loadOne(t, filepath.Join(examples, "pipeline.ir.json"))
	cy, err := y.Pipeline.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	cj, err := j.Pipeline.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cy, cj) {
		t.Fatalf("canonical IR differs:\nyaml: %s\njson: %s", cy, cj)
	}
	hy, _ := y.Pipeline.Hash()
	hj, _ := j.Pipeline.Hash()
	if hy != hj || hy != ir.HashBytes(cy) {
		t.Fatalf("hashes differ: yaml %s json %s canonical %s", hy, hj, ir.HashBytes(cy))
	}
	if hy[:len(userFeaturesHash)] != userFeaturesHash {
		t.Errorf("ir_hash of the example changed: %s, want prefix %s", hy, userFeaturesHash)
	}
	// The checked-in IR file is the canonical IR, indented: compacting it gives the same bytes.
	raw, err := os.ReadFile(filepath.Join(examples, "pipeline.ir.json"))
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(compact.Bytes(), cy) {
		t.Errorf("pipeline.ir.json is not the canonical IR indented:\nfile:      %s\ncanonical: %s", compact.Bytes(), cy)
	}
}

func TestCanonicalRoundTripAndStability(t *testing.T) {
	s := loadOne(t, filepath.Join(examples, "pipeline.yaml"))
	c1, err := s.Pipeline.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // map iteration order must not leak into the bytes
		c2, err := s.Pipeline.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c1, c2) {
			t.Fatalf("canonical JSON is not stable:\n%s\n%s", c1, c2)
		}
	}
	specs, ps := ir.Parse("roundtrip.json", c1, false)
	if len(ps) > 0 || len(specs) != 1 {
		t.Fatalf("re-parse canonical: %v", ps)
	}
	c3, _ := specs[0].Pipeline.Canonical()
	if !bytes.Equal(c1, c3) {
		t.Fatalf("canonical JSON does not round-trip:\n%s\n%s", c1, c3)
	}
}

func TestHashChangesWithContent(t *testing.T) {
	s := loadOne(t, filepath.Join(examples, "pipeline.yaml"))
	h1, _ := s.Pipeline.Hash()
	s.Pipeline.Nodes["orders_onelake"].Params["table"] = "raw.other"
	h2, _ := s.Pipeline.Hash()
	if h1 == h2 {
		t.Fatal("hash did not change with a param")
	}
	if len(h1) != 64 {
		t.Fatalf("hash %q is not hex sha256", h1)
	}
}

func TestYAMLNumbersMatchJSON(t *testing.T) {
	yaml := "api_version: aiflow/v1\nid: n\nextra: {a: 4.0, b: 0.1, c: 1e21, d: 0x10, e: 1_000, f: -0.0, g: 1.5e300, h: '<>&', i: \"\\u2028\"}\nnodes: {}\n"
	js := `{"api_version":"aiflow/v1","id":"n","extra":{"a":4,"b":0.1,"c":1e+21,"d":16,"e":1000,"f":0,"g":1.5e300,"h":"<>&","i":"\u2028"},"nodes":{}}`
	ys, ps := ir.Parse("n.yaml", []byte(yaml), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	jspecs, ps := ir.Parse("n.json", []byte(js), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	cy, _ := ys[0].Pipeline.Canonical()
	cj, _ := jspecs[0].Pipeline.Canonical()
	if !bytes.Equal(cy, cj) {
		t.Fatalf("yaml and json numbers differ:\n%s\n%s", cy, cj)
	}
	if want := `"extra":{"a":4,"b":0.1,"c":1e+21,"cost_center":null,"d":16,"e":1000,"env":null,"f":0,"g":1.5e+300,"h":"<>&","i":"\u2028","project":null,"team":null}`; !bytes.Contains(cy, []byte(want)) {
		t.Errorf("canonical %s\nwant to contain %s", cy, want)
	}
}

// Canonical builds its generic value directly; it must give what encoding/json would.
func TestCanonicalMatchesEncodingJSON(t *testing.T) {
	withNil := pipe(src("a"), snk("s", "a"))
	withNil.Nodes["z"] = nil
	withNil.Nodes["a"].OutputSchema = map[string]any{"user_id": "int64"}
	withNil.Extra["params"] = map[string]any{"n": json.Number("4.0"), "f": 0.5, "i": 3, "l": []any{"<&>", nil, true}}
	for name, p := range map[string]*ir.Pipeline{
		"zero":    {},
		"chain":   pipe(src("a"), tr("b", "a"), snk("c", "b")),
		"odd":     withNil,
		"example": loadOne(t, filepath.Join(examples, "pipeline.yaml")).Pipeline,
	} {
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ir.CanonicalJSON(generic(t, string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\ngot  %s\nwant %s", name, got, want)
		}
	}
}

func TestCanonicalInvalidUTF8IsIdempotent(t *testing.T) {
	c1, err := ir.CanonicalJSON(map[string]any{"k": "a\xffb"})
	if err != nil {
		t.Fatal(err)
	}
	if string(c1) != "{\"k\":\"a\uFFFDb\"}" {
		t.Errorf("got %q", c1)
	}
	c2, _ := ir.CanonicalJSON(generic(t, string(c1)))
	if !bytes.Equal(c1, c2) {
		t.Errorf("not idempotent: %q vs %q", c1, c2)
	}
	if _, err := ir.CanonicalJSON(json.Number("0x10")); err == nil {
		t.Error("invalid json.Number accepted")
	}
}
