package observability

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
)

// PushJob is the Pushgateway job name of every node run.
const PushJob = "aiflow"

// PushTimeout bounds a push to the Pushgateway.
const PushTimeout = 2 * time.Second

// ErrorClasses are the error_class values aiflow_node_failures_total starts with at 0: the
// fault classes and "interrupted". Other values passed to Observe are added as they come.
var ErrorClasses = []string{"config", "data", "internal", "temporary", "usage", "interrupted"}

// DurationBuckets (seconds) of aiflow_node_duration_seconds: from sub-second no-op runs to
// four-hour Spark jobs.
var DurationBuckets = []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400}

// Metrics are one node run's Prometheus metrics, in registries of their own (never the global
// default one). Labels are bounded: pipeline, node, engine, team, env, project, cost_center, plus
// status, direction or error_class where the metric says; never run_id or try.
//
// Pushing (Push) is what counts for a pod that lives minutes and is never scraped. The
// Pushgateway keeps one group per {job="aiflow", pipeline, node}: every run of a node replaces
// its node's series, so the gateway holds a bounded set (one group per node of each pipeline)
// that describes the node's latest run. Push uses the gateway's POST ("Add") semantics, which
// replace the metric families a push carries and keep the others: a failed run carries no
// aiflow_node_last_success_timestamp_seconds, so the last success survives failures (the SLA
// alert depends on it), and a successful run carries no last-failure timestamp. The Pushgateway
// never sums: a counter read from it is the value of the node's latest run (attempts 1, rows of
// that run), not a total over runs, and rate()/increase() over it are meaningless. Count runs and
// failures in Prometheus with changes() over the timestamps (push_time_seconds,
// aiflow_node_last_failure_timestamp_seconds, …) as deploy/observability/alerts.yaml does.
// On /metrics (Serve) the same metrics are ordinary process-lifetime counters.
type Metrics struct {
	info RunInfo
	// push holds the collectors without the pipeline and node labels (the grouping key carries
	// them); serve is the same collectors with them, for /metrics.
	push, serve *prometheus.Registry

	duration    *prometheus.HistogramVec
	rows, bytes *prometheus.CounterVec
	attempts    prometheus.Counter
	failures    *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	lastFailure *prometheus.GaugeVec
	lineageErrs prometheus.Counter
	checkPassed *prometheus.GaugeVec
	checkValue  *prometheus.GaugeVec
	now         func() time.Time
	serving     sync.WaitGroup // the /metrics servers of Serve, until they have stopped

	userMu sync.Mutex
	user   map[string]prometheus.Collector // metrics of the node's own code, by name

	// live is what Live already added to rows and bytes (in, out), so Observe adds the rest.
	liveMu sync.Mutex
	live   [4]int64 // rows in, rows out, bytes in, bytes out
}

// Live moves the rows and bytes counters to running totals while the node runs, so /metrics
// shows the work in progress; Observe later adds only what Live has not.
func (m *Metrics) Live(rowsIn, rowsOut, bytesIn, bytesOut int64) {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	for i, v := range [4]int64{rowsIn, rowsOut, bytesIn, bytesOut} {
		if d := v - m.live[i]; d > 0 {
			m.counter(i).Add(float64(d))
			m.live[i] = v
		}
	}
}

func (m *Metrics) counter(i int) prometheus.Counter {
	switch i {
	case 0:
		return m.rows.WithLabelValues("in")
	case 1:
		return m.rows.WithLabelValues("out")
	case 2:
		return m.bytes.WithLabelValues("in")
	}
	return m.bytes.WithLabelValues("out")
}

