package cli_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/aiflow-dev/aiflow/internal/observability/oltest"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// Issue #8's "Done when", through the real CLI: a local run with the Pushgateway and a lineage
// receiver configured shows the metrics, the events (valid against the OpenLineage schema) and
// JSON logs with every identity and tenancy field.

const (
	obsOrders    = 5000
	obsParentRun = "01936f52-8c1d-7b3a-9e4f-2a6b8c0d1e2f"
	obsSpec      = `api_version: aiflow/v1
pipeline: {id: PIPELINE, owner: me, team: obs-team, env: dev, project: obs-project, cost_center: cc-8}
nodes:
  - id: orders
    source: files
    with: {path: ORDERS, format: parquet}
  - id: by_user
    transform: arrow
    inputs: [orders]
    with:
      steps:
        - filter: "FILTER"
        - group_by: {keys: [user_id], aggs: {n: "count(*)", amt: "sum(amount)"}}
  - id: out
    sink: files
    inputs: [by_user]
    with: {path: OUT, mode: overwrite}
`
)

var (
	obsNodes   = []string{"orders", "by_user", "out"}
	obsEngines = map[string]string{"orders": "files", "by_user": "arrow", "out": "files"}
	obsTenancy = map[string]string{"team": "obs-team", "env": "dev", "project": "obs-project", "cost_center": "cc-8"}
	logFields  = []string{"pipeline", "node", "run_id", "try", "ir_hash", "engine", "team", "env", "project", "cost_center"}
)

// obsPipelineID is unique per test and process: parallel runs never share a Pushgateway group.
func obsPipelineID(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	return fmt.Sprintf("obs_%s_%x", strings.ToLower(name), time.Now().UnixNano())
}

// obsWorkspace writes the three-node pipeline (filter is the transform's filter step) and sets
// JSON logs at info level.
func obsWorkspace(t *testing.T, filter string) (w *workspace, spec, pipeline string) {
	w = newWorkspace(t)
	w.env["AIFLOW_LOG_FORMAT"] = "json"
	w.env["AIFLOW_LOG_LEVEL"] = "info"
	w.orders("in/orders", obsOrders)
	pipeline = obsPipelineID(t)
	spec = w.write("spec/obs.yaml", strings.NewReplacer(
		"PIPELINE", pipeline, "FILTER", filter,
		"ORDERS", w.path("in/orders")+"/", "OUT", w.path("out/by_user")+"/").Replace(obsSpec))
	return w, spec, pipeline
}

// lineageReceiver is an OpenLineage HTTP endpoint (Marquez's POST /api/v1/lineage) that keeps
// the events it is sent.
type lineageReceiver struct {
	mu     sync.Mutex
	bodies [][]byte
	bad    []string
}

func (r *lineageReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Method != http.MethodPost || req.URL.Path != "/api/v1/lineage" || req.Header.Get("Content-Type") != "application/json" {
		r.bad = append(r.bad, req.Method+" "+req.URL.Path+" "+req.Header.Get("Content-Type"))
		http.Error(w, "want POST /api/v1/lineage application/json", http.StatusBadRequest)
		return
	}
	r.bodies = append(r.bodies, b)
	w.WriteHeader(http.StatusCreated)
}

