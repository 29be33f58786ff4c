package builtin_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

func registry() *plugin.Registry {
	r := plugin.NewRegistry()
	builtin.Register(r)
	return r
}

// TestBuiltinKinds: the kinds the pipelines of the original design name are built in, and
// plugin.Default holds exactly what Registry holds. It checks a floor, not the whole list: a new
// sink package linked into Register needs no edit here (docs/plugins.md, "Adding a sink").
func TestBuiltinKinds(t *testing.T) {
	r := registry()
	want := map[plugin.Role][]string{
		plugin.RoleSource: {"files", "kafka", "onelake", "onestream"},
		plugin.RoleSink:   {"feature_store", "files", "kafka", "onelake"},
		plugin.RoleEngine: {"arrow", "flink", "python", "spark"},
	}
	for _, role := range plugin.Roles {
		got := r.Kinds(role)
		for _, k := range want[role] {
			if !slices.Contains(got, k) {
				t.Errorf("%s kinds = %v, missing %s", role, got, k)
			}
		}
		if d := plugin.Default.Kinds(role); !reflect.DeepEqual(d, got) {
			t.Errorf("Default %s kinds = %v, Registry() has %v", role, d, got)
		}
	}
}

// TestEveryKindHasItsRuntimes: each built-in source and sink has a runtime on every engine its
// spec lists, and each engine a runtime of its own, so what validates also runs.
func TestEveryKindHasItsRuntimes(t *testing.T) {
	r := registry()
	for _, role := range plugin.Roles {
		for _, kind := range r.Kinds(role) {
			s, _ := r.Lookup(role, kind)
			want := s.Engines
			if role == plugin.RoleEngine {
				want = []string{kind}
			}
			if len(want) == 0 {
				t.Errorf("%s %s lists no engine", role, kind)
			}
			have := r.RuntimeEngines(role, kind)
			for _, e := range want {
				if !slices.Contains(have, e) {
					t.Errorf("%s %s: no runtime on engine %s (has %v)", role, kind, e, have)
				}
			}
		}
	}
}

// TestEverySourceHasAReader: every built-in source kind can be read by each engine its spec
// lists, so what validates also runs ("onestream feeding spark" validated and had no reader). An
// engine that reads its inputs through registered readers (the seed's
// register_spark_source_reader) must have one for each such kind; the arrow and python engines
// read any committed manifest through package readers (TestEveryKindHasItsRuntimes covers the
// source's own runtime).
func TestEverySourceHasAReader(t *testing.T) {
	r := registry()
	byReader := map[string]bool{}
	for _, kind := range append(r.Kinds(plugin.RoleSource), "aiflow") {
		for _, e := range r.ReaderEngines(kind) {
			byReader[e] = true
		}
	}
	if !byReader[builtin.Spark] {
		t.Fatalf("engines reading through registered readers: %v, want spark among them", byReader)
	}
	for _, kind := range r.Kinds(plugin.RoleSource) {
		s, _ := r.Lookup(plugin.RoleSource, kind)
		for _, e := range s.Engines {
			if _, ok := r.Reader(e, kind); byReader[e] && !ok {
				t.Errorf("source %s lists engine %s, which has no reader for it (readers of %s: %v)", kind, e, kind, r.ReaderEngines(kind))
			}
		}
		// And the other way: an engine with a reader for a kind is listed by it.
		for _, e := range r.ReaderEngines(kind) {
			if !slices.Contains(s.Engines, e) {
				t.Errorf("engine %s has a reader for source %s, which does not list it (%v)", e, kind, s.Engines)
			}
		}
	}
}

// Every field of every built-in config carries a description: `aiflow-runner plugins` is the
// reference documentation.
func TestEveryFieldDocumented(t *testing.T) {
	r := registry()
	for _, role := range plugin.Roles {
		for _, kind := range r.Kinds(role) {
			s, _ := r.Lookup(role, kind)
			if s.Summary == "" {
				t.Errorf("%s %s: no summary", role, kind)
			}
			cfgs := map[string]plugin.Config{"params": s.New()}
			if s.NewResources != nil {
				cfgs["resources"] = s.NewResources()
			}
			for what, cfg := range cfgs {
				fields := plugin.Fields(cfg)
				if len(fields) == 0 {
					t.Errorf("%s %s %s: no fields", role, kind, what)
				}
				for _, f := range fields {
					if strings.TrimSpace(f.Doc) == "" {
						t.Errorf("%s %s %s.%s: no doc tag", role, kind, what, f.Name)
					}
					if f.Type == "" {
						t.Errorf("%s %s %s.%s: no type", role, kind, what, f.Name)
					}
				}
			}
			if s.New() == s.New() {
				t.Errorf("%s %s: New returns a shared config", role, kind)
			}
		}
	}
}