// NewMetrics returns the metrics of the node run described by info.
func NewMetrics(info RunInfo) *Metrics {
	m := &Metrics{info: info, push: prometheus.NewRegistry(), serve: prometheus.NewRegistry(), now: time.Now}
	tenancy := prometheus.Labels{
		"engine": info.Engine, "team": info.Team, "env": info.Env, "project": info.Project, "cost_center": info.CostCenter,
	}
	pushReg := prometheus.WrapRegistererWith(tenancy, m.push)
	serveReg := prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": info.Pipeline, "node": info.Node},
		prometheus.WrapRegistererWith(tenancy, m.serve))

	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "aiflow_node_duration_seconds", Help: "Wall time of node runs, by final status.", Buckets: DurationBuckets,
	}, []string{"status"})
	m.rows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aiflow_node_rows_total", Help: "Rows read (direction=in) and written (direction=out) by node runs.",
	}, []string{"direction"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aiflow_node_bytes_total", Help: "Bytes read (direction=in) and written (direction=out) by node runs.",
	}, []string{"direction"})
	m.attempts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aiflow_node_attempts_total", Help: "Node runs (attempts), whatever their outcome.",
	})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aiflow_node_failures_total", Help: "Failed or interrupted node runs by error class.",
	}, []string{"error_class"})
	m.lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aiflow_node_last_success_timestamp_seconds", Help: "Unix time the node last finished successfully.",
	}, nil)
	m.lastFailure = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aiflow_node_last_failure_timestamp_seconds", Help: "Unix time the node last failed or was interrupted.",
	}, nil)
	m.lineageErrs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aiflow_lineage_errors_total", Help: "OpenLineage events that could not be delivered.",
	})
	m.checkPassed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aiflow_node_check_passed", Help: "1 when a data-contract or quality check of the node's output passed in its latest run, 0 when it failed.",
	}, []string{"check", "kind", "severity"})
	m.checkValue = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aiflow_node_check_observed", Help: "What a check measured in the node's latest run (rows, a ratio, offending rows, an age in seconds).",
	}, []string{"check", "kind"})
	for _, d := range []string{"in", "out"} {
		m.rows.WithLabelValues(d)
		m.bytes.WithLabelValues(d)
	}
	for _, c := range ErrorClasses {
		m.failures.WithLabelValues(c)
	}
	for _, c := range []prometheus.Collector{m.duration, m.rows, m.bytes, m.attempts, m.failures, m.lastSuccess, m.lastFailure, m.lineageErrs, m.checkPassed, m.checkValue} {
		pushReg.MustRegister(c)
		serveReg.MustRegister(c)
	}
	return m
}

// WatchLineage counts the delivery errors of e from now on in aiflow_lineage_errors_total (on
// /metrics and in the push): the errors of this node run's events. Errors of events sent before
// (another node's, when one Emitter serves a whole `run --all`) are not this run's. Call it
// before the run's first event.
func (m *Metrics) WatchLineage(e *Emitter) {
	if e == nil {
		return
	}
	e.onError = m.lineageErrs.Inc
}

// Observe records the outcome of the node run.
func (m *Metrics) Observe(res NodeResult) {
	status := res.Status
	if status == "" {
		status = StatusSucceeded
	}
	m.attempts.Inc()
	m.duration.WithLabelValues(status).Observe(res.Duration.Seconds())
	m.liveMu.Lock()
	for i, v := range [4]int64{res.RowsIn, res.RowsOut, res.BytesIn, res.BytesOut} {
		m.counter(i).Add(float64(max(v-m.live[i], 0)))
		m.live[i] = max(v, m.live[i])
	}
	m.liveMu.Unlock()
	for _, c := range res.Checks {
		passed := 0.0
		if c.Passed {
			passed = 1
		}
		m.checkPassed.WithLabelValues(c.Name, c.Kind, c.Severity).Set(passed)
		if c.Observed != nil {
			m.checkValue.WithLabelValues(c.Name, c.Kind).Set(*c.Observed)
		}
	}
	now := float64(m.now().UnixNano()) / 1e9
	switch status {
	case StatusSucceeded:
		// A skipped_committed run did no work: the success it found was recorded by its own run.
		m.lastSuccess.WithLabelValues().Set(now)
	case StatusFailed, StatusInterrupted:
		class := res.ErrorClass
		if class == "" {
			class = "internal"
			if status == StatusInterrupted {
				class = "interrupted"
			}
		}
		m.failures.WithLabelValues(class).Inc()
		m.lastFailure.WithLabelValues().Set(now)
	}
}

// Gatherer is what /metrics serves: every series with its pipeline and node labels.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.serve }

// Serve serves /metrics on addr (host:port; ":0" picks a port) until ctx is done. It returns once
// listening, with the address bound, or the error of listening. The server stops in the
// background once ctx is done; Wait blocks until it has (the address is free again, for the next
// node of a `run --all` on the same AIFLOW_METRICS_ADDR).
func (m *Metrics) Serve(ctx context.Context, addr string) (net.Addr, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.serve, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	m.serving.Add(1)
	go func() {
		defer m.serving.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), nil
}

