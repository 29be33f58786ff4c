// Package ui_bench measures the web UI's pages over a metadata store holding 10,000 runs (#24):
// each page is the set of requests its script makes, over a real loopback HTTP connection.
//
//	go test ./bench/ui -run '^$' -bench . -benchtime 50x
//
// The target is under 200 ms per page; see bench/README.md.
package ui_bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/ui"
	"github.com/aiflow-dev/aiflow/plugin"
	_ "github.com/aiflow-dev/aiflow/plugin/builtin"
)

const (
	runs      = 10000
	pipelines = 20
	teams     = 5
)

var nodes = []string{"orders", "by_user", "stats", "stats_lake"}

// TestMain removes the store the benchmarks filled.
func TestMain(m *testing.M) {
	code := m.Run()
	if fillDir != "" {
		os.RemoveAll(fillDir)
	}
	os.Exit(code)
}

var (
	fillDir  string
	fillOnce sync.Once
	fillDSN  string
	fillErr  error
)

// store fills a SQLite store once per process: 20 pipelines of 5 teams, 10,000 runs of 4 nodes
// each (40,000 attempts) over the last 20 days, with lineage and commits as the runner records.
func store(b *testing.B) metadata.Store {
	fillOnce.Do(func() {
		// AIFLOW_UI_BENCH_DSN: a store this benchmark filled before (its figures, not a fill, again).
		if dsn := os.Getenv("AIFLOW_UI_BENCH_DSN"); dsn != "" {
			fillDSN = dsn
			return
		}
		fillDir, fillErr = os.MkdirTemp("", "aiflow-ui-bench-")
		if fillErr != nil {
			return
		}
		fillDSN = "sqlite://" + filepath.Join(fillDir, "metadata.db")
		fillErr = fill(fillDSN)
	})
	if fillErr != nil {
		b.Fatal(fillErr)
	}
	s, err := metadata.Open(context.Background(), fillDSN)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func fill(dsn string) error {
	ctx := context.Background()
	s, err := metadata.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now().Add(-20 * 24 * time.Hour)
	for p := range pipelines {
		id := fmt.Sprintf("pipeline_%02d", p)
		ir := fmt.Sprintf(`{"api_version":"aiflow/v1","id":%q,"owner":"o","schedule":"@hourly","sla_minutes":60,"tags":null,"extra":{"team":"team_%d","env":"prod","project":"p%d","cost_center":null},
"nodes":{"orders":{"id":"orders","type":"source","engine":null,"params":{"kind":"files","path":"s3://lake/orders/"},"resources":null,"input_ids":null,"output_schema":null},
"by_user":{"id":"by_user","type":"transform","engine":"arrow","params":{"steps":[{"filter":"amount > 0"}]},"resources":null,"input_ids":["orders"],"output_schema":null},
"stats":{"id":"stats","type":"sink","engine":null,"params":{"kind":"files","path":"s3://lake/stats/"},"resources":null,"input_ids":["by_user"],"output_schema":null},
"stats_lake":{"id":"stats_lake","type":"sink","engine":null,"params":{"kind":"onelake","table":"demo.stats_%d"},"resources":null,"input_ids":["by_user"],"output_schema":null}},
"edges":[["orders","by_user"],["by_user","stats"],["by_user","stats_lake"]]}`, id, p%teams, p%3, p)
		if err := s.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: id, IRHash: "h" + id, IR: json.RawMessage(ir),
			Tenancy: metadata.Tenancy{Team: fmt.Sprintf("team_%d", p%teams), Env: "prod", Project: fmt.Sprintf("p%d", p%3)}, FirstSeen: start, LastSeen: start}); err != nil {
			return err
		}
	}
	zero := 0
	for r := range runs {
		p := fmt.Sprintf("pipeline_%02d", r%pipelines)
		runID := fmt.Sprintf("scheduled__%06d", r/pipelines)
		at := start.Add(time.Duration(r) * 20 * 24 * time.Hour / runs)
		if err := s.StartRun(ctx, metadata.Run{Pipeline: p, RunID: runID, IRHash: "h" + p, StartedAt: at}); err != nil {
			return err
		}
		for i, n := range nodes {
			k := metadata.AttemptKey{Pipeline: p, RunID: runID, Node: n, Try: 1}
			t0 := at.Add(time.Duration(i) * time.Minute)
			if err := s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: "h" + p, StartedAt: t0, Engine: "arrow"}); err != nil {
				return err
			}
			var ds []metadata.Dataset
			switch n {
			case "orders":
				ds = []metadata.Dataset{{Direction: metadata.Read, Namespace: "s3://lake", Name: "orders"}}
			case "stats":
				ds = []metadata.Dataset{{Direction: metadata.Wrote, Namespace: "s3://lake", Name: "stats"}}
			case "stats_lake":
				ds = []metadata.Dataset{{Direction: metadata.Wrote, Namespace: "onelake", Name: fmt.Sprintf("demo.stats_%d", r%pipelines)}}
			}
			if ds != nil {
				if err := s.RecordLineage(ctx, k, ds); err != nil {
					return err
				}
			}
			end := t0.Add(30 * time.Second)
			if err := s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: metadata.AttemptSucceeded, ExitCode: &zero, EndedAt: &end,
				RowsIn: 1000, RowsOut: 900, BytesIn: 65536, BytesOut: 60000}); err != nil {
				return err
			}
		}
		if err := s.EndRun(ctx, p, runID, metadata.RunSucceeded, at.Add(5*time.Minute)); err != nil {
			return err
		}
	}
	return nil
}

