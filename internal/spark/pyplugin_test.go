//go:build !nospark

package spark_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// TestPythonPluginKafka runs the seed's internal_kafka plugin (examples/internal_kafka/
// my_team_plugins.py, verbatim) in testdata/internal_kafka.yaml against the real broker: the runner learns the kind from
// AIFLOW_PLUGIN_MODULES, the source pins its params, and the spark node's Python reader reads
// the topic through Spark's Kafka connector in the node's session; Spark SQL then runs over it.
func TestPythonPluginKafka(t *testing.T) {
	w := newWorkspace(t)
	w.env["AIFLOW_PYTHON"] = testenv.Require(t, testenv.Python)
	brokers := testenv.Require(t, testenv.KafkaBrokers)
	example, err := filepath.Abs("../../examples/internal_kafka")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AIFLOW_PYTHONPATH", example)
	w.env["AIFLOW_PYTHONPATH"] = example
	w.env["AIFLOW_PLUGIN_MODULES"] = "my_team_plugins"

	topic := "aiflow_pyplugin" + w.sfx
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := range 10 {
		v := fmt.Sprintf(`{"order_id": %d}`, i)
		want[v] = true
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	s := w.session()
	requireKafkaConnector(t, s)
	b, err := os.ReadFile(filepath.Join("testdata", "internal_kafka.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	table := "tmp" + w.sfx + ".kafka_events"
	text := strings.NewReplacer("TOPIC", topic, "BROKERS", brokers, "OUTPUT_TABLE", table).Replace(string(b))
	spec := w.write("kafka.yaml", text)
	w.mustRun("validate", spec)
	if r := w.mustRun("plugins", "internal_kafka"); !strings.Contains(r.stdout, "internal_kafka") {
		t.Fatalf("plugins internal_kafka:\n%s", r.stdout)
	}
	w.mustRun("run", "--pipeline", "internal_kafka_events", "--all", "--ir", spec, "--run-id", "k1")
	if m := w.committed("internal_kafka_events", "k1", "event_values"); m.Rows != 10 {
		t.Fatalf("event_values: %d rows, want 10", m.Rows)
	}
	got := map[string]bool{}
	for _, r := range query(t, s, "SELECT value FROM "+table) {
		got[r[0].(string)] = true
	}
	if len(got) != len(want) {
		t.Fatalf("read %d distinct values, want %d: %v", len(got), len(want), got)
	}
	for v := range want {
		if !got[v] {
			t.Errorf("value %s not read", v)
		}
	}

	// Without the module the kind is unknown: validate refuses it (78).
	delete(w.env, "AIFLOW_PLUGIN_MODULES")
	if r := w.run("validate", spec); r.code != 78 || !strings.Contains(r.stderr, "internal_kafka") {
		t.Fatalf("validate without AIFLOW_PLUGIN_MODULES: exit %d\n%s", r.code, r.stderr)
	}
	// The pipeline can name the module itself: no AIFLOW_PLUGIN_MODULES needed.
	named := w.write("kafka-named.yaml", strings.Replace(text, "env: dev", "env: dev\n  plugin_modules: [my_team_plugins]", 1))
	if r := w.run("validate", named); r.code != 0 {
		t.Fatalf("validate with plugin_modules: exit %d\n%s", r.code, r.stderr)
	}
	// The seed's plugin has a Spark reader only: an arrow node cannot read it.
	arrow := w.write("kafka-arrow.yaml", `api_version: aiflow/v1
pipeline: {id: kafka_arrow, owner: me, env: dev, plugin_modules: [my_team_plugins]}
nodes:
  - {id: events, source: internal_kafka, with: {topic: t, bootstrap_servers: "b:9092"}}
  - {id: first, transform: arrow, inputs: [events], with: {steps: [{limit: 1}]}}
`)
	if r := w.run("validate", arrow); r.code != 78 || !strings.Contains(r.stderr, "no reader for engine arrow") {
		t.Fatalf("validate an arrow reader of internal_kafka: exit %d\n%s", r.code, r.stderr)
	}
	// A module that cannot be imported is a configuration error naming it.
	w.env["AIFLOW_PLUGIN_MODULES"] = "no_such_plugins"
	if r := w.run("validate", spec); r.code != 78 || !strings.Contains(r.stderr, "no_such_plugins") {
		t.Fatalf("validate with a missing module: exit %d\n%s", r.code, r.stderr)
	}
}

// requireKafkaConnector ends the test when the server lacks Spark's Kafka connector (a server
// started before scripts/install.sh sparkkafka put it in .tools/spark-extra-jars): a failure
// under CI, a skip with the reason elsewhere.
func requireKafkaConnector(t *testing.T, s *spark.Session) {
	t.Helper()
	df, err := s.Read().Format("kafka").Load("")
	if err == nil {
		_, err = df.Schema(context.Background())
	}
	if err == nil || !strings.Contains(err.Error(), "Failed to find data source") {
		return // the connector answered (it wants a subscribe option)
	}
	if testenv.CI() {
		t.Fatalf("the Spark Connect server has no Kafka connector (scripts/install.sh sparkkafka, then restart it): %v", err)
	}
	t.Skipf("the Spark Connect server has no Kafka connector: run scripts/install.sh sparkkafka and restart it (%v)", err)
}
