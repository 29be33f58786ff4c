package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/plugin"
)

// workspace is a temporary folder with its own AIFLOW_HOME, where specs and data live.
type workspace struct {
	t   *testing.T
	dir string
	env map[string]string
}

func newWorkspace(t *testing.T) *workspace {
	dir := t.TempDir()
	return &workspace{t: t, dir: dir, env: map[string]string{
		"AIFLOW_HOME":       filepath.Join(dir, ".aiflow"),
		"AIFLOW_LOG_FORMAT": "text",
		"AIFLOW_LOG_LEVEL":  "warn",
	}}
}

func (w *workspace) path(p string) string { return filepath.Join(w.dir, p) }

func (w *workspace) write(name, content string) string {
	w.t.Helper()
	p := w.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// run calls the whole runner (plugin.Default with every runtime) in the workspace.
// runResult is what a CLI call returned.
type runResult struct {
	code           int
	stdout, stderr string
}

func (w *workspace) run(args ...string) runResult {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.RunWith(&cli.Env{
		Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Registry: plugin.Default,
		Lookup: func(k string) (string, bool) { v, ok := w.env[k]; return v, ok },
	}, args)
	return runResult{code, stdout.String(), stderr.String()}
}

// orders writes n deterministic order rows as Parquet under dir (relative to the workspace).
func (w *workspace) orders(dir string, rows int) {
	w.t.Helper()
	if r := w.run("demo-data", "--out", w.path(dir), "--rows", itoa(rows), "--users", "1000"); r.code != 0 {
		w.t.Fatalf("demo-data: %d %s", r.code, r.stderr)
	}
}

func itoa(i int) string { return fmtInt(i) }

func fmtInt(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

const quickstart = `api_version: aiflow/v1
pipeline: {id: qs, schedule: "@daily", owner: me, team: t, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: ORDERS, format: parquet}
  - id: by_user
    transform: arrow
    inputs: [orders]
    with:
      steps:
        - filter: "status = 'paid'"
        - group_by: {keys: [user_id], aggs: {n: "count(*)", amt: "sum(amount)"}}
  - id: out
    sink: files
    inputs: [by_user]
    with: {path: OUT, mode: overwrite}
`

func (w *workspace) quickstart() string {
	w.orders("in/orders", 20000)
	spec := strings.NewReplacer("ORDERS", w.path("in/orders")+"/", "OUT", w.path("out/by_user")+"/").Replace(quickstart)
	return w.write("spec/qs.yaml", spec)
}

// tableRows reads the current version of a published table and returns its rows as sorted
// "user_id:n" strings (so duplicates show up).
func tableRows(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "_aiflow", "current.json"))
	if err != nil {
		t.Fatalf("no published version: %v", err)
	}
	var v struct {
		Files []struct{ URI string } `json:"files"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range v.Files {
		out = append(out, parquetKeys(t, strings.TrimPrefix(f.URI, "file://"), "user_id", "n")...)
	}
	sort.Strings(out)
	return out
}

func parquetKeys(t *testing.T, path string, cols ...string) []string {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1<<16)
	defer tr.Release()
	var out []string
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			var parts []string
			for _, c := range cols {
				idx := rec.Schema().FieldIndices(c)[0]
				parts = append(parts, rec.Column(idx).ValueStr(i))
			}
			out = append(out, strings.Join(parts, ":"))
		}
	}
	return out
}

func listFiles(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out[p] = info.ModTime()
		}
		return nil
	})
	return out
}

func TestRunAllTwiceWritesNothingTheSecondTime(t *testing.T) {
	w := newWorkspace(t)
	spec := w.quickstart()
	r := w.run("run", "--pipeline", "qs", "--all", "--ir", spec, "--run-id", "r1")
	if r.code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rows := tableRows(t, w.path("out/by_user"))
	if len(rows) == 0 {
		t.Fatal("no output rows")
	}
	before := listFiles(t, w.dir)
	r = w.run("run", "--pipeline", "qs", "--all", "--ir", spec, "--run-id", "r1")
	if r.code != 0 {
		t.Fatalf("second run: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "already committed") {
		t.Errorf("second run should report the nodes as already committed:\n%s", r.stderr)
	}
	after := listFiles(t, w.dir)
	for p, mt := range after {
		if strings.HasSuffix(p, "metadata.db") || strings.Contains(p, "metadata.db-") {
			continue
		}
		if old, ok := before[p]; !ok || !old.Equal(mt) {
			t.Errorf("second run wrote %s", p)
		}
	}
	if got := tableRows(t, w.path("out/by_user")); strings.Join(got, ",") != strings.Join(rows, ",") {
		t.Error("output changed on the second run")
	}
	// The attempts of the first run are intact.
	r = w.run("runs", "show", "r1", "--json")
	if r.code != 0 || strings.Count(r.stdout, `"status": "succeeded"`) < 3 {
		t.Errorf("runs show should list three succeeded attempts:\n%s", r.stdout)
	}
}

func TestRunNodeByNodeAndReplay(t *testing.T) {
	w := newWorkspace(t)
	spec := w.quickstart()
	// The sink before its input is committed: a clear configuration error.
	r := w.run("run", "--pipeline", "qs", "--node", "out", "--ir", spec, "--run-id", "r2")
	if r.code != 78 || !strings.Contains(r.stderr, "by_user has no committed output") {
		t.Fatalf("sink before input: exit %d, %s", r.code, r.stderr)
	}
	for _, n := range []string{"orders", "by_user", "out"} {
		if r := w.run("run", "--pipeline", "qs", "--node", n, "--ir", spec, "--run-id", "r2", "--try", "1"); r.code != 0 {
			t.Fatalf("node %s: exit %d %s", n, r.code, r.stderr)
		}
	}
	want := tableRows(t, w.path("out/by_user"))
	r = w.run("replay", "--pipeline", "qs", "--run-id", "r2", "--node", "by_user")
	if r.code != 0 {
		t.Fatalf("replay: exit %d %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "output: file://") {
		t.Errorf("replay should say where its output is: %s", r.stderr)
	}
	// A replayed sink does not publish without --publish.
	r = w.run("replay", "--pipeline", "qs", "--run-id", "r2", "--node", "out")
	if r.code != 0 {
		t.Fatalf("replay sink: exit %d %s", r.code, r.stderr)
	}
	if got := tableRows(t, w.path("out/by_user")); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Error("a replay without --publish changed the published table")
	}
}

func TestRunIRHashAndEmbeddedIR(t *testing.T) {
	w := newWorkspace(t)
	spec := w.quickstart()
	r := w.run("run", "--pipeline", "qs", "--node", "orders", "--ir", spec, "--ir-hash", "deadbeef")
	if r.code != 78 || !strings.Contains(r.stderr, "ir_hash mismatch") {
		t.Fatalf("hash mismatch: exit %d %s", r.code, r.stderr)
	}
	r = w.run("plan", "--json", spec)
	var plan struct {
		IR     json.RawMessage `json:"ir"`
		IRHash string          `json:"ir_hash"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	enc, err := cli.EncodeIR(plan.IR)
	if err != nil {
		t.Fatal(err)
	}
	w.env[cli.IREnv] = enc
	term := w.path("termination-log")
	w.env["AIFLOW_TERMINATION_LOG"] = term
	r = w.run("run", "--pipeline", "qs", "--node", "orders", "--ir-hash", plan.IRHash, "--run-id", "pod", "--logical-date", "2024-01-01")
	if r.code != 0 {
		t.Fatalf("run from %s: exit %d %s", cli.IREnv, r.code, r.stderr)
	}
	if b, _ := os.ReadFile(term); !strings.HasPrefix(string(b), "succeeded: qs/orders") {
		t.Errorf("termination message = %q", b)
	}
}

func TestRunFaults(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(w *workspace) string // returns the source path param
		params string
		code   int
		want   []string
	}{
		{"corrupt parquet names the file", func(w *workspace) string {
			w.write("bad/a.parquet", "PAR1 this is not parquet PAR1")
			return w.path("bad") + "/"
		}, "", 65, []string{"a.parquet"}},
		{"schemas that disagree show both", func(w *workspace) string {
			writeParquet(w.t, w.path("mix/a.parquet"), arrow.PrimitiveTypes.Int64)
			writeParquet(w.t, w.path("mix/b.parquet"), arrow.BinaryTypes.String)
			return w.path("mix") + "/"
		}, "", 65, []string{"a.parquet", "b.parquet", "int64", "utf8"}},
		{"missing partition is named", func(w *workspace) string {
			w.write("part/dt=2024-01-01/a.csv", "user_id\n1\n")
			return w.path("part") + "/"
		}, "format: csv, partitions: {dt: '2024-01-02'}", 65, []string{"dt=2024-01-02"}},
		{"path traversal in a partition value is rejected", func(w *workspace) string {
			w.write("part/dt=2024-01-01/a.csv", "user_id\n1\n")
			return w.path("part") + "/"
		}, "format: csv, partitions: {dt: '../../etc'}", 78, []string{"../../etc"}},
		{"a quote in a partition value is rejected", func(w *workspace) string {
			w.write("part/dt=2024-01-01/a.csv", "user_id\n1\n")
			return w.path("part") + "/"
		}, "format: csv, partitions: {dt: \"x' OR '1'='1\"}", 78, []string{"x' OR '1'='1"}},
		{"missing input folder", func(w *workspace) string { return w.path("nothing") + "/" }, "format: csv", 65, []string{"nothing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorkspace(t)
			src := tt.setup(w)
			with := "path: " + src
			if tt.params != "" {
				with += ", " + tt.params
			}
			spec := w.write("spec.yaml", `api_version: aiflow/v1
pipeline: {id: f, owner: me, env: dev}
nodes:
  - {id: src, source: files, with: {`+with+`}}
  - {id: t, transform: arrow, inputs: [src]}
  - {id: out, sink: files, inputs: [t], with: {path: `+w.path("out")+`/}}
`)
			r := w.run("run", "--pipeline", "f", "--all", "--ir", spec)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.code, r.stderr)
			}
			for _, s := range tt.want {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("message lacks %q:\n%s", s, r.stderr)
				}
			}
			if _, err := os.Stat(w.path("out/_aiflow/current.json")); err == nil {
				t.Error("a failed run published output")
			}
		})
	}
}

