package observability_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/observability"
)

// fleetStore is a SQLite metadata store with two teams' attempts: ads ran two (one failed)
// within the last hour and one a day ago, features has one running.
func fleetStore(t *testing.T, now time.Time) metadata.Store {
	t.Helper()
	ctx := context.Background()
	s, err := metadata.Open(ctx, "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "m.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, v := range []metadata.PipelineVersion{
		{Pipeline: "ads_daily", IRHash: "ha", IR: []byte(`{}`), Tenancy: metadata.Tenancy{Team: "ads", Project: "bidding", CostCenter: "cc1"}},
		{Pipeline: "fs_daily", IRHash: "hf", IR: []byte(`{}`), Tenancy: metadata.Tenancy{Team: "features", Project: "fs", CostCenter: "cc1"}},
	} {
		if err := s.RecordPipeline(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []struct {
		pipeline, hash, run, node string
		ago                       time.Duration
		status                    metadata.AttemptStatus
	}{
		{"ads_daily", "ha", "yesterday", "load", 24 * time.Hour, metadata.AttemptSucceeded},
		{"ads_daily", "ha", "today", "load", 30 * time.Minute, metadata.AttemptSucceeded},
		{"ads_daily", "ha", "today", "train", 20 * time.Minute, metadata.AttemptFailed},
		{"fs_daily", "hf", "today", "load", 10 * time.Minute, metadata.AttemptRunning},
	} {
		k := metadata.AttemptKey{Pipeline: a.pipeline, RunID: a.run, Node: a.node, Try: 1}
		start := now.Add(-a.ago)
		if err := s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: a.hash, StartedAt: start}); err != nil {
			t.Fatal(err)
		}
		if a.status == metadata.AttemptRunning {
			continue
		}
		end := start.Add(10 * time.Second)
		if err := s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: a.status, EndedAt: &end,
			RowsIn: 100, RowsOut: 50, BytesIn: 1000, BytesOut: 500}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EndRun(ctx, "ads_daily", "yesterday", metadata.RunSucceeded, now.Add(-23*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFleetMetrics(t *testing.T) {
	now := time.Now()
	f := &observability.Fleet{Store: fleetStore(t, now)}
	const want = `
# HELP aiflow_fleet_attempts_total Ended node attempts recorded in the metadata store, by team.
# TYPE aiflow_fleet_attempts_total counter
aiflow_fleet_attempts_total{team="ads"} 3
# HELP aiflow_fleet_bytes_total Bytes read and written by ended attempts, by team and direction.
# TYPE aiflow_fleet_bytes_total counter
aiflow_fleet_bytes_total{direction="in",team="ads"} 3000
aiflow_fleet_bytes_total{direction="out",team="ads"} 1500
# HELP aiflow_fleet_cost_center_node_seconds_total Node-seconds of ended attempts, by cost centre.
# TYPE aiflow_fleet_cost_center_node_seconds_total counter
aiflow_fleet_cost_center_node_seconds_total{cost_center="cc1"} 30
# HELP aiflow_fleet_node_seconds_total Node-seconds of ended attempts (start to end), by team.
# TYPE aiflow_fleet_node_seconds_total counter
aiflow_fleet_node_seconds_total{team="ads"} 30
# HELP aiflow_fleet_project_node_seconds_total Node-seconds of ended attempts, by project.
# TYPE aiflow_fleet_project_node_seconds_total counter
aiflow_fleet_project_node_seconds_total{project="bidding"} 30
# HELP aiflow_fleet_recent_attempts Node attempts started within the window, by team and attempt status.
# TYPE aiflow_fleet_recent_attempts gauge
aiflow_fleet_recent_attempts{status="failed",team="ads"} 1
aiflow_fleet_recent_attempts{status="running",team="features"} 1
aiflow_fleet_recent_attempts{status="succeeded",team="ads"} 1
# HELP aiflow_fleet_rows_total Rows read and written by ended attempts, by team and direction.
# TYPE aiflow_fleet_rows_total counter
aiflow_fleet_rows_total{direction="in",team="ads"} 300
aiflow_fleet_rows_total{direction="out",team="ads"} 150
# HELP aiflow_fleet_running_runs Pipeline runs whose status is running, by team.
# TYPE aiflow_fleet_running_runs gauge
aiflow_fleet_running_runs{team="ads"} 1
aiflow_fleet_running_runs{team="features"} 1
`
	got, err := gather(t, f)
	if err != nil || strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("fleet metrics (%v):\n%s\nwant:\n%s", err, got, want)
	}
	// A deployment pinned to a team (AIFLOW_TEAM) serves that team's figures only.
	scoped := &observability.Fleet{Store: metadata.Scoped(f.Store.(metadata.Store), []string{"features"})}
	got, err = gather(t, scoped)
	if err != nil || strings.Contains(got, `team="ads"`) || !strings.Contains(got, `aiflow_fleet_running_runs{team="features"} 1`) {
		t.Errorf("scoped to features (%v):\n%s\nwant features' series only", err, got)
	}
}

// gather collects c in the text format, without the read time (which varies), or the error.
func gather(t *testing.T, c prometheus.Collector) (string, error) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, mf := range mfs {
		if mf.GetName() == "aiflow_fleet_read_seconds" {
			continue
		}
		if err := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain)).Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String(), nil
}

// countingStore counts reads and can fail them.
type countingStore struct {
	observability.FleetStore
	reads atomic.Int32
	fail  atomic.Bool
}

func (c *countingStore) Activity(ctx context.Context, q metadata.ActivityQuery) (metadata.Activity, error) {
	c.reads.Add(1)
	if c.fail.Load() {
		return metadata.Activity{}, errors.New("database is down")
	}
	return c.FleetStore.Activity(ctx, q)
}

// TestServeFleet scrapes the endpoint over HTTP: scrapes within MinInterval reuse one read of the
// store, and a store that cannot be read fails the collection (promhttp answers 500) instead of
// reporting zeros.
func TestServeFleet(t *testing.T) {
	cs := &countingStore{FleetStore: fleetStore(t, time.Now())}
	f := &observability.Fleet{Store: cs, MinInterval: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- observability.ServeFleet(ctx, "127.0.0.1:0", f, func(a net.Addr) { addrc <- a }) }()
	url := "http://" + (<-addrc).String() + "/metrics"
	scrape := func() (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for range 3 {
		if code, body := scrape(); code != http.StatusOK || !strings.Contains(body, `aiflow_fleet_running_runs{team="features"} 1`) {
			t.Fatalf("scrape = %d\n%s", code, body)
		}
	}
	if n := cs.reads.Load(); n != 1 {
		t.Errorf("3 scrapes within MinInterval read the store %d times, want 1", n)
	}
	failing := &countingStore{FleetStore: cs.FleetStore}
	failing.fail.Store(true)
	f2 := &observability.Fleet{Store: failing}
	if _, err := gather(t, f2); err == nil || !strings.Contains(err.Error(), "database is down") {
		t.Errorf("collect from a failing store: %v, want the store's error", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeFleet after cancel = %v", err)
	}
}
