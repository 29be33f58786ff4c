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
		{"{{ dss }}", []string{`template {{ dss }}: unknown variable (known: ds, ts, logical_date, data_interval_start/end, prev_ds, next_ds, yesterday_ds, tomorrow_ds (and their _nodash forms), run_id, params.NAME, macros.ds_add, macros.ds_format) (did you mean "ds"?)`}},
		{"{{ logicaldate }}", []string{`(did you mean "logical_date"?)`}},
		{"{{ execution_date }}", []string{"unknown variable"}},
		{"{{ ts }}/{{ ts_nodash }}/{{ ts_nodash_with_tz }}/{{ data_interval_start }}/{{ data_interval_end }}", nil},
		{"{{ prev_ds }}{{ next_ds_nodash }}{{ yesterday_ds }}{{ tomorrow_ds_nodash }}", nil},
		{"{{ macros.ds_add(ds, -7) }}/{{ macros.ds_add( params.region , 3) }}", nil},
		{`{{ macros.ds_format(ds, "%Y-%m-%d", '%Y/%m/%d') }}`, nil},
		{"{{ macros.ds_add(dss, 1) }}", []string{`unknown variable dss (known: ds, ts`}},
		{"{{ macros.ds_ad(ds, 1) }}", []string{`unknown macro macros.ds_ad (known: macros.ds_add, macros.ds_format) (did you mean "macros.ds_add"?)`}},
		{"{{ macros.ds_add(ds) }}", []string{`macros.ds_add takes 2 arguments, not 1`}},
		{"{{ macros.ds_add(ds, 'x') }}", []string{`macros.ds_add takes (date, days)`}},
		{"{{ macros.ds_format(ds, '%Y) }}", []string{`unterminated string`}},
		{"{{ macros.ds_add(params.regon, 1) }}", []string{`parameter "regon" is not declared`}},
		{"{{ params.regon }}", []string{`template {{ params.regon }}: parameter "regon" is not declared in pipeline params (did you mean "region"?)`}},
		{"{{ params.zzzzzzzz }}", []string{`parameter "zzzzzzzz" is not declared in pipeline params`}},
		{"{{ ds | upper }}", []string{"Jinja filters and statements are not supported"}},
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
		`t.yaml:11: p/a: partitions.dt: template {{ dss }}: unknown variable (known: ds, ts, logical_date, data_interval_start/end, prev_ds, next_ds, yesterday_ds, tomorrow_ds (and their _nodash forms), run_id, params.NAME, macros.ds_add, macros.ds_format) (did you mean "ds"?)`,
		`t.yaml:15: p/s: path: template {{ params.regoin }}: parameter "regoin" is not declared in pipeline params (did you mean "region"?)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAirflowMacros renders the Airflow variables and macros that templates may use, with the
// values Airflow gives them (a cron schedule's previous and next runs for prev_ds and next_ds).
func TestAirflowMacros(t *testing.T) {
	sch, err := ir.ParseSchedule("0 0 * * 5#2") // second Friday: 2026-03-13, 2026-04-10
	if err != nil {
		t.Fatal(err)
	}
	vars := ir.TemplateVars{LogicalDate: time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC), RunID: "r", Schedule: sch,
		Params: map[string]string{"start": "2026-01-31"}}
	for _, tt := range []struct{ in, want string }{
		{"{{ ts }}", "2026-03-13T00:00:00+00:00"},
		{"{{ ts_nodash }}", "20260313T000000"},
		{"{{ ts_nodash_with_tz }}", "20260313T000000+0000"},
		{"{{ data_interval_start }}|{{ data_interval_end }}", "2026-03-13T00:00:00+00:00|2026-03-13T00:00:00+00:00"},
		{"{{ prev_ds }} {{ prev_ds_nodash }}", "2026-02-13 20260213"},
		{"{{ next_ds }} {{ next_ds_nodash }}", "2026-04-10 20260410"},
		{"{{ yesterday_ds }} {{ tomorrow_ds_nodash }}", "2026-03-12 20260314"},
		{"{{ macros.ds_add(ds, -13) }}", "2026-02-28"},
		{"{{ macros.ds_add(params.start, 1) }}", "2026-02-01"},
		{"{{ macros.ds_add('2024-02-28', 1) }}", "2024-02-29"},
		{`{{ macros.ds_format(ds, "%Y-%m-%d", "%Y/%m/%d %a %b %j") }}`, "2026/03/13 Fri Mar 072"},
		{`{{ macros.ds_format("07/04/26", "%m/%d/%y", "%Y%m%d") }}`, "20260704"},
	} {
		got, err := ir.RenderString(tt.in, vars)
		if err != nil || got != tt.want {
			t.Errorf("RenderString(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	vars.Schedule = nil
	if _, err := ir.RenderString("{{ prev_ds }}", vars); err == nil || !strings.Contains(err.Error(), "needs a cron schedule") {
		t.Errorf("prev_ds without a schedule: %v", err)
	}
	if _, err := ir.RenderString(`{{ macros.ds_format(ds, "%d/%m", "%Y") }}`, vars); err == nil {
		t.Error("ds_format with a format the date does not match: no error")
	}
}

func TestPrevDSNeedsCronAtValidate(t *testing.T) {
	for _, tt := range []struct{ sched, want string }{
		{"", `t.yaml:9: p/a: path: template {{ prev_ds }} needs a cron schedule (the pipeline's is null)`},
		{"  schedule: '@once'\n", `t.yaml:10: p/a: path: template {{ prev_ds }} needs a cron schedule (the pipeline's is @once)`},
		{"  schedule: '0 0 L * *'\n", ""},
	} {
		y := "api_version: aiflow/v1\npipeline:\n  id: p\n  env: dev\n" + tt.sched + `nodes:
  - id: a
    source: files
    with:
      path: "in/{{ prev_ds }}/"
  - id: s
    sink: files
    inputs: [a]
    with: {path: out}
`
		specs, ps := ir.Parse("t.yaml", []byte(y), false)
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		got := strings.Join(messages(specs[0].Check(ir.CheckOptions{})), "\n")
		if got != tt.want {
			t.Errorf("schedule %q: got %q, want %q", tt.sched, got, tt.want)
		}
	}
}
