package observability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/observability/oltest"
)

const testProducer = "https://github.com/aiflow-dev/aiflow/tree/v0.0.0-test"

// receiver is an OpenLineage HTTP endpoint that keeps what it is sent.
type receiver struct {
	mu     sync.Mutex
	paths  []string
	bodies [][]byte
	ctype  []string
	auth   []string
	fail   int // answer 503 to this many requests first
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	r.paths = append(r.paths, req.URL.Path)
	r.bodies = append(r.bodies, b)
	r.ctype = append(r.ctype, req.Header.Get("Content-Type"))
	r.auth = append(r.auth, req.Header.Get("Authorization"))
	w.WriteHeader(http.StatusCreated)
}

func (r *receiver) events() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

const (
	parentRun = "01931f1e-7a3c-7f00-8000-000000000001"
	rootRun   = "01931f1e-7a3c-7f00-8000-000000000002"
)

func lineageInfo() RunInfo {
	info := testInfo()
	info.ParentID = "airflow-prod/daily_user_feature_pipeline.enrich_orders/" + parentRun
	info.RootParentID = "airflow-prod/daily_user_feature_pipeline/" + rootRun
	return info
}

var (
	testInputs = []Dataset{{
		Namespace: "s3://lake", Name: "raw.sales_orders",
		Schema: []Field{{"user_id", "int64"}, {"amount", "double"}}, Rows: 1200, Bytes: 40960,
	}}
	testOutputs = []Dataset{{
		Namespace: "file", Name: "/staging/daily_user_feature_pipeline/enrich_orders",
		Schema: []Field{{"user_id", "int64"}, {"order_cnt_30d", "int64"}}, Rows: 300, Bytes: 8192,
		Checks: []Check{
			{Name: "unique(user_id)", Kind: "unique", Severity: "error", Column: "user_id", Passed: true, Observed: new(float64), Expected: "0"},
			{Name: "no_negative", Kind: "rows_where", Severity: "warn", Passed: false, Observed: &twoRows, Expected: "0", Content: "amount < 0"},
		},
	}}
	twoRows = 2.0
)