// olEvent is the part of a RunEvent the test looks at.
type olEvent struct {
	EventType string `json:"eventType"`
	Run       struct {
		RunID  string                     `json:"runId"`
		Facets map[string]json.RawMessage `json:"facets"`
	} `json:"run"`
	Job struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"job"`
	Inputs  []olDataset `json:"inputs"`
	Outputs []olDataset `json:"outputs"`
}

type olDataset struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Facets    struct {
		Schema *struct {
			Fields []struct{ Name, Type string } `json:"fields"`
		} `json:"schema"`
	} `json:"facets"`
	OutputFacets struct {
		OutputStatistics *struct {
			RowCount int64 `json:"rowCount"`
			Size     int64 `json:"size"`
		} `json:"outputStatistics"`
	} `json:"outputFacets"`
}

// events validates every event received against the OpenLineage schemas and returns them by
// node, in the order received.
func (r *lineageReceiver) events(t *testing.T, pipeline string) map[string][]olEvent {
	t.Helper()
	v := oltest.New(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		t.Errorf("lineage requests not to POST /api/v1/lineage as JSON: %v", r.bad)
	}
	out := map[string][]olEvent{}
	for _, b := range r.bodies {
		v.Validate(t, b)
		var ev olEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		node, ok := strings.CutPrefix(ev.Job.Name, pipeline+".")
		if !ok {
			t.Errorf("event of job %q, not of pipeline %s", ev.Job.Name, pipeline)
			continue
		}
		out[node] = append(out[node], ev)
	}
	return out
}

func eventTypes(evs []olEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.EventType)
	}
	return strings.Join(s, ",")
}

// pushedMetrics scrapes the Pushgateway and returns the aiflow_* samples of the pipeline's groups.
func pushedMetrics(t *testing.T, gateway, pipeline string) map[string][]*dto.Metric {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(gateway, "/") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %s", gateway, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the Pushgateway's /metrics: %v", err)
	}
	out := map[string][]*dto.Metric{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "aiflow_") {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelsOf(m)["pipeline"] == pipeline {
				out[name] = append(out[name], m)
			}
		}
	}
	return out
}

func labelsOf(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// metricSample returns the one sample of name whose labels include want, failing the test otherwise.
func metricSample(t *testing.T, ms map[string][]*dto.Metric, name string, want map[string]string) *dto.Metric {
	t.Helper()
	var found []*dto.Metric
next:
	for _, m := range ms[name] {
		l := labelsOf(m)
		for k, v := range want {
			if l[k] != v {
				continue next
			}
		}
		found = append(found, m)
	}
	if len(found) != 1 {
		t.Errorf("%s%v: %d series on the Pushgateway, want 1", name, want, len(found))
		return nil
	}
	return found[0]
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m == nil:
		return -1
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// checkMetricLabels checks every pushed series of the node: grouped as the package documents
// (job aiflow, pipeline, node), with the node's engine and the tenancy, never run_id or try.
func checkMetricLabels(t *testing.T, ms map[string][]*dto.Metric, pipeline, node string) {
	t.Helper()
	for _, name := range []string{"aiflow_node_attempts_total", "aiflow_node_duration_seconds", "aiflow_node_rows_total",
		"aiflow_node_bytes_total", "aiflow_node_failures_total"} {
		found := false
		for _, m := range ms[name] {
			found = found || labelsOf(m)["node"] == node
		}
		if !found {
			t.Errorf("no %s of %s on the Pushgateway", name, node)
		}
	}
	for name, series := range ms {
		for _, m := range series {
			l := labelsOf(m)
			if l["node"] != node {
				continue
			}
			want := map[string]string{"job": "aiflow", "pipeline": pipeline, "node": node, "engine": obsEngines[node]}
			for k, v := range obsTenancy {
				want[k] = v
			}
			for k, v := range want {
				if l[k] != v {
					t.Errorf("%s of %s: label %s=%q, want %q (labels %v)", name, node, k, l[k], v, l)
				}
			}
			for _, bad := range []string{"run_id", "try"} {
				if _, ok := l[bad]; ok {
					t.Errorf("%s of %s has a %s label: unbounded cardinality", name, node, bad)
				}
			}
		}
	}
}

// jsonLogLines parses stdout: every line must be a JSON object.
func jsonLogLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, line := range strings.Split(strings.TrimRight(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("stdout line %d is not JSON: %v\n%s", i+1, err, line)
			continue
		}
		out = append(out, m)
	}
	return out
}

// checkLogs checks that every line carries every field, and the right values: every line is a
// node's (the runner logs nothing outside a node run), so node, engine and ir_hash are never
// empty.
func checkLogs(t *testing.T, lines []map[string]any, pipeline, runID string) map[string]int {
	t.Helper()
	perNode := map[string]int{}
	for _, l := range lines {
		for _, f := range logFields {
			if _, ok := l[f]; !ok {
				t.Errorf("log line without %s: %v", f, l)
			}
		}
		node, _ := l["node"].(string)
		perNode[node]++
		want := map[string]any{"pipeline": pipeline, "run_id": runID, "try": float64(1), "engine": obsEngines[node]}
		for k, v := range obsTenancy {
			want[k] = v
		}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("log line: %s=%v, want %v: %v", k, l[k], v, l)
			}
		}
		if h, _ := l["ir_hash"].(string); len(h) < 8 {
			t.Errorf("log line: ir_hash %q: %v", h, l)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := l[k]; !ok {
				t.Errorf("log line without %s: %v", k, l)
			}
		}
	}
	return perNode
}

func committedRows(t *testing.T, w *workspace, pipeline, runID, node string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.env["AIFLOW_HOME"], "staging", pipeline, runID, node, "_manifest.json"))
	if err != nil {
		t.Fatalf("committed manifest of %s: %v", node, err)
	}
	var m struct {
		Rows int64 `json:"rows"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Rows
}

