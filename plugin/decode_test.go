package plugin_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/plugin"
)

func decode(t *testing.T, open bool, params map[string]any) (*testConfig, []string) {
	t.Helper()
	s := spec("t", plugin.RoleSource)
	s.Open = open
	cfg, errs := s.Decode(params, false)
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return cfg.(*testConfig), msgs
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		want   []string
	}{
		{"minimal", map[string]any{"name": "x"}, nil},
		{"kind is skipped for sources", map[string]any{"kind": "t", "name": "x"}, nil},
		{"null means default", map[string]any{"name": "x", "count": nil}, nil},
		{"unknown field with suggestion", map[string]any{"name": "x", "cont": 1}, []string{`cont: unknown field "cont" (did you mean "count"?)`}},
		{"unknown field lists known", map[string]any{"name": "x", "zzzzzz": 1}, []string{`zzzzzz: unknown field "zzzzzz" (known: name, count, enabled, ratio, tags, labels, wait, token, inner)`}},
		{"missing required", map[string]any{}, []string{`name: missing required field "name"`}},
		{"required null", map[string]any{"name": nil}, []string{`name: missing required field "name"`}},
		{"wrong type string", map[string]any{"name": 5}, []string{"name: want string, got number 5"}},
		{"wrong type integer", map[string]any{"name": "x", "count": "three"}, []string{`count: want integer, got string "three"`}},
		{"fraction for integer", map[string]any{"name": "x", "count": json.Number("1.5")}, []string{"count: want integer, got number 1.5"}},
		{"wrong type list", map[string]any{"name": "x", "tags": "a"}, []string{`tags: want list of string, got string "a"`}},
		{"wrong type in list", map[string]any{"name": "x", "tags": []any{"a", 1}}, []string{"tags: want list of string, got list"}},
		{"wrong type mapping", map[string]any{"name": "x", "labels": []any{}}, []string{"labels: want mapping of string, got list"}},
		{"wrong type boolean", map[string]any{"name": "x", "enabled": "yes"}, []string{`enabled: want boolean, got string "yes"`}},
		{"unknown nested field", map[string]any{"name": "x", "inner": map[string]any{"b": 1}}, []string{`inner: unknown field "b"`}},
		{"bad duration", map[string]any{"name": "x", "wait": "soon"}, []string{`wait: invalid duration "soon"`}},
		{"literal secret", map[string]any{"name": "x", "token": "hunter2"}, []string{"token: a secret must be a reference"}},
		{"Validate runs after decoding", map[string]any{"name": "x", "count": -1}, []string{"count: must not be negative"}},
		{"Validate OneOf suggests", map[string]any{"name": "boom"}, []string{`name: "boom" is not one of bam, bim`}},
		{"all problems, sorted by key", map[string]any{"name": 1, "count": "x", "zz": 1}, []string{"count: want integer", "name: want string", `zz: unknown field "zz"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := decode(t, false, tt.params)
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %d = %q, want prefix %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDecodeValuesAndDefaults(t *testing.T) {
	cfg, errs := decode(t, false, map[string]any{
		"name": "x", "enabled": true, "ratio": json.Number("0.5"), "tags": []any{"a", "b"},
		"labels": map[string]any{"k": "v"}, "wait": "2h", "token": map[string]any{"secret": "creds/tok"},
		"inner": map[string]any{"a": "z"},
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if cfg.Count != 3 {
		t.Errorf("default count lost: %d", cfg.Count)
	}
	if !cfg.Enabled || cfg.Ratio != 0.5 || !reflect.DeepEqual(cfg.Tags, []string{"a", "b"}) || cfg.Labels["k"] != "v" ||
		cfg.Wait.Duration != 2*time.Hour || cfg.Token.Ref != "creds/tok" || cfg.Inner == nil || cfg.Inner.A != "z" {
		t.Errorf("decoded %+v", cfg)
	}
	cfg, errs = decode(t, false, map[string]any{"name": "x", "token": "${TOK}"})
	if len(errs) > 0 || cfg.Token.Env != "TOK" || cfg.Wait.Duration != 90*time.Second {
		t.Errorf("env secret / default wait: %+v %v", cfg, errs)
	}
}

func TestDecodeOpenConfigRest(t *testing.T) {
	cfg, errs := decode(t, true, map[string]any{"name": "x", "window_days": json.Number("30"), "region": "eu"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if want := map[string]any{"window_days": json.Number("30"), "region": "eu"}; !reflect.DeepEqual(cfg.Rest, want) {
		t.Errorf("rest = %#v", cfg.Rest)
	}
	// A key within typo distance of a declared field is still an error in an open config.
	_, errs = decode(t, true, map[string]any{"name": "x", "cout": 1})
	if len(errs) != 1 || !strings.Contains(errs[0], `(did you mean "count"?)`) {
		t.Errorf("open config typo: %q", errs)
	}
	// A closed config never fills rest.
	cfg, _ = decode(t, false, map[string]any{"name": "x", "window_days": 1})
	if cfg.Rest != nil {
		t.Errorf("closed config filled rest: %v", cfg.Rest)
	}
}

func TestFields(t *testing.T) {
	fields := plugin.Fields(newTest())
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
	}
	if want := []string{"name", "count", "enabled", "ratio", "tags", "labels", "wait", "token", "inner"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("fields %v, want %v", names, want)
	}
	byName := map[string]plugin.Field{}
	for _, f := range fields {
		byName[f.Name] = f
	}
	for name, want := range map[string]struct{ typ, def string }{
		"name": {"string", ""}, "count": {"integer", "3"}, "enabled": {"boolean", ""}, "ratio": {"number", ""},
		"tags": {"list of string", ""}, "labels": {"mapping of string", ""}, "wait": {"duration", `"1m30s"`},
		"token": {"secret", ""}, "inner": {"object", ""},
	} {
		f := byName[name]
		if f.Type != want.typ || f.Default != want.def {
			t.Errorf("%s: type %q default %q, want %q %q", name, f.Type, f.Default, want.typ, want.def)
		}
	}
	if !byName["name"].Required || byName["count"].Required {
		t.Error("required flags wrong")
	}
}

func TestResourcesDecode(t *testing.T) {
	s := spec("t", plugin.RoleEngine)
	_, errs := s.Decode(map[string]any{"cpu": "500m", "memory": "4Gi"}, true)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	_, errs = s.Decode(map[string]any{"cpu": "lots", "mem": "1g"}, true)
	if len(errs) != 1 || errs[0].Error() != `mem: unknown field "mem" (known: cpu, memory, cpu_limit, memory_limit)` {
		t.Errorf("got %v", errs)
	}
	_, errs = s.Decode(map[string]any{"cpu": "lots"}, true)
	if len(errs) != 1 || errs[0].Error() != `cpu: "lots" is not a CPU quantity ("500m", "2")` {
		t.Errorf("got %v", errs)
	}
}

func TestQuantities(t *testing.T) {
	for q, want := range map[string]int64{"1024": 1024, "4g": 4 << 30, "512Mi": 512 << 20, "1G": 1e9, "1.5Gi": 3 << 29} {
		if got, err := plugin.MemoryBytes(q); err != nil || got != want {
			t.Errorf("MemoryBytes(%q) = %d, %v; want %d", q, got, err, want)
		}
	}
	if _, err := plugin.MemoryBytes("lots"); err == nil {
		t.Error("MemoryBytes(lots): want an error")
	}
	for q, want := range map[string]int64{"500m": 500, "2": 2000, "0.5": 500} {
		if got, err := plugin.MilliCPU(q); err != nil || got != want {
			t.Errorf("MilliCPU(%q) = %d, %v; want %d", q, got, err, want)
		}
	}
}

func TestSecretAndDurationJSON(t *testing.T) {
	for _, s := range []plugin.Secret{{Env: "X"}, {Ref: "a/b"}} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back plugin.Secret
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("round trip %+v: %s → %+v, %v", s, b, back, err)
		}
	}
	for _, bad := range []string{`"plain"`, `{"secret": "nokey"}`, `5`} {
		var s plugin.Secret
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("Secret %s: want an error", bad)
		}
	}
	if got := (plugin.Duration{Duration: time.Hour}).String(); got != "1h" {
		t.Errorf("Duration(1h) = %q", got)
	}
	for d, want := range map[time.Duration]string{90 * time.Second: "1m30s", 30 * time.Second: "30s", time.Minute: "1m",
		90 * time.Minute: "1h30m", 3600e9 + 5e9: "1h0m5s", 1500 * time.Millisecond: "1.5s", 0: "0s"} {
		if got := (plugin.Duration{Duration: d}).String(); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
	var d plugin.Duration
	for _, bad := range []string{`"-1s"`, `"0s"`, `5`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("Duration %s: want an error", bad)
		}
	}
}