func TestLineageHTTPEventsMatchSchema(t *testing.T) {
	v := oltest.New(t)
	recv := &receiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	e, err := NewEmitter(srv.URL, testProducer, nil)
	if err != nil {
		t.Fatal(err)
	}
	info := lineageInfo()
	ctx := context.Background()
	e.Start(ctx, info, testInputs)
	e.Complete(ctx, info, testInputs, testOutputs)
	info.Try = 2
	e.Start(ctx, info, testInputs)
	e.Fail(ctx, info, fault.Dataf("check row_count > 0 failed"), fault.Data.String(), testOutputs...)
	if e.Errors() != 0 {
		t.Fatalf("Errors() = %d", e.Errors())
	}
	evs := recv.events()
	if len(evs) != 4 {
		t.Fatalf("received %d events, want 4", len(evs))
	}
	for i, p := range recv.paths {
		if p != "/api/v1/lineage" || recv.ctype[i] != "application/json" {
			t.Errorf("event %d: path %q content type %q, want /api/v1/lineage application/json", i, p, recv.ctype[i])
		}
	}
	var parsed []map[string]any
	for _, b := range evs {
		parsed = append(parsed, v.Validate(t, b))
	}
	start, complete, start2, fail := parsed[0], parsed[1], parsed[2], parsed[3]
	for i, want := range []string{"START", "COMPLETE", "START", "FAIL"} {
		if parsed[i]["eventType"] != want {
			t.Errorf("event %d: eventType %v, want %s", i, parsed[i]["eventType"], want)
		}
	}
	runID := func(ev map[string]any) any { return ev["run"].(map[string]any)["runId"] }
	if runID(start) != runID(complete) || runID(start2) != runID(fail) {
		t.Error("START and its COMPLETE/FAIL do not share a runId")
	}
	if runID(start) == runID(start2) {
		t.Error("two tries share a runId")
	}
	job := complete["job"].(map[string]any)
	if job["namespace"] != "aiflow" || job["name"] != "daily_user_feature_pipeline.enrich_orders" {
		t.Errorf("job = %v/%v", job["namespace"], job["name"])
	}
	facets := complete["run"].(map[string]any)["facets"].(map[string]any)
	parent := facets["parent"].(map[string]any)
	if parent["run"].(map[string]any)["runId"] != parentRun ||
		parent["job"].(map[string]any)["name"] != "daily_user_feature_pipeline.enrich_orders" ||
		parent["job"].(map[string]any)["namespace"] != "airflow-prod" ||
		parent["root"].(map[string]any)["run"].(map[string]any)["runId"] != rootRun {
		t.Errorf("parent facet = %v", parent)
	}
	if facets["nominalTime"].(map[string]any)["nominalStartTime"] != "2026-03-01T03:00:00Z" {
		t.Errorf("nominalTime = %v", facets["nominalTime"])
	}
	if own := job["facets"].(map[string]any)["ownership"]; !strings.Contains(mustJSON(t, own), `"team:feature-platform"`) {
		t.Errorf("ownership = %v", own)
	}
	out := complete["outputs"].([]any)[0].(map[string]any)
	stats := out["outputFacets"].(map[string]any)["outputStatistics"].(map[string]any)
	if stats["rowCount"] != json.Number("300") || stats["size"] != json.Number("8192") {
		t.Errorf("outputStatistics = %v", stats)
	}
	if got := mustJSON(t, out["facets"].(map[string]any)["schema"]); !strings.Contains(got, `"order_cnt_30d"`) {
		t.Errorf("output schema facet = %s", got)
	}
	dq := mustJSON(t, out["facets"].(map[string]any)["dataQualityAssertions"])
	for _, want := range []string{`"assertion":"unique"`, `"column":"user_id"`, `"success":true`, `"actual":"2"`, `"content":"amount \u003c 0"`, `"contentType":"expression"`, `"severity":"warn"`} {
		if !strings.Contains(dq, want) {
			t.Errorf("dataQualityAssertions facet lacks %s: %s", want, dq)
		}
	}
	if len(start["outputs"].([]any)) != 0 || len(start["inputs"].([]any)) != 1 {
		t.Errorf("START inputs/outputs = %v / %v", start["inputs"], start["outputs"])
	}
	failOut := fail["outputs"].([]any)[0].(map[string]any)
	if _, ok := failOut["facets"].(map[string]any)["dataQualityAssertions"]; !ok || failOut["outputFacets"] != nil {
		t.Errorf("FAIL output = %v, want the assertions and no statistics", failOut)
	}
	em := fail["run"].(map[string]any)["facets"].(map[string]any)["errorMessage"].(map[string]any)
	if em["message"] != "data: check row_count > 0 failed" || em["programmingLanguage"] != "GO" {
		t.Errorf("errorMessage = %v", em)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLineageHTTPPathAndRetry(t *testing.T) {
	recv := &receiver{fail: 1}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	e, err := NewEmitter(srv.URL+"/custom/lineage", testProducer, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), lineageInfo(), nil)
	e.Flush(context.Background())
	if e.Errors() != 0 || len(recv.events()) != 1 || recv.paths[0] != "/custom/lineage" {
		t.Fatalf("after one 503: errors %d, events %d, paths %v; want the retry delivered to /custom/lineage",
			e.Errors(), len(recv.events()), recv.paths)
	}
	recv.fail = 2 // both attempts fail
	e.Complete(context.Background(), lineageInfo(), nil, nil)
	if e.Errors() != 1 {
		t.Fatalf("Errors() = %d after a lost event, want 1", e.Errors())
	}
}

// TestLineageAPIKey: OPENLINEAGE_API_KEY is a bearer token, as in the OpenLineage clients.
func TestLineageAPIKey(t *testing.T) {
	recv := &receiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	e, err := NewEmitter(srv.URL, testProducer, nil, WithAPIKey("k3y"))
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), lineageInfo(), nil)
	e.Flush(context.Background())
	if len(recv.auth) != 1 || recv.auth[0] != "Bearer k3y" || recv.paths[0] != "/api/v1/lineage" {
		t.Errorf("Authorization %q, path %v", recv.auth, recv.paths)
	}
}

func TestLineageFileTransport(t *testing.T) {
	v := oltest.New(t)
	path := filepath.Join(t.TempDir(), "sub", "events.ndjson")
	e, err := NewEmitter("file://"+filepath.ToSlash(path), testProducer, nil)
	if err != nil {
		t.Fatal(err)
	}
	info := lineageInfo()
	info.ParentID, info.RootParentID, info.LogicalDate = "", "", time.Time{}
	e.Start(context.Background(), info, testInputs)
	e.Complete(context.Background(), info, testInputs, testOutputs)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var types []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		ev := v.Validate(t, sc.Bytes())
		types = append(types, ev["eventType"].(string))
		if _, ok := ev["run"].(map[string]any)["facets"].(map[string]any)["parent"]; ok {
			t.Error("parent facet without OPENLINEAGE_PARENT_ID")
		}
	}
	if strings.Join(types, ",") != "START,COMPLETE" {
		t.Fatalf("file holds %v, want START,COMPLETE", types)
	}
}

func TestLineageBackendDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	var logs bytes.Buffer
	log := NewLogger(&logs, "json", "info", testInfo(), nil)
	e, err := NewEmitter("http://"+addr, testProducer, log)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(testInfo())
	m.WatchLineage(e)
	begin := time.Now()
	e.Start(context.Background(), lineageInfo(), testInputs)
	e.Fail(context.Background(), lineageInfo(), errors.New("boom"), "internal")
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("two events to a closed port took %s", d)
	}
	if e.Errors() != 2 {
		t.Errorf("Errors() = %d, want 2", e.Errors())
	}
	if got := counterValue(t, m.Gatherer(), "aiflow_lineage_errors_total", nil); got != 2 {
		t.Errorf("aiflow_lineage_errors_total = %v, want 2", got)
	}
	if n := strings.Count(logs.String(), "openlineage event not delivered"); n != 2 {
		t.Errorf("%d warnings logged, want 2:\n%s", n, logs.String())
	}
}

// TestLineageSlowBackendNeverHoldsTheNode: a backend that accepts and does not answer holds no
// node: START returns while its post hangs (the attempt timeout is a minute, so a START that
// waited would hang the test), events beyond the queue are dropped and counted, not held, the
// run's last event waits no longer than its context, and once the backend answers everything
// queued is delivered in order.
func TestLineageSlowBackendNeverHoldsTheNode(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	var mu sync.Mutex
	var types []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ EventType string }
		_ = json.NewDecoder(r.Body).Decode(&ev)
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		mu.Lock()
		types = append(types, ev.EventType)
		mu.Unlock()
	}))
	defer srv.Close()
	unblock := sync.OnceFunc(func() { close(release) })
	defer unblock() // before srv.Close, which waits for the handlers
	var logs bytes.Buffer
	e, err := NewEmitter(srv.URL, testProducer, NewLogger(&logs, "json", "info", testInfo(), nil), WithTimeout(time.Minute))
	defer func() { t.Log(logs.String()) }()
	if err != nil {
		t.Fatal(err)
	}
	info := lineageInfo()
	e.Start(context.Background(), info, nil)
	<-arrived // START hangs in the backend, and Start has returned
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the node's bookkeeping budget is spent: COMPLETE waits no longer
	e.Complete(ctx, info, nil, nil)
	// The node stopped waiting: its START and COMPLETE are counted as lost (a pod exits next).
	if e.Errors() != 2 || !strings.Contains(logs.String(), `"queued":2`) {
		t.Fatalf("Errors() = %d after the node gave up on START and COMPLETE, want 2 (logged with queued 2):\n%s", e.Errors(), logs.String())
	}
	for range LineageQueue - 1 {
		e.Start(context.Background(), info, nil) // fills the queue
	}
	if e.Errors() != 2 {
		t.Fatalf("Errors() = %d with the queue just full, want 2", e.Errors())
	}
	e.Start(context.Background(), info, nil)
	if e.Errors() != 3 {
		t.Fatalf("Errors() = %d after an event beyond the queue, want 3 (one dropped)", e.Errors())
	}
	unblock() // nothing of the above waited for the backend
	e.Flush(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if len(types) != LineageQueue+1 || types[0] != "START" || types[1] != "COMPLETE" || types[2] != "START" {
		t.Errorf("delivered %v, want %d in order: START, COMPLETE, the queued STARTs", types, LineageQueue+1)
	}
	// START and COMPLETE arrived late in this process: logged, not counted twice.
	if e.Errors() != 3 || strings.Count(logs.String(), "delivered after its node counted it as lost") != 2 {
		t.Errorf("Errors() = %d, want 3; two late deliveries logged", e.Errors())
	}
}

// TestLineageQueuedAtExitCounted: a backend that accepts and never answers, one node of a pod:
// its last event waits one attempt's timeout, then START and COMPLETE, still queued as the pod
// exits, are counted in aiflow_lineage_errors_total (the node's last push carries them) and
// logged; a delivery that fails after that does not count them again.
func TestLineageQueuedAtExitCounted(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	defer close(release)  // before srv.Close, which waits for the handlers
	var logs lockedBuffer // the sender logs its failed posts while the test reads
	e, err := NewEmitter(srv.URL, testProducer, NewLogger(&logs, "json", "info", testInfo(), nil), WithTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(testInfo())
	m.WatchLineage(e)
	info := lineageInfo()
	e.Start(context.Background(), info, nil)
	e.Complete(context.Background(), info, nil, nil)
	if e.Errors() != 2 {
		t.Errorf("Errors() = %d as the node ends with START and COMPLETE undelivered, want 2", e.Errors())
	}
	if got := counterValue(t, m.Gatherer(), "aiflow_lineage_errors_total", nil); got != 2 {
		t.Errorf("aiflow_lineage_errors_total = %v, want 2", got)
	}
	if !strings.Contains(logs.String(), "not delivered as the node ends") || !strings.Contains(logs.String(), `"queued":2`) {
		t.Errorf("log lacks the count of events given up:\n%s", logs.String())
	}
	e.Flush(context.Background()) // both posts time out and fail now: already counted
	if e.Errors() != 2 {
		t.Errorf("Errors() = %d after their deliveries failed, want 2 (not counted twice)", e.Errors())
	}
}

func TestLineageDisabledAndBadURL(t *testing.T) {
	e, err := NewEmitter("", testProducer, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), lineageInfo(), nil) // no-op
	var nilEmitter *Emitter
	nilEmitter.Complete(context.Background(), lineageInfo(), nil, nil)
	for _, u := range []string{"kafka://broker:9092/topic", "http://", "file://"} {
		if _, err := NewEmitter(u, testProducer, nil); err == nil {
			t.Errorf("NewEmitter(%q): no error", u)
		}
	}
}

