//go:build !nospark

package spark_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestContract: on the spark engine a warn check publishes output_table and is recorded; an
// error-severity check and a schema violation exit 65 before output_table is written: Spark
// still reads the previous day's rows, and the files sink was not run.
func TestContract(t *testing.T) {
	w := newWorkspace(t)
	s := w.session()
	w.sampleData(s)
	b, err := os.ReadFile(filepath.Join("testdata", "contract.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(w.dir, "out")
	spec := func(name, severity, amtType string) string {
		return w.write(name+".yaml", strings.NewReplacer("@@", w.sfx, "SEVERITY", severity, "AMT_TYPE", amtType, "OUT", out+"/").Replace(string(b)))
	}
	table := "tmp" + w.sfx + ".enriched_orders_daily"
	state := func() string {
		return fmt.Sprint(query(t, s, "SELECT dt, count(*), sum(order_cnt_30d) FROM "+table+" GROUP BY dt"))
	}

	w.mustRun("run", "--pipeline", "spark_contract", "--all", "--ir", spec("ok", "warn", "float64"), "--run-id", "r1", "--logical-date", "2024-01-02")
	before := state()
	if before != "[[2024-01-02 97 1000]]" {
		t.Fatalf("output_table after r1: %s", before)
	}
	show := w.mustRun("runs", "show", "r1").stdout
	for _, want := range []string{"busy_users", "warned", "unique(user_id)", "passed"} {
		if !strings.Contains(show, want) {
			t.Errorf("runs show r1 lacks %q:\n%s", want, show)
		}
	}
	sinkFiles, _ := filepath.Glob(filepath.Join(out, "*.parquet"))
	if len(sinkFiles) == 0 {
		t.Fatal("r1 published no files")
	}

	for _, c := range []struct{ run, severity, amtType, want string }{
		{"r2", "error", "float64", "busy_users: 97 rows where order_cnt_30d > 5 (must be 0)"},
		{"r3", "warn", "int64", "schema(order_amt_30d): column order_amt_30d is float64, declared int64"},
	} {
		r := w.run("run", "--pipeline", "spark_contract", "--all", "--ir", spec(c.run, c.severity, c.amtType), "--run-id", c.run, "--logical-date", "2024-01-03")
		if r.code != 65 || !strings.Contains(r.stderr, c.want) {
			t.Fatalf("%s: exit %d, want 65 with %q\n%s", c.run, r.code, c.want, r.stderr)
		}
		if got := state(); got != before {
			t.Errorf("%s: output_table changed: %s, want %s", c.run, got, before)
		}
		files, _ := filepath.Glob(filepath.Join(out, "*.parquet"))
		if fmt.Sprint(files) != fmt.Sprint(sinkFiles) {
			t.Errorf("%s: the sink's folder changed: %v, want %v", c.run, files, sinkFiles)
		}
	}
}
