package metadata_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// TestRunTeamMigration upgrades a store written at schema version 4 (before runs carried their
// team): the migration fills each run's team from its pipeline version, so the team filter finds
// the runs recorded before it, and a run whose version is recorded later gets its team then.
func TestRunTeamMigration(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.newDSN(t)
			files, err := filepath.Glob(filepath.Join("migrations", b.name, "000[1-4]_*.sql"))
			if err != nil || len(files) != 4 {
				t.Fatalf("migrations 1-4 of %s: %v, %v", b.name, files, err)
			}
			b.exec(t, dsn, `CREATE TABLE aiflow_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_us BIGINT NOT NULL)`)
			for i, f := range files {
				body, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				b.exec(t, dsn, string(body))
				b.exec(t, dsn, `INSERT INTO aiflow_schema_migrations VALUES ($1, $2, 0)`, i+1, filepath.Base(f))
			}
			b.exec(t, dsn, `INSERT INTO aiflow_pipeline_versions (pipeline_id, ir_hash, ir_json, team, first_seen_us, last_seen_us)
VALUES ('ads_daily', 'ha', '{}', 'ads', 0, 0), ('fs_daily', 'hf', '{}', 'features', 0, 0)`)
			b.exec(t, dsn, `INSERT INTO aiflow_runs (pipeline_id, run_id, ir_hash, status, started_us) VALUES
('ads_daily', 'a1', 'ha', 'succeeded', 1), ('fs_daily', 'f1', 'hf', 'succeeded', 2),
('ads_daily', 'a2', 'ha', 'failed', 3), ('byhand', 'b1', 'hb', 'running', 4)`)

			ctx := context.Background()
			s := open(t, dsn)
			ids := func(f metadata.RunFilter) []string {
				t.Helper()
				runs, err := s.ListRuns(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, r := range runs {
					got = append(got, r.RunID+"/"+r.Team)
				}
				return got
			}
			if got, want := ids(metadata.RunFilter{Team: "ads"}), []string{"a2/ads", "a1/ads"}; !reflect.DeepEqual(got, want) {
				t.Errorf("team ads after the migration = %v, want %v", got, want)
			}
			if got, want := ids(metadata.RunFilter{Teams: []string{"features", "ads"}}), []string{"a2/ads", "f1/features", "a1/ads"}; !reflect.DeepEqual(got, want) {
				t.Errorf("teams ads and features = %v, want %v", got, want)
			}
			// The run started by hand before its version was recorded.
			if got := ids(metadata.RunFilter{Team: "ops"}); len(got) != 0 {
				t.Errorf("team ops before its version = %v, want none", got)
			}
			if err := s.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: "byhand", IRHash: "hb", IR: []byte(`{}`),
				Tenancy: metadata.Tenancy{Team: "ops"}}); err != nil {
				t.Fatal(err)
			}
			if got, want := ids(metadata.RunFilter{Team: "ops"}), []string{"b1/ops"}; !reflect.DeepEqual(got, want) {
				t.Errorf("team ops after its version = %v, want %v", got, want)
			}
		})
	}
}

// TestStreamJobsMigration upgrades a store written at schema version 5 (before streaming
// pipelines): what it holds stays, and the stream job tables work.
func TestStreamJobsMigration(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.newDSN(t)
			files, err := filepath.Glob(filepath.Join("migrations", b.name, "000[1-5]_*.sql"))
			if err != nil || len(files) != 5 {
				t.Fatalf("migrations 1-5 of %s: %v, %v", b.name, files, err)
			}
			b.exec(t, dsn, `CREATE TABLE aiflow_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_us BIGINT NOT NULL)`)
			for i, f := range files {
				body, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				b.exec(t, dsn, string(body))
				b.exec(t, dsn, `INSERT INTO aiflow_schema_migrations VALUES ($1, $2, 0)`, i+1, filepath.Base(f))
			}
			b.exec(t, dsn, `INSERT INTO aiflow_pipeline_versions (pipeline_id, ir_hash, ir_json, team, first_seen_us, last_seen_us)
VALUES ('clicks', 'h1', '{}', 'growth', 0, 0)`)
			b.exec(t, dsn, `INSERT INTO aiflow_runs (pipeline_id, run_id, ir_hash, status, started_us, team) VALUES ('clicks', 'r1', 'h1', 'succeeded', 1, 'growth')`)

			ctx := context.Background()
			s := open(t, dsn)
			runs, err := s.ListRuns(ctx, metadata.RunFilter{Team: "growth"})
			if err != nil || len(runs) != 1 || runs[0].RunID != "r1" {
				t.Fatalf("runs after the migration = %+v, %v", runs, err)
			}
			if ok, err := s.LeaseStream(ctx, "clicks", "pod", time.Minute); err != nil || !ok {
				t.Fatalf("lease after the migration: %v, %v", ok, err)
			}
			if err := s.RecordStream(ctx, metadata.StreamJob{Pipeline: "clicks", Team: "growth", IRHash: "h1", JobID: "j", State: "RUNNING"},
				metadata.StreamEvent{Action: metadata.StreamDeploy, JobID: "j"}); err != nil {
				t.Fatal(err)
			}
			if j, err := s.StreamJob(ctx, "clicks"); err != nil || j == nil || j.JobID != "j" {
				t.Fatalf("stream job after the migration = %+v, %v", j, err)
			}
		})
	}
}
