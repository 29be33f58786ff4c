// Package storetest is the conformance suite of metadata.Store (the go-cloud drivertest pattern):
// every backend runs these same tests, so "SQLite and PostgreSQL behave the same" is checked, not
// hoped for.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// NewStore returns an empty, migrated store of the backend under test and closes it when t ends.
type NewStore func(t *testing.T) metadata.Store

// Run runs the conformance suite against the stores newStore makes.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, metadata.Store)
	}{
		{"PipelineVersions", testPipelineVersions},
		{"RunLifecycle", testRunLifecycle},
		{"StartAttemptCreatesRun", testStartAttemptCreatesRun},
		{"CommitOnce", testCommitOnce},
		{"NewAttemptInterruptsOld", testNewAttemptInterruptsOld},
		{"ListRunsFilters", testListRunsFilters},
		{"GetRunLookup", testGetRunLookup},
		{"Usage", testUsage},
		{"UsageRollups", testUsageRollups},
		{"Activity", testActivity},
		{"InvalidInput", testInvalidInput},
		{"ConcurrentCommits", testConcurrentCommits},
		{"ConcurrentAttempts", testConcurrentAttempts},
		{"SameTryTwoProcesses", testSameTryTwoProcesses},
		{"Scoped", testScoped},
		{"StreamJobs", testStreamJobs},
		{"StreamLeaseConcurrent", testStreamLeaseConcurrent},
		{"Locks", testLocks},
		{"HoldLockExcludes", testHoldLockExcludes},
		{"HoldLockLost", testHoldLockLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// base is a fixed instant; the store keeps microseconds, so test times have no finer part.
var base = time.Date(2024, 6, 1, 3, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

func ptr[T any](v T) *T { return &v }

func key(pipeline, run, node string, try int) metadata.AttemptKey {
	return metadata.AttemptKey{Pipeline: pipeline, RunID: run, Node: node, Try: try}
}

func must(t *testing.T, err error, doing string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", doing, err)
	}
}

func version(pipeline, hash string, ten metadata.Tenancy, seen time.Time) metadata.PipelineVersion {
	return metadata.PipelineVersion{
		Pipeline: pipeline, IRHash: hash, Tenancy: ten, FirstSeen: seen, LastSeen: seen,
		IR: json.RawMessage(fmt.Sprintf(`{"api_version":"aiflow/v1","id":%q,"nodes":{}}`, pipeline)),
	}
}

func testPipelineVersions(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	ten := metadata.Tenancy{Team: "feature-platform", Env: "prod", Project: "feature-store"}
	v1 := version("daily", "h1", ten, at(0))
	must(t, s.RecordPipeline(ctx, v1), "record v1")
	again := v1
	again.FirstSeen, again.LastSeen = at(time.Hour), at(time.Hour)
	must(t, s.RecordPipeline(ctx, again), "record v1 again")
	older := v1
	older.FirstSeen, older.LastSeen = at(time.Minute), at(time.Minute)
	must(t, s.RecordPipeline(ctx, older), "record v1 from a late pod")
	must(t, s.RecordPipeline(ctx, version("daily", "h2", ten, at(2*time.Hour))), "record v2")
	must(t, s.RecordPipeline(ctx, version("hourly", "h3", metadata.Tenancy{Team: "ads"}, at(0))), "record hourly")

	got, err := s.PipelineVersion(ctx, "daily", "h1")
	must(t, err, "read v1")
	if string(got.IR) != string(v1.IR) {
		t.Errorf("IR = %s, want it byte for byte: %s", got.IR, v1.IR)
	}
	if !got.FirstSeen.Equal(at(0)) || !got.LastSeen.Equal(at(time.Hour)) {
		t.Errorf("v1 seen %v..%v, want %v..%v (first kept, last only moves forward)", got.FirstSeen, got.LastSeen, at(0), at(time.Hour))
	}
	if got.Tenancy != ten {
		t.Errorf("tenancy = %+v, want %+v", got.Tenancy, ten)
	}
	if _, err := s.PipelineVersion(ctx, "daily", "nope"); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("unknown version: err = %v, want ErrNotFound", err)
	}

	ps, err := s.ListPipelines(ctx)
	must(t, err, "list pipelines")
	type row struct {
		id, hash string
		versions int
		team     string
	}
	var rows []row
	for _, p := range ps {
		rows = append(rows, row{p.Pipeline, p.IRHash, p.Versions, p.Team})
		if p.IR != nil {
			t.Errorf("ListPipelines carries the IR of %s; it should leave it out", p.Pipeline)
		}
	}
	want := []row{{"daily", "h2", 2, "feature-platform"}, {"hourly", "h3", 1, "ads"}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("ListPipelines = %+v, want %+v", rows, want)
	}
}

// normalized re-encodes the JSON documents of a run detail with sorted keys: PostgreSQL's jsonb
// keeps the document, not its key order.
func normalized(t *testing.T, d *metadata.RunDetail) *metadata.RunDetail {
	t.Helper()
	norm := func(raw json.RawMessage) json.RawMessage {
		if raw == nil {
			return nil
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("stored document %s: %v", raw, err)
		}
		out, _ := json.Marshal(v)
		return out
	}
	c := *d
	c.Pins = append([]metadata.Pin(nil), d.Pins...)
	for i := range c.Pins {
		c.Pins[i].Document = norm(c.Pins[i].Document)
	}
	c.Commits = append([]metadata.Commit(nil), d.Commits...)
	for i := range c.Commits {
		c.Commits[i].Manifest = norm(c.Commits[i].Manifest)
	}
	c.Lineage = append([]metadata.Lineage(nil), d.Lineage...)
	for i := range c.Lineage {
		c.Lineage[i].Schema = norm(c.Lineage[i].Schema)
	}
	return &c
}

func testRunLifecycle(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	ten := metadata.Tenancy{Team: "feature-platform", Env: "prod", Project: "feature-store", CostCenter: "cc-42"}
	must(t, s.RecordPipeline(ctx, version("daily", "h1", ten, at(0))), "record pipeline")
	must(t, s.StartRun(ctx, metadata.Run{Pipeline: "daily", RunID: "r1", LogicalDate: ptr(base), IRHash: "h1", StartedAt: at(time.Second)}), "start run")

	k := key("daily", "r1", "enrich_orders", 1)
	must(t, s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: "h1", StartedAt: at(2 * time.Second),
		Engine: "spark", PodName: "daily-enrich-orders-abc", Host: "node-7"}), "start attempt")
	must(t, s.RecordPins(ctx, k, map[string]json.RawMessage{
		"orders_onelake": json.RawMessage(`{"table":"raw.sales_orders","snapshot":8812}`),
		"clicks":         json.RawMessage(`{"topic":"clicks","offsets":{"0":[100,200]}}`),
	}), "record pins")
	must(t, s.RecordLineage(ctx, k, []metadata.Dataset{
		{Direction: metadata.Read, Namespace: "onelake", Name: "raw.sales_orders", Rows: 1000, Bytes: 64000},
		{Direction: metadata.Wrote, Namespace: "s3://stage", Name: "tmp.enriched_orders_daily", Rows: 10, Bytes: 900,
			Schema: json.RawMessage(`{"fields":[{"name":"user_id","type":"int64"}]}`)},
	}), "record lineage")
	// Recorded twice: the second set replaces the first (an audit reported again).
	must(t, s.RecordChecks(ctx, k, []metadata.CheckResult{{Name: "stale", Kind: "row_count", Severity: "error", Status: "failed"}}), "record checks")
	must(t, s.RecordChecks(ctx, k, []metadata.CheckResult{
		{Name: "row_count", Kind: "row_count", Severity: "error", Status: "passed", Observed: ptr(10.0), Message: "10 rows"},
		{Name: "null_ratio(email)", Kind: "null_ratio", Severity: "warn", Status: "warned", Observed: ptr(0.25), Message: "null ratio of email is 0.25"},
		{Name: "freshness(at)", Kind: "freshness", Severity: "error", Status: "passed", Message: "no value"},
	}), "record checks again")
	committed, existing, err := s.Commit(ctx, metadata.Commit{AttemptKey: k,
		Manifest: json.RawMessage(`{"files":["part-0.parquet"],"rows":10}`), CommittedAt: at(3 * time.Second)})
	must(t, err, "commit")
	if !committed || existing != nil {
		t.Fatalf("first commit: committed=%v existing=%v, want true, nil", committed, existing)
	}
	must(t, s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: metadata.AttemptSucceeded, ExitCode: ptr(0),
		EndedAt: ptr(at(4 * time.Second)), RowsIn: 1000, RowsOut: 10, BytesIn: 64000, BytesOut: 900}), "end attempt")
	must(t, s.EndRun(ctx, "daily", "r1", metadata.RunSucceeded, at(5*time.Second)), "end run")

	got, err := s.GetRun(ctx, "daily", "r1")
	must(t, err, "get run")
	want := &metadata.RunDetail{
		Run: metadata.Run{Pipeline: "daily", RunID: "r1", LogicalDate: ptr(base), IRHash: "h1",
			Status: metadata.RunSucceeded, StartedAt: at(time.Second), EndedAt: ptr(at(5 * time.Second)), Tenancy: ten},
		Attempts: []metadata.Attempt{{AttemptKey: k, IRHash: "h1", Status: metadata.AttemptSucceeded, ExitCode: ptr(0),
			StartedAt: at(2 * time.Second), EndedAt: ptr(at(4 * time.Second)), RowsIn: 1000, RowsOut: 10, BytesIn: 64000,
			BytesOut: 900, Engine: "spark", PodName: "daily-enrich-orders-abc", Host: "node-7"}},
		Pins: []metadata.Pin{
			{AttemptKey: k, Input: "clicks", Document: json.RawMessage(`{"offsets":{"0":[100,200]},"topic":"clicks"}`)},
			{AttemptKey: k, Input: "orders_onelake", Document: json.RawMessage(`{"snapshot":8812,"table":"raw.sales_orders"}`)},
		},
		Commits: []metadata.Commit{{AttemptKey: k, Manifest: json.RawMessage(`{"files":["part-0.parquet"],"rows":10}`),
			CommittedAt: at(3 * time.Second)}},
		Lineage: []metadata.Lineage{
			{AttemptKey: k, Dataset: metadata.Dataset{Direction: metadata.Read, Namespace: "onelake", Name: "raw.sales_orders", Rows: 1000, Bytes: 64000}},
			{AttemptKey: k, Dataset: metadata.Dataset{Direction: metadata.Wrote, Namespace: "s3://stage", Name: "tmp.enriched_orders_daily",
				Rows: 10, Bytes: 900, Schema: json.RawMessage(`{"fields":[{"name":"user_id","type":"int64"}]}`)}},
		},
		Checks: []metadata.CheckResult{
			{AttemptKey: k, Name: "row_count", Kind: "row_count", Severity: "error", Status: "passed", Observed: ptr(10.0), Message: "10 rows"},
			{AttemptKey: k, Name: "null_ratio(email)", Kind: "null_ratio", Severity: "warn", Status: "warned", Observed: ptr(0.25), Message: "null ratio of email is 0.25"},
			{AttemptKey: k, Name: "freshness(at)", Kind: "freshness", Severity: "error", Status: "passed", Message: "no value"},
		},
	}
	// Recording times are the store's clock; check they are set, then compare the rest.
	for i := range got.Pins {
		if got.Pins[i].RecordedAt.IsZero() {
			t.Errorf("pin %s has no recorded_at", got.Pins[i].Input)
		}
		got.Pins[i].RecordedAt = time.Time{}
	}
	for i := range got.Lineage {
		if got.Lineage[i].RecordedAt.IsZero() {
			t.Errorf("lineage %s has no recorded_at", got.Lineage[i].Name)
		}
		got.Lineage[i].RecordedAt = time.Time{}
	}
	for i := range got.Checks {
		if got.Checks[i].RecordedAt.IsZero() {
			t.Errorf("check %s has no recorded_at", got.Checks[i].Name)
		}
		got.Checks[i].RecordedAt = time.Time{}
	}
	if g, w := normalized(t, got), normalized(t, want); !reflect.DeepEqual(g, w) {
		gj, _ := json.MarshalIndent(g, "", " ")
		wj, _ := json.MarshalIndent(w, "", " ")
		t.Errorf("GetRun =\n%s\nwant\n%s", gj, wj)
	}
}

