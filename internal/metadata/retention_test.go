package metadata_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// TestPrune: runs started before the cutoff and not running go, with their attempts, pins,
// commits, lineage and check results, in batches, and so do runs left "running" by a dead pod
// that showed no sign of life since the cutoff nor in metadata.AbandonedAfter; newer runs, and
// running runs with an attempt started since, stay; usage over the pruned days does not go down
// (the rollups keep the pruned attempts); a DELETE outside a prune is still subtracted from the
// rollups; a store scoped to teams cannot prune.
func TestPrune(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.newDSN(t)
			s := open(t, dsn)
			now := time.Now().UTC().Truncate(time.Hour)
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(s.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: "daily", IRHash: "h1", IR: []byte(`{}`),
				Tenancy: metadata.Tenancy{Team: "ads", Project: "p", CostCenter: "cc"}}))
			// run writes a run of two nodes started ago, ended unless running.
			run := func(id string, ago time.Duration, running bool) {
				start := now.Add(-ago)
				must(s.StartRun(ctx, metadata.Run{Pipeline: "daily", RunID: id, IRHash: "h1", StartedAt: start}))
				for n, node := range []string{"a", "b"} {
					k := metadata.AttemptKey{Pipeline: "daily", RunID: id, Node: node, Try: 1}
					must(s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: "h1", StartedAt: start.Add(time.Duration(n) * time.Minute)}))
					must(s.RecordPins(ctx, k, map[string]json.RawMessage{"in": json.RawMessage(`{"snapshot":1}`)}))
					must(s.RecordLineage(ctx, k, []metadata.Dataset{{Direction: metadata.Wrote, Namespace: "s3://lake", Name: node}}))
					must(s.RecordChecks(ctx, k, []metadata.CheckResult{{Name: "rows", Kind: "row_count", Severity: "error", Status: "passed"}}))
					if running && node == "b" {
						continue
					}
					if _, _, err := s.Commit(ctx, metadata.Commit{AttemptKey: k, Manifest: json.RawMessage(`{}`)}); err != nil {
						t.Fatal(err)
					}
					end := start.Add(time.Duration(n)*time.Minute + 30*time.Second)
					must(s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: metadata.AttemptSucceeded, ExitCode: new(int),
						EndedAt: &end, RowsIn: 10, RowsOut: 5, BytesIn: 100, BytesOut: 50}))
				}
				if !running {
					must(s.EndRun(ctx, "daily", id, metadata.RunSucceeded, start.Add(5*time.Minute)))
				}
			}
			for i := range 5 {
				run(fmt.Sprintf("old%d", i), time.Duration(100+i)*24*time.Hour, false)
			}
			// Its node b's pod was killed on its last try: attempt and run never ended.
			run("old_running", 120*24*time.Hour, true)
			// The same, but node b was cleared and started again a day ago.
			run("old_cleared", 120*24*time.Hour, true)
			must(s.StartAttempt(ctx, metadata.Attempt{AttemptKey: metadata.AttemptKey{Pipeline: "daily", RunID: "old_cleared", Node: "b", Try: 2},
				IRHash: "h1", StartedAt: now.Add(-24 * time.Hour)}))
			run("new", 2*24*time.Hour, false)
			// Left running 3 and 8 days ago: within and past metadata.AbandonedAfter.
			run("stuck3", 3*24*time.Hour, true)
			run("stuck8", 8*24*time.Hour, true)
			usage := func() []metadata.UsageRow {
				t.Helper()
				u, err := s.Usage(ctx, metadata.UsageQuery{By: metadata.ByTeam, Since: now.Add(-200 * 24 * time.Hour)})
				must(err)
				return u
			}
			before := usage()
			// Ended: 2 of each done run, node a of each running one, old_cleared's interrupted b.
			if len(before) != 1 || before[0].Attempts != 17 {
				t.Fatalf("usage before = %+v, want 17 attempts of team ads", before)
			}
			p, ok := s.(metadata.Pruner)
			if !ok {
				t.Fatalf("%T is not a metadata.Pruner", s)
			}
			var batches int
			got, err := p.Prune(ctx, now.Add(-90*24*time.Hour), 2, func(metadata.PruneResult) { batches++ })
			must(err)
			// old0..old4 and old_running (its b committed nothing).
			want := metadata.PruneResult{Runs: 6, Attempts: 12, Pins: 12, Commits: 11, Lineage: 12, Checks: 12}
			if got != want || batches != 3 {
				t.Errorf("prune = %+v in %d batches, want %+v in 3", got, batches, want)
			}
			gone := func(ids ...string) {
				t.Helper()
				for _, id := range ids {
					if _, err := s.GetRun(ctx, "daily", id); !errors.Is(err, metadata.ErrNotFound) {
						t.Errorf("run %s after the prune: %v, want not found", id, err)
					}
				}
			}
			kept := func(attempts int, ids ...string) {
				t.Helper()
				for _, id := range ids {
					d, err := s.GetRun(ctx, "daily", id)
					if err != nil || len(d.Attempts) != attempts || len(d.Pins) != 2 || len(d.Lineage) != 2 {
						t.Errorf("run %s kept: %v, %+v", id, err, d)
					}
				}
			}
			gone("old0", "old4", "old_running")
			kept(2, "new", "stuck3", "stuck8")
			kept(3, "old_cleared")
			if after := usage(); !reflect.DeepEqual(after, before) {
				t.Errorf("usage after the prune = %+v, want it unchanged: %+v", after, before)
			}
			// Nothing left to prune.
			if again, err := p.Prune(ctx, now.Add(-90*24*time.Hour), 0, nil); err != nil || again != (metadata.PruneResult{}) {
				t.Errorf("second prune = %+v, %v; want nothing", again, err)
			}
			// An operator's own DELETE is still subtracted (the prune's mark did not outlive it).
			b.exec(t, dsn, `DELETE FROM aiflow_node_attempts WHERE run_id = 'new'`)
			if after := usage(); len(after) != 1 || after[0].Attempts != before[0].Attempts-2 {
				t.Errorf("usage after deleting run new's 2 attempts by hand = %+v, want %d attempts", after, before[0].Attempts-2)
			}
			// A cutoff of an hour: new (ended) goes, and stuck8 (nothing for 8 days); stuck3 and
			// old_cleared showed life within metadata.AbandonedAfter.
			got, err = p.Prune(ctx, now.Add(-time.Hour), 0, nil)
			must(err)
			if got.Runs != 2 || got.Attempts != 2 {
				t.Errorf("prune of an hour = %+v, want 2 runs and 2 attempts (new's were deleted by hand)", got)
			}
			gone("new", "stuck8")
			kept(2, "stuck3")
			kept(3, "old_cleared")
			if _, ok := metadata.Scoped(s, []string{"ads"}).(metadata.Pruner); ok {
				t.Error("a store scoped to teams can prune")
			}
		})
	}
}
