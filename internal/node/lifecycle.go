// Package node runs one node of a pipeline: what a pod does. The lifecycle is the same for
// every node and every engine: check the commit ledger, record the attempt, resolve and pin the
// inputs from their committed manifests, run the node's runtime into a per-attempt staging
// folder, commit the manifest exactly once, record the end, and report result.json and the
// termination message. Runtimes (sources, engines, sinks) implement the interfaces of package
// plugin and are found in the runner's registry.
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/contract"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/observability"
	"github.com/aiflow-dev/aiflow/internal/policy"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Runner runs nodes. One Runner serves a whole `run --all`.
type Runner struct {
	Registry *plugin.Registry
	Config   *config.Config
	Meta     metadata.Store
	Store    *objstore.Store
	Log      *slog.Logger
	// Obs, when set, gives every attempt its own logger (with the run's identity on every line),
	// metrics and lineage events.
	Obs *Observability
	// Progress, when set, is handed to runtimes for long reads and writes (a terminal display).
	Progress func(node string) func(rows, bytes int64)
	// ProgressEvery, when positive, logs a "progress" record (rows read, rows/s, rows written)
	// at that interval while a node runs: what pods and CI, which have no terminal, see.
	// The /metrics counters move at that interval too (every 5s when it is zero).
	ProgressEvery time.Duration
	// BeforeCommit, when set, is called after the runtime returned and before the manifest is
	// written and committed; an error fails the attempt as if the pod died right there. The sink
	// conformance suite (plugin/sinktest) kills attempts between publish and commit with it.
	BeforeCommit func(ctx context.Context, env *plugin.Env) error
	// Deadline, when not zero, is when the task running these nodes must be done, bookkeeping
	// included. A fused chain (several nodes in one task under one execution_timeout) shares it:
	// each node's work ends where the time the task has left says, never a fresh
	// AIFLOW_NODE_TIMEOUT per node, so the chain ends within the task's budget. Zero: each
	// attempt gets Config.NodeTimeout from its own start (run --all, a runner built on this
	// package).
	Deadline time.Time

	live live // the attempt whose row is open, for Interrupt
}

// Request names one node attempt.
type Request struct {
	Pipeline    *ir.Pipeline
	IRHash      string
	Node        string
	RunID       string
	LogicalDate time.Time
	Try         int
	// Params override pipeline params for templates ({{ params.NAME }}).
	Params map[string]string
	// InputsRunID is the run whose commits feed the inputs (replay); default RunID.
	InputsRunID string
	// NoPublish makes a sink write under its staging folder only (replay without --publish).
	NoPublish bool
	// MaxTries is Airflow's ti.max_tries: the retries this task has; the attempt whose Try
	// exceeds it is the last. A failure on the last try (or of a class never retried) ends the run
	// as failed; a node run by hand without it gets no retry.
	MaxTries int
}

