// Package readahead overlaps producing record batches with consuming them: a goroutine reads a
// few batches ahead of the consumer. On a 2-core pod, decoding Parquet (or filtering) on one core
// while aggregating on the other is most of a core won back.
package readahead

import (
	"context"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// New reads up to depth batches of rr ahead in its own goroutine, so that producing the next
// batch (Parquet decompression, CSV parsing, S3 reads, a filter) overlaps with whatever the
// consumer does with the current one. It takes ownership of rr.
func New(ctx context.Context, rr array.RecordReader, depth int) array.RecordReader {
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetcher{schema: rr.Schema(), ch: make(chan arrow.RecordBatch, depth), cancel: cancel, done: make(chan struct{})}
	p.refs.Store(1)
	go func() {
		defer close(p.done)
		defer close(p.ch)
		defer rr.Release()
		for rr.Next() {
			rec := rr.RecordBatch()
			rec.Retain()
			select {
			case p.ch <- rec:
			case <-ctx.Done():
				rec.Release()
				p.err = ctx.Err()
				return
			}
		}
		p.err = rr.Err()
	}()
	return p
}

type prefetcher struct {
	schema *arrow.Schema
	ch     chan arrow.RecordBatch
	cur    arrow.RecordBatch
	err    error // written by the goroutine before ch is closed
	cancel context.CancelFunc
	done   chan struct{}
	refs   atomic.Int64
	// finished is set (by the consumer's goroutine) once Next returned false.
	finished bool
}

func (p *prefetcher) Schema() *arrow.Schema          { return p.schema }
func (p *prefetcher) RecordBatch() arrow.RecordBatch { return p.cur }
func (p *prefetcher) Record() arrow.RecordBatch      { return p.cur }
func (p *prefetcher) Retain()                        { p.refs.Add(1) }

func (p *prefetcher) Next() bool {
	if p.cur != nil {
		p.cur.Release()
		p.cur = nil
	}
	rec, ok := <-p.ch
	if !ok {
		p.finished = true
		return false
	}
	p.cur = rec
	return true
}

// Err is the source reader's error once Next has returned false (nil before).
func (p *prefetcher) Err() error {
	if !p.finished {
		return nil
	}
	<-p.done
	return p.err
}

func (p *prefetcher) Release() {
	if p.refs.Add(-1) != 0 {
		return
	}
	if p.cur != nil {
		p.cur.Release()
		p.cur = nil
	}
	p.cancel()
	for rec := range p.ch { // drain what was read ahead
		rec.Release()
	}
	<-p.done
}
