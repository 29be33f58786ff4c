package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// lakeSpec: orders (files) → filter + select (arrow) → the onelake sink lake.orders, a Delta table.
const lakeSpec = `api_version: aiflow/v1
pipeline: {id: lake_w, owner: me, team: t, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: ORDERS, format: parquet}
  - id: pick
    transform: arrow
    inputs: [orders]
    with:
      steps:
        - filter: "FILTER"
        - select: [order_id, user_id, amount, dt]
  - id: lake
    sink: onelake
    inputs: [pick]
    with: {table: lake.orders, mode: MODE, partition_by: [dt]}
`

// lakeReadSpec: the onelake source (a Delta table) → the files sink.
const lakeReadSpec = `api_version: aiflow/v1
pipeline: {id: lake_r, owner: me, team: t, env: dev}
nodes:
  - id: src
    source: onelake
    with: {table: TABLE, PARTS}
  - id: out
    sink: files
    inputs: [src]
    with: {path: OUT, mode: overwrite}
`

func (w *workspace) lakeWrite(name, mode, filter, runID string) {
	w.t.Helper()
	spec := strings.NewReplacer("ORDERS", w.path("in/orders")+"/", "MODE", mode, "FILTER", filter).Replace(lakeSpec)
	p := w.write("spec/"+name+".yaml", spec)
	if r := w.run("run", "--pipeline", "lake_w", "--all", "--ir", p, "--run-id", runID); r.code != 0 {
		w.t.Fatalf("%s run %s: exit %d\n%s%s", name, runID, r.code, r.stdout, r.stderr)
	}
}

// ordersByDay counts the demo orders per dt.
func ordersByDay(t *testing.T, dir string) map[string]int {
	t.Helper()
	ctx := context.Background()
	ds, err := dataset.Open(ctx, objstore.New(objstore.Options{}), "file://"+dir+"/", dataset.ReadOptions{Columns: []string{"dt"}})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := ds.Reader(ctx, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	out := map[string]int{}
	for rr.Next() {
		col := rr.RecordBatch().Column(0).(*array.String)
		for i := 0; i < col.Len(); i++ {
			out[col.Value(i)]++
		}
	}
	return out
}

type pyRead struct {
	Rows       int      `json:"rows"`
	IDs        []int64  `json:"ids"`
	Version    int64    `json:"version"`
	Partitions []string `json:"partitions"`
	PolarsRows int      `json:"polars_rows"`
	Columns    []string `json:"columns"`
}

// interopScript is testdata/delta_interop.py, resolved before any test changes directory.
var interopScript, _ = filepath.Abs("testdata/delta_interop.py")

// interop runs testdata/delta_interop.py (delta-rs, Polars, pyarrow) and decodes its answer.
func interop(t *testing.T, py string, args ...string) pyRead {
	t.Helper()
	out, err := exec.Command(py, append([]string{interopScript}, args...)...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("delta_interop.py %v: %v\n%s", args, err, msg)
	}
	var r pyRead
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("delta_interop.py %v: %v: %s", args, err, out)
	}
	return r
}

