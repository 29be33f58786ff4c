package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// StreamJob is the deployment of a streaming pipeline: one Flink job per pipeline, recorded by
// the runner's `stream` commands.
type StreamJob struct {
	Pipeline string `json:"pipeline"`
	Team     string `json:"team"`
	// IRHash is the IR the job runs (or ran, once stopped).
	IRHash string `json:"ir_hash"`
	// JobID is the Flink job id; "" before the first deploy and after a stop.
	JobID string `json:"job_id"`
	// State is the job's state as last seen: Flink's (RUNNING, RESTARTING, FAILED, ...), or
	// STOPPED after a stop with savepoint.
	State string `json:"state"`
	// Savepoint is the last savepoint taken: where the next deploy resumes.
	Savepoint  string     `json:"savepoint"`
	Message    string     `json:"message,omitempty"`
	DeployedAt *time.Time `json:"deployed_at,omitempty"`
	StoppedAt  *time.Time `json:"stopped_at,omitempty"`
	CheckedAt  *time.Time `json:"checked_at,omitempty"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// StreamEvent is one thing a `stream` command did to a pipeline's job.
type StreamEvent struct {
	Pipeline string    `json:"pipeline"`
	At       time.Time `json:"at"`
	// Action is deploy, upgrade, stop or health.
	Action    string `json:"action"`
	IRHash    string `json:"ir_hash,omitempty"`
	JobID     string `json:"job_id,omitempty"`
	Savepoint string `json:"savepoint,omitempty"`
	State     string `json:"state,omitempty"`
	Message   string `json:"message,omitempty"`
}

// Stream event actions.
const (
	StreamDeploy  = "deploy"
	StreamUpgrade = "upgrade"
	StreamStop    = "stop"
	StreamHealth  = "health"
)

const (
	selectStreamJob = `
SELECT pipeline_id, team, ir_hash, job_id, state, savepoint, message, deployed_us, stopped_us, checked_us, updated_us
FROM aiflow_stream_jobs`
	leaseStream = `
INSERT INTO aiflow_stream_jobs (pipeline_id, updated_us, lease_owner, lease_until_us) VALUES ($1, $2, $3, $4)
ON CONFLICT (pipeline_id) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until_us = excluded.lease_until_us
WHERE aiflow_stream_jobs.lease_owner = excluded.lease_owner OR aiflow_stream_jobs.lease_owner = ''
   OR aiflow_stream_jobs.lease_until_us < $2`
	releaseStream = `
UPDATE aiflow_stream_jobs SET lease_owner = '', lease_until_us = 0 WHERE pipeline_id = $1 AND lease_owner = $2`
	upsertStreamJob = `
INSERT INTO aiflow_stream_jobs (pipeline_id, team, ir_hash, job_id, state, savepoint, message, deployed_us, stopped_us, checked_us, updated_us)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (pipeline_id) DO UPDATE SET team = excluded.team, ir_hash = excluded.ir_hash, job_id = excluded.job_id,
    state = excluded.state, savepoint = excluded.savepoint, message = excluded.message, deployed_us = excluded.deployed_us,
    stopped_us = excluded.stopped_us, checked_us = excluded.checked_us, updated_us = excluded.updated_us`
	insertStreamEvent = `
INSERT INTO aiflow_stream_events (pipeline_id, at_us, action, ir_hash, job_id, savepoint, state, message)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	selectStreamEvents = `
SELECT pipeline_id, at_us, action, ir_hash, job_id, savepoint, state, message FROM aiflow_stream_events
WHERE pipeline_id = $1 ORDER BY id DESC LIMIT $2`
)

