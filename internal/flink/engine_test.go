package flink_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/plugin"
)

// workspace is a temporary AIFLOW_HOME (SQLite metadata, file:// staging the local cluster
// shares) whose flink nodes run on the test cluster and whose Kafka nodes use the test broker.
type workspace struct {
	t       *testing.T
	dir     string
	env     map[string]string
	brokers []string
}

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	gw := testenv.Require(t, testenv.FlinkGateway)
	brokers := testenv.Require(t, testenv.KafkaBrokers)
	dir := t.TempDir()
	return &workspace{t: t, dir: dir, brokers: strings.Split(brokers, ","), env: map[string]string{
		"AIFLOW_HOME":          filepath.Join(dir, ".aiflow"),
		"AIFLOW_FLINK_GATEWAY": gw,
		"AIFLOW_KAFKA_BROKERS": brokers,
		"AIFLOW_LOG_FORMAT":    "text",
		"AIFLOW_LOG_LEVEL":     "warn",
	}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (w *workspace) run(args ...string) result {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	code := cli.RunWith(&cli.Env{
		Ctx: ctx, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Registry: plugin.Default,
		Lookup: func(k string) (string, bool) { v, ok := w.env[k]; return v, ok },
	}, args)
	return result{code, stdout.String(), stderr.String()}
}

func (w *workspace) write(name, content string) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *workspace) client(opts ...kgo.Opt) *kgo.Client {
	w.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(w.brokers...)}, opts...)...)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(cl.Close)
	return cl
}

// topic creates a topic of this test (deleted at the end).
func (w *workspace) topic(prefix string, partitions int32) string {
	w.t.Helper()
	name := fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, rand.IntN(1000))
	adm := kadm.NewClient(w.client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := adm.CreateTopic(ctx, partitions, 1, nil, name)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		w.t.Fatalf("create topic %s: %v", name, err)
	}
	w.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, name)
	})
	return name
}

// produce writes the orders [from, to) round-robin over the topic's partitions, in one
// transaction when txn is set (and one aborted transaction of junk first, which a
// read_committed reader must skip).
func (w *workspace) produce(topic string, from, to int) {
	w.t.Helper()
	cl := w.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(order(i))})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		w.t.Fatal(err)
	}
}

var base = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

