package observability

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// FleetStore is what the fleet metrics are read from: the metadata store (a scoped one serves
// one team's).
type FleetStore interface {
	Usage(ctx context.Context, q metadata.UsageQuery) ([]metadata.UsageRow, error)
	Activity(ctx context.Context, q metadata.ActivityQuery) (metadata.Activity, error)
}

// Fleet is a Prometheus collector of the whole deployment's figures, read from the metadata store
// when scraped: what a Pushgateway holding every node's push cannot serve at company scale (one
// group of ~33 series per node: 6.6M series at 10,000 pipelines of 20 nodes). Its series are
// bounded by the tenancy, never by pipelines, nodes or runs: usage counters per team (and node
// time per project and cost centre), attempts started in the last Window per team and status,
// runs running per team. The counters are the usage rollups' totals over the whole history, so
// rate() over them is the fleet's throughput; retention deleting attempts lowers them, which
// Prometheus takes as a counter reset.
type Fleet struct {
	Store FleetStore
	// Window is how far back the attempts gauge counts (default an hour).
	Window time.Duration
	// MinInterval: scrapes closer together than this (several Prometheus replicas) are answered
	// from the previous read (default 10s).
	MinInterval time.Duration
	// Timeout bounds one read of the store (default 10s).
	Timeout time.Duration
	now     func() time.Time

	mu   sync.Mutex
	last []prometheus.Metric
	at   time.Time
}

var (
	fleetAttempts = prometheus.NewDesc("aiflow_fleet_attempts_total",
		"Ended node attempts recorded in the metadata store, by team.", []string{"team"}, nil)
	fleetNodeSeconds = prometheus.NewDesc("aiflow_fleet_node_seconds_total",
		"Node-seconds of ended attempts (start to end), by team.", []string{"team"}, nil)
	fleetRows = prometheus.NewDesc("aiflow_fleet_rows_total",
		"Rows read and written by ended attempts, by team and direction.", []string{"team", "direction"}, nil)
	fleetBytes = prometheus.NewDesc("aiflow_fleet_bytes_total",
		"Bytes read and written by ended attempts, by team and direction.", []string{"team", "direction"}, nil)
	fleetProjectSeconds = prometheus.NewDesc("aiflow_fleet_project_node_seconds_total",
		"Node-seconds of ended attempts, by project.", []string{"project"}, nil)
	fleetCostCenterSeconds = prometheus.NewDesc("aiflow_fleet_cost_center_node_seconds_total",
		"Node-seconds of ended attempts, by cost centre.", []string{"cost_center"}, nil)
	fleetRecent = prometheus.NewDesc("aiflow_fleet_recent_attempts",
		"Node attempts started within the window, by team and attempt status.", []string{"team", "status"}, nil)
	fleetRunning = prometheus.NewDesc("aiflow_fleet_running_runs",
		"Pipeline runs whose status is running, by team.", []string{"team"}, nil)
	fleetReadSeconds = prometheus.NewDesc("aiflow_fleet_read_seconds",
		"Time the last read of the metadata store took.", nil, nil)
)

// Describe sends the descriptors of every fleet metric.
func (f *Fleet) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{fleetAttempts, fleetNodeSeconds, fleetRows, fleetBytes, fleetProjectSeconds,
		fleetCostCenterSeconds, fleetRecent, fleetRunning, fleetReadSeconds} {
		ch <- d
	}
}

// Collect reads the store (or reuses a read younger than MinInterval) and sends the metrics; a
// failed read is an invalid metric, so the scrape fails (HTTP 500) rather than showing zeros.
func (f *Fleet) Collect(ch chan<- prometheus.Metric) {
	ms, err := f.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewDesc("aiflow_fleet_error", "The metadata store could not be read.", nil, nil), err)
		return
	}
	for _, m := range ms {
		ch <- m
	}
}

func (f *Fleet) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

func (f *Fleet) read() ([]prometheus.Metric, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t0 := f.clock()
	if f.last != nil && t0.Sub(f.at) < orDefault(f.MinInterval, 10*time.Second) {
		return f.last, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), orDefault(f.Timeout, 10*time.Second))
	defer cancel()
	var ms []prometheus.Metric
	add := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ms = append(ms, prometheus.MustNewConstMetric(d, t, v, labels...))
	}
	// The zero Since is the whole history: whole days, read from the daily rollups only.
	for _, by := range []metadata.UsageBy{metadata.ByTeam, metadata.ByProject, metadata.ByCostCenter} {
		rows, err := f.Store.Usage(ctx, metadata.UsageQuery{By: by, Since: time.Unix(0, 0)})
		if err != nil {
			return nil, fmt.Errorf("fleet metrics: %w", err)
		}
		for _, u := range rows {
			switch by {
			case metadata.ByTeam:
				add(fleetAttempts, prometheus.CounterValue, float64(u.Attempts), u.Tenant)
				add(fleetNodeSeconds, prometheus.CounterValue, u.NodeSeconds, u.Tenant)
				add(fleetRows, prometheus.CounterValue, float64(u.RowsIn), u.Tenant, "in")
				add(fleetRows, prometheus.CounterValue, float64(u.RowsOut), u.Tenant, "out")
				add(fleetBytes, prometheus.CounterValue, float64(u.BytesIn), u.Tenant, "in")
				add(fleetBytes, prometheus.CounterValue, float64(u.BytesOut), u.Tenant, "out")
			case metadata.ByProject:
				add(fleetProjectSeconds, prometheus.CounterValue, u.NodeSeconds, u.Tenant)
			case metadata.ByCostCenter:
				add(fleetCostCenterSeconds, prometheus.CounterValue, u.NodeSeconds, u.Tenant)
			}
		}
	}
	act, err := f.Store.Activity(ctx, metadata.ActivityQuery{Since: t0.Add(-orDefault(f.Window, time.Hour))})
	if err != nil {
		return nil, fmt.Errorf("fleet metrics: %w", err)
	}
	for _, c := range act.Attempts {
		add(fleetRecent, prometheus.GaugeValue, float64(c.N), c.Team, c.Status)
	}
	for _, c := range act.Running {
		add(fleetRunning, prometheus.GaugeValue, float64(c.N), c.Team)
	}
	add(fleetReadSeconds, prometheus.GaugeValue, f.clock().Sub(t0).Seconds())
	f.last, f.at = ms, t0
	return ms, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ServeFleet serves the fleet metrics on /metrics at addr until ctx is done; ready is called with
// the bound address once listening.
func ServeFleet(ctx context.Context, addr string, f *Fleet, ready func(net.Addr)) error {
	reg := prometheus.NewRegistry()
	if err := reg.Register(f); err != nil {
		return fmt.Errorf("fleet metrics: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fault.Wrap(fault.Config, err, "serve fleet metrics on %s", addr) // a port taken or not ours
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if ready != nil {
		ready(ln.Addr())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return nil
	}
}
