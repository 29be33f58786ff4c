package metadata

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
)

// dialect is what differs between the backends. The SQL itself is shared: both accept $N
// placeholders, ON CONFLICT and integer timestamps, so one implementation serves both and the
// conformance suite tests the code that runs in production.
type dialect struct {
	backend Backend
	// migrationLock is run first in the migration transaction ("" when the transaction itself is
	// the lock, as SQLite's BEGIN IMMEDIATE is).
	migrationLock string
	// classify says whether a driver error is worth a retry (database down, busy, serialization
	// failure) or not.
	classify func(error) fault.Class
	// durableExec runs the ledger's insert so that when it returns, the insert and every write
	// before it survive a crash of the machine. The other writes (attempts, pins, lineage) are
	// relaxed: not flushed one by one, which saves a disk flush per write, yet never lost behind
	// a commit, because both backends flush their log in order. A commit is the promise the
	// runner's exit 0 stands on; an attempt's end time is not.
	durableExec func(ctx context.Context, db *sql.DB, query string, args ...any) (sql.Result, error)
	// explain, when set, says in the operator's terms what a driver error means (which file is
	// read-only), or "".
	explain func(err error, dsn string) string
}

// sqlStore implements Store over database/sql for both backends.
type sqlStore struct {
	db  *sql.DB
	d   dialect
	dsn string // the DSN as given: only to scrub its password from driver errors
}

// fail classifies a driver error and says what was being done. Context errors stay Temporary: a
// timed-out write may succeed when retried.
func (s *sqlStore) fail(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if s.d.explain != nil {
		if why := s.d.explain(err, s.dsn); why != "" {
			format = why + ": " + format
		}
	}
	return fault.WrapOr(s.d.classify(err), scrub(err, s.dsn), format, args...)
}

func (s *sqlStore) Close() error { return s.db.Close() }

// micros is how every timestamp is stored: unix microseconds, UTC.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros stores a nil or zero time as NULL.
func nullMicros(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return micros(*t)
}

func timePtr(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromMicros(us.Int64)
	return &t
}

// orNow is t, or the current time if t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// jsonText checks a JSON document and returns it as the string the drivers bind to TEXT and jsonb.
func jsonText(what string, doc json.RawMessage) (string, error) {
	if !json.Valid(doc) {
		return "", fmt.Errorf("%s is not valid JSON: %.80q", what, doc)
	}
	return string(doc), nil
}

// rawJSON reads a stored document back compacted: PostgreSQL's jsonb re-spaces what it returns,
// and both backends should answer the same bytes for the same document.
func rawJSON(s string) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return json.RawMessage(s)
	}
	return json.RawMessage(b.Bytes())
}

func (k AttemptKey) check() error {
	if k.Pipeline == "" || k.RunID == "" || k.Node == "" || k.Try < 0 {
		return fmt.Errorf("attempt key %+v: pipeline, run_id and node are required and try is ≥ 0", k)
	}
	return nil
}

// inTx runs fn in a transaction (BEGIN IMMEDIATE on SQLite) and commits it.
func (s *sqlStore) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *sqlStore) RecordPipeline(ctx context.Context, v PipelineVersion) error {
	if v.Pipeline == "" || v.IRHash == "" {
		return fmt.Errorf("record pipeline %q version %q: pipeline and ir_hash are required", v.Pipeline, v.IRHash)
	}
	ir, err := jsonText("IR", v.IR)
	if err != nil {
		return fmt.Errorf("record pipeline %s version %s: %w", v.Pipeline, v.IRHash, err)
	}
	first := orNow(v.FirstSeen)
	last := v.LastSeen
	if last.IsZero() {
		last = first
	}
	_, err = s.db.ExecContext(ctx, `
INSERT INTO aiflow_pipeline_versions
    (pipeline_id, ir_hash, ir_json, team, env, project, cost_center, first_seen_us, last_seen_us)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (pipeline_id, ir_hash) DO UPDATE SET last_seen_us =
    CASE WHEN excluded.last_seen_us > aiflow_pipeline_versions.last_seen_us
         THEN excluded.last_seen_us ELSE aiflow_pipeline_versions.last_seen_us END`,
		v.Pipeline, v.IRHash, ir, v.Team, v.Env, v.Project, v.CostCenter, micros(first), micros(last))
	return s.fail(err, "record pipeline %s version %s", v.Pipeline, v.IRHash)
}

