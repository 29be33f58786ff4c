package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/aiflow-dev/aiflow/internal/kafka"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sinktest"
)

// TestKafkaSinkConformance runs the sink suite against the test broker: what a read-committed
// consumer of the topic sees.
func TestKafkaSinkConformance(t *testing.T) {
	brokers := []string{testenv.Require(t, testenv.KafkaBrokers)}
	sinktest.Run(t, sinktest.Target{Registry: builtin.Registry(), Kind: "kafka",
		Params: func(t *testing.T) map[string]any {
			topic := uniq("sinktest")
			createTopic(t, brokers, topic, 2)
			waitTopic(t, brokers, topic)
			return map[string]any{"topic": topic, "brokers": []any{brokers[0]}, "key_column": "user_id"}
		},
		Count: func(t *testing.T, p map[string]any) int {
			topic, _ := p["topic"].(string)
			count := func() int {
				m := pinned(t, brokers, topic, uniq("check"), "earliest", 0, kafka.ValueSpec{ValueFormat: "json",
					Fields: []kafka.ValueField{{Name: "user_id", Field: "user_id", Type: "int64"}}})
				_, vals, _, err := readAll(t, m, "user_id")
				if err != nil {
					t.Fatal(err)
				}
				return len(vals)
			}
			// Transaction markers are written just after EndTxn returns, so a read-committed
			// reader may see the last stable offset move a moment later: read until two reads
			// agree on a non-zero count (or 15 s pass). A duplicate still shows as too many rows.
			n := count()
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
				time.Sleep(300 * time.Millisecond)
				next := count()
				if next > 0 && next == n {
					break
				}
				n = next
			}
			return n
		},
	})
}

// waitTopic waits until the broker's metadata lists topic with its partitions led: a topic just
// created is not yet known to every metadata answer.
func waitTopic(t *testing.T, brokers []string, topic string) {
	t.Helper()
	adm := kadm.NewClient(client(t, brokers))
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		td, err := adm.ListTopics(ctx, topic)
		cancel()
		if err == nil && td.Has(topic) && td[topic].Err == nil && len(td[topic].Partitions) > 0 {
			ready := true
			for _, p := range td[topic].Partitions {
				ready = ready && p.Leader >= 0 && p.Err == nil
			}
			if ready {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s not in the metadata after 30s: %v", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
