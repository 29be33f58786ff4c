package kafka_test

import (
	"fmt"
	"testing"

	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sourcetest"
)

// TestKafkaSourceConformance runs the source suite over the kafka and onestream kinds on an
// in-process broker (kfake): the pin is an offset range, so records produced after it are read
// by the next run only.
func TestKafkaSourceConformance(t *testing.T) {
	for _, kind := range []string{"kafka", "onestream"} {
		t.Run(kind, func(t *testing.T) {
			n := 0
			sourcetest.Run(t, sourcetest.Target{Registry: builtin.Registry(), Kind: kind,
				Params: func(t *testing.T) map[string]any {
					n++
					topic := fmt.Sprintf("sourcetest-%s-%d", kind, n)
					brokers := fakeCluster(t, 2, topic)
					produce(t, client(t, brokers), topic, int32(n%2), events(0, sourcetest.Rows)...)
					return map[string]any{"topic": topic, "brokers": []any{brokers[0]}, "starting_offsets": "earliest",
						"value_format": "json", "schema": map[string]any{"user_id": "int64", "amount": "float64"}}
				},
				Append: func(t *testing.T, p map[string]any, rows int) {
					brokers := []string{fmt.Sprint(p["brokers"].([]any)[0])}
					produce(t, client(t, brokers), fmt.Sprint(p["topic"]), 1, events(100, rows)...)
				},
			})
		})
	}
}

func events(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = event(from + i)
	}
	return out
}
