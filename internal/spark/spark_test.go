//go:build !nospark

package spark_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/plugin"
)

// workspace is a temporary AIFLOW_HOME (SQLite metadata, file:// staging) whose spark nodes run
// on the test server.
type workspace struct {
	t      *testing.T
	dir    string
	env    map[string]string
	remote string
	sfx    string // namespace suffix: tables of one test never collide with another's
}

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	remote := testenv.Require(t, testenv.SparkRemote)
	dir := t.TempDir()
	return &workspace{t: t, dir: dir, remote: remote, sfx: fmt.Sprintf("_%d", time.Now().UnixNano()%1e9),
		env: map[string]string{
			"AIFLOW_HOME":         filepath.Join(dir, ".aiflow"),
			"AIFLOW_SPARK_REMOTE": remote,
			"AIFLOW_LOG_FORMAT":   "text",
			"AIFLOW_LOG_LEVEL":    "warn",
		}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (w *workspace) run(args ...string) result {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.RunWith(&cli.Env{
		Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Registry: plugin.Default,
		Lookup: func(k string) (string, bool) { v, ok := w.env[k]; return v, ok },
	}, args)
	return result{code, stdout.String(), stderr.String()}
}

// spec writes a pipeline from testdata with this test's namespace suffix.
func (w *workspace) spec(name string) string {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		w.t.Fatal(err)
	}
	return w.write(name, strings.ReplaceAll(string(b), "@@", w.sfx))
}

func (w *workspace) write(name, content string) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// session opens a session for checks and drops the test's namespaces at the end.
func (w *workspace) session() *spark.Session {
	w.t.Helper()
	s, err := spark.Connect(context.Background(), spark.Options{Remote: w.remote, ConnectTimeout: 60 * time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		ctx := context.Background()
		for _, ns := range []string{"raw", "tmp", "fs"} {
			_ = s.Exec(ctx, "DROP NAMESPACE IF EXISTS "+ns+w.sfx+" CASCADE")
		}
		s.Close()
	})
	return s
}

// sampleData creates raw<sfx>.sales_orders from the example's script.
func (w *workspace) sampleData(s *spark.Session) {
	w.t.Helper()
	b, err := os.ReadFile("../../examples/user_features/sampledata/sample_data.sql")
	if err != nil {
		w.t.Fatal(err)
	}
	// A Parquet catalog table (the sample's --format parquet); Delta tables at the lake root
	// are covered by TestUserFeaturesExample and delta_test.go.
	script := strings.NewReplacer("{{create}}", "CREATE TABLE raw.sales_orders", "{{format}}", "parquet").Replace(string(b))
	script = strings.ReplaceAll(script, "raw", "raw"+w.sfx)
	if err := s.Exec(context.Background(), spark.Statements(script)...); err != nil {
		w.t.Fatal(err)
	}
}

func query(t *testing.T, s *spark.Session, q string) [][]any {
	t.Helper()
	df, err := s.Sql(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	rows, err := df.Collect(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = r.Values()
	}
	return out
}

func count(t *testing.T, s *spark.Session, q string) int64 {
	t.Helper()
	rows := query(t, s, q)
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows", q, len(rows))
	}
	return rows[0][0].(int64)
}

// committed reads a node's committed manifest (the copy next to its attempts).
func (w *workspace) committed(pipeline, run, nodeID string) *manifest.Manifest {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.env["AIFLOW_HOME"], "staging", pipeline, run, nodeID, "_manifest.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	var m manifest.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatal(err)
	}
	return &m
}

func (w *workspace) mustRun(args ...string) result {
	w.t.Helper()
	r := w.run(args...)
	if r.code != 0 {
		w.t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// TestOrdersPipeline runs the seed's spark nodes end to end on the real server: a onelake source
// pinned for Spark, Spark SQL over it with output_table, an arrow node reading the Spark-staged
// Parquet, and the onelake sink on Spark (overwrite by partition).
func TestOrdersPipeline(t *testing.T) {
	w := newWorkspace(t)
	s := w.session()
	w.sampleData(s)
	spec := w.spec("orders.yaml")
	for _, n := range []string{"orders_onelake", "enrich_orders", "big_spenders", "user_orders_onelake"} {
		w.mustRun("run", "--pipeline", "spark_orders", "--node", n, "--ir", spec, "--run-id", "r1", "--logical-date", "2024-01-02")
	}
	// 1000 orders per day, user_id = id % 97: 97 users on 2024-01-02.
	m := w.committed("spark_orders", "r1", "enrich_orders")
	if m.Kind != manifest.KindFiles || m.Format != "parquet" || len(m.Files) == 0 || m.Rows != 97 {
		t.Fatalf("enrich_orders manifest: kind %s format %s files %d rows %d", m.Kind, m.Format, len(m.Files), m.Rows)
	}
	if in := m.Details["inputs"].(map[string]any)["orders_onelake"].(map[string]any); in["rows"].(float64) != 1000 {
		t.Fatalf("rows read from orders_onelake: %v, want 1000", in["rows"])
	}
	names := []string{}
	for _, f := range m.Schema {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "user_id,dt,order_cnt_30d,order_amt_30d" {
		t.Fatalf("staged schema %s", got)
	}
	if n := count(t, s, "SELECT count(*) FROM tmp"+w.sfx+".enriched_orders_daily"); n != 97 {
		t.Fatalf("output_table has %d rows, want 97", n)
	}
	big := w.committed("spark_orders", "r1", "big_spenders")
	want := count(t, s, "SELECT count(*) FROM tmp"+w.sfx+".enriched_orders_daily WHERE order_amt_30d >= 500")
	if big.Rows != want || want == 0 {
		t.Fatalf("arrow node read the Spark staging: %d rows, want %d", big.Rows, want)
	}
	sink := w.committed("spark_orders", "r1", "user_orders_onelake")
	if sink.Kind != manifest.KindTable || sink.Rows != 97 || sink.Table.Filter != "`dt` = '2024-01-02'" {
		t.Fatalf("sink manifest: kind %s rows %d table %+v", sink.Kind, sink.Rows, sink.Table)
	}
	// The sink's default format is delta: the Delta table at <lake root>/fs…/user_orders_daily.
	table, err := spark.DeltaPath("file://" + filepath.Join(w.dir, ".aiflow", "lake", "fs"+w.sfx, "user_orders_daily"))
	if err != nil {
		t.Fatal(err)
	}
	// Another day adds a partition; running the first day again replaces only its partition.
	w.mustRun("run", "--pipeline", "spark_orders", "--all", "--ir", spec, "--run-id", "r2", "--logical-date", "2024-01-03")
	w.mustRun("run", "--pipeline", "spark_orders", "--all", "--ir", spec, "--run-id", "r3", "--logical-date", "2024-01-02")
	rows := query(t, s, "SELECT dt, count(*), sum(order_cnt_30d) FROM "+table+" GROUP BY dt ORDER BY dt")
	if fmt.Sprint(rows) != "[[2024-01-02 97 1000] [2024-01-03 97 1000]]" {
		t.Fatalf("table by dt: %v", rows)
	}
	// The attempt recorded what it read and wrote.
	r := w.mustRun("runs", "show", "r3")
	if !strings.Contains(r.stdout, "user_orders_onelake") {
		t.Fatalf("runs show r3:\n%s", r.stdout)
	}
}
