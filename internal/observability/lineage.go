package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// OpenLineage schema versions of what the Emitter writes (the files under
// oltest/testdata/openlineage/ that the tests validate against).
const (
	olSchemaURL        = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
	facetParent        = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
	facetNominalTime   = "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet"
	facetErrorMessage  = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
	facetEngine        = "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet"
	facetJobType       = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
	facetOwnership     = "https://openlineage.io/spec/facets/1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet"
	facetSchema        = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
	facetDataSource    = "https://openlineage.io/spec/facets/1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet"
	facetOutputStats   = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"
	facetAssertions    = "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet"
	facetInputStats    = "https://openlineage.io/spec/facets/1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet"
	marquezLineagePath = "/api/v1/lineage"
)

// LineageTimeout bounds one HTTP attempt; an event is tried twice at most.
const LineageTimeout = 2 * time.Second

// LineageQueue is how many events an Emitter holds for delivery over HTTP. Events are posted in
// order by one goroutine, so a node never waits for START; the run's last event (COMPLETE, FAIL,
// ABORT) waits until it is delivered, at most LineageTimeout (or the node's bookkeeping budget,
// if shorter), after which it and what is queued before it are given up with the pod: counted as
// not delivered and logged with their number (giveUp). An event that finds the queue full (a
// backend slower than the events of a `run --all` come) is dropped, counted and logged: the
// metadata store, written independently, keeps the run's lineage either way.
const LineageQueue = 256

// runIDSpace is the UUID namespace of aiflow's OpenLineage run ids.
var runIDSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/aiflow-dev/aiflow/openlineage/run"))

// Dataset is an input or output of a node run, named the OpenLineage way: Namespace is where it
// lives (s3://bucket, postgres://host:5432, kafka://broker:9092, file), Name what it is within
// (raw.sales_orders, a path, a topic).
type Dataset struct {
	Namespace, Name string
	Schema          []Field
	// Rows and Bytes read (inputs) or written (outputs); sent on Complete.
	Rows, Bytes int64
	// Checks are the data-quality assertions run on an output before it was committed: the
	// dataQualityAssertions facet.
	Checks []Check
}

// Field is a column of a dataset schema.
type Field struct{ Name, Type string }

// LineageRunID is the OpenLineage runId of the node run: a UUID (v5) derived from job namespace,
// pipeline, run_id, node and try, so START and COMPLETE/FAIL agree and each try is its own run.
func (r RunInfo) LineageRunID() string {
	name := strings.Join([]string{r.namespace(), r.Pipeline, r.RunID, r.Node, fmt.Sprint(r.Try)}, "\x00")
	return uuid.NewSHA1(runIDSpace, []byte(name)).String()
}

// LineageJobName is the OpenLineage job name of the node: "<pipeline>.<node>".
func (r RunInfo) LineageJobName() string { return r.Pipeline + "." + r.Node }

// Emitter sends a node run's OpenLineage RunEvents. A nil *Emitter does nothing. Delivery errors
// are logged and counted (Errors, and aiflow_lineage_errors_total through Metrics.WatchLineage),
// never returned: a lineage backend that is down never fails a node.
type Emitter struct {
	producer string
	version  string
	log      *slog.Logger
	redact   *Redactor
	timeout  time.Duration
	apiKey   string // OPENLINEAGE_API_KEY, sent as a bearer token
	target   string // the URL for messages, credentials removed
	send     func(ctx context.Context, body []byte) error
	now      func() time.Time

	errs  atomic.Int64
	queue chan queuedEvent // to the sender goroutine (HTTP only), started with the first event
	// seqMu numbers the queued events in queue order (seq: the last one queued), and keeps
	// finished (the last one the sender is done with) and givenUp (the last one a node stopped
	// waiting for, counted as not delivered with those before it) consistent between the sender
	// and a node that gives up, so that no event is counted twice.
	seqMu      sync.Mutex
	seq        int64
	finished   int64
	givenUp    int64
	sender     sync.Once
	onError    func()
	warnedOnce sync.Once
	fileMu     sync.Mutex
	httpClient *http.Client
	postURL    string
	appendPath string
}

// EmitterOption configures NewEmitter.
type EmitterOption func(*Emitter)

