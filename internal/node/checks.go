package node

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/contract"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/plugin"
)

// auditor prepares the node's data contract (output_schema and checks), or nil when it declares
// none. A relative row-count check needs the rows of the last committed run of the same node.
func (r *Runner) auditor(ctx context.Context, env *plugin.Env) (*contract.Auditor, error) {
	c, err := contract.Parse(env.Node.OutputSchema)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "output_schema of %s", env.Node.ID)
	}
	if c == nil {
		return nil, nil
	}
	a := &contract.Auditor{Contract: c, Node: env.Node.ID, Options: contract.Options{Now: env.Started},
		Open: func(ctx context.Context, m *manifest.Manifest) (array.RecordReader, error) {
			rr, _, err := readers.Reader(ctx, r.Store, r.Config, m, nil, memory.DefaultAllocator)
			return rr, err
		}}
	for _, ck := range c.Checks {
		if ck.MinRatio != nil || ck.MaxRatio != nil {
			if a.Options.PreviousRows, err = r.previousRows(ctx, env); err != nil {
				return nil, err
			}
			break
		}
	}
	return a, nil
}

// previousRows is the row count of the newest other run of this pipeline in which the node
// committed (nil: none among the last runs).
func (r *Runner) previousRows(ctx context.Context, env *plugin.Env) (*int64, error) {
	runs, err := r.Meta.ListRuns(ctx, metadata.RunFilter{Pipeline: env.Pipeline.ID, Limit: 100})
	if err != nil {
		return nil, err
	}
	for _, run := range runs {
		if run.RunID == env.RunID {
			continue
		}
		c, err := r.Meta.LookupCommit(ctx, env.Pipeline.ID, run.RunID, env.Node.ID)
		if err != nil {
			return nil, err
		}
		if c == nil {
			continue
		}
		m, err := manifest.Unmarshal(c.Manifest)
		if err != nil {
			return nil, err
		}
		rows := m.Rows
		return &rows, nil
	}
	return nil, nil
}

// reportChecks records the attempt's check results (whether it commits or fails) in the
// metadata store, result.json, the log, metrics and lineage. Reporting never fails the node.
func (r *Runner) reportChecks(ctx context.Context, env *plugin.Env, res *Result) {
	rs := env.Audit.Results()
	if len(rs) == 0 {
		return
	}
	res.Checks = rs
	rows := make([]metadata.CheckResult, len(rs))
	for i, c := range rs {
		rows[i] = metadata.CheckResult{Name: c.Name, Kind: c.Check, Severity: c.Severity, Status: c.Status(), Observed: c.Observed, Message: c.Message}
		if !c.Passed {
			env.Log.Warn("check "+c.Status(), "check", c.Name, "kind", c.Check, "severity", c.Severity, "message", c.Message)
		}
	}
	key := metadata.AttemptKey{Pipeline: env.Pipeline.ID, RunID: env.RunID, Node: env.Node.ID, Try: env.Try}
	if err := r.Meta.RecordChecks(ctx, key, rows); err != nil {
		env.Log.Warn("could not record check results", "error", err)
	}
	env.Log.Info("checks done", "checks", len(rs), "failed", len(contract.Blocking(rs)), "how", env.Audit.How())
}
