package flink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// streamingSpec is a Kafka → Flink SQL → Kafka streaming pipeline; version names the query
// (v2 multiplies by 100 instead of 10: a changed query, so a changed IR hash; v3 is v2 with no
// restart strategy: the job fails for good at its first failure).
func streamingSpec(id, in, out, windows, version string) string {
	factor := map[string]int{"v1": 10, "v2": 100, "v3": 100}[version]
	settings := ""
	if version == "v3" {
		settings = "\n      settings: {restart-strategy.type: none}"
	}
	return fmt.Sprintf(`api_version: aiflow/v1
pipeline:
  id: %[1]s
  mode: streaming
  env: dev
  team: growth
nodes:
  - id: events
    source: kafka
    with: {topic: %[2]s, schema: {id: int64, user_id: int64, amount: int64}}
  - id: enriched
    transform: flink
    inputs: [events]
    with:
      sql: SELECT id, user_id, amount * %[3]d AS amount, '%[4]s' AS version, headers FROM events WHERE amount >= 0
      checkpoint_interval: 2s%[7]s
  - id: out
    sink: kafka
    inputs: [enriched]
    with: {topic: %[5]s, key_column: user_id}
  - id: stamped
    transform: flink
    inputs: [events]
    with:
      sql: SELECT id, PROCTIME() AS pt FROM events
      checkpoint_interval: 2s%[7]s
  - id: per_second
    transform: flink
    inputs: [stamped]
    with:
      checkpoint_interval: 2s%[7]s
      sql: >
        SELECT window_start, COUNT(*) AS n, LISTAGG(CAST(id AS STRING)) AS ids
        FROM TABLE(TUMBLE(TABLE stamped, DESCRIPTOR(pt), INTERVAL '1' SECOND))
        GROUP BY window_start, window_end
  - id: windows
    sink: kafka
    inputs: [per_second]
    with: {topic: %[6]s}
`, id, in, factor, version, out, windows, settings)
}

