package observability

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

var tenancyLabels = map[string]string{
	"engine": "spark", "team": "feature-platform", "env": "prod", "project": "feature-store", "cost_center": "cc-42",
}

// find returns the metric of family name whose labels include want (nil when none).
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func gatherMap(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func counterValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(gatherMap(t, g), name, labels)
	if m == nil {
		t.Fatalf("no %s%v", name, labels)
	}
	return m.GetCounter().GetValue()
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// scrape reads a text exposition over HTTP.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

func noLabel(t *testing.T, fams map[string]*dto.MetricFamily, names ...string) {
	t.Helper()
	for name, f := range fams {
		if !strings.HasPrefix(name, "aiflow_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, bad := range names {
					if l.GetName() == bad {
						t.Errorf("%s has a %s label: unbounded cardinality", name, bad)
					}
				}
			}
		}
	}
}

func TestMetricsServe(t *testing.T) {
	m := NewMetrics(testInfo())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(NodeResult{Status: StatusSucceeded, Duration: 42 * time.Second, RowsIn: 1200, RowsOut: 300, BytesIn: 4096, BytesOut: 1024})
	m.Observe(NodeResult{Status: StatusFailed, ErrorClass: "data", Duration: 3 * time.Second})

	fams := scrape(t, "http://"+addr.String()+"/metrics")
	base := merge(tenancyLabels, map[string]string{"pipeline": "daily_user_feature_pipeline", "node": "enrich_orders"})
	for _, c := range []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"aiflow_node_attempts_total", nil, 2},
		{"aiflow_node_rows_total", map[string]string{"direction": "in"}, 1200},
		{"aiflow_node_rows_total", map[string]string{"direction": "out"}, 300},
		{"aiflow_node_bytes_total", map[string]string{"direction": "in"}, 4096},
		{"aiflow_node_bytes_total", map[string]string{"direction": "out"}, 1024},
		{"aiflow_node_failures_total", map[string]string{"error_class": "data"}, 1},
		{"aiflow_node_failures_total", map[string]string{"error_class": "temporary"}, 0},
		{"aiflow_lineage_errors_total", nil, 0},
	} {
		mt := find(fams, c.name, merge(base, c.labels))
		if mt == nil {
			t.Errorf("no %s%v on /metrics", c.name, c.labels)
			continue
		}
		if got := mt.GetCounter().GetValue(); got != c.value {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.value)
		}
	}
	h := find(fams, "aiflow_node_duration_seconds", merge(base, map[string]string{"status": "succeeded"}))
	if h == nil || h.GetHistogram().GetSampleCount() != 1 || h.GetHistogram().GetSampleSum() != 42 {
		t.Errorf("duration histogram = %v", h)
	}
	if ts := find(fams, "aiflow_node_last_success_timestamp_seconds", base); ts == nil ||
		time.Since(time.Unix(int64(ts.GetGauge().GetValue()), 0)) > time.Minute {
		t.Errorf("last success timestamp = %v", ts)
	}
	noLabel(t, fams, "run_id", "try")

	cancel()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr.String(), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("/metrics still served after the context ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetricsServeBadAddr(t *testing.T) {
	if _, err := NewMetrics(testInfo()).Serve(context.Background(), "256.0.0.1:bad"); err == nil {
		t.Error("no error for a bad address")
	}
}

func TestObserveStatuses(t *testing.T) {
	m := NewMetrics(testInfo())
	m.Observe(NodeResult{Status: StatusInterrupted})
	m.Observe(NodeResult{Status: StatusFailed})
	m.Observe(NodeResult{Status: StatusSkippedCommitted})
	fams := gatherMap(t, m.Gatherer())
	if find(fams, "aiflow_node_failures_total", map[string]string{"error_class": "interrupted"}).GetCounter().GetValue() != 1 ||
		find(fams, "aiflow_node_failures_total", map[string]string{"error_class": "internal"}).GetCounter().GetValue() != 1 {
		t.Error("interrupted / unclassified failures not counted")
	}
	if find(fams, "aiflow_node_last_success_timestamp_seconds", nil) != nil {
		t.Error("last success set without a successful run")
	}
	if find(fams, "aiflow_node_duration_seconds", map[string]string{"status": "skipped_committed"}) == nil {
		t.Error("skipped_committed run not observed")
	}
}

// pushRecorder is a Pushgateway look-alike that records requests.
type pushRecorder struct {
	method, path string
	body         []byte
}