// Tables the arrow engine writes are read by delta-rs and Polars with exactly the expected rows
// after overwrite twice, a retried commit, a killed writer's leftovers, an append and a
// partition overwrite.
func TestOnelakeDeltaReadByDeltaRS(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	w := newWorkspace(t)
	w.env["AIFLOW_LAKE_ROOT"] = w.path("lake")
	w.orders("in/orders", 7000)
	byDay := ordersByDay(t, w.path("in/orders"))
	total := 0
	for _, n := range byDay {
		total += n
	}
	tbl := w.path("lake/lake/orders")
	check := func(step string, rows int, version int64) {
		t.Helper()
		r := interop(t, py, "read", tbl)
		if r.Rows != rows || r.PolarsRows != rows || r.Version != version {
			t.Fatalf("%s: delta-rs read %d rows (Polars %d) at version %d, want %d at %d", step, r.Rows, r.PolarsRows, r.Version, rows, version)
		}
		if !slices.Equal(r.Columns, []string{"order_id", "user_id", "amount", "dt"}) {
			t.Fatalf("%s: columns %v", step, r.Columns)
		}
	}
	w.lakeWrite("ow", "overwrite", "amount > 0", "r1")
	check("first overwrite", total, 0)
	w.lakeWrite("ow", "overwrite", "amount > 0", "r2")
	check("second overwrite", total, 1)

	// A retry of r2 whose metadata commit was lost (a fresh AIFLOW_HOME: no record of r2) finds
	// r2's txn in the Delta log and commits nothing.
	w.env["AIFLOW_HOME"] = w.path(".aiflow2")
	w.lakeWrite("ow", "overwrite", "amount > 0", "r2")
	check("retried commit", total, 1)

	// A writer killed after writing data files but before its commit leaves files no version
	// names: invisible to every Delta reader.
	killed := filepath.Join(tbl, "dt=2024-01-01", "part-killedwriter-00000.parquet")
	parts, _ := filepath.Glob(w.path("in/orders/*.parquet"))
	if len(parts) == 0 {
		t.Fatal("no demo parquet file")
	}
	b, err := os.ReadFile(parts[0])
	if err == nil {
		err = os.WriteFile(killed, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	check("killed writer's files", total, 1)

	w.lakeWrite("ap", "append", "amount > 0", "r3")
	check("append", 2*total, 2)

	// Overwrite with one day only: that partition is replaced, the others stay.
	day := "2024-01-03"
	if byDay[day] == 0 {
		t.Fatalf("no orders on %s: %v", day, byDay)
	}
	w.lakeWrite("ow", "overwrite", "dt = '"+day+"'", "r4")
	check("partition overwrite", 2*total-byDay[day], 3)

	// The arrow engine reads its own table back through the onelake source, one partition.
	spec := strings.NewReplacer("TABLE", "lake.orders", "PARTS", `partitions: {dt: "`+day+`"}`, "OUT", w.path("out/day")+"/").Replace(lakeReadSpec)
	p := w.write("spec/read.yaml", spec)
	if r := w.run("run", "--pipeline", "lake_r", "--all", "--ir", p, "--run-id", "read1"); r.code != 0 {
		t.Fatalf("read back: %d %s", r.code, r.stderr)
	}
	if r := interop(t, py, "read_folder", w.path("out/day")); r.Rows != byDay[day] || r.PolarsRows != byDay[day] {
		t.Fatalf("partition %s read back: %+v, want %d rows", day, r, byDay[day])
	}
}

// A table delta-rs wrote (partitioned, several commits, a partition overwrite, a checkpoint) is
// read by the arrow engine; the arrow engine then appends to it and delta-rs reads both.
func TestOnelakeReadsDeltaRSTable(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	w := newWorkspace(t)
	w.env["AIFLOW_LAKE_ROOT"] = w.path("lake")
	tbl := w.path("lake/raw/events")
	interop(t, py, "write", tbl)

	read := func(parts string, runID string) []int64 {
		t.Helper()
		spec := strings.NewReplacer("TABLE", "raw.events", "PARTS", parts, "OUT", w.path("out/"+runID)+"/").Replace(lakeReadSpec)
		p := w.write("spec/"+runID+".yaml", spec)
		if r := w.run("run", "--pipeline", "lake_r", "--all", "--ir", p, "--run-id", runID); r.code != 0 {
			t.Fatalf("read %s: %d %s", parts, r.code, r.stderr)
		}
		ds, err := dataset.Open(context.Background(), objstore.New(objstore.Options{}), "file://"+w.path("out/"+runID)+"/", dataset.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return readInt64(t, ds, "id")
	}
	if got := read(`partitions: {}`, "all"); !slices.Equal(got, []int64{1, 2, 5, 30, 31}) {
		t.Fatalf("whole table: %v", got)
	}
	if got := read(`partitions: {dt: "2024-01-02"}`, "p2"); !slices.Equal(got, []int64{30, 31}) {
		t.Fatalf("partition 2024-01-02: %v", got)
	}
	if got := read(`snapshot: "1"`, "v1"); !slices.Equal(got, []int64{1, 2, 3, 4}) {
		t.Fatalf("version 1: %v", got)
	}

	// The arrow engine appends to delta-rs's table; delta-rs appends after it; both read all.
	spec := `api_version: aiflow/v1
pipeline: {id: lake_a, owner: me, team: t, env: dev}
nodes:
  - id: src
    source: onelake
    with: {table: raw.events, partitions: {dt: "2024-01-01"}}
  - id: add
    transform: arrow
    inputs: [src]
    with: {steps: [{derive: {id: "id + 100"}}]}
  - id: sink
    sink: onelake
    inputs: [add]
    with: {table: raw.events, mode: append}
`
	p := w.write("spec/append.yaml", spec)
	if r := w.run("run", "--pipeline", "lake_a", "--all", "--ir", p, "--run-id", "a1"); r.code != 0 {
		t.Fatalf("append: %d %s%s", r.code, r.stdout, r.stderr)
	}
	interop(t, py, "append", tbl, "7", "2024-01-04")
	r := interop(t, py, "read", tbl)
	if !slices.Equal(r.IDs, []int64{1, 2, 5, 7, 30, 31, 101, 102}) || r.PolarsRows != 8 {
		t.Fatalf("after both appends delta-rs reads %+v", r)
	}
	if got := read(`partitions: {}`, "all2"); !slices.Equal(got, []int64{1, 2, 5, 7, 30, 31, 101, 102}) {
		t.Fatalf("after both appends the arrow engine reads %v", got)
	}
}

func readInt64(t *testing.T, ds *dataset.Dataset, col string) []int64 {
	t.Helper()
	rr, err := ds.Reader(context.Background(), memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	var out []int64
	for rr.Next() {
		rec := rr.RecordBatch()
		out = append(out, rec.Column(rec.Schema().FieldIndices(col)[0]).(*array.Int64).Int64Values()...)
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// A table in aiflow's former layout is refused with what to do, never read as an empty table.
func TestOnelakeLegacyLayoutRefused(t *testing.T) {
	w := newWorkspace(t)
	w.env["AIFLOW_LAKE_ROOT"] = w.path("lake")
	w.write("lake/old/t/_aiflow/current.json", `{"version": 1}`)
	spec := strings.NewReplacer("TABLE", "old.t", "PARTS", "partitions: {}", "OUT", w.path("out/x")+"/").Replace(lakeReadSpec)
	p := w.write("spec/legacy.yaml", spec)
	r := w.run("run", "--pipeline", "lake_r", "--all", "--ir", p, "--run-id", "l1")
	if r.code != 65 || !strings.Contains(r.stderr+r.stdout, "former layout") || !strings.Contains(r.stderr+r.stdout, "format: parquet") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The Delta package sees no table there either.
	if _, err := delta.New(objstore.New(objstore.Options{}), "file://"+w.path("lake/old/t")).Latest(context.Background()); err == nil {
		t.Fatal("a legacy folder read as a Delta table")
	}
}

// After two overwrite runs of a files sink the folder holds exactly one version: a reader that
// lists it (dataset.Open here; pyarrow and Polars in TestFilesFolderReadByPyarrow) gets the rows
// once, not twice.
func TestFilesOverwriteLeavesOneVersion(t *testing.T) {
	w := newWorkspace(t)
	spec := w.quickstart()
	for _, rid := range []string{"r1", "r2", "r3"} {
		if r := w.run("run", "--pipeline", "qs", "--all", "--ir", spec, "--run-id", rid); r.code != 0 {
			t.Fatalf("run %s: %d %s", rid, r.code, r.stderr)
		}
	}
	want := len(tableRows(t, w.path("out/by_user")))
	ds, err := dataset.Open(context.Background(), objstore.New(objstore.Options{}), "file://"+w.path("out/by_user")+"/", dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(readInt64(t, ds, "user_id")); got != want {
		t.Fatalf("listing the folder gives %d rows, the published version has %d", got, want)
	}
	parts, _ := filepath.Glob(w.path("out/by_user/part-*"))
	if len(parts) != 1 {
		t.Fatalf("%d data files in the folder, want the one of the last version: %v", len(parts), parts)
	}
}

// pyarrow and Polars, reading the folder without knowing aiflow, see one version.
func TestFilesFolderReadByPyarrow(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	w := newWorkspace(t)
	spec := w.quickstart()
	for _, rid := range []string{"r1", "r2"} {
		if r := w.run("run", "--pipeline", "qs", "--all", "--ir", spec, "--run-id", rid); r.code != 0 {
			t.Fatalf("run %s: %d %s", rid, r.code, r.stderr)
		}
	}
	want := len(tableRows(t, w.path("out/by_user")))
	if r := interop(t, py, "read_folder", w.path("out/by_user")); r.Rows != want || r.PolarsRows != want {
		t.Fatalf("pyarrow reads %d rows, Polars %d, want %d", r.Rows, r.PolarsRows, want)
	}
}

// The quickstart (examples/quickstart) writes a Delta table and a plain folder that readers who
// know nothing of aiflow read with the same row count, after any number of reruns.
func TestQuickstartReadByDeltaRS(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	w := newWorkspace(t)
	spec, err := filepath.Abs("../../examples/quickstart/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(w.dir) // the quickstart's paths are relative to the working directory
	w.orders(".aiflow/demo/orders", 5000)
	for _, rid := range []string{"q1", "q2", "q3"} {
		if r := w.run("run", "--pipeline", "quickstart_user_orders", "--all", "--ir", spec, "--run-id", rid); r.code != 0 {
			t.Fatalf("quickstart %s: exit %d\n%s%s", rid, r.code, r.stdout, r.stderr)
		}
	}
	b, err := os.ReadFile(w.path(".aiflow/demo/out/user_order_stats/_aiflow/current.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Rows int }
	if err := json.Unmarshal(b, &v); err != nil || v.Rows == 0 {
		t.Fatalf("published version: %s %v", b, err)
	}
	want := v.Rows
	if r := interop(t, py, "read", filepath.Join(w.env["AIFLOW_HOME"], "lake", "demo", "user_order_stats")); r.Rows != want || r.PolarsRows != want || r.Version != 2 {
		t.Fatalf("delta-rs reads %d rows (Polars %d) at version %d, want %d at version 2", r.Rows, r.PolarsRows, r.Version, want)
	}
	if r := interop(t, py, "read_folder", w.path(".aiflow/demo/out/user_order_stats")); r.Rows != want || r.PolarsRows != want {
		t.Fatalf("pyarrow reads %d rows of the folder, Polars %d, want %d", r.Rows, r.PolarsRows, want)
	}
}
