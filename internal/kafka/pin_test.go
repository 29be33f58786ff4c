package kafka_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// A pinned topic deleted and created again under the same name (new records at the same
// offsets): the downstream node of the run refuses the pin with exit 65 naming the topic ids,
// instead of committing the new records as the run's output.
func TestRecreatedTopicFailsThePin(t *testing.T) {
	brokers, _ := services(t)
	in, out := uniq("in"), uniq("out")
	createTopic(t, brokers, in, 1)
	createTopic(t, brokers, out, 1)
	produceSeq(t, brokers, in, 100)
	w := newWS(t, strings.Join(brokers, ","))
	spec := w.write("spec/k.yaml", strings.NewReplacer("IN", in, "OUT", out, "COMP", "none").Replace(sinkSpec))
	run := uniq("recreated")
	w.must("run", "--pipeline", "kafka_out", "--node", "src", "--ir", spec, "--run-id", run)

	adm := kadm.NewClient(client(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := adm.DeleteTopics(ctx, in); err != nil {
		t.Fatal(err)
	}
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
	produceSeq(t, brokers, in, 100)

	r := w.run("run", "--pipeline", "kafka_out", "--node", "out", "--ir", spec, "--run-id", run)
	if r.code != 65 {
		t.Fatalf("recreated topic: exit %d, want 65\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "created again") || !strings.Contains(r.stderr, in) {
		t.Fatalf("the error does not say the topic changed:\n%s", r.stderr)
	}
	if n := countOnce(t, brokers, out); n != 0 {
		t.Fatalf("%d records of the recreated topic were written as the run's output", n)
	}
}
