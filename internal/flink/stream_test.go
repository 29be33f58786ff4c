package flink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// produceEvents writes events [from, to) as {"id", "user_id", "amount"} round-robin.
func (w *workspace) produceEvents(topic string, from, to int) {
	w.t.Helper()
	cl := w.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		r := &kgo.Record{Value: []byte(fmt.Sprintf(`{"id": %d, "user_id": %d, "amount": %d}`, i, i%7, i%10))}
		if i%3 == 0 { // a header on every third record (wantHeaders)
			r.Headers = []kgo.RecordHeader{{Key: "src", Value: []byte(fmt.Sprintf("e%d", i))}}
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		w.t.Fatal(err)
	}
}

// outputCounter is an independent read_committed consumer of the job's output: how many
// times each input id arrived, and in which version of the query.
type outputCounter struct {
	cl      *kgo.Client
	seen    map[int64]int
	version map[int64]string
	headers map[int64]*string
}

func (w *workspace) counter(topic string) *outputCounter {
	return &outputCounter{cl: w.client(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), seen: map[int64]int{}, version: map[int64]string{}, headers: map[int64]*string{}}
}

// waitFor reads until ids [0, n) all arrived (or the deadline), then a few seconds more so a
// duplicate would show.
func (o *outputCounter) waitFor(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(o.seen) < n && time.Now().Before(deadline) {
		o.poll(t, 2*time.Second)
	}
	o.poll(t, 3*time.Second)
	var missing, dup []int64
	for i := int64(0); i < int64(n); i++ {
		switch c := o.seen[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 || len(dup) > 0 || len(o.seen) != n {
		t.Fatalf("after %d ids: %d distinct seen, missing %v, duplicated %v", n, len(o.seen), head(missing), head(dup))
	}
}

func (o *outputCounter) poll(t *testing.T, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	o.cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		var v struct {
			ID      int64   `json:"id"`
			Version string  `json:"version"`
			Headers *string `json:"headers"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("output %s: %v", r.Value, err)
		}
		o.seen[v.ID]++
		o.version[v.ID] = v.Version
		o.headers[v.ID] = v.Headers
	})
}

func head(s []int64) []int64 {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

func streamJob(in, out string, brokers []string, version string) flink.StreamJob {
	src, _ := flink.CreateTable("events", []string{"id BIGINT", "user_id BIGINT", "amount BIGINT"},
		flink.KafkaSourceOptions(in, brokers, "aiflow-test-"+in))
	snk, _ := flink.CreateTable("enriched", []string{"id BIGINT", "user_id BIGINT", "amount BIGINT", "version STRING"},
		flink.KafkaSinkOptions(out, brokers, "aiflow-test-"+out))
	factor := map[string]int{"v1": 10, "v2": 100}[version]
	return flink.StreamJob{
		Name:       "aiflow-test " + in,
		Settings:   map[string]string{"execution.checkpointing.interval": "2s"},
		Statements: []string{src, snk},
		Insert: fmt.Sprintf("INSERT INTO enriched SELECT id, user_id, amount * %d, '%s' FROM events WHERE amount >= 0",
			factor, version),
	}
}

// A streaming job Kafka → Flink SQL → Kafka (exactly-once sink) through its lifecycle: deployed,
// upgraded to a changed query through stop-with-savepoint and a deploy from that savepoint,
// then its TaskManager killed mid-stream and restarted. An independent read_committed consumer
// sees every input id exactly once across all of it, and the ids after the upgrade carry the
// new query's output.
func TestStreamingUpgradeAndTaskManagerLoss(t *testing.T) {
	w := newWorkspace(t)
	home := testenv.Require(t, testenv.FlinkHome)
	c, err := flink.NewClient(w.env["AIFLOW_FLINK_GATEWAY"], nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	in, out := w.topic("flink_events", 2), w.topic("flink_enriched", 1)
	counter := w.counter(out)
	w.produceEvents(in, 0, 200)
	job, err := c.Deploy(ctx, streamJob(in, out, w.brokers, "v1"), "")
	if err != nil {
		t.Fatal(err)
	}
	running := job
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer ccancel()
		_, _ = c.StopWithSavepoint(cctx, running)
	}()
	counter.waitFor(t, 200, 3*time.Minute)
	if err := c.Healthy(ctx, job); err != nil {
		t.Fatal(err)
	}
	w.produceEvents(in, 200, 300)
	sp, err := c.StopWithSavepoint(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	running = ""
	if err := c.Healthy(ctx, job); err == nil {
		t.Fatalf("job %s still healthy after its stop", job)
	}
	// Produced while no job runs: the upgraded job reads them from the savepoint's offsets.
	w.produceEvents(in, 300, 400)
	job2, err := c.Deploy(ctx, streamJob(in, out, w.brokers, "v2"), sp)
	if err != nil {
		t.Fatal(err)
	}
	running = job2
	counter.waitFor(t, 400, 3*time.Minute)
	for id := int64(300); id < 400; id++ {
		if v := counter.version[id]; v != "v2" {
			t.Fatalf("id %d came out of %q, want the upgraded query v2", id, v)
		}
	}
	// The TaskManager dies (SIGKILL) with records in flight; the job restarts from its last
	// checkpoint on a new TaskManager, and the open transaction of the dead one is aborted.
	w.produceEvents(in, 400, 500)
	if out, err := exec.Command(filepath.Join(home, "stop-taskmanager.sh")).CombinedOutput(); err != nil {
		t.Fatalf("stop-taskmanager: %v\n%s", err, out)
	}
	w.produceEvents(in, 500, 600)
	if out, err := exec.Command(filepath.Join(home, "start-taskmanager.sh")).CombinedOutput(); err != nil {
		t.Fatalf("start-taskmanager: %v\n%s", err, out)
	}
	counter.waitFor(t, 600, 5*time.Minute)
	if err := c.Healthy(ctx, job2); err != nil {
		t.Fatal(err)
	}
}
