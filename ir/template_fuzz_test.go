package ir_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/ir"
)

// FuzzRenderParamValue checks that a parameter value is inserted as data, never rendered again:
// a value carrying `{{ run_id }}` (from --param, say) comes out verbatim, and the output is
// bounded by MaxRenderedLen.
func FuzzRenderParamValue(f *testing.F) {
	for _, s := range [][2]string{
		{"s3://b/{{ params.p }}/", "x"},
		{"{{ params.p }}{{ params.p }}", "{{ run_id }}"},
		{"{{params.p}}", "}}{{"},
		{"a{{ ds }}b{{ params.p }}c", "{{ params.p }}"},
		{"{{ params.p }}", strings.Repeat("y", 1000)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tmpl, value string) {
		vars := ir.TemplateVars{LogicalDate: time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), RunID: "RUN", Params: map[string]string{"p": value}}
		out, err := ir.RenderString(tmpl, vars)
		if err != nil {
			return
		}
		if len(out) > ir.MaxRenderedLen {
			t.Fatalf("output of %d bytes over the %d limit", len(out), ir.MaxRenderedLen)
		}
		// With a value that has no template of its own, rendering it as a literal must give the
		// same as substituting it: nothing in the value was interpreted.
		marker := "\x00P\x00"
		if strings.Contains(tmpl, marker) || strings.Contains(value, marker) {
			return
		}
		vars.Params["p"] = marker
		skeleton, err := ir.RenderString(tmpl, vars)
		if err != nil && strings.Contains(err.Error(), "limit") {
			return // the marker is longer than value: over the limit only now
		}
		if err != nil {
			t.Fatalf("renders with %q but not with a plain marker: %v", value, err)
		}
		if want := strings.ReplaceAll(skeleton, marker, value); want != out {
			t.Fatalf("RenderString(%q) with p=%q = %q, want %q (the value was rendered again)", tmpl, value, out, want)
		}
		// And the rendered output is a deep copy through Render as well.
		r, err := ir.Render(map[string]any{"k": []any{tmpl}}, ir.TemplateVars{LogicalDate: vars.LogicalDate, RunID: "RUN", Params: map[string]string{"p": value}})
		if err != nil || r.(map[string]any)["k"].([]any)[0] != out {
			t.Fatalf("Render disagrees with RenderString: %v %v", r, err)
		}
	})
}