// WithRedactor masks secret values in every event (error messages, names, everything).
func WithRedactor(r *Redactor) EmitterOption { return func(e *Emitter) { e.redact = r } }

// WithAPIKey sends key as "Authorization: Bearer key" (OPENLINEAGE_API_KEY), as the OpenLineage
// clients' HTTP transport does.
func WithAPIKey(key string) EmitterOption { return func(e *Emitter) { e.apiKey = key } }

// WithTimeout sets the time one HTTP attempt may take (LineageTimeout by default).
func WithTimeout(d time.Duration) EmitterOption { return func(e *Emitter) { e.timeout = d } }

// WithVersion sets the processing_engine facet's version (the runner's build version by default).
func WithVersion(v string) EmitterOption { return func(e *Emitter) { e.version = v } }

// NewEmitter returns the Emitter for AIFLOW_OPENLINEAGE_URL:
//   - "" sends nothing;
//   - http(s)://host[:port][/path] POSTs each event as JSON to path, or to /api/v1/lineage
//     (Marquez) when the URL has no path;
//   - file:///path/events.ndjson appends one event per line.
//
// producer is the URI identifying the runner (a repository URL with the version). The error is
// for a URL of another form: a configuration error, which the caller may treat as such; the
// Emitter returned with it is nil, which does nothing.
func NewEmitter(rawURL, producer string, logger *slog.Logger, opts ...EmitterOption) (*Emitter, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Emitter{producer: producer, log: logger, timeout: LineageTimeout, now: time.Now, version: buildVersion()}
	for _, o := range opts {
		o(e)
	}
	rawURL = strings.TrimSpace(rawURL)
	if rawURL == "" {
		return e, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("AIFLOW_OPENLINEAGE_URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("AIFLOW_OPENLINEAGE_URL %q: no host", u.Redacted())
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = marquezLineagePath
		}
		e.postURL = u.String()
		e.target = u.Redacted()
		e.httpClient = &http.Client{Timeout: e.timeout}
		e.send = e.post
	case "file":
		p := u.Path
		if u.Host != "" && u.Host != "localhost" {
			p = u.Host + u.Path // file://relative/path.ndjson
		}
		if p == "" {
			return nil, fmt.Errorf("AIFLOW_OPENLINEAGE_URL %q: no path", rawURL)
		}
		e.appendPath = filepath.FromSlash(p)
		e.target = "file://" + p
		e.send = e.appendLine
	default:
		return nil, fmt.Errorf("AIFLOW_OPENLINEAGE_URL %q: want http://, https:// or file://", u.Redacted())
	}
	return e, nil
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

// Errors is the number of events that could not be delivered.
func (e *Emitter) Errors() int64 {
	if e == nil {
		return 0
	}
	return e.errs.Load()
}

type loggerKey struct{}

// ContextWithLogger returns ctx carrying log: an Emitter logs what happens to the events sent
// with that ctx (delivery failures, a malformed parent) there rather than on the logger it was
// made with, so that with one Emitter for a whole `run --all` those lines still carry the node
// run's identity (the logger of NewLogger for that run).
func ContextWithLogger(ctx context.Context, log *slog.Logger) context.Context {
	if log == nil {
		return ctx
	}
	return context.WithValue(ctx, loggerKey{}, log)
}

func (e *Emitter) logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return e.log
}

// Start sends the START event of the node run with the datasets it reads.
func (e *Emitter) Start(ctx context.Context, info RunInfo, inputs []Dataset) {
	e.emit(ctx, "START", info, inputs, nil, false, "")
}

// Complete sends the COMPLETE event with the datasets read and written and their statistics.
func (e *Emitter) Complete(ctx context.Context, info RunInfo, inputs, outputs []Dataset) {
	e.emit(ctx, "COMPLETE", info, inputs, outputs, true, "")
}

// Fail sends the FAIL event with the error (redacted) and its class (fault.Class.String()).
// outputs, when given, are the datasets the run would have written, carrying the
// dataQualityAssertions that stopped it (no statistics: nothing was written).
func (e *Emitter) Fail(ctx context.Context, info RunInfo, err error, class string, outputs ...Dataset) {
	e.emit(ctx, "FAIL", info, nil, outputs, false, errorText(err, class))
}

