//go:build !nospark

package spark_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// TestUserFeaturesExample runs the seed's daily_user_feature_pipeline (examples/user_features)
// end to end against the real server, from the sample data the example creates: onelake source
// on Spark → the seed's PySpark entrypoint etl_jobs.enrich_orders:main → the python engine → the
// onelake sink. It uses the example's own table names (raw.sales_orders,
// tmp.enriched_orders_daily), as its README does, and reads the results back with a PySpark
// client (the output table through Spark SQL, the features through pyarrow), row by row against
// the sample data's formula.
func TestUserFeaturesExample(t *testing.T) {
	w := newWorkspace(t)
	py := testenv.Require(t, testenv.Python)
	w.env["AIFLOW_PYTHON"] = py
	example, err := filepath.Abs("../../examples/user_features")
	if err != nil {
		t.Fatal(err)
	}
	w.env["AIFLOW_PYTHONPATH"] = example
	s, err := spark.Connect(context.Background(), spark.Options{Remote: w.remote})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := os.ReadFile(filepath.Join(example, "sampledata", "sample_data.sql"))
	if err != nil {
		t.Fatal(err)
	}
	// The sample table is a Delta table at <lake root>/raw/sales_orders, as the example's
	// sampledata command creates it.
	lake := filepath.Join(w.dir, ".aiflow", "lake")
	orders, err := spark.DeltaPath("file://" + filepath.Join(lake, "raw", "sales_orders"))
	if err != nil {
		t.Fatal(err)
	}
	q := strings.NewReplacer("{{create}}", "CREATE OR REPLACE TABLE "+orders, "{{format}}", "delta").Replace(string(b))
	if err := s.Exec(context.Background(), spark.Statements(q)...); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"pipeline.yaml", "pipeline.ir.json"} {
		if r := w.run("validate", filepath.Join(example, spec)); r.code != 0 {
			t.Fatalf("validate %s: exit %d\n%s", spec, r.code, r.stderr)
		}
	}
	// The DAG the seed's pipeline compiles to (its content is the compiler's goldens).
	dags := filepath.Join(w.dir, "dags")
	w.mustRun("compile", filepath.Join(example, "pipeline.yaml"), "--out", dags)
	if _, err := os.Stat(filepath.Join(dags, "daily_user_feature_pipeline.py")); err != nil {
		t.Errorf("compile wrote no DAG: %v", err)
	}
	features := filepath.Join(lake, "feature_store", "user_features_daily")
	featuresSQL, _ := spark.DeltaPath("file://" + features)
	// A rerun (a new run id) overwrites the day's partition: the table keeps 97 rows for the day.
	for _, run := range []string{"seed", "seed2"} {
		w.mustRun("run", "--pipeline", "daily_user_feature_pipeline", "--all", "--ir", filepath.Join(example, "pipeline.yaml"),
			"--run-id", run, "--logical-date", "2024-01-02")
		for node, rows := range map[string]int64{"enrich_orders": 97, "build_user_features": 97, "user_features_onelake": 97} {
			if m := w.committed("daily_user_feature_pipeline", run, node); m.Rows != rows {
				t.Errorf("%s %s: %d rows, want %d", run, node, m.Rows, rows)
			}
		}
		// The features are a Delta table that Spark, delta-rs and Polars read, none knowing aiflow.
		if n := count(t, s, "SELECT count(*) FROM "+featuresSQL+" WHERE dt = '2024-01-02'"); n != 97 {
			t.Errorf("%s: Spark reads %d feature rows, want 97", run, n)
		}
		if r := deltaRSRead(t, py, features); r.Rows != 97 || r.PolarsRows != 97 {
			t.Errorf("%s: delta-rs reads %d rows, Polars %d, want 97", run, r.Rows, r.PolarsRows)
		}
	}

	// sample_data.sql: order id in [0, 3000), user_id = id % 97, amount = (id*37 % 1000) / 10,
	// dt = 2024-01-01 + id % 3 days.
	type agg struct {
		n   int64
		amt float64
	}
	want := map[int64]agg{}
	for id := int64(0); id < 3000; id++ {
		if id%3 != 1 { // 2024-01-02
			continue
		}
		a := want[id%97]
		a.n++
		a.amt += float64(id*37%1000) / 10
		want[id%97] = a
	}
	got := readBack(t, py, w.remote, features)
	if len(got.Table) != len(want) || len(got.Features) != len(want) {
		t.Fatalf("read back %d table rows and %d feature rows, want %d each", len(got.Table), len(got.Features), len(want))
	}
	for _, r := range got.Table {
		w := want[r.UserID]
		if r.Cnt != w.n || math.Abs(r.Amt-w.amt) > 1e-6 {
			t.Errorf("tmp.enriched_orders_daily user %d: count %d sum %v, want %d %v", r.UserID, r.Cnt, r.Amt, w.n, w.amt)
		}
	}
	for _, r := range got.Features {
		w := want[r.UserID]
		bucket := "low"
		if w.amt >= 1000 {
			bucket = "high"
		} else if w.amt >= 100 {
			bucket = "mid"
		}
		if r.Cnt != w.n || math.Abs(r.Amt-w.amt) > 1e-6 || math.Abs(r.Avg-w.amt/float64(w.n)) > 1e-9 || r.Bucket != bucket || r.Dt != "2024-01-02" {
			t.Errorf("user_features_daily user %d: %+v, want count %d sum %v bucket %s dt 2024-01-02", r.UserID, r, w.n, w.amt, bucket)
		}
	}
	r := w.mustRun("runs", "show", "seed")
	for _, n := range []string{"orders_onelake", "enrich_orders", "build_user_features", "user_features_onelake"} {
		if !strings.Contains(r.stdout, n) {
			t.Errorf("runs show seed lacks %s:\n%s", n, r.stdout)
		}
	}
}