// Wait blocks until every server Serve started has stopped listening (at most about a second
// after its ctx is done). Call it after cancelling that ctx.
func (m *Metrics) Wait() { m.serving.Wait() }

// Push sends the run's metrics to the Pushgateway at url (AIFLOW_PUSHGATEWAY_URL) under job
// "aiflow" and grouping key pipeline + node, with Add (POST) semantics (see Metrics), within
// PushTimeout. An empty url does nothing. Callers log the error; it never fails the node.
func (m *Metrics) Push(ctx context.Context, url string) error {
	if url == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, PushTimeout)
	defer cancel()
	err := push.New(url, PushJob).
		Grouping("pipeline", m.info.Pipeline).
		Grouping("node", m.info.Node).
		Gatherer(m.push).
		Client(&http.Client{Timeout: PushTimeout}).
		AddContext(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("push metrics to %s: no answer within %s: %w", url, PushTimeout, err)
		}
		return fmt.Errorf("push metrics to %s: %w", url, err)
	}
	return nil
}

// userMetricName keeps a user's metric name valid for Prometheus under the aiflow_user_ prefix.
var userMetricName = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// UserMetric records a metric a node's own code reported (aiflow_sdk.observability's
// MetricsClient.incr / observe, track_duration in a python or PySpark node): kind "counter" adds
// value to aiflow_user_<name>_total, kind "observe" observes value in the histogram
// aiflow_user_<name> (DurationBuckets). Label names are the sorted keys of labels; a name that
// was first used with other label names, or another kind, is refused with an error (the caller
// logs it: a user's metric never fails the node).
func (m *Metrics) UserMetric(kind, name string, value float64, labels map[string]string) error {
	name = "aiflow_user_" + userMetricName.ReplaceAllString(name, "_")
	keys := slices.Sorted(maps.Keys(labels))
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = labels[k]
	}
	for i, k := range keys {
		keys[i] = userMetricName.ReplaceAllString(k, "_")
	}
	m.userMu.Lock()
	defer m.userMu.Unlock()
	if m.user == nil {
		m.user = map[string]prometheus.Collector{}
	}
	switch kind {
	case "counter":
		name += "_total"
		c, ok := m.user[name].(*prometheus.CounterVec)
		if !ok {
			if _, taken := m.user[name]; taken {
				return fmt.Errorf("metric %s: already used as another kind", name)
			}
			c = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: "Counted by the node's own code."}, keys)
			if err := m.registerUser(name, c); err != nil {
				return err
			}
		}
		cc, err := c.GetMetricWithLabelValues(vals...)
		if err != nil {
			return fmt.Errorf("metric %s: %w", name, err)
		}
		if value < 0 {
			return fmt.Errorf("metric %s: a counter cannot decrease (%v)", name, value)
		}
		cc.Add(value)
	case "observe":
		h, ok := m.user[name].(*prometheus.HistogramVec)
		if !ok {
			if _, taken := m.user[name]; taken {
				return fmt.Errorf("metric %s: already used as another kind", name)
			}
			h = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: "Observed by the node's own code.", Buckets: DurationBuckets}, keys)
			if err := m.registerUser(name, h); err != nil {
				return err
			}
		}
		o, err := h.GetMetricWithLabelValues(vals...)
		if err != nil {
			return fmt.Errorf("metric %s: %w", name, err)
		}
		o.Observe(value)
	default:
		return fmt.Errorf("metric %s: unknown kind %q (counter or observe)", name, kind)
	}
	return nil
}

func (m *Metrics) registerUser(name string, c prometheus.Collector) error {
	tenancy := prometheus.Labels{"engine": m.info.Engine, "team": m.info.Team, "env": m.info.Env, "project": m.info.Project, "cost_center": m.info.CostCenter}
	if err := prometheus.WrapRegistererWith(tenancy, m.push).Register(c); err != nil {
		return fmt.Errorf("metric %s: %w", name, err)
	}
	serve := prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": m.info.Pipeline, "node": m.info.Node}, prometheus.WrapRegistererWith(tenancy, m.serve))
	if err := serve.Register(c); err != nil {
		return fmt.Errorf("metric %s: %w", name, err)
	}
	m.user[name] = c
	return nil
}
