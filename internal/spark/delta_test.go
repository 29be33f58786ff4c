//go:build !nospark

package spark_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// deltaPipeline: a Parquet catalog table → the onelake sink on Spark, format delta (the default):
// the Delta table at <lake root>/fs…/orders_delta.
const deltaPipeline = `api_version: aiflow/v1
pipeline: {id: spark_delta, schedule: "@daily", owner: t, team: t, env: dev, project: t}
nodes:
  - id: orders_onelake
    source: onelake
    with: {table: raw@@.sales_orders, format: parquet, partitions: {dt: "{{ ds }}"}}
  - id: out
    sink: onelake
    engine: spark
    inputs: [orders_onelake]
    with: {table: fs@@.orders_delta, mode: MODE, partition_by: [dt]}
`

// arrowReadBack: the arrow engine reads the Delta table (onelake source) into a files sink.
const arrowReadBack = `api_version: aiflow/v1
pipeline: {id: arrow_read, owner: t, team: t, env: dev}
nodes:
  - id: src
    source: onelake
    with: {table: fs@@.orders_delta}
  - id: copy
    sink: files
    inputs: [src]
    with: {path: OUT, mode: overwrite}
`

// A crash after Spark wrote the Delta table but before the node committed: the retry finds the
// write's txn in the Delta log and writes nothing again. Spark, delta-rs and the arrow engine then
// read exactly the expected rows.
func TestDeltaOnSparkRetryAndInterop(t *testing.T) {
	w := newWorkspace(t)
	py := testenv.Require(t, testenv.Python)
	s := w.session()
	w.sampleData(s)
	dir := filepath.Join(w.dir, ".aiflow", "lake", "fs"+w.sfx, "orders_delta")
	table, err := spark.DeltaPath("file://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"overwrite", "append"} {
		t.Run(mode, func(t *testing.T) {
			os.RemoveAll(dir)
			spec := w.write("delta_"+mode+".yaml", strings.ReplaceAll(strings.ReplaceAll(deltaPipeline, "@@", w.sfx), "MODE", mode))
			for _, run := range []string{"a", "b"} { // the second run writes into an existing table
				day := map[string]string{"a": "2024-01-01", "b": "2024-01-01"}[run]
				rid := "d" + mode + run
				w.mustRun("run", "--pipeline", "spark_delta", "--node", "orders_onelake", "--ir", spec, "--run-id", rid, "--logical-date", day)
				restore := spark.SetHook(func(stage string) error {
					if stage == "sink-written" {
						return fault.Wrap(fault.Temporary, errors.New("connection reset"), "injected")
					}
					return nil
				})
				r := w.run("run", "--pipeline", "spark_delta", "--node", "out", "--ir", spec, "--run-id", rid, "--try", "1", "--logical-date", day)
				restore()
				if r.code != 75 {
					t.Fatalf("injected failure: exit %d, want 75\n%s", r.code, r.stderr)
				}
				w.mustRun("run", "--pipeline", "spark_delta", "--node", "out", "--ir", spec, "--run-id", rid, "--try", "2", "--logical-date", day)
				if m := w.committed("spark_delta", rid, "out"); m.Details["already_written"] != true {
					t.Fatalf("retry of %s did not find its txn: %+v", rid, m.Details)
				}
			}
			want := int64(1000) // overwrite: the partition replaced by run b
			if mode == "append" {
				want = 2000 // two runs appended once each
			}
			if n := count(t, s, "SELECT count(*) FROM "+table); n != want {
				t.Fatalf("Spark reads %d rows after the retries, want %d", n, want)
			}
			if r := deltaRSRead(t, py, dir); int64(r.Rows) != want || int64(r.PolarsRows) != want {
				t.Fatalf("delta-rs reads %d rows, Polars %d, want %d", r.Rows, r.PolarsRows, want)
			}
			out := filepath.Join(w.dir, "out", mode)
			spec2 := w.write("read_"+mode+".yaml", strings.NewReplacer("@@", w.sfx, "OUT", out+"/").Replace(arrowReadBack))
			w.mustRun("run", "--pipeline", "arrow_read", "--all", "--ir", spec2, "--run-id", "r"+mode)
			if m := w.committed("arrow_read", "r"+mode, "src"); m.Rows != want {
				t.Fatalf("the arrow engine pinned %d rows of the Spark-written table, want %d", m.Rows, want)
			}
			if m := w.committed("arrow_read", "r"+mode, "copy"); m.Rows != want {
				t.Fatalf("the arrow engine copied %d rows of the Spark-written table, want %d", m.Rows, want)
			}
		})
	}
}

// A Delta table the arrow engine wrote is read by Spark through the onelake source.
func TestArrowDeltaReadBySpark(t *testing.T) {
	w := newWorkspace(t)
	s := w.session()
	w.sampleData(s)
	// Spark copies the sample into a Parquet folder; the arrow engine writes it as a Delta table.
	src := filepath.Join(w.dir, "orders_parquet")
	if err := s.Exec(t.Context(), "INSERT OVERWRITE DIRECTORY '"+src+"' USING parquet SELECT * FROM raw"+w.sfx+".sales_orders"); err != nil {
		t.Fatal(err)
	}
	spec := strings.NewReplacer("@@", w.sfx, "SRC", src+"/").Replace(`api_version: aiflow/v1
pipeline: {id: arrow_write, owner: t, team: t, env: dev}
nodes:
  - id: files_in
    source: files
    with: {path: SRC, format: parquet}
  - id: lake
    sink: onelake
    inputs: [files_in]
    with: {table: fs@@.arrow_orders, partition_by: [dt]}
`)
	p := w.write("arrow_write.yaml", spec)
	for _, rid := range []string{"w1", "w2"} { // overwrite twice: still one copy of each row
		w.mustRun("run", "--pipeline", "arrow_write", "--all", "--ir", p, "--run-id", rid)
	}
	read := strings.NewReplacer("@@", w.sfx).Replace(`api_version: aiflow/v1
pipeline: {id: spark_read, schedule: "@daily", owner: t, team: t, env: dev, project: t}
nodes:
  - id: lake_in
    source: onelake
    with: {table: fs@@.arrow_orders, partitions: {dt: "2024-01-02"}}
  - id: q
    transform: spark
    inputs: [lake_in]
    with: {sql: "SELECT dt, count(*) AS n FROM lake_in GROUP BY dt"}
`)
	p2 := w.write("spark_read.yaml", read)
	w.mustRun("run", "--pipeline", "spark_read", "--all", "--ir", p2, "--run-id", "s1")
	if m := w.committed("spark_read", "s1", "q"); m.Rows != 1 {
		t.Fatalf("q: %d rows, want 1", m.Rows)
	}
	table, _ := spark.DeltaPath("file://" + filepath.Join(w.dir, ".aiflow", "lake", "fs"+w.sfx, "arrow_orders"))
	if n := count(t, s, "SELECT count(*) FROM "+table); n != 3000 {
		t.Fatalf("Spark reads %d rows of the arrow engine's table, want 3000", n)
	}
	if n := count(t, s, "SELECT count(*) FROM "+table+" WHERE dt = '2024-01-02'"); n != 1000 {
		t.Fatalf("Spark reads %d rows of partition 2024-01-02, want 1000", n)
	}
}
