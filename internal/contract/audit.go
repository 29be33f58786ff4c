package contract

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/manifest"
)

// Auditor runs a node's contract on its staged output, once, before the output is committed or
// published. A runtime that streams its output through Go wraps the stream with Watch, so the
// checks see every batch on its way to staging (no second pass); a runtime that publishes
// anything outside staging itself (Spark's output_table) calls Check after staging and before
// publishing; the node lifecycle calls Check after every runtime (a no-op when it ran already).
// A nil *Auditor (a node without output_schema) does nothing.
type Auditor struct {
	Contract *Contract
	Node     string
	Options  Options
	// Open reads a staged output back as Arrow batches, when its runtime neither streamed it
	// through Watch nor set Measure.
	Open func(ctx context.Context, m *manifest.Manifest) (array.RecordReader, error)
	// Measure, when set by a runtime, measures a staged output without reading it through Go
	// (Spark aggregations). It returns the measures and the output's columns.
	Measure func(ctx context.Context, c *Contract, m *manifest.Manifest) (*Measures, []Field, error)

	mu      sync.Mutex
	eval    *Evaluator
	watched *watchReader
	done    bool
	results []Result
	err     error
	how     string
}

// Watch wraps a runtime's output stream so the contract measures every batch that passes.
func (a *Auditor) Watch(ctx context.Context, rr array.RecordReader) array.RecordReader {
	if a == nil {
		return rr
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.eval = a.Contract.Bind(rr.Schema(), memory.DefaultAllocator)
	a.watched = &watchReader{RecordReader: rr, ctx: ctx, eval: a.eval}
	return a.watched
}

// Check judges the contract on the staged output m (measured while it streamed through Watch,
// by Measure, or read back from staging), records the results, and returns a data error (exit
// 65) listing every failed error-severity check. Later calls return the first call's answer.
func (a *Auditor) Check(ctx context.Context, m *manifest.Manifest) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return a.err
	}
	var schema []Result
	var ms *Measures
	switch {
	case a.watched != nil && a.watched.eof && a.watched.err == nil:
		schema, ms, a.how = a.eval.schema, a.eval.m, "streamed"
	case a.Measure != nil:
		mm, fields, err := a.Measure(ctx, a.Contract, m)
		if err != nil {
			return fmt.Errorf("measure the checks of %s: %w", a.Node, err)
		}
		schema, ms, a.how = a.Contract.CheckSchema(fields), mm, "measured"
	default:
		e, err := a.readBack(ctx, m)
		if err != nil {
			return err
		}
		schema, ms, a.how = e.schema, e.m, "read back"
	}
	a.done = true
	a.results = a.Contract.Judge(schema, ms, a.Options)
	a.err = Err(a.Node, a.results)
	return a.err
}

func (a *Auditor) readBack(ctx context.Context, m *manifest.Manifest) (*Evaluator, error) {
	if a.Open == nil {
		return nil, fault.New(fault.Internal, "no reader of staged outputs for the checks of %s", a.Node)
	}
	if m == nil {
		return nil, fault.New(fault.Internal, "no staged output to check")
	}
	if m.Kind == manifest.KindNone {
		return nil, fault.Configf("%s publishes nothing aiflow can read back (%s output): declare output_schema and checks on the node that feeds it", a.Node, m.Kind)
	}
	mem := memory.DefaultAllocator
	rr, err := a.Open(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("read %s back for its checks: %w", a.Node, err)
	}
	defer rr.Release()
	e, err := a.Contract.Evaluate(ctx, rr, mem)
	if err != nil {
		return nil, fmt.Errorf("check the output of %s: %w", a.Node, err)
	}
	return e, nil
}

// Results are the check results (nil before Check ran).
func (a *Auditor) Results() []Result {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.results
}

// How says how the checks saw the data: "streamed", "measured" or "read back" ("" before Check).
func (a *Auditor) How() string {
	if a == nil {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.how
}

// watchReader measures every batch its consumer takes.
type watchReader struct {
	array.RecordReader
	ctx  context.Context
	eval *Evaluator
	eof  bool
	err  error
}

func (w *watchReader) Next() bool {
	if w.err != nil {
		return false
	}
	if !w.RecordReader.Next() {
		w.eof = w.RecordReader.Err() == nil
		return false
	}
	if err := w.eval.Observe(w.ctx, w.RecordReader.RecordBatch()); err != nil {
		w.err = err
		return false
	}
	return true
}

func (w *watchReader) Err() error {
	if w.err != nil {
		return w.err
	}
	return w.RecordReader.Err()
}

func (w *watchReader) Schema() *arrow.Schema { return w.RecordReader.Schema() }
