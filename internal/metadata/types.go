package metadata

import (
	"encoding/json"
	"fmt"
	"time"
)

// Tenancy is who a pipeline belongs to and who pays for it (the IR's extra.team/env/project/cost_center).
// It is recorded per pipeline version and attributes usage to tenants.
type Tenancy struct {
	Team       string `json:"team"`
	Env        string `json:"env"`
	Project    string `json:"project"`
	CostCenter string `json:"cost_center"`
}

// PipelineVersion is one IR of a pipeline, identified by its hash. A pipeline has a new version
// whenever its canonical IR changes; FirstSeen and LastSeen say when runners used it.
type PipelineVersion struct {
	Pipeline string `json:"pipeline"`
	IRHash   string `json:"ir_hash"`
	// IR is the canonical IR JSON, byte for byte, so that its sha256 is IRHash. Lists leave it out.
	IR json.RawMessage `json:"ir,omitempty"`
	Tenancy
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Pipeline is the latest version of a pipeline and how many versions it has had. Its FirstSeen is
// when the pipeline's first version was seen, LastSeen when its latest one was.
type Pipeline struct {
	PipelineVersion
	Versions int `json:"versions"`
}

// RunStatus is the state of a whole run.
type RunStatus string

const (
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
)

// Run is one run of a pipeline (an Airflow DAG run): the nodes of a run share its RunID.
type Run struct {
	Pipeline    string     `json:"pipeline"`
	RunID       string     `json:"run_id"`
	LogicalDate *time.Time `json:"logical_date"`
	IRHash      string     `json:"ir_hash"`
	Status      RunStatus  `json:"status"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at"`
	// Tenancy is read from the run's pipeline version; it is not written with the run.
	Tenancy
}

// AttemptStatus is the state of one node attempt.
type AttemptStatus string

const (
	AttemptRunning   AttemptStatus = "running"
	AttemptSucceeded AttemptStatus = "succeeded"
	AttemptFailed    AttemptStatus = "failed"
	// AttemptInterrupted marks an attempt that never ended: its pod died. StartAttempt sets it on the
	// running attempts of a node when a newer attempt of that node starts.
	AttemptInterrupted AttemptStatus = "interrupted"
	// AttemptSkippedCommitted is an attempt that found the node already committed for the run and did
	// nothing (exit 0).
	AttemptSkippedCommitted AttemptStatus = "skipped_committed"
)

// AttemptKey names one attempt of one node in one run. Try is Airflow's try_number (from 1).
type AttemptKey struct {
	Pipeline string `json:"pipeline"`
	RunID    string `json:"run_id"`
	Node     string `json:"node"`
	Try      int    `json:"try"`
}

// String is the attempt as error messages name it: enrich_orders#2.
func (k AttemptKey) String() string { return fmt.Sprintf("%s#%d", k.Node, k.Try) }

// Attempt is one pod's run of one node.
type Attempt struct {
	AttemptKey
	// AttemptID tells apart the processes that run the same try (a zombie pod and its
	// replacement): each is its own row. Empty for rows recorded before it existed.
	AttemptID string        `json:"attempt_id"`
	IRHash    string        `json:"ir_hash"`
	Status    AttemptStatus `json:"status"`
	// ExitCode is the runner's exit code; nil while running or when the attempt was interrupted.
	ExitCode     *int       `json:"exit_code"`
	ErrorClass   string     `json:"error_class"`
	ErrorMessage string     `json:"error_message"`
	StartedAt    time.Time  `json:"started_at"`
	EndedAt      *time.Time `json:"ended_at"`
	RowsIn       int64      `json:"rows_in"`
	RowsOut      int64      `json:"rows_out"`
	BytesIn      int64      `json:"bytes_in"`
	BytesOut     int64      `json:"bytes_out"`
	Engine       string     `json:"engine"`
	PodName      string     `json:"pod_name"`
	Host         string     `json:"host"`
}

// Pin is what one input of a node attempt resolved to: a JSON document naming
// manifests, table snapshot ids or offset ranges, so that a retry reads the same data.
type Pin struct {
	AttemptKey
	Input      string          `json:"input"`
	Document   json.RawMessage `json:"pin"`
	RecordedAt time.Time       `json:"recorded_at"`
}

// Commit is the exactly-once ledger entry of a node in a run: its output manifest and the attempt
// that published it. There is at most one per (pipeline, run_id, node).
type Commit struct {
	// AttemptKey.Try is the attempt that committed.
	AttemptKey
	Manifest    json.RawMessage `json:"manifest"`
	CommittedAt time.Time       `json:"committed_at"`
}

// Direction says whether a node attempt read or wrote a dataset.
type Direction string

const (
	Read  Direction = "read"
	Wrote Direction = "wrote"
)

// Dataset is one dataset a node attempt read or wrote, named the OpenLineage way (namespace, name).
// Rows and Bytes are 0 when unknown; Schema is nil when unknown.
type Dataset struct {
	Direction Direction       `json:"direction"`
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Rows      int64           `json:"rows"`
	Bytes     int64           `json:"bytes"`
	Schema    json.RawMessage `json:"schema"`
}

// Lineage is a Dataset as recorded for one attempt.
type Lineage struct {
	AttemptKey
	Dataset
	RecordedAt time.Time `json:"recorded_at"`
}

// CheckResult is the outcome of one data-contract or quality check of a node attempt's output.
type CheckResult struct {
	AttemptKey
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	// Status is passed, failed (an error-severity check: the attempt failed) or warned.
	Status string `json:"status"`
	// Observed is the measured value (rows, a ratio, offending rows, an age in seconds), if any.
	Observed   *float64  `json:"observed"`
	Message    string    `json:"message"`
	RecordedAt time.Time `json:"recorded_at"`
}

// RunDetail is everything recorded about one run, for `runs show`.
type RunDetail struct {
	Run
	Attempts []Attempt     `json:"attempts"`
	Pins     []Pin         `json:"pins"`
	Commits  []Commit      `json:"commits"`
	Lineage  []Lineage     `json:"lineage"`
	Checks   []CheckResult `json:"checks"`
}

// UsageRow is what one tenant consumed: node-seconds are the summed wall time of ended attempts.
type UsageRow struct {
	Tenant      string  `json:"tenant"`
	Attempts    int64   `json:"attempts"`
	NodeSeconds float64 `json:"node_seconds"`
	RowsIn      int64   `json:"rows_in"`
	RowsOut     int64   `json:"rows_out"`
	BytesIn     int64   `json:"bytes_in"`
	BytesOut    int64   `json:"bytes_out"`
}

// Activity is what happens now, by team (Store.Activity).
type Activity struct {
	// Attempts are the attempts started since the query's Since, by team and attempt status.
	Attempts []TeamCount `json:"attempts"`
	// Running are the runs whose status is running, by team (Status is "running").
	Running []TeamCount `json:"running"`
}

// TeamCount is a count of one team's attempts or runs in one status.
type TeamCount struct {
	Team   string `json:"team"`
	Status string `json:"status"`
	N      int64  `json:"n"`
}

// LineageEdge says that a node of a pipeline read or wrote a dataset: Runs is how many runs did
// since the query's start, Last when the latest did.
type LineageEdge struct {
	Pipeline  string    `json:"pipeline"`
	Node      string    `json:"node"`
	Direction Direction `json:"direction"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Team      string    `json:"team"`
	Runs      int64     `json:"runs"`
	Last      time.Time `json:"last"`
}