func testStartAttemptCreatesRun(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	// Pods of one run start in any order and none of them is "the" run starter.
	must(t, s.StartAttempt(ctx, metadata.Attempt{AttemptKey: key("p", "r", "a", 1), IRHash: "h", StartedAt: at(time.Minute)}), "start attempt")
	must(t, s.StartRun(ctx, metadata.Run{Pipeline: "p", RunID: "r", IRHash: "h", LogicalDate: ptr(base), StartedAt: at(2 * time.Minute)}), "start run after")
	must(t, s.StartRun(ctx, metadata.Run{Pipeline: "p", RunID: "r", IRHash: "h", StartedAt: at(3 * time.Minute)}), "start run again without date")
	d, err := s.GetRun(ctx, "p", "r")
	must(t, err, "get run")
	if d.Status != metadata.RunRunning || !d.StartedAt.Equal(at(time.Minute)) || d.LogicalDate == nil || !d.LogicalDate.Equal(base) {
		t.Errorf("run = %+v, want running since %v with logical date %v", d.Run, at(time.Minute), base)
	}
	if len(d.Attempts) != 1 || d.Attempts[0].Status != metadata.AttemptRunning || d.Attempts[0].EndedAt != nil {
		t.Errorf("attempts = %+v, want one running", d.Attempts)
	}
}

