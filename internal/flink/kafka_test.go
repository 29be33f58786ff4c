package flink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

const headersPipeline = `api_version: aiflow/v1
pipeline: {id: flink_headers, schedule: null, owner: t, env: dev}
nodes:
  - id: events
    source: kafka
    with: {topic: @TOPIC@, schema: {id: int64, headers_seen: string}}
  - id: picked
    transform: flink
    inputs: [events]
    with:
      sql: SELECT id, headers_seen, headers FROM events
  - id: out
    sink: files
    inputs: [picked]
    with: {path: "@OUT@", mode: overwrite}
`

// The headers column of a Kafka input: the record's headers as a JSON object in a string
// column, NULL for a record without any, as the arrow engine's Kafka reads give it; keys and
// values with quotes, non-ASCII and JSON punctuation, and empty values, survive.
func TestKafkaHeadersColumn(t *testing.T) {
	w := newWorkspace(t)
	in := w.topic("flink_headers", 2)
	out := filepath.Join(w.dir, "out")
	spec := w.write("p.yaml", strings.NewReplacer("@TOPIC@", in, "@OUT@", out).Replace(headersPipeline))
	want := map[int64]map[string]string{}
	var recs []*kgo.Record
	for i := 0; i < 40; i++ {
		r := &kgo.Record{Value: []byte(fmt.Sprintf(`{"id": %d, "headers_seen": "v%d"}`, i, i))}
		switch i % 3 {
		case 0: // no headers: NULL
		case 1:
			r.Headers = []kgo.RecordHeader{{Key: "trace", Value: []byte(fmt.Sprint("t-", i))}}
		case 2:
			r.Headers = []kgo.RecordHeader{{Key: "source", Value: []byte("crm")}, {Key: "ünï \"q\"", Value: []byte("é,{}")}, {Key: "empty", Value: []byte{}}}
		}
		if len(r.Headers) > 0 {
			want[int64(i)] = map[string]string{}
			for _, h := range r.Headers {
				want[int64(i)][h.Key] = string(h.Value)
			}
		}
		recs = append(recs, r)
	}
	cl := w.client(kgo.DefaultProduceTopic(in), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r := w.run("run", "--pipeline", "flink_headers", "--all", "--ir", spec, "--run-id", "r_"+in); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	ds, err := dataset.Open(context.Background(), objstore.New(objstore.Options{}), "file://"+out, dataset.ReadOptions{Format: dataset.Parquet})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := ds.Reader(context.Background(), memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	if f, ok := rr.Schema().FieldsByName("headers"); !ok || f[0].Type.ID() != arrow.STRING {
		t.Fatalf("headers column: %v", rr.Schema())
	}
	seen := 0
	for rr.Next() {
		rec := rr.RecordBatch()
		ids := rec.Column(0).(*array.Int64)
		vals := rec.Column(1).(*array.String)
		hs := rec.Column(2).(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			id := ids.Value(i)
			seen++
			if vals.Value(i) != fmt.Sprint("v", id) {
				t.Errorf("id %d: value column %q", id, vals.Value(i))
			}
			w, has := want[id]
			if !has {
				if !hs.IsNull(i) {
					t.Errorf("id %d: no headers, got %q, want NULL", id, hs.Value(i))
				}
				continue
			}
			if hs.IsNull(i) {
				t.Errorf("id %d: headers NULL, want %v", id, w)
				continue
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(hs.Value(i)), &got); err != nil {
				t.Errorf("id %d: headers %q is no JSON object of strings: %v", id, hs.Value(i), err)
				continue
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("id %d: headers %v, want %v", id, got, w)
			}
		}
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != len(recs) {
		t.Fatalf("%d rows, want %d", seen, len(recs))
	}
}

const recreatedPipeline = `api_version: aiflow/v1
pipeline: {id: flink_recreated, schedule: null, owner: t, env: dev}
nodes:
  - id: orders
    source: kafka
    with: {topic: @TOPIC@, schema: {user_id: int64, status: string, amount: float64, ts: "timestamp[ms, tz=UTC]"}}
  - id: totals
    transform: flink
    inputs: [orders]
    with: {sql: "SELECT user_id, COUNT(*) AS n FROM orders GROUP BY user_id"}
`

// A pinned topic deleted (and, second case, created again under its name with new records at
// the same offsets) before the flink node reads it: the node fails with 65 naming the topic,
// as the arrow engine's reads do, instead of reading other records under the pinned offsets.
func TestPinnedTopicGoneOrRecreated(t *testing.T) {
	for _, recreate := range []bool{false, true} {
		t.Run(fmt.Sprint("recreate=", recreate), func(t *testing.T) {
			w := newWorkspace(t)
			in := w.topic("flink_recreated", 1)
			spec := w.write("p.yaml", strings.ReplaceAll(recreatedPipeline, "@TOPIC@", in))
			run := "r_" + in
			w.produce(in, 0, 50)
			if r := w.run("run", "--pipeline", "flink_recreated", "--node", "orders", "--ir", spec, "--run-id", run); r.code != 0 {
				t.Fatalf("pin: exit %d\n%s", r.code, r.stderr)
			}
			adm := kadm.NewClient(w.client())
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := adm.DeleteTopics(ctx, in); err != nil {
				t.Fatal(err)
			}
			wantMsg := "was deleted since it was pinned"
			for !recreate { // deletion completes asynchronously: wait until the broker lists it no more
				td, err := adm.ListTopics(ctx, in)
				if err == nil && !td.Has(in) {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("delete %s: still listed (%v)", in, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if recreate {
				for { // deletion completes asynchronously: create again until the broker accepts the name
					r, err := adm.CreateTopic(ctx, 1, 1, nil, in)
					if err == nil && r.Err == nil {
						break
					}
					if ctx.Err() != nil {
						t.Fatalf("recreate %s: %v %v", in, err, r.Err)
					}
					time.Sleep(200 * time.Millisecond)
				}
				w.produce(in, 0, 50)
				wantMsg = "created again"
			}
			r := w.run("run", "--pipeline", "flink_recreated", "--node", "totals", "--ir", spec, "--run-id", run)
			if r.code != 65 {
				t.Fatalf("exit %d, want 65\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, wantMsg) || !strings.Contains(r.stderr, in) {
				t.Fatalf("the error does not say %q about %s:\n%s", wantMsg, in, r.stderr)
			}
		})
	}
}

const noSchemaPipeline = `api_version: aiflow/v1
pipeline: {id: flink_noschema, schedule: null, owner: t, env: dev}
nodes:
  - id: events
    source: kafka
    with: {topic: @TOPIC@}
  - id: counted
    transform: flink
    inputs: [events]
    with: {sql: "SELECT COUNT(*) AS n FROM events"}
  - id: out
    sink: files
    inputs: [counted]
    with: {path: "@OUT@", mode: overwrite}
`

// A topic read without a declared schema: a first run on an empty topic (nothing to infer the
// value columns from) counts 0 as the arrow engine would, instead of failing; the next run
// infers the columns from the records and counts them.
func TestKafkaWithoutSchema(t *testing.T) {
	w := newWorkspace(t)
	in := w.topic("flink_noschema", 2)
	out := filepath.Join(w.dir, "out")
	spec := w.write("p.yaml", strings.NewReplacer("@TOPIC@", in, "@OUT@", out).Replace(noSchemaPipeline))
	count := func() int64 {
		t.Helper()
		ds, err := dataset.Open(context.Background(), objstore.New(objstore.Options{}), "file://"+out, dataset.ReadOptions{Format: dataset.Parquet})
		if err != nil {
			t.Fatal(err)
		}
		rr, err := ds.Reader(context.Background(), memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		defer rr.Release()
		var n []int64
		for rr.Next() {
			n = append(n, rr.RecordBatch().Column(0).(*array.Int64).Int64Values()...)
		}
		if len(n) != 1 {
			t.Fatalf("counts %v, want one row", n)
		}
		return n[0]
	}
	if r := w.run("run", "--pipeline", "flink_noschema", "--all", "--ir", spec, "--run-id", "r1_"+in); r.code != 0 {
		t.Fatalf("empty topic: exit %d\n%s", r.code, r.stderr)
	}
	if n := count(); n != 0 {
		t.Fatalf("empty topic: counted %d", n)
	}
	w.produce(in, 0, 25)
	if r := w.run("run", "--pipeline", "flink_noschema", "--all", "--ir", spec, "--run-id", "r2_"+in); r.code != 0 {
		t.Fatalf("inferred schema: exit %d\n%s", r.code, r.stderr)
	}
	if n := count(); n != 25 {
		t.Fatalf("inferred schema: counted %d, want 25", n)
	}
}
