package node

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/contract"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/observability"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Observability is what every attempt reports to: logs (with the run's identity on every line,
// secrets masked), metrics (served while running, pushed at exit) and OpenLineage events. None of
// it ever fails a node.
type Observability struct {
	Out            io.Writer // the log destination (stdout in a pod), already redacting
	Format, Level  string
	Redact         *observability.Redactor
	Lineage        *observability.Emitter // nil: no lineage
	PushgatewayURL string
	MetricsAddr    string
}

// attemptObs is one attempt's observability state.
type attemptObs struct {
	o       *Observability
	info    observability.RunInfo
	log     *slog.Logger
	metrics *observability.Metrics
	inputs  []observability.Dataset
	cancel  context.CancelFunc
	// source: the dataset a source node commits is the one it read, an input of its job (the
	// staged copy is not a dataset of its own).
	source bool
}

func (o *Observability) begin(req Request, engine string, cfg *config.Config) *attemptObs {
	info := observability.NewRunInfo(req.Pipeline, req.Node, req.RunID, req.IRHash, max(req.Try, 1), req.LogicalDate)
	if engine != "" {
		info.Engine = engine
	}
	// What the compiled DAG gives the pod: the job namespace and the Airflow task run (parent)
	// that started this node.
	if cfg != nil {
		info.FillParents(cfg.OpenLineageNamespace, cfg.OpenLineageParentID, cfg.OpenLineageRootParentID)
	}
	a := &attemptObs{o: o, info: info, log: observability.NewLogger(o.Out, o.Format, o.Level, info, o.Redact), metrics: observability.NewMetrics(info)}
	if n := req.Pipeline.Nodes[req.Node]; n != nil {
		a.source = n.Type == ir.Source
	}
	if o.Lineage != nil {
		a.metrics.WatchLineage(o.Lineage)
	}
	if o.MetricsAddr != "" {
		ctx, cancel := context.WithCancel(context.Background())
		a.cancel = cancel
		if _, err := a.metrics.Serve(ctx, o.MetricsAddr); err != nil {
			a.log.Warn("cannot serve /metrics", "addr", o.MetricsAddr, "error", err)
		}
	}
	return a
}

// end stops serving /metrics and waits until the address is free: the next node of a
// `run --all` serves on the same AIFLOW_METRICS_ADDR.
func (a *attemptObs) end() {
	if a != nil && a.cancel != nil {
		a.cancel()
		a.metrics.Wait()
	}
}

func (a *attemptObs) started(ctx context.Context, env *plugin.Env) {
	if a == nil {
		return
	}
	for _, id := range env.InputOrder {
		if m := env.Inputs[id]; m != nil {
			a.inputs = append(a.inputs, lineageDataset(m))
		}
	}
	a.o.Lineage.Start(observability.ContextWithLogger(ctx, a.log), a.info, a.inputs)
}

func (a *attemptObs) ended(ctx context.Context, env *plugin.Env, res *Result, err error) {
	if a == nil {
		return
	}
	lctx := observability.ContextWithLogger(ctx, a.log)
	checks := observedChecks(res.Checks)
	switch {
	case err == nil:
		var outs []observability.Dataset
		ins := a.inputs
		if res.Manifest != nil && res.Manifest.Dataset != nil && res.Committed {
			d := lineageDataset(res.Manifest)
			d.Checks = checks
			if a.source {
				ins = append(append([]observability.Dataset(nil), ins...), d)
			} else {
				outs = append(outs, d)
			}
		}
		a.o.Lineage.Complete(lctx, a.info, ins, outs)
	case res.Status == "interrupted":
		a.o.Lineage.Abort(lctx, a.info, err)
	default:
		// A contract that failed: the output it stopped, with the assertions, so lineage
		// consumers see which dataset failed which check.
		var outs []observability.Dataset
		if len(checks) > 0 && res.Manifest != nil && res.Manifest.Dataset != nil {
			d := lineageDataset(res.Manifest)
			d.Rows, d.Bytes, d.Checks = 0, 0, checks
			outs = append(outs, d)
		}
		a.o.Lineage.Fail(lctx, a.info, err, fault.ClassOf(err).String(), outs...)
	}
	a.metrics.Observe(observability.NodeResult{Status: res.Status, ErrorClass: res.ErrorClass, Duration: time.Duration(res.DurationMS) * time.Millisecond,
		RowsIn: res.RowsIn, RowsOut: res.RowsOut, BytesIn: res.BytesIn, BytesOut: res.BytesOut, Checks: checks})
	if a.o.PushgatewayURL != "" {
		if perr := a.metrics.Push(ctx, a.o.PushgatewayURL); perr != nil {
			a.log.Warn("could not push metrics", "error", perr)
		}
	}
}

func observedChecks(rs []contract.Result) []observability.Check {
	var out []observability.Check
	for _, r := range rs {
		out = append(out, observability.Check{Name: r.Name, Kind: r.Check, Severity: r.Severity, Column: r.Column,
			Passed: r.Passed, Observed: r.Observed, Expected: r.Expected, Content: r.Content})
	}
	return out
}

func lineageDataset(m *manifest.Manifest) observability.Dataset {
	d := observability.Dataset{Rows: m.Rows, Bytes: m.Bytes}
	if m.Dataset != nil {
		d.Namespace, d.Name = m.Dataset.Namespace, m.Dataset.Name
	} else {
		d.Namespace, d.Name = "aiflow", m.Pipeline+"."+m.Node
	}
	for _, f := range m.Schema {
		d.Schema = append(d.Schema, observability.Field{Name: f.Name, Type: f.Type})
	}
	return d
}
