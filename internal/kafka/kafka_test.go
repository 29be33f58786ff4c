package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/kafka"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
)

func fakeCluster(t *testing.T, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func client(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(t *testing.T, cl *kgo.Client, topic string, p int32, vals ...string) {
	t.Helper()
	for _, v := range vals {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Partition: p, Value: []byte(v), Key: []byte("k")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func event(i int) string {
	return fmt.Sprintf(`{"user_id": %d, "amount": %d.5, "name": "u\"%d", "ts": "2024-01-01T00:00:%02dZ", "ok": true}`, i%7, i, i, i%60)
}

// readAll reads a pinned range and returns the rows as "partition/offset" plus the values of col.
func readAll(t *testing.T, m *manifest.Manifest, col string) (offsets map[string]bool, values []string, c *readers.Counter, err error) {
	t.Helper()
	c = &readers.Counter{}
	rr, schema, err := readers.Reader(context.Background(), objstore.New(objstore.Options{}), nil, m, c, memory.DefaultAllocator)
	if err != nil {
		return nil, nil, c, err
	}
	defer rr.Release()
	offsets = map[string]bool{}
	ci := schema.FieldIndices(col)
	for rr.Next() {
		rec := rr.RecordBatch()
		ps, os := rec.Column(1).(*array.Int32), rec.Column(2).(*array.Int64)
		for i := 0; i < int(rec.NumRows()); i++ {
			k := fmt.Sprintf("%d/%d", ps.Value(i), os.Value(i))
			if offsets[k] {
				t.Fatalf("record %s read twice", k)
			}
			offsets[k] = true
			if len(ci) > 0 {
				values = append(values, rec.Column(ci[0]).ValueStr(i))
			}
		}
	}
	return offsets, values, c, rr.Err()
}

func pinned(t *testing.T, brokers []string, topic, group, starting string, max int64, spec kafka.ValueSpec) *manifest.Manifest {
	t.Helper()
	cl := client(t, brokers)
	kr, err := kafka.PinRange(context.Background(), kadm.NewClient(cl), brokers, topic, group, starting, max)
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest.Manifest{Version: 1, Pipeline: "p", RunID: "r1", Node: "src", Kind: manifest.KindKafka, Kafka: kr}
	if spec.ValueFormat == "json" && spec.Fields == nil {
		sample, err := kafka.Sample(context.Background(), m, 100)
		if err != nil {
			t.Fatal(err)
		}
		spec.Fields = kafka.InferFields(sample)
	}
	m.Details = map[string]any{kafka.Detail: spec}
	return m
}

func TestPinReadCommittedOnly(t *testing.T) {
	brokers := fakeCluster(t, 3, "events")
	cl := client(t, brokers)
	for p := int32(0); p < 3; p++ {
		var vals []string
		for i := 0; i < 50; i++ {
			vals = append(vals, event(int(p)*100+i))
		}
		produce(t, cl, "events", p, vals...)
	}
	// One committed and one aborted transaction on partition 0: the range ends after both, and
	// only the committed records are read.
	tx := client(t, brokers, kgo.TransactionalID("t1"), kgo.DefaultProduceTopic("events"))
	for _, commit := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			v := event(1000 + i)
			if !commit {
				v = `{"user_id": -1}`
			}
			if err := tx.ProduceSync(context.Background(), &kgo.Record{Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.EndTransaction(context.Background(), commit); err != nil {
			t.Fatal(err)
		}
	}
	m := pinned(t, brokers, "events", "g1", "earliest", 0, kafka.ValueSpec{ValueFormat: "json", OnError: "fail"})
	offs, users, _, err := readAll(t, m, "user_id")
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 155 {
		t.Fatalf("read %d records, want 155 (150 plain + 5 committed)", len(offs))
	}
	for _, u := range users {
		if u == "-1" {
			t.Fatal("read a record of an aborted transaction")
		}
	}
	spec, _ := kafka.ValueSpecOf(m)
	types := map[string]string{}
	for _, f := range spec.Fields {
		types[f.Name] = f.Type
	}
	want := map[string]string{"user_id": "int64", "amount": "float64", "name": "string", "ts": "timestamp[us, tz=UTC]", "ok": "bool"}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("inferred %s: %s, want %s", k, types[k], v)
		}
	}
	// A retry reads the same range: same records.
	offs2, _, _, err := readAll(t, m, "user_id")
	if err != nil || len(offs2) != len(offs) {
		t.Fatalf("second read: %d records, %v", len(offs2), err)
	}
}

func TestOffsetsCommitAndRepin(t *testing.T) {
	brokers := fakeCluster(t, 2, "events")
	cl := client(t, brokers)
	produce(t, cl, "events", 0, event(1), event(2), event(3))
	produce(t, cl, "events", 1, event(4))
	m := pinned(t, brokers, "events", "g", "earliest", 0, kafka.ValueSpec{ValueFormat: "raw"})
	if _, err := kafka.CommitRange(context.Background(), m.Kafka); err != nil {
		t.Fatal(err)
	}
	// Idempotent.
	if n, err := kafka.CommitRange(context.Background(), m.Kafka); err != nil || n != 0 {
		t.Fatalf("second commit: %d partitions, %v", n, err)
	}
	produce(t, cl, "events", 0, event(5))
	m2 := pinned(t, brokers, "events", "g", "earliest", 0, kafka.ValueSpec{ValueFormat: "raw"})
	offs, _, _, err := readAll(t, m2, "value")
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 1 || !offs["0/3"] {
		t.Fatalf("next run read %v, want only 0/3", offs)
	}
	// An older range never moves the group back.
	if n, err := kafka.CommitRange(context.Background(), m.Kafka); err != nil || n != 0 {
		t.Fatalf("stale commit: %d partitions, %v", n, err)
	}
	// latest starts at the end; max_records caps.
	m3 := pinned(t, brokers, "events", "other", "latest", 0, kafka.ValueSpec{ValueFormat: "raw"})
	for _, p := range m3.Kafka.Partitions {
		if p.Start != p.End {
			t.Fatalf("latest: %+v", p)
		}
	}
	m4 := pinned(t, brokers, "events", "other2", "earliest", 3, kafka.ValueSpec{ValueFormat: "raw"})
	var n int64
	for _, p := range m4.Kafka.Partitions {
		n += p.End - p.Start
	}
	if n != 3 {
		t.Fatalf("max_records 3 pinned %d offsets: %+v", n, m4.Kafka.Partitions)
	}
}

func TestPoisonRecords(t *testing.T) {
	brokers := fakeCluster(t, 1, "events", "dlq")
	cl := client(t, brokers)
	produce(t, cl, "events", 0, event(1), `{"user_id": "not a number"}`, event(2), `not json`, event(3))
	fields := []kafka.ValueField{{Name: "user_id", Field: "user_id", Type: "int64"}, {Name: "ts", Field: "ts", Type: "timestamp[ms, tz=UTC]"}}

	m := pinned(t, brokers, "events", "g", "earliest", 0, kafka.ValueSpec{ValueFormat: "json", Fields: fields, OnError: "fail"})
	_, _, _, err := readAll(t, m, "user_id")
	if fault.ClassOf(err) != fault.Data || !strings.Contains(err.Error(), "partition 0 offset 1") {
		t.Fatalf("on_error fail: %v (class %v), want a data error naming partition 0 offset 1", err, fault.ClassOf(err))
	}

	dir := t.TempDir()
	m = pinned(t, brokers, "events", "g", "earliest", 0, kafka.ValueSpec{ValueFormat: "json", Fields: fields, OnError: "dead_letter", DeadLetter: "file://" + dir})
	offs, _, c, err := readAll(t, m, "user_id")
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 3 || c.DeadLetters.Load() != 2 {
		t.Fatalf("read %d, dead letters %d; want 3 and 2", len(offs), c.DeadLetters.Load())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "p", "r1", "src", "*.ndjson"))
	if len(files) != 1 {
		t.Fatalf("dead-letter files: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if strings.Count(string(b), "\n") != 2 || !strings.Contains(string(b), `"offset":3`) {
		t.Fatalf("dead-letter file:\n%s", b)
	}

	m = pinned(t, brokers, "events", "g", "earliest", 0, kafka.ValueSpec{ValueFormat: "json", Fields: fields, OnError: "dead_letter", DeadLetter: "kafka://dlq"})
	if _, _, c, err = readAll(t, m, "user_id"); err != nil || c.DeadLetters.Load() != 2 {
		t.Fatalf("dead letters to a topic: %v, %d", err, c.DeadLetters.Load())
	}
	dm := pinned(t, brokers, "dlq", "g", "earliest", 0, kafka.ValueSpec{ValueFormat: "raw"})
	if offs, _, _, err := readAll(t, dm, "value"); err != nil || len(offs) != 2 {
		t.Fatalf("dlq topic holds %d records (%v), want 2", len(offs), err)
	}
}

func TestTopicMissingAndBrokerDown(t *testing.T) {
	brokers := fakeCluster(t, 1, "events")
	cl := client(t, brokers)
	_, err := kafka.PinRange(context.Background(), kadm.NewClient(cl), brokers, "nope", "g", "earliest", 0)
	if fault.ClassOf(err) != fault.Config {
		t.Fatalf("missing topic: %v (class %v), want config", err, fault.ClassOf(err))
	}
	old := kafka.AdminTimeout
	kafka.AdminTimeout = 3 * time.Second
	defer func() { kafka.AdminTimeout = old }()
	down := []string{"127.0.0.1:1"}
	cl2 := client(t, down)
	start := time.Now()
	_, err = kafka.PinRange(context.Background(), kadm.NewClient(cl2), down, "events", "g", "earliest", 0)
	if fault.ClassOf(err) != fault.Temporary {
		t.Fatalf("broker down: %v (class %v), want temporary", err, fault.ClassOf(err))
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("broker down took %s", time.Since(start))
	}
	var fe *fault.Error
	if !errors.As(err, &fe) {
		t.Fatal("unclassified")
	}
}
