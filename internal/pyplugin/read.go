package pyplugin

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
)

func init() { readers.RegisterOpener(ManifestKind, Open) }

// Open reads a Python-plugin source on the arrow and python engines: it runs the kind's Arrow
// reader (register_arrow_source_reader) with the params and run context the source pinned, in
// `python -m aiflow_sdk.pluginrun` (interpreter AIFLOW_PYTHON), and streams the batches it
// returns through a pipe. The reader runs anew for every consumer, like a Spark reader: what it
// reads is what its params say at that moment (a Kafka reader with fixed offsets reads the same
// records every time; one reading "latest" does not).
func Open(ctx context.Context, _ *objstore.Store, cfg *config.Config, m *manifest.Manifest, c *readers.Counter, mem memory.Allocator) (array.RecordReader, *arrow.Schema, error) {
	kind, _ := m.Details["plugin_kind"].(string)
	params, _ := m.Details["params"].(map[string]any)
	pctx, _ := m.Details["context"].(map[string]any)
	modules := detailStrings(m.Details["modules"])
	if kind == "" {
		return nil, nil, fault.Dataf("input %s: python_source manifest without a plugin kind", m.Node)
	}
	if cfg == nil {
		// The interpreter, sys.path and secrets folder come from the runner's configuration;
		// reading the process environment here would ignore a runner's injected settings.
		return nil, nil, fault.New(fault.Internal, "input %s: python_source opened without the runner's configuration", m.Node)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fault.Wrap(fault.Temporary, err, "input %s: pipe", m.Node)
	}
	log := slog.Default().With("input", m.Node, "source", "python")
	what := "Arrow reader of " + kind + " (input " + m.Node + ")"
	cl, err := start(ctx, cfg, what, request{Mode: "read", Kind: kind, Params: params, Context: pctx, Modules: modules}, pw, nil,
		func(level slog.Level, line string) { log.Log(ctx, level, "python: "+line) })
	pw.Close() // the child holds its own copy: EOF when it exits
	if err != nil {
		pr.Close()
		return nil, nil, err
	}
	rd, err := ipc.NewReader(bufio.NewReaderSize(pr, 1<<20), ipc.WithAllocator(mem))
	if err != nil {
		// No schema: the reader failed before returning its data; its exit says why.
		werr := cl.wait()
		pr.Close()
		if werr != nil {
			return nil, nil, werr
		}
		return nil, nil, fault.Wrap(fault.Data, err, "%s: no Arrow stream", what)
	}
	r := &streamReader{rd: rd, pipe: pr, call: cl, counter: c}
	r.refs.Store(1)
	return r, rd.Schema(), nil
}

// streamReader is the ipc.Reader over the subprocess's stream; its end checks the process's
// exit, so a reader that fails midway fails the consumer with its own error.
type streamReader struct {
	rd      *ipc.Reader
	pipe    *os.File
	call    *call
	counter *readers.Counter
	mu      sync.Mutex
	err     error
	ended   bool
	refs    atomic.Int64
}

func (r *streamReader) Schema() *arrow.Schema { return r.rd.Schema() }

func (r *streamReader) Next() bool {
	if r.ended {
		return false
	}
	if r.rd.Next() {
		if r.counter != nil {
			rec := r.rd.RecordBatch()
			rows := r.counter.Rows.Add(rec.NumRows())
			var bytes int64
			for _, col := range rec.Columns() {
				bytes += int64(col.Data().SizeInBytes())
			}
			total := r.counter.Bytes.Add(bytes)
			if r.counter.Watch != nil {
				r.counter.Watch(rows, total)
			}
		}
		return true
	}
	r.ended = true
	streamErr := r.rd.Err()
	werr := r.call.wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case werr != nil:
		r.err = werr
	case streamErr != nil && !errors.Is(streamErr, os.ErrClosed):
		r.err = fault.Wrap(fault.Data, streamErr, "%s: Arrow stream", r.call.what)
	}
	return false
}

func (r *streamReader) RecordBatch() arrow.RecordBatch { return r.rd.RecordBatch() }

func (r *streamReader) Record() arrow.RecordBatch { return r.rd.RecordBatch() }

func (r *streamReader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *streamReader) Retain() { r.refs.Add(1) }

// Release stops a reader the consumer did not read to the end and frees the stream.
func (r *streamReader) Release() {
	if r.refs.Add(-1) > 0 {
		return
	}
	r.call.kill()
	r.rd.Release()
	r.pipe.Close()
}

func detailStrings(v any) []string {
	var out []string
	switch v := v.(type) {
	case []string:
		out = v
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