func scanStreamJob(row interface{ Scan(...any) error }) (*StreamJob, error) {
	var j StreamJob
	var deployed, stopped, checked sql.NullInt64
	var updated int64
	if err := row.Scan(&j.Pipeline, &j.Team, &j.IRHash, &j.JobID, &j.State, &j.Savepoint, &j.Message, &deployed, &stopped, &checked, &updated); err != nil {
		return nil, err
	}
	j.DeployedAt, j.StoppedAt, j.CheckedAt = timePtr(deployed), timePtr(stopped), timePtr(checked)
	j.UpdatedAt = fromMicros(updated)
	return &j, nil
}

func (s *sqlStore) StreamJob(ctx context.Context, pipeline string) (*StreamJob, error) {
	j, err := scanStreamJob(s.db.QueryRowContext(ctx, selectStreamJob+` WHERE pipeline_id = $1`, pipeline))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(err, "read stream job of %s", pipeline)
	}
	return j, nil
}

func (s *sqlStore) ListStreamJobs(ctx context.Context) ([]StreamJob, error) {
	rows, err := s.db.QueryContext(ctx, selectStreamJob+` ORDER BY pipeline_id`)
	if err != nil {
		return nil, s.fail(err, "list stream jobs")
	}
	defer rows.Close()
	out := []StreamJob{}
	for rows.Next() {
		j, err := scanStreamJob(rows)
		if err != nil {
			return nil, s.fail(err, "list stream jobs")
		}
		out = append(out, *j)
	}
	return out, s.fail(rows.Err(), "list stream jobs")
}

func (s *sqlStore) LeaseStream(ctx context.Context, pipeline, owner string, ttl time.Duration) (bool, error) {
	if pipeline == "" || owner == "" || ttl <= 0 {
		return false, fmt.Errorf("lease stream job: pipeline %q, owner %q and a positive ttl are required", pipeline, owner)
	}
	now := time.Now()
	res, err := s.db.ExecContext(ctx, leaseStream, pipeline, micros(now), owner, micros(now.Add(ttl)))
	if err != nil {
		return false, s.fail(err, "lease stream job of %s", pipeline)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.fail(err, "lease stream job of %s", pipeline)
	}
	return n == 1, nil
}

func (s *sqlStore) ReleaseStream(ctx context.Context, pipeline, owner string) error {
	_, err := s.db.ExecContext(ctx, releaseStream, pipeline, owner)
	return s.fail(err, "release stream job lease of %s", pipeline)
}

func (s *sqlStore) RecordStream(ctx context.Context, j StreamJob, ev StreamEvent) error {
	if j.Pipeline == "" || ev.Action == "" {
		return fmt.Errorf("record stream job: pipeline and event action are required")
	}
	updated := orNow(j.UpdatedAt)
	at := orNow(ev.At)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, upsertStreamJob, j.Pipeline, j.Team, j.IRHash, j.JobID, j.State, j.Savepoint, j.Message,
			nullMicros(j.DeployedAt), nullMicros(j.StoppedAt), nullMicros(j.CheckedAt), micros(updated)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, insertStreamEvent, j.Pipeline, micros(at), ev.Action, ev.IRHash, ev.JobID, ev.Savepoint, ev.State, ev.Message)
		return err
	})
	return s.fail(err, "record stream job of %s", j.Pipeline)
}

func (s *sqlStore) StreamEvents(ctx context.Context, pipeline string, limit int) ([]StreamEvent, error) {
	if limit <= 0 {
		limit = DefaultRunLimit
	}
	rows, err := s.db.QueryContext(ctx, selectStreamEvents, pipeline, limit)
	if err != nil {
		return nil, s.fail(err, "list stream events of %s", pipeline)
	}
	defer rows.Close()
	out := []StreamEvent{}
	for rows.Next() {
		var e StreamEvent
		var at int64
		if err := rows.Scan(&e.Pipeline, &at, &e.Action, &e.IRHash, &e.JobID, &e.Savepoint, &e.State, &e.Message); err != nil {
			return nil, s.fail(err, "list stream events of %s", pipeline)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, s.fail(rows.Err(), "list stream events of %s", pipeline)
}