func order(i int) string {
	status := "paid"
	if i%4 == 0 {
		status = "cancelled"
	}
	return fmt.Sprintf(`{"user_id": %d, "status": %q, "amount": %d.25, "ts": %q}`,
		i%7, status, i%10, base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
}

type total struct {
	n   int64
	amt float64
}

// want is the per-user count and sum of the paid orders [from, to).
func want(from, to int) map[int64]total {
	out := map[int64]total{}
	for i := from; i < to; i++ {
		if i%4 == 0 {
			continue
		}
		t := out[int64(i%7)]
		t.n++
		t.amt += float64(i%10) + 0.25
		out[int64(i%7)] = t
	}
	return out
}

// readTotals reads user_id, n, total from a dataset.
func readTotals(t *testing.T, ds *dataset.Dataset) map[int64]total {
	t.Helper()
	rr, err := ds.Reader(context.Background(), memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	out := map[int64]total{}
	for rr.Next() {
		rec := rr.RecordBatch()
		sc := rec.Schema()
		col := func(name string) arrow.Array {
			idx := sc.FieldIndices(name)
			if len(idx) == 0 {
				t.Fatalf("no column %s in %s", name, sc)
			}
			return rec.Column(idx[0])
		}
		u, n, amt := col("user_id").(*array.Int64), col("n").(*array.Int64), col("total").(*array.Float64)
		for i := 0; i < int(rec.NumRows()); i++ {
			out[u.Value(i)] = total{n.Value(i), amt.Value(i)}
		}
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTotals(t *testing.T, what string, got, want map[int64]total) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d users, want %d (%v)", what, len(got), len(want), got)
	}
	for u, w := range want {
		if g := got[u]; g.n != w.n || g.amt != w.amt {
			t.Fatalf("%s: user %d: got %+v, want %+v", what, u, g, w)
		}
	}
}

// consumeCommitted counts what an independent read_committed consumer sees on topic.
func (w *workspace) consumeCommitted(topic string, want int) []string {
	w.t.Helper()
	cl := w.client(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []string
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	// Anything beyond want (a duplicate) arrives within a short grace.
	gctx, gcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer gcancel()
	cl.PollFetches(gctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	sort.Strings(out)
	return out
}

const batchPipeline = `api_version: aiflow/v1
pipeline: {id: flink_batch, schedule: null, owner: t, env: dev}
nodes:
  - id: orders
    source: kafka
    with: {topic: @TOPIC@, schema: {user_id: int64, status: string, amount: float64, ts: "timestamp[ms, tz=UTC]"}}
  - id: totals
    transform: flink
    inputs: [orders]
    with:
      sql: >
        SELECT user_id, COUNT(*) AS n, SUM(amount) AS total, MAX(ts) AS last_ts,
               MAX(` + "`offset`" + `) AS max_offset
        FROM orders WHERE status = 'paid' GROUP BY user_id
  - id: to_files
    sink: files
    inputs: [totals]
    with: {path: "@OUT@", mode: overwrite}
  - id: to_table
    sink: onelake
    inputs: [totals]
    with: {table: sales.user_totals, mode: overwrite}
  - id: to_topic
    sink: kafka
    inputs: [totals]
    with: {topic: @OUT_TOPIC@, key_column: user_id}
`

// Kafka → Flink SQL aggregation → files, a onelake (Delta) table and Kafka, in batch mode: the
// flink node reads exactly the offsets the source pinned (records produced after the pin are
// the next run's), a rerun of the committed run is a no-op, and the next run reads only the new
// records.
func TestBatchKafkaAggregation(t *testing.T) {
	w := newWorkspace(t)
	in, outTopic := w.topic("flink_orders", 3), w.topic("flink_totals", 1)
	out := filepath.Join(w.dir, "out")
	spec := w.write("p.yaml", strings.NewReplacer("@TOPIC@", in, "@OUT_TOPIC@", outTopic, "@OUT@", out).Replace(batchPipeline))
	// Run ids unique to this test run: the Kafka sink's ledger on the shared broker outlives it.
	r1, r2 := "r1_"+in, "r2_"+in
	w.produce(in, 0, 300)
	if r := w.run("validate", spec); r.code != 0 {
		t.Fatalf("validate: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := w.run("run", "--pipeline", "flink_batch", "--node", "orders", "--ir", spec, "--run-id", r1); r.code != 0 {
		t.Fatalf("pin: %d\n%s", r.code, r.stderr)
	}
	// Produced after the pin: not this run's.
	w.produce(in, 300, 400)
	for _, n := range []string{"totals", "to_files", "to_table", "to_topic"} {
		if r := w.run("run", "--pipeline", "flink_batch", "--node", n, "--ir", spec, "--run-id", r1); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", n, r.code, r.stderr)
		}
	}
	st := objstore.New(objstore.Options{})
	ds, err := dataset.Open(context.Background(), st, "file://"+out, dataset.ReadOptions{Format: dataset.Parquet})
	if err != nil {
		t.Fatal(err)
	}
	sameTotals(t, "files sink", readTotals(t, ds), want(0, 300))
	tds, _, err := delta.Open(context.Background(), delta.New(st, "file://"+filepath.Join(w.dir, ".aiflow", "lake", "sales", "user_totals")), nil)
	if err != nil {
		t.Fatal(err)
	}
	sameTotals(t, "onelake table", readTotals(t, tds), want(0, 300))
	if got := w.consumeCommitted(outTopic, len(want(0, 300))); len(got) != len(want(0, 300)) {
		t.Fatalf("kafka sink: %d records, want %d: %v", len(got), len(want(0, 300)), got)
	}
	// The committed node again: a no-op (exit 0, nothing rerun).
	if r := w.run("run", "--pipeline", "flink_batch", "--node", "totals", "--ir", spec, "--run-id", r1); r.code != 0 {
		t.Fatalf("rerun: %d\n%s", r.code, r.stderr)
	}
	// The next run starts where the sinks' commit moved the group: only orders 300..399.
	if r := w.run("run", "--pipeline", "flink_batch", "--all", "--ir", spec, "--run-id", r2); r.code != 0 {
		t.Fatalf("r2: %d\n%s", r.code, r.stderr)
	}
	ds, err = dataset.Open(context.Background(), st, "file://"+out, dataset.ReadOptions{Format: dataset.Parquet})
	if err != nil {
		t.Fatal(err)
	}
	sameTotals(t, "files sink, run 2", readTotals(t, ds), want(300, 400))
}
