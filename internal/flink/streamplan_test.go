package flink_test

import (
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

const streamHead = "api_version: aiflow/v1\npipeline: {id: p, env: dev, mode: streaming}\nnodes:\n"

const (
	streamSrc = `  - id: in
    source: kafka
    with: {topic: orders, schema: {id: int64, amount: float64}}
`
	streamFlink = `  - id: agg
    transform: flink
    inputs: [in]
    with: {sql: "SELECT id, amount FROM %s", checkpoint_interval: 2s}
`
	streamSink = `  - id: out
    sink: kafka
    inputs: [agg]
    with: {topic: totals}
`
)

func streamSpec(t *testing.T, nodes string) (*ir.Spec, *plugin.Registry, ir.Problems) {
	t.Helper()
	specs, ps := ir.Parse("s.yaml", []byte(streamHead+nodes), false)
	if len(ps) > 0 {
		t.Fatalf("%v\n%s", ps, nodes)
	}
	r := builtin.Registry()
	return specs[0], r, append(specs[0].Check(ir.CheckOptions{}), r.Validate(specs[0])...)
}

// TestValidateStreaming: a streaming pipeline holds only what its Flink job runs (kafka and
// onestream sources with a declared schema, flink transforms with one set of job settings,
// the sinks of flink.StreamSinks); everything else is refused at validate on its own line.
func TestValidateStreaming(t *testing.T) {
	flinkIn := strings.ReplaceAll(streamFlink, "%s", "`in`")
	for _, tc := range []struct {
		name, nodes string
		want        []string // prefixes of the problems, in order; none for a valid spec
	}{
		{"kafka to kafka", streamSrc + flinkIn + streamSink, nil},
		{"onestream raw", strings.Replace(strings.Replace(streamSrc, "kafka", "onestream", 1), "schema: {id: int64, amount: float64}", "value_format: raw", 1) +
			strings.Replace(flinkIn, "id, amount", "`value`", 1) + streamSink, nil},
		{"source straight to sink", streamSrc + strings.Replace(streamSink, "[agg]", "[in]", 1), nil},
		{"files source", strings.Replace(streamSrc, "source: kafka\n    with: {topic: orders, schema: {id: int64, amount: float64}}", "source: files\n    with: {path: /tmp/x, format: csv}", 1) + flinkIn + streamSink,
			[]string{"s.yaml:4: p/in: a streaming pipeline reads onestream or kafka sources, not files"}},
		{"no schema", strings.Replace(streamSrc, ", schema: {id: int64, amount: float64}", "", 1) + flinkIn + streamSink,
			[]string{"s.yaml:4: p/in: schema: a streaming source declares its value schema"}},
		{"value fields named like Kafka columns", strings.Replace(streamSrc, "amount: float64", "amount: float64, headers: string, offset: int64, aiflow_key: string", 1) + flinkIn + streamSink,
			[]string{"s.yaml:6: p/in: schema: column aiflow_key: the source's rows", "s.yaml:6: p/in: schema: column headers: the source's rows", "s.yaml:6: p/in: schema: column offset: the source's rows"}},
		{"timestamp start, max_records, dead letter", strings.Replace(streamSrc, "}}", "}, starting_offsets: \"timestamp:1\", max_records: 5, on_error: dead_letter, dead_letter: \"kafka://dl\"}", 1) + flinkIn + streamSink,
			[]string{"s.yaml:6: p/in: max_records: a streaming source is unbounded", "s.yaml:6: p/in: on_error: a streaming job", "s.yaml:6: p/in: starting_offsets: a streaming source", "s.yaml:7: p/agg: input in: kafka source with on_error: dead_letter"}},
		{"arrow transform", streamSrc + "  - id: agg\n    transform: arrow\n    inputs: [in]\n    with: {steps: [{select: [id]}]}\n" + streamSink,
			[]string{"s.yaml:7: p/agg: a streaming pipeline runs its transforms on flink, not arrow"}},
		{"files sink", streamSrc + flinkIn + "  - id: out\n    sink: files\n    inputs: [agg]\n    with: {path: /tmp/y, format: parquet}\n",
			[]string{"s.yaml:11: p/out: a streaming pipeline writes kafka or onelake sinks, not files"}},
		{"lake sink", streamSrc + flinkIn + "  - id: out\n    sink: onelake\n    inputs: [agg]\n    with: {table: sales.totals, mode: append}\n", nil},
		{"lake sink overwrite", streamSrc + flinkIn + "  - id: out\n    sink: onelake\n    inputs: [agg]\n    with: {table: sales.totals}\n",
			[]string{"s.yaml:11: p/out: mode: a streaming pipeline's lake sink appends each load of the job's output: set mode: append (not overwrite (the default))"}},
		{"templated topic", streamSrc + flinkIn + strings.Replace(streamSink, "topic: totals", "topic: \"totals_{{ ds_nodash }}\"", 1),
			[]string{"s.yaml:14: p/out: topic: a streaming sink writes one topic"}},
		{"zstd sink", streamSrc + flinkIn + strings.Replace(streamSink, "topic: totals", "topic: totals, compression: zstd", 1),
			[]string{"s.yaml:14: p/out: compression: a streaming job writes none or gzip"}},
		{"gzip sink", streamSrc + flinkIn + strings.Replace(streamSink, "topic: totals", "topic: totals, compression: gzip", 1), nil},
		{"no sink", streamSrc + flinkIn, []string{"s.yaml:2: p: a streaming pipeline needs at least one sink"}},
		{"engine on a source", strings.Replace(streamSrc, "source: kafka\n", "source: kafka\n    engine: arrow\n", 1) + flinkIn + streamSink,
			[]string{"s.yaml:4: p/in: a streaming pipeline runs every node in its Flink job: drop engine: arrow"}},
		{"two job settings", streamSrc + flinkIn + strings.Replace(strings.Replace(strings.Replace(flinkIn, "agg", "agg2", 1), "2s", "5s", 1), "FROM `in`", "FROM agg", 1) + strings.Replace(streamSink, "[agg]", "[agg2]", 1),
			[]string{"s.yaml:11: p/agg2: the flink nodes of a streaming pipeline are one job"}},
		{"bad interval", streamSrc + strings.Replace(flinkIn, "2s", "2 seconds", 1) + streamSink,
			[]string{"s.yaml:10: p/agg: checkpoint_interval: \"2 seconds\" is not a duration"}},
		{"checkpoint setting", streamSrc + strings.Replace(flinkIn, "checkpoint_interval: 2s", "settings: {execution.checkpointing.interval: 1s}", 1) + streamSink,
			[]string{"s.yaml:10: p/agg: settings: \"execution.checkpointing.interval\": use checkpoint_interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, got := streamSpec(t, tc.nodes)
			if len(got) != len(tc.want) {
				t.Fatalf("problems %v, want %d: %q\n%s", got, len(tc.want), tc.want, tc.nodes)
			}
			got.Sort()
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i].String(), w) {
					t.Errorf("problem %d is %q, want it to start %q", i, got[i], w)
				}
			}
		})
	}
}

