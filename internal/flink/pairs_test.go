package flink_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

// pairInput is one way an input reaches a flink node: the YAML of the input node(s), ending
// with a node `in`.
type pairInput struct {
	kind, variant string
	nodes         string
}

const pairHead = `api_version: aiflow/v1
pipeline: {id: flink_pairs, schedule: null, owner: t, env: dev}
nodes:
`

const pairTail = `  - id: counted
    transform: flink
    inputs: [in]
    with: {sql: "SELECT COUNT(*) AS n, SUM(id) AS ids FROM ` + "`in`" + `"}
  - id: out
    sink: files
    inputs: [counted]
    with: {path: "@OUT@", mode: overwrite}
`

// TestEveryInputRunsOnFlink: every source kind that lists the flink engine, in each of its
// formats and value formats, and the output of each Go-side engine's transform, feeds a flink
// node that runs (what validates also runs): the node counts the rows and sums their ids. A
// source kind that starts listing flink fails the test until a case covers it.
func TestEveryInputRunsOnFlink(t *testing.T) {
	w := newWorkspace(t)
	ctx := context.Background()
	st := objstore.New(objstore.Options{})
	const rows = 30
	wantIDs := int64(rows * (rows - 1) / 2)
	// The same rows in every file format, and in a Delta and a Parquet lake table.
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "status", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	for i := 0; i < rows; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("s", i%3))
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	for _, f := range []dataset.Format{dataset.Parquet, dataset.CSV, dataset.NDJSON, dataset.IPC} {
		rr, _ := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
		if _, err := dataset.WriteFiles(ctx, st, "file://"+filepath.Join(w.dir, "in_"+string(f)), rr, dataset.WriteOptions{Format: f, FilePrefix: "part"}); err != nil {
			t.Fatal(err)
		}
		rr.Release()
	}
	lake := pairHead + `  - {id: src, source: files, with: {path: "` + filepath.Join(w.dir, "in_parquet") + `/", format: parquet}}
  - {id: to_delta, sink: onelake, inputs: [src], with: {table: pairs.delta_t, format: delta, mode: overwrite}}
  - {id: to_parquet, sink: onelake, inputs: [src], with: {table: pairs.parquet_t, format: parquet, mode: overwrite}}
`
	if r := w.run("run", "--pipeline", "flink_pairs", "--all", "--ir", w.write("lake.yaml", lake), "--run-id", "lake"); r.code != 0 {
		t.Fatalf("lake tables: exit %d\n%s", r.code, r.stderr)
	}
	topic := w.topic("flink_pairs", 2)
	var recs []*kgo.Record
	for i := 0; i < rows; i++ {
		recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf(`{"id": %d, "status": "s%d"}`, i, i%3))})
	}
	if err := w.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner())).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	file := func(format, dir string) string {
		f := ""
		if format != "" {
			f = ", format: " + format
		}
		return `  - {id: in, source: files, with: {path: "` + filepath.Join(w.dir, dir) + `/"` + f + `}}
`
	}
	// Each case reads the topic from its start with a group of its own (a committed run moves
	// its group past the records).
	groups := 0
	stream := func(kind, with string) string {
		groups++
		return `  - {id: in, source: ` + kind + `, with: {topic: ` + topic + `, group_id: ` + fmt.Sprintf("%s_g%d", topic, groups) + with + `}}
`
	}
	// raw values count and sum the offsets' ids through JSON_VALUE: the value is the bytes.
	cases := []pairInput{
		{"files", "parquet", file("parquet", "in_parquet")},
		{"files", "csv", file("csv", "in_csv")},
		{"files", "json", file("json", "in_ndjson")},
		{"files", "ipc", file("ipc", "in_ipc")},
		{"files", "from extensions", file("", "in_parquet")},
		{"onelake", "delta", `  - {id: in, source: onelake, with: {table: pairs.delta_t, format: delta}}
`},
		{"onelake", "parquet", `  - {id: in, source: onelake, with: {table: pairs.parquet_t, format: parquet}}
`},
		{"kafka", "json schema", stream("kafka", ", schema: {id: int64, status: string}")},
		{"kafka", "json inferred", stream("kafka", "")},
		{"onestream", "json schema", stream("onestream", ", schema: {id: int64, status: string}")},
		{"onestream", "raw", stream("onestream", ", value_format: raw")},
		{"engine", "arrow", file("parquet", "in_parquet") + `  - {id: x, transform: arrow, inputs: [in], with: {steps: [{filter: "id >= 0"}]}}
`},
	}
	r := plugin.NewRegistry()
	builtin.Register(r)
	var listing, covered []string
	for _, kind := range r.Kinds(plugin.RoleSource) {
		if s, _ := r.Lookup(plugin.RoleSource, kind); slices.Contains(s.Engines, flink.Name) {
			listing = append(listing, kind)
		}
	}
	for _, c := range cases {
		if c.kind != "engine" && !slices.Contains(covered, c.kind) {
			covered = append(covered, c.kind)
		}
	}
	sort.Strings(covered)
	if !slices.Equal(listing, covered) {
		t.Errorf("source kinds listing flink: %v; covered here: %v", listing, covered)
	}
	for i, c := range cases {
		t.Run(c.kind+"/"+c.variant, func(t *testing.T) {
			nodes := c.nodes
			tail := pairTail
			if c.kind == "engine" {
				tail = strings.Replace(tail, "inputs: [in]", "inputs: [x]", 1)
				tail = strings.Replace(tail, "FROM `in`", "FROM x", 1)
			}
			if c.variant == "raw" {
				tail = strings.Replace(tail, "SUM(id)", "SUM(CAST(JSON_VALUE(CAST(`value` AS STRING), '$.id') AS BIGINT))", 1)
			}
			out := filepath.Join(w.dir, fmt.Sprint("out", i))
			spec := w.write(fmt.Sprintf("pair%d.yaml", i), pairHead+nodes+strings.ReplaceAll(tail, "@OUT@", out))
			if r := w.run("validate", spec); r.code != 0 {
				t.Fatalf("validate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if r := w.run("run", "--pipeline", "flink_pairs", "--all", "--ir", spec, "--run-id", fmt.Sprintf("pair%d_%s", i, topic)); r.code != 0 {
				t.Fatalf("validates but does not run: exit %d\n%s", r.code, r.stderr)
			}
			ds, err := dataset.Open(ctx, st, "file://"+out, dataset.ReadOptions{Format: dataset.Parquet})
			if err != nil {
				t.Fatal(err)
			}
			rr, err := ds.Reader(ctx, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			defer rr.Release()
			if !rr.Next() {
				t.Fatalf("no output row: %v", rr.Err())
			}
			got := rr.RecordBatch()
			n, ids := got.Column(0).(*array.Int64).Value(0), got.Column(1).(*array.Int64).Value(0)
			if n != rows || ids != wantIDs {
				t.Fatalf("counted %d rows with ids summing to %d, want %d and %d", n, ids, rows, wantIDs)
			}
		})
	}
}