func testCommitOnce(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	if c, err := s.LookupCommit(ctx, "p", "r", "sink"); err != nil || c != nil {
		t.Fatalf("LookupCommit before any commit = %v, %v; want nil, nil", c, err)
	}
	first := metadata.Commit{AttemptKey: key("p", "r", "sink", 1), Manifest: json.RawMessage(`{"attempt":1}`), CommittedAt: at(time.Second)}
	second := metadata.Commit{AttemptKey: key("p", "r", "sink", 2), Manifest: json.RawMessage(`{"attempt":2}`), CommittedAt: at(2 * time.Second)}
	other := metadata.Commit{AttemptKey: key("p", "r2", "sink", 1), Manifest: json.RawMessage(`{"attempt":1}`)}

	tests := []struct {
		name          string
		c             metadata.Commit
		wantCommitted bool
		wantExisting  *metadata.Commit
	}{
		{"first commit wins", first, true, nil},
		{"a retry finds it", second, false, &first},
		{"the same attempt again finds it", first, false, &first},
		{"another run commits independently", other, true, nil},
	}
	for _, tt := range tests {
		committed, existing, err := s.Commit(ctx, tt.c)
		if err != nil {
			t.Fatalf("%s: Commit: %v (a duplicate is not an error)", tt.name, err)
		}
		if committed != tt.wantCommitted {
			t.Errorf("%s: committed = %v, want %v", tt.name, committed, tt.wantCommitted)
		}
		if tt.wantExisting == nil {
			if existing != nil {
				t.Errorf("%s: existing = %+v, want nil", tt.name, existing)
			}
			continue
		}
		if existing == nil || existing.AttemptKey != tt.wantExisting.AttemptKey || string(existing.Manifest) != string(tt.wantExisting.Manifest) ||
			!existing.CommittedAt.Equal(tt.wantExisting.CommittedAt) {
			t.Errorf("%s: existing = %+v, want %+v", tt.name, existing, tt.wantExisting)
		}
	}
	c, err := s.LookupCommit(ctx, "p", "r", "sink")
	must(t, err, "look up commit")
	if c == nil || c.Try != 1 || string(c.Manifest) != `{"attempt":1}` {
		t.Errorf("LookupCommit = %+v, want try 1's", c)
	}
}

func testNewAttemptInterruptsOld(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	must(t, s.StartAttempt(ctx, metadata.Attempt{AttemptKey: key("p", "r", "n", 1), IRHash: "h", StartedAt: at(0)}), "start try 1")
	must(t, s.StartAttempt(ctx, metadata.Attempt{AttemptKey: key("p", "r", "other", 1), IRHash: "h", StartedAt: at(0)}), "start other node")
	// Try 1's pod died without a word; Airflow starts try 2.
	must(t, s.StartAttempt(ctx, metadata.Attempt{AttemptKey: key("p", "r", "n", 2), IRHash: "h", StartedAt: at(time.Minute)}), "start try 2")
	must(t, s.EndAttempt(ctx, metadata.Attempt{AttemptKey: key("p", "r", "n", 2), Status: metadata.AttemptFailed, ExitCode: ptr(75),
		ErrorClass: "temporary", ErrorMessage: "connect kafka: refused", EndedAt: ptr(at(2 * time.Minute))}), "end try 2")
	// Try 2's pod is restarted in place with the same try number: it starts afresh.
	must(t, s.StartAttempt(ctx, metadata.Attempt{AttemptKey: key("p", "r", "n", 2), IRHash: "h", StartedAt: at(3 * time.Minute)}), "restart try 2")

	d, err := s.GetRun(ctx, "p", "r")
	must(t, err, "get run")
	got := map[string]metadata.Attempt{}
	for _, a := range d.Attempts {
		got[a.AttemptKey.String()] = a
	}
	if a := got["n#1"]; a.Status != metadata.AttemptInterrupted || a.EndedAt == nil || !a.EndedAt.Equal(at(time.Minute)) {
		t.Errorf("try 1 = %s ended %v, want interrupted when try 2 started", a.Status, a.EndedAt)
	}
	if a := got["n#2"]; a.Status != metadata.AttemptRunning || a.ExitCode != nil || a.ErrorMessage != "" || a.EndedAt != nil || !a.StartedAt.Equal(at(3*time.Minute)) {
		t.Errorf("restarted try 2 = %+v, want running afresh", a)
	}
	if a := got["other#1"]; a.Status != metadata.AttemptRunning {
		t.Errorf("another node's attempt = %s, want running (untouched)", a.Status)
	}
}

