package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/policy"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
	_ "github.com/aiflow-dev/aiflow/plugin/builtin"
)

const policyYAML = `
teams:
  feature-platform:
    envs: [prod, dev]
    sources: [onelake, files]
    sinks: [onelake, files]
    engines: [spark, arrow]
    write_namespaces: [feature_store, tmp]
    write_paths: ["s3://fp-bucket/", "file:///data/fp/"]
    max_resources: {cpu: "4", memory: "16Gi", executor_memory: "8g", executor_cores: 4}
    per_env:
      dev: {engines: ["*"]}
  growth:
    sources: [files]
    sinks: [onelake]
    engines: [arrow]
    write_namespaces: [growth]
`

// pipeline builds a spec: a files source, one transform, one sink, with the given team, env and
// node overrides (YAML lines of the transform and the sink).
func pipeline(t *testing.T, team, env, transform, sink string) *ir.Pipeline {
	t.Helper()
	y := `api_version: aiflow/v1
pipeline: {id: p, owner: me, team: ` + team + `, env: ` + env + `}
nodes:
  - {id: src, source: files, with: {path: "s3://fp-bucket/in/", format: parquet}}
  - id: t
    inputs: [src]
` + transform + `
  - id: out
    inputs: [t]
` + sink + "\n"
	specs, ps := ir.Parse("p.yaml", []byte(y), false)
	if len(ps) > 0 {
		t.Fatalf("%v\n%s", ps, y)
	}
	if ps := plugin.Default.Validate(specs[0]); len(ps) > 0 {
		t.Fatalf("%v\n%s", ps, y)
	}
	return specs[0].Pipeline
}

const (
	arrowT   = "    transform: arrow\n    with: {steps: [{limit: 10}]}"
	onelakeS = "    sink: onelake\n    with: {table: feature_store.user_features}"
)