// Abort sends the ABORT event of a run that was stopped (SIGTERM, deadline) rather than failed.
func (e *Emitter) Abort(ctx context.Context, info RunInfo, err error) {
	e.emit(ctx, "ABORT", info, nil, nil, false, errorText(err, ""))
}

func errorText(err error, class string) string {
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	if class != "" {
		msg = class + ": " + msg
	}
	return msg
}

func (e *Emitter) emit(ctx context.Context, eventType string, info RunInfo, inputs, outputs []Dataset, stats bool, errMsg string) {
	if e == nil || e.send == nil {
		return
	}
	body, err := json.Marshal(e.event(ctx, eventType, info, inputs, outputs, stats, errMsg))
	if err == nil && e.redact != nil {
		body = []byte(e.redact.Redact(string(body)))
		if !json.Valid(body) {
			err = fmt.Errorf("redacting secrets broke the event's JSON; not sent")
		}
	}
	if err != nil {
		e.failed(ctx, eventType, err, e.onError)
		return
	}
	// onError is read here, on the caller's goroutine (WatchLineage's), so a late delivery error
	// counts for the node run that sent the event.
	ev := queuedEvent{ctx: ctx, eventType: eventType, runID: info.LineageRunID(), body: body, onError: e.onError}
	if e.postURL == "" { // a file: local, written in place
		e.deliver(ev)
		return
	}
	done := e.enqueue(ev)
	if done == nil || eventType == "START" {
		return
	}
	// The run's last event: the pod may exit next, so wait for it (and the events before it), as
	// long as one attempt may take: a backend that does not answer costs the node that, once.
	wait := time.NewTimer(e.timeout)
	defer wait.Stop()
	select {
	case <-done:
	case <-wait.C:
		e.giveUp(ctx, ev.eventType, ev.onError)
	case <-ctx.Done():
		e.giveUp(ctx, ev.eventType, ev.onError)
	}
}

// giveUp is a node's last event that was not delivered in time: the node ends (a pod exits
// next, taking the queue with it), so that event and those still queued before it are counted as
// not delivered (Errors, aiflow_lineage_errors_total: in the node's last metrics push) and
// logged with their number. The sender still delivers them while the process lives (a `run
// --all` goes on); one that fails then is not counted again, one that arrives is logged.
func (e *Emitter) giveUp(ctx context.Context, eventType string, onError func()) {
	e.seqMu.Lock()
	last := e.seq
	lost := last - max(e.finished, e.givenUp)
	e.givenUp = max(e.givenUp, last)
	e.seqMu.Unlock()
	if lost <= 0 {
		return
	}
	e.errs.Add(lost)
	if onError != nil {
		for range lost {
			onError()
		}
	}
	e.logger(ctx).Warn("openlineage events not delivered as the node ends: counted as lost (gone if the process exits now)",
		"event", eventType, "queued", lost, "target", e.target)
}

// queuedEvent is an event waiting for the sender; a nil body is Flush's marker.
type queuedEvent struct {
	ctx       context.Context // the emitter's caller's values (its logger); never its cancellation
	eventType string
	runID     string
	body      []byte
	seq       int64         // its place in the queue (seqMu); 0 for Flush's marker
	done      chan struct{} // closed once delivered or given up
	onError   func()
}

// enqueue hands ev to the sender and returns the channel closed once it is delivered, or nil
// when the queue is full and ev was dropped.
func (e *Emitter) enqueue(ev queuedEvent) chan struct{} {
	e.startSender()
	ev.ctx = context.WithoutCancel(ev.ctx)
	ev.done = make(chan struct{})
	e.seqMu.Lock()
	ev.seq = e.seq + 1
	select {
	case e.queue <- ev:
		e.seq = ev.seq
		e.seqMu.Unlock()
		return ev.done
	default:
		e.seqMu.Unlock()
		e.failed(ev.ctx, ev.eventType, fmt.Errorf("%d events already waiting for %s: dropped", LineageQueue, e.target), ev.onError)
		return nil
	}
}

func (e *Emitter) startSender() {
	e.sender.Do(func() {
		e.queue = make(chan queuedEvent, LineageQueue)
		go func() {
			for ev := range e.queue {
				if ev.body != nil {
					e.deliverQueued(ev)
				}
				close(ev.done)
			}
		}()
	})
}