func testListRunsFilters(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	must(t, s.RecordPipeline(ctx, version("daily", "h1", metadata.Tenancy{Team: "features"}, at(0))), "record daily")
	must(t, s.RecordPipeline(ctx, version("hourly", "h2", metadata.Tenancy{Team: "ads"}, at(0))), "record hourly")
	for i, r := range []struct {
		pipeline, hash, run string
		status              metadata.RunStatus
	}{
		{"daily", "h1", "d1", metadata.RunSucceeded},
		{"daily", "h1", "d2", metadata.RunFailed},
		{"hourly", "h2", "h1", metadata.RunSucceeded},
		{"hourly", "h2", "h2", metadata.RunRunning},
		{"unrecorded", "hx", "u1", metadata.RunSucceeded},
	} {
		must(t, s.StartRun(ctx, metadata.Run{Pipeline: r.pipeline, RunID: r.run, IRHash: r.hash, StartedAt: at(time.Duration(i) * time.Hour)}), "start run")
		if r.status != metadata.RunRunning {
			must(t, s.EndRun(ctx, r.pipeline, r.run, r.status, at(time.Duration(i)*time.Hour+time.Minute)), "end run")
		}
	}
	tests := []struct {
		name string
		f    metadata.RunFilter
		want []string
	}{
		{"all, newest first", metadata.RunFilter{}, []string{"u1", "h2", "h1", "d2", "d1"}},
		{"pipeline", metadata.RunFilter{Pipeline: "daily"}, []string{"d2", "d1"}},
		{"team", metadata.RunFilter{Team: "ads"}, []string{"h2", "h1"}},
		{"status", metadata.RunFilter{Status: metadata.RunSucceeded}, []string{"u1", "h1", "d1"}},
		{"team and status", metadata.RunFilter{Team: "features", Status: metadata.RunFailed}, []string{"d2"}},
		{"limit", metadata.RunFilter{Limit: 2}, []string{"u1", "h2"}},
		{"nothing matches", metadata.RunFilter{Team: "nobody"}, []string{}},
		{"teams", metadata.RunFilter{Teams: []string{"features", "ads"}}, []string{"h2", "h1", "d2", "d1"}},
		{"teams, newest of them", metadata.RunFilter{Teams: []string{"ads", "features", "ads"}, Limit: 3}, []string{"h2", "h1", "d2"}},
		{"teams and status", metadata.RunFilter{Teams: []string{"features", "ads"}, Status: metadata.RunSucceeded}, []string{"h1", "d1"}},
		{"team within teams", metadata.RunFilter{Team: "ads", Teams: []string{"features", "ads"}}, []string{"h2", "h1"}},
		{"team outside teams", metadata.RunFilter{Team: "ads", Teams: []string{"features"}}, []string{}},
		{"no teams", metadata.RunFilter{Teams: []string{}}, []string{}},
	}
	for _, tt := range tests {
		runs, err := s.ListRuns(ctx, tt.f)
		must(t, err, tt.name)
		got := []string{}
		for _, r := range runs {
			got = append(got, r.RunID)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: ListRuns = %v, want %v", tt.name, got, tt.want)
		}
	}
	runs, err := s.ListRuns(ctx, metadata.RunFilter{Pipeline: "hourly", Status: metadata.RunSucceeded})
	must(t, err, "list hourly")
	if len(runs) != 1 || runs[0].Team != "ads" || runs[0].EndedAt == nil || !runs[0].EndedAt.Equal(at(2*time.Hour+time.Minute)) {
		t.Errorf("hourly run = %+v, want team ads, ended", runs)
	}
}

func testGetRunLookup(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	must(t, s.StartRun(ctx, metadata.Run{Pipeline: "a", RunID: "shared", IRHash: "h"}), "start a")
	must(t, s.StartRun(ctx, metadata.Run{Pipeline: "b", RunID: "shared", IRHash: "h"}), "start b")
	must(t, s.StartRun(ctx, metadata.Run{Pipeline: "a", RunID: "only-a", IRHash: "h"}), "start only-a")
	tests := []struct {
		name, pipeline, run string
		wantPipeline        string
		wantClass           fault.Class
		wantNotFound        bool
	}{
		{"unique run id without pipeline", "", "only-a", "a", 0, false},
		{"shared run id with pipeline", "b", "shared", "b", 0, false},
		{"shared run id without pipeline", "", "shared", "", fault.Usage, false},
		{"unknown run", "", "nope", "", fault.Usage, true},
		{"unknown run of a pipeline", "a", "nope", "", fault.Usage, true},
	}
	for _, tt := range tests {
		d, err := s.GetRun(ctx, tt.pipeline, tt.run)
		if tt.wantClass == 0 {
			if err != nil || d.Pipeline != tt.wantPipeline || d.Attempts == nil {
				t.Errorf("%s: GetRun = %+v, %v; want run of %s (with empty, non-nil lists)", tt.name, d, err, tt.wantPipeline)
			}
			continue
		}
		if fault.ClassOf(err) != tt.wantClass || errors.Is(err, metadata.ErrNotFound) != tt.wantNotFound {
			t.Errorf("%s: err = %v (class %s), want class %s, not found %v", tt.name, err, fault.ClassOf(err), tt.wantClass, tt.wantNotFound)
		}
	}
}

func testUsage(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	must(t, s.RecordPipeline(ctx, version("daily", "h1", metadata.Tenancy{Team: "features", Project: "fs", CostCenter: "cc1"}, at(0))), "record")
	must(t, s.RecordPipeline(ctx, version("daily", "h2", metadata.Tenancy{Team: "features", Project: "fs2", CostCenter: "cc1"}, at(0))), "record")
	must(t, s.RecordPipeline(ctx, version("ads", "h3", metadata.Tenancy{Team: "ads", Project: "fs"}, at(0))), "record")
	type att struct {
		pipeline, hash, node string
		start, secs          int // minutes after base, seconds of duration (-1: still running)
		bytesIn, bytesOut    int64
	}
	for _, a := range []att{
		{"daily", "h1", "old", -60, 100, 1, 1}, // before since: not counted
		{"daily", "h1", "n1", 0, 10, 100, 10},
		{"daily", "h2", "n2", 1, 20, 200, 20},
		{"ads", "h3", "n3", 2, 5, 50, 5},
		{"ads", "h3", "n4", 3, -1, 0, 0},  // running: no duration yet
		{"other", "hx", "n5", 4, 1, 7, 7}, // unrecorded pipeline: no tenant
	} {
		k := key(a.pipeline, "r", a.node, 1)
		start := at(time.Duration(a.start) * time.Minute)
		must(t, s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: a.hash, StartedAt: start}), "start "+a.node)
		if a.secs >= 0 {
			must(t, s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: metadata.AttemptSucceeded, ExitCode: ptr(0),
				EndedAt: ptr(start.Add(time.Duration(a.secs) * time.Second)), BytesIn: a.bytesIn, BytesOut: a.bytesOut, RowsIn: 1, RowsOut: 1}), "end "+a.node)
		}
	}
	tests := []struct {
		by   metadata.UsageBy
		want []metadata.UsageRow
	}{
		{metadata.ByTeam, []metadata.UsageRow{
			{Tenant: "features", Attempts: 2, NodeSeconds: 30, RowsIn: 2, RowsOut: 2, BytesIn: 300, BytesOut: 30},
			{Tenant: "ads", Attempts: 1, NodeSeconds: 5, RowsIn: 1, RowsOut: 1, BytesIn: 50, BytesOut: 5},
			{Tenant: "", Attempts: 1, NodeSeconds: 1, RowsIn: 1, RowsOut: 1, BytesIn: 7, BytesOut: 7},
		}},
		{metadata.ByProject, []metadata.UsageRow{
			{Tenant: "fs2", Attempts: 1, NodeSeconds: 20, RowsIn: 1, RowsOut: 1, BytesIn: 200, BytesOut: 20},
			{Tenant: "fs", Attempts: 2, NodeSeconds: 15, RowsIn: 2, RowsOut: 2, BytesIn: 150, BytesOut: 15},
			{Tenant: "", Attempts: 1, NodeSeconds: 1, RowsIn: 1, RowsOut: 1, BytesIn: 7, BytesOut: 7},
		}},
		{metadata.ByCostCenter, []metadata.UsageRow{
			{Tenant: "cc1", Attempts: 2, NodeSeconds: 30, RowsIn: 2, RowsOut: 2, BytesIn: 300, BytesOut: 30},
			{Tenant: "", Attempts: 2, NodeSeconds: 6, RowsIn: 2, RowsOut: 2, BytesIn: 57, BytesOut: 12},
		}},
	}
	for _, tt := range tests {
		got, err := s.Usage(ctx, metadata.UsageQuery{By: tt.by, Since: base})
		must(t, err, "usage by "+string(tt.by))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("usage by %s = %+v, want %+v", tt.by, got, tt.want)
		}
	}
	if _, err := s.Usage(ctx, metadata.UsageQuery{By: "owner", Since: base}); fault.ClassOf(err) != fault.Usage {
		t.Errorf("usage by owner: err = %v, want a usage error", err)
	}
}

