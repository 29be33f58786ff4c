package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/ui"
	"github.com/aiflow-dev/aiflow/plugin"
)

// teamStore records one pipeline with one run for each team.
func teamStore(t *testing.T, teams ...string) metadata.Store {
	t.Helper()
	ctx := context.Background()
	s, err := metadata.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, team := range teams {
		p := "p_" + team
		ir := fmt.Sprintf(`{"api_version":"aiflow/v1","id":%q,"owner":"o","extra":{"team":%q},"nodes":{"n":{"id":"n","type":"source","params":{"kind":"files","path":"x/"}}},"edges":[]}`, p, team)
		if err := s.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: p, IRHash: "h_" + team, IR: json.RawMessage(ir),
			Tenancy: metadata.Tenancy{Team: team}}); err != nil {
			t.Fatal(err)
		}
		k := metadata.AttemptKey{Pipeline: p, RunID: "r1", Node: "n", Try: 1}
		if err := s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: "h_" + team}); err != nil {
			t.Fatal(err)
		}
		zero := 0
		if err := s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: metadata.AttemptSucceeded, ExitCode: &zero, EndedAt: ptr(time.Now())}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func ptr[T any](v T) *T { return &v }

type req struct {
	method, path, remote, host string
	header                     map[string]string
	body                       string
}

func do(s http.Handler, r req) *httptest.ResponseRecorder {
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr := httptest.NewRequest(r.method, "http://x"+r.path, strings.NewReader(r.body))
	hr.RemoteAddr = r.remote
	hr.Host = r.host
	if hr.Host == "" {
		hr.Host = "127.0.0.1:8080"
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, hr)
	return w
}

func pipelineIDs(t *testing.T, w *httptest.ResponseRecorder) []string {
	t.Helper()
	var ps []struct{ Pipeline string }
	if err := json.Unmarshal(w.Body.Bytes(), &ps); err != nil {
		t.Fatalf("pipelines: %v\n%s", err, w.Body)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.Pipeline)
	}
	slices.Sort(ids)
	return ids
}

// TestLoopbackOnly: without a proxy the UI answers loopback clients that name it by a loopback
// host (no DNS rebinding), and refuses to listen beyond loopback.
func TestLoopbackOnly(t *testing.T) {
	s, err := ui.New(ui.Config{Store: teamStore(t, "ads"), Registry: plugin.Default})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, remote, host string
		want               int
	}{
		{"loopback", "127.0.0.1:5000", "127.0.0.1:8080", 200},
		{"localhost", "[::1]:5000", "localhost:8080", 200},
		{"another machine", "192.0.2.7:5000", "127.0.0.1:8080", 403},
		{"rebound domain", "127.0.0.1:5000", "evil.example:8080", 403},
		{"forged proxy headers change nothing", "192.0.2.7:5000", "127.0.0.1:8080", 403},
	} {
		w := do(s, req{path: "/api/pipelines", remote: tt.remote, host: tt.host, header: map[string]string{"X-Forwarded-User": "admin"}})
		if w.Code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, w.Code, w.Body, tt.want)
		}
	}
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:8080", "[::]:8080"} {
		if err := ui.Serve(context.Background(), addr, ui.Config{Store: teamStore(t), Registry: plugin.Default}, nil); fault.ClassOf(err) != fault.Config {
			t.Errorf("Serve on %s without authentication: %v, want a configuration error", addr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- ui.Serve(ctx, "127.0.0.1:0", ui.Config{Store: teamStore(t), Registry: plugin.Default}, func(net.Addr) {})
	}()
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve on loopback: %v", err)
	}
}