// TestValidateModes: the mode is a pipeline field; a typo gets the mode meant; a registry with
// no streaming runtime refuses a streaming pipeline at its mode line; batch stays as it was.
func TestValidateModes(t *testing.T) {
	nodes := streamSrc + strings.ReplaceAll(streamFlink, "%s", "`in`") + streamSink
	for _, tc := range []struct {
		name, head string
		reg        *plugin.Registry
		want       string
	}{
		{"typo", "pipeline:\n  id: p\n  env: dev\n  mode: streamin\n", nil, `s.yaml:5: p: mode "streamin" is not batch or streaming (did you mean "streaming"?)`},
		{"not a string", "pipeline:\n  id: p\n  env: dev\n  extra: {mode: 3}\n", nil, "s.yaml:5: p: mode must be a string (batch or streaming), not 3"},
		{"in extra", "pipeline:\n  id: p\n  env: dev\n  extra: {mode: stream}\n", nil, `s.yaml:5: p: mode "stream" is not batch or streaming`},
		{"no streaming runtime", "pipeline:\n  id: p\n  env: dev\n  mode: streaming\n", builtin.Registry().Without(plugin.RoleEngine, "spark"), ""},
		{"batch", "pipeline:\n  id: p\n  env: dev\n  mode: batch\n", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs, ps := ir.Parse("s.yaml", []byte("api_version: aiflow/v1\n"+tc.head+"nodes:\n"+nodes), false)
			if len(ps) > 0 {
				t.Fatal(ps)
			}
			r := tc.reg
			if r == nil {
				r = builtin.Registry()
			}
			got := append(specs[0].Check(ir.CheckOptions{}), r.Validate(specs[0])...)
			if tc.want == "" {
				if len(got) > 0 {
					t.Fatal(got)
				}
				return
			}
			if len(got) != 1 || got[0].String() != tc.want {
				t.Fatalf("got %v, want %q", got, tc.want)
			}
		})
	}
	// A registry without the streaming mode (a runner built without the flink engine).
	r := plugin.NewRegistry()
	for _, role := range plugin.Roles {
		for _, k := range builtin.Registry().Kinds(role) {
			s, _ := builtin.Registry().Lookup(role, k)
			r.Register(plugin.Spec{Kind: s.Kind, Role: s.Role, New: s.New, NewResources: s.NewResources})
		}
	}
	specs, _ := ir.Parse("s.yaml", []byte("api_version: aiflow/v1\npipeline:\n  id: p\n  env: dev\n  mode: streaming\nnodes:\n"+nodes), false)
	if got := r.Validate(specs[0]); len(got) != 1 || got[0].String() != "s.yaml:5: p: mode streaming: no plugin of this runner runs streaming pipelines" {
		t.Fatalf("without a streaming runtime: %v", got)
	}
}