// testUsageRollups: usage is answered from hourly and daily rollups plus the attempts of the
// partial hour at Since. Attempts over three days, ended, ended again with other counts,
// restarted in place, interrupted by a newer attempt and left running, must sum for every Since
// (on a day boundary, an hour boundary, mid-hour, before everything) exactly as the attempts
// read back one by one do.
func testUsageRollups(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	tenancies := map[string]metadata.Tenancy{
		"h1": {Team: "features", Project: "fs", CostCenter: "cc1"},
		"h2": {Team: "ads", Project: "fs", CostCenter: "cc2"},
	}
	for h, ten := range tenancies {
		must(t, s.RecordPipeline(ctx, version("p"+h, h, ten, at(-time.Hour))), "record")
	}
	for i := range 60 {
		hash := []string{"h1", "h2", "hx"}[i%3] // hx: a version never recorded
		runID := fmt.Sprintf("r%d", i/4)
		k := key("p"+hash, runID, fmt.Sprintf("n%d", i%5), 1)
		start := at(time.Duration(i*73) * time.Minute) // ~3 days, every minute of the hour
		a := metadata.Attempt{AttemptKey: k, AttemptID: "a", IRHash: hash, StartedAt: start}
		must(t, s.StartAttempt(ctx, a), "start")
		end := func(secs int, rows int64) {
			must(t, s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, AttemptID: "a", Status: metadata.AttemptSucceeded, ExitCode: ptr(0),
				EndedAt: ptr(start.Add(time.Duration(secs) * time.Second)), RowsIn: rows, RowsOut: rows / 2, BytesIn: 10 * rows, BytesOut: 5 * rows}), "end")
		}
		switch i % 6 {
		case 0: // running
		case 1:
			end(30+i, int64(i))
		case 2: // ended twice: the second counts
			end(10, 1)
			end(40+i, int64(2*i))
		case 3: // restarted in place after ending, then ended again
			end(99, 99)
			must(t, s.StartAttempt(ctx, a), "restart")
			end(20+i, int64(i+1))
		case 4: // interrupted by a newer attempt of the same node
			b := a
			b.AttemptID = "b"
			b.StartedAt = start.Add(time.Minute)
			must(t, s.StartAttempt(ctx, b), "start newer")
		case 5:
			end(3600+i, int64(i)) // ends in the next hour: counted in its start's hour
		}
	}
	runs, err := s.ListRuns(ctx, metadata.RunFilter{Limit: 1000})
	must(t, err, "list runs")
	var all []metadata.Attempt
	for _, r := range runs {
		d, err := s.GetRun(ctx, r.Pipeline, r.RunID)
		must(t, err, "get run")
		all = append(all, d.Attempts...)
	}
	for _, since := range []time.Time{at(-24 * time.Hour), base, at(17 * time.Minute), at(time.Hour), at(21*time.Hour + 30*time.Minute),
		time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC), at(49*time.Hour + 59*time.Minute), at(100 * time.Hour),
		// On an attempt's start; in the first half of an hour after an attempt of that hour (left
		// out by subtraction from the hour's rollup), at the half, in the second half.
		at(73 * time.Minute), at(78 * time.Minute), at(149 * time.Minute), at(150 * time.Minute), at(370 * time.Minute),
		at(219 * time.Minute), at(30*time.Hour + time.Second), at(40*time.Hour - time.Second)} {
		want := map[string]metadata.UsageRow{}
		for _, a := range all {
			if a.EndedAt == nil || a.StartedAt.Before(since) {
				continue
			}
			ten := tenancies[a.IRHash].Team
			u := want[ten]
			u.Tenant = ten
			u.Attempts++
			u.NodeSeconds += a.EndedAt.Sub(a.StartedAt).Seconds()
			u.RowsIn += a.RowsIn
			u.RowsOut += a.RowsOut
			u.BytesIn += a.BytesIn
			u.BytesOut += a.BytesOut
			want[ten] = u
		}
		got, err := s.Usage(ctx, metadata.UsageQuery{By: metadata.ByTeam, Since: since})
		must(t, err, "usage")
		gotM := map[string]metadata.UsageRow{}
		for _, u := range got {
			gotM[u.Tenant] = u
		}
		if !reflect.DeepEqual(gotM, want) {
			t.Errorf("usage since %s:\n got %+v\nwant %+v", since.Format(time.RFC3339), gotM, want)
		}
	}
}