// TestProxyTeams: behind the authenticating proxy each user sees only their teams' pipelines,
// runs and usage; a platform admin sees all; the same headers from any other address are refused.
func TestProxyTeams(t *testing.T) {
	s, err := ui.New(ui.Config{Store: teamStore(t, "ads", "growth"), Registry: plugin.Default,
		Auth: ui.Auth{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}, AdminTeams: []string{"platform"}}})
	if err != nil {
		t.Fatal(err)
	}
	as := func(user, teams string) map[string]string {
		return map[string]string{"X-Forwarded-User": user, "X-Forwarded-Groups": teams}
	}
	const proxy = "10.0.0.5:40000"
	for _, tt := range []struct {
		user, teams string
		want        []string
	}{
		{"alice", "ads", []string{"p_ads"}},
		{"bob", "growth, other", []string{"p_growth"}},
		{"carol", "platform", []string{"p_ads", "p_growth"}},
		{"dave", "", nil},
	} {
		w := do(s, req{path: "/api/pipelines", remote: proxy, host: "ui.example", header: as(tt.user, tt.teams)})
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", tt.user, w.Code, w.Body)
		}
		if got := pipelineIDs(t, w); !slices.Equal(got, tt.want) {
			t.Errorf("%s (%s) sees %v, want %v", tt.user, tt.teams, got, tt.want)
		}
		var runs []struct{ Pipeline string }
		w = do(s, req{path: "/api/runs", remote: proxy, host: "ui.example", header: as(tt.user, tt.teams)})
		if err := json.Unmarshal(w.Body.Bytes(), &runs); err != nil {
			t.Fatal(err)
		}
		if len(runs) != len(tt.want) {
			t.Errorf("%s sees %d runs, want %d", tt.user, len(runs), len(tt.want))
		}
		w = do(s, req{path: "/api/usage?by=team", remote: proxy, host: "ui.example", header: as(tt.user, tt.teams)})
		var u struct{ Rows []struct{ Tenant string } }
		if err := json.Unmarshal(w.Body.Bytes(), &u); err != nil {
			t.Fatal(err)
		}
		if len(u.Rows) != len(tt.want) {
			t.Errorf("%s sees usage %+v, want %d teams", tt.user, u.Rows, len(tt.want))
		}
	}
	for _, tt := range []struct {
		name, path, remote string
		header             map[string]string
		want               int
	}{
		{"another team's run", "/api/runs/p_growth/r1", proxy, as("alice", "ads"), 404},
		{"another team's graph", "/api/pipelines/p_growth", proxy, as("alice", "ads"), 404},
		{"another team's attempts", "/api/pipelines/p_growth/nodes/n/attempts", proxy, as("alice", "ads"), 200},
		{"own run", "/api/runs/p_ads/r1", proxy, as("alice", "ads"), 200},
		{"forged header, not from the proxy", "/api/pipelines", "10.0.0.6:40000", as("carol", "platform"), 403},
		{"forged header from loopback", "/api/pipelines", "127.0.0.1:40000", as("carol", "platform"), 403},
		{"proxy names no user", "/api/pipelines", proxy, nil, 401},
	} {
		w := do(s, req{path: tt.path, remote: tt.remote, host: "ui.example", header: tt.header})
		if w.Code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, w.Code, w.Body, tt.want)
		}
		if tt.name == "another team's attempts" && strings.TrimSpace(w.Body.String()) != "[]" {
			t.Errorf("%s: %s, want none", tt.name, w.Body)
		}
	}
}