// Result is how an attempt ended; it is written to result.json and summarised in the
// termination message.
type Result struct {
	Status   string `json:"status"` // succeeded | failed | interrupted | skipped_committed
	Pipeline string `json:"pipeline"`
	RunID    string `json:"run_id"`
	Node     string `json:"node"`
	Try      int    `json:"try"`
	// AttemptID is this process's attempt of the try (its own ledger row).
	AttemptID  string             `json:"attempt_id,omitempty"`
	IRHash     string             `json:"ir_hash"`
	Engine     string             `json:"engine,omitempty"`
	ExitCode   int                `json:"exit_code"`
	ErrorClass string             `json:"error_class,omitempty"`
	Retryable  bool               `json:"retryable"`
	Error      string             `json:"error,omitempty"`
	RowsIn     int64              `json:"rows_in"`
	RowsOut    int64              `json:"rows_out"`
	BytesIn    int64              `json:"bytes_in"`
	BytesOut   int64              `json:"bytes_out"`
	Manifest   *manifest.Manifest `json:"manifest,omitempty"`
	// Committed is true only when this attempt recorded the commit; a success always has a commit
	// record (this attempt's or an earlier one's).
	Committed  bool      `json:"committed"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
	DurationMS int64     `json:"duration_ms"`
	ResultURI  string    `json:"result_uri,omitempty"`
	OutputURI  string    `json:"output_uri,omitempty"`
	// Checks are the results of the node's output_schema and checks, when it declares any.
	Checks []contract.Result `json:"checks,omitempty"`

	obs     *attemptObs // the attempt's logs, metrics and lineage; nil without Runner.Obs
	workEnd time.Time   // when the attempt's work had to stop (zero: never)
}

// Err is the attempt's error, classified, or nil.
func (r *Result) Err() error {
	if r.ExitCode == 0 {
		return nil
	}
	return &fault.Error{Class: fault.Class(r.ExitCode), Msg: r.Error}
}

// BookkeepingBudget bounds each step of the bookkeeping after an attempt, each its own: recording
// the attempt's end in the ledger (first, always), the check results, removing a failed attempt's
// staging (best effort), result.json, the end-of-attempt reports (best effort) and the run's end
// when the attempt settles it. A hung object store cannot use up the time to record the attempt's
// end. With a node timeout T, each of the bookkeepingSteps gets min(BookkeepingBudget, T/12) and
// the work what is left (docs/deadlines.md).
var BookkeepingBudget = 10 * time.Second

// budgets are the attempt's work budget (0: none) and the budget of each bookkeeping step.
func (r *Runner) budgets() (work, step time.Duration) {
	step = BookkeepingBudget
	if r.Config == nil || r.Config.NodeTimeout <= 0 {
		return 0, step
	}
	t := r.Config.NodeTimeout
	step = min(step, t/12)
	return t - bookkeepingSteps*step, step
}

// bookkeepingSteps is how many budgets an attempt may use one after the other once its work
// ended: finish's five and settleRun's one.
const bookkeepingSteps = 6

// workDeadline is when the work of an attempt started at started must stop (zero: never): its
// node timeout's work budget, or less when the task's Deadline comes first (a fused chain's later
// nodes), always leaving the bookkeeping its steps before the end.
func (r *Runner) workDeadline(started time.Time) time.Time {
	work, step := r.budgets()
	var end time.Time
	if work > 0 {
		end = started.Add(work)
	}
	if !r.Deadline.IsZero() {
		if d := r.Deadline.Add(-bookkeepingSteps * step); end.IsZero() || d.Before(end) {
			end = d
		}
	}
	return end
}

// timeoutError says that the work deadline passed, and how much of the timeout the bookkeeping
// keeps.
func (r *Runner) timeoutError(err error) error {
	_, step := r.budgets()
	var t time.Duration
	if r.Config != nil {
		t = r.Config.NodeTimeout
	}
	if !r.Deadline.IsZero() {
		return fault.Wrap(fault.Temporary, err, "node timeout: the task's AIFLOW_NODE_TIMEOUT=%s reached (one deadline for every node of the task; the work stops %s before it to record the attempt)", t, (bookkeepingSteps * step).Round(10*time.Millisecond))
	}
	return fault.Wrap(fault.Temporary, err, "node timeout: AIFLOW_NODE_TIMEOUT=%s reached (the work stops %s before it to record the attempt)", t, (bookkeepingSteps * step).Round(10*time.Millisecond))
}

// bg is a context for bookkeeping after the attempt's own context was cancelled (SIGTERM) or
// ran out: the attempt must still be recorded, within the pod's grace period.
func bg(ctx context.Context, budget time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), budget)
}

// errNodeTimeout is the cause of an attempt's context when its work deadline passes.
var errNodeTimeout = errors.New("node timeout")

// Run runs one node attempt. It returns the Result (never nil) and the attempt's error. When
// the attempt settles the run — the last node to commit, or a failure no retry will follow — it
// records the run's end, so a run driven one pod per node (as Airflow does) ends as `run --all`
// does.
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
	res, err := r.run(ctx, req)
	r.settleRun(ctx, req, res, err)
	return res, err
}

// admit checks the tenant policy (Config.PolicyFile, the mounted system policy) and the team the
// runner is pinned to (Config.Team) for req's pipeline: a denial is configuration (78).
func (r *Runner) admit(req Request) error {
	var file, team string
	if r.Config != nil {
		file, team = r.Config.PolicyFile, r.Config.Team
	}
	return policy.EnforceRun(file, team, req.Pipeline, r.Registry, req.LogicalDate, req.RunID, req.Params)
}

// settleRun ends the run when this attempt decided it. Best effort: the node's own outcome is
// already recorded, and a later attempt settles the run again.
func (r *Runner) settleRun(ctx context.Context, req Request, res *Result, err error) {
	p := req.Pipeline
	if req.InputsRunID != "" || p.Nodes[req.Node] == nil {
		return // a replay ends its own run; an unknown node never started one
	}
	_, step := r.budgets()
	bctx, cancel := bg(ctx, step)
	defer cancel()
	log := r.Log
	if err != nil {
		class := fault.ClassOf(err)
		if class.Retryable() && res.Try <= req.MaxTries {
			return // Airflow retries this node: the run goes on
		}
		if eerr := r.Meta.EndRun(bctx, p.ID, req.RunID, metadata.RunFailed, time.Now().UTC()); eerr != nil && !errors.Is(eerr, metadata.ErrNotFound) {
			log.Warn("could not record the end of the run", "run_id", req.RunID, "error", eerr)
		}
		return
	}
	d, gerr := r.Meta.GetRun(bctx, p.ID, req.RunID)
	if gerr != nil {
		log.Warn("could not check whether the run is complete", "run_id", req.RunID, "error", gerr)
		return
	}
	if d.Status == metadata.RunSucceeded {
		return
	}
	done := map[string]bool{}
	for _, c := range d.Commits {
		done[c.Node] = true
	}
	for id := range p.Nodes {
		if !done[id] {
			return
		}
	}
	if eerr := r.Meta.EndRun(bctx, p.ID, req.RunID, metadata.RunSucceeded, time.Now().UTC()); eerr != nil {
		log.Warn("could not record the end of the run", "run_id", req.RunID, "error", eerr)
	}
}

func (r *Runner) run(parent context.Context, req Request) (*Result, error) {
	started := time.Now().UTC()
	// Every external call of the attempt runs under ctx, whose deadline leaves the bookkeeping
	// its budgets before AIFLOW_NODE_TIMEOUT; finish runs under parent.
	ctx := parent
	workEnd := r.workDeadline(started)
	if !workEnd.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(parent, workEnd, errNodeTimeout)
		defer cancel()
	}
	p := req.Pipeline
	n := p.Nodes[req.Node]
	res := &Result{Pipeline: p.ID, RunID: req.RunID, Node: req.Node, Try: req.Try, AttemptID: newAttemptID(), IRHash: req.IRHash, StartedAt: started, workEnd: workEnd}
	if !workEnd.IsZero() && !started.Before(workEnd) {
		// The task's earlier nodes used its time: starting this one would only be killed later
		// with half its output written. No attempt row: the node never started; the task's
		// retry runs it (its earlier nodes are then no-ops).
		return r.finish(parent, nil, res, r.timeoutError(fault.New(fault.Temporary, "no time left for node %s", req.Node)), false)
	}
	if n == nil {
		return r.finish(parent, nil, res, fault.Configf("pipeline %s has no node %q%s", p.ID, req.Node, ir.Suggest(req.Node, p.NodeIDs())), false)
	}
	res.Engine = n.EngineName()
	if req.Try < 1 {
		req.Try, res.Try = 1, 1
	}
	var log *slog.Logger
	var obs *attemptObs
	if r.Obs != nil {
		obs = r.Obs.begin(req, res.Engine, r.Config)
		log = obs.log
		defer obs.end()
	} else {
		log = r.Log.With("node", n.ID, "try", req.Try)
	}
	key := metadata.AttemptKey{Pipeline: p.ID, RunID: req.RunID, Node: n.ID, Try: req.Try}

	// The tenant policy, before the attempt touches anything: every entry path (run, run --all,
	// replay, a runner built on this package) is checked here, with the params rendered as the
	// node will see them.
	if err := r.admit(req); err != nil {
		return r.finish(parent, nil, res, err, false)
	}
	canon, err := p.Canonical()
	if err != nil {
		return r.finish(parent, nil, res, fault.Wrap(fault.Config, err, "canonical IR"), false)
	}
	if err := r.Meta.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: p.ID, IRHash: req.IRHash, IR: canon, Tenancy: tenancy(p)}); err != nil {
		return r.finish(parent, nil, res, err, false)
	}
	// The exactly-once ledger first: a node committed for this run is a no-op (exit 0).
	if c, err := r.Meta.LookupCommit(ctx, p.ID, req.RunID, n.ID); err != nil {
		return r.finish(parent, nil, res, err, false)
	} else if c != nil {
		log.Info("already committed for this run: nothing to do", "committed_try", c.Try, "committed_at", c.CommittedAt)
		res.Status = string(metadata.AttemptSkippedCommitted)
		if m, err := manifest.Unmarshal(c.Manifest); err == nil {
			res.Manifest = m
			res.RowsOut, res.BytesOut = m.Rows, m.Bytes
		}
		// Touch nothing: not the data, not the attempt history of the run — except the row of
		// the attempt that committed when its process could not end it (killed, or the ledger
		// restarted between the commit and the end): it would stay running for ever.
		r.endCommitter(ctx, log, key, c, res.AttemptID)
		// After-commit hooks (Kafka offsets) run again: the pod that committed may have died first.
		henv := &plugin.Env{Pipeline: p, IRHash: req.IRHash, Node: n, RunID: req.RunID, Try: req.Try, Config: r.Config, Registry: r.Registry, Store: r.Store, Meta: r.Meta, Log: log, Publish: !req.NoPublish}
		if err := plugin.RunAfterCommit(ctx, henv); err != nil {
			return r.finish(parent, nil, res, err, false)
		}
		return r.finish(parent, nil, res, nil, false)
	}
	run := metadata.Run{Pipeline: p.ID, RunID: req.RunID, IRHash: req.IRHash, Status: metadata.RunRunning, StartedAt: started}
	if !req.LogicalDate.IsZero() {
		ld := req.LogicalDate
		run.LogicalDate = &ld
	}
	if err := r.Meta.StartRun(ctx, run); err != nil {
		return r.finish(parent, nil, res, err, false)
	}
	att := r.attempt(key, res.AttemptID, req, n, started)
	if err := r.Meta.StartAttempt(ctx, att); err != nil {
		return r.finish(parent, nil, res, err, false)
	}
	r.live.open(att, req.MaxTries)

	prog := newProgress(started)
	env, err := r.prepare(ctx, req, n, key, res.AttemptID, log, started, prog)
	res.obs = obs
	if obs != nil {
		env.UserMetric = obs.metrics.UserMetric
	}
	// START even when preparing failed: every FAIL event has its START (OpenLineage).
	obs.started(ctx, env)
	if err != nil {
		return r.finish(parent, env, res, err, true)
	}
	// Own the staging folder before staging anything in it, then remove what dead attempts of
	// this node left (a kill -9 runs no cleanup): best effort, within one bookkeeping budget.
	r.writeLease(ctx, env, res.AttemptID, workEnd)
	{
		_, step := r.budgets()
		sctx, cancel := context.WithTimeout(ctx, step)
		r.sweepStaging(sctx, env)
		cancel()
	}
	log.Info("node started", "type", n.Type, "plugin", n.Plugin(), "inputs", strings.Join(n.InputIDs, ","), "staging", env.OutDir)
	{
		every, plog := r.ProgressEvery, log
		if every <= 0 {
			every, plog = 5*time.Second, nil // metrics only
		}
		var metrics *observability.Metrics
		if obs != nil {
			metrics = obs.metrics
		}
		prog.run(ctx, every, plog, metrics)
		defer prog.end()
	}

	if n.Type == ir.Sink && len(n.InputIDs) > 0 {
		// A sink publishes as it writes: its checks judge what it is about to write, its input.
		if err := env.Audit.Check(ctx, env.Inputs[n.InputIDs[0]]); err != nil {
			return r.finish(ctx, env, res, err, true)
		}
	}
	out, err := r.execute(ctx, env)
	if err == nil && ctx.Err() != nil {
		err = fault.Wrap(fault.Temporary, ctx.Err(), "node interrupted")
	}
	if err != nil {
		return r.finish(parent, env, res, err, true)
	}
	m := out.Manifest
	if m == nil {
		return r.finish(parent, env, res, fault.New(fault.Internal, "runtime returned no manifest"), true)
	}
	if r.BeforeCommit != nil {
		if err := r.BeforeCommit(ctx, env); err != nil {
			return r.finish(ctx, env, res, err, true)
		}
	}
	m.Version, m.Pipeline, m.RunID, m.Node, m.Attempt, m.IRHash = manifest.Version, p.ID, req.RunID, n.ID, req.Try, req.IRHash
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now().UTC()
	}
	res.Manifest = m
	res.RowsIn, res.BytesIn, res.RowsOut, res.BytesOut = out.RowsIn, out.BytesIn, m.Rows, m.Bytes
	res.OutputURI = env.OutDir
	// Write, audit, publish: nothing is committed (so nothing downstream runs) unless the
	// contract holds.
	if err := env.Audit.Check(ctx, m); err != nil {
		return r.finish(ctx, env, res, err, true)
	}

	// Never a commit for a file that is not there: a commit is a promise that downstream nodes
	// can read every file the manifest lists.
	if n.Type != ir.Source {
		if err := verifyFiles(ctx, r.Store, m); err != nil {
			return r.finish(parent, env, res, err, true)
		}
	}
	// Manifest last: the attempt's output is complete once its manifest exists.
	if err := manifest.Write(ctx, r.Store, env.OutDir+"/_manifest.json", m); err != nil {
		return r.finish(parent, env, res, err, true)
	}
	if err := r.commit(ctx, env, res, out); err != nil {
		return r.finish(parent, env, res, err, true)
	}
	if err := plugin.RunAfterCommit(ctx, env); err != nil {
		return r.finish(parent, env, res, err, true)
	}
	r.recordLineage(ctx, env, key, out, m)
	return r.finish(parent, env, res, nil, true)
}

// newAttemptID names one process's attempt: two pods running the same try (a zombie and its
// replacement) are two rows in the ledger, each with its own status.
func newAttemptID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// verifyFiles checks that every file a manifest lists exists with its recorded size, with one
// listing per folder (not one request per file: a partitioned table may have thousands).
func verifyFiles(ctx context.Context, st *objstore.Store, m *manifest.Manifest) error {
	byDir := map[string][]int{}
	for i, f := range m.Files {
		dir := f.URI[:strings.LastIndexByte(f.URI, '/')+1]
		byDir[dir] = append(byDir[dir], i)
	}
	for dir, idx := range byDir {
		_, objs, err := st.ListDir(ctx, dir)
		if err != nil {
			return fmt.Errorf("verify written files under %s: %w", dir, err)
		}
		size := make(map[string]int64, len(objs))
		for _, o := range objs {
			size[o.URI] = o.Size
		}
		for _, i := range idx {
			f := m.Files[i]
			got, ok := size[f.URI]
			if !ok {
				return fault.New(fault.Internal, "output file %s is missing after the write: refusing to commit", f.URI)
			}
			if f.Size > 0 && got != f.Size {
				return fault.New(fault.Internal, "output file %s has %d bytes, the write reported %d: refusing to commit", f.URI, got, f.Size)
			}
		}
	}
	return nil
}

func (r *Runner) attempt(key metadata.AttemptKey, attemptID string, req Request, n *ir.Node, started time.Time) metadata.Attempt {
	host, _ := os.Hostname()
	pod := ""
	if r.Config != nil {
		pod = r.Config.PodName
	}
	return metadata.Attempt{AttemptKey: key, AttemptID: attemptID, IRHash: req.IRHash, Status: metadata.AttemptRunning, StartedAt: started, Engine: n.EngineName(), PodName: pod, Host: host}
}

func tenancy(p *ir.Pipeline) metadata.Tenancy {
	return metadata.Tenancy{Team: p.Tenant("team"), Env: p.Tenant("env"), Project: p.Tenant("project"), CostCenter: p.Tenant("cost_center")}
}

// prepare renders the node's params, decodes its config, and resolves and pins its inputs.
func (r *Runner) prepare(ctx context.Context, req Request, n *ir.Node, key metadata.AttemptKey, attemptID string, log *slog.Logger, started time.Time, prog *progress) (*plugin.Env, error) {
	p := req.Pipeline
	// The env exists from the start, so that an attempt failing here is still reported like any
	// other (result.json, a FAIL lineage event, failure metrics).
	staging := manifest.Staging{Root: r.Config.StagingURI}
	env := &plugin.Env{
		Pipeline: p, IRHash: req.IRHash, Node: n, RunID: req.RunID, Try: req.Try,
		Config: r.Config, Registry: r.Registry, Store: r.Store, Meta: r.Meta, Log: log,
		Inputs: map[string]*manifest.Manifest{}, InputOrder: n.InputIDs,
		// A folder of this process's own: a zombie pod running the same try never writes,
		// cleans or discards it, nor this attempt the zombie's.
		OutDir:  staging.AttemptDir(p.ID, req.RunID, n.ID, req.Try, attemptID),
		Publish: !req.NoPublish, Started: started,
	}
	if r.Obs != nil {
		env.Redact = r.Obs.Redact
	}
	vars, err := p.Vars(req.LogicalDate, req.RunID, req.Params)
	if err != nil {
		return env, fault.Usagef("--param: %v", err)
	}
	env.Vars = vars
	// Values rendered into an expression or SQL are literals, never code (ir.RenderExpr).
	rendered, err := ir.RenderParams(n.Params, vars, n.ExprField)
	if err != nil {
		return env, fault.Wrap(fault.Config, err, "render params of %s", n.ID)
	}
	rn := *n
	rn.Params = rendered.(map[string]any)
	env.Node = &rn
	if env.Decoded, err = r.Registry.DecodeNode(&rn); err != nil {
		return env, err
	}
	// Every secret the node references is resolved now and its value registered with the
	// redactor, whatever its shape (a bare password, a DSN without a scheme): from here on no
	// log line, error, result.json, metadata row or lineage event can carry it. A reference that
	// does not resolve is left to the runtime that needs it to report.
	for _, s := range plugin.SecretsIn(env.Decoded.Params) {
		if v, err := s.Resolve(r.Config.SecretsDir); err == nil {
			env.Redact.Add(v)
		}
	}
	if env.Audit, err = r.auditor(ctx, env); err != nil {
		return env, err
	}
	var show func(rows, bytes int64)
	if r.Progress != nil {
		show = r.Progress(n.ID)
	}
	env.Progress = prog.output(show)
	env.InputProgress = prog.input
	inputsRun := req.InputsRunID
	if inputsRun == "" {
		inputsRun = req.RunID
	}
	pins := map[string]json.RawMessage{}
	for _, in := range n.InputIDs {
		c, err := r.Meta.LookupCommit(ctx, p.ID, inputsRun, in)
		if err != nil {
			return env, err
		}
		if c == nil {
			return env, fault.Configf("input %s has no committed output in run %s: run it first (aiflow-runner run --pipeline %s --node %s --run-id %s)", in, inputsRun, p.ID, in, inputsRun)
		}
		m, err := manifest.Unmarshal(c.Manifest)
		if err != nil {
			return env, fmt.Errorf("input %s: %w", in, err)
		}
		env.Inputs[in] = m
		pins[in] = c.Manifest
	}
	if len(pins) > 0 {
		if err := r.Meta.RecordPins(ctx, key, pins); err != nil {
			return env, err
		}
	}
	return env, nil
}

// execute runs the node's runtime: the engine's for a transform, else the kind's runtime on the
// node's engine (DefaultEngine when it names none).
func (r *Runner) execute(ctx context.Context, env *plugin.Env) (*plugin.Output, error) {
	n := env.Node
	engine := n.EngineName()
	if engine == "" {
		engine = DefaultEngine
	}
	run, ok := env.Decoded.Runtime(engine)
	if !ok && n.Type != ir.Transform && !slices.Contains(env.Decoded.Spec.Engines, engine) {
		// A kind that does not depend on that engine (a files source under a python node's
		// engine field) runs as on the default one.
		run, ok = env.Decoded.Runtime(DefaultEngine)
	}
	if !ok {
		spec := env.Decoded.Spec
		if n.Type == ir.Transform {
			return nil, fault.Configf("engine %q has no runtime in this aiflow-runner (built without it?)", spec.Kind)
		}
		return nil, fault.Configf("%s %q has no runtime on engine %s in this aiflow-runner (built without it?)", spec.Role, spec.Kind, engine)
	}
	return run(ctx, env)
}

// DefaultEngine runs sources and sinks that name no engine: the in-process one.
const DefaultEngine = "arrow"

// commit records the manifest in the ledger. Losing the race to another attempt is not an
// error: that attempt's output is the run's, this one's staging is discarded.
func (r *Runner) commit(ctx context.Context, env *plugin.Env, res *Result, out *plugin.Output) error {
	if out.AlreadyCommitted {
		res.Status = string(metadata.AttemptSkippedCommitted)
		return nil
	}
	if out.Committed {
		res.Committed = true
		res.Status = string(metadata.AttemptSucceeded)
		return r.writeCommittedCopy(ctx, env, res.Manifest)
	}
	b, err := json.Marshal(res.Manifest)
	if err != nil {
		return err
	}
	c := metadata.Commit{AttemptKey: metadata.AttemptKey{Pipeline: env.Pipeline.ID, RunID: env.RunID, Node: env.Node.ID, Try: env.Try}, Manifest: b}
	committed, existing, err := r.Meta.Commit(ctx, c)
	if err != nil {
		return err
	}
	if !committed {
		env.Log.Warn("another attempt committed this node first; discarding this attempt's output", "committed_try", existing.Try)
		res.Status = string(metadata.AttemptSkippedCommitted)
		if m, err := manifest.Unmarshal(existing.Manifest); err == nil {
			res.Manifest = m
		}
		r.discardStaging(ctx, env)
		return nil
	}
	res.Committed = true
	res.Status = string(metadata.AttemptSucceeded)
	return r.writeCommittedCopy(ctx, env, res.Manifest)
}

// discardStaging removes this process's staging folder (and only it: other processes of the
// same try stage elsewhere) unless the ledger's commit points at it: a commit whose insert
// succeeded but whose answer was lost (connection reset, SIGTERM) points at this very attempt.
// When the ledger cannot be asked, the staging stays: garbage is cheap, a commit pointing at
// deleted files is not.
func (r *Runner) discardStaging(ctx context.Context, env *plugin.Env) {
	c, err := r.Meta.LookupCommit(ctx, env.Pipeline.ID, env.RunID, env.Node.ID)
	if err != nil {
		env.Log.Warn("keeping staging: cannot check whether a commit points at it", "dir", env.OutDir, "error", err)
		return
	}
	if c != nil {
		m, merr := manifest.Unmarshal(c.Manifest)
		if merr != nil || m.Under(env.OutDir) {
			env.Log.Info("keeping staging: the committed output lives there", "dir", env.OutDir)
			return
		}
	}
	if err := r.Store.DeletePrefix(ctx, env.OutDir+"/"); err != nil && !errors.Is(err, objstore.ErrNotExist) {
		env.Log.Warn("could not remove staging of a failed or discarded attempt", "dir", env.OutDir, "error", err)
	}
}

// writeCommittedCopy writes <node>/_manifest.json for humans and tools. The ledger row is the
// authority, so a failure here is logged, not fatal.
func (r *Runner) writeCommittedCopy(ctx context.Context, env *plugin.Env, m *manifest.Manifest) error {
	staging := manifest.Staging{Root: r.Config.StagingURI}
	uri := staging.NodeDir(env.Pipeline.ID, env.RunID, env.Node.ID) + "/_manifest.json"
	if err := manifest.Write(ctx, r.Store, uri, m); err != nil {
		env.Log.Warn("could not write the committed manifest copy", "uri", uri, "error", err)
	}
	return nil
}

func (r *Runner) recordLineage(ctx context.Context, env *plugin.Env, key metadata.AttemptKey, out *plugin.Output, m *manifest.Manifest) {
	var ds []metadata.Dataset
	for _, id := range env.InputOrder {
		in := env.Inputs[id]
		if in == nil || in.Dataset == nil {
			continue
		}
		ds = append(ds, metadata.Dataset{Direction: metadata.Read, Namespace: in.Dataset.Namespace, Name: in.Dataset.Name, Rows: in.Rows, Bytes: in.Bytes, Schema: schemaJSON(in.Schema)})
	}
	for _, d := range out.Read {
		ds = append(ds, metadata.Dataset{Direction: metadata.Read, Namespace: d.Namespace, Name: d.Name})
	}
	if m.Dataset != nil && env.Node.Type != ir.Source {
		ds = append(ds, metadata.Dataset{Direction: metadata.Wrote, Namespace: m.Dataset.Namespace, Name: m.Dataset.Name, Rows: m.Rows, Bytes: m.Bytes, Schema: schemaJSON(m.Schema)})
	}
	if len(ds) == 0 {
		return
	}
	if err := r.Meta.RecordLineage(ctx, key, ds); err != nil {
		env.Log.Warn("could not record lineage", "error", err)
	}
}

func schemaJSON(fs []manifest.Field) json.RawMessage {
	if len(fs) == 0 {
		return nil
	}
	b, _ := json.Marshal(fs)
	return b
}

// finish records how the attempt ended, cleans up a failed attempt's staging and writes
// result.json. started says whether an attempt row exists to end. The ledger comes first, with
// its own budget; cleanup and reports come after, each with its own budget, and only log.
func (r *Runner) finish(ctx context.Context, env *plugin.Env, res *Result, err error, started bool) (*Result, error) {
	// An error may quote a resolved secret (a driver's "connect postgres://app:VALUE@…"): mask it
	// before result.json, the metadata store, the termination message and stderr.
	if err != nil && r.Obs != nil && r.Obs.Redact != nil {
		if msg := r.Obs.Redact.Redact(err.Error()); msg != err.Error() {
			err = &fault.Error{Class: fault.ClassOf(err), Msg: msg}
		}
	}
	res.EndedAt = time.Now().UTC()
	res.DurationMS = res.EndedAt.Sub(res.StartedAt).Milliseconds()
	_, step := r.budgets()
	if err != nil && ctx.Err() == nil && !res.workEnd.IsZero() && !time.Now().Before(res.workEnd) && !strings.HasPrefix(err.Error(), "node timeout:") {
		// The work deadline passed: whatever the call said (a cancelled read may look like bad
		// data), the attempt ran out of time, which a retry may not.
		err = r.timeoutError(err)
	}
	if err != nil && ctx.Err() != nil && fault.ClassOf(err) != fault.Temporary {
		// The attempt was cancelled (SIGTERM, eviction): whatever error the cancellation caused
		// on its way out — a closed pipe, an encoder's "write failed" — the attempt was
		// interrupted, and a retry is what it needs.
		err = fault.Wrap(fault.Temporary, err, "node interrupted (%v)", context.Cause(ctx))
	}
	if err != nil {
		class := fault.ClassOf(err)
		res.ExitCode = class.ExitCode()
		res.ErrorClass = class.String()
		res.Retryable = class.Retryable()
		res.Error = err.Error()
		res.Status = string(metadata.AttemptFailed)
		if ctx.Err() != nil && class == fault.Temporary {
			res.Status = string(metadata.AttemptInterrupted)
		}
	} else if res.Status == "" {
		res.Status = string(metadata.AttemptSucceeded)
	}
	if started {
		if a, _ := r.live.take(res.AttemptID); a == nil {
			// Interrupt recorded this attempt as interrupted (the process is ending): the row
			// says so already, and the process will not outlive it.
			started = false
		}
	}
	if started {
		rctx, cancel := bg(ctx, step)
		code := res.ExitCode
		a := metadata.Attempt{
			AttemptKey: metadata.AttemptKey{Pipeline: res.Pipeline, RunID: res.RunID, Node: res.Node, Try: res.Try},
			AttemptID:  res.AttemptID, IRHash: res.IRHash, Status: metadata.AttemptStatus(res.Status), ExitCode: &code,
			ErrorClass: res.ErrorClass, ErrorMessage: truncate(res.Error, 4000), EndedAt: &res.EndedAt,
			RowsIn: res.RowsIn, RowsOut: res.RowsOut, BytesIn: res.BytesIn, BytesOut: res.BytesOut, Engine: res.Engine,
		}
		eerr := r.Meta.EndAttempt(rctx, a)
		cancel()
		if eerr != nil {
			r.logFor(env).Error("could not record the end of the attempt", "error", eerr, "budget", step)
			if err == nil {
				// Never report success without the ledger agreeing: the commit exists, but a
				// retry is cheap (it is a no-op) and keeps the store honest.
				err = eerr
				res.ExitCode = fault.ClassOf(eerr).ExitCode()
				res.ErrorClass = fault.ClassOf(eerr).String()
				res.Error = eerr.Error()
				res.Retryable = true
				res.Status = string(metadata.AttemptFailed)
			}
		}
	}
	if env != nil {
		kctx, cancel := bg(ctx, step)
		r.reportChecks(kctx, env, res)
		cancel()
	}
	// Abort staging: nothing of a failed attempt stays behind to be mistaken for output —
	// unless this attempt committed it (an after-commit step failed): the commit points at it.
	if err != nil && env != nil && !res.Committed {
		cctx, cancel := bg(ctx, step)
		r.discardStaging(cctx, env)
		cancel()
	}
	if env != nil {
		pctx, cancel := bg(ctx, step)
		defer cancel()
		res.ResultURI = env.OutDir + "/result.json"
		if b, merr := json.MarshalIndent(res, "", "  "); merr == nil {
			if perr := r.Store.Put(pctx, res.ResultURI, strings.NewReader(string(b)+"\n")); perr != nil {
				env.Log.Warn("could not write result.json", "uri", res.ResultURI, "error", perr)
			}
		}
		octx, ocancel := bg(ctx, step)
		defer ocancel()
		res.obs.ended(octx, env, res, err)
	}
	r.logEnd(env, res, err)
	return res, err
}

// logEnd writes the attempt's one closing record: "node finished" (info), or "node failed" at
// level ERROR, with what it read and wrote, how long it took, its exit code and error class, so
// a log search finds every outcome without parsing result.json.
func (r *Runner) logEnd(env *plugin.Env, res *Result, err error) {
	log := r.logFor(env)
	if res.obs != nil && res.obs.log != nil {
		log = res.obs.log
	}
	if log == nil {
		return
	}
	attrs := []any{"status", res.Status, "rows_in", res.RowsIn, "rows_out", res.RowsOut, "bytes_in", res.BytesIn,
		"bytes_out", res.BytesOut, "duration_ms", res.DurationMS, "exit_code", res.ExitCode, "try", res.Try}
	if err == nil {
		log.Info("node finished", attrs...)
		return
	}
	attrs = append(attrs, "error_class", res.ErrorClass, "retryable", res.Retryable, "error", res.Error)
	log.Error("node failed", attrs...)
}

func (r *Runner) logFor(env *plugin.Env) *slog.Logger {
	if env != nil && env.Log != nil {
		return env.Log
	}
	return r.Log
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