// TestStreamingPipelineLifecycle drives a streaming pipeline compiled from a spec (a projection
// and a one-second window aggregation, each into Kafka) through the
// runner's stream commands against the test cluster and Kafka, as its DAG's tasks would:
// two concurrent deploys start one job; a redeploy of the same IR does nothing; a changed
// query upgrades through a savepoint; the TaskManager is killed mid-stream; the job is stopped
// and deployed again from its savepoint. Independent read_committed consumers count every
// input id exactly once through all of it, in the projection's output and in the windows', and
// the metadata store holds each step.
func TestStreamingPipelineLifecycle(t *testing.T) {
	w := newWorkspace(t)
	home := testenv.Require(t, testenv.FlinkHome)
	dsn := "sqlite://" + filepath.Join(w.dir, "meta.db")
	w.env["AIFLOW_METADATA_DSN"] = dsn
	w.env["AIFLOW_FLINK_REST"] = testenv.Require(t, testenv.FlinkREST)
	in, out, windows := w.topic("sp_events", 2), w.topic("sp_enriched", 1), w.topic("sp_windows", 1)
	// The pipeline id is the job's name on the cluster: this test's own.
	sp := strings.TrimPrefix(in, "sp_events_")
	sp = "sp_" + sp
	v1 := w.write("v1.yaml", streamingSpec(sp, in, out, windows, "v1"))
	v2 := w.write("v2.yaml", streamingSpec(sp, in, out, windows, "v2"))
	v3 := w.write("v3.yaml", streamingSpec(sp, in, out, windows, "v3"))
	cmd := func(action, spec string) result { return w.run("stream", action, "--pipeline", sp, "--ir", spec) }
	c, err := flink.NewClient(w.env["AIFLOW_FLINK_GATEWAY"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := cmd("stop", v3); r.code != 0 {
			t.Logf("cleanup stop: %d %s%s", r.code, r.stdout, r.stderr)
			cancelJobs(t, flink.JobName(sp))
		}
	}()
	if r := cmd("health", v1); r.code != 65 || !strings.Contains(r.stderr, "runs no job (not deployed)") {
		t.Fatalf("health before any deploy: %d %s%s", r.code, r.stdout, r.stderr)
	}
	counter := w.counter(out)
	// The aggregation's output: each window lists its input ids.
	windowed := &windowCounter{outputCounter: w.counter(windows)}
	w.produceEvents(in, 0, 200)

	// Two deploy attempts at once (a retry racing a slow pod): one job.
	var wg sync.WaitGroup
	res := make([]result, 2)
	for i := range res {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = cmd("deploy", v1) }()
	}
	wg.Wait()
	ok := 0
	for _, r := range res {
		switch r.code {
		case 0:
			ok++
		case 75: // the other held the lease
		default:
			t.Fatalf("concurrent deploy: %d %s%s", r.code, r.stdout, r.stderr)
		}
	}
	if ok == 0 {
		t.Fatalf("no concurrent deploy succeeded: %+v", res)
	}
	if r := cmd("deploy", v1); r.code != 0 || !strings.Contains(r.stdout, "already runs ir_hash") {
		t.Fatalf("redeploy of the same IR: %d %s%s", r.code, r.stdout, r.stderr)
	}
	if n := aliveJobs(t, c, flink.JobName(sp)); n != 1 {
		t.Fatalf("%d jobs named %q run, want 1", n, flink.JobName(sp))
	}
	counter.waitFor(t, 200, 3*time.Minute)
	waitHealthy(t, cmd, v1)
	// The source's headers column, as a batch read gives it: a JSON object, NULL without headers.
	for id := int64(0); id < 200; id++ {
		got, want := counter.headers[id], wantHeaders(id)
		if (got == nil) != (want == "") || (got != nil && *got != want) {
			t.Fatalf("id %d: headers %v, want %q (NULL when empty)", id, deref(got), want)
		}
	}

	// A changed query: stop with savepoint, start v2 from it.
	w.produceEvents(in, 200, 300)
	if r := cmd("deploy", v2); r.code != 0 || !strings.Contains(r.stdout, "upgraded to ir_hash") {
		t.Fatalf("upgrade: %d %s%s", r.code, r.stdout, r.stderr)
	}
	w.produceEvents(in, 300, 400)
	counter.waitFor(t, 400, 3*time.Minute)
	for id := int64(300); id < 400; id++ {
		if v := counter.version[id]; v != "v2" {
			t.Fatalf("id %d came out of %q, want the upgraded query v2", id, v)
		}
	}
	waitHealthy(t, cmd, v2)

	// The TaskManager dies mid-stream; the job restarts from its last checkpoint.
	w.produceEvents(in, 400, 450)
	if out, err := exec.Command(filepath.Join(home, "stop-taskmanager.sh")).CombinedOutput(); err != nil {
		t.Fatalf("stop-taskmanager: %v\n%s", err, out)
	}
	w.produceEvents(in, 450, 500)
	if r := cmd("health", v2); r.code != 0 && r.code != 75 {
		t.Fatalf("health with the TaskManager lost: %d %s%s, want 0 or 75", r.code, r.stdout, r.stderr)
	}
	if out, err := exec.Command(filepath.Join(home, "start-taskmanager.sh")).CombinedOutput(); err != nil {
		t.Fatalf("start-taskmanager: %v\n%s", err, out)
	}
	counter.waitFor(t, 500, 5*time.Minute)
	waitHealthy(t, cmd, v2)

	// Stopped, then deployed again from the savepoint.
	if r := cmd("stop", v2); r.code != 0 || !strings.Contains(r.stdout, "stopped; savepoint ") {
		t.Fatalf("stop: %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r := cmd("health", v2); r.code != 65 {
		t.Fatalf("health after stop: %d %s%s, want 65", r.code, r.stdout, r.stderr)
	}
	w.produceEvents(in, 500, 600)
	if r := cmd("deploy", v2); r.code != 0 || !strings.Contains(r.stdout, "from savepoint ") {
		t.Fatalf("deploy after stop: %d %s%s", r.code, r.stdout, r.stderr)
	}
	counter.waitFor(t, 600, 3*time.Minute)
	windowed.waitFor(t, 600, 2*time.Minute)

	// Flink gives up at the first failure (v3: no restart strategy): the TaskManager dies and
	// the job is FAILED for good. Its checkpoints are retained: the next deploy resumes from the
	// latest, not from the upgrade's savepoint (whose later output, 600-700, is committed).
	if r := cmd("deploy", v3); r.code != 0 || !strings.Contains(r.stdout, "upgraded to ir_hash") {
		t.Fatalf("upgrade to v3: %d %s%s", r.code, r.stdout, r.stderr)
	}
	w.produceEvents(in, 600, 700)
	counter.waitFor(t, 700, 3*time.Minute)
	waitHealthy(t, cmd, v3)
	w.produceEvents(in, 700, 750)
	if out, err := exec.Command(filepath.Join(home, "stop-taskmanager.sh")).CombinedOutput(); err != nil {
		t.Fatalf("stop-taskmanager: %v\n%s", err, out)
	}
	w.produceEvents(in, 750, 800)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(2 * time.Second) {
		r := cmd("health", v3)
		if r.code == 65 && strings.Contains(r.stderr, "FAILED") && strings.Contains(r.stderr, "restarts it from its latest retained checkpoint") {
			break
		}
		if (r.code != 0 && r.code != 75) || time.Now().After(deadline) {
			t.Fatalf("health of a job that fails for good: %d %s%s, want 65 FAILED", r.code, r.stdout, r.stderr)
		}
	}
	if out, err := exec.Command(filepath.Join(home, "start-taskmanager.sh")).CombinedOutput(); err != nil {
		t.Fatalf("start-taskmanager: %v\n%s", err, out)
	}
	// Without a restart strategy the job fails at once when no TaskManager offers a slot yet.
	waitSlots(t, w.env["AIFLOW_FLINK_REST"])
	if r := cmd("deploy", v3); r.code != 0 || !strings.Contains(r.stdout, "from the retained checkpoint ") || !strings.Contains(r.stdout, "/chk-") {
		t.Fatalf("deploy of the failed job: %d %s%s", r.code, r.stdout, r.stderr)
	}
	counter.waitFor(t, 800, 3*time.Minute)
	windowed.waitFor(t, 800, 2*time.Minute)
	waitHealthy(t, cmd, v3)

	// The metadata store: the deployment and its history.
	r := w.run("stream", "status", "--pipeline", sp, "--events", "80", "--json")
	if r.code != 0 {
		t.Fatalf("status: %d %s%s", r.code, r.stdout, r.stderr)
	}
	var st []struct {
		metadata.StreamJob
		Live   string                 `json:"live_state"`
		Events []metadata.StreamEvent `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st) != 1 {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	j := st[0]
	if j.Team != "growth" || j.JobID == "" || j.Savepoint == "" || j.DeployedAt == nil || j.StoppedAt != nil || j.Live == "" {
		t.Errorf("deployment %+v", j)
	}
	var actions []string
	for i := len(j.Events) - 1; i >= 0; i-- {
		if e := j.Events[i]; e.Action != metadata.StreamHealth && e.State != flink.StateDeploying {
			actions = append(actions, e.Action)
		}
	}
	if got, want := strings.Join(actions, ","), "deploy,stop,upgrade,stop,deploy,stop,upgrade,restart"; got != want {
		t.Errorf("events %s, want %s", got, want)
	}
	ctx := context.Background()
	ms, err := metadata.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if v, err := ms.PipelineVersion(ctx, sp, j.IRHash); err != nil || v.Team != "growth" {
		t.Errorf("pipeline version of the deployed IR: %+v, %v", v, err)
	}
	// A streaming pipeline's nodes do not run one by one.
	if r := w.run("run", "--pipeline", sp, "--ir", v3, "--all"); r.code != 64 || !strings.Contains(r.stderr, "is a streaming pipeline") {
		t.Errorf("run of a streaming pipeline: %d %s%s", r.code, r.stdout, r.stderr)
	}
}

// waitSlots waits until a TaskManager offers the cluster a free slot.
func waitSlots(t *testing.T, rest string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		var ov struct {
			TaskManagers int `json:"taskmanagers"`
			Free         int `json:"slots-available"`
		}
		resp, err := http.Get(rest + "/overview")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&ov)
			resp.Body.Close()
		}
		if err == nil && ov.TaskManagers > 0 && ov.Free > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TaskManager slot after 3 minutes: %+v %v", ov, err)
		}
	}
}

// wantHeaders is the headers column produceEvents gives record id ("" for NULL).
func wantHeaders(id int64) string {
	if id%3 != 0 {
		return ""
	}
	return fmt.Sprintf(`{"src":"e%d"}`, id)
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func aliveJobs(t *testing.T, c *flink.Client, name string) int {
	t.Helper()
	jobs, err := c.Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range jobs {
		if j.Name == name && (j.Status == "RUNNING" || j.Status == "CREATED" || j.Status == "INITIALIZING" || j.Status == "RESTARTING") {
			n++
		}
	}
	return n
}

// waitHealthy runs the health command until it exits 0 (75 while the job starts or restarts).
func waitHealthy(t *testing.T, cmd func(string, string) result, spec string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		r := cmd("health", spec)
		if r.code == 0 {
			return
		}
		if r.code != 75 || time.Now().After(deadline) {
			t.Fatalf("health: %d %s%s", r.code, r.stdout, r.stderr)
		}
		time.Sleep(2 * time.Second)
	}
}

// cancelJobs cancels the jobs of this name that still run (through the JobManager's REST API):
// a test that failed mid-way leaves no job behind on the cluster.
func cancelJobs(t *testing.T, name string) {
	rest := testenv.Require(t, testenv.FlinkREST)
	resp, err := http.Get(rest + "/jobs/overview")
	if err != nil {
		t.Logf("cancel jobs: %v", err)
		return
	}
	defer resp.Body.Close()
	var ov struct {
		Jobs []struct{ JID, Name, State string } `json:"jobs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ov); err != nil {
		t.Logf("cancel jobs: %v", err)
		return
	}
	for _, j := range ov.Jobs {
		if j.Name != name || j.State == "FINISHED" || j.State == "CANCELED" || j.State == "FAILED" {
			continue
		}
		req, _ := http.NewRequest(http.MethodPatch, rest+"/jobs/"+j.JID+"?mode=cancel", nil)
		if r, err := http.DefaultClient.Do(req); err == nil {
			r.Body.Close()
		}
	}
}

// windowCounter counts the ids the windows of an aggregation list ({"n", "ids": "1,5,9"}),
// through a read_committed consumer: each input id must be in exactly one window.
type windowCounter struct {
	*outputCounter
}

func (o *windowCounter) waitFor(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(o.seen) < n && time.Now().Before(deadline) {
		o.poll(t, 2*time.Second)
	}
	o.poll(t, 3*time.Second)
	var missing, dup []int64
	for i := int64(0); i < int64(n); i++ {
		switch c := o.seen[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 || len(dup) > 0 || len(o.seen) != n {
		t.Fatalf("windows after %d ids: %d distinct seen, missing %v, duplicated %v", n, len(o.seen), head(missing), head(dup))
	}
}

func (o *windowCounter) poll(t *testing.T, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	o.cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		var v struct {
			N   int64  `json:"n"`
			IDs string `json:"ids"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("window %s: %v", r.Value, err)
		}
		ids := strings.Split(v.IDs, ",")
		if int64(len(ids)) != v.N {
			t.Fatalf("window %s: n %d but %d ids", r.Value, v.N, len(ids))
		}
		for _, s := range ids {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("window %s: %v", r.Value, err)
			}
			o.seen[id]++
		}
	})
}

// TestStreamingDeployRefusesAnUpdatingQuery: a query whose result updates (a GROUP BY without a
// window) cannot feed an append-only Kafka sink: the deploy fails with 65 and Flink's reason, no
// job starts, and health says none runs.
func TestStreamingDeployRefusesAnUpdatingQuery(t *testing.T) {
	w := newWorkspace(t)
	w.env["AIFLOW_METADATA_DSN"] = "sqlite://" + filepath.Join(w.dir, "meta.db")
	id := fmt.Sprintf("upd_%d", time.Now().UnixNano()%1e9)
	spec := strings.Replace(streamingSpec(id, id+"_in", id+"_out", id+"_w", "v1"),
		"SELECT id, user_id, amount * 10 AS amount, 'v1' AS version, headers FROM events WHERE amount >= 0",
		"SELECT user_id, COUNT(*) AS n FROM events GROUP BY user_id", 1)
	path := w.write("upd.yaml", spec)
	r := w.run("stream", "deploy", "--pipeline", id, "--ir", path)
	if r.code != 65 || !strings.Contains(r.stderr, "doesn't support consuming update changes") {
		t.Fatalf("deploy of an updating query into a kafka sink: %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r := w.run("stream", "health", "--pipeline", id, "--ir", path); r.code != 65 {
		t.Fatalf("health after a refused deploy: %d %s%s", r.code, r.stdout, r.stderr)
	}
}
