package flinkbench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/plugin"
)

const lakeSpec = `api_version: aiflow/v1
pipeline: {id: @ID@, owner: bench, env: dev, mode: streaming}
nodes:
  - id: events
    source: kafka
    with: {topic: @ID@_in, schema: {id: int64, user_id: int64, amount: int64, sent: int64}}
  - id: picked
    transform: flink
    inputs: [events]
    with: {sql: "SELECT id, user_id, amount, sent FROM events", checkpoint_interval: 1s}
  - id: lake
    sink: onelake
    inputs: [picked]
    with: {table: bench.events, mode: append}
`

// BenchmarkLakeLoad is the load of a streaming pipeline's lake sink (aiflow-runner stream-load):
// 200,000 rows the job committed to the sink's changelog topic (produced straight into it
// here) moved into the Delta table by one load: pin, read_committed read and JSON decode,
// column selection, Parquet write and Delta commit, plus the gateway's DESCRIBE of the sink's
// columns. Reported: rows/s of the whole command.
func BenchmarkLakeLoad(b *testing.B) {
	rows := 200_000
	brokers := testenv.Require(b, testenv.KafkaBrokers)
	gw := testenv.Require(b, testenv.FlinkGateway)
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("bench_lake_%d_%d", time.Now().UnixNano()%1e9, rand.IntN(1000))
		dir := b.TempDir()
		spec := filepath.Join(dir, "p.yaml")
		if err := os.WriteFile(spec, []byte(strings.ReplaceAll(lakeSpec, "@ID@", id)), 0o644); err != nil {
			b.Fatal(err)
		}
		topic := flink.ChangelogTopic(id, "lake")
		if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
			b.Fatal(err)
		}
		produce(b, cl, topic, 0, rows, false)
		env := map[string]string{"AIFLOW_HOME": filepath.Join(dir, ".aiflow"), "AIFLOW_KAFKA_BROKERS": brokers,
			"AIFLOW_FLINK_GATEWAY": gw, "AIFLOW_LOG_LEVEL": "warn"}
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := cli.RunWith(&cli.Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
			Registry: plugin.Default, Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
			[]string{"stream-load", "--pipeline", id, "--sink", "lake", "--ir", spec, "--run-id", "bench"})
		took := time.Since(start)
		_, _ = adm.DeleteTopics(context.Background(), topic)
		if code != 0 {
			b.Fatalf("stream-load: exit %d\n%s", code, stderr.String())
		}
		ds, _, err := delta.Open(context.Background(), delta.New(objstore.New(objstore.Options{}), "file://"+filepath.Join(dir, ".aiflow", "lake", "bench", "events")), nil)
		if err != nil {
			b.Fatal(err)
		}
		rr, err := ds.Reader(context.Background(), memory.DefaultAllocator)
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for rr.Next() {
			n += rr.RecordBatch().NumRows()
		}
		rr.Release()
		if n != int64(rows) {
			b.Fatalf("the table holds %d rows, want %d", n, rows)
		}
		b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
		b.ReportMetric(took.Seconds(), "s/load")
	}
}