// TestWritesNeedCSRFToken: every POST needs the token of /api/me, JSON, and this origin; a user
// saves only their own team's pipelines, inside the specs folder.
func TestWritesNeedCSRFToken(t *testing.T) {
	specs := t.TempDir()
	s, err := ui.New(ui.Config{Store: teamStore(t, "ads"), Registry: plugin.Default, SpecsDir: specs,
		Auth: ui.Auth{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	alice := map[string]string{"X-Forwarded-User": "alice", "X-Forwarded-Groups": "ads"}
	w := do(s, req{path: "/api/me", remote: "10.0.0.1:1", host: "ui.example", header: alice})
	var me struct{ CSRF string }
	if err := json.Unmarshal(w.Body.Bytes(), &me); err != nil || len(me.CSRF) < 32 {
		t.Fatalf("/api/me: %v %s", err, w.Body)
	}
	draft := func(team string) string {
		return fmt.Sprintf(`{"pipeline":{"id":"two","team":%q,"env":"dev","owner":"alice"},"nodes":[
			{"id":"src","role":"source","kind":"files","with":{"path":"in/","format":"parquet"}},
			{"id":"out","role":"sink","kind":"files","inputs":["src"],"with":{"path":"out/"}}]}`, team)
	}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{"X-Forwarded-User": "alice", "X-Forwarded-Groups": "ads", "Content-Type": "application/json", "X-CSRF-Token": me.CSRF}
		for k, v := range extra {
			if v == "" {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}
	for _, tt := range []struct {
		name, path string
		header     map[string]string
		body       string
		want       int
	}{
		{"no token", "/api/check", with(map[string]string{"X-CSRF-Token": ""}), draft("ads"), 403},
		{"wrong token", "/api/check", with(map[string]string{"X-CSRF-Token": strings.Repeat("0", 64)}), draft("ads"), 403},
		{"another origin", "/api/check", with(map[string]string{"Origin": "https://evil.example"}), draft("ads"), 403},
		{"a form post", "/api/check", with(map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), draft("ads"), 415},
		{"checked", "/api/check", with(map[string]string{"Origin": "http://ui.example"}), draft("ads"), 200},
		{"save another team's pipeline", "/api/specs/two.yaml", with(nil), draft("growth"), 403},
		{"save outside the folder", "/api/specs/..%2Ftwo.yaml", with(nil), draft("ads"), 400},
		{"save without a token", "/api/specs/two.yaml", with(map[string]string{"X-CSRF-Token": ""}), draft("ads"), 403},
		{"save", "/api/specs/two.yaml", with(nil), draft("ads"), 200},
	} {
		w := do(s, req{method: http.MethodPost, path: tt.path, remote: "10.0.0.1:1", host: "ui.example", header: tt.header, body: tt.body})
		if w.Code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, w.Code, w.Body, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(specs, "two.yaml")); err != nil {
		t.Errorf("the saved spec: %v", err)
	}
	if ents, _ := os.ReadDir(specs); len(ents) != 1 {
		t.Errorf("the specs folder holds %v, want only two.yaml (no temporary file, nothing from ../)", ents)
	}
}

// TestPagesAreInert: every answer carries the headers that keep injected markup from running,
// and data is served as JSON, never as HTML.
func TestPagesAreInert(t *testing.T) {
	s, err := ui.New(ui.Config{Store: teamStore(t, "<script>alert(1)</script>"), Registry: plugin.Default})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/api/pipelines", "/assets/app.js", "/api/nope"} {
		w := do(s, req{path: path, remote: "127.0.0.1:1"})
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: CSP %q, nosniff %q", path, csp, w.Header().Get("X-Content-Type-Options"))
		}
		if strings.HasPrefix(path, "/api/") && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%s: Content-Type %q, want JSON", path, w.Header().Get("Content-Type"))
		}
	}
	w := do(s, req{path: "/", remote: "127.0.0.1:1"})
	if strings.Contains(w.Body.String(), "<script>") || strings.Contains(w.Body.String(), "<style") {
		t.Errorf("index.html has inline script or style:\n%s", w.Body)
	}
}

// TestNoSecretValues: a secret value never reaches the browser: a param under a credential's
// name that is not a reference, or a password in a URL, is "(redacted)" in the graph and in a
// spec opened for editing; references are shown as they are.
func TestNoSecretValues(t *testing.T) {
	ctx := context.Background()
	st := teamStore(t)
	ir := `{"api_version":"aiflow/v1","id":"leaky","owner":"o","extra":{"team":"ads"},"nodes":{"n":{"id":"n","type":"source","params":{"kind":"files","path":"s3://bob:hunter2@host/x/","password":"hunter2","options":{"api_key":"hunter2"},"token":{"secret":"kafka-creds/token"}}}},"edges":[]}`
	if err := st.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: "leaky", IRHash: "hl", IR: json.RawMessage(ir), Tenancy: metadata.Tenancy{Team: "ads"}}); err != nil {
		t.Fatal(err)
	}
	specs := t.TempDir()
	if err := os.WriteFile(filepath.Join(specs, "leaky.yaml"), []byte(`api_version: aiflow/v1
pipeline: {id: leaky, team: ads, env: dev}
nodes:
  - id: n
    source: kafka
    with: {topic: t, sasl_password: hunter2, dsn: "postgres://u:hunter2@h/db"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ui.New(ui.Config{Store: st, Registry: plugin.Default, SpecsDir: specs})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/pipelines/leaky", "/api/specs/leaky.yaml"} {
		w := do(s, req{path: path, remote: "127.0.0.1:1"})
		if w.Code != 200 || strings.Contains(w.Body.String(), "hunter2") || !strings.Contains(w.Body.String(), "(redacted)") {
			t.Errorf("%s: %d\n%s", path, w.Code, w.Body)
		}
		if path == "/api/pipelines/leaky" && !strings.Contains(w.Body.String(), "kafka-creds/token") {
			t.Errorf("%s: the secret reference is not shown:\n%s", path, w.Body)
		}
	}
}

// TestStreamJobs: /api/streams lists the streaming jobs of the user's teams, each with whether it
// runs its pipeline's latest version; a pipeline's page carries its job and latest events, or
// none for another team's pipeline or one never deployed.
func TestStreamJobs(t *testing.T) {
	st := teamStore(t, "ads", "growth", "web")
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// p_ads' job runs its latest IR; p_growth's runs an older one (recorded before the pipeline's
	// latest version); p_web has none.
	for _, j := range []metadata.StreamJob{
		{Pipeline: "p_ads", Team: "ads", IRHash: "h_ads", JobID: "j_ads", State: "RUNNING", CheckedAt: &at},
		{Pipeline: "p_growth", Team: "growth", IRHash: "h_old", State: "STOPPED", Savepoint: "file:///sp/1", StoppedAt: &at},
	} {
		for i, a := range []string{metadata.StreamDeploy, metadata.StreamHealth} {
			if err := st.RecordStream(ctx, j, metadata.StreamEvent{Pipeline: j.Pipeline, At: at.Add(time.Duration(i) * time.Second), Action: a, IRHash: j.IRHash, JobID: j.JobID, State: j.State}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// p_ads' lake sink "out" is loaded by the batch pipeline p_ads__load_out (one run).
	load := `{"api_version":"aiflow/v1","id":"p_ads__load_out","owner":"o","extra":{"team":"ads"},"nodes":{"n":{"id":"n","type":"source","params":{"kind":"files","path":"x/"}}},"edges":[]}`
	if err := st.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: "p_ads__load_out", IRHash: "h_load", IR: json.RawMessage(load), Tenancy: metadata.Tenancy{Team: "ads"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.StartAttempt(ctx, metadata.Attempt{AttemptKey: metadata.AttemptKey{Pipeline: "p_ads__load_out", RunID: "load_r1", Node: "n", Try: 1}, IRHash: "h_load"}); err != nil {
		t.Fatal(err)
	}
	s, err := ui.New(ui.Config{Store: st, Registry: plugin.Default,
		Auth: ui.Auth{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}, AdminTeams: []string{"platform"}}})
	if err != nil {
		t.Fatal(err)
	}
	as := func(teams string) map[string]string {
		return map[string]string{"X-Forwarded-User": "u", "X-Forwarded-Groups": teams}
	}
	get := func(path, teams string, v any) int {
		t.Helper()
		w := do(s, req{path: path, remote: "10.0.0.5:40000", host: "ui.example", header: as(teams)})
		if w.Code == 200 {
			if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
				t.Fatalf("%s: %v\n%s", path, err, w.Body)
			}
		}
		return w.Code
	}
	for _, tt := range []struct {
		teams string
		want  []string
	}{
		{"ads", []string{"p_ads"}},
		{"growth,web", []string{"p_growth"}},
		{"web", nil},
		{"platform", []string{"p_ads", "p_growth"}},
	} {
		var rows []struct {
			Pipeline     string `json:"pipeline"`
			State        string `json:"state"`
			IRHash       string `json:"ir_hash"`
			LatestIRHash string `json:"latest_ir_hash"`
			Behind       bool   `json:"behind"`
			LastEvent    *struct {
				Action string `json:"action"`
			} `json:"last_event"`
		}
		if code := get("/api/streams", tt.teams, &rows); code != 200 {
			t.Fatalf("%s: /api/streams %d", tt.teams, code)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Pipeline)
			wantBehind := r.Pipeline == "p_growth"
			if r.Behind != wantBehind || r.LatestIRHash != "h_"+strings.TrimPrefix(r.Pipeline, "p_") {
				t.Errorf("%s: %s behind %v (runs %s, latest %s), want %v", tt.teams, r.Pipeline, r.Behind, r.IRHash, r.LatestIRHash, wantBehind)
			}
			if r.LastEvent == nil || r.LastEvent.Action != metadata.StreamHealth {
				t.Errorf("%s: %s last event %+v, want the health check", tt.teams, r.Pipeline, r.LastEvent)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s sees stream jobs %v, want %v", tt.teams, got, tt.want)
		}
	}

	type page struct {
		Mode   string `json:"mode"`
		Stream *struct {
			Job    struct{ State, Savepoint string }
			Behind bool `json:"behind"`
			Events []struct {
				Action string `json:"action"`
			} `json:"events"`
			Loads []struct {
				Pipeline string `json:"pipeline"`
				LastRun  *struct {
					RunID string `json:"run_id"`
				} `json:"last_run"`
			} `json:"loads"`
		} `json:"stream"`
	}
	var pg page
	if code := get("/api/pipelines/p_growth", "growth", &pg); code != 200 || pg.Stream == nil {
		t.Fatalf("p_growth page: %d %+v", code, pg)
	}
	if pg.Mode != "batch" || pg.Stream.Job.State != "STOPPED" || pg.Stream.Job.Savepoint != "file:///sp/1" || !pg.Stream.Behind ||
		len(pg.Stream.Events) != 2 || pg.Stream.Events[0].Action != metadata.StreamHealth {
		t.Errorf("p_growth page: %+v", pg.Stream)
	}
	if len(pg.Stream.Loads) != 0 {
		t.Errorf("p_growth has no lake sink, loads %+v", pg.Stream.Loads)
	}
	pg = page{}
	if code := get("/api/pipelines/p_ads", "ads", &pg); code != 200 || pg.Stream == nil || len(pg.Stream.Loads) != 1 ||
		pg.Stream.Loads[0].Pipeline != "p_ads__load_out" || pg.Stream.Loads[0].LastRun == nil || pg.Stream.Loads[0].LastRun.RunID != "load_r1" {
		t.Errorf("p_ads page: %d, loads %+v, want p_ads__load_out with its run load_r1", code, pg.Stream)
	}
	pg = page{}
	if code := get("/api/pipelines/p_web", "web", &pg); code != 200 || pg.Stream != nil {
		t.Errorf("p_web (never deployed): %d stream %+v, want none", code, pg.Stream)
	}
	if code := get("/api/pipelines/p_growth", "ads", &pg); code != 404 {
		t.Errorf("another team's streaming pipeline: %d, want 404", code)
	}
	var ps []struct {
		Pipeline    string `json:"pipeline"`
		StreamState string `json:"stream_state"`
	}
	if code := get("/api/pipelines", "platform", &ps); code != 200 {
		t.Fatalf("pipelines: %d", code)
	}
	for _, p := range ps {
		want := map[string]string{"p_ads": "RUNNING", "p_growth": "STOPPED"}[p.Pipeline]
		if p.StreamState != want {
			t.Errorf("pipelines: %s stream state %q, want %q", p.Pipeline, p.StreamState, want)
		}
	}
}

// TestUnknownRun: a run id the store does not hold for the user answers 404 with what was
// probably meant, as the CLI suggests it, and the latest runs of that pipeline; another team's
// runs are never suggested or listed.
func TestUnknownRun(t *testing.T) {
	s, err := ui.New(ui.Config{Store: teamStore(t, "ads", "growth"), Registry: plugin.Default,
		Auth: ui.Auth{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}}})
	if err != nil {
		t.Fatal(err)
	}
	type suggestion struct{ Pipeline, RunID, Text string }
	for _, tt := range []struct {
		name, path, team string
		wantErr          string
		want             suggestion
		recentOf         string
		recent           int
	}{
		{"misspelt run id", "/api/runs/p_ads/r2", "ads", `run r2 of pipeline p_ads is not recorded (did you mean "r1"?)`,
			suggestion{"p_ads", "r1", ` (did you mean "r1"?)`}, "p_ads", 1},
		{"a run of another pipeline", "/api/runs/p_add/r1", "ads", "run r1 of pipeline p_add is not recorded (r1 is a run of pipeline p_ads, not of p_add)",
			suggestion{"p_ads", "r1", " (r1 is a run of pipeline p_ads, not of p_add)"}, "p_ads", 1},
		{"a pipeline with no runs", "/api/runs/p_adz/zzzzzzzz", "ads", `(pipeline p_adz has no runs; did you mean pipeline "p_ads"?)`,
			suggestion{"p_ads", "", ` (pipeline p_adz has no runs; did you mean pipeline "p_ads"?)`}, "p_ads", 1},
		{"another team's run", "/api/runs/p_growth/r2", "ads", "run r2 of pipeline p_growth is not recorded (pipeline p_growth has no runs",
			suggestion{}, "p_growth", 0},
	} {
		w := do(s, req{path: tt.path, remote: "10.0.0.5:40000", host: "ui.example",
			header: map[string]string{"X-Forwarded-User": "alice", "X-Forwarded-Groups": tt.team}})
		if w.Code != http.StatusNotFound {
			t.Errorf("%s: %d %s, want 404", tt.name, w.Code, w.Body)
			continue
		}
		var got struct {
			Error      string
			UnknownRun struct {
				Pipeline   string
				RunID      string `json:"run_id"`
				Suggestion struct {
					Pipeline string
					RunID    string `json:"run_id"`
					Text     string
				}
				RecentOf string `json:"recent_of"`
				Recent   []struct{ Pipeline string }
			} `json:"unknown_run"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v\n%s", tt.name, err, w.Body)
		}
		if !strings.Contains(got.Error, tt.wantErr) {
			t.Errorf("%s: error %q, want it to contain %q", tt.name, got.Error, tt.wantErr)
		}
		sg := got.UnknownRun.Suggestion
		if (suggestion{sg.Pipeline, sg.RunID, sg.Text}) != tt.want && !(tt.want == suggestion{} && sg.RunID == "" && sg.Pipeline == "") {
			t.Errorf("%s: suggestion %+v, want %+v", tt.name, sg, tt.want)
		}
		if got.UnknownRun.RecentOf != tt.recentOf || len(got.UnknownRun.Recent) != tt.recent {
			t.Errorf("%s: recent runs of %s: %+v, want %d of %s", tt.name, got.UnknownRun.RecentOf, got.UnknownRun.Recent, tt.recent, tt.recentOf)
		}
		for _, r := range got.UnknownRun.Recent {
			if r.Pipeline != "p_ads" {
				t.Errorf("%s: lists a run of %s to a user of team ads", tt.name, r.Pipeline)
			}
		}
	}
}
