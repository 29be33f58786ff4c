package kafka_test

// Integration tests against the real broker and PostgreSQL that `make test` starts: the streaming
// example end to end through the CLI, the Kafka sink's exactly-once, and the faults of issue #6.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/internal/kafka"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/plugin"
)

type ws struct {
	t   *testing.T
	dir string
	env map[string]string
}

func newWS(t *testing.T, brokers string) *ws {
	dir := t.TempDir()
	return &ws{t: t, dir: dir, env: map[string]string{
		"AIFLOW_HOME": filepath.Join(dir, ".aiflow"), "AIFLOW_LOG_FORMAT": "text", "AIFLOW_LOG_LEVEL": "warn",
		"AIFLOW_KAFKA_BROKERS": brokers, "AIFLOW_TERMINATION_LOG": filepath.Join(dir, "termination"),
	}}
}

func (w *ws) write(name, content string) string {
	p := filepath.Join(w.dir, name)
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

type res struct {
	code           int
	stdout, stderr string
}

func (w *ws) run(args ...string) res {
	var so, se bytes.Buffer
	code := cli.RunWith(&cli.Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &so, Stderr: &se, Registry: plugin.Default,
		Lookup: func(k string) (string, bool) { v, ok := w.env[k]; return v, ok }}, args)
	return res{code, so.String(), se.String()}
}

func (w *ws) must(args ...string) {
	w.t.Helper()
	r := w.run(args...)
	if r.code != 0 {
		w.t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
	}
	if testing.Verbose() {
		w.t.Logf("%v:\n%s%s", args, r.stdout, r.stderr)
	}
}

func services(t *testing.T) (brokers []string, dsn string) {
	b := testenv.Require(t, testenv.KafkaBrokers)
	return strings.Split(b, ","), testenv.Require(t, testenv.PostgresDSN)
}

func uniq(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, rand.IntN(1000))
}

func createTopic(t *testing.T, brokers []string, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(client(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, topic)
	})
}

// produceEvents writes events i in [from, to) round-robin over the topic's partitions; every
// 97th is undecodable when poison is set. It returns the expected per-user aggregates.
func produceEvents(t *testing.T, brokers []string, topic string, from, to int, poison bool) {
	t.Helper()
	cl := client(t, brokers, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		v := eventJSON(i)
		if poison && i%97 == 0 {
			v = fmt.Sprintf(`{"user_id": "u%d", "kind": "purchase"}`, i)
		}
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 50)), Value: []byte(v)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

var base = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

func eventJSON(i int) string {
	kind := "view"
	if i%3 != 0 {
		kind = "purchase"
	}
	return fmt.Sprintf(`{"user_id": %d, "kind": %q, "amount": %d, "event_time": %q, "pad": %q}`,
		i%50, kind, i%10, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), strings.Repeat("x", 20))
}

type agg struct {
	n   int64
	amt float64
	ts  time.Time
}

// expected aggregates the purchases of events [from, to) (poison every 97th skipped).
func expected(from, to int) map[int64]agg {
	out := map[int64]agg{}
	for i := from; i < to; i++ {
		if i%97 == 0 || i%3 == 0 {
			continue
		}
		a := out[int64(i%50)]
		a.n++
		a.amt += float64(i % 10)
		if ts := base.Add(time.Duration(i) * time.Second); ts.After(a.ts) {
			a.ts = ts
		}
		out[int64(i%50)] = a
	}
	return out
}

