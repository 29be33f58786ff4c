//go:build !nospark

package spark_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// TestUserFeaturesExample runs the seed's daily_user_feature_pipeline (examples/user_features)
// end to end against the real server, from the sample data the example creates: onelake source
// on Spark → Spark SQL → the python engine → the onelake sink. It uses the example's own table
// names (raw.sales_orders, tmp.enriched_orders_daily), as its README does.
func TestUserFeaturesExample(t *testing.T) {
	w := newWorkspace(t)
	py := testenv.Require(t, testenv.Python)
	w.env["AIFLOW_PYTHON"] = py
	example, err := filepath.Abs("../../examples/user_features")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AIFLOW_PYTHONPATH", example)
	s, err := spark.Connect(context.Background(), spark.Options{Remote: w.remote})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := os.ReadFile(filepath.Join(example, "sampledata", "sample_data.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(context.Background(), spark.Statements(strings.ReplaceAll(string(b), "{{format}}", "parquet"))...); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(example, "pipeline.yaml")
	w.mustRun("run", "--pipeline", "daily_user_feature_pipeline", "--all", "--ir", spec, "--run-id", "seed", "--logical-date", "2024-01-02")
	for node, rows := range map[string]int64{"enrich_orders": 97, "build_user_features": 97, "user_features_onelake": 97} {
		if m := w.committed("daily_user_feature_pipeline", "seed", node); m.Rows != rows {
			t.Errorf("%s: %d rows, want %d", node, m.Rows, rows)
		}
	}
	if n := count(t, s, "SELECT count(*) FROM tmp.enriched_orders_daily WHERE dt = '2024-01-02'"); n != 97 {
		t.Errorf("tmp.enriched_orders_daily: %d rows, want 97", n)
	}
	r := w.mustRun("runs", "show", "seed")
	for _, n := range []string{"orders_onelake", "enrich_orders", "build_user_features", "user_features_onelake"} {
		if !strings.Contains(r.stdout, n) {
			t.Errorf("runs show seed lacks %s:\n%s", n, r.stdout)
		}
	}
}
