// Command lineagesim measures the OpenLineage emitter at company scale (bench/scale/README.md): node
// runs, -conc at a time as pods would (each with its own Emitter, as each pod is a process), send
// START, do -work of work, record their lineage in a metadata store (as the node runner does,
// before its last event) and send COMPLETE, against a loopback backend that answers at once
// (events per second sustained, what the events cost a node), slowly, never, or not at all (the
// port closed). It reports, per backend, the events delivered per second, the time the emitter
// held each node (START and COMPLETE together: p50, p99, max), the events lost, and checks that
// every node's lineage is in the metadata store whatever the backend did.
//
//	lineagesim -nodes 4000 -conc 64 -fault-nodes 256
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/observability"
)

func main() {
	nodes := flag.Int("nodes", 4000, "node runs against the backend that answers at once")
	faultNodes := flag.Int("fault-nodes", 256, "node runs against each slow, hung or closed backend")
	conc := flag.Int("conc", 64, "node runs at a time (pods)")
	work := flag.Duration("work", 20*time.Millisecond, "each node's own work between START and COMPLETE")
	delay := flag.Duration("delay", 500*time.Millisecond, "the slow backend's time to answer an event")
	budget := flag.Duration("budget", 10*time.Second, "the node's bookkeeping budget for its last event")
	flag.Parse()
	dir, err := os.MkdirTemp("", "lineagesim")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	fmt.Printf("%d node runs at a time, %s of work each; lineage timeout %s per attempt, 2 attempts; queue %d events\n",
		*conc, *work, observability.LineageTimeout, observability.LineageQueue)
	if err := oneEmitter(*nodes * 2); err != nil {
		fail(err)
	}
	fmt.Printf("%-10s %6s %10s %12s %28s %7s %9s\n", "backend", "nodes", "wall", "events/s", "held per node p50/p99/max", "lost", "in store")
	for _, b := range []struct {
		name  string
		nodes int
		delay time.Duration // < 0: never answers; 0: at once
		down  bool
	}{
		{"ok", *nodes, 0, false},
		{"slow", *faultNodes, *delay, false},
		{"hung", *faultNodes, -1, false},
		{"down", *faultNodes, 0, true},
	} {
		if err := simulate(filepath.Join(dir, b.name+".db"), b.name, b.nodes, *conc, *work, b.delay, b.down, *budget); err != nil {
			fail(err)
		}
	}
}

func simulate(dbPath, name string, nodes, conc int, work, delay time.Duration, down bool, budget time.Duration) error {
	ctx := context.Background()
	var received atomic.Int64
	release := make(chan struct{})
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case delay < 0:
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		case delay > 0:
			time.Sleep(delay)
		}
		received.Add(1)
		w.WriteHeader(http.StatusCreated)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	if down {
		ln.Close() // connection refused
	} else {
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	defer close(release)
	st, err := metadata.Open(ctx, "sqlite://"+filepath.ToSlash(dbPath))
	if err != nil {
		return err
	}
	defer st.Close()

	var next, lost atomic.Int64
	held := make([]time.Duration, nodes)
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= nodes {
					return
				}
				em, err := observability.NewEmitter(url, "https://github.com/aiflow-dev/aiflow", nil)
				if err != nil {
					errs <- err
					return
				}
				info := observability.RunInfo{Pipeline: fmt.Sprintf("scale_p%05d", i/20), Node: fmt.Sprintf("n%02d", i%20),
					RunID: "sim__" + name, Try: 1, IRHash: "h", Engine: "arrow", Team: "team-01"}
				ins := []observability.Dataset{{Namespace: "s3://lake", Name: fmt.Sprintf("raw/t%d", i)}}
				outs := []observability.Dataset{{Namespace: "s3://lake", Name: fmt.Sprintf("out/t%d", i), Rows: 1000, Bytes: 65536}}
				k := metadata.AttemptKey{Pipeline: info.Pipeline, RunID: info.RunID, Node: info.Node, Try: 1}
				if err := st.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: "h"}); err != nil {
					errs <- err
					return
				}
				a := time.Now()
				em.Start(ctx, info, ins)
				h := time.Since(a)
				time.Sleep(work)
				if err := st.RecordLineage(ctx, k, []metadata.Dataset{
					{Direction: metadata.Read, Namespace: "s3://lake", Name: ins[0].Name},
					{Direction: metadata.Wrote, Namespace: "s3://lake", Name: outs[0].Name, Rows: 1000, Bytes: 65536}}); err != nil {
					errs <- err
					return
				}
				bctx, cancel := context.WithTimeout(ctx, budget)
				a = time.Now()
				em.Complete(bctx, info, ins, outs)
				h += time.Since(a)
				cancel()
				held[i] = h
				lost.Add(em.Errors())
			}
		})
	}
	wg.Wait()
	wall := time.Since(t0)
	close(errs)
	for err := range errs {
		return err
	}
	stored := 0
	for p := range (nodes + 19) / 20 {
		d, err := st.GetRun(ctx, fmt.Sprintf("scale_p%05d", p), "sim__"+name)
		if err != nil {
			return err
		}
		stored += len(d.Lineage)
	}
	slices.Sort(held)
	pct := func(p float64) float64 { return float64(held[int(p*float64(len(held)-1))].Microseconds()) / 1000 }
	fmt.Printf("%-10s %6d %9.1fs %12.0f %12.1f/%.1f/%.1f ms %7d %5d/%d\n", name, nodes, wall.Seconds(),
		float64(received.Load())/wall.Seconds(), pct(0.5), pct(0.99), pct(1), lost.Load(), stored/2, nodes)
	if stored != 2*nodes {
		return fmt.Errorf("%s: %d lineage rows in the metadata store, want %d", name, stored, 2*nodes)
	}
	return nil
}

// oneEmitter is the rate one Emitter (one pod, or a `run --all` of many nodes) delivers events
// at, as fast as they come, to a backend that answers at once.
func oneEmitter(n int) error {
	var received atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		w.WriteHeader(http.StatusCreated)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	em, err := observability.NewEmitter("http://"+ln.Addr().String(), "https://github.com/aiflow-dev/aiflow", nil)
	if err != nil {
		return err
	}
	ctx := context.Background()
	info := observability.RunInfo{Pipeline: "scale_p00000", Node: "n00", RunID: "sim__one", Try: 1, IRHash: "h", Engine: "arrow"}
	ins := []observability.Dataset{{Namespace: "s3://lake", Name: "raw/t"}}
	t0 := time.Now()
	var enqueue time.Duration
	for i := range n {
		a := time.Now()
		em.Start(ctx, info, ins)
		enqueue += time.Since(a)
		if i%(observability.LineageQueue/2) == 0 {
			em.Flush(ctx) // never more than the queue holds
		}
	}
	em.Flush(ctx)
	wall := time.Since(t0)
	fmt.Printf("one emitter: %d events in %.2fs: %.0f events/s delivered, %.1f µs per event on the node's goroutine, %d lost\n",
		received.Load(), wall.Seconds(), float64(received.Load())/wall.Seconds(), float64(enqueue.Microseconds())/float64(n), em.Errors())
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "lineagesim:", err)
	os.Exit(1)
}