// testActivity counts attempts since a time by team and status, and running runs by team: an
// attempt before the time, another team's and a pipeline never recorded are told apart.
func testActivity(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	must(t, s.RecordPipeline(ctx, version("ads_daily", "ha", metadata.Tenancy{Team: "ads"}, at(0))), "record ads")
	must(t, s.RecordPipeline(ctx, version("fs_daily", "hf", metadata.Tenancy{Team: "features"}, at(0))), "record features")
	for _, a := range []struct {
		pipeline, hash, run, node string
		start                     time.Duration
		status                    metadata.AttemptStatus
	}{
		{"ads_daily", "ha", "old", "load", -time.Hour, metadata.AttemptSucceeded},
		{"ads_daily", "ha", "r1", "load", time.Minute, metadata.AttemptSucceeded},
		{"ads_daily", "ha", "r1", "train", 2 * time.Minute, metadata.AttemptFailed},
		{"ads_daily", "ha", "r2", "load", 3 * time.Minute, metadata.AttemptSucceeded},
		{"fs_daily", "hf", "r1", "load", 4 * time.Minute, metadata.AttemptRunning},
		{"byhand", "hb", "r1", "load", 5 * time.Minute, metadata.AttemptSucceeded},
	} {
		k := key(a.pipeline, a.run, a.node, 1)
		must(t, s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: a.hash, StartedAt: at(a.start)}), "start")
		if a.status != metadata.AttemptRunning {
			must(t, s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: a.status, ExitCode: ptr(0), EndedAt: ptr(at(a.start + time.Second))}), "end")
		}
	}
	must(t, s.EndRun(ctx, "ads_daily", "r2", metadata.RunSucceeded, at(time.Hour)), "end run")
	must(t, s.EndRun(ctx, "ads_daily", "old", metadata.RunSucceeded, at(time.Hour)), "end run")
	act, err := s.Activity(ctx, metadata.ActivityQuery{Since: at(0)})
	must(t, err, "activity")
	want := metadata.Activity{
		Attempts: []metadata.TeamCount{{Team: "", Status: "succeeded", N: 1}, {Team: "ads", Status: "failed", N: 1},
			{Team: "ads", Status: "succeeded", N: 2}, {Team: "features", Status: "running", N: 1}},
		Running: []metadata.TeamCount{{Team: "", Status: "running", N: 1}, {Team: "ads", Status: "running", N: 1},
			{Team: "features", Status: "running", N: 1}},
	}
	if !reflect.DeepEqual(act, want) {
		t.Errorf("activity = %+v\nwant %+v", act, want)
	}
	act, err = s.Activity(ctx, metadata.ActivityQuery{Since: at(0), Teams: []string{"features"}})
	must(t, err, "activity of features")
	if len(act.Attempts) != 1 || act.Attempts[0].Team != "features" || len(act.Running) != 1 || act.Running[0].Team != "features" {
		t.Errorf("activity of features = %+v, want features' only", act)
	}
}

func testInvalidInput(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	k := key("p", "r", "n", 1)
	tests := []struct {
		name string
		call func() error
	}{
		{"manifest is not JSON", func() error {
			_, _, err := s.Commit(ctx, metadata.Commit{AttemptKey: k, Manifest: json.RawMessage(`{"files":`)})
			return err
		}},
		{"commit without a node", func() error {
			_, _, err := s.Commit(ctx, metadata.Commit{AttemptKey: key("p", "r", "", 1), Manifest: json.RawMessage(`{}`)})
			return err
		}},
		{"pin is not JSON", func() error {
			return s.RecordPins(ctx, k, map[string]json.RawMessage{"in": json.RawMessage(`nope`)})
		}},
		{"IR is not JSON", func() error {
			return s.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: "p", IRHash: "h", IR: json.RawMessage(`{`)})
		}},
		{"lineage direction", func() error {
			return s.RecordLineage(ctx, k, []metadata.Dataset{{Direction: "sideways", Namespace: "x", Name: "y"}})
		}},
		{"end an attempt never started", func() error {
			return s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: metadata.AttemptSucceeded})
		}},
		{"end a run never started", func() error {
			return s.EndRun(ctx, "p", "nope", metadata.RunSucceeded, time.Time{})
		}},
	}
	for _, tt := range tests {
		if err := tt.call(); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if c, err := s.LookupCommit(ctx, "p", "r", "n"); err != nil || c != nil {
		t.Errorf("after a refused commit: LookupCommit = %+v, %v; want nothing committed", c, err)
	}
}

func testConcurrentCommits(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	results := make([]struct {
		committed bool
		existing  *metadata.Commit
		err       error
	}, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			c := metadata.Commit{AttemptKey: key("p", "r", "sink", i+1), Manifest: json.RawMessage(fmt.Sprintf(`{"by":%d}`, i+1))}
			results[i].committed, results[i].existing, results[i].err = s.Commit(ctx, c)
		})
	}
	close(start)
	wg.Wait()
	winner := 0
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("writer %d: %v", i+1, r.err)
		case r.committed:
			if winner != 0 {
				t.Errorf("writers %d and %d both committed", winner, i+1)
			}
			winner = i + 1
		}
	}
	if winner == 0 {
		t.Fatal("no writer committed")
	}
	for i, r := range results {
		if r.err == nil && !r.committed && (r.existing == nil || r.existing.Try != winner) {
			t.Errorf("writer %d: existing = %+v, want the commit of try %d", i+1, r.existing, winner)
		}
	}
}

// testConcurrentAttempts records 10,000 node attempts (start, pins, commit, end) from 8 writers and
// counts them afterwards: none may be lost.
func testConcurrentAttempts(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	const writers = 8
	total := 10000
	if testing.Short() {
		total = 800
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < total; i += writers {
				k := key("load", "r", fmt.Sprintf("node-%05d", i), 1)
				if err := s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: "h"}); err != nil {
					errs <- err
					return
				}
				if err := s.RecordPins(ctx, k, map[string]json.RawMessage{"in": json.RawMessage(`{"snapshot":1}`)}); err != nil {
					errs <- err
					return
				}
				if _, _, err := s.Commit(ctx, metadata.Commit{AttemptKey: k, Manifest: json.RawMessage(`{}`)}); err != nil {
					errs <- err
					return
				}
				if err := s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: metadata.AttemptSucceeded, ExitCode: ptr(0)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	d, err := s.GetRun(ctx, "load", "r")
	must(t, err, "get run")
	succeeded := 0
	for _, a := range d.Attempts {
		if a.Status == metadata.AttemptSucceeded {
			succeeded++
		}
	}
	if len(d.Attempts) != total || succeeded != total || len(d.Commits) != total || len(d.Pins) != total {
		t.Errorf("recorded %d attempts (%d succeeded), %d commits, %d pins; want %d of each",
			len(d.Attempts), succeeded, len(d.Commits), len(d.Pins), total)
	}
}

