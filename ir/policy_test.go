package ir_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/ir"
)

func TestCheckSchedule(t *testing.T) {
	tests := []struct{ in, err string }{
		{"0 3 * * *", ""},
		{"*/15 * * * 1-5", ""},
		{"0 0 1 jan,jul *", ""},
		{"@daily", ""},
		{"@hourly", ""},
		{"@once", ""},
		{"@continuous", ""},
		{"@yearly", ""},
		{"@dialy", `(did you mean "@daily"?)`},
		{"@every 5m", "is not an Airflow preset"},
		{"61 * * * *", "not a valid 5-field cron expression"},
		{"0 3 * *", "not a valid 5-field cron expression"},
		{"0 0 3 * * *", "not a valid 5-field cron expression"}, // 6 fields (seconds) are not Airflow's
		{"", "not a valid 5-field cron expression"},
		{"daily", "not a valid 5-field cron expression"},
	}
	for _, tt := range tests {
		err := ir.CheckSchedule(tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("CheckSchedule(%q) = %v, want nil", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("CheckSchedule(%q) = %v, want %q", tt.in, err, tt.err)
		}
	}
}

func TestScheduleInSpec(t *testing.T) {
	for _, tt := range []struct{ sched, want string }{
		{"", `"schedule":null`}, // absent: unscheduled
		{"schedule: null", `"schedule":null`},
		{"schedule: '@daily'", `"schedule":"@daily"`},
	} {
		y := strings.Replace(goodYAML, "  env: dev", "  env: dev\n  "+tt.sched, 1)
		specs, ps := ir.Parse("s.yaml", []byte(y), false)
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		if cps := specs[0].Check(ir.CheckOptions{}); len(cps) > 0 {
			t.Fatal(cps)
		}
		c, _ := specs[0].Pipeline.Canonical()
		if !strings.Contains(string(c), tt.want) {
			t.Errorf("%q: canonical %s lacks %s", tt.sched, c, tt.want)
		}
	}
	specs, _ := ir.Parse("s.yaml", []byte(strings.Replace(goodYAML, "  env: dev", "  env: dev\n  schedule: '0 25 * * *'", 1)), false)
	got := messages(specs[0].Check(ir.CheckOptions{}))
	if len(got) != 1 || !strings.HasPrefix(got[0], `s.yaml:5: p: schedule "0 25 * * *" is not a valid 5-field cron expression`) {
		t.Errorf("got %q", got)
	}
	_, ps := ir.Parse("s.yaml", []byte(strings.Replace(goodYAML, "  env: dev", "  env: dev\n  schedule: 5", 1)), false)
	if len(ps) != 1 || !strings.Contains(ps[0].String(), "s.yaml:5: p: schedule must be a string, not a number") {
		t.Errorf("got %v", ps)
	}
}

func TestTenancyTags(t *testing.T) {
	got := ir.TenancyTags([]string{"z", "team:a", "custom"}, map[string]any{"team": "a", "env": "prod", "project": "", "cost_center": nil})
	want := []string{"custom", "env:prod", "team:a", "z"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TenancyTags = %v, want %v", got, want)
	}
}

func TestCheckTenancy(t *testing.T) {
	tests := []struct {
		name  string
		owner string
		extra map[string]any
		envs  []string
		want  []string
	}{
		{"dev needs nothing else", "", map[string]any{"env": "dev"}, nil, nil},
		{"prod with team and owner", "me", map[string]any{"env": "prod", "team": "t"}, nil, nil},
		{"env missing", "", map[string]any{}, nil, []string{"env is required (one of dev, staging, prod)"}},
		{"env unknown with suggestion", "", map[string]any{"env": "stagin"}, nil, []string{`env "stagin" is not one of dev, staging, prod (did you mean "staging"?)`}},
		{"prod without team", "me", map[string]any{"env": "prod"}, nil, []string{"a prod pipeline must name its team"}},
		{"prod without owner", "", map[string]any{"env": "prod", "team": "t"}, nil, []string{"a prod pipeline must name its owner"}},
		{"prod without both", "", map[string]any{"env": "prod"}, nil, []string{"a prod pipeline must name its team", "a prod pipeline must name its owner"}},
		{"configured envs", "", map[string]any{"env": "qa"}, []string{"qa", "prod"}, nil},
		{"configured envs reject default", "", map[string]any{"env": "dev"}, []string{"qa", "prod"}, []string{`env "dev" is not one of qa, prod`}},
		{"tenancy not a string", "", map[string]any{"env": "dev", "project": 5}, nil, []string{"project must be a string or null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &ir.Pipeline{ID: "p", Owner: tt.owner, Extra: tt.extra}
			got := messages(p.CheckTenancy(tt.envs))
			for i := range got {
				got[i] = strings.TrimPrefix(got[i], "p: ")
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLabelValue(t *testing.T) {
	for in, want := range map[string]string{
		"feature-platform":      "feature-platform",
		"a b/c":                 "a_b_c",
		"_x_":                   "x",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		if got := ir.LabelValue(in); got != want {
			t.Errorf("LabelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecretRefs(t *testing.T) {
	for v, want := range map[string]bool{"${PG_DSN}": true, "${1X}": false, "$PG": false, "hunter2": false} {
		if got := ir.IsSecretRef(v); got != want {
			t.Errorf("IsSecretRef(%q) = %v", v, got)
		}
	}
	if !ir.IsSecretRef(map[string]any{"secret": "pg-creds/dsn"}) {
		t.Error("{secret: pg-creds/dsn} is a reference")
	}
	for _, bad := range []map[string]any{{"secret": "no-key"}, {"secret": "a/b", "x": 1}, {"secret": 5}} {
		if ir.IsSecretRef(bad) {
			t.Errorf("IsSecretRef(%v) = true", bad)
		}
	}
}

func TestCheckSecretLiterals(t *testing.T) {
	yaml := `api_version: aiflow/v1
pipeline: {id: p, env: dev}
nodes:
  - id: a
    source: files
    with:
      path: in/
      password: hunter2
      options: {api_key: abc123, header: "true"}
      token: "${API_TOKEN}"
      secret_key: {secret: creds/key}
      access_key: "{{ params.x }}"
      credentials: ""
  - id: s
    sink: files
    inputs: [a]
    with: {path: out/, dsn: {secret: pg/dsn}}
`
	y := strings.Replace(yaml, `"{{ params.x }}"`, `"${AK}"`, 1)
	specs, ps := ir.Parse("s.yaml", []byte(y), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	got := messages(specs[0].Check(ir.CheckOptions{}))
	want := []string{
		"s.yaml:8: p/a: password looks like a secret value: the IR must hold only references ({secret: name/key} or ${ENV_VAR})",
		"s.yaml:9: p/a: options.api_key looks like a secret value: the IR must hold only references ({secret: name/key} or ${ENV_VAR})",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPipelineParamsMustBeScalars(t *testing.T) {
	y := strings.Replace(goodYAML, "  env: dev", "  env: dev\n  params: {a: 1, b: x, c: [1]}", 1)
	specs, ps := ir.Parse("p.yaml", []byte(y), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	got := messages(specs[0].Check(ir.CheckOptions{}))
	if len(got) != 1 || !strings.HasPrefix(got[0], `p.yaml:5: p: pipeline param "c" must be a scalar`) {
		t.Errorf("got %q", got)
	}
}