type readBackRow struct {
	UserID int64   `json:"user_id"`
	Cnt    int64   `json:"order_cnt_30d"`
	Amt    float64 `json:"order_amt_30d"`
	Avg    float64 `json:"avg_order_amt_30d"`
	Bucket string  `json:"spend_bucket"`
	Dt     string  `json:"dt"`
}

// readBack reads tmp.enriched_orders_daily through Spark SQL from a PySpark Connect client, and
// the features the sink published (a Delta table) with delta-rs: nothing of the runner is involved.
func readBack(t *testing.T, py, remote, featuresDir string) (out struct {
	Table    []readBackRow `json:"table"`
	Features []readBackRow `json:"features"`
}) {
	t.Helper()
	// The script leaves with os._exit once its answer is flushed: at interpreter teardown,
	// grpcio's C++ threads (pyspark's Connect client) and delta-rs's runtime threads can end the
	// process with "terminate called without an active exception" (SIGABRT), a failure of the
	// readers' shutdown after they answered, not of what they read.
	script := `
import json, os, sys
from deltalake import DeltaTable
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
rows = spark.sql("SELECT user_id, order_cnt_30d, order_amt_30d FROM tmp.enriched_orders_daily ORDER BY user_id").collect()
table = [r.asDict() for r in rows]
spark.stop()
feats = DeltaTable(sys.argv[2]).to_pyarrow_table().to_pylist()
for f in feats:
    f["dt"] = str(f["dt"])
sys.stdout.write(json.dumps({"table": table, "features": feats}) + "\n")
sys.stdout.flush()
os._exit(0)
`
	cmd := exec.Command(py, "-c", script, remote, featuresDir)
	b, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("read back: %v\nstderr: %s\nstdout: %.200s", err, stderr, b)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("read back: %v\n%s", err, b)
	}
	return out
}

type deltaRead struct {
	Rows       int `json:"rows"`
	PolarsRows int `json:"polars_rows"`
}

// deltaRSRead reads a Delta table with delta-rs and Polars (internal/cli/testdata/delta_interop.py).
func deltaRSRead(t *testing.T, py, path string) deltaRead {
	t.Helper()
	script, _ := filepath.Abs("../cli/testdata/delta_interop.py")
	out, err := exec.Command(py, script, "read", path).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("delta_interop.py read %s: %v\n%s", path, err, msg)
	}
	var r deltaRead
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return r
}