// Flush waits until every event emitted so far is delivered or given up, or ctx is done.
func (e *Emitter) Flush(ctx context.Context) {
	if e == nil || e.postURL == "" {
		return
	}
	e.startSender()
	done := make(chan struct{})
	select {
	case e.queue <- queuedEvent{done: done}:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// deliverQueued delivers a queued event; one its node gave up on (giveUp) is not counted again.
func (e *Emitter) deliverQueued(ev queuedEvent) {
	err := e.send(ev.ctx, ev.body)
	e.seqMu.Lock()
	e.finished = ev.seq
	counted := ev.seq <= e.givenUp
	e.seqMu.Unlock()
	switch {
	case err == nil && counted:
		e.logger(ev.ctx).Info("openlineage event delivered after its node counted it as lost", "event", ev.eventType, "target", e.target, "lineage_run_id", ev.runID)
	case err == nil:
		e.logger(ev.ctx).Debug("openlineage event sent", "event", ev.eventType, "target", e.target, "lineage_run_id", ev.runID)
	case counted:
		e.logger(ev.ctx).Warn("openlineage event not delivered (already counted as lost)", "event", ev.eventType, "target", e.target, "err", err)
	default:
		e.failed(ev.ctx, ev.eventType, err, ev.onError)
	}
}

func (e *Emitter) deliver(ev queuedEvent) {
	if err := e.send(ev.ctx, ev.body); err != nil {
		e.failed(ev.ctx, ev.eventType, err, ev.onError)
		return
	}
	e.logger(ev.ctx).Debug("openlineage event sent", "event", ev.eventType, "target", e.target, "lineage_run_id", ev.runID)
}

func (e *Emitter) failed(ctx context.Context, eventType string, err error, onError func()) {
	e.errs.Add(1)
	if onError != nil {
		onError()
	}
	e.logger(ctx).Warn("openlineage event not delivered", "event", eventType, "target", e.target, "err", err)
}

// post sends body, with one retry after a network error, a 5xx or a 429.
func (e *Emitter) post(ctx context.Context, body []byte) error {
	var err error
	for attempt := range 2 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("post to %s: %w (after: %v)", e.target, ctx.Err(), err)
			case <-time.After(100 * time.Millisecond):
			}
		}
		var retry bool
		retry, err = e.postOnce(ctx, body)
		if err == nil || !retry {
			return err
		}
	}
	return err
}

