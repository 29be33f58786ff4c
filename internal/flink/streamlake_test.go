package flink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

const lakeStream = `api_version: aiflow/v1
pipeline: {id: @ID@, owner: t, env: dev, mode: streaming}
nodes:
  - id: orders
    source: kafka
    with: {topic: @TOPIC@, schema: {id: int64, user_id: int64, amount: int64}}
  - id: stamped
    transform: flink
    inputs: [orders]
    with: {sql: "SELECT id, amount, PROCTIME() AS pt FROM orders", checkpoint_interval: 1s}
  - id: windows
    transform: flink
    inputs: [stamped]
    with:
      checkpoint_interval: 1s
      sql: >
        SELECT window_start, window_end, COUNT(*) AS n, SUM(amount) AS amount,
               LISTAGG(CAST(id AS STRING), ',') AS ids, '@VERSION@' AS version
        FROM TABLE(TUMBLE(TABLE stamped, DESCRIPTOR(pt), INTERVAL '2' SECOND))
        GROUP BY window_start, window_end
  - id: totals
    sink: onelake
    inputs: [windows]
    with: {table: lake.windows, mode: append}
  - id: copy
    sink: onelake
    inputs: [orders]
    with: {table: lake.orders, mode: append}
`

// lakeRow is one row of the lake table as delta-rs reads it.
type lakeRow struct {
	N       int64  `json:"n"`
	Amount  int64  `json:"amount"`
	IDs     string `json:"ids"`
	Version string `json:"version"`
}

// readLake reads the Delta table with delta-rs (nothing of the runner involved).
func readLake(t *testing.T, py, dir string) []lakeRow {
	t.Helper()
	script := `
import json, os, sys
from deltalake import DeltaTable
rows = DeltaTable(sys.argv[1]).to_pyarrow_table(columns=["n", "amount", "ids", "version"]).to_pylist()
sys.stdout.write(json.dumps(rows) + "\n")
sys.stdout.flush()
os._exit(0)
`
	b, err := exec.Command(py, "-c", script, dir).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("read the lake table: %v\n%s", err, stderr)
	}
	var rows []lakeRow
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("read the lake table: %v\n%.300s", err, b)
	}
	return rows
}

// readCopy reads the id column of the copy of the source (its key, partition, offset and
// timestamp columns too: the source's own columns survive the changelog) with delta-rs.
func readCopy(t *testing.T, py, dir string) map[int64]int {
	t.Helper()
	script := `
import json, os, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1]).to_pyarrow_table()
assert t.column_names[:4] == ["key", "partition", "offset", "timestamp"], t.column_names
sys.stdout.write(json.dumps(t.column("id").to_pylist()) + "\n")
sys.stdout.flush()
os._exit(0)
`
	b, err := exec.Command(py, "-c", script, dir).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("read the copy table: %v\n%s", err, stderr)
	}
	var ids []int64
	if err := json.Unmarshal(b, &ids); err != nil {
		t.Fatalf("read the copy table: %v\n%.300s", err, b)
	}
	seen := map[int64]int{}
	for _, id := range ids {
		seen[id]++
	}
	return seen
}

// lakeIDs counts how many times each input id is in the table, and under which query version.
func lakeIDs(t *testing.T, rows []lakeRow) (map[int64]int, map[int64]string) {
	t.Helper()
	seen, version := map[int64]int{}, map[int64]string{}
	for _, r := range rows {
		ids := strings.Split(r.IDs, ",")
		if int64(len(ids)) != r.N {
			t.Fatalf("row %+v: n is %d, ids lists %d", r, r.N, len(ids))
		}
		for _, s := range ids {
			var id int64
			if _, err := fmt.Sscan(s, &id); err != nil {
				t.Fatalf("row %+v: id %q", r, s)
			}
			seen[id]++
			version[id] = r.Version
		}
	}
	return seen, version
}