func featureRows(t *testing.T, dsn, table string) map[int64]agg {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT user_id, purchases, amount, event_time FROM "public".`+pgx.Identifier{table}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]agg{}
	for rows.Next() {
		var u int64
		var a agg
		if err := rows.Scan(&u, &a.n, &a.amt, &a.ts); err != nil {
			t.Fatal(err)
		}
		a.ts = a.ts.UTC()
		out[u] = a
	}
	return out
}

func sameAggs(t *testing.T, got, want map[int64]agg) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("feature store holds %d users, want %d", len(got), len(want))
	}
	for u, w := range want {
		if g := got[u]; g.n != w.n || g.amt != w.amt || !g.ts.Equal(w.ts) {
			t.Fatalf("user %d: got %+v, want %+v", u, g, w)
		}
	}
}

func groupOffsets(t *testing.T, brokers []string, group, topic string) int64 {
	t.Helper()
	adm := kadm.NewClient(client(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	os, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, ps := range os[topic] {
		n += ps.At
	}
	return n
}

func streamingSpec(w *ws, topic, table string) string {
	b, err := os.ReadFile("../../examples/streaming/pipeline.yaml")
	if err != nil {
		w.t.Fatal(err)
	}
	s := strings.NewReplacer("topic: user_events", "topic: "+topic, "kafka://user_events.dlq", "kafka://"+topic+".dlq",
		"feature_group: user_purchase_features", "feature_group: "+table).Replace(string(b))
	return w.write("spec/streaming.yaml", s)
}

// TestStreamingPipeline runs examples/streaming (onestream → arrow → feature_store) against the
// real broker and PostgreSQL, with the metadata in SQLite (ledger path) and in the feature
// store's PostgreSQL (one-transaction path): two runs, a rerun that is a no-op, offsets committed
// after the sink, newer event time winning.
func TestStreamingPipeline(t *testing.T) {
	brokers, dsn := services(t)
	for _, meta := range []string{"sqlite", "postgres"} {
		t.Run(meta, func(t *testing.T) {
			topic, table := uniq("events"), uniq("user_purchase_features")
			createTopic(t, brokers, topic, 3)
			createTopic(t, brokers, topic+".dlq", 1)
			t.Setenv("AIFLOW_FEATURE_STORE_DSN", dsn)
			w := newWS(t, strings.Join(brokers, ","))
			if meta == "postgres" {
				w.env["AIFLOW_METADATA_DSN"] = dsn
			}
			spec := streamingSpec(w, topic, table)
			group := "aiflow.streaming_user_features.user_events"
			r1, r2 := uniq("r1"), uniq("r2") // the PostgreSQL metadata store outlives the test
			produceEvents(t, brokers, topic, 0, 3000, true)

			w.must("run", "--pipeline", "streaming_user_features", "--all", "--ir", spec, "--run-id", r1)
			sameAggs(t, featureRows(t, dsn, table), expected(0, 3000))
			if n := groupOffsets(t, brokers, group, topic); n != 3000 {
				t.Fatalf("group committed %d offsets after run 1, want 3000", n)
			}
			dlq := pinned(t, brokers, topic+".dlq", uniq("g"), "earliest", 0, kafka.ValueSpec{ValueFormat: "raw"})
			if offs, _, _, err := readAll(t, dlq, "value"); err != nil || len(offs) != 31 {
				t.Fatalf("dead letters: %d (%v), want 31", len(offs), err)
			}
			// The same run again: every node is a no-op.
			w.must("run", "--pipeline", "streaming_user_features", "--all", "--ir", spec, "--run-id", r1)
			sameAggs(t, featureRows(t, dsn, table), expected(0, 3000))

			// Run 2 reads only the new records; each user's row is replaced by the newer aggregate.
			produceEvents(t, brokers, topic, 3000, 4500, true)
			w.must("run", "--pipeline", "streaming_user_features", "--all", "--ir", spec, "--run-id", r2)
			sameAggs(t, featureRows(t, dsn, table), expected(3000, 4500))
			if n := groupOffsets(t, brokers, group, topic); n != 4500 {
				t.Fatalf("group committed %d offsets after run 2, want 4500", n)
			}
			// An older run replayed never wins over newer event times (upsert keeps the newer row).
			r := w.run("runs", "show", r2, "--pipeline", "streaming_user_features")
			if r.code != 0 {
				t.Fatalf("runs show: %d %s", r.code, r.stderr)
			}
		})
	}
}

// TestKilledAfterSinkCommitBeforeOffsets: the sink commits, then the pod dies before the offsets
// are committed (here: the broker is down, so the offset commit fails, exit 75). The retry is a
// no-op that commits the offsets.
func TestKilledAfterSinkCommitBeforeOffsets(t *testing.T) {
	_, dsn := services(t)
	brokers, home := privateBroker(t)
	topic, table := uniq("events"), uniq("features")
	createTopic(t, brokers, topic, 2)
	createTopic(t, brokers, topic+".dlq", 1)
	t.Setenv("AIFLOW_FEATURE_STORE_DSN", dsn)
	w := newWS(t, strings.Join(brokers, ","))
	spec := streamingSpec(w, topic, table)
	produceEvents(t, brokers, topic, 0, 1000, true)
	runK1 := uniq("k1") // the ledgers outlive the test
	run := func(node string, try int) res {
		return w.run("run", "--pipeline", "streaming_user_features", "--node", node, "--ir", spec, "--run-id", runK1, "--try", fmt.Sprint(try))
	}
	for _, n := range []string{"user_events", "purchases_by_user"} {
		if r := run(n, 1); r.code != 0 {
			t.Fatalf("%s: %d %s", n, r.code, r.stderr)
		}
	}
	restart(t, home, func() {
		r := run("user_purchase_features", 1)
		if r.code != 75 {
			t.Fatalf("sink with the broker down: exit %d, want 75 (offset commit failed after the commit)\n%s", r.code, r.stderr)
		}
	})
	sameAggs(t, featureRows(t, dsn, table), expected(0, 1000))
	group := "aiflow.streaming_user_features.user_events"
	if n := groupOffsets(t, brokers, group, topic); n != 0 {
		t.Fatalf("offsets committed before the retry: %d", n)
	}
	if r := run("user_purchase_features", 2); r.code != 0 {
		t.Fatalf("retry: exit %d\n%s", r.code, r.stderr)
	}
	sameAggs(t, featureRows(t, dsn, table), expected(0, 1000))
	if n := groupOffsets(t, brokers, group, topic); n != 1000 {
		t.Fatalf("offsets after the retry: %d, want 1000", n)
	}
}

var restartMu sync.Mutex

// restart stops the test broker, runs during (if any) while it is down, and starts it again.
func restart(t *testing.T, home string, during func()) {
	t.Helper()
	restartMu.Lock()
	defer restartMu.Unlock()
	if out, err := exec.Command(filepath.Join(home, "stop.sh")).CombinedOutput(); err != nil {
		t.Fatalf("stop broker: %v %s", err, out)
	}
	defer func() {
		if out, err := exec.Command(filepath.Join(home, "start.sh")).CombinedOutput(); err != nil {
			t.Fatalf("start broker: %v %s", err, out)
		}
	}()
	if during != nil {
		during()
	}
}

const sinkSpec = `api_version: aiflow/v1
pipeline: {id: kafka_out, owner: me, env: dev}
nodes:
  - id: src
    source: kafka
    with: {topic: IN, value_format: json}
  - id: out
    sink: kafka
    inputs: [src]
    with: {topic: OUT, key_column: user_id, compression: COMP}
`

// countCommitted reads a topic read-committed and returns the records per value, failing on a
// duplicate.
func countCommitted(t *testing.T, brokers []string, topic string, want int) int {
	t.Helper()
	// Transaction markers are written just after EndTxn returns: wait for the last stable offset.
	var n int
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if n = countOnce(t, brokers, topic); n >= want {
			break
		}
	}
	return n
}

func countOnce(t *testing.T, brokers []string, topic string) int {
	t.Helper()
	m := pinned(t, brokers, topic, uniq("check"), "earliest", 0, kafka.ValueSpec{ValueFormat: "json", Fields: []kafka.ValueField{{Name: "i", Field: "i", Type: "int64"}}})
	_, vals, _, err := readAll(t, m, "i")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range vals {
		if seen[v] {
			t.Fatalf("value i=%s written twice to %s", v, topic)
		}
		seen[v] = true
	}
	return len(vals)
}

func produceSeq(t *testing.T, brokers []string, topic string, n int) {
	t.Helper()
	cl := client(t, brokers, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	const chunk = 10000
	for s := 0; s < n; s += chunk {
		var recs []*kgo.Record
		for i := s; i < min(n, s+chunk); i++ {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, `{"i": %d, "user_id": %d, "pad": %q}`, i, i%100, strings.Repeat("p", 200))})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKafkaSinkExactlyOnce: a rerun is a no-op, and a run whose transaction committed but whose
// metadata commit was lost (a fresh metadata store, same run id) finds its ledger record and
// writes nothing.
func TestKafkaSinkExactlyOnce(t *testing.T) {
	brokers, _ := services(t)
	in, out := uniq("in"), uniq("out")
	createTopic(t, brokers, in, 2)
	createTopic(t, brokers, out, 3)
	produceSeq(t, brokers, in, 5000)
	w := newWS(t, strings.Join(brokers, ","))
	runX1 := uniq("x1") // the ledger topic outlives the test
	spec := w.write("spec/k.yaml", strings.NewReplacer("IN", in, "OUT", out, "COMP", "zstd").Replace(sinkSpec))
	w.must("run", "--pipeline", "kafka_out", "--all", "--ir", spec, "--run-id", runX1)
	w.must("run", "--pipeline", "kafka_out", "--all", "--ir", spec, "--run-id", runX1)
	if n := countCommitted(t, brokers, out, 5000); n != 5000 {
		t.Fatalf("%d records, want 5000", n)
	}
	// Lose the metadata: the Kafka transaction of x1 stands, the ledger says so.
	// The same run id in a fresh metadata store, with a fresh group so the source pins the same
	// 5000 records again: without the ledger they would be written a second time.
	w2 := newWS(t, strings.Join(brokers, ","))
	spec = w2.write("spec/k.yaml", strings.Replace(strings.NewReplacer("IN", in, "OUT", out, "COMP", "zstd").Replace(sinkSpec),
		"value_format: json}", "value_format: json, group_id: "+uniq("fresh")+"}", 1))
	w2.must("run", "--pipeline", "kafka_out", "--node", "src", "--ir", spec, "--run-id", runX1, "--try", "1")
	w2.must("run", "--pipeline", "kafka_out", "--node", "out", "--ir", spec, "--run-id", runX1, "--try", "2")
	if n := countCommitted(t, brokers, out, 5000); n != 5000 {
		t.Fatalf("after the lost metadata commit: %d records, want 5000", n)
	}
}

// TestBrokerRestartDuringWriteAndRead restarts the broker while a sink produces and while a
// transform reads a pinned range; the node is retried (as Airflow would) until it succeeds, and
// a read-committed consumer sees every record exactly once.
func TestBrokerRestartDuringWriteAndRead(t *testing.T) {
	services(t)
	brokers, home := privateBroker(t)
	const n = 200_000
	in, out := uniq("in"), uniq("out")
	createTopic(t, brokers, in, 3)
	createTopic(t, brokers, out, 3)
	produceSeq(t, brokers, in, n)
	w := newWS(t, strings.Join(brokers, ","))
	spec := w.write("spec/k.yaml", strings.NewReplacer("IN", in, "OUT", out, "COMP", "lz4").Replace(sinkSpec))
	runRR, runRD := uniq("rr"), uniq("rd")
	w.must("run", "--pipeline", "kafka_out", "--node", "src", "--ir", spec, "--run-id", runRR, "--try", "1")

	// Write (the sink reads the range and produces): restart the broker shortly after it starts.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Restart as soon as the sink's first records reach the broker (uncommitted).
		adm := kadm.NewClient(client(t, brokers))
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			ends, err := adm.ListEndOffsets(context.Background(), out)
			var n int64
			if err == nil {
				ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
			}
			if n > 0 {
				t.Logf("restarting the broker with %d records of the open transaction written", n)
				break
			}
		}
		restart(t, home, func() { time.Sleep(2 * time.Second) })
	}()
	var codes []int
	for try := 1; try <= 6; try++ {
		r := w.run("run", "--pipeline", "kafka_out", "--node", "out", "--ir", spec, "--run-id", runRR, "--try", fmt.Sprint(try))
		codes = append(codes, r.code)
		if r.code == 0 {
			break
		}
		if r.code != 75 {
			t.Fatalf("try %d: exit %d, want 0 or 75\n%s", try, r.code, r.stderr)
		}
		t.Logf("sink try %d: %s", try, lastLine(r.stderr))
		wg.Wait()
	}
	wg.Wait()
	t.Logf("sink exit codes across tries: %v", codes)
	if codes[len(codes)-1] != 0 {
		t.Fatalf("the sink never succeeded: %v", codes)
	}
	if got := countCommitted(t, brokers, out, 5000); got != n {
		t.Fatalf("read-committed consumer sees %d records, want %d", got, n)
	}

	// Read: a files sink reads the pinned range into Parquet while the broker restarts.
	out2 := filepath.Join(w.dir, "out2")
	spec2 := w.write("spec/r.yaml", fmt.Sprintf(`api_version: aiflow/v1
pipeline: {id: kafka_read, owner: me, env: dev}
nodes:
  - id: src
    source: kafka
    with: {topic: %s, value_format: json, schema: {i: int64}}
  - id: out
    sink: files
    inputs: [src]
    with: {path: %s/, mode: overwrite}
`, out, out2))
	w.must("run", "--pipeline", "kafka_read", "--node", "src", "--ir", spec2, "--run-id", runRD, "--try", "1")
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(300 * time.Millisecond)
		restart(t, home, func() { time.Sleep(2 * time.Second) })
	}()
	codes = nil
	for try := 1; try <= 6; try++ {
		r := w.run("run", "--pipeline", "kafka_read", "--node", "out", "--ir", spec2, "--run-id", runRD, "--try", fmt.Sprint(try))
		codes = append(codes, r.code)
		if r.code == 0 {
			break
		}
		if r.code != 75 {
			t.Fatalf("read try %d: exit %d\n%s", try, r.code, r.stderr)
		}
		t.Logf("reader try %d: %s", try, lastLine(r.stderr))
		wg.Wait()
	}
	wg.Wait()
	t.Logf("reader exit codes across tries: %v", codes)
	files, _ := filepath.Glob(filepath.Join(out2, "*.parquet"))
	var total int
	seen := map[string]bool{}
	for _, f := range files {
		for _, v := range parquetColumn(t, f, "i") {
			if seen[v] {
				t.Fatalf("i=%s read twice", v)
			}
			seen[v] = true
			total++
		}
	}
	if total != n {
		t.Fatalf("parquet holds %d rows, want %d", total, n)
	}
}

// TestTopicMissingAndBrokerUnreachable checks the exit codes of the CLI: 78 and 75.
func TestTopicMissingAndBrokerUnreachable(t *testing.T) {
	brokers, _ := services(t)
	w := newWS(t, strings.Join(brokers, ","))
	spec := w.write("spec/k.yaml", strings.NewReplacer("IN", uniq("missing"), "OUT", uniq("missing"), "COMP", "none").Replace(sinkSpec))
	if r := w.run("run", "--pipeline", "kafka_out", "--node", "src", "--ir", spec, "--run-id", "m"); r.code != 78 {
		t.Fatalf("missing topic: exit %d, want 78\n%s", r.code, r.stderr)
	}
	w.env["AIFLOW_KAFKA_BROKERS"] = "127.0.0.1:1"
	start := time.Now()
	if r := w.run("run", "--pipeline", "kafka_out", "--node", "src", "--ir", spec, "--run-id", "u"); r.code != 75 {
		t.Fatalf("unreachable broker: exit %d, want 75\n%s", r.code, r.stderr)
	}
	if d := time.Since(start); d > 40*time.Second {
		t.Fatalf("unreachable broker took %s", d)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestBrokerRestartMidRead stops the broker while a pinned range is being read — after the
// first batches arrived, before the range is complete — and starts it again: the same read
// (franz-go reconnects; a fault.Temporary give-up would be retried as a new attempt) ends with
// exactly the pinned records, each once: per partition, offsets start..end-1 contiguous.
func TestBrokerRestartMidRead(t *testing.T) {
	services(t)
	brokers, home := privateBroker(t)
	const n = 100_000
	topic := uniq("mid")
	createTopic(t, brokers, topic, 3)
	// Small producer batches: a fetch returns at least one whole batch whatever its size limit.
	pc := client(t, brokers, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchMaxBytes(16<<10))
	for s := 0; s < n; s += 10_000 {
		var recs []*kgo.Record
		for i := s; i < s+10_000; i++ {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, `{"i": %d, "pad": %q}`, i, strings.Repeat("p", 200))})
		}
		if err := pc.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	m := pinned(t, brokers, topic, uniq("g"), "earliest", 0, kafka.ValueSpec{ValueFormat: "json", Fields: []kafka.ValueField{{Name: "i", Field: "i", Type: "int64"}}})
	var total int64
	for _, p := range m.Kafka.Partitions {
		total += p.End - p.Start
	}
	if total != n {
		t.Fatalf("pinned %d records, want %d", total, n)
	}
	// Small fetches (~16 KiB, ~70 records of ~220 B) make the read take over 1000 fetches, so the
	// broker goes down in the middle of it; the client buffers at most one fetch ahead.
	defer func(a, b int32) { kafka.FetchMaxBytes, kafka.FetchMaxPartitionBytes = a, b }(kafka.FetchMaxBytes, kafka.FetchMaxPartitionBytes)
	kafka.FetchMaxBytes, kafka.FetchMaxPartitionBytes = 16<<10, 16<<10

	attempt := func(stopAfterFirst bool) (map[int32][]int64, error) {
		got := map[int32][]int64{}
		rr, _, err := readers.Reader(context.Background(), objstore.New(objstore.Options{}), nil, m, &readers.Counter{}, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		defer rr.Release()
		var read, readAtStop atomic.Int64
		readAtStop.Store(-1)
		var wg sync.WaitGroup
		defer wg.Wait()
		started := false
		for rr.Next() {
			rec := rr.RecordBatch()
			ps, os := rec.Column(1).(*array.Int32), rec.Column(2).(*array.Int64)
			for i := 0; i < int(rec.NumRows()); i++ {
				got[ps.Value(i)] = append(got[ps.Value(i)], os.Value(i))
			}
			read.Add(rec.NumRows())
			if stopAfterFirst && !started {
				started = true
				t.Logf("first batch: %d of %d records; restarting the broker while the read goes on", read.Load(), total)
				wg.Add(1)
				go func() {
					defer wg.Done()
					restart(t, home, func() {
						readAtStop.Store(read.Load())
						time.Sleep(3 * time.Second)
					})
				}()
			}
		}
		wg.Wait()
		if stopAfterFirst {
			// Batches are ≤ 8 MiB (~37k records here) and the client buffers one 16 KiB fetch, so
			// fewer than 2 batches' worth can have left the broker before it stopped.
			at := readAtStop.Load()
			t.Logf("records read when the broker was down: %d of %d", at, total)
			if at < 0 || at >= total {
				t.Fatalf("the broker was not down in the middle of the read (read %d of %d when it stopped)", at, total)
			}
		}
		return got, rr.Err()
	}
	got, err := attempt(true)
	if err != nil {
		// The reader gave up (fault.Temporary, exit 75): the retry attempt reads the same range.
		t.Logf("read across the restart failed (%v): retry attempt", err)
		if got, err = attempt(false); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("the same read rode out the restart")
	}
	for _, p := range m.Kafka.Partitions {
		offs := got[p.Partition]
		if int64(len(offs)) != p.End-p.Start {
			t.Errorf("partition %d: %d records, want %d (offsets %d..%d)", p.Partition, len(offs), p.End-p.Start, p.Start, p.End-1)
		}
		for i, o := range offs {
			if o != p.Start+int64(i) {
				t.Fatalf("partition %d: record %d has offset %d, want %d (gap or repeat)", p.Partition, i, o, p.Start+int64(i))
			}
		}
		delete(got, p.Partition)
	}
	if len(got) != 0 {
		t.Fatalf("records from partitions outside the range: %v", got)
	}
}