// TestPlanStream: the job of a streaming pipeline: an unbounded read_committed source table per
// source (with the batch read's columns), a view per flink node, an exactly-once sink per sink
// whose transactional-id prefix is the pipeline's and the node's, and the job settings.
func TestPlanStream(t *testing.T) {
	spec, r, ps := streamSpec(t, streamSrc+strings.ReplaceAll(streamFlink, "%s", "`in`")+strings.Replace(streamSink, "{topic: totals}", "{topic: totals, key_column: id}", 1))
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	job, err := flink.PlanStream(r, spec.Pipeline, &config.Config{KafkaBrokers: []string{"b:9092"}})
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "aiflow-stream p" || job.Settings["execution.checkpointing.interval"] != "2000ms" {
		t.Errorf("job %q settings %v", job.Name, job.Settings)
	}
	all := strings.Join(job.Statements, "\n")
	for _, want := range []string{
		"CREATE TEMPORARY TABLE `aiflow_in_in` (`aiflow_key` STRING, `aiflow_partition` INT METADATA FROM 'partition' VIRTUAL",
		"`aiflow_headers` MAP<STRING, BYTES> METADATA FROM 'headers' VIRTUAL",
		"`amount` DOUBLE, `id` BIGINT)",
		"'properties.group.id' = 'aiflow.p.in'", "'properties.isolation.level' = 'read_committed'", "'scan.startup.mode' = 'group-offsets'",
		"'properties.auto.offset.reset' = 'earliest'",
		"CREATE TEMPORARY VIEW `in` AS SELECT `aiflow_key` AS `key`, `aiflow_partition` AS `partition`, `aiflow_offset` AS `offset`, `aiflow_timestamp` AS `timestamp`, " +
			"CASE WHEN `aiflow_headers` IS NULL OR CARDINALITY(`aiflow_headers`) = 0 THEN CAST(NULL AS STRING) ELSE JSON_STRING(CAST(`aiflow_headers` AS MAP<STRING, STRING>)) END AS `headers`, `amount`, `id` FROM `aiflow_in_in`",
		"CREATE TEMPORARY VIEW `agg` AS SELECT id, amount FROM `in`",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("statements lack %q:\n%s", want, all)
		}
	}
	if len(job.Sinks) != 1 {
		t.Fatalf("sinks %+v", job.Sinks)
	}
	k := job.Sinks[0]
	if k.Input != "agg" || k.KeyColumn != "id" || k.Options["sink.delivery-guarantee"] != "exactly-once" || k.Options["sink.transactional-id-prefix"] != "aiflow-p-out" || k.Options["topic"] != "totals" {
		t.Errorf("sink %+v", k)
	}
	batch, _ := ir.Parse("b.yaml", []byte(strings.Replace(streamHead, ", mode: streaming", "", 1)+streamSrc), false)
	if _, err := flink.PlanStream(r, batch[0].Pipeline, &config.Config{}); err == nil {
		t.Error("a batch pipeline planned as a stream")
	}
}
