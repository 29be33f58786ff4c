package ir_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/ir"
)

// Short fuzz runs are part of `make test`, longer ones of `make fuzz`:
//
//	go test -run='^$' -fuzz=FuzzParseYAML -fuzztime=10s ./ir/
//
// Crashers found by the fuzzer land in testdata/fuzz/<Target>/ and then run as regular tests.

// seedFiles returns the spec files of the examples and the bad-input corpus with the given
// extensions, as fuzz seeds.
func seedFiles(t testing.TB, exts ...string) [][]byte {
	var out [][]byte
	for _, dir := range []string{"../examples", "../internal/cli/testdata", "testdata"} {
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(path, string(filepath.Separator)+"fuzz"+string(filepath.Separator)) {
				return nil
			}
			for _, e := range exts {
				if strings.HasSuffix(path, e) {
					if b, err := os.ReadFile(path); err == nil && len(b) <= 64<<10 {
						out = append(out, b)
					}
				}
			}
			return nil
		})
	}
	return out
}

// checkParse is the property both loaders must have: no panic, and whatever decodes has a
// canonical form that re-parses as IR JSON to the same hash.
func checkParse(t *testing.T, name string, data []byte) {
	specs, ps := ir.Parse(name, data, false)
	for _, p := range ps {
		if p.File != name || p.Msg == "" {
			t.Fatalf("problem without file or message: %#v", p)
		}
		if strings.Contains(p.Msg, "\n") {
			t.Fatalf("problem spans lines: %q", p.Msg)
		}
	}
	for _, s := range specs {
		s.Check(ir.CheckOptions{}) // must not panic either
		canon, err := s.Pipeline.Canonical()
		if err != nil {
			t.Fatalf("Canonical: %v", err)
		}
		h := ir.HashBytes(canon)
		again, ps := ir.Parse("canonical.json", canon, false)
		if len(ps) > 0 || len(again) != 1 {
			t.Fatalf("canonical IR does not re-parse: %v\n%s", ps, canon)
		}
		canon2, err := again[0].Pipeline.Canonical()
		if err != nil {
			t.Fatalf("Canonical after re-parse: %v", err)
		}
		if h2 := ir.HashBytes(canon2); h2 != h {
			t.Fatalf("hash changed on re-parse:\n%s\n%s", canon, canon2)
		}
	}
}

func FuzzParseYAML(f *testing.F) {
	for _, b := range seedFiles(f, ".yaml", ".yml") {
		f.Add(b)
	}
	f.Add([]byte(goodYAML))
	f.Add([]byte(billionLaughs))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("x: !!float 1e400\ny: !!int 0x7fffffffffffffff0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "fuzz.yaml", data)
	})
}

func FuzzParseJSON(f *testing.F) {
	for _, b := range seedFiles(f, ".json") {
		f.Add(b)
	}
	f.Add([]byte(`{"api_version":"aiflow/v1","id":"p","extra":{"a":4.0,"b":1e21,"c":"\u2028<>&"},"nodes":{"a":{"type":"source","params":{"kind":"files"}}}}`))
	f.Add([]byte(`{"a":[1,{"b":null}]} {"c":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "fuzz.json", data)
	})
}

func FuzzRenderTemplate(f *testing.F) {
	for _, s := range []string{"", "plain", "{{ ds }}", "dt={{ds_nodash}}/{{ logical_date }}", "{{ run_id }}",
		"{{ params.region }}", "{{ params.nope }}", "{{ dss }}", "{{ ds }", "}}{{", "{{{{ ds }}}}", "{{ params. }}", "{{\tds\n}}"} {
		f.Add(s)
	}
	params := map[string]any{"region": "eu", "n": nil}
	vars := ir.TemplateVars{LogicalDate: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), RunID: "r1", Params: map[string]string{"region": "eu", "n": ""}}
	f.Fuzz(func(t *testing.T, s string) {
		errs := ir.CheckTemplate(s, params)
		out, err := ir.RenderString(s, vars)
		if !strings.Contains(s, "{{") {
			if err != nil || out != s {
				t.Fatalf("RenderString(%q) = %q, %v; want it unchanged", s, out, err)
			}
		}
		if len(errs) == 0 && err != nil && len(s) < ir.MaxRenderedLen/64 {
			t.Fatalf("CheckTemplate(%q) accepted it but RenderString failed: %v", s, err)
		}
	})
}