func TestObservabilityEndToEnd(t *testing.T) {
	gateway := testenv.Require(t, testenv.Pushgateway)
	oltest.New(t) // skip early without the schemas
	w, spec, pipeline := obsWorkspace(t, "status = 'paid'")
	recv := &lineageReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	w.env["AIFLOW_PUSHGATEWAY_URL"] = gateway
	w.env["AIFLOW_OPENLINEAGE_URL"] = srv.URL
	w.env["OPENLINEAGE_PARENT_ID"] = "airflow_ns/qs.by_user/" + obsParentRun

	const runID = "obs_run_1"
	r := w.run("run", "--pipeline", pipeline, "--all", "--ir", spec, "--run-id", runID, "--logical-date", "2026-03-01")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rows := map[string]int64{}
	for _, n := range obsNodes {
		rows[n] = committedRows(t, w, pipeline, runID, n)
	}
	// A files source pins files without reading them: its manifest may say 0 rows.
	if rows["by_user"] <= 0 || rows["out"] != rows["by_user"] {
		t.Fatalf("rows committed: %v", rows)
	}

	t.Run("metrics", func(t *testing.T) {
		ms := pushedMetrics(t, gateway, pipeline)
		for _, n := range obsNodes {
			checkMetricLabels(t, ms, pipeline, n)
			node := map[string]string{"node": n}
			if v := metricValue(metricSample(t, ms, "aiflow_node_attempts_total", node)); v != 1 {
				t.Errorf("attempts of %s = %v, want 1", n, v)
			}
			if v := metricValue(metricSample(t, ms, "aiflow_node_duration_seconds", map[string]string{"node": n, "status": "succeeded"})); v != 1 {
				t.Errorf("duration observations of %s = %v, want 1", n, v)
			}
			if v := metricValue(metricSample(t, ms, "aiflow_node_rows_total", map[string]string{"node": n, "direction": "out"})); v != float64(rows[n]) {
				t.Errorf("rows out of %s = %v, want %d (the manifest's)", n, v, rows[n])
			}
			if v := metricValue(metricSample(t, ms, "aiflow_node_last_success_timestamp_seconds", node)); v < float64(time.Now().Add(-time.Hour).Unix()) {
				t.Errorf("last success of %s = %v", n, v)
			}
			for _, m := range ms["aiflow_node_failures_total"] {
				if labelsOf(m)["node"] == n && metricValue(m) != 0 {
					t.Errorf("failures of %s: %v = %v", n, labelsOf(m), metricValue(m))
				}
			}
			if v := metricValue(metricSample(t, ms, "aiflow_lineage_errors_total", node)); v != 0 {
				t.Errorf("lineage errors of %s = %v", n, v)
			}
		}
		if v := metricValue(metricSample(t, ms, "aiflow_node_rows_total", map[string]string{"node": "by_user", "direction": "in"})); v != obsOrders {
			t.Errorf("rows into by_user = %v, want %d (the orders)", v, obsOrders)
		}
		if v := metricValue(metricSample(t, ms, "aiflow_node_rows_total", map[string]string{"node": "out", "direction": "in"})); v != float64(rows["by_user"]) {
			t.Errorf("rows into out = %v, want %d (by_user's manifest)", v, rows["by_user"])
		}
	})

	t.Run("lineage", func(t *testing.T) {
		byNode := recv.events(t, pipeline)
		if len(byNode) != len(obsNodes) {
			t.Errorf("events for nodes %v, want %v", byNode, obsNodes)
		}
		for _, n := range obsNodes {
			evs := byNode[n]
			if got := eventTypes(evs); got != "START,COMPLETE" {
				t.Errorf("%s: events %s, want START,COMPLETE", n, got)
				continue
			}
			start, done := evs[0], evs[1]
			if start.Run.RunID != done.Run.RunID || start.Run.RunID == "" {
				t.Errorf("%s: START runId %q, COMPLETE runId %q", n, start.Run.RunID, done.Run.RunID)
			}
			if done.Job.Namespace != "aiflow" {
				t.Errorf("%s: job namespace %q", n, done.Job.Namespace)
			}
			for _, ev := range evs {
				var parent struct {
					Run struct{ RunID string } `json:"run"`
					Job struct{ Namespace, Name string }
				}
				if err := json.Unmarshal(ev.Run.Facets["parent"], &parent); err != nil {
					t.Errorf("%s %s: parent facet %s: %v", n, ev.EventType, ev.Run.Facets["parent"], err)
				}
				if parent.Run.RunID != obsParentRun || parent.Job.Namespace != "airflow_ns" || parent.Job.Name != "qs.by_user" {
					t.Errorf("%s %s: parent facet %s", n, ev.EventType, ev.Run.Facets["parent"])
				}
				if _, ok := ev.Run.Facets["nominalTime"]; !ok {
					t.Errorf("%s %s: no nominalTime facet", n, ev.EventType)
				}
			}
			if n == "orders" {
				// A source's job reads its dataset: an input (with inputStatistics), no output.
				if len(done.Inputs) != 1 || len(done.Outputs) != 0 {
					t.Errorf("orders: COMPLETE inputs %d outputs %d; want 1, 0", len(done.Inputs), len(done.Outputs))
				} else if bu := byNode["by_user"]; len(bu) == 2 && len(bu[1].Inputs) == 1 &&
					(bu[1].Inputs[0].Namespace != done.Inputs[0].Namespace || bu[1].Inputs[0].Name != done.Inputs[0].Name) {
					t.Errorf("orders read %s/%s, by_user read %s/%s", done.Inputs[0].Namespace, done.Inputs[0].Name, bu[1].Inputs[0].Namespace, bu[1].Inputs[0].Name)
				}
				continue
			}
			// The transform and the sink: what they read and wrote, with schemas and statistics.
			if len(done.Inputs) != 1 || len(done.Outputs) != 1 || len(start.Inputs) != 1 {
				t.Errorf("%s: START inputs %d, COMPLETE inputs %d outputs %d; want 1, 1, 1", n, len(start.Inputs), len(done.Inputs), len(done.Outputs))
				continue
			}
			for _, d := range []olDataset{done.Inputs[0], done.Outputs[0]} {
				if d.Namespace == "" || d.Name == "" || d.Facets.Schema == nil || len(d.Facets.Schema.Fields) == 0 {
					t.Errorf("%s: dataset %s/%s without a schema facet", n, d.Namespace, d.Name)
				}
			}
			st := done.Outputs[0].OutputFacets.OutputStatistics
			if st == nil || st.RowCount != rows[n] || st.Size <= 0 {
				t.Errorf("%s: outputStatistics %+v, want rowCount %d and a size", n, st, rows[n])
			}
		}
		// Datasets chain: what by_user wrote is what out read.
		if bu, out := byNode["by_user"], byNode["out"]; len(bu) == 2 && len(out) == 2 && len(bu[1].Outputs) == 1 && len(out[1].Inputs) == 1 &&
			(bu[1].Outputs[0].Namespace != out[1].Inputs[0].Namespace || bu[1].Outputs[0].Name != out[1].Inputs[0].Name) {
			t.Errorf("by_user wrote %s/%s, out read %s/%s", bu[1].Outputs[0].Namespace, bu[1].Outputs[0].Name,
				out[1].Inputs[0].Namespace, out[1].Inputs[0].Name)
		}
		if fields := schemaNames(byNode["by_user"]); fields != "amt,n,user_id" {
			t.Errorf("by_user output schema fields = %s", fields)
		}
	})

	t.Run("logs", func(t *testing.T) {
		lines := jsonLogLines(t, r.stdout)
		perNode := checkLogs(t, lines, pipeline, runID)
		for _, n := range obsNodes {
			if perNode[n] == 0 {
				t.Errorf("no log line of node %s", n)
			}
		}
		if len(perNode) != len(obsNodes) {
			t.Errorf("log lines by node %v, want only %v", perNode, obsNodes)
		}
	})
}