// pages are the requests each page's script makes (after index.html and the cached scripts).
var pages = []struct {
	name  string
	paths []string
}{
	{"pipelines", []string{"/api/me", "/api/pipelines"}},
	{"graph", []string{"/api/me", "/api/pipelines/pipeline_07"}},
	{"node_attempts", []string{"/api/pipelines/pipeline_07/nodes/by_user/attempts?limit=30"}},
	{"runs", []string{"/api/me", "/api/pipelines", "/api/runs?limit=100"}},
	{"run", []string{"/api/me", "/api/runs/pipeline_07/scheduled__000250"}},
	{"lineage", []string{"/api/me", "/api/lineage?days=30"}},
	{"usage", []string{"/api/me", "/api/usage?by=team&days=30"}},
	{"author", []string{"/api/me", "/api/plugins", "/api/specs"}},
	{"index_and_scripts", []string{"/", "/assets/app.js", "/assets/lib.js", "/assets/author.js", "/assets/vendor/dagre.esm.js", "/assets/style.css"}},
}

// BenchmarkPages: one iteration loads one page. Reported: median and p95 in ms. "admin" sees all
// teams; "team" is a user of one team behind the proxy (the tenant filter in every query).
func BenchmarkPages(b *testing.B) {
	st := store(b)
	for _, who := range []struct {
		name   string
		auth   ui.Auth
		header http.Header
	}{
		{"admin", ui.Auth{}, http.Header{}},
		{"team", ui.Auth{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			http.Header{"X-Forwarded-User": {"u"}, "X-Forwarded-Groups": {"team_2"}}},
	} {
		s, err := ui.New(ui.Config{Store: st, Registry: plugin.Default, SpecsDir: b.TempDir(), Auth: who.auth})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(s)
		b.Cleanup(srv.Close)
		for _, pg := range pages {
			b.Run(who.name+"/"+pg.name, func(b *testing.B) {
				var ds []time.Duration
				for b.Loop() {
					t0 := time.Now()
					for _, p := range pg.paths {
						req, _ := http.NewRequest(http.MethodGet, srv.URL+p, nil)
						req.Header = who.header.Clone()
						res, err := srv.Client().Do(req)
						if err != nil {
							b.Fatal(err)
						}
						n, _ := io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != 200 || n == 0 {
							b.Fatalf("%s: %s", p, res.Status)
						}
					}
					ds = append(ds, time.Since(t0))
				}
				slices.Sort(ds)
				if n := len(ds); n > 0 {
					b.ReportMetric(float64(ds[n/2].Microseconds())/1000, "median-ms")
					b.ReportMetric(float64(ds[n*95/100].Microseconds())/1000, "p95-ms")
				}
			})
		}
	}
}
