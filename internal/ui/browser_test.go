package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/internal/ui"
	"github.com/aiflow-dev/aiflow/plugin"
)

// demo is a workspace filled the way `make demo` fills one: the quickstart example run end to
// end (on 20,000 generated orders instead of 1M), plus a pipeline whose param holds markup.
type demo struct {
	t     *testing.T
	dir   string
	env   map[string]string
	store metadata.Store
}

func (d *demo) cli(args ...string) string {
	d.t.Helper()
	var out, errb bytes.Buffer
	code := cli.RunWith(&cli.Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Registry: plugin.Default, Lookup: func(k string) (string, bool) { v, ok := d.env[k]; return v, ok }}, args)
	if code != 0 {
		d.t.Fatalf("aiflow-runner %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// xssParam is a param value that would run if the UI ever put data into the page as markup.
const xssParam = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`

func newDemo(t *testing.T) *demo {
	dir := t.TempDir()
	spec, err := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart", "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The quickstart's paths are relative to the working folder, as in `make demo`.
	t.Chdir(dir)
	d := &demo{t: t, dir: dir, env: map[string]string{"AIFLOW_HOME": ".aiflow", "AIFLOW_LOG_LEVEL": "warn", "AIFLOW_LOG_FORMAT": "text"}}
	write(t, filepath.Join(dir, "examples", "quickstart", "pipeline.yaml"), string(spec))
	d.cli("demo-data", "--out", ".aiflow/demo/orders", "--rows", "20000", "--users", "2000")
	d.cli("run", "--pipeline", "quickstart_user_orders", "--all", "--ir", "examples/quickstart", "--run-id", "demo__20260101T000000Z")
	write(t, filepath.Join(dir, "hostile", "p.yaml"), `api_version: aiflow/v1
pipeline: {id: hostile_params, owner: "<b>mallory</b>", team: demo, env: dev}
nodes:
  - id: src
    source: files
    with: {path: '`+strings.ReplaceAll(xssParam, "'", "''")+`', format: parquet}
  - id: out
    sink: files
    inputs: [src]
    with: {path: out/, format: parquet}
`)
	d.cli("pipelines", "record", "hostile")
	d.store, err = metadata.Open(context.Background(), "sqlite://"+filepath.Join(dir, ".aiflow", "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.store.Close() })
	return d
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// browser starts Debian's chromium, headless, and returns a tab's context.
func browser(t *testing.T) context.Context {
	chromium := testenv.Command(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1400, 900),
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx (no timeout)
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// step runs one action with a deadline: a page that never shows what the step waits for fails
// the test with the step's name instead of hanging it. The deadline is generous (2 cores shared
// by many processes); it bounds a failure, it does not measure speed.
func step[T any](t *testing.T, ctx context.Context, name string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("main") ? document.getElementById("main").innerText : document.body.innerText`))
		t.Fatalf("%s: %v\npage text:\n%s", name, err, html)
	}
	return v
}

// waitFor waits until the JavaScript predicate is true.
func waitFor(t *testing.T, ctx context.Context, name, predicate string) {
	t.Helper()
	// An element the predicate reads may not be there yet (a page being drawn): false, not an error.
	step(t, ctx, name, chromedp.Poll[bool]("(() => { try { return !!("+predicate+") } catch (e) { return false } })()",
		chromedp.WithPollingInterval(50*time.Millisecond)))
}

// goTo changes the page's hash route (a same-document navigation: no load event to wait for).
func goTo(t *testing.T, ctx context.Context, hash string) {
	t.Helper()
	step(t, ctx, "go to "+hash, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, hash)))
}