func schemaNames(evs []olEvent) string {
	if len(evs) != 2 || len(evs[1].Outputs) != 1 || evs[1].Outputs[0].Facets.Schema == nil {
		return ""
	}
	var names []string
	for _, f := range evs[1].Outputs[0].Facets.Schema.Fields {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// TestObservabilityFailingNode fails a node of the pipeline: it emits START and FAIL (with the
// errorMessage facet), the run exits with the error's code, the node's failures metric counts
// one failure of its error class, and the nodes after it send nothing.
func TestObservabilityFailingNode(t *testing.T) {
	gateway := testenv.Require(t, testenv.Pushgateway)
	oltest.New(t)
	for _, tc := range []struct {
		name, filter string
		noOrders     bool // the source's folder does not exist
		node         string
		code         int
		class, msg   string
		before       []string // the nodes that completed
	}{
		// A string column compared to a number: the arrow engine rejects the step when it
		// plans it against the input schema (a configuration error, exit 78).
		{name: "transform type error", filter: "status > 5", node: "by_user", code: 78, class: "config",
			msg: "cannot compare utf8 with int64", before: []string{"orders"}},
		// The source's files are missing: a data error (exit 65).
		{name: "missing input", filter: "status = 'paid'", noOrders: true, node: "orders", code: 65, class: "data",
			msg: "orders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, spec, pipeline := obsWorkspace(t, tc.filter)
			if tc.noOrders {
				if err := os.RemoveAll(w.path("in/orders")); err != nil {
					t.Fatal(err)
				}
			}
			recv := &lineageReceiver{}
			srv := httptest.NewServer(recv)
			defer srv.Close()
			w.env["AIFLOW_PUSHGATEWAY_URL"] = gateway
			w.env["AIFLOW_OPENLINEAGE_URL"] = srv.URL
			w.env["OPENLINEAGE_PARENT_ID"] = "airflow_ns/qs.by_user/" + obsParentRun

			const runID = "obs_fail_1"
			r := w.run("run", "--pipeline", pipeline, "--all", "--ir", spec, "--run-id", runID)
			if r.code != tc.code {
				t.Fatalf("run: exit %d, want %d\n%s\n%s", r.code, tc.code, r.stdout, r.stderr)
			}

			byNode := recv.events(t, pipeline)
			ran := map[string]bool{tc.node: true}
			for _, n := range tc.before {
				ran[n] = true
				if got := eventTypes(byNode[n]); got != "START,COMPLETE" {
					t.Errorf("%s: events %s, want START,COMPLETE", n, got)
				}
			}
			for _, n := range obsNodes {
				if _, ok := byNode[n]; ok && !ran[n] {
					t.Errorf("%s never ran but has events %s", n, eventTypes(byNode[n]))
				}
			}
			evs := byNode[tc.node]
			if got := eventTypes(evs); got != "START,FAIL" {
				t.Fatalf("%s: events %s, want START,FAIL", tc.node, got)
			}
			if evs[0].Run.RunID != evs[1].Run.RunID {
				t.Errorf("%s: START and FAIL runIds differ: %s %s", tc.node, evs[0].Run.RunID, evs[1].Run.RunID)
			}
			var em struct{ Message, ProgrammingLanguage string }
			if err := json.Unmarshal(evs[1].Run.Facets["errorMessage"], &em); err != nil || !strings.HasPrefix(em.Message, tc.class+": ") ||
				!strings.Contains(em.Message, tc.msg) || em.ProgrammingLanguage != "GO" {
				t.Errorf("%s FAIL errorMessage facet = %s (%v)", tc.node, evs[1].Run.Facets["errorMessage"], err)
			}
			if _, ok := evs[1].Run.Facets["parent"]; !ok {
				t.Errorf("%s FAIL: no parent facet", tc.node)
			}

			ms := pushedMetrics(t, gateway, pipeline)
			checkMetricLabels(t, ms, pipeline, tc.node)
			node := map[string]string{"node": tc.node}
			if v := metricValue(metricSample(t, ms, "aiflow_node_failures_total", map[string]string{"node": tc.node, "error_class": tc.class})); v != 1 {
				t.Errorf("failures of %s{error_class=%s} = %v, want 1", tc.node, tc.class, v)
			}
			for _, m := range ms["aiflow_node_failures_total"] {
				if l := labelsOf(m); (l["node"] != tc.node || l["error_class"] != tc.class) && metricValue(m) != 0 {
					t.Errorf("failures %v = %v, want 0", l, metricValue(m))
				}
			}
			if v := metricValue(metricSample(t, ms, "aiflow_node_attempts_total", node)); v != 1 {
				t.Errorf("attempts of %s = %v, want 1", tc.node, v)
			}
			if v := metricValue(metricSample(t, ms, "aiflow_node_duration_seconds", map[string]string{"node": tc.node, "status": "failed"})); v != 1 {
				t.Errorf("failed duration observations of %s = %v, want 1", tc.node, v)
			}
			if v := metricValue(metricSample(t, ms, "aiflow_node_last_failure_timestamp_seconds", node)); v < float64(time.Now().Add(-time.Hour).Unix()) {
				t.Errorf("last failure of %s = %v", tc.node, v)
			}
			for _, m := range ms["aiflow_node_last_success_timestamp_seconds"] {
				if n := labelsOf(m)["node"]; n == tc.node {
					t.Errorf("a last success of %s, which never succeeded", n)
				}
			}
			for _, m := range ms["aiflow_node_attempts_total"] {
				if n := labelsOf(m)["node"]; !ran[n] {
					t.Errorf("%s never ran but pushed metrics", n)
				}
			}

			perNode := checkLogs(t, jsonLogLines(t, r.stdout), pipeline, runID)
			if perNode[tc.node] == 0 {
				t.Errorf("no log line of %s", tc.node)
			}
		})
	}
}

func TestObservabilityLineageBackendDown(t *testing.T) {
	w, spec, pipeline := obsWorkspace(t, "status = 'paid'")
	// The same run without lineage first: the baseline the run with a dead backend is timed against.
	begin := time.Now()
	if r := w.run("run", "--pipeline", pipeline, "--all", "--ir", spec, "--run-id", "baseline"); r.code != 0 {
		t.Fatalf("baseline run: exit %d\n%s", r.code, r.stderr)
	}
	baseline := time.Since(begin)

	w.env["AIFLOW_OPENLINEAGE_URL"] = "http://127.0.0.1:1"
	gateway := os.Getenv(testenv.Pushgateway) // optional here
	w.env["AIFLOW_PUSHGATEWAY_URL"] = gateway
	begin = time.Now()
	r := w.run("run", "--pipeline", pipeline, "--all", "--ir", spec, "--run-id", "down")
	took := time.Since(begin)
	if r.code != 0 {
		t.Fatalf("run with the lineage backend down: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if took > baseline+3*time.Second {
		t.Errorf("run with the lineage backend down took %s, %s without lineage", took, baseline)
	}
	lines := jsonLogLines(t, r.stdout)
	perNode := checkLogs(t, lines, pipeline, "down")
	warned := map[string]int{}
	for _, l := range lines {
		if l["msg"] == "openlineage event not delivered" {
			warned[l["node"].(string)]++
		}
	}
	for _, n := range obsNodes {
		if warned[n] != 2 || perNode[n] == 0 {
			t.Errorf("node %s: %d lineage warnings, want 2 (START and COMPLETE)", n, warned[n])
		}
	}
	if gateway == "" {
		t.Log(testenv.Pushgateway + " not set: aiflow_lineage_errors_total not checked")
		return
	}
	// Each node counts the events of its own run that were lost, not those of the nodes before.
	ms := pushedMetrics(t, gateway, pipeline)
	for _, n := range obsNodes {
		if v := metricValue(metricSample(t, ms, "aiflow_lineage_errors_total", map[string]string{"node": n})); v != 2 {
			t.Errorf("aiflow_lineage_errors_total of %s = %v, want 2", n, v)
		}
	}
}

// TestObservabilityMetricsAddr serves /metrics on a port picked free beforehand: every node of
// a run --all serves it in turn, on the same address.
func TestObservabilityMetricsAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w, spec, pipeline := obsWorkspace(t, "status = 'paid'")
	w.env["AIFLOW_METRICS_ADDR"] = addr
	r := w.run("run", "--pipeline", pipeline, "--all", "--ir", spec, "--run-id", "m")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	for _, l := range jsonLogLines(t, r.stdout) {
		if l["level"] == "WARN" || l["level"] == "ERROR" {
			t.Errorf("%v", l)
		}
	}
	// Served only while a node runs: the port is free again once the run is over.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("%s still in use after the run: %v", addr, err)
	} else {
		ln.Close()
	}
}