func (e *Emitter) postOnce(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.postURL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if e.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.apiKey)
	}
	resp, err := e.httpClient.Do(req)
	if err != nil {
		return true, fmt.Errorf("post to %s: %w", e.target, stripURL(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	return retry, fmt.Errorf("post to %s: %s: %s", e.target, resp.Status, strings.TrimSpace(string(msg)))
}

// stripURL drops the request URL (which may carry credentials) from a *url.Error.
func stripURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func (e *Emitter) appendLine(_ context.Context, body []byte) error {
	e.fileMu.Lock()
	defer e.fileMu.Unlock()
	if dir := filepath.Dir(e.appendPath); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(e.appendPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	// One write per event: appends of a line are not interleaved with other writers' lines.
	_, werr := f.Write(append(body, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// The OpenLineage RunEvent, as much of it as aiflow writes.
type (
	olEvent struct {
		EventType string     `json:"eventType"`
		EventTime string     `json:"eventTime"`
		Producer  string     `json:"producer"`
		SchemaURL string     `json:"schemaURL"`
		Run       olRun      `json:"run"`
		Job       olJob      `json:"job"`
		Inputs    []olInput  `json:"inputs"`
		Outputs   []olOutput `json:"outputs"`
	}
	olRun struct {
		RunID  string         `json:"runId"`
		Facets map[string]any `json:"facets,omitempty"`
	}
	olJob struct {
		Namespace string         `json:"namespace"`
		Name      string         `json:"name"`
		Facets    map[string]any `json:"facets,omitempty"`
	}
	olInput struct {
		Namespace   string         `json:"namespace"`
		Name        string         `json:"name"`
		Facets      map[string]any `json:"facets,omitempty"`
		InputFacets map[string]any `json:"inputFacets,omitempty"`
	}
	olOutput struct {
		Namespace    string         `json:"namespace"`
		Name         string         `json:"name"`
		Facets       map[string]any `json:"facets,omitempty"`
		OutputFacets map[string]any `json:"outputFacets,omitempty"`
	}
	olFacet struct {
		Producer  string `json:"_producer"`
		SchemaURL string `json:"_schemaURL"`
	}
	olRunRef struct {
		RunID string `json:"runId"`
	}
	olJobRef struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	}
	olRoot struct {
		Run olRunRef `json:"run"`
		Job olJobRef `json:"job"`
	}
	olParentFacet struct {
		olFacet
		Run  olRunRef `json:"run"`
		Job  olJobRef `json:"job"`
		Root *olRoot  `json:"root,omitempty"`
	}
	olNominalTimeFacet struct {
		olFacet
		NominalStartTime string `json:"nominalStartTime"`
	}
	olErrorFacet struct {
		olFacet
		Message             string `json:"message"`
		ProgrammingLanguage string `json:"programmingLanguage"`
	}
	olEngineFacet struct {
		olFacet
		Version string `json:"version"`
		Name    string `json:"name"`
	}
	olJobTypeFacet struct {
		olFacet
		ProcessingType string `json:"processingType"`
		Integration    string `json:"integration"`
		JobType        string `json:"jobType"`
	}
	olOwner struct {
		Name string `json:"name"`
		Type string `json:"type,omitempty"`
	}
	olOwnershipFacet struct {
		olFacet
		Owners []olOwner `json:"owners"`
	}
	olField struct {
		Name string `json:"name"`
		Type string `json:"type,omitempty"`
	}
	olSchemaFacet struct {
		olFacet
		Fields []olField `json:"fields"`
	}
	olAssertionsFacet struct {
		olFacet
		Assertions []olAssertion `json:"assertions"`
	}
	olAssertion struct {
		Assertion   string `json:"assertion"`
		Success     bool   `json:"success"`
		Column      string `json:"column,omitempty"`
		Severity    string `json:"severity,omitempty"`
		Name        string `json:"name,omitempty"`
		Expected    string `json:"expected,omitempty"`
		Actual      string `json:"actual,omitempty"`
		Content     string `json:"content,omitempty"`
		ContentType string `json:"contentType,omitempty"`
	}
	olDataSourceFacet struct {
		olFacet
		Name string `json:"name"`
		URI  string `json:"uri,omitempty"`
	}
	olStatsFacet struct {
		olFacet
		RowCount int64 `json:"rowCount"`
		Size     int64 `json:"size"`
	}
)

func (e *Emitter) facet(schemaURL string) olFacet {
	return olFacet{Producer: e.producer, SchemaURL: schemaURL}
}

func (e *Emitter) event(ctx context.Context, eventType string, info RunInfo, inputs, outputs []Dataset, stats bool, errMsg string) olEvent {
	ev := olEvent{
		EventType: eventType,
		EventTime: e.now().UTC().Format(time.RFC3339Nano),
		Producer:  e.producer,
		SchemaURL: olSchemaURL,
		Run:       olRun{RunID: info.LineageRunID(), Facets: map[string]any{}},
		Job:       olJob{Namespace: info.namespace(), Name: info.LineageJobName(), Facets: map[string]any{}},
		Inputs:    []olInput{},
		Outputs:   []olOutput{},
	}
	ev.Run.Facets["processing_engine"] = olEngineFacet{olFacet: e.facet(facetEngine), Name: "aiflow", Version: e.version}
	if p := e.parentFacet(ctx, info); p != nil {
		ev.Run.Facets["parent"] = p
	}
	if !info.LogicalDate.IsZero() {
		ev.Run.Facets["nominalTime"] = olNominalTimeFacet{olFacet: e.facet(facetNominalTime),
			NominalStartTime: info.LogicalDate.UTC().Format(time.RFC3339Nano)}
	}
	if errMsg != "" {
		ev.Run.Facets["errorMessage"] = olErrorFacet{olFacet: e.facet(facetErrorMessage),
			Message: e.redact.Redact(errMsg), ProgrammingLanguage: "GO"}
	}
	ev.Job.Facets["jobType"] = olJobTypeFacet{olFacet: e.facet(facetJobType),
		ProcessingType: "BATCH", Integration: "AIFLOW", JobType: "NODE"}
	if info.Team != "" {
		ev.Job.Facets["ownership"] = olOwnershipFacet{olFacet: e.facet(facetOwnership),
			Owners: []olOwner{{Name: "team:" + info.Team, Type: "MAINTAINER"}}}
	}
	for _, d := range inputs {
		in := olInput{Namespace: d.Namespace, Name: d.Name, Facets: e.datasetFacets(d)}
		if stats && (d.Rows > 0 || d.Bytes > 0) {
			in.InputFacets = map[string]any{"inputStatistics": olStatsFacet{olFacet: e.facet(facetInputStats), RowCount: d.Rows, Size: d.Bytes}}
		}
		ev.Inputs = append(ev.Inputs, in)
	}
	for _, d := range outputs {
		out := olOutput{Namespace: d.Namespace, Name: d.Name, Facets: e.datasetFacets(d)}
		if stats {
			out.OutputFacets = map[string]any{"outputStatistics": olStatsFacet{olFacet: e.facet(facetOutputStats), RowCount: d.Rows, Size: d.Bytes}}
		}
		ev.Outputs = append(ev.Outputs, out)
	}
	return ev
}

func (e *Emitter) datasetFacets(d Dataset) map[string]any {
	f := map[string]any{}
	if len(d.Schema) > 0 {
		fields := make([]olField, len(d.Schema))
		for i, c := range d.Schema {
			fields[i] = olField{Name: c.Name, Type: c.Type}
		}
		f["schema"] = olSchemaFacet{olFacet: e.facet(facetSchema), Fields: fields}
	}
	if len(d.Checks) > 0 {
		as := make([]olAssertion, len(d.Checks))
		for i, c := range d.Checks {
			as[i] = olAssertion{Assertion: c.Kind, Success: c.Passed, Column: c.Column, Severity: c.Severity, Name: c.Name, Expected: c.Expected, Content: c.Content}
			if c.Observed != nil {
				as[i].Actual = strconv.FormatFloat(*c.Observed, 'g', -1, 64)
			}
			if c.Content != "" {
				as[i].ContentType = "expression"
			}
		}
		f["dataQualityAssertions"] = olAssertionsFacet{olFacet: e.facet(facetAssertions), Assertions: as}
	}
	ds := olDataSourceFacet{olFacet: e.facet(facetDataSource), Name: d.Namespace}
	if u, err := url.Parse(d.Namespace); err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "" || u.Path != "") {
		ds.URI = d.Namespace
	}
	f["dataSource"] = ds
	return f
}

// parentFacet is the Airflow task that runs the node (OPENLINEAGE_PARENT_ID) and the DAG run at
// the root (OPENLINEAGE_ROOT_PARENT_ID); nil without a usable parent.
func (e *Emitter) parentFacet(ctx context.Context, info RunInfo) *olParentFacet {
	if info.ParentID == "" {
		return nil
	}
	ns, name, runID, ok := ParseParentID(info.ParentID)
	if !ok {
		e.warnedOnce.Do(func() {
			e.logger(ctx).Warn("OPENLINEAGE_PARENT_ID is not namespace/job_name/run_id with a UUID run id; events have no parent",
				"value", info.ParentID)
		})
		return nil
	}
	p := &olParentFacet{olFacet: e.facet(facetParent), Run: olRunRef{RunID: runID}, Job: olJobRef{Namespace: ns, Name: name}}
	if info.RootParentID != "" {
		if rns, rname, rrun, ok := ParseParentID(info.RootParentID); ok {
			p.Root = &olRoot{Run: olRunRef{RunID: rrun}, Job: olJobRef{Namespace: rns, Name: rname}}
		}
	}
	return p
}

// ParseParentID splits "namespace/job_name/run_id" (Airflow's lineage_parent_id macro). The
// namespace may itself contain slashes; the run id must be a UUID.
func ParseParentID(s string) (namespace, jobName, runID string, ok bool) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return "", "", "", false
	}
	runID, rest := s[i+1:], s[:i]
	j := strings.LastIndexByte(rest, '/')
	if j <= 0 || j == len(rest)-1 {
		return "", "", "", false
	}
	namespace, jobName = rest[:j], rest[j+1:]
	if _, err := uuid.Parse(runID); err != nil || len(runID) != 36 {
		return "", "", "", false
	}
	return namespace, jobName, runID, true
}