// shoot saves a screenshot of the page for docs/ui.md when AIFLOW_UI_SCREENSHOTS names a folder.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("AIFLOW_UI_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := step(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserWalk drives a real headless Chromium through the UI: the pipelines of a store filled
// like `make demo`, the quickstart's graph and its run, a node's attempts, then authoring a
// two-node pipeline that is saved and accepted by `aiflow-runner validate` with the same ir_hash.
// Markup in a param and an owner stays text.
func TestBrowserWalk(t *testing.T) {
	ctx := browser(t)
	d := newDemo(t)
	specs := filepath.Join(d.dir, "specs")
	if err := os.MkdirAll(specs, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := ui.New(ui.Config{Store: d.store, Registry: plugin.Default, SpecsDir: specs})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()

	// Pipelines.
	step(t, ctx, "open the UI", chromedp.Navigate(srv.URL+"/#/pipelines"))
	waitFor(t, ctx, "the quickstart is listed with its run",
		`[...document.querySelectorAll("a.pipeline-link")].some(a => a.textContent === "quickstart_user_orders") && document.body.innerText.includes("succeeded")`)
	shoot(t, ctx, "pipelines")

	// The graph, and a node's params, resources and attempts.
	step(t, ctx, "open the quickstart", chromedp.Click(chromedp.CSS(`a.pipeline-link[href="#/p/quickstart_user_orders"]`)))
	waitFor(t, ctx, "the graph shows the quickstart's four nodes",
		`["orders","paid_orders_by_user","user_order_stats","user_order_stats_lake"].every(id => document.querySelector('g.node[data-node="' + id + '"]'))`)
	step(t, ctx, "click a node", chromedp.Click(chromedp.CSS(`g.node[data-node="paid_orders_by_user"]`)))
	waitFor(t, ctx, "the node's attempts are shown",
		`(() => { const a = document.getElementById("node-attempts"); return a && a.querySelector("table") && a.innerText.includes("succeeded") && a.innerText.includes("demo__20260101T000000Z") })()`)
	if txt := step(t, ctx, "node params", chromedp.Evaluate[string](`document.getElementById("node-panel").innerText`)); !strings.Contains(txt, "group_by") {
		t.Errorf("the node panel does not show the transform's steps:\n%s", txt)
	}
	shoot(t, ctx, "graph")

	// The run: attempts with rows and bytes, pins, commits, replay commands.
	step(t, ctx, "open the run", chromedp.Click(chromedp.CSS(`#node-attempts a.run-link`)))
	waitFor(t, ctx, "the run page shows every node's attempt and how to replay it",
		`(() => { const t = document.getElementById("run-attempts"); const r = document.getElementById("replay");
		  return t && r && ["orders","paid_orders_by_user","user_order_stats","user_order_stats_lake"].every(n => t.innerText.includes(n))
		    && r.innerText.includes("aiflow-runner replay --pipeline quickstart_user_orders --run-id demo__20260101T000000Z --node user_order_stats") })()`)
	shoot(t, ctx, "run")

	// A misspelt run id (a character lost when copied): a page saying the run is not recorded,
	// the run meant as the CLI suggests it, and the pipeline's latest runs; the link opens it.
	goTo(t, ctx, "#/run/quickstart_user_orders/demo__20260101T00000Z")
	waitFor(t, ctx, "the unknown run's page suggests the run meant", `document.getElementById("main").dataset.ready === "run" && (() => {
	  const u = document.getElementById("unknown-run"), s = document.getElementById("run-suggestion"), r = document.getElementById("recent-runs");
	  return u && s && r && u.textContent.includes("run demo__20260101T00000Z of pipeline quickstart_user_orders is not recorded")
	    && s.querySelector("a.run-link").textContent === "demo__20260101T000000Z" && r.innerText.includes("demo__20260101T000000Z") })()`)
	step(t, ctx, "follow the suggestion", chromedp.Click(chromedp.CSS(`#run-suggestion a.run-link`)))
	waitFor(t, ctx, "the suggested run opens", `(() => { const r = document.getElementById("run-id"); return r && r.textContent === "demo__20260101T000000Z" && document.getElementById("run-attempts") })()`)

	for _, p := range []struct{ hash, ready, want string }{
		{"#/runs", "runs", "demo__20260101T000000Z"},
		{"#/lineage", "lineage", "user_order_stats"},
		{"#/usage", "usage", "demo"},
	} {
		goTo(t, ctx, p.hash)
		waitFor(t, ctx, p.hash+" shows "+p.want, fmt.Sprintf(`document.getElementById("main").dataset.ready === %q && document.getElementById("main").innerText.includes(%q)`, p.ready, p.want))
		shoot(t, ctx, p.ready)
	}

	// A streaming pipeline: its job as the stream commands recorded it, listed on the streams
	// page and shown on the pipeline's page with its savepoint and events.
	jobID := recordStream(t, d)
	goTo(t, ctx, "#/streams")
	waitFor(t, ctx, "the streams page lists the job", fmt.Sprintf(`document.getElementById("main").dataset.ready === "streams" &&
	  (() => { const s = document.getElementById("streams"); return s && s.innerText.includes("paid_clicks_stream") && s.innerText.includes(%q) && s.innerText.includes("RUNNING") })()`, jobID))
	shoot(t, ctx, "streams")
	step(t, ctx, "open the streaming pipeline", chromedp.Click(chromedp.CSS(`#streams a.pipeline-link[href="#/p/paid_clicks_stream"]`)))
	waitFor(t, ctx, "the pipeline page shows its job", fmt.Sprintf(`(() => { const j = document.getElementById("stream-job"); const e = document.getElementById("stream-events");
	  return j && e && document.getElementById("stream-job-id").textContent === %q && document.getElementById("stream-savepoint").textContent === %q
	    && ["deploy", "upgrade", "stop", "health"].every(a => e.innerText.includes(a)) && j.innerText.includes("RUNNING") && !document.getElementById("stream-behind")
	    && document.getElementById("stream-loads").innerText.includes("paid_clicks_stream__load_lake") && document.getElementById("stream-loads").innerText.includes("load__1") })()`, jobID, streamSavepoint))
	shoot(t, ctx, "stream")
	if v := step(t, ctx, "event message is text", chromedp.Evaluate[string](`String(window.__xss) + " " + document.querySelectorAll("#main img, #main script").length + " " + document.getElementById("stream-events").innerText.includes("<img")`)); v != "undefined 0 true" {
		t.Errorf("a stream event's markup became elements or ran (or is not shown): __xss, injected elements, shown = %s", v)
	}
	goTo(t, ctx, "#/pipelines")
	waitFor(t, ctx, "the pipelines page shows the mode and the job's state", `(() => { const a = [...document.querySelectorAll("a.pipeline-link")].find(a => a.textContent === "paid_clicks_stream");
	  return a && a.closest("tr").innerText.includes("streaming") && a.closest("tr").querySelector(".job-state").textContent === "RUNNING" })()`)

	// Markup from the store is text: the hostile pipeline's owner and param.
	goTo(t, ctx, "#/p/hostile_params")
	waitFor(t, ctx, "hostile graph", `!!document.querySelector('g.node[data-node="src"]')`)
	step(t, ctx, "click the hostile node", chromedp.Click(chromedp.CSS(`g.node[data-node="src"]`)))
	waitFor(t, ctx, "hostile params shown as text", `document.getElementById("node-panel").innerText.includes("<script>window.__xss=2</script>")`)
	goTo(t, ctx, "#/pipelines")
	waitFor(t, ctx, "hostile owner shown as text", `document.getElementById("main").innerText.includes("<b>mallory</b>")`)
	if v := step(t, ctx, "no injected script ran", chromedp.Evaluate[string](`String(window.__xss) + " " + document.querySelectorAll("#main img, #main script, #main b").length`)); v != "undefined 0" {
		t.Errorf("markup from the store became elements or ran: __xss, injected elements = %s", v)
	}

	// Authoring: a source and a sink, connected, saved, validated.
	goTo(t, ctx, "#/author")
	waitFor(t, ctx, "the authoring form", `!!document.getElementById("add-node") && document.getElementById("main").dataset.ready === "author"`)
	setSelect := func(id, v string) {
		step(t, ctx, "choose "+id+" "+v, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
			`(() => { const s = document.getElementById(%q); s.value = %q; s.dispatchEvent(new Event("change")); })()`, id, v)))
	}
	for _, f := range [][2]string{{"p-id", "two_nodes"}, {"p-team", "demo"}, {"p-project", "ui"}} {
		step(t, ctx, "type "+f[0], chromedp.SendKeys(chromedp.CSS("#"+f[0]), f[1]))
	}
	setSelect("add-role", "source")
	setSelect("add-kind", "files")
	step(t, ctx, "add the source", chromedp.Click(chromedp.CSS("#add-node")))
	waitFor(t, ctx, "the source's form", `!!document.querySelector('.node-card[data-node="source_1"] input[data-field="path"]')`)
	// A required field left empty is flagged as it is typed.
	waitFor(t, ctx, "required path flagged", `document.querySelector('.node-card[data-node="source_1"] input[data-field="path"]').classList.contains("invalid")`)
	step(t, ctx, "type the source path", chromedp.SendKeys(chromedp.CSS(`.node-card[data-node="source_1"] input[data-field="path"]`), ".aiflow/demo/orders/"))
	step(t, ctx, "type the source format", chromedp.SendKeys(chromedp.CSS(`.node-card[data-node="source_1"] input[data-field="format"]`), "parquet"))
	setSelect("add-role", "sink")
	setSelect("add-kind", "files")
	step(t, ctx, "add the sink", chromedp.Click(chromedp.CSS("#add-node")))
	waitFor(t, ctx, "the sink's form, its input connected", `(() => { const c = document.querySelector('.node-card[data-node="sink_2"]');
	  return c && c.querySelector('input[data-input="source_1"]').checked })()`)
	step(t, ctx, "type the sink path", chromedp.SendKeys(chromedp.CSS(`.node-card[data-node="sink_2"] input[data-field="path"]`), "out/two_nodes/"))
	waitFor(t, ctx, "the draft validates", `document.getElementById("ir-hash").textContent.startsWith("valid") && document.getElementById("problems").children.length === 0`)
	step(t, ctx, "name the file", chromedp.SendKeys(chromedp.CSS("#save-name"), "two_nodes.yaml"))
	shoot(t, ctx, "author")
	step(t, ctx, "save", chromedp.Click(chromedp.CSS("#save")))
	waitFor(t, ctx, "saved", `!!document.getElementById("save-result").dataset.irHash`)
	hash := step(t, ctx, "saved hash", chromedp.Evaluate[string](`document.getElementById("save-result").dataset.irHash`))

	out := d.cli("validate", filepath.Join(specs, "two_nodes.yaml"))
	if !strings.Contains(out, "ok  two_nodes  2 nodes  ir_hash "+hash[:12]) {
		t.Errorf("validate of the saved spec:\n%s\nwant ir_hash %s", out, hash)
	}

	// Opening the saved spec again edits it: the same draft validates to the same hash.
	goTo(t, ctx, "#/author/two_nodes.yaml")
	waitFor(t, ctx, "reopened spec validates to the same hash", fmt.Sprintf(`document.getElementById("ir-hash").textContent === "valid · ir_hash " + %q`, hash))
}