// A streaming pipeline Kafka -> Flink SQL window aggregation -> onelake table, from its spec:
// the job writes the sink's changelog topic exactly-once, and stream-load tasks move it into the
// Delta table. Loads run before and after an upgrade to a changed query (stop with savepoint,
// deploy from it, records produced while no job ran included) and across the TaskManager's
// SIGKILL; a load retried with its run id adds nothing. delta-rs reads every input id exactly
// once in the table.
func TestStreamingLakeSinkAcrossAnUpgrade(t *testing.T) {
	w := newWorkspace(t)
	py := testenv.Require(t, testenv.Python)
	home := testenv.Require(t, testenv.FlinkHome)
	gw := w.env["AIFLOW_FLINK_GATEWAY"]
	c, err := flink.NewClient(gw, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	in := w.topic("flink_lake_in", 2)
	// The pipeline id names the changelog topic, the load group and the transactional ids on
	// the shared broker: unique to this test run.
	id := fmt.Sprintf("lake_%d_%d", time.Now().UnixNano()%1e9, rand.IntN(1000))
	spec := func(version string) (string, *ir.Pipeline) {
		text := strings.NewReplacer("@ID@", id, "@TOPIC@", in, "@VERSION@", version).Replace(lakeStream)
		path := w.write("lake_"+version+".yaml", text)
		r := w.run("validate", path)
		if r.code != 0 {
			t.Fatalf("validate %s: %d\n%s%s", version, r.code, r.stdout, r.stderr)
		}
		specs, ps := ir.Parse(path, []byte(text), false)
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		return path, specs[0].Pipeline
	}
	cfg := &config.Config{KafkaBrokers: w.brokers, FlinkGateway: gw}
	deploy := func(p *ir.Pipeline, savepoint string) string {
		job, err := flink.PlanStream(builtin.Registry(), p, cfg)
		if err != nil {
			t.Fatal(err)
		}
		jobID, err := c.Deploy(ctx, job, savepoint)
		if err != nil {
			t.Fatal(err)
		}
		return jobID
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		// The changelog topic is the test's: deleted with its input topic.
		_, _ = kadm.NewClient(w.client()).DeleteTopics(cctx, flink.ChangelogTopic(id, "totals"))
	})
	table := filepath.Join(w.dir, ".aiflow", "lake", "lake", "windows")
	loads := 0
	load := func(path, runID string) {
		t.Helper()
		loads++
		for _, sink := range []string{"totals", "copy"} {
			if r := w.run("stream-load", "--pipeline", id, "--sink", sink, "--ir", path, "--run-id", runID); r.code != 0 {
				t.Fatalf("stream-load %s of %s: exit %d\n%s", runID, sink, r.code, r.stderr)
			}
		}
	}
	// loadUntil loads (each load a new run) until ids [0, n) are all in the table.
	loadUntil := func(path string, n int) []lakeRow {
		t.Helper()
		deadline := time.Now().Add(4 * time.Minute)
		for {
			load(path, fmt.Sprintf("load%d_%s", loads, id))
			rows := readLake(t, py, table)
			seen, _ := lakeIDs(t, rows)
			if len(seen) >= n || time.Now().After(deadline) {
				return rows
			}
			time.Sleep(2 * time.Second)
		}
	}
	check := func(rows []lakeRow, n int) map[int64]string {
		t.Helper()
		seen, version := lakeIDs(t, rows)
		exactlyOnce(t, fmt.Sprintf("windows table after %d loads", loads), seen, n)
		// The copy's rows were committed by the same checkpoints as the windows' inputs.
		exactlyOnce(t, fmt.Sprintf("copy table after %d loads", loads), readCopy(t, py, filepath.Join(w.dir, ".aiflow", "lake", "lake", "orders")), n)
		return version
	}

	v1, p1 := spec("v1")
	// A load before the job's first deploy: the changelog topic is empty, nothing to load.
	load(v1, fmt.Sprintf("load%d_%s", loads, id))
	w.produceEvents(in, 0, 200)
	job := deploy(p1, "")
	running := job
	defer func() {
		if running != "" {
			cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer ccancel()
			_, _ = c.StopWithSavepoint(cctx, running)
		}
	}()
	check(loadUntil(v1, 200), 200)
	// The same run again (an Airflow retry of a load that committed): nothing added.
	before := len(readLake(t, py, table))
	load(v1, fmt.Sprintf("load%d_%s", loads-1, id))
	if after := len(readLake(t, py, table)); after != before {
		t.Fatalf("a retried load added %d rows", after-before)
	}

	// The upgrade: records in flight when the job stops, and records produced while no job runs.
	w.produceEvents(in, 200, 300)
	sp, err := c.StopWithSavepoint(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	running = ""
	// A load while the job is stopped moves what was committed before the stop.
	load(v1, fmt.Sprintf("load%d_%s", loads, id))
	w.produceEvents(in, 300, 400)
	v2, p2 := spec("v2")
	running = deploy(p2, sp)
	w.produceEvents(in, 400, 500)
	version := check(loadUntil(v2, 500), 500)
	for i := int64(300); i < 500; i++ {
		if version[i] != "v2" {
			t.Fatalf("id %d came out of %q, want the upgraded query v2", i, version[i])
		}
	}
	// The TaskManager dies (SIGKILL) with records in flight, and a load runs while the job has
	// none: the job restarts from its last checkpoint on a new TaskManager, the transaction the
	// dead one left open is aborted, and the rows after that checkpoint are written again in a
	// new one; the table still holds each id once.
	w.produceEvents(in, 500, 600)
	if out, err := exec.Command(filepath.Join(home, "stop-taskmanager.sh")).CombinedOutput(); err != nil {
		t.Fatalf("stop-taskmanager: %v\n%s", err, out)
	}
	load(v2, fmt.Sprintf("load%d_%s", loads, id))
	w.produceEvents(in, 600, 700)
	if out, err := exec.Command(filepath.Join(home, "start-taskmanager.sh")).CombinedOutput(); err != nil {
		t.Fatalf("start-taskmanager: %v\n%s", err, out)
	}
	check(loadUntil(v2, 700), 700)
	if err := c.Healthy(ctx, running); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d loads, %d rows in the table", loads, len(readLake(t, py, table)))
}

// exactlyOnce fails unless seen holds each id of [0, n) once and nothing else.
func exactlyOnce(t *testing.T, what string, seen map[int64]int, n int) {
	t.Helper()
	var missing, dup []int64
	for i := int64(0); i < int64(n); i++ {
		switch seen[i] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 || len(dup) > 0 || len(seen) != n {
		t.Fatalf("%s, %d ids: %d distinct, missing %v, duplicated %v", what, n, len(seen), head(missing), head(dup))
	}
}

const expirySpec = `api_version: aiflow/v1
pipeline: {id: @ID@, owner: t, env: dev, mode: streaming}
nodes:
  - id: orders
    source: kafka
    with: {topic: @ID@_in, schema: {id: int64}}
  - id: ids
    transform: flink
    inputs: [orders]
    with: {sql: "SELECT id FROM orders"}
  - id: lake
    sink: onelake
    inputs: [ids]
    with: {table: lake.ids, mode: append}
`

// Rows of the changelog topic removed (retention, here DeleteRecords) before a load moved them:
// the load fails with 65 naming the lost offsets and how to go on, instead of starting at the
// log start and leaving the table short without a word.
func TestLoadRefusesAnExpiredChangelog(t *testing.T) {
	w := newWorkspace(t)
	id := fmt.Sprintf("expiry_%d_%d", time.Now().UnixNano()%1e9, rand.IntN(1000))
	spec := w.write("p.yaml", strings.ReplaceAll(expirySpec, "@ID@", id))
	topic := flink.ChangelogTopic(id, "lake")
	adm := kadm.NewClient(w.client())
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })
	load := func(run string) result {
		return w.run("stream-load", "--pipeline", id, "--sink", "lake", "--ir", spec, "--run-id", run)
	}
	if r := load("l1"); r.code != 0 { // creates the topic
		t.Fatalf("first load: exit %d\n%s", r.code, r.stderr)
	}
	produce := func(from, to int) {
		cl := w.client(kgo.DefaultProduceTopic(topic))
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf(`{"id": %d}`, i))})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, 10)
	if r := load("l2"); r.code != 0 {
		t.Fatalf("second load: exit %d\n%s", r.code, r.stderr)
	}
	produce(10, 20)
	var gone kadm.Offsets
	gone.AddOffset(topic, 0, 15, -1)
	if _, err := adm.DeleteRecords(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	r := load("l3")
	if r.code != 65 || !strings.Contains(r.stderr, "partition 0 offsets [10, 15)") || !strings.Contains(r.stderr, "--reset-offsets") {
		t.Fatalf("load after rows expired: exit %d, want 65 naming offsets [10, 15):\n%s", r.code, r.stderr)
	}
}
