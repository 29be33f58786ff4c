package pyplugin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/pyengine"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Params are the params of a Python-plugin source or sink: whatever its builder returned (the
// runner cannot know its fields; the Python reader or writer checks them).
type Params struct {
	Rest map[string]any `json:"-" plugin:"rest"`
}

func (*Params) Validate() error { return nil }

// Sink runs a Python-plugin sink: the kind's writer (register_sink_writer) receives the sink's
// main input as a pyarrow.RecordBatchReader streamed through a pipe, in `python -m
// aiflow_sdk.pluginrun` (interpreter AIFLOW_PYTHON, modules from AIFLOW_PYTHONPATH).
//
// The runner's ledger gives the usual guarantees: a committed sink is never run again, and the
// commit is recorded once the writer returned. An attempt that dies after the writer returned
// and before the commit is retried and calls the writer again, which is why the writer gets
// run_id and node_id in its context and must write under names they fix (or keep a ledger of
// its own keyed by them). In replay without --publish the writer is not called at all: the input
// is staged under the attempt's staging folder, what the writer would have received.
type Sink struct {
	Kind    string
	Modules []string
}

var _ plugin.Sink[*Params] = Sink{}

// Publish feeds the main input to the writer.
func (s Sink) Publish(ctx context.Context, env *plugin.Env, _ *Params) (*plugin.Output, error) {
	if len(env.InputOrder) == 0 {
		return nil, fault.Configf("sink %s has no input", env.Node.ID)
	}
	id := env.InputOrder[0]
	counter := &readers.Counter{Watch: env.ReadProgress(id)}
	rr, schema, err := readers.Reader(ctx, env.Store, env.Config, env.Inputs[id], counter, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	out := &plugin.Output{}
	if !env.Publish {
		files, err := dataset.WriteFiles(ctx, env.Store, env.OutDir, rr, dataset.WriteOptions{Format: dataset.Parquet, FilePrefix: "out", Progress: env.Progress})
		if err != nil {
			return nil, err
		}
		out.Manifest = readers.StagedManifest(files, schema)
	} else {
		if err := s.write(ctx, env, rr); err != nil {
			return nil, err
		}
		out.Manifest = &manifest.Manifest{Kind: plugin.ManifestNone, Rows: counter.Rows.Load(), Bytes: counter.Bytes.Load()}
	}
	out.Manifest.Dataset = &manifest.DatasetRef{Namespace: "python." + s.Kind, Name: env.Pipeline.ID + "." + env.Node.ID}
	out.RowsIn, out.BytesIn = counter.Rows.Load(), counter.Bytes.Load()
	return out, nil
}

func (s Sink) write(ctx context.Context, env *plugin.Env, rr array.RecordReader) error {
	// The writer gets the node's rendered params (what its builder returned) with secret values,
	// not "${...}" references: resolved here, each value registered with the redactor first.
	params := map[string]any{"id": env.Node.ID}
	for k, v := range env.Node.Params {
		params[k] = v
	}
	resolved, err := plugin.ResolveRefs(params, env.Config.SecretsDir, env.Redact.Add)
	if err != nil {
		return fault.Wrap(fault.Config, err, "sink %s params", env.Node.ID)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fault.Wrap(fault.Temporary, err, "sink %s: pipe", env.Node.ID)
	}
	what := "writer of sink " + s.Kind
	req := request{Mode: "write", Kind: s.Kind, Params: resolved.(map[string]any), Context: runContext(env), Modules: s.Modules}
	cl, err := start(ctx, env.Config, what, req, pr, identityEnv(env),
		func(level slog.Level, line string) {
			// The writer's structured_log and MetricsClient records land in the node's log and metrics.
			if !pyengine.RelayRecord(ctx, env, line) {
				env.Log.Log(ctx, level, "python: "+line)
			}
		})
	pr.Close()
	if err != nil {
		pw.Close()
		return err
	}
	feedErr := feed(pw, rr)
	pw.Close()
	if err := cl.wait(); err != nil {
		// An input that could not be read cuts the writer's stream; the input's error is the cause.
		if feedErr != nil && !fault.IsCancel(feedErr) {
			return fmt.Errorf("sink %s: read input: %w", env.Node.ID, feedErr)
		}
		return err
	}
	if feedErr != nil {
		return fmt.Errorf("sink %s: read input: %w", env.Node.ID, feedErr)
	}
	return nil
}

// feed writes rr to w as one Arrow IPC stream. A writer that stops reading (it returned, or
// failed) is not an error here: its exit tells.
func feed(w *os.File, rr array.RecordReader) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	iw := ipc.NewWriter(bw, ipc.WithSchema(rr.Schema()))
	for rr.Next() {
		if err := iw.Write(rr.RecordBatch()); err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return nil
			}
			return err
		}
	}
	if err := rr.Err(); err != nil {
		return err
	}
	if err := iw.Close(); err != nil && !errors.Is(err, syscall.EPIPE) {
		return err
	}
	if err := bw.Flush(); err != nil && !errors.Is(err, syscall.EPIPE) {
		return err
	}
	return nil
}

// identityEnv is the run's identity for aiflow_sdk.runtime.current_context() and the
// observability records of the plugin's code.
func identityEnv(env *plugin.Env) []string {
	out := []string{"AIFLOW_PIPELINE_ID=" + env.Pipeline.ID, "AIFLOW_NODE_ID=" + env.Node.ID,
		"AIFLOW_RUN_ID=" + env.RunID, fmt.Sprintf("AIFLOW_TRY=%d", env.Try)}
	if !env.Vars.LogicalDate.IsZero() {
		out = append(out, "AIFLOW_DS="+env.Vars.LogicalDate.Format("2006-01-02"),
			"AIFLOW_LOGICAL_DATE="+env.Vars.LogicalDate.Format(time.RFC3339))
	}
	return out
}

// runContext is the seed's context of a reader or writer: the run it works for.
func runContext(env *plugin.Env) map[string]any {
	c := map[string]any{"pipeline_id": env.Pipeline.ID, "dag_id": env.Pipeline.ID, "node_id": env.Node.ID,
		"run_id": env.RunID, "try_number": env.Try}
	if !env.Vars.LogicalDate.IsZero() {
		c["ds"] = env.Vars.LogicalDate.Format("2006-01-02")
		c["logical_date"] = env.Vars.LogicalDate.Format(time.RFC3339)
	}
	params := map[string]any{}
	for k, v := range env.Vars.Params {
		params[k] = v
	}
	c["params"] = params
	return c
}
