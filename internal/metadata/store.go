package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound is wrapped by lookups of a run or pipeline version that is not recorded.
var ErrNotFound = errors.New("not found")

// Store records what runners do and answers the CLI's questions about it. Both backends (SQLite,
// PostgreSQL) implement it identically; storetest.Run is the suite that says what identically means.
// Every method is safe for concurrent use, by goroutines and by processes sharing the database.
//
// A node run calls, in order: RecordPipeline, StartRun (optional: StartAttempt creates the run
// too), LookupCommit (already committed → EndAttempt with AttemptSkippedCommitted, exit 0),
// StartAttempt, RecordPins, RecordChecks, RecordLineage, Commit, EndAttempt.
type Store interface {
	// RecordPipeline records a pipeline version, or moves its LastSeen forward if it is known.
	RecordPipeline(ctx context.Context, v PipelineVersion) error
	// PipelineVersion returns one version with its IR; ErrNotFound if it was never recorded.
	PipelineVersion(ctx context.Context, pipeline, irHash string) (*PipelineVersion, error)

	// StartRun records a run if it is not there yet, and its logical date if that was unknown.
	// A StartedAt of zero means now.
	StartRun(ctx context.Context, r Run) error
	// EndRun sets a run's final status.
	EndRun(ctx context.Context, pipeline, runID string, status RunStatus, endedAt time.Time) error

	// StartAttempt records a running attempt (creating its run if needed) and marks any earlier
	// attempt of the same node that is still running as interrupted: its pod is gone. Starting the
	// same try again (a pod restarted in place) starts it afresh. A StartedAt of zero means now.
	StartAttempt(ctx context.Context, a Attempt) error
	// RecordPins records what each input of an attempt resolved to (input id → JSON document).
	RecordPins(ctx context.Context, k AttemptKey, pins map[string]json.RawMessage) error
	// RecordLineage records the datasets an attempt read and wrote.
	RecordLineage(ctx context.Context, k AttemptKey, ds []Dataset) error
	// RecordChecks records the check results of an attempt (again for the same attempt: replaced).
	RecordChecks(ctx context.Context, k AttemptKey, rs []CheckResult) error
	// EndAttempt records how an attempt ended: Status, ExitCode, ErrorClass, ErrorMessage,
	// EndedAt (zero means now), the row and byte counts and Engine (if set) are written.
	EndAttempt(ctx context.Context, a Attempt) error

	// Commit records a node's output for a run exactly once. If (pipeline, run_id, node) is
	// already committed it writes nothing and returns committed=false with the existing commit;
	// that is not an error. A CommittedAt of zero means now.
	Commit(ctx context.Context, c Commit) (committed bool, existing *Commit, err error)
	// LookupCommit returns the commit of a node in a run, or nil if it has none.
	LookupCommit(ctx context.Context, pipeline, runID, node string) (*Commit, error)

	// ListRuns lists runs, newest first.
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	// GetRun returns a run with its attempts, pins, commits and lineage. pipeline may be empty
	// when the run id is unique across pipelines (Airflow's run ids are not: scheduled__<date>).
	GetRun(ctx context.Context, pipeline, runID string) (*RunDetail, error)
	// ListPipelines lists the latest version of every pipeline, by id, without its IR.
	ListPipelines(ctx context.Context) ([]Pipeline, error)
	// Usage sums node-seconds, rows and bytes per tenant over the attempts started since q.Since.
	Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error)
	// Activity counts what happens now, by team: attempts started since q.Since by status, and
	// runs running. Its cost grows with the attempts since q.Since, not with the history.
	Activity(ctx context.Context, q ActivityQuery) (Activity, error)
	// NodeAttempts lists the latest attempts of one node of a pipeline across runs, newest first
	// (limit 0 means DefaultRunLimit).
	NodeAttempts(ctx context.Context, pipeline, node string, limit int) ([]Attempt, error)
	// LineageEdges lists which pipeline nodes read and wrote which datasets in their latest runs
	// since q.Since: the edges of the lineage graph across pipelines, one per (pipeline, node,
	// direction, dataset).
	LineageEdges(ctx context.Context, q LineageQuery) ([]LineageEdge, error)

	// StreamJob returns the deployment of a streaming pipeline, nil when it has none.
	StreamJob(ctx context.Context, pipeline string) (*StreamJob, error)
	// ListStreamJobs lists the deployments of every streaming pipeline, by pipeline id.
	ListStreamJobs(ctx context.Context) ([]StreamJob, error)
	// LeaseStream takes the pipeline's stream lease for owner until now+ttl when it is free,
	// expired or owner's already, and reports whether it did: a deploy, upgrade or stop holds it
	// so that two concurrent ones never start two jobs or stop one twice.
	LeaseStream(ctx context.Context, pipeline, owner string, ttl time.Duration) (bool, error)
	// ReleaseStream gives the lease back when owner holds it.
	ReleaseStream(ctx context.Context, pipeline, owner string) error
	// RecordStream writes a pipeline's deployment (its lease untouched) and appends ev to its
	// history, in one transaction. Zero UpdatedAt and ev.At mean now.
	RecordStream(ctx context.Context, j StreamJob, ev StreamEvent) error
	// StreamEvents lists a pipeline's stream events, newest first (limit 0: DefaultRunLimit).
	StreamEvents(ctx context.Context, pipeline string, limit int) ([]StreamEvent, error)

	// TryLock takes the named lock for owner until now+ttl when it is free, expired or owner's
	// already (a renewal), and returns the lock as it stands: Owner == owner means owner holds
	// it. HoldLock waits for, renews and releases one.
	TryLock(ctx context.Context, name, owner string, ttl time.Duration) (Lock, error)
	// Unlock frees the named lock when owner holds it; anyone else's lock is left alone.
	Unlock(ctx context.Context, name, owner string) error

	Close() error
}

// RunFilter selects runs; empty fields match everything. Limit 0 means DefaultRunLimit.
type RunFilter struct {
	Pipeline string
	RunID    string
	Team     string
	// Teams, when not nil, keeps only the runs of pipelines of these teams (an empty, non-nil
	// list matches nothing): the tenant filter of Scoped.
	Teams  []string
	Status RunStatus
	Limit  int
}

// DefaultRunLimit is how many runs ListRuns returns when the filter sets no limit.
const DefaultRunLimit = 50

// UsageBy is the tenancy field usage is grouped by.
type UsageBy string

const (
	ByTeam       UsageBy = "team"
	ByProject    UsageBy = "project"
	ByCostCenter UsageBy = "cost_center"
)

// UsageQuery selects the attempts whose usage is summed and how it is grouped.
type UsageQuery struct {
	By    UsageBy
	Since time.Time
	// Teams, when not nil, sums only the attempts of these teams' pipelines (see RunFilter.Teams).
	Teams []string
}

// ActivityQuery selects the attempts Activity counts: those started since Since, of Teams'
// pipelines when Teams is not nil (see RunFilter.Teams).
type ActivityQuery struct {
	Since time.Time
	Teams []string
}

// LineageQuery selects the lineage edges recorded by the latest RunsPerPipeline runs (0 means
// DefaultLineageRuns) of each pipeline started since Since, of Teams' pipelines when Teams is not
// nil. Reading a bounded number of runs per pipeline keeps the lineage page's cost independent of
// how much history the store holds.
type LineageQuery struct {
	Since           time.Time
	Teams           []string
	RunsPerPipeline int
}

// DefaultLineageRuns is how many of each pipeline's latest runs LineageEdges reads by default.
const DefaultLineageRuns = 30
