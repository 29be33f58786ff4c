//go:build k8se2e

package k8se2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/observability/oltest"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// olReceiver is an OpenLineage HTTP endpoint on the node address (the pods reach it as they
// reach the test services): it keeps every event the runner pods post.
type olReceiver struct {
	url string
	srv *http.Server

	mu     sync.Mutex
	events [][]byte
}

func newOLReceiver(nodeIP string) (*olReceiver, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(nodeIP, "0"))
	if err != nil {
		return nil, fmt.Errorf("lineage endpoint on %s: %w", nodeIP, err)
	}
	r := &olReceiver{url: "http://" + ln.Addr().String() + "/api/v1/lineage"}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/api/v1/lineage" {
			http.Error(w, "want POST /api/v1/lineage", http.StatusNotFound)
			return
		}
		b, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.events = append(r.events, b)
		r.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *olReceiver) close() {
	if r != nil {
		r.srv.Close()
	}
}

// olEvent is the part of an OpenLineage RunEvent the tests look at.
type olEvent struct {
	EventType string `json:"eventType"`
	Job       struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"job"`
	Run struct {
		RunID  string `json:"runId"`
		Facets struct {
			Parent *struct {
				Job struct {
					Name string `json:"name"`
				} `json:"job"`
			} `json:"parent"`
		} `json:"facets"`
	} `json:"run"`
	Outputs []struct {
		Namespace    string `json:"namespace"`
		Name         string `json:"name"`
		OutputFacets struct {
			OutputStatistics *struct {
				RowCount int64 `json:"rowCount"`
			} `json:"outputStatistics"`
		} `json:"outputFacets"`
	} `json:"outputs"`
}

// wantLineage checks the events the pods of pipeline posted: each valid against the OpenLineage
// schemas, and a START and a COMPLETE for each node's job "<pipeline>.<node>". It returns the
// COMPLETE events by node.
func (e *env) wantLineage(t *testing.T, pipeline string, nodes ...string) map[string]olEvent {
	t.Helper()
	v := oltest.New(t)
	e.lineage.mu.Lock()
	raw := append([][]byte(nil), e.lineage.events...)
	e.lineage.mu.Unlock()
	seen := map[string]map[string]int{}
	complete := map[string]olEvent{}
	for _, b := range raw {
		var ev olEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("lineage event: %v\n%s", err, b)
			continue
		}
		node, ok := strings.CutPrefix(ev.Job.Name, pipeline+".")
		if !ok {
			continue
		}
		v.Validate(t, b)
		if seen[node] == nil {
			seen[node] = map[string]int{}
		}
		seen[node][ev.EventType]++
		if ev.EventType == "COMPLETE" {
			complete[node] = ev
		}
	}
	for _, n := range nodes {
		if seen[n]["START"] == 0 || seen[n]["COMPLETE"] == 0 {
			t.Errorf("lineage of %s.%s: events %v, want START and COMPLETE (%d events received in all)", pipeline, n, seen[n], len(raw))
		}
	}
	return complete
}

// pushed returns the samples the Pushgateway holds for one node of pipeline: metric name (with
// its direction label, if any) → value.
func pushed(t *testing.T, pipeline, node string) map[string]float64 {
	t.Helper()
	url := testenv.Require(t, testenv.Pushgateway) + "/metrics"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("Pushgateway: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	out := map[string]float64{}
	sample := regexp.MustCompile(`^(aiflow_[a-z0-9_]+)\{([^}]*)\} (\S+)$`)
	label := regexp.MustCompile(`([a-z_]+)="([^"]*)"`)
	for _, line := range strings.Split(string(body), "\n") {
		m := sample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var rest []string
		labels := map[string]string{}
		for _, l := range label.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = l[2]
			if l[1] == "direction" {
				rest = append(rest, l[1]+"="+l[2])
			}
		}
		if labels["job"] != "aiflow" || labels["pipeline"] != pipeline || labels["node"] != node {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("Pushgateway sample %q: %v", line, err)
		}
		key := m[1]
		if len(rest) > 0 {
			key += "{" + strings.Join(rest, ",") + "}"
		}
		out[key] = v
	}
	return out
}

// wantMetrics checks that every node of pipeline pushed its run's metrics (job "aiflow",
// grouped by pipeline and node): attempts and a last success, and rows written by the nodes in
// wrote (a source that only pins its files counts none).
func wantMetrics(t *testing.T, pipeline string, nodes, wrote []string) {
	t.Helper()
	for _, n := range nodes {
		m := pushed(t, pipeline, n)
		if m["aiflow_node_attempts_total"] < 1 || m["aiflow_node_last_success_timestamp_seconds"] <= 0 {
			t.Errorf("Pushgateway has for %s/%s: %v; want attempts and a last success", pipeline, n, m)
		}
	}
	for _, n := range wrote {
		if m := pushed(t, pipeline, n); m["aiflow_node_rows_total{direction=out}"] <= 0 {
			t.Errorf("Pushgateway has for %s/%s: %v; want rows written", pipeline, n, m)
		}
	}
}

// wantRunStatus checks the status in `aiflow-runner runs list` of the one run of pipeline that
// started after since (the cluster's metadata store outlives a test binary): a run driven pod by
// pod ends when its last node commits, or when a node fails on its last try.
func (e *env) wantRunStatus(t *testing.T, pipeline string, since time.Time, status string) map[string]any {
	t.Helper()
	var runs []map[string]any
	for _, r := range e.runs(t, pipeline) {
		started, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r["started_at"]))
		if err != nil {
			t.Fatalf("runs list: started_at of %v: %v", r, err)
		}
		if !started.Before(since) {
			runs = append(runs, r)
		}
	}
	if len(runs) != 1 {
		t.Fatalf("runs list --pipeline %s: %v since %s, want one run", pipeline, runs, since.Format(time.RFC3339))
	}
	if got := fmt.Sprint(runs[0]["status"]); got != status {
		t.Errorf("runs list: run %v of %s is %q, want %q", runs[0]["run_id"], pipeline, got, status)
	}
	return runs[0]
}