func TestPushRequest(t *testing.T) {
	var got pushRecorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		got.body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	m := NewMetrics(testInfo())
	m.Observe(NodeResult{Status: StatusSucceeded, Duration: time.Second})
	if err := m.Push(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	// The grouping key: /metrics/job/aiflow then label/value pairs in any order.
	parts := strings.Split(strings.TrimPrefix(got.path, "/metrics/"), "/")
	key := map[string]string{}
	for i := 0; i+1 < len(parts); i += 2 {
		key[parts[i]] = parts[i+1]
	}
	if got.method != http.MethodPost || len(parts) != 6 || key["job"] != "aiflow" ||
		key["pipeline"] != "daily_user_feature_pipeline" || key["node"] != "enrich_orders" {
		t.Errorf("push = %s %s, want POST with grouping key job=aiflow, pipeline, node", got.method, got.path)
	}
	if len(got.body) == 0 {
		t.Error("empty push")
	}
	if err := m.Push(context.Background(), ""); err != nil {
		t.Errorf("Push without a URL: %v", err)
	}
}

func TestPushGatewayDown(t *testing.T) {
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer hang.Close()
	defer close(stop)
	m := NewMetrics(testInfo())
	m.Observe(NodeResult{Status: StatusSucceeded})
	begin := time.Now()
	err := m.Push(context.Background(), hang.URL)
	if err == nil {
		t.Fatal("push to a hanging gateway: no error")
	}
	if d := time.Since(begin); d > PushTimeout+time.Second {
		t.Errorf("push took %s, bound is %s", d, PushTimeout)
	}
}

// TestPushToPushgateway pushes to the real Pushgateway that make test starts and scrapes it.
func TestPushToPushgateway(t *testing.T) {
	url := strings.TrimRight(testenv.Require(t, testenv.Pushgateway), "/")
	info := testInfo()
	info.Pipeline = fmt.Sprintf("obs_test_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		_ = push.New(url, PushJob).Grouping("pipeline", info.Pipeline).Grouping("node", info.Node).Delete()
	})
	group := merge(tenancyLabels, map[string]string{"job": "aiflow", "pipeline": info.Pipeline, "node": info.Node})
	ctx := context.Background()

	// Run 1 succeeds.
	m := NewMetrics(info)
	m.Observe(NodeResult{Status: StatusSucceeded, Duration: 90 * time.Second, RowsIn: 10, RowsOut: 7, BytesIn: 100, BytesOut: 70})
	if err := m.Push(ctx, url); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, url+"/metrics")
	if v := find(fams, "aiflow_node_rows_total", merge(group, map[string]string{"direction": "out"})); v == nil || v.GetCounter().GetValue() != 7 {
		t.Fatalf("aiflow_node_rows_total{direction=out} on the gateway = %v", v)
	}
	if v := find(fams, "aiflow_node_attempts_total", group); v == nil || v.GetCounter().GetValue() != 1 {
		t.Errorf("attempts = %v", v)
	}
	h := find(fams, "aiflow_node_duration_seconds", merge(group, map[string]string{"status": "succeeded"}))
	if h == nil || h.GetHistogram().GetSampleSum() != 90 {
		t.Errorf("duration = %v", h)
	}
	success := find(fams, "aiflow_node_last_success_timestamp_seconds", group)
	if success == nil {
		t.Fatal("no last success timestamp on the gateway")
	}
	noLabel(t, fams, "run_id", "try")

	// Run 2 (another pod) fails: its series replace run 1's, the last success survives.
	m2 := NewMetrics(info)
	m2.Observe(NodeResult{Status: StatusFailed, ErrorClass: "data", Duration: 5 * time.Second})
	if err := m2.Push(ctx, url); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, url+"/metrics")
	if v := find(fams, "aiflow_node_failures_total", merge(group, map[string]string{"error_class": "data"})); v == nil || v.GetCounter().GetValue() != 1 {
		t.Errorf("failures{data} after a failed run = %v", v)
	}
	if v := find(fams, "aiflow_node_rows_total", merge(group, map[string]string{"direction": "out"})); v == nil || v.GetCounter().GetValue() != 0 {
		t.Errorf("rows out after the failed run = %v, want its own 0", v)
	}
	if v := find(fams, "aiflow_node_last_success_timestamp_seconds", group); v == nil || v.GetGauge().GetValue() != success.GetGauge().GetValue() {
		t.Errorf("last success after a failed run = %v, want run 1's %v", v, success)
	}
	if find(fams, "aiflow_node_last_failure_timestamp_seconds", group) == nil {
		t.Error("no last failure timestamp")
	}

	// Run 3 succeeds again: the failure count goes back to this run's 0.
	m3 := NewMetrics(info)
	m3.Observe(NodeResult{Status: StatusSucceeded, Duration: time.Second})
	if err := m3.Push(ctx, url); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, url+"/metrics")
	if v := find(fams, "aiflow_node_failures_total", merge(group, map[string]string{"error_class": "data"})); v == nil || v.GetCounter().GetValue() != 0 {
		t.Errorf("failures{data} after a successful run = %v, want 0", v)
	}
	n := 0
	for _, mt := range fams["aiflow_node_attempts_total"].GetMetric() {
		if find(map[string]*dto.MetricFamily{"x": {Metric: []*dto.Metric{mt}}}, "x", group) != nil {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d attempts series for the node after three pushes, want 1", n)
	}
}