func mustParse(t *testing.T) *policy.Policy {
	t.Helper()
	pol, err := policy.Parse("policy.yaml", []byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

func TestCheck(t *testing.T) {
	pol := mustParse(t)
	tests := []struct {
		name                    string
		team, env, trans, sink  string
		want                    string // "" = allowed; else a substring of the one violation
		render                  map[string]string
		renderedParamsOverrides bool
	}{
		{name: "allowed", team: "feature-platform", env: "prod", trans: arrowT, sink: onelakeS},
		{name: "another team's namespace", team: "growth", env: "dev", trans: arrowT, sink: onelakeS,
			want: `namespace "feature_store" (table feature_store.user_features) is not allowed (allowed: growth)`},
		{name: "forbidden engine", team: "growth", env: "dev", trans: "    transform: python\n    with: {fn: 'm:f'}", sink: "    sink: onelake\n    with: {table: growth.x}",
			want: `engine "python" is not allowed for team "growth" (allowed: arrow)`},
		{name: "engine allowed in dev only", team: "feature-platform", env: "dev", trans: "    transform: python\n    with: {fn: 'm:f'}", sink: onelakeS},
		{name: "engine not allowed in prod", team: "feature-platform", env: "prod", trans: "    transform: python\n    with: {fn: 'm:f'}", sink: onelakeS,
			want: `engine "python" is not allowed`},
		{name: "forbidden sink", team: "growth", env: "dev", trans: arrowT, sink: "    sink: files\n    with: {path: /data/growth/}",
			want: `sink "files" is not allowed for team "growth" (allowed: onelake)`},
		{name: "resources over the cap", team: "feature-platform", env: "prod",
			trans: "    transform: spark\n    with: {sql: 'SELECT 1'}\n    resources: {executor_memory: 16g, executor_cores: 8, cpu: '6', memory: 8Gi}", sink: onelakeS,
			want: "resources.cpu 6 is over the cap 4"},
		{name: "spark defaults count", team: "feature-platform", env: "prod",
			trans: "    transform: spark\n    with: {sql: 'SELECT 1'}\n    resources: {executor_cores: 4, memory: 16Gi}", sink: onelakeS},
		{name: "path allowed", team: "feature-platform", env: "prod", trans: arrowT, sink: "    sink: files\n    with: {path: 'file:///data/fp/out/'}"},
		{name: "dot-dot escape", team: "feature-platform", env: "prod", trans: arrowT, sink: "    sink: files\n    with: {path: 'file:///data/fp/../growth/out/'}",
			want: `path "file:///data/fp/../growth/out/" (file:///data/growth/out) is outside the allowed write paths`},
		{name: "plain path dot-dot escape", team: "feature-platform", env: "prod", trans: arrowT, sink: "    sink: files\n    with: {path: '/data/fp/a/../../fpx/'}",
			want: `is outside the allowed write paths`},
		{name: "prefix of a name is not a folder", team: "feature-platform", env: "prod", trans: arrowT, sink: "    sink: files\n    with: {path: 's3://fp-bucket-other/x/'}",
			want: `is outside the allowed write paths`},
		{name: "s3 dot-dot", team: "feature-platform", env: "prod", trans: arrowT, sink: "    sink: files\n    with: {path: 's3://fp-bucket/a/../../b/'}",
			want: `a ".." segment in an s3:// path is not allowed`},
		{name: "templated path under the prefix", team: "feature-platform", env: "prod", trans: arrowT, sink: "    sink: files\n    with: {path: 's3://fp-bucket/out/dt={{ ds }}/'}"},
		{name: "templated path head outside", team: "feature-platform", env: "prod", trans: arrowT, sink: "    sink: files\n    with: {path: 's3://fp-bucket{{ ds }}/'}",
			want: `is not allowed: its literal head path "s3://": no bucket`},
		{name: "spark output_table", team: "feature-platform", env: "prod", trans: "    transform: spark\n    with: {sql: 'SELECT 1', output_table: growth.stolen}", sink: onelakeS,
			want: `output_table: namespace "growth"`},
		{name: "spark output_path", team: "feature-platform", env: "prod", trans: "    transform: spark\n    with: {sql: 'SELECT 1', output_path: 's3://growth-bucket/x/'}", sink: onelakeS,
			want: `output_path: path "s3://growth-bucket/x/" is outside`},
		{name: "team not in policy, no default", team: "intruder", env: "dev", trans: arrowT, sink: onelakeS,
			want: `team "intruder" is not in policy policy.yaml, which has no default: denied`},
		{name: "env not allowed for team", team: "feature-platform", env: "staging", trans: arrowT, sink: onelakeS,
			want: `team "feature-platform" may not deploy to env "staging"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline(t, tt.team, tt.env, tt.trans, tt.sink)
			vs := pol.Check(p, plugin.Default, policy.Options{})
			if tt.want == "" {
				if len(vs) > 0 {
					t.Fatalf("want allowed, got %v", vs)
				}
				return
			}
			var all []string
			for _, v := range vs {
				all = append(all, v.String())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Fatalf("violations %q\nwant one containing %q", all, tt.want)
			}
		})
	}
}

func TestResourcesAllReported(t *testing.T) {
	pol := mustParse(t)
	p := pipeline(t, "feature-platform", "prod",
		"    transform: spark\n    with: {sql: 'SELECT 1'}\n    resources: {executor_memory: 16g, executor_cores: 8, cpu: '6', memory: 32Gi}", onelakeS)
	var got []string
	for _, v := range pol.Check(p, plugin.Default, policy.Options{}) {
		got = append(got, v.String())
	}
	want := []string{
		"p/t: resources.cpu 6 is over the cap 4 for team \"feature-platform\"",
		"p/t: resources.memory 32Gi is over the cap 16Gi for team \"feature-platform\"",
		"p/t: resources.executor_memory 16g is over the cap 8g for team \"feature-platform\"",
		"p/t: resources.executor_cores 8 is over the cap 4 for team \"feature-platform\"",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRenderedAtRunTime: a template that is harmless at compile time but renders outside the
// allowed paths is caught by the run-time check, which renders first.
func TestRenderedAtRunTime(t *testing.T) {
	pol := mustParse(t)
	p := pipeline(t, "feature-platform", "prod", arrowT, "    sink: files\n    with: {path: 'file:///data/fp/{{ params.sub }}/'}")
	p.Extra["params"] = map[string]any{"sub": "ok"}
	if vs := pol.Check(p, plugin.Default, policy.Options{}); len(vs) > 0 {
		t.Fatalf("compile time: %v", vs)
	}
	render := func(sub string) func(map[string]any) (map[string]any, error) {
		return func(m map[string]any) (map[string]any, error) {
			out, err := ir.Render(m, ir.TemplateVars{Params: map[string]string{"sub": sub}})
			if err != nil {
				return nil, err
			}
			return out.(map[string]any), nil
		}
	}
	if vs := pol.Check(p, plugin.Default, policy.Options{Render: render("daily")}); len(vs) > 0 {
		t.Fatalf("run time, harmless value: %v", vs)
	}
	vs := pol.Check(p, plugin.Default, policy.Options{Render: render("../../../etc")})
	if len(vs) != 1 || !strings.Contains(vs[0].Msg, "(file:///etc) is outside the allowed write paths") {
		t.Fatalf("run time, escaping value: %v", vs)
	}
}

func TestDefaultRules(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte(`
default: {sources: ["*"], sinks: [onelake], engines: [arrow], write_namespaces: [sandbox]}
teams: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline(t, "anyone", "dev", arrowT, "    sink: onelake\n    with: {table: sandbox.t}")
	if vs := pol.Check(p, plugin.Default, policy.Options{}); len(vs) > 0 {
		t.Fatal(vs)
	}
	p = pipeline(t, "anyone", "dev", arrowT, onelakeS)
	vs := pol.Check(p, plugin.Default, policy.Options{})
	if len(vs) != 1 || !strings.Contains(vs[0].Msg, "for the default policy") {
		t.Fatal(vs)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"teams: {a: {sinks: [x], write_path: [/x/]}}", "field write_path not found"},
		{"teams: {a: {write_paths: [relative/]}}", "want an absolute path"},
		{"teams: {a: {write_paths: ['http://x/']}}", "only file:// and s3://"},
		{"teams: {a: {max_resources: {cpu: lots}}}", "max_resources.cpu"},
		{"teams: {a: {max_resources: {memory: 1x}}}", "max_resources.memory"},
		{"teams: {a: {per_env: {dev: {envs: [dev]}}}}", "envs belongs to the team"},
		{"teams: {a: }", "empty rules"},
		{"", "empty file"},
		{aliasBomb(), "policy p.yaml"}, // 9^9 strings once expanded: refused, not expanded
	} {
		_, err := policy.Parse("p.yaml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", policy.MaxFileSize)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(big) = %v", err)
	}
}

// aliasBomb is a YAML alias bomb inside fields the policy knows.
func aliasBomb() string {
	names := "abcdefghi"
	y := "default:\n  per_env:\n    a: {sources: &a [x, x, x, x, x, x, x, x, x]}\n"
	for i := 1; i < len(names); i++ {
		prev := "*" + names[i-1:i]
		y += "    " + names[i:i+1] + ": {sources: &" + names[i:i+1] + " [" + strings.Repeat(prev+", ", 8) + prev + "]}\n"
	}
	return y
}

// TestTopicsAndFeatureGroups: the destinations a plugin reports are checked whatever their
// kind: Kafka topics and feature groups too, when the policy names them.
func TestTopicsAndFeatureGroups(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte(`
teams:
  fp:
    sources: [files]
    sinks: [kafka, feature_store]
    engines: [arrow]
    write_topics: ["fp.*"]
    write_feature_groups: [public.user_features]
  open:
    sources: [files]
    sinks: [kafka, feature_store]
    engines: [arrow]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		team, sink, want string
	}{
		{"fp", "    sink: kafka\n    with: {topic: fp.events}", ""},
		{"fp", "    sink: kafka\n    with: {topic: other.events}", `topic: topic "other.events" is not allowed (allowed: fp.*)`},
		{"fp", "    sink: feature_store\n    with: {feature_group: user_features}", ""},
		{"fp", "    sink: feature_store\n    with: {feature_group: orders, schema: growth}", `feature_group: feature group "growth.orders" is not allowed`},
		{"open", "    sink: kafka\n    with: {topic: anything}", ""}, // no write_topics: unrestricted
	} {
		p := pipeline(t, tt.team, "dev", arrowT, tt.sink)
		var got []string
		for _, v := range pol.Check(p, plugin.Default, policy.Options{}) {
			got = append(got, v.String())
		}
		joined := strings.Join(got, "\n")
		if tt.want == "" && len(got) > 0 || tt.want != "" && !strings.Contains(joined, tt.want) {
			t.Errorf("%s %q: violations %q, want %q", tt.team, tt.sink, joined, tt.want)
		}
	}
}
