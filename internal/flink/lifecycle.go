package flink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// Lifecycle drives a streaming pipeline's job with its deployment recorded in the metadata
// store: what the runner's `stream deploy`, `stream health` and `stream stop` do.
//
// Deploy, upgrade and stop hold the pipeline's lease in the store while they act, so two
// concurrent attempts (a retry racing a slow pod) never start two jobs or stop one twice; the
// second one fails with 75 and its retry finds the work done. Before a job is submitted, the
// deployment is recorded as DEPLOYING with the IR it is for: an attempt that dies between the
// submission and the record leaves a job its retry adopts (found by name) instead of starting a
// second one.
type Lifecycle struct {
	Client *Client
	// JobManager, when set, is where a deploy finds the retained checkpoint of a job that
	// failed for good; without it such a job needs Deployment.Restart.
	JobManager *JobManager
	Meta       metadata.Store
	// Owner names this attempt in the lease (pod name, try); LeaseTTL bounds how long a dead
	// owner keeps it (longer than a stop with savepoint takes).
	Owner    string
	LeaseTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Deployment is what a streaming pipeline should run.
type Deployment struct {
	Pipeline string
	Team     string
	IRHash   string
	Job      StreamJob
	// Restart allows a deploy after the job ended by itself (FAILED, CANCELED, or unknown to the
	// cluster) from the last savepoint: the records the job read after that savepoint are read
	// and written again. A FAILED job with a retained checkpoint needs no Restart: it resumes
	// from that checkpoint, with nothing lost or written twice.
	Restart bool
}

// Deploy actions.
const (
	ActionNone    = "none"    // the job already runs this IR
	ActionDeploy  = "deploy"  // a job started (from the last savepoint, if any)
	ActionUpgrade = "upgrade" // the job of another IR stopped with a savepoint, this IR's started from it
	ActionAdopt   = "adopt"   // a job an earlier attempt submitted was found and recorded
	ActionRestart = "restart" // a job that failed for good started again from its retained checkpoint
)

// States recorded besides Flink's.
const (
	StateDeploying = "DEPLOYING"
	StateStopped   = "STOPPED"
	StateUnknown   = "UNKNOWN" // the cluster does not know the recorded job id
)

// ended reports whether a Flink job state is terminal.
func ended(state string) bool {
	switch strings.ToUpper(state) {
	case "FAILED", "CANCELED", "FINISHED", "SUSPENDED", StateUnknown:
		return true
	}
	return false
}

func (l *Lifecycle) now() time.Time {
	if l.Now != nil {
		return l.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// lease takes the pipeline's lease or fails with 75.
func (l *Lifecycle) lease(ctx context.Context, pipeline string) (func(), error) {
	ttl := l.LeaseTTL
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	ok, err := l.Meta.LeaseStream(ctx, pipeline, l.Owner, ttl)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fault.New(fault.Temporary, "another stream command is deploying or stopping %s (its lease lasts up to %s): retry", pipeline, ttl)
	}
	return func() { _ = l.Meta.ReleaseStream(context.WithoutCancel(ctx), pipeline, l.Owner) }, nil
}

// state is the recorded job's state on the cluster (StateUnknown when the cluster does not know
// the id).
func (l *Lifecycle) state(ctx context.Context, jobID string) (string, error) {
	jobs, err := l.Client.Jobs(ctx)
	if err != nil {
		return "", err
	}
	for _, j := range jobs {
		if j.ID == jobID {
			return strings.ToUpper(j.Status), nil
		}
	}
	return StateUnknown, nil
}

// running finds a job of the given name that has not ended.
func (l *Lifecycle) running(ctx context.Context, name string) (*JobInfo, error) {
	jobs, err := l.Client.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if j.Name == name && !ended(j.Status) {
			return &j, nil
		}
	}
	return nil, nil
}

// Deploy makes the pipeline's job run d's IR: nothing when it does; a stop with savepoint and a
// start from it when it runs another IR; a start from the last savepoint when none runs.
func (l *Lifecycle) Deploy(ctx context.Context, d Deployment) (string, *metadata.StreamJob, error) {
	release, err := l.lease(ctx, d.Pipeline)
	if err != nil {
		return "", nil, err
	}
	defer release()
	rec, err := l.Meta.StreamJob(ctx, d.Pipeline)
	if err != nil {
		return "", nil, err
	}
	if rec == nil {
		rec = &metadata.StreamJob{Pipeline: d.Pipeline}
	}
	rec.Team = d.Team
	action := ActionDeploy
	from := rec.Savepoint
	if rec.JobID != "" {
		st, err := l.state(ctx, rec.JobID)
		if err != nil {
			return "", nil, err
		}
		rec.State = st
		switch {
		case ended(st):
			// A retained checkpoint is the exact point to resume from, with or without
			// --restart; without one, --restart resumes from the last savepoint.
			cp, why, err := l.resumePoint(ctx, rec.JobID, st)
			if err != nil {
				return "", nil, err
			}
			if why == "" {
				action, from = ActionRestart, cp
				rec.Message = fmt.Sprintf("job %s %s; restarted from %s", rec.JobID, st, orNone(cp))
			} else if !d.Restart {
				now := l.now()
				rec.CheckedAt = &now
				_ = l.Meta.RecordStream(ctx, *rec, metadata.StreamEvent{Pipeline: d.Pipeline, At: now, Action: metadata.StreamHealth, IRHash: rec.IRHash, JobID: rec.JobID, State: st, Message: why})
				return "", rec, fault.Dataf("the job %s of %s is %s and %s: deploy will not restart it by itself (records read after the last savepoint %s would be written again); find why it ended, then run stream deploy --restart",
					rec.JobID, d.Pipeline, st, why, orNone(rec.Savepoint))
			}
		case rec.IRHash == d.IRHash:
			now := l.now()
			rec.CheckedAt = &now
			return ActionNone, rec, nil
		default:
			sp, err := l.Client.StopWithSavepoint(ctx, rec.JobID)
			if err != nil {
				return "", nil, fmt.Errorf("upgrade %s: stop job %s with savepoint: %w", d.Pipeline, rec.JobID, err)
			}
			now := l.now()
			old := rec.JobID
			rec.JobID, rec.State, rec.Savepoint, rec.StoppedAt, rec.Message = "", StateStopped, sp, &now, "stopped for an upgrade to "+short(d.IRHash)
			if err := l.Meta.RecordStream(ctx, *rec, metadata.StreamEvent{Pipeline: d.Pipeline, At: now, Action: metadata.StreamStop, IRHash: rec.IRHash, JobID: old, Savepoint: sp, State: StateStopped, Message: rec.Message}); err != nil {
				return "", nil, err
			}
			action = ActionUpgrade
		}
	}
	if rec.State == StateDeploying && rec.IRHash == d.IRHash {
		// An earlier attempt recorded its deploy and may have submitted the job before it died.
		j, err := l.running(ctx, d.Job.Name)
		if err != nil {
			return "", nil, err
		}
		if j != nil {
			return ActionAdopt, rec, l.recordStarted(ctx, rec, d, j.ID, ActionAdopt)
		}
	} else if j, err := l.running(ctx, d.Job.Name); err != nil {
		return "", nil, err
	} else if j != nil {
		return "", nil, fault.Configf("a job named %q (%s, %s) runs on the cluster but is not the one recorded for %s: stop it (STOP JOB '%s' WITH SAVEPOINT) before deploying",
			d.Job.Name, j.ID, j.Status, d.Pipeline, j.ID)
	}
	if action == ActionUpgrade {
		from = rec.Savepoint
	}
	// The restore point is recorded before the job is submitted: a retry of an attempt that
	// died in between resumes from the same point (a restart's checkpoint, not an older
	// savepoint whose later output was committed).
	rec.IRHash, rec.State, rec.JobID, rec.Savepoint = d.IRHash, StateDeploying, "", from
	if action != ActionRestart {
		rec.Message = ""
	}
	if err := l.Meta.RecordStream(ctx, *rec, metadata.StreamEvent{Pipeline: d.Pipeline, At: l.now(), Action: action, IRHash: d.IRHash, Savepoint: from, State: StateDeploying, Message: rec.Message}); err != nil {
		return "", nil, err
	}
	id, err := l.Client.Deploy(ctx, d.Job, from)
	if err != nil {
		return "", nil, fmt.Errorf("deploy %s: %w", d.Pipeline, err)
	}
	return action, rec, l.recordStarted(ctx, rec, d, id, action)
}

// resumePoint is where a job that ended in state resumes with nothing lost or written twice,
// or why there is no such point. A FAILED job keeps its checkpoints (the streaming job's
// retention is DELETE_ON_CANCELLATION: deleted only when it is cancelled or stopped): it resumes
// from its latest completed checkpoint, whose output is committed and whose later output was
// not; one that completed none committed nothing since it started, and resumes from where it
// started. A job cancelled or unknown to the cluster has no such point.
func (l *Lifecycle) resumePoint(ctx context.Context, jobID, state string) (string, string, error) {
	switch {
	case state != "FAILED":
		return "", "kept no checkpoint (only a FAILED job does)", nil
	case l.JobManager == nil:
		return "", "its checkpoints cannot be read (AIFLOW_FLINK_REST is not set)", nil
	}
	cp, err := l.JobManager.Checkpoints(ctx, jobID)
	switch {
	case fault.ClassOf(err) == fault.Data:
		return "", "the JobManager no longer knows its checkpoints", nil
	case err != nil:
		return "", "", err
	case cp.Latest != "":
		return cp.Latest, "", nil
	case cp.Completed == 0:
		return cp.Restored, "", nil
	}
	return "", "its latest checkpoint is not retained", nil
}

func (l *Lifecycle) recordStarted(ctx context.Context, rec *metadata.StreamJob, d Deployment, jobID, action string) error {
	st, err := l.state(ctx, jobID)
	if err != nil {
		st = "CREATED"
	}
	now := l.now()
	rec.IRHash, rec.JobID, rec.State, rec.DeployedAt, rec.StoppedAt, rec.CheckedAt, rec.Message = d.IRHash, jobID, st, &now, nil, &now, ""
	return l.Meta.RecordStream(ctx, *rec, metadata.StreamEvent{Pipeline: d.Pipeline, At: now, Action: action, IRHash: d.IRHash, JobID: jobID, Savepoint: rec.Savepoint, State: st})
}

// Health checks the recorded job: nil when it is RUNNING; 75 while it is created, restarting or
// being deployed; 65 when it ended or none is deployed. The state seen is recorded (an event
// when it changed).
func (l *Lifecycle) Health(ctx context.Context, pipeline string) (*metadata.StreamJob, error) {
	rec, err := l.Meta.StreamJob(ctx, pipeline)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.JobID == "" {
		state := "not deployed"
		if rec != nil && rec.State != "" {
			state = rec.State
		}
		return rec, fault.Dataf("streaming pipeline %s runs no job (%s)", pipeline, state)
	}
	st, err := l.state(ctx, rec.JobID)
	if err != nil {
		return rec, err
	}
	now := l.now()
	changed := st != rec.State
	rec.State, rec.CheckedAt = st, &now
	ev := metadata.StreamEvent{Pipeline: pipeline, At: now, Action: metadata.StreamHealth, IRHash: rec.IRHash, JobID: rec.JobID, State: st}
	if changed {
		if err := l.Meta.RecordStream(ctx, *rec, ev); err != nil {
			return rec, err
		}
	}
	switch {
	case st == "RUNNING":
		return rec, nil
	case st == "FAILED" && l.JobManager != nil:
		return rec, fault.Dataf("the job %s of streaming pipeline %s is %s: the next stream deploy restarts it from its latest retained checkpoint", rec.JobID, pipeline, st)
	case ended(st):
		return rec, fault.Dataf("the job %s of streaming pipeline %s is %s", rec.JobID, pipeline, st)
	}
	return rec, fault.New(fault.Temporary, "the job %s of streaming pipeline %s is %s", rec.JobID, pipeline, st)
}

// Stop stops the recorded job with a savepoint and records it: the next deploy resumes from it.
// Nothing to stop is not an error.
func (l *Lifecycle) Stop(ctx context.Context, pipeline, team string) (*metadata.StreamJob, bool, error) {
	release, err := l.lease(ctx, pipeline)
	if err != nil {
		return nil, false, err
	}
	defer release()
	rec, err := l.Meta.StreamJob(ctx, pipeline)
	if err != nil || rec == nil || rec.JobID == "" {
		return rec, false, err
	}
	st, err := l.state(ctx, rec.JobID)
	if err != nil {
		return rec, false, err
	}
	now := l.now()
	old := rec.JobID
	if team != "" {
		rec.Team = team
	}
	if ended(st) {
		rec.State, rec.CheckedAt = st, &now
		return rec, false, l.Meta.RecordStream(ctx, *rec, metadata.StreamEvent{Pipeline: pipeline, At: now, Action: metadata.StreamHealth, IRHash: rec.IRHash, JobID: old, State: st})
	}
	sp, err := l.Client.StopWithSavepoint(ctx, old)
	if err != nil {
		return rec, false, fmt.Errorf("stop %s: job %s: %w", pipeline, old, err)
	}
	now = l.now()
	rec.JobID, rec.State, rec.Savepoint, rec.StoppedAt, rec.CheckedAt, rec.Message = "", StateStopped, sp, &now, &now, ""
	return rec, true, l.Meta.RecordStream(ctx, *rec, metadata.StreamEvent{Pipeline: pipeline, At: now, Action: metadata.StreamStop, IRHash: rec.IRHash, JobID: old, Savepoint: sp, State: StateStopped})
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func short(h string) string { return h[:min(12, len(h))] }
