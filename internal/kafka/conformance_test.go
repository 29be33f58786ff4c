package kafka_test

import (
	"testing"

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
			return map[string]any{"topic": topic, "brokers": []any{brokers[0]}, "key_column": "user_id"}
		},
		Count: func(t *testing.T, p map[string]any) int {
			topic, _ := p["topic"].(string)
			m := pinned(t, brokers, topic, uniq("check"), "earliest", 0, kafka.KafkaSpec{ValueFormat: "json",
				Fields: []kafka.KafkaField{{Name: "user_id", Field: "user_id", Type: "int64"}}})
			_, vals, _, err := readAll(t, m, "user_id")
			if err != nil {
				t.Fatal(err)
			}
			return len(vals)
		},
	})
}
