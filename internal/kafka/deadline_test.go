package kafka_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/aiflow-dev/aiflow/internal/node"
)

// The broker is killed (kill -9) while a sink writes and does not come back: the node logs that
// it is waiting, then exits 75 within AIFLOW_NODE_TIMEOUT instead of waiting for ever. Once the
// broker is back, the retry writes every record exactly once.
func TestBrokerGoneDuringSinkWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the test broker")
	}
	services(t)
	brokers, home := privateBroker(t)
	const n = 200_000
	in, out := uniq("in"), uniq("out")
	createTopic(t, brokers, in, 3)
	createTopic(t, brokers, out, 3)
	produceSeq(t, brokers, in, n)
	w := newWS(t, strings.Join(brokers, ","))
	const timeout = 40 * time.Second
	w.env["AIFLOW_NODE_TIMEOUT"] = timeout.String()
	oldEvery := node.WaitLogEvery
	node.WaitLogEvery = 2 * time.Second
	defer func() { node.WaitLogEvery = oldEvery }()
	spec := w.write("spec/k.yaml", strings.NewReplacer("IN", in, "OUT", out, "COMP", "none").Replace(sinkSpec))
	run := uniq("gone")
	w.must("run", "--pipeline", "kafka_out", "--node", "src", "--ir", spec, "--run-id", run, "--try", "1")

	// Kill the broker as soon as the sink's first records reach the output topic.
	adm := kadm.NewClient(client(t, brokers))
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			ends, err := adm.ListEndOffsets(ctx, out)
			cancel()
			if err != nil {
				continue
			}
			var sum int64
			ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
			if sum > 0 {
				b, _ := os.ReadFile(filepath.Join(home, "pid"))
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				return
			}
		}
	}()
	start := time.Now()
	r := w.run("run", "--pipeline", "kafka_out", "--node", "out", "--ir", spec, "--run-id", run, "--try", "1")
	took := time.Since(start)
	<-killed
	defer func() {
		if out, err := exec.Command(filepath.Join(home, "start.sh")).CombinedOutput(); err != nil {
			t.Fatalf("start broker: %v %s", err, out)
		}
	}()
	if r.code != 75 {
		t.Fatalf("broker killed during the write: exit %d, want 75\n%s", r.code, r.stderr)
	}
	// The documented bound: AIFLOW_NODE_TIMEOUT, bookkeeping included (slack for a loaded machine).
	if took > timeout+15*time.Second {
		t.Fatalf("exit 75 after %s with AIFLOW_NODE_TIMEOUT=%s", took, timeout)
	}
	if !strings.Contains(r.stderr, "still waiting") {
		t.Fatalf("the node did not say what it waited for:\n%s", r.stderr)
	}
	t.Logf("exit 75 after %s: %s", took.Round(time.Second), lastLine(r.stderr))

	if out, err := exec.Command(filepath.Join(home, "start.sh")).CombinedOutput(); err != nil {
		t.Fatalf("start broker: %v %s", err, out)
	}
	w.env["AIFLOW_NODE_TIMEOUT"] = "5m"
	w.must("run", "--pipeline", "kafka_out", "--node", "out", "--ir", spec, "--run-id", run, "--try", "2")
	if got := countCommitted(t, brokers, out, n); got != n {
		t.Fatalf("after the retry: %d records, want %d", got, n)
	}
}
