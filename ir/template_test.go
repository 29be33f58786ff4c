package ir_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/ir"
)

func TestCheckTemplate(t *testing.T) {
	params := map[string]any{"region": "eu", "limit": nil}
	tests := []struct {
		in   string
		want []string // error substrings, in order
	}{
		{"plain", nil},
		{"{{ ds }}", nil},
		{"{{ds}}/{{ ds_nodash }}/{{  logical_date  }}/{{ run_id }}", nil},
		{"{{ params.region }}-{{ params.limit }}", nil},
		{"{{ dss }}", []string{`template {{ dss }}: unknown variable (known: ds, ds_nodash, logical_date, run_id, params.NAME) (did you mean "ds"?)`}},
		{"{{ logicaldate }}", []string{`(did you mean "logical_date"?)`}},
		{"{{ execution_date }}", []string{"unknown variable"}},
		{"{{ ts }}", []string{`unknown variable`}},
		{"{{ params.regon }}", []string{`template {{ params.regon }}: parameter "regon" is not declared in pipeline params (did you mean "region"?)`}},
		{"{{ params.zzzzzzzz }}", []string{`parameter "zzzzzzzz" is not declared in pipeline params`}},
		{"{{ ds | upper }}", []string{"unknown variable"}},
		{"{{ ds }", []string{"unbalanced template braces"}},
		{"ds }}", []string{"unbalanced template braces"}},
		{"{{ a }} and {{ b }}", []string{"{{ a }}", "{{ b }}"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			errs := ir.CheckTemplate(tt.in, params)
			if len(errs) != len(tt.want) {
				t.Fatalf("CheckTemplate(%q) = %v, want %d errors", tt.in, errs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
		})
	}
	if errs := ir.CheckTemplate("{{ params.x }}", nil); len(errs) != 1 {
		t.Errorf("params without declarations: %v", errs)
	}
}

func TestRenderString(t *testing.T) {
	vars := ir.TemplateVars{
		LogicalDate: time.Date(2024, 3, 9, 22, 30, 0, 0, time.FixedZone("X", -3*3600)), // 2024-03-10T01:30Z
		RunID:       "scheduled__2024-03-10",
		Params:      map[string]string{"region": "eu", "empty": ""},
	}
	tests := []struct{ in, want, err string }{
		{"no templates", "no templates", ""},
		{"dt={{ ds }}", "dt=2024-03-10", ""},
		{"{{ds_nodash}}", "20240310", ""},
		{"{{ logical_date }}", "2024-03-10T01:30:00Z", ""},
		{"{{ run_id }}", "scheduled__2024-03-10", ""},
		{"{{ params.region }}/{{ params.empty }}/x", "eu//x", ""},
		{"{{ ds }}{{ ds }}", "2024-03-102024-03-10", ""},
		{"{{ params.nope }}", "", `parameter "nope" has no value`},
		{"{{ bogus }}", "", "unknown variable"},
	}
	for _, tt := range tests {
		got, err := ir.RenderString(tt.in, vars)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("RenderString(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("RenderString(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := ir.RenderString("{{ run_id }}", ir.TemplateVars{}); err == nil {
		t.Error("run_id without a run id: want an error")
	}
	big := ir.TemplateVars{Params: map[string]string{"x": strings.Repeat("x", 1000)}}
	if _, err := ir.RenderString(strings.Repeat("{{ params.x }}", 2000), big); err == nil || !strings.Contains(err.Error(), "over the") {
		t.Errorf("template blow-up: %v", err)
	}
}

func TestRenderNested(t *testing.T) {
	in := map[string]any{
		"kind":       "onelake",
		"partitions": map[string]any{"dt": "{{ ds }}"},
		"list":       []any{"{{ ds_nodash }}", 3, true, nil},
	}
	out, err := ir.Render(in, ir.TemplateVars{LogicalDate: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"kind":       "onelake",
		"partitions": map[string]any{"dt": "2024-01-02"},
		"list":       []any{"20240102", 3, true, nil},
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("Render = %#v", out)
	}
	if in["partitions"].(map[string]any)["dt"] != "{{ ds }}" {
		t.Error("Render modified its input")
	}
	_, err = ir.Render(map[string]any{"a": []any{"x", "{{ nope }}"}}, ir.TemplateVars{})
	if err == nil || !strings.HasPrefix(err.Error(), "a: [1]: ") {
		t.Errorf("error path: %v", err)
	}
}

func TestCheckReportsTemplatesWithLine(t *testing.T) {
	yaml := `api_version: aiflow/v1
pipeline:
  id: p
  env: dev
  params: {region: eu}
nodes:
  - id: a
    source: files
    with:
      path: "in/{{ params.region }}/"
      partitions: {dt: "{{ dss }}"}
  - id: s
    sink: files
    inputs: [a]
    with: {path: "out/{{ params.regoin }}"}
`
	specs, ps := ir.Parse("t.yaml", []byte(yaml), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	got := messages(specs[0].Check(ir.CheckOptions{}))
	want := []string{
		`t.yaml:11: p/a: partitions.dt: template {{ dss }}: unknown variable (known: ds, ds_nodash, logical_date, run_id, params.NAME) (did you mean "ds"?)`,
		`t.yaml:15: p/s: path: template {{ params.regoin }}: parameter "regoin" is not declared in pipeline params (did you mean "region"?)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
