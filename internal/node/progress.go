package node

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiflow-dev/aiflow/internal/observability"
)

// progress follows one attempt's running totals: rows and bytes each input delivered (the
// engines' readers report them as they read) and what the output received so far. It logs a
// "progress" record every interval (pods and CI have no terminal to draw on) and keeps the
// /metrics counters moving while the node runs.
type progress struct {
	mu      sync.Mutex
	inputs  map[string]*[2]atomic.Int64 // rows, bytes by input id
	outRows atomic.Int64
	outByte atomic.Int64
	started time.Time
	stop    chan struct{}
	done    sync.WaitGroup
}

func newProgress(started time.Time) *progress {
	return &progress{inputs: map[string]*[2]atomic.Int64{}, started: started, stop: make(chan struct{})}
}

// input returns the callback of one input's reader (running totals).
func (p *progress) input(id string) func(rows, bytes int64) {
	p.mu.Lock()
	c := p.inputs[id]
	if c == nil {
		c = &[2]atomic.Int64{}
		p.inputs[id] = c
	}
	p.mu.Unlock()
	return func(rows, bytes int64) { c[0].Store(rows); c[1].Store(bytes) }
}

// output wraps the output's progress callback (running totals) so the totals are kept too.
func (p *progress) output(next func(rows, bytes int64)) func(rows, bytes int64) {
	return func(rows, bytes int64) {
		p.outRows.Store(rows)
		p.outByte.Store(bytes)
		if next != nil {
			next(rows, bytes)
		}
	}
}

func (p *progress) totals() (rowsIn, bytesIn, rowsOut, bytesOut int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.inputs {
		rowsIn += c[0].Load()
		bytesIn += c[1].Load()
	}
	return rowsIn, bytesIn, p.outRows.Load(), p.outByte.Load()
}

// run reports every interval until end: a log record when log is not nil, and the live metrics.
func (p *progress) run(ctx context.Context, every time.Duration, log *slog.Logger, metrics *observability.Metrics) {
	if every <= 0 {
		return
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		var lastIn int64
		last := p.started
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.stop:
				return
			case now := <-t.C:
				rowsIn, bytesIn, rowsOut, bytesOut := p.totals()
				if metrics != nil {
					metrics.Live(rowsIn, rowsOut, bytesIn, bytesOut)
				}
				if log != nil {
					secs := now.Sub(last).Seconds()
					rate := 0.0
					if secs > 0 {
						rate = float64(rowsIn-lastIn) / secs
					}
					log.Info("progress", "rows_in", rowsIn, "bytes_in", bytesIn, "rows_out", rowsOut, "bytes_out", bytesOut,
						"rows_in_per_s", int64(rate), "elapsed_ms", now.Sub(p.started).Milliseconds())
				}
				lastIn, last = rowsIn, now
			}
		}
	}()
}

func (p *progress) end() {
	if p == nil {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.done.Wait()
}
