package cli_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

const pyJobs = `import pyarrow as pa
import pyarrow.compute as pc
import time

def per_user(inputs, params):
    t = inputs["orders"]
    g = t.group_by("user_id").aggregate([("amount", "sum"), ("order_id", "count")])
    return g.append_column("bucket", pa.array([params.get("bucket", "x")] * g.num_rows))

def as_pandas(inputs, params):
    return inputs["orders"].to_pandas().head(10)

def boom(inputs, params):
    raise ValueError("boom: bad rows")

def not_a_table(inputs, params):
    return 42

def slow(inputs, params):
    time.sleep(30)
    return inputs["orders"]
`

func pythonSpec(w *workspace, fn, extra string) string {
	return w.write("spec-"+fn+".yaml", `api_version: aiflow/v1
pipeline: {id: py, owner: me, env: dev}
nodes:
  - {id: orders, source: files, with: {path: `+w.path("in/orders")+`/}}
  - id: feat
    transform: python
    inputs: [orders]
    with: {fn: "jobs:`+fn+`"`+extra+`}
  - {id: out, sink: files, inputs: [feat], with: {path: `+w.path("out/"+fn)+`/}}
`)
}

func TestPythonEngine(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	w := newWorkspace(t)
	w.env["AIFLOW_PYTHON"] = py
	w.orders("in/orders", 5000)
	w.write("jobs/jobs.py", pyJobs)
	w.env["AIFLOW_PYTHONPATH"] = w.path("jobs")
	tests := []struct {
		fn, extra string
		code      int
		want      string
	}{
		{"per_user", `, bucket: "gold"`, 0, ""},
		{"as_pandas", "", 0, ""},
		{"boom", "", 65, "ValueError: boom: bad rows"},
		{"not_a_table", "", 65, "int"},
		{"missing_fn", "", 78, "missing_fn"},
		{"slow", `, timeout: "2s"`, 75, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			term := w.path("term-" + tt.fn)
			w.env["AIFLOW_TERMINATION_LOG"] = term
			start := time.Now()
			r := w.run("run", "--pipeline", "py", "--all", "--ir", pythonSpec(w, tt.fn, tt.extra), "--run-id", "r-"+tt.fn)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.code == 0 {
				if rows := tableRows2(t, w.path("out/"+tt.fn)); rows == 0 {
					t.Error("no rows published")
				}
				return
			}
			b, _ := os.ReadFile(term)
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("termination message %q lacks %q", b, tt.want)
			}
			if tt.fn == "boom" && !strings.Contains(r.stdout+r.stderr, "Traceback") {
				t.Errorf("the traceback should be in the log:\n%s", r.stderr)
			}
			if tt.fn == "slow" && time.Since(start) > 25*time.Second {
				t.Errorf("the timeout did not stop the function (%s)", time.Since(start))
			}
			if _, err := os.Stat(w.path("out/" + tt.fn + "/_aiflow/current.json")); err == nil {
				t.Error("a failed python node published output")
			}
		})
	}
}

// tableRows2 returns the row count of a published table's current version.
func tableRows2(t *testing.T, dir string) int64 {
	t.Helper()
	b, err := os.ReadFile(dir + "/_aiflow/current.json")
	if err != nil {
		t.Fatalf("no published version: %v", err)
	}
	var v struct {
		Rows int64 `json:"rows"`
	}
	if err := jsonUnmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v.Rows
}

const pyObserved = `from aiflow_sdk.observability import MetricsClient, structured_log, track_duration

def observed(inputs, params):
    t = inputs["orders"]
    structured_log("warn", "orders_seen", rows=t.num_rows, stage="feat")
    m = MetricsClient()
    m.incr("orders_seen", t.num_rows, channel="all")
    with track_duration("feat_seconds"):
        out = t.slice(0, 10)
    return out
`

// TestPythonObservability: a python function's structured_log lands in the node's own log
// stream (with the node's fields) and its MetricsClient / track_duration metrics in the node's
// metrics on the Pushgateway.
func TestPythonObservability(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	gateway := testenv.Require(t, testenv.Pushgateway)
	w := newWorkspace(t)
	w.env["AIFLOW_PYTHON"] = py
	w.env["AIFLOW_PUSHGATEWAY_URL"] = gateway
	w.orders("in/orders", 500)
	w.write("jobs/jobs.py", pyObserved)
	w.env["AIFLOW_PYTHONPATH"] = w.path("jobs")
	id := obsPipelineID(t)
	b, err := os.ReadFile(pythonSpec(w, "observed", ""))
	if err != nil {
		t.Fatal(err)
	}
	spec := w.write("observed.yaml", strings.Replace(string(b), "id: py,", "id: "+id+",", 1))
	r := w.run("run", "--pipeline", id, "--node", "orders", "--ir", spec, "--run-id", "o1")
	if r.code != 0 {
		t.Fatalf("orders: exit %d\n%s", r.code, r.stderr)
	}
	r = w.run("run", "--pipeline", id, "--node", "feat", "--ir", spec, "--run-id", "o1")
	if r.code != 0 {
		t.Fatalf("feat: exit %d\n%s", r.code, r.stderr)
	}
	var line string
	for _, l := range strings.Split(r.stderr+r.stdout, "\n") {
		if strings.Contains(l, "orders_seen") {
			line = l
		}
	}
	for _, want := range []string{"level=WARN", "msg=orders_seen", "user.rows=500", "user.stage=feat", "node=feat", "pipeline=" + id} {
		if !strings.Contains(line, want) {
			t.Errorf("log record %q lacks %s", line, want)
		}
	}
	m := pushedMetrics(t, gateway, id)
	seen := m["aiflow_user_orders_seen_total"]
	if len(seen) != 1 || seen[0].GetCounter().GetValue() != 500 || labelsOf(seen[0])["channel"] != "all" || labelsOf(seen[0])["node"] != "feat" {
		t.Errorf("aiflow_user_orders_seen_total on the Pushgateway: %v", seen)
	}
	if h := m["aiflow_user_feat_seconds"]; len(h) != 1 || h[0].GetHistogram().GetSampleCount() != 1 {
		t.Errorf("aiflow_user_feat_seconds on the Pushgateway: %v", h)
	}
}