// Twenty processes run the same try (a zombie pod and its replacements): each is its own row,
// ending with its own status; the one that committed stays succeeded whatever the others do.
func testSameTryTwoProcesses(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	const n = 20
	for i := range n {
		a := metadata.Attempt{AttemptKey: key("p", "r", "a", 1), AttemptID: fmt.Sprintf("proc-%02d", i), IRHash: "h", StartedAt: at(time.Duration(i) * time.Second)}
		must(t, s.StartAttempt(ctx, a), "start attempt")
	}
	for i := range n {
		status, code := metadata.AttemptFailed, 75
		if i == 3 {
			status, code = metadata.AttemptSucceeded, 0
		}
		a := metadata.Attempt{AttemptKey: key("p", "r", "a", 1), AttemptID: fmt.Sprintf("proc-%02d", i), IRHash: "h", Status: status, ExitCode: ptr(code), EndedAt: ptr(at(time.Minute + time.Duration(i)*time.Second))}
		must(t, s.EndAttempt(ctx, a), "end attempt")
	}
	d, err := s.GetRun(ctx, "p", "r")
	must(t, err, "get run")
	if len(d.Attempts) != n {
		t.Fatalf("%d attempt rows for %d processes of one try", len(d.Attempts), n)
	}
	for _, a := range d.Attempts {
		want := metadata.AttemptFailed
		if a.AttemptID == "proc-03" {
			want = metadata.AttemptSucceeded
		}
		if a.Status != want {
			t.Errorf("attempt %s: %s, want %s", a.AttemptID, a.Status, want)
		}
	}
}

// testScoped: a store scoped to a team reads only that team's pipelines, runs, attempts, lineage
// and usage; another team's run is not found, as if it did not exist. One user per team.
func testScoped(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	must(t, s.RecordPipeline(ctx, version("ads_daily", "ha", metadata.Tenancy{Team: "ads"}, at(0))), "record ads")
	must(t, s.RecordPipeline(ctx, version("fs_daily", "hf", metadata.Tenancy{Team: "features"}, at(0))), "record features")
	for _, p := range []struct{ pipeline, hash, table string }{{"ads_daily", "ha", "ads.clicks"}, {"fs_daily", "hf", "fs.users"}} {
		for i, run := range []string{"r1", "shared"} {
			k := key(p.pipeline, run, "load", 1)
			start := at(time.Duration(i) * time.Minute)
			must(t, s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: p.hash, StartedAt: start}), "start")
			must(t, s.RecordLineage(ctx, k, []metadata.Dataset{{Direction: metadata.Wrote, Namespace: "file", Name: p.table}}), "lineage")
			must(t, s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: metadata.AttemptSucceeded, ExitCode: ptr(0), EndedAt: ptr(start.Add(10 * time.Second))}), "end")
		}
	}
	for _, tt := range []struct {
		team, own, other, table string
	}{{"ads", "ads_daily", "fs_daily", "ads.clicks"}, {"features", "fs_daily", "ads_daily", "fs.users"}} {
		v := metadata.Scoped(s, []string{tt.team})
		ps, err := v.ListPipelines(ctx)
		must(t, err, "list pipelines")
		if len(ps) != 1 || ps[0].Pipeline != tt.own {
			t.Errorf("%s: pipelines = %+v, want only %s", tt.team, ps, tt.own)
		}
		runs, err := v.ListRuns(ctx, metadata.RunFilter{})
		must(t, err, "list runs")
		for _, r := range runs {
			if r.Pipeline != tt.own {
				t.Errorf("%s: ListRuns shows %s/%s", tt.team, r.Pipeline, r.RunID)
			}
		}
		if len(runs) != 2 {
			t.Errorf("%s: %d runs, want 2", tt.team, len(runs))
		}
		if runs, err := v.ListRuns(ctx, metadata.RunFilter{Team: tt.team, Teams: []string{}}); err != nil || len(runs) != 0 {
			t.Errorf("%s: an empty team list = %d runs, %v; want none", tt.team, len(runs), err)
		}
		if _, err := v.GetRun(ctx, tt.other, "r1"); !errors.Is(err, metadata.ErrNotFound) {
			t.Errorf("%s: GetRun of %s = %v, want not found", tt.team, tt.other, err)
		}
		// The run id "shared" names runs of both pipelines: scoped, it is this team's one.
		if d, err := v.GetRun(ctx, "", "shared"); err != nil || d.Pipeline != tt.own {
			t.Errorf("%s: GetRun(shared) = %+v, %v; want the run of %s", tt.team, d, err, tt.own)
		}
		if _, err := v.PipelineVersion(ctx, tt.other, map[string]string{"ads_daily": "ha", "fs_daily": "hf"}[tt.other]); !errors.Is(err, metadata.ErrNotFound) {
			t.Errorf("%s: PipelineVersion of %s = %v, want not found", tt.team, tt.other, err)
		}
		if as, err := v.NodeAttempts(ctx, tt.other, "load", 0); err != nil || len(as) != 0 {
			t.Errorf("%s: NodeAttempts of %s = %d, %v; want none", tt.team, tt.other, len(as), err)
		}
		if as, err := v.NodeAttempts(ctx, tt.own, "load", 1); err != nil || len(as) != 1 || as[0].RunID != "shared" {
			t.Errorf("%s: NodeAttempts of %s (limit 1) = %+v, %v; want the newest", tt.team, tt.own, as, err)
		}
		u, err := v.Usage(ctx, metadata.UsageQuery{By: metadata.ByTeam, Since: base})
		must(t, err, "usage")
		if len(u) != 1 || u[0].Tenant != tt.team || u[0].NodeSeconds != 20 {
			t.Errorf("%s: usage = %+v, want only %s, 20 node-seconds", tt.team, u, tt.team)
		}
		act, err := v.Activity(ctx, metadata.ActivityQuery{Since: base})
		must(t, err, "activity")
		if want := []metadata.TeamCount{{Team: tt.team, Status: "succeeded", N: 2}}; !reflect.DeepEqual(act.Attempts, want) || len(act.Running) != 1 || act.Running[0].Team != tt.team {
			t.Errorf("%s: activity = %+v, want only %s's", tt.team, act, tt.team)
		}
		es, err := v.LineageEdges(ctx, metadata.LineageQuery{Since: base})
		must(t, err, "lineage edges")
		if len(es) != 1 || es[0].Name != tt.table || es[0].Runs != 2 || es[0].Team != tt.team || es[0].Direction != metadata.Wrote {
			t.Errorf("%s: lineage edges = %+v, want %s written by 2 runs", tt.team, es, tt.table)
		}
	}
	// Unscoped (a platform admin) sees both.
	es, err := metadata.Scoped(s, nil).LineageEdges(ctx, metadata.LineageQuery{Since: base})
	must(t, err, "lineage edges")
	if len(es) != 2 {
		t.Errorf("unscoped lineage edges = %+v, want 2", es)
	}
}

