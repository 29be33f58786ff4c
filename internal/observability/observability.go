// Package observability is what a platform team sees of every node run without reading code:
// JSON log lines that carry the run's identity and tenancy (log/slog), Prometheus metrics served
// while the node runs and pushed to a Pushgateway at exit, and OpenLineage run events.
//
// The node lifecycle builds one RunInfo per node run and hands it to the three parts:
//
//	info := observability.NewRunInfo(p, nodeID, runID, irHash, try, logicalDate)
//	info.FillParents(cfg.OpenLineageNamespace, cfg.OpenLineageParentID, cfg.OpenLineageRootParentID)
//	redact := observability.NewRedactor()          // redact.Add(value) as secrets are resolved
//	stdout := redact.Writer(os.Stdout)             // also for subprocess output; defer stdout.Flush()
//	log := observability.NewLogger(stdout, cfg.LogFormat, cfg.LogLevel, info, redact)
//	m := observability.NewMetrics(info)            // m.Serve(ctx, cfg.MetricsAddr) when set
//	lin, err := observability.NewEmitter(cfg.OpenLineageURL, producer, log, observability.WithRedactor(redact))
//	m.WatchLineage(lin)                            // (err: a malformed URL, a configuration error)
//	lin.Start(ctx, info, inputs)
//	… run the node …
//	lin.Complete(ctx, info, inputs, outputs)       // or lin.Fail(ctx, info, err, class) / lin.Abort
//	m.Observe(result)
//	if err := m.Push(ctx, cfg.PushgatewayURL); err != nil { log.Warn(…) }
//
// Nothing here ever fails a node: lineage and push errors are logged and counted.
package observability

import (
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/ir"
)

// DefaultJobNamespace is the OpenLineage job namespace when OPENLINEAGE_NAMESPACE is unset.
const DefaultJobNamespace = "aiflow"

// RunInfo identifies one node run: one attempt (try) of one node of one pipeline run. Every log
// line carries it, metrics are labelled with its bounded part (never RunID or Try), lineage events
// name the job and run from it.
type RunInfo struct {
	Pipeline string
	Node     string
	RunID    string // the Airflow run_id (or the runner's own for local runs)
	Try      int    // Airflow's ti.try_number, from 1
	IRHash   string
	Engine   string // spark | arrow | python, or the source/sink kind for nodes without an engine
	// Tenancy (ir.TenancyKeys); "" when the pipeline leaves them null.
	Team, Env, Project, CostCenter string
	// LogicalDate is the run's nominal time; zero when the run has none (manual runs in Airflow 3).
	LogicalDate time.Time
	// JobNamespace is the OpenLineage namespace of the node's job; "" means DefaultJobNamespace.
	JobNamespace string
	// ParentID and RootParentID are OPENLINEAGE_PARENT_ID and OPENLINEAGE_ROOT_PARENT_ID as the
	// compiled DAG passes them: "namespace/job_name/run_id" of the Airflow task (and DAG run).
	ParentID, RootParentID string
}

// NewRunInfo fills a RunInfo from the pipeline and node of the IR. Engine is the node's engine,
// or its plugin kind when it has none (sources and sinks); the caller may overwrite it with the
// engine that actually runs the node.
func NewRunInfo(p *ir.Pipeline, nodeID, runID, irHash string, try int, logicalDate time.Time) RunInfo {
	info := RunInfo{
		Pipeline: p.ID, Node: nodeID, RunID: runID, Try: try, IRHash: irHash, LogicalDate: logicalDate,
		Team: p.Tenant("team"), Env: p.Tenant("env"), Project: p.Tenant("project"), CostCenter: p.Tenant("cost_center"),
	}
	if n := p.Nodes[nodeID]; n != nil {
		info.Engine = n.EngineName()
		if info.Engine == "" {
			info.Engine = n.Kind()
		}
	}
	return info
}

// FillParents sets the OpenLineage fields that are still empty from what the compiled DAG gives
// the pod (OPENLINEAGE_NAMESPACE, OPENLINEAGE_PARENT_ID, OPENLINEAGE_ROOT_PARENT_ID, read by
// internal/config): the jobs' namespace and the Airflow task and DAG runs that started the node.
func (r *RunInfo) FillParents(namespace, parentID, rootParentID string) {
	if r.JobNamespace == "" {
		r.JobNamespace = strings.TrimSpace(namespace)
	}
	if r.ParentID == "" {
		r.ParentID = strings.TrimSpace(parentID)
	}
	if r.RootParentID == "" {
		r.RootParentID = strings.TrimSpace(rootParentID)
	}
}

func (r RunInfo) namespace() string {
	if r.JobNamespace == "" {
		return DefaultJobNamespace
	}
	return r.JobNamespace
}

// Node run statuses, as NodeResult.Status and the status label of aiflow_node_duration_seconds.
const (
	StatusSucceeded        = "succeeded"
	StatusFailed           = "failed"
	StatusInterrupted      = "interrupted"       // SIGTERM, deadline: the pod was stopped
	StatusSkippedCommitted = "skipped_committed" // already committed for this run: a no-op
)

// NodeResult is what one node run did, for Metrics.Observe.
type NodeResult struct {
	Status string
	// ErrorClass is fault.Class.String() of the error ("data", "config", "temporary", …) for a
	// failed or interrupted run; "" otherwise.
	ErrorClass        string
	Duration          time.Duration
	RowsIn, RowsOut   int64
	BytesIn, BytesOut int64
	// Checks are the results of the node's data contract and quality checks (none when it
	// declares none).
	Checks []Check
}

// Check is the result of one data-contract or quality check of a node's output.
type Check struct {
	Name, Kind, Severity string
	// Column is the column the check is about ("" for the whole dataset).
	Column string
	Passed bool
	// Observed is the measured value, if any; Expected says what was required.
	Observed *float64
	Expected string
	// Content is the check's expression (rows_where).
	Content string
}
