package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Pruner deletes old runs (`aiflow-runner runs prune`). Both backends' stores implement it; a
// store scoped to teams (Scoped) does not: retention is the operator's, over every team.
type Pruner interface {
	// Prune deletes the runs started before before that are not running, or are abandoned (see
	// AbandonedAfter), with their attempts, pins, commits, lineage and check results, batch runs
	// per transaction (oldest first), until none is left or ctx is done. The usage rollups keep what the pruned attempts counted
	// (migration 0007), so usage and the fleet counters do not go down. progress, when set, is
	// called after each batch with the totals so far.
	Prune(ctx context.Context, before time.Time, batch int, progress func(PruneResult)) (PruneResult, error)
}

// PruneResult counts the rows a prune deleted, per table.
type PruneResult struct {
	Runs     int64 `json:"runs"`
	Attempts int64 `json:"attempts"`
	Pins     int64 `json:"pins"`
	Commits  int64 `json:"commits"`
	Lineage  int64 `json:"lineage"`
	Checks   int64 `json:"checks"`
}

// DefaultPruneBatch is how many runs one prune transaction deletes: at 20 nodes a run, ~20,000
// attempts and as many commits, pins and lineage rows, a transaction of a second or two that
// holds no lock a node run waits for (the rows are old; node runs write new ones).
const DefaultPruneBatch = 1000

// AbandonedAfter is how long a run still marked running must have shown no sign of life (no
// attempt of it started or ended) before a prune deletes it with the runs that ended: a pod
// killed outright (OOM, a lost Kubernetes node) on its last try ends neither its attempt nor its
// run, so that run would otherwise stay "running" forever and never be pruned. A prune takes
// such a run when nothing of it happened since the prune's cutoff nor in the AbandonedAfter
// before now, whichever is earlier: far longer than any task's execution_timeout, so a run with
// a node still working is never one of them (a short --older-than does not reach it).
const AbandonedAfter = 7 * 24 * time.Hour

// pruneBatch selects one batch of runs to prune, the same in every statement of the batch's
// transaction (ordered on a unique key: the same LIMIT rows each time). $1 is the cutoff, $2 the
// batch size, $3 the time since which an abandoned run shows no sign of life (it started before,
// and no attempt of it started or ended after).
const pruneBatch = `(pipeline_id, run_id) IN (SELECT r.pipeline_id, r.run_id FROM aiflow_runs r
    WHERE r.started_us < $1 AND (r.status <> 'running' OR r.started_us < $3 AND NOT EXISTS (SELECT 1 FROM aiflow_node_attempts a
        WHERE a.pipeline_id = r.pipeline_id AND a.run_id = r.run_id AND (a.started_us >= $3 OR a.ended_us >= $3)))
    ORDER BY r.started_us, r.pipeline_id, r.run_id LIMIT $2)`

func (s *sqlStore) Prune(ctx context.Context, before time.Time, batch int, progress func(PruneResult)) (PruneResult, error) {
	var total PruneResult
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	cutoff := micros(before)
	quiet := min(cutoff, micros(time.Now().Add(-AbandonedAfter)))
	for {
		var got PruneResult
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			// Seen by this transaction only: the usage trigger keeps the rollups for these deletes.
			if _, err := tx.ExecContext(ctx, `INSERT INTO aiflow_retention (pruning) VALUES (1)`); err != nil {
				return err
			}
			for _, t := range []struct {
				table string
				n     *int64
			}{
				{"aiflow_node_attempts", &got.Attempts}, {"aiflow_input_pins", &got.Pins}, {"aiflow_commits", &got.Commits},
				{"aiflow_lineage", &got.Lineage}, {"aiflow_check_results", &got.Checks}, {"aiflow_runs", &got.Runs}, // runs last: they select the batch
			} {
				res, err := tx.ExecContext(ctx, `DELETE FROM `+t.table+` WHERE `+pruneBatch, cutoff, batch, quiet)
				if err != nil {
					return fmt.Errorf("%s: %w", t.table, err)
				}
				*t.n, _ = res.RowsAffected()
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM aiflow_retention`)
			return err
		})
		if err != nil {
			return total, s.fail(err, "prune runs started before %s", before.UTC().Format(time.RFC3339))
		}
		total.Runs += got.Runs
		total.Attempts += got.Attempts
		total.Pins += got.Pins
		total.Commits += got.Commits
		total.Lineage += got.Lineage
		total.Checks += got.Checks
		if got.Runs == 0 {
			return total, nil
		}
		if progress != nil {
			progress(total)
		}
	}
}