// testStreamJobs: a streaming pipeline's deployment is one row, rewritten by each command with
// the lease left alone; its history is appended newest first; the lease is exclusive until
// released or expired; a scoped store shows only its teams' jobs.
func testStreamJobs(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	if j, err := s.StreamJob(ctx, "clicks"); err != nil || j != nil {
		t.Fatalf("StreamJob of an unknown pipeline = %+v, %v; want nil, nil", j, err)
	}
	ok, err := s.LeaseStream(ctx, "clicks", "pod-a", time.Minute)
	must(t, err, "lease a")
	if !ok {
		t.Fatal("the first lease was refused")
	}
	if ok, err := s.LeaseStream(ctx, "clicks", "pod-b", time.Minute); err != nil || ok {
		t.Fatalf("a second owner took a held lease: %v, %v", ok, err)
	}
	if ok, err := s.LeaseStream(ctx, "clicks", "pod-a", time.Minute); err != nil || !ok {
		t.Fatalf("the owner could not renew its lease: %v, %v", ok, err)
	}
	dep := at(time.Minute)
	must(t, s.RecordStream(ctx, metadata.StreamJob{Pipeline: "clicks", Team: "growth", IRHash: "h1", JobID: "j1", State: "RUNNING", DeployedAt: &dep, UpdatedAt: dep},
		metadata.StreamEvent{Action: metadata.StreamDeploy, At: dep, IRHash: "h1", JobID: "j1", State: "RUNNING"}), "record deploy")
	// The record left the lease to its owner.
	if ok, err := s.LeaseStream(ctx, "clicks", "pod-b", time.Minute); err != nil || ok {
		t.Fatalf("RecordStream freed the lease: %v, %v", ok, err)
	}
	stop := at(2 * time.Minute)
	must(t, s.RecordStream(ctx, metadata.StreamJob{Pipeline: "clicks", Team: "growth", IRHash: "h1", State: "STOPPED", Savepoint: "file:///sp/1", DeployedAt: &dep, StoppedAt: &stop, UpdatedAt: stop},
		metadata.StreamEvent{Action: metadata.StreamStop, At: stop, IRHash: "h1", JobID: "j1", Savepoint: "file:///sp/1", State: "STOPPED"}), "record stop")
	must(t, s.ReleaseStream(ctx, "clicks", "pod-a"), "release")
	if ok, err := s.LeaseStream(ctx, "clicks", "pod-b", time.Minute); err != nil || !ok {
		t.Fatalf("a released lease was refused: %v, %v", ok, err)
	}
	j, err := s.StreamJob(ctx, "clicks")
	must(t, err, "stream job")
	want := metadata.StreamJob{Pipeline: "clicks", Team: "growth", IRHash: "h1", State: "STOPPED", Savepoint: "file:///sp/1", DeployedAt: &dep, StoppedAt: &stop, UpdatedAt: stop}
	if j == nil || !reflect.DeepEqual(*j, want) {
		t.Errorf("StreamJob = %+v, want %+v", j, want)
	}
	evs, err := s.StreamEvents(ctx, "clicks", 0)
	must(t, err, "events")
	if len(evs) != 2 || evs[0].Action != metadata.StreamStop || evs[0].Savepoint != "file:///sp/1" || evs[1].Action != metadata.StreamDeploy || evs[1].JobID != "j1" || !evs[1].At.Equal(dep) {
		t.Errorf("events = %+v, want stop then deploy", evs)
	}
	if evs, err := s.StreamEvents(ctx, "clicks", 1); err != nil || len(evs) != 1 {
		t.Errorf("events limit 1 = %d, %v", len(evs), err)
	}
	// An expired lease is anyone's.
	if ok, err := s.LeaseStream(ctx, "ads", "pod-a", time.Microsecond); err != nil || !ok {
		t.Fatalf("lease ads: %v, %v", ok, err)
	}
	time.Sleep(2 * time.Millisecond)
	if ok, err := s.LeaseStream(ctx, "ads", "pod-b", time.Minute); err != nil || !ok {
		t.Fatalf("an expired lease was refused: %v, %v", ok, err)
	}
	must(t, s.RecordStream(ctx, metadata.StreamJob{Pipeline: "ads", Team: "ads", IRHash: "ha", JobID: "j2", State: "RUNNING"},
		metadata.StreamEvent{Action: metadata.StreamDeploy}), "record ads")
	js, err := s.ListStreamJobs(ctx)
	must(t, err, "list")
	if len(js) != 2 || js[0].Pipeline != "ads" || js[1].Pipeline != "clicks" || js[0].UpdatedAt.IsZero() {
		t.Errorf("ListStreamJobs = %+v", js)
	}
	v := metadata.Scoped(s, []string{"ads"})
	if js, err := v.ListStreamJobs(ctx); err != nil || len(js) != 1 || js[0].Pipeline != "ads" {
		t.Errorf("scoped ListStreamJobs = %+v, %v", js, err)
	}
	if j, err := v.StreamJob(ctx, "clicks"); err != nil || j != nil {
		t.Errorf("scoped StreamJob of another team = %+v, %v", j, err)
	}
	if evs, err := v.StreamEvents(ctx, "clicks", 0); err != nil || len(evs) != 0 {
		t.Errorf("scoped StreamEvents of another team = %+v, %v", evs, err)
	}
	if _, err := s.LeaseStream(ctx, "", "x", time.Minute); err == nil {
		t.Error("a lease without a pipeline was taken")
	}
}

// testStreamLeaseConcurrent: of many owners asking at once, exactly one gets the lease.
func testStreamLeaseConcurrent(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.LeaseStream(ctx, "race", fmt.Sprintf("pod-%d", i), time.Minute)
			for tries := 0; err != nil && fault.ClassOf(err) == fault.Temporary && tries < 20; tries++ {
				time.Sleep(10 * time.Millisecond) // SQLite: the database is busy
				ok, err = s.LeaseStream(ctx, "race", fmt.Sprintf("pod-%d", i), time.Minute)
			}
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d owners hold the lease, want 1", won)
	}
}
