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
// commits, lineage and check results, in batches; newer and running runs stay; usage over the
// pruned days does not go down (the rollups keep the pruned attempts); a DELETE outside a prune is
// still subtracted from the rollups; a store scoped to teams cannot prune.
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
			run("old_running", 120*24*time.Hour, true)
			run("new", 2*24*time.Hour, false)
			usage := func() []metadata.UsageRow {
				t.Helper()
				u, err := s.Usage(ctx, metadata.UsageQuery{By: metadata.ByTeam, Since: now.Add(-200 * 24 * time.Hour)})
				must(err)
				return u
			}
			before := usage()
			if len(before) != 1 || before[0].Attempts != 13 {
				t.Fatalf("usage before = %+v, want 13 attempts of team ads", before)
			}
			p, ok := s.(metadata.Pruner)
			if !ok {
				t.Fatalf("%T is not a metadata.Pruner", s)
			}
			var batches int
			got, err := p.Prune(ctx, now.Add(-90*24*time.Hour), 2, func(metadata.PruneResult) { batches++ })
			must(err)
			want := metadata.PruneResult{Runs: 5, Attempts: 10, Pins: 10, Commits: 10, Lineage: 10, Checks: 10}
			if got != want || batches != 3 {
				t.Errorf("prune = %+v in %d batches, want %+v in 3", got, batches, want)
			}
			for _, id := range []string{"old0", "old4"} {
				if _, err := s.GetRun(ctx, "daily", id); !errors.Is(err, metadata.ErrNotFound) {
					t.Errorf("run %s after the prune: %v, want not found", id, err)
				}
			}
			for _, id := range []string{"old_running", "new"} {
				d, err := s.GetRun(ctx, "daily", id)
				if err != nil || len(d.Attempts) != 2 || len(d.Pins) != 2 || len(d.Lineage) != 2 {
					t.Errorf("run %s kept: %v, %+v", id, err, d)
				}
			}
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
			if _, ok := metadata.Scoped(s, []string{"ads"}).(metadata.Pruner); ok {
				t.Error("a store scoped to teams can prune")
			}
		})
	}
}