func node(typ, kind string, params map[string]any) *ir.Node {
	n := &ir.Node{ID: "n", Type: typ, Params: map[string]any{}, Resources: map[string]any{}}
	for k, v := range params {
		n.Params[k] = v
	}
	if typ == ir.Transform {
		n.Engine = &kind
	} else {
		n.Params["kind"] = kind
	}
	return n
}

func TestMinimalConfigsAndDefaults(t *testing.T) {
	r := registry()
	tests := []struct {
		typ, kind string
		params    map[string]any
		want      plugin.Config
	}{
		{ir.Source, "onelake", map[string]any{"table": "raw.orders"}, &builtin.OnelakeSource{Table: "raw.orders", Format: "delta"}},
		{ir.Source, "onestream", map[string]any{"topic": "orders"}, &builtin.StreamSource{Topic: "orders", StartingOffsets: "earliest", ValueFormat: "json", OnError: "fail"}},
		{ir.Source, "kafka", map[string]any{"topic": "orders"}, &builtin.StreamSource{Topic: "orders", StartingOffsets: "earliest", ValueFormat: "json", OnError: "fail"}},
		{ir.Source, "files", map[string]any{"path": "in/"}, &builtin.FilesSource{Path: "in/"}},
		{ir.Sink, "onelake", map[string]any{"table": "fs.t"}, &builtin.OnelakeSink{Table: "fs.t", Mode: "overwrite", Format: "delta"}},
		{ir.Sink, "feature_store", map[string]any{"feature_group": "user_features"}, &builtin.FeatureStoreSink{FeatureGroup: "user_features", Mode: "upsert", Schema: "public", DSN: plugin.Secret{Env: "AIFLOW_FEATURE_STORE_DSN"}}},
		{ir.Sink, "files", map[string]any{"path": "out/"}, &builtin.FilesSink{Path: "out/", Format: "parquet", Mode: "overwrite", Compression: "zstd"}},
		{ir.Sink, "kafka", map[string]any{"topic": "out"}, &builtin.KafkaSink{Topic: "out", Compression: "zstd", ValueFormat: "json"}},
		{ir.Transform, "spark", map[string]any{"sql": "SELECT 1"}, &builtin.SparkTransform{SQL: "SELECT 1", OutputFormat: "parquet"}},
		{ir.Transform, "arrow", map[string]any{}, &builtin.ArrowTransform{}},
		{ir.Transform, "python", map[string]any{"fn": "m:f"}, &builtin.PythonTransform{Fn: "m:f", Timeout: plugin.Duration{Duration: 3600e9}}},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.kind, func(t *testing.T) {
			d, err := r.DecodeNode(node(tt.typ, tt.kind, tt.params))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.Params, tt.want) {
				t.Errorf("decoded %#v\nwant    %#v", d.Params, tt.want)
			}
		})
	}
	d, err := r.DecodeNode(node(ir.Transform, "spark", map[string]any{"sql": "SELECT 1"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (&builtin.SparkResources{DriverMemory: "2g", ExecutorMemory: "4g", ExecutorCores: 2}); !reflect.DeepEqual(d.Resources, want) {
		t.Errorf("spark resources default %#v", d.Resources)
	}
}

func TestConfigErrors(t *testing.T) {
	r := registry()
	tests := []struct {
		name      string
		typ, kind string
		params    map[string]any
		resources map[string]any
		want      string
	}{
		{"misspelt partition_by", ir.Sink, "onelake", map[string]any{"table": "a.b", "partiton_by": []any{"dt"}}, nil,
			`node n: partiton_by: unknown field "partiton_by" (did you mean "partition_by"?)`},
		{"missing table", ir.Source, "onelake", nil, nil, `missing required field "table"`},
		{"bad table name", ir.Source, "onelake", map[string]any{"table": "orders; DROP"}, nil, `is not a table name`},
		{"bad format", ir.Source, "onelake", map[string]any{"table": "a.b", "format": "delt"}, nil, `format: "delt" is not one of delta, parquet (did you mean "delta"?)`},
		{"snapshot of a parquet table", ir.Source, "onelake", map[string]any{"table": "a.b", "format": "parquet", "snapshot": "3"}, nil, `snapshot: needs format delta`},
		{"wrong type", ir.Sink, "onelake", map[string]any{"table": "a.b", "partition_by": "dt"}, nil, `partition_by: want list of string, got string "dt"`},
		{"sink mode", ir.Sink, "files", map[string]any{"path": "o", "mode": "overwrit"}, nil, `(did you mean "overwrite"?)`},
		{"stream starting offsets", ir.Source, "kafka", map[string]any{"topic": "t", "starting_offsets": "first"}, nil, `starting_offsets: "first" is not earliest, latest`},
		{"stream dead letter", ir.Source, "onestream", map[string]any{"topic": "t", "on_error": "dead_letter"}, nil, "needs a dead_letter destination"},
		{"stream bad topic", ir.Source, "kafka", map[string]any{"topic": "a b"}, nil, `invalid topic "a b"`},
		{"feature store ident", ir.Sink, "feature_store", map[string]any{"feature_group": "user-features"}, nil, "is not an identifier"},
		{"feature store literal dsn", ir.Sink, "feature_store", map[string]any{"feature_group": "f", "dsn": "postgres://u:pw@h/db"}, nil, "dsn: a secret must be a reference"},
		{"spark needs sql or entrypoint", ir.Transform, "spark", nil, nil, "exactly one of sql or entrypoint"},
		{"spark both", ir.Transform, "spark", map[string]any{"sql": "x", "entrypoint": "m:f"}, nil, "exactly one of sql or entrypoint"},
		{"spark resources typo", ir.Transform, "spark", map[string]any{"sql": "x"}, map[string]any{"driver_memroy": "4g"}, `resources.driver_memroy: unknown field "driver_memroy" (did you mean "driver_memory"?)`},
		{"spark resources memory", ir.Transform, "spark", map[string]any{"sql": "x"}, map[string]any{"executor_memory": "lots"}, `resources.executor_memory: "lots" is not a memory quantity`},
		{"arrow steps and function", ir.Transform, "arrow", map[string]any{"steps": []any{map[string]any{"filter": "x"}}, "function": "f"}, nil, "steps or a function, not both"},
		{"arrow steps type", ir.Transform, "arrow", map[string]any{"steps": "filter"}, nil, "steps: want list of mapping of any"},
		{"python fn missing", ir.Transform, "python", nil, nil, `missing required field "fn"`},
		{"python fn shape", ir.Transform, "python", map[string]any{"fn": "module.function"}, nil, `"module.function" is not module:function`},
		{"python typo near a field", ir.Transform, "python", map[string]any{"fn": "m:f", "timout": "1m"}, nil, `(did you mean "timeout"?)`},
		{"unknown source kind", ir.Source, "onelak", nil, nil, `unknown source "onelak" (did you mean "onelake"?) (known: files, kafka, onelake, onestream)`},
		{"unknown engine", ir.Transform, "sprak", nil, nil, `unknown engine "sprak"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := node(tt.typ, tt.kind, tt.params)
			if tt.resources != nil {
				n.Resources = tt.resources
			}
			_, err := r.DecodeNode(n)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if fault.ClassOf(err) != fault.Config {
				t.Errorf("class %v, want config", fault.ClassOf(err))
			}
		})
	}
}

func TestPythonRestParams(t *testing.T) {
	d, err := registry().DecodeNode(node(ir.Transform, "python", map[string]any{"fn": "m:f", "window_days": 30, "region": "eu"}))
	if err != nil {
		t.Fatal(err)
	}
	py := d.Params.(*builtin.PythonTransform)
	if want := map[string]any{"window_days": 30, "region": "eu"}; !reflect.DeepEqual(py.Rest, want) {
		t.Errorf("rest = %#v", py.Rest)
	}
	if py.Function() != "m:f" {
		t.Errorf("Function() = %q", py.Function())
	}
}

func TestRegistryValidateLocates(t *testing.T) {
	yaml := `api_version: aiflow/v1
pipeline: {id: p, env: dev}
nodes:
  - id: a
    source: onelake
    with:
      table: raw.orders
      formt: delta
  - id: s
    sink: onelake
    engine: arow
    inputs: [a]
    with:
      table: a.b
      partiton_by: [dt]
  - id: t
    transform: spark
    inputs: [a]
    resources: {executor_cores: 0}
    with: {sql: "SELECT 1"}
`
	specs, ps := ir.Parse("v.yaml", []byte(yaml), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	got := registry().Validate(specs[0])
	got.Sort()
	want := []string{
		`v.yaml:8: p/a: unknown field "formt" (did you mean "format"?)`,
		`v.yaml:9: p/s: unknown engine "arow" (did you mean "arrow"?) (known: arrow, flink, python, spark)`,
		`v.yaml:15: p/s: unknown field "partiton_by" (did you mean "partition_by"?)`,
		`v.yaml:16: p/t: resources.executor_cores: must be at least 1`,
	}
	var lines []string
	for _, p := range got {
		lines = append(lines, p.String())
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestExamplesDecode(t *testing.T) {
	specs, ps := ir.LoadPaths([]string{"../../examples"})
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if len(specs) < 3 {
		t.Fatalf("%d example specs", len(specs))
	}
	r := registry()
	for _, s := range specs {
		if ps := append(s.Check(ir.CheckOptions{}), r.Validate(s)...); len(ps) > 0 {
			t.Errorf("%s: %v", s.File, ps)
		}
	}
}
