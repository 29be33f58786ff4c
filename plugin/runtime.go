package plugin

// The runtime side of the contract: what a source, an engine or a sink gets to run one node
// attempt (Env) and what it returns (Output). The node lifecycle that calls them (ledger,
// staging, commit, result.json) lives in the runner; a runtime only reads its inputs and writes
// its output or destination.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/contract"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/observability"
	"github.com/aiflow-dev/aiflow/ir"
)

// Env is everything a runtime needs to run one node attempt.
type Env struct {
	Pipeline *ir.Pipeline
	IRHash   string
	// Node is the node with its params rendered (templates resolved for this run).
	Node    *ir.Node
	Decoded *Decoded
	RunID   string
	Try     int
	Vars    ir.TemplateVars

	Config   *config.Config
	Registry *Registry
	Store    *objstore.Store
	Meta     metadata.Store
	Log      *slog.Logger

	// Inputs are the committed manifests of the node's inputs, by input node id, and InputOrder
	// their order in the IR (the first is the main input).
	Inputs     map[string]*manifest.Manifest
	InputOrder []string
	// OutDir is this attempt's staging folder: write output files there; it is removed if the
	// attempt fails.
	OutDir string
	// Publish is false when a sink runs in replay without --publish: it must write its output
	// under OutDir only, never to its real destination.
	Publish bool
	// Progress, when set, is called with running totals while data flows.
	Progress func(rows, bytes int64)
	// InputProgress, when set, gives the callback for the running totals read from one input
	// (progress records and live metrics count input rows: a group-by writes nothing for long).
	InputProgress func(input string) func(rows, bytes int64)
	// Started is when the attempt started.
	Started time.Time
	// Redact masks secret values in every output; a runtime that resolves a secret adds its value
	// (env.Redact.Add) before using it. May be nil in tests.
	Redact *observability.Redactor
	// Audit runs the node's output_schema and checks on its staged output before anything is
	// committed or published; nil when the node declares none (its methods then do nothing). A
	// runtime streaming its output through Go passes the stream through Audit.Watch; one that
	// publishes outside staging itself calls Audit.Check between staging and publishing.
	Audit *contract.Auditor
	// UserMetric records a metric the node's own code reported (a python or PySpark function's
	// aiflow_sdk.observability.MetricsClient) in the node's metrics. May be nil (no metrics).
	UserMetric func(kind, name string, value float64, labels map[string]string) error
}

// ReadProgress is InputProgress(input), or nil.
func (e *Env) ReadProgress(input string) func(rows, bytes int64) {
	if e == nil || e.InputProgress == nil {
		return nil
	}
	return e.InputProgress(input)
}

// Output is what a runtime produced: the manifest of its output (identity fields are filled by
// the lifecycle) and the counts of what it read.
type Output struct {
	Manifest *manifest.Manifest
	RowsIn   int64
	BytesIn  int64
	// Read lists the datasets read, for lineage (inputs' datasets are added by the lifecycle).
	Read []manifest.DatasetRef
	// Committed is set by a runtime that recorded the commit itself, in the same transaction as
	// its publish (the feature store sink); AlreadyCommitted when it found the commit there.
	Committed        bool
	AlreadyCommitted bool
}

// Committer lets a runtime record the commit inside its own publish transaction.
type Committer interface {
	// Commit is called by the lifecycle with the final manifest.
	Commit(ctx context.Context, c metadata.Commit) (committed bool, existing *metadata.Commit, err error)
}

// ---- after-commit hooks (added for Kafka offsets; see OnCommitted) ----

// AfterCommitHook runs once a node's commit exists: right after this attempt's commit (or after
// it found another attempt's), and when a retry finds the node already committed — so a step
// that must follow a commit (committing Kafka consumer offsets after the sink committed) is
// never lost to a pod killed between the two. It must be idempotent. On the already-committed
// path env carries only Pipeline, IRHash, Node (params unrendered), RunID, Try, Config, Registry,
// Store, Meta and Log. An error fails the attempt with its class (a retry runs the hook again);
// the commit stays.
type AfterCommitHook func(ctx context.Context, env *Env) error

var afterCommitHooks []AfterCommitHook

// OnCommitted registers an AfterCommitHook (from an init function: it is not synchronised).
func OnCommitted(h AfterCommitHook) { afterCommitHooks = append(afterCommitHooks, h) }

// RunAfterCommit runs the registered after-commit hooks in order; the runner calls it.
func RunAfterCommit(ctx context.Context, env *Env) error {
	for _, h := range afterCommitHooks {
		if err := h(ctx, env); err != nil {
			return err
		}
	}
	return nil
}

// HoldLock waits until this attempt holds the named lock in the metadata store and keeps it
// until release is called (see metadata.HoldLock): for a sink whose destination cannot refuse a
// second writer, so that two attempts of one node (a zombie task beside its retry) never write at
// once. Do the writes with the returned context: it is cancelled, with a temporary fault, if the
// lock is lost. Name the lock after the destination (two nodes writing one destination share it).
// Without a metadata store (Meta nil, some tests) it returns ctx and holds nothing.
func (e *Env) HoldLock(ctx context.Context, name string) (held context.Context, release func(), err error) {
	if e.Meta == nil {
		return ctx, func() {}, nil
	}
	what := "attempt"
	if e.Pipeline != nil && e.Node != nil {
		what = fmt.Sprintf("%s/%s/%s try %d", e.Pipeline.ID, e.RunID, e.Node.ID, e.Try)
	}
	return metadata.HoldLock(ctx, e.Meta, name, metadata.LockOwner(what), metadata.LockOptions{Log: e.Log})
}
