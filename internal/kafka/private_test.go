package kafka_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// The fault tests stop, kill and restart a broker. Never the shared one (AIFLOW_TEST_KAFKA_BROKERS):
// other packages' tests use it at the same time. They share one private broker of this test
// binary instead, started on first use by scripts/services.sh with a state folder of its own
// (free ports, its own data) and stopped by TestMain. The tests that use it do not run in
// parallel, so a restart by one never lands in another.
var private struct {
	once    sync.Once
	dir     string
	brokers []string
	home    string
	out     []byte
	err     error
}

// privateBroker returns the private broker's address and its folder (start.sh, stop.sh, pid).
func privateBroker(t *testing.T) (brokers []string, home string) {
	t.Helper()
	root, _ := filepath.Abs("../..")
	libs, _ := filepath.Glob(filepath.Join(root, ".tools", "kafka-*", "libs"))
	if len(libs) == 0 {
		if testenv.CI() {
			t.Fatalf("no Kafka under %s/.tools (run scripts/install.sh kafka)", root)
		}
		t.Skipf("no Kafka under %s/.tools (run scripts/install.sh kafka)", root)
	}
	private.once.Do(func() {
		if private.dir, private.err = os.MkdirTemp("", "aiflow-kafka-private-"); private.err != nil {
			return
		}
		cmd := exec.Command(filepath.Join(root, "scripts", "services.sh"), "up", "kafka")
		cmd.Env = append(os.Environ(), "AIFLOW_SERVICES_DIR="+private.dir)
		if private.out, private.err = cmd.CombinedOutput(); private.err != nil {
			return
		}
		private.home = filepath.Join(private.dir, "kafka")
		var port []byte
		if port, private.err = os.ReadFile(filepath.Join(private.home, "port")); private.err == nil {
			private.brokers = []string{"127.0.0.1:" + strings.TrimSpace(string(port))}
		}
	})
	if private.err != nil {
		t.Fatalf("start the private broker: %v\n%s", private.err, private.out)
	}
	return private.brokers, private.home
}

// stopPrivateBroker stops the private broker, if a test started it, and removes its folder.
func stopPrivateBroker() {
	if private.dir == "" {
		return
	}
	root, _ := filepath.Abs("../..")
	cmd := exec.Command(filepath.Join(root, "scripts", "services.sh"), "down", "kafka")
	cmd.Env = append(os.Environ(), "AIFLOW_SERVICES_DIR="+private.dir)
	_ = cmd.Run()
	_ = os.RemoveAll(private.dir)
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopPrivateBroker()
	os.Exit(code)
}