// runTeam is the team of a run being inserted: its pipeline version's (placeholders $1 for the
// pipeline, $hash for the IR hash), empty for a version never recorded. ListRuns filters teams on
// this column and its index (team, started).
func runTeam(hash int) string {
	return fmt.Sprintf(`COALESCE((SELECT v.team FROM aiflow_pipeline_versions v WHERE v.pipeline_id = $1 AND v.ir_hash = $%d), '')`, hash)
}

func (s *sqlStore) StartRun(ctx context.Context, r Run) error {
	if r.Pipeline == "" || r.RunID == "" {
		return fmt.Errorf("start run %q of %q: pipeline and run_id are required", r.RunID, r.Pipeline)
	}
	status := r.Status
	if status == "" {
		status = RunRunning
	}
	// A run is recorded by whichever of its pods comes first; the logical date is filled in by
	// the first one that knows it. A run that ended failed and gets a new attempt (a task
	// cleared in Airflow, a node rerun by hand) is running again until that attempt settles it.
	_, err := s.db.ExecContext(ctx, `
INSERT INTO aiflow_runs (pipeline_id, run_id, logical_date_us, ir_hash, status, started_us, team)
VALUES ($1, $2, $3, $4, $5, $6, `+runTeam(4)+`)
ON CONFLICT (pipeline_id, run_id) DO UPDATE SET
    logical_date_us = COALESCE(aiflow_runs.logical_date_us, excluded.logical_date_us),
    status = CASE WHEN aiflow_runs.status = 'failed' AND excluded.status = 'running' THEN 'running' ELSE aiflow_runs.status END,
    ended_us = CASE WHEN aiflow_runs.status = 'failed' AND excluded.status = 'running' THEN NULL ELSE aiflow_runs.ended_us END`,
		r.Pipeline, r.RunID, nullMicros(r.LogicalDate), r.IRHash, string(status), micros(orNow(r.StartedAt)))
	return s.fail(err, "start run %s of %s", r.RunID, r.Pipeline)
}

