//go:build !nospark

package spark_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// TestKafkaSourcesFeedSpark: a onestream or kafka source feeding a spark transform runs (it
// validated before, and failed in the pod for want of a Spark reader): the pinned range is
// decoded by the runner, undecodable records go to the dead-letter folder and are counted, and
// Spark SQL runs over exactly the decodable records.
func TestKafkaSourcesFeedSpark(t *testing.T) {
	w := newWorkspace(t)
	brokers := testenv.Require(t, testenv.KafkaBrokers)
	w.env["AIFLOW_KAFKA_BROKERS"] = brokers
	topic := "aiflow_spark_stream" + w.sfx
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })
	const events, poison = 30, 3 // every 10th is undecodable
	for i := range events {
		v := fmt.Sprintf(`{"user_id": %d, "amount": %d.5, "event_time": "2024-05-01T00:00:%02dZ"}`, i%4, i, i)
		if i%10 == 0 {
			v = `{"user_id": "not a number"}`
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []string{"onestream", "kafka"} {
		t.Run(kind, func(t *testing.T) {
			id := "stream_" + kind + w.sfx
			spec := w.write(kind+".yaml", strings.NewReplacer("ID", id, "KIND", kind, "TOPIC", topic,
				"DLQ", w.dir+"/dlq_"+kind+"/", "OUT", w.dir+"/out_"+kind+"/").Replace(`api_version: aiflow/v1
pipeline: {id: ID, owner: me, env: dev}
nodes:
  - id: events
    source: KIND
    with:
      topic: TOPIC
      group_id: g_ID
      schema: {user_id: int64, amount: float64, event_time: "timestamp[ms, tz=UTC]"}
      on_error: dead_letter
      dead_letter: DLQ
  - id: by_user
    transform: spark
    inputs: [events]
    with:
      sql: "SELECT user_id, count(*) AS n, sum(amount) AS amt, max(event_time) AS last FROM events GROUP BY user_id"
  - id: out
    sink: files
    inputs: [by_user]
    with: {path: OUT, mode: overwrite}
`))
			w.mustRun("validate", spec)
			w.mustRun("run", "--pipeline", id, "--all", "--ir", spec, "--run-id", "r1")
			m := w.committed(id, "r1", "by_user")
			if m.Rows != 4 {
				t.Errorf("by_user: %d rows, want 4 users", m.Rows)
			}
			in, _ := m.Details["inputs"].(map[string]any)
			ev, _ := in["events"].(map[string]any)
			if rows, _ := ev["rows"].(float64); rows != events-poison {
				t.Errorf("by_user read %v rows of events, want %d: %v", ev["rows"], events-poison, m.Details)
			}
			if dead, _ := m.Details["dead_letters"].(float64); dead != poison {
				t.Errorf("dead_letters %v, want %d: %v", m.Details["dead_letters"], poison, m.Details)
			}
			if out := w.committed(id, "r1", "out"); out.Rows != 4 {
				t.Errorf("out: %d rows, want 4", out.Rows)
			}
		})
	}
}