func TestLineageSecretRedacted(t *testing.T) {
	const secret = `pw"s3cr3t\value`
	r := NewRedactor()
	r.Add(secret)
	recv := &receiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	e, err := NewEmitter(srv.URL, testProducer, nil, WithRedactor(r))
	if err != nil {
		t.Fatal(err)
	}
	ds := []Dataset{{Namespace: "postgres://db:5432", Name: "public.t_" + secret}}
	e.Start(context.Background(), lineageInfo(), ds)
	e.Fail(context.Background(), lineageInfo(), errors.New("connect with password "+secret+": refused"), "temporary")
	for _, b := range recv.events() {
		if !json.Valid(b) {
			t.Fatalf("event is not JSON: %s", b)
		}
		var ev map[string]any
		_ = json.Unmarshal(b, &ev)
		if s := mustJSON(t, ev); strings.Contains(s, "s3cr3t") || strings.Contains(string(b), "s3cr3t") {
			t.Errorf("secret in lineage event: %s", b)
		}
	}
	if len(recv.events()) != 2 {
		t.Fatalf("%d events", len(recv.events()))
	}
}

func TestParseParentID(t *testing.T) {
	for _, c := range []struct {
		in       string
		ns, name string
		ok       bool
	}{
		{"default/dag.task/" + parentRun, "default", "dag.task", true},
		{"ns/with/slash/dag.task/" + parentRun, "ns/with/slash", "dag.task", true},
		{"default/dag.task/not-a-uuid", "", "", false},
		{"dag.task/" + parentRun, "", "", false},
		{"/dag.task/" + parentRun, "", "", false},
		{"default//" + parentRun, "", "", false},
		{"", "", "", false},
	} {
		ns, name, run, ok := ParseParentID(c.in)
		if ok != c.ok || ns != c.ns || name != c.name || (ok && run != parentRun) {
			t.Errorf("ParseParentID(%q) = %q %q %q %v", c.in, ns, name, run, ok)
		}
	}
}

func TestLineageMalformedParentWarnsOnce(t *testing.T) {
	v := oltest.New(t)
	recv := &receiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	var logs bytes.Buffer
	e, _ := NewEmitter(srv.URL, testProducer, NewLogger(&logs, "json", "info", testInfo(), nil))
	info := lineageInfo()
	info.ParentID = "garbage"
	e.Start(context.Background(), info, nil)
	e.Complete(context.Background(), info, nil, nil)
	if n := strings.Count(logs.String(), "OPENLINEAGE_PARENT_ID"); n != 1 {
		t.Errorf("%d warnings about the parent, want 1:\n%s", n, logs.String())
	}
	for _, b := range recv.events() {
		v.Validate(t, b)
	}
}

func TestFillParents(t *testing.T) {
	env := map[string]string{
		"OPENLINEAGE_NAMESPACE":      "airflow-prod",
		"OPENLINEAGE_PARENT_ID":      "airflow-prod/dag.task/" + parentRun,
		"OPENLINEAGE_ROOT_PARENT_ID": "airflow-prod/dag/" + rootRun,
	}
	var info RunInfo
	info.FillParents(" "+env["OPENLINEAGE_NAMESPACE"], env["OPENLINEAGE_PARENT_ID"], env["OPENLINEAGE_ROOT_PARENT_ID"])
	if info.JobNamespace != "airflow-prod" || info.ParentID != env["OPENLINEAGE_PARENT_ID"] || info.RootParentID != env["OPENLINEAGE_ROOT_PARENT_ID"] {
		t.Errorf("FillParents: %+v", info)
	}
	if (RunInfo{}).namespace() != DefaultJobNamespace {
		t.Error("default namespace")
	}
}

// lockedBuffer is a bytes.Buffer written and read from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
