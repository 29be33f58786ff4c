//go:build !nospark

package spark_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

const pyJobs = `
from pyspark.sql import functions as F


def totals(spark, inputs, params):
    df = inputs["orders"]
    return (df.where(F.col("amount") >= params["min_amount"])
              .groupBy("user_id").agg(F.sum("amount").alias("total"))
              .withColumn("region", F.lit(params["region"])))


def boom(spark, inputs, params):
    raise ValueError("no orders for " + params["region"])


def nothing(spark, inputs, params):
    inputs["orders"].count()


def bad_column(spark, inputs, params):
    return inputs["orders"].select("no_such_column")
`

// TestPythonEntrypoint runs PySpark functions as spark transforms: the node's own params reach
// the function, the result is staged by Spark, and the function's failures end the node with
// the right exit code and the exception's last line in the termination message.
func TestPythonEntrypoint(t *testing.T) {
	w := newWorkspace(t)
	w.env["AIFLOW_PYTHON"] = testenv.Require(t, testenv.Python)
	jobs := filepath.Join(w.dir, "jobs")
	if err := os.MkdirAll(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	w.write("jobs/userjobs.py", pyJobs)
	w.env["AIFLOW_PYTHONPATH"] = jobs
	w.write("orders.csv", "order_id,user_id,amount\n1,10,9.5\n2,11,20.25\n3,10,30\n4,12,1\n")
	term := filepath.Join(w.dir, "termination-log")
	w.env["AIFLOW_TERMINATION_LOG"] = term
	yaml := func(fn string) string {
		return strings.NewReplacer("FN", fn, "CSV", filepath.Join(w.dir, "orders.csv")).Replace(`
api_version: aiflow/v1
pipeline: {id: pyentry_FN, schedule: null, owner: t, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: CSV, format: csv}
  - id: totals
    transform: spark
    inputs: [orders]
    with: {entrypoint: "userjobs:FN", region: emea, min_amount: 5}
`)
	}
	spec := func(fn string) string { return w.write(fn+".yaml", yaml(fn)) }
	p := spec("totals")
	w.mustRun("validate", p)
	w.mustRun("run", "--pipeline", "pyentry_totals", "--all", "--ir", p, "--run-id", "r1")
	if m := w.committed("pyentry_totals", "r1", "totals"); m.Rows != 2 || len(m.Files) == 0 {
		t.Fatalf("totals: %d rows in %d files, want 2 rows", m.Rows, len(m.Files))
	}

	for _, tc := range []struct {
		fn   string
		code int
		msg  string
	}{
		{"boom", 65, "ValueError: no orders for emea"},
		{"nothing", 65, "returned None"},
		{"bad_column", 65, "no_such_column"},
		{"missing", 78, "has no attribute"},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			p := spec(tc.fn)
			r := w.run("run", "--pipeline", "pyentry_"+tc.fn, "--all", "--ir", p, "--run-id", "r1")
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			b, err := os.ReadFile(term)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.msg) {
				t.Fatalf("termination message %q lacks %q", b, tc.msg)
			}
		})
	}
	// A Spark transform's extra params are an entrypoint's only.
	bad := w.write("sqlparams.yaml", strings.Replace(yaml("totals"), `{entrypoint: "userjobs:totals", region: emea, min_amount: 5}`, `{sql: "SELECT 1", region: emea}`, 1))
	if r := w.run("validate", bad); r.code != 78 || !strings.Contains(r.stderr, "region") {
		t.Fatalf("validate sql with params: exit %d\n%s", r.code, r.stderr)
	}
}
