package metadata_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/metadata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func ptr[T any](v T) *T { return &v }

var (
	t0   = time.Date(2024, 6, 1, 3, 0, 0, 0, time.UTC)
	ten  = metadata.Tenancy{Team: "feature-platform", Env: "prod", Project: "feature-store"}
	runs = []metadata.Run{
		{Pipeline: "daily_user_feature_pipeline", RunID: "scheduled__2024-06-01T03:00:00+00:00", LogicalDate: ptr(t0),
			IRHash: "9f2c4e", Status: metadata.RunSucceeded, StartedAt: t0.Add(time.Minute), EndedAt: ptr(t0.Add(7*time.Minute + 1500*time.Millisecond)), Tenancy: ten},
		{Pipeline: "quickstart", RunID: "manual__1", IRHash: "a1b2", Status: metadata.RunRunning, StartedAt: t0.Add(time.Hour)},
	}
	k      = metadata.AttemptKey{Pipeline: "daily_user_feature_pipeline", RunID: "scheduled__2024-06-01T03:00:00+00:00", Node: "enrich_orders", Try: 2}
	detail = &metadata.RunDetail{
		Run: runs[0],
		Attempts: []metadata.Attempt{
			{AttemptKey: metadata.AttemptKey{Pipeline: k.Pipeline, RunID: k.RunID, Node: "enrich_orders", Try: 1}, IRHash: "9f2c4e",
				Status: metadata.AttemptFailed, ExitCode: ptr(75), ErrorClass: "temporary", ErrorMessage: "spark connect: unavailable\nretry later",
				StartedAt: t0.Add(time.Minute), EndedAt: ptr(t0.Add(time.Minute + 250*time.Millisecond)), Engine: "spark", PodName: "daily-enrich-1"},
			{AttemptKey: k, IRHash: "9f2c4e", Status: metadata.AttemptSucceeded, ExitCode: ptr(0), StartedAt: t0.Add(2 * time.Minute),
				EndedAt: ptr(t0.Add(6 * time.Minute)), RowsIn: 1000, RowsOut: 10, BytesIn: 64000, BytesOut: 900, Engine: "spark", PodName: "daily-enrich-2", Host: "node-7"},
		},
		Pins:    []metadata.Pin{{AttemptKey: k, Input: "orders_onelake", Document: json.RawMessage(`{"snapshot":8812,"table":"raw.sales_orders"}`), RecordedAt: t0.Add(2 * time.Minute)}},
		Commits: []metadata.Commit{{AttemptKey: k, Manifest: json.RawMessage(`{"files":["attempt-2/part-0.parquet"],"rows":10}`), CommittedAt: t0.Add(6 * time.Minute)}},
		Lineage: []metadata.Lineage{{AttemptKey: k, Dataset: metadata.Dataset{Direction: metadata.Read, Namespace: "onelake", Name: "raw.sales_orders", Rows: 1000, Bytes: 64000}, RecordedAt: t0.Add(6 * time.Minute)}},
		Checks: []metadata.CheckResult{
			{AttemptKey: k, Name: "row_count", Kind: "row_count", Severity: "error", Status: "passed", Observed: ptr(10.0), Message: "10 rows", RecordedAt: t0.Add(6 * time.Minute)},
			{AttemptKey: k, Name: "no_negative_amounts", Kind: "rows_where", Severity: "warn", Status: "warned", Observed: ptr(2.0), Message: "2 rows where amount < 0 (must be 0)", RecordedAt: t0.Add(6 * time.Minute)},
		},
	}
	pipelines = []metadata.Pipeline{{PipelineVersion: metadata.PipelineVersion{Pipeline: "daily_user_feature_pipeline",
		IRHash: "9f2c4e1d0a7b3c5e6f", Tenancy: ten, FirstSeen: t0, LastSeen: t0.Add(time.Hour)}, Versions: 3}}
	usageQuery = metadata.UsageQuery{By: metadata.ByCostCenter, Since: t0}
	usage      = []metadata.UsageRow{
		{Tenant: "cc-42", Attempts: 12, NodeSeconds: 3600.25, RowsIn: 1e6, RowsOut: 1e4, BytesIn: 1 << 30, BytesOut: 1 << 20},
		{Tenant: "", Attempts: 1, NodeSeconds: 0.5},
	}
)

func TestRenderers(t *testing.T) {
	tests := []struct {
		golden string
		write  func(*bytes.Buffer) error
	}{
		{"runs.txt", func(b *bytes.Buffer) error { return metadata.WriteRunsTable(b, runs) }},
		{"runs.json", func(b *bytes.Buffer) error { return metadata.WriteRunsJSON(b, runs) }},
		{"runs_empty.json", func(b *bytes.Buffer) error { return metadata.WriteRunsJSON(b, nil) }},
		{"run_detail.txt", func(b *bytes.Buffer) error { return metadata.WriteRunDetail(b, detail) }},
		{"run_detail.json", func(b *bytes.Buffer) error { return metadata.WriteRunDetailJSON(b, detail) }},
		{"pipelines.txt", func(b *bytes.Buffer) error { return metadata.WritePipelines(b, pipelines) }},
		{"pipelines.json", func(b *bytes.Buffer) error { return metadata.WritePipelinesJSON(b, pipelines) }},
		{"usage.txt", func(b *bytes.Buffer) error { return metadata.WriteUsage(b, usageQuery, usage) }},
		{"usage.json", func(b *bytes.Buffer) error { return metadata.WriteUsageJSON(b, usageQuery, usage) }},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.write(&b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs (go test -update rewrites it):\n%s", path, b.String())
			}
		})
	}
}