// repoRoot is the repository, found before a test changes its working folder.
var repoRoot, _ = filepath.Abs(filepath.Join("..", ".."))

// streamSavepoint is the savepoint recordStream's upgrade took.
const streamSavepoint = "file:///tmp/flink-savepoints/savepoint-3f1a2b-4c5d6e7f"

// recordStream records examples/flink_streaming and its job's history as `aiflow-runner stream
// deploy`, `stream health` and a deploy of a changed IR record them (deployed, checked, stopped
// with a savepoint, started from it), and returns the running job's id.
func recordStream(t *testing.T, d *demo) string {
	t.Helper()
	spec, err := os.ReadFile(filepath.Join(repoRoot, "examples", "flink_streaming", "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(d.dir, "stream", "pipeline.yaml"), string(spec))
	d.cli("pipelines", "record", "stream")
	ctx := context.Background()
	ps, err := d.store.ListPipelines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hash := ""
	for _, p := range ps {
		if p.Pipeline == "paid_clicks_stream" {
			hash = p.IRHash
		}
	}
	if hash == "" {
		t.Fatalf("paid_clicks_stream not recorded: %+v", ps)
	}
	// A lake sink's load pipeline, as stream-load records it, with one run.
	load := `{"api_version":"aiflow/v1","id":"paid_clicks_stream__load_lake","owner":"o","extra":{"team":"growth"},"nodes":{"n":{"id":"n","type":"source","params":{"kind":"files","path":"x/"}}},"edges":[]}`
	if err := d.store.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: "paid_clicks_stream__load_lake", IRHash: "h_load", IR: json.RawMessage(load), Tenancy: metadata.Tenancy{Team: "growth"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.store.StartAttempt(ctx, metadata.Attempt{AttemptKey: metadata.AttemptKey{Pipeline: "paid_clicks_stream__load_lake", RunID: "load__1", Node: "n", Try: 1}, IRHash: "h_load"}); err != nil {
		t.Fatal(err)
	}
	const pl, old, first, second = "paid_clicks_stream", "0ld0ld0ld0ld0ld0ld", "a1b2c3d4e5f60718293a4b5c6d7e8f90", "0f9e8d7c6b5a49382716f5e4d3c2b1a0"
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := metadata.StreamJob{Pipeline: pl, Team: "growth"}
	for i, e := range []struct {
		ev  metadata.StreamEvent
		set func()
	}{
		{metadata.StreamEvent{Action: metadata.StreamDeploy, IRHash: old, State: "DEPLOYING"}, func() { j.IRHash, j.State = old, "DEPLOYING" }},
		{metadata.StreamEvent{Action: metadata.StreamDeploy, IRHash: old, JobID: first, State: "RUNNING"}, func() { j.JobID, j.State, j.DeployedAt = first, "RUNNING", ptr(at.Add(time.Minute)) }},
		{metadata.StreamEvent{Action: metadata.StreamStop, IRHash: old, JobID: first, Savepoint: streamSavepoint, State: "STOPPED", Message: "stopped for an upgrade " + xssParam},
			func() {
				j.JobID, j.State, j.Savepoint, j.StoppedAt = "", "STOPPED", streamSavepoint, ptr(at.Add(2*time.Minute))
			}},
		{metadata.StreamEvent{Action: metadata.StreamUpgrade, IRHash: hash, Savepoint: streamSavepoint, State: "DEPLOYING"}, func() { j.IRHash, j.State = hash, "DEPLOYING" }},
		{metadata.StreamEvent{Action: metadata.StreamUpgrade, IRHash: hash, JobID: second, Savepoint: streamSavepoint, State: "RUNNING"}, func() {
			j.JobID, j.State, j.DeployedAt, j.StoppedAt = second, "RUNNING", ptr(at.Add(4*time.Minute)), nil
		}},
		{metadata.StreamEvent{Action: metadata.StreamHealth, IRHash: hash, JobID: second, State: "RUNNING"}, func() {}},
	} {
		e.set()
		now := at.Add(time.Duration(i) * time.Minute)
		e.ev.Pipeline, e.ev.At = pl, now
		j.CheckedAt = &now
		if err := d.store.RecordStream(ctx, j, e.ev); err != nil {
			t.Fatal(err)
		}
	}
	return second
}
