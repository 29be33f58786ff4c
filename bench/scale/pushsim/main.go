// Command pushsim measures the Pushgateway at company scale (bench/scale/README.md): it pushes the
// metrics of -groups distinct nodes (pipeline x node: the grouping key), each -runs times as a day
// of runs would, with the runner's own code (observability.Metrics), -conc at a time, then reads
// the gateway's /metrics: series count, scrape time and size. Every pushed group is deleted after.
//
//	pushsim -url http://127.0.0.1:9091 -groups 2000 -runs 3
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/aiflow-dev/aiflow/internal/observability"
)

func main() {
	// A simulation tool, not the runner: the flag defaults to the test services' Pushgateway.
	url := flag.String("url", os.Getenv("AIFLOW_TEST_PUSHGATEWAY_URL"), "Pushgateway URL")
	groups := flag.Int("groups", 2000, "distinct pipeline x node grouping keys")
	runs := flag.Int("runs", 3, "pushes per group (runs of the day)")
	conc := flag.Int("conc", 16, "concurrent pushes")
	flag.Parse()
	ctx := context.Background()
	series0, _, _, err := scrape(*url)
	if err != nil {
		fail(err)
	}
	var next, errs atomic.Int64
	t0 := time.Now()
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *groups**runs {
					return
				}
				g, run := i%*groups, i / *groups
				inf := observability.RunInfo{Pipeline: fmt.Sprintf("scale_p%05d", g/20), Node: fmt.Sprintf("n%02d", g%20),
					RunID: fmt.Sprintf("scheduled__%d", run), Try: 1, IRHash: "h", Engine: "arrow",
					Team: fmt.Sprintf("team-%02d", g/20%40), Env: "prod", Project: "p", CostCenter: "cc"}
				m := observability.NewMetrics(inf)
				m.Observe(observability.NodeResult{Status: observability.StatusSucceeded, Duration: time.Second, RowsIn: 1000, RowsOut: 1000, BytesIn: 1 << 20, BytesOut: 1 << 16})
				if err := m.Push(ctx, *url); err != nil {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	series, took, size, err := scrape(*url)
	if err != nil {
		fail(err)
	}
	n := *groups * *runs
	fmt.Printf("pushes %d (%d groups x %d runs) in %.1f s: %.0f pushes/s, %d errors\n", n, *groups, *runs, wall.Seconds(), float64(n)/wall.Seconds(), errs.Load())
	per := float64(series-series0) / float64(*groups)
	fmt.Printf("series in the gateway: %d more (%.1f per group, independent of runs); scrape %.0f ms, %.1f MiB\n", series-series0, per, float64(took.Milliseconds()), float64(size)/(1<<20))
	fmt.Printf("at 10,000 pipelines x 20 nodes: %.0f series, a scrape of about %.0f MiB\n", per*200000, float64(size)/float64(max(*groups, 1))*200000/(1<<20))
	for g := range *groups { // leave the shared gateway as it was
		_ = push.New(*url, observability.PushJob).Grouping("pipeline", fmt.Sprintf("scale_p%05d", g/20)).Grouping("node", fmt.Sprintf("n%02d", g%20)).Delete()
	}
}

// scrape counts the sample lines of the gateway's /metrics.
func scrape(url string) (series int, took time.Duration, size int64, err error) {
	t0 := time.Now()
	resp, err := http.Get(strings.TrimSuffix(url, "/") + "/metrics")
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		size += int64(len(sc.Bytes()) + 1)
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "push_") && !strings.HasPrefix(l, "go_") && !strings.HasPrefix(l, "process_") && !strings.HasPrefix(l, "pushgateway_") {
			series++
		}
	}
	return series, time.Since(t0), size, sc.Err()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pushsim:", err)
	os.Exit(1)
}