func TestRunS3EndpointDown(t *testing.T) {
	w := newWorkspace(t)
	t.Setenv("AIFLOW_S3_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	w.env["AIFLOW_S3_ENDPOINT"] = "http://127.0.0.1:1"
	spec := w.write("spec.yaml", `api_version: aiflow/v1
pipeline: {id: s3down, owner: me, env: dev}
nodes:
  - {id: src, source: files, with: {path: "s3://bucket/orders/", format: parquet}}
`)
	start := time.Now()
	r := w.run("run", "--pipeline", "s3down", "--all", "--ir", spec)
	if r.code != 75 {
		t.Fatalf("exit %d, want 75\n%s", r.code, r.stderr)
	}
	if time.Since(start) > 60*time.Second {
		t.Errorf("an S3 endpoint that is down took %s to report", time.Since(start))
	}
}

// TestKillDuringSinkWrite kills a real runner process with SIGKILL while its sink writes, then
// reruns the node: the output is complete and has no duplicates.
func TestKillDuringSinkWrite(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc and signals")
	}
	bin := buildHookedRunner(t)
	w := newWorkspace(t)
	w.orders("in/orders", 30000)
	spec := w.write("spec.yaml", `api_version: aiflow/v1
pipeline: {id: kill, owner: me, env: dev}
nodes:
  - {id: src, source: files, with: {path: `+w.path("in/orders")+`/}}
  - id: out
    sink: files
    inputs: [src]
    with: {path: `+w.path("out")+`/, partition_by: [dt], format: csv}
`)
	env := os.Environ()
	for k, v := range w.env {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(bin, "run", "--pipeline", "kill", "--node", "src", "--ir", spec, "--run-id", "k")
	cmd.Env, cmd.Dir = env, w.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("source: %v\n%s", err, out)
	}
	marker := w.path("first-file-written")
	cmd = exec.Command(bin, "run", "--pipeline", "kill", "--node", "out", "--ir", spec, "--run-id", "k", "--try", "1")
	cmd.Env, cmd.Dir = append(env, holdEnv+"="+marker), w.dir
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The hooked runner holds the write after its first complete data file, with the other
	// partitions' files still open: SIGKILL always lands in the middle of the write.
	waitForMarker(t, marker, done, &output)
	_ = cmd.Process.Kill()
	<-done
	if _, err := os.Stat(w.path("out/_aiflow/current.json")); err == nil {
		t.Fatal("the sink published before the kill, although the hook held its write")
	}
	// The kill left the open partitions' unfinished temp files in the published folder: the
	// retry below must remove them (else this test would check nothing).
	var temps int
	filepath.WalkDir(w.path("out"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".aiflow-tmp-") {
			temps++
		}
		return nil
	})
	if temps == 0 {
		t.Fatal("the kill left no .aiflow-tmp-* file behind: the hook did not hold the write with files open")
	}
	r := w.run("run", "--pipeline", "kill", "--node", "out", "--ir", spec, "--run-id", "k", "--try", "2")
	if r.code != 0 {
		t.Fatalf("retry: exit %d\n%s", r.code, r.stderr)
	}
	// Every order exactly once.
	b, err := os.ReadFile(w.path("out/_aiflow/current.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Rows  int64 `json:"rows"`
		Files []struct {
			URI string `json:"uri"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Rows != 30000 {
		t.Errorf("published %d rows, want 30000", v.Rows)
	}
	seen := map[string]bool{}
	st := objstore.New(objstore.Options{})
	var files []dataset.FileInfo
	for _, f := range v.Files {
		files = append(files, dataset.FileInfo{URI: f.URI})
	}
	ds, err := dataset.OpenFiles(context.Background(), st, files, dataset.ReadOptions{Format: dataset.CSV, Columns: []string{"order_id"}})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := ds.Reader(context.Background(), memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	n := 0
	for rr.Next() {
		col := rr.RecordBatch().Column(0)
		for i := 0; i < col.Len(); i++ {
			id := col.ValueStr(i)
			if seen[id] {
				t.Fatalf("order %s published twice", id)
			}
			seen[id] = true
			n++
		}
	}
	if n != 30000 {
		t.Errorf("read %d orders, want 30000", n)
	}
	// No file outside the published version carries this run's name.
	published := map[string]bool{}
	for _, f := range v.Files {
		published[strings.TrimPrefix(f.URI, "file://")] = true
	}
	// The killed attempt's unfinished temp files are gone too: a rerun removes what a kill -9
	// left of its own run and node.
	filepath.WalkDir(w.path("out"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".aiflow-tmp-") {
			t.Errorf("a temp file of the killed attempt is left in the published folder: %s", p)
		}
		return nil
	})
	all, _ := filepath.Glob(w.path("out/dt=*/part-*"))
	for _, f := range all {
		if !published[f] {
			t.Errorf("orphan file left behind: %s", f)
		}
	}
}

// writeParquet writes a one-column (user_id) Parquet file of the given type.
func writeParquet(t *testing.T, path string, dt arrow.DataType) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	sc := arrow.NewSchema([]arrow.Field{{Name: "user_id", Type: dt, Nullable: true}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	switch bb := b.Field(0).(type) {
	case *array.Int64Builder:
		bb.Append(1)
	case *array.StringBuilder:
		bb.Append("1")
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fw, err := pqarrow.NewFileWriter(sc, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
}

func buildRunner(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AIFLOW_TEST_RUNNER"); p != "" {
		return p
	}
	bin := filepath.Join(t.TempDir(), "aiflow-runner")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/aiflow-dev/aiflow/cmd/aiflow-runner")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build runner: %v\n%s", err, out)
	}
	return bin
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestKilledAttemptStagingRemoved kills a real runner process with SIGKILL while its transform
// stages its output (no cleanup runs), then retries the node: the retry removes the killed
// attempt's staging folder (its process is provably gone) and keeps its own, which its commit
// points at.
func TestKilledAttemptStagingRemoved(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc and signals")
	}
	bin := buildHookedRunner(t)
	w := newWorkspace(t)
	w.orders("in/orders", 20000)
	spec := w.write("spec.yaml", `api_version: aiflow/v1
pipeline: {id: killstage, owner: me, env: dev}
nodes:
  - {id: src, source: files, with: {path: `+w.path("in/orders")+`/}}
  - {id: tr, transform: arrow, inputs: [src], with: {steps: [{filter: "amount > 0"}]}}
`)
	env := os.Environ()
	for k, v := range w.env {
		env = append(env, k+"="+v)
	}
	if r := w.run("run", "--pipeline", "killstage", "--node", "src", "--ir", spec, "--run-id", "k"); r.code != 0 {
		t.Fatalf("source: exit %d\n%s", r.code, r.stderr)
	}
	marker := w.path("first-file-written")
	cmd := exec.Command(bin, "run", "--pipeline", "killstage", "--node", "tr", "--ir", spec, "--run-id", "k", "--try", "1")
	cmd.Env, cmd.Dir = append(env, holdEnv+"="+marker), w.dir
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitForMarker(t, marker, done, &output)
	_ = cmd.Process.Kill()
	<-done
	nodeDir := w.path(".aiflow/staging/killstage/k/tr")
	killed, _ := filepath.Glob(filepath.Join(nodeDir, "attempt-1-*"))
	if len(killed) != 1 {
		t.Fatalf("the killed attempt left %d staging folders, want 1: %v", len(killed), killed)
	}
	if files, _ := filepath.Glob(filepath.Join(killed[0], "*.parquet")); len(files) == 0 {
		t.Fatalf("the killed attempt staged no data file in %s", killed[0])
	}
	r := w.run("run", "--pipeline", "killstage", "--node", "tr", "--ir", spec, "--run-id", "k", "--try", "2")
	if r.code != 0 {
		t.Fatalf("retry: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(killed[0]); !errors.Is(err, os.ErrNotExist) {
		left, _ := filepath.Glob(filepath.Join(killed[0], "*"))
		t.Errorf("the killed attempt's staging is still there after the retry (%v): %v", err, left)
	}
	kept, _ := filepath.Glob(filepath.Join(nodeDir, "attempt-2-*"))
	if len(kept) != 1 {
		t.Fatalf("the retry's staging: %v, want one folder", kept)
	}
	if rows := committedRows(t, w, "killstage", "k", "tr"); rows == 0 {
		t.Errorf("the retry committed %d rows", rows)
	}
}