func (s *sqlStore) EndRun(ctx context.Context, pipeline, runID string, status RunStatus, endedAt time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE aiflow_runs SET status = $1, ended_us = $2 WHERE pipeline_id = $3 AND run_id = $4`,
		string(status), micros(orNow(endedAt)), pipeline, runID)
	if err != nil {
		return s.fail(err, "end run %s of %s", runID, pipeline)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("end run %s of %s: %w", runID, pipeline, ErrNotFound)
	}
	return nil
}

func (s *sqlStore) StartAttempt(ctx context.Context, a Attempt) error {
	if err := a.check(); err != nil {
		return fmt.Errorf("start attempt: %w", err)
	}
	started := micros(orNow(a.StartedAt))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
INSERT INTO aiflow_runs (pipeline_id, run_id, ir_hash, status, started_us, team) VALUES ($1, $2, $3, $4, $5, `+runTeam(3)+`)
ON CONFLICT (pipeline_id, run_id) DO NOTHING`,
			a.Pipeline, a.RunID, a.IRHash, string(RunRunning), started); err != nil {
			return err
		}
		// An earlier attempt that is still running lost its pod (a new attempt starts only after
		// Airflow saw the old one fail), so it will never end by itself.
		if _, err := tx.ExecContext(ctx, `
UPDATE aiflow_node_attempts SET status = $1, ended_us = $2
WHERE pipeline_id = $3 AND run_id = $4 AND node_id = $5 AND try < $6 AND status = $7`,
			string(AttemptInterrupted), started, a.Pipeline, a.RunID, a.Node, a.Try, string(AttemptRunning)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
INSERT INTO aiflow_node_attempts
    (pipeline_id, run_id, node_id, try, ir_hash, status, started_us, engine, pod_name, host, attempt_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (pipeline_id, run_id, node_id, try, attempt_id) DO UPDATE SET
    ir_hash = excluded.ir_hash, status = excluded.status, exit_code = NULL, error_class = '',
    error_message = '', started_us = excluded.started_us, ended_us = NULL, rows_in = 0,
    rows_out = 0, bytes_in = 0, bytes_out = 0, engine = excluded.engine,
    pod_name = excluded.pod_name, host = excluded.host`,
			a.Pipeline, a.RunID, a.Node, a.Try, a.IRHash, string(AttemptRunning), started, a.Engine, a.PodName, a.Host, a.AttemptID)
		return err
	})
	return s.fail(err, "start attempt %s of run %s", a.AttemptKey, a.RunID)
}

func (s *sqlStore) RecordPins(ctx context.Context, k AttemptKey, pins map[string]json.RawMessage) error {
	if err := k.check(); err != nil {
		return fmt.Errorf("record pins: %w", err)
	}
	inputs := make([]string, 0, len(pins))
	docs := make(map[string]string, len(pins))
	for in, doc := range pins {
		text, err := jsonText("pin of input "+in, doc)
		if err != nil {
			return fmt.Errorf("record pins of %s: %w", k, err)
		}
		inputs = append(inputs, in)
		docs[in] = text
	}
	sort.Strings(inputs) // a stable lock order for concurrent writers
	now := micros(time.Now())
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, in := range inputs {
			if _, err := tx.ExecContext(ctx, `
INSERT INTO aiflow_input_pins (pipeline_id, run_id, node_id, try, input_id, pin_json, recorded_us)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (pipeline_id, run_id, node_id, try, input_id) DO UPDATE SET
    pin_json = excluded.pin_json, recorded_us = excluded.recorded_us`,
				k.Pipeline, k.RunID, k.Node, k.Try, in, docs[in], now); err != nil {
				return fmt.Errorf("input %s: %w", in, err)
			}
		}
		return nil
	})
	return s.fail(err, "record pins of %s in run %s", k, k.RunID)
}

func (s *sqlStore) RecordLineage(ctx context.Context, k AttemptKey, ds []Dataset) error {
	if err := k.check(); err != nil {
		return fmt.Errorf("record lineage: %w", err)
	}
	schemas := make([]any, len(ds))
	for i, d := range ds {
		if d.Direction != Read && d.Direction != Wrote {
			return fmt.Errorf("record lineage of %s: dataset %s: direction %q is neither %q nor %q", k, d.Name, d.Direction, Read, Wrote)
		}
		if len(d.Schema) > 0 {
			text, err := jsonText("schema of "+d.Name, d.Schema)
			if err != nil {
				return fmt.Errorf("record lineage of %s: %w", k, err)
			}
			schemas[i] = text
		}
	}
	now := micros(time.Now())
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i, d := range ds {
			if _, err := tx.ExecContext(ctx, `
INSERT INTO aiflow_lineage
    (pipeline_id, run_id, node_id, try, direction, namespace, name, row_count, byte_count, schema_json, recorded_us)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (pipeline_id, run_id, node_id, try, direction, namespace, name) DO UPDATE SET
    row_count = excluded.row_count, byte_count = excluded.byte_count,
    schema_json = excluded.schema_json, recorded_us = excluded.recorded_us`,
				k.Pipeline, k.RunID, k.Node, k.Try, string(d.Direction), d.Namespace, d.Name, d.Rows, d.Bytes, schemas[i], now); err != nil {
				return fmt.Errorf("dataset %s: %w", d.Name, err)
			}
		}
		return nil
	})
	return s.fail(err, "record lineage of %s in run %s", k, k.RunID)
}

func (s *sqlStore) RecordChecks(ctx context.Context, k AttemptKey, rs []CheckResult) error {
	if err := k.check(); err != nil {
		return fmt.Errorf("record checks: %w", err)
	}
	now := micros(time.Now())
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM aiflow_check_results WHERE pipeline_id = $1 AND run_id = $2 AND node_id = $3 AND try = $4`,
			k.Pipeline, k.RunID, k.Node, k.Try); err != nil {
			return err
		}
		for i, r := range rs {
			var observed any
			if r.Observed != nil && !math.IsNaN(*r.Observed) && !math.IsInf(*r.Observed, 0) {
				observed = *r.Observed
			}
			// Rows of one attempt keep their order: recorded_us grows by one per check.
			if _, err := tx.ExecContext(ctx, `
INSERT INTO aiflow_check_results
    (pipeline_id, run_id, node_id, try, name, kind, severity, status, observed, message, recorded_us)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				k.Pipeline, k.RunID, k.Node, k.Try, r.Name, r.Kind, r.Severity, r.Status, observed, r.Message, now+int64(i)); err != nil {
				return fmt.Errorf("check %s: %w", r.Name, err)
			}
		}
		return nil
	})
	return s.fail(err, "record checks of %s in run %s", k, k.RunID)
}

func (s *sqlStore) EndAttempt(ctx context.Context, a Attempt) error {
	if err := a.check(); err != nil {
		return fmt.Errorf("end attempt: %w", err)
	}
	var exit any
	if a.ExitCode != nil {
		exit = *a.ExitCode
	}
	res, err := s.db.ExecContext(ctx, `
UPDATE aiflow_node_attempts SET
    status = $1, exit_code = $2, error_class = $3, error_message = $4, ended_us = $5,
    rows_in = $6, rows_out = $7, bytes_in = $8, bytes_out = $9, engine = COALESCE(NULLIF($10, ''), engine)
WHERE pipeline_id = $11 AND run_id = $12 AND node_id = $13 AND try = $14 AND attempt_id = $15`,
		string(a.Status), exit, a.ErrorClass, a.ErrorMessage, micros(orNow(derefTime(a.EndedAt))),
		a.RowsIn, a.RowsOut, a.BytesIn, a.BytesOut, a.Engine,
		a.Pipeline, a.RunID, a.Node, a.Try, a.AttemptID)
	if err != nil {
		return s.fail(err, "end attempt %s of run %s", a.AttemptKey, a.RunID)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("end attempt %s of run %s: it was never started: %w", a.AttemptKey, a.RunID, ErrNotFound)
	}
	return nil
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// The ledger's two statements, shared by Commit and Postgres.CommitTx. ON CONFLICT DO NOTHING
// makes a racing second insert wait for the first transaction and then do nothing, so exactly one
// insert affects a row; the loser reads the winner's row afterwards.
const (
	insertCommit = `
INSERT INTO aiflow_commits (pipeline_id, run_id, node_id, try, manifest_json, committed_us)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (pipeline_id, run_id, node_id) DO NOTHING`
	selectCommit = `
SELECT try, manifest_json, committed_us FROM aiflow_commits
WHERE pipeline_id = $1 AND run_id = $2 AND node_id = $3`
)

// commitArgs checks a commit and returns the arguments of insertCommit.
func commitArgs(c Commit) ([]any, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	manifest, err := jsonText("manifest", c.Manifest)
	if err != nil {
		return nil, err
	}
	return []any{c.Pipeline, c.RunID, c.Node, c.Try, manifest, micros(orNow(c.CommittedAt))}, nil
}

// scanCommit reads selectCommit's row into a Commit of (pipeline, run, node).
func scanCommit(row interface{ Scan(...any) error }, pipeline, runID, node string) (*Commit, error) {
	c := Commit{AttemptKey: AttemptKey{Pipeline: pipeline, RunID: runID, Node: node}}
	var manifest string
	var at int64
	if err := row.Scan(&c.Try, &manifest, &at); err != nil {
		return nil, err
	}
	c.Manifest = rawJSON(manifest)
	c.CommittedAt = fromMicros(at)
	return &c, nil
}

func (s *sqlStore) Commit(ctx context.Context, c Commit) (bool, *Commit, error) {
	args, err := commitArgs(c)
	if err != nil {
		return false, nil, fmt.Errorf("commit %s of run %s: %w", c.AttemptKey, c.RunID, err)
	}
	res, err := s.d.durableExec(ctx, s.db, insertCommit, args...)
	if err != nil {
		return false, nil, s.fail(err, "commit %s of run %s", c.AttemptKey, c.RunID)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil, nil
	}
	existing, err := s.LookupCommit(ctx, c.Pipeline, c.RunID, c.Node)
	if err == nil && existing == nil {
		err = errors.New("the commit row that refused the insert is gone")
	}
	if err != nil {
		return false, nil, fmt.Errorf("commit %s of run %s: already committed: %w", c.AttemptKey, c.RunID, err)
	}
	return false, existing, nil
}

func (s *sqlStore) LookupCommit(ctx context.Context, pipeline, runID, node string) (*Commit, error) {
	c, err := scanCommit(s.db.QueryRowContext(ctx, selectCommit, pipeline, runID, node), pipeline, runID, node)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(err, "look up commit of %s in run %s", node, runID)
	}
	return c, nil
}
