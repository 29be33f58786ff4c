//go:build !nospark

package spark_test

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
)

// deadRemote is a loopback port nobody listens on.
func deadRemote(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "sc://" + addr
}

const sqlPipeline = `api_version: aiflow/v1
pipeline: {id: spark_faults, schedule: "@daily", owner: t, team: t, env: dev, project: t}
nodes:
  - id: orders_onelake
    source: onelake
    with: {table: raw@@.sales_orders, format: parquet, partitions: {dt: "{{ params.day }}"}}
  - id: q
    transform: spark
    inputs: [orders_onelake]
    with: {sql: "%s"}
  - id: out
    sink: onelake
    engine: spark
    inputs: [orders_onelake]
    with: {table: fs@@.orders_copy, format: parquet, mode: %s, partition_by: [dt]}
`

func (w *workspace) faultSpec(sql, mode, day string) string {
	spec := fmt.Sprintf(sqlPipeline, sql, mode)
	spec = strings.Replace(spec, `owner: t,`, `owner: t, params: {day: "`+strings.ReplaceAll(day, `"`, `\"`)+`"},`, 1)
	return w.write("faults.yaml", strings.ReplaceAll(spec, "@@", w.sfx))
}

// No server: exit 75 within the connect timeout, naming the remote.
func TestNoServerIsTemporary(t *testing.T) {
	w := newWorkspace(t)
	dead := deadRemote(t)
	w.env["AIFLOW_SPARK_REMOTE"] = dead
	w.env["AIFLOW_SPARK_CONNECT_TIMEOUT"] = "2s"
	spec := w.faultSpec("SELECT 1", "overwrite", "2024-01-01")
	w.mustRun("run", "--pipeline", "spark_faults", "--node", "orders_onelake", "--ir", spec, "--run-id", "r")
	start := time.Now()
	r := w.run("run", "--pipeline", "spark_faults", "--node", "q", "--ir", spec, "--run-id", "r")
	took := time.Since(start)
	if r.code != 75 {
		t.Fatalf("exit %d, want 75\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, dead) || !strings.Contains(r.stderr, "connect timeout") {
		t.Fatalf("the error does not name the remote %s and the timeout:\n%s", dead, r.stderr)
	}
	// A bound on correctness (the timeout is honoured), not a benchmark: 2s plus generous slack.
	if took > 15*time.Second {
		t.Fatalf("gave up after %s with a 2s connect timeout", took)
	}
	// Once the server is there, the retry succeeds.
	w.env["AIFLOW_SPARK_REMOTE"] = w.remote
	s := w.session()
	w.sampleData(s)
	w.mustRun("run", "--pipeline", "spark_faults", "--node", "q", "--ir", spec, "--run-id", "r", "--try", "2")
}

// A SQL syntax error or a missing column: exit 65 with Spark's message.
func TestSQLErrorsAreDataErrors(t *testing.T) {
	w := newWorkspace(t)
	s := w.session()
	w.sampleData(s)
	for _, tc := range []struct{ name, sql, want string }{
		{"syntax", "SELEC user_id FROM orders_onelake", "PARSE_SYNTAX_ERROR"},
		{"missing column", "SELECT no_such_column FROM orders_onelake", "UNRESOLVED_COLUMN"},
		{"missing table", "SELECT * FROM no_such_view", "TABLE_OR_VIEW_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := w.faultSpec(tc.sql, "overwrite", "2024-01-01")
			run := "r-" + strings.ReplaceAll(tc.name, " ", "-")
			w.mustRun("run", "--pipeline", "spark_faults", "--node", "orders_onelake", "--ir", spec, "--run-id", run)
			r := w.run("run", "--pipeline", "spark_faults", "--node", "q", "--ir", spec, "--run-id", run)
			if r.code != 65 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, want 65 with %s:\n%s", r.code, tc.want, r.stderr)
			}
		})
	}
}

// A partition value with a quote in it is quoted, not executed.
func TestPartitionValueWithQuote(t *testing.T) {
	w := newWorkspace(t)
	s := w.session()
	w.sampleData(s)
	for i, tc := range []struct {
		day  string
		rows int64
	}{
		{"2024-01-01' OR '1'='1", 0},  // would read all 3000 rows if executed
		{`2024-01-01\' OR 1=1 --`, 0}, // backslash games
		{"2024-01-01", 1000},          // the control
	} {
		spec := w.faultSpec("SELECT * FROM orders_onelake", "overwrite", tc.day)
		run := fmt.Sprintf("q%d", i)
		w.mustRun("run", "--pipeline", "spark_faults", "--node", "orders_onelake", "--ir", spec, "--run-id", run)
		w.mustRun("run", "--pipeline", "spark_faults", "--node", "q", "--ir", spec, "--run-id", run)
		if m := w.committed("spark_faults", run, "q"); m.Rows != tc.rows {
			t.Fatalf("dt = %q read %d rows, want %d", tc.day, m.Rows, tc.rows)
		}
	}
	// And a value with a quote that exists is matched exactly.
	lit, _ := sqltext.String("o'brien")
	if err := s.Exec(t.Context(), "INSERT INTO raw"+w.sfx+".sales_orders SELECT 1, 1, 1.0, 'app', "+lit); err != nil {
		t.Fatal(err)
	}
	spec := w.faultSpec("SELECT * FROM orders_onelake", "overwrite", "o'brien")
	w.mustRun("run", "--pipeline", "spark_faults", "--node", "orders_onelake", "--ir", spec, "--run-id", "quoted")
	w.mustRun("run", "--pipeline", "spark_faults", "--node", "q", "--ir", spec, "--run-id", "quoted")
	if m := w.committed("spark_faults", "quoted", "q"); m.Rows != 1 {
		t.Fatalf("dt = o'brien read %d rows, want 1", m.Rows)
	}
}

// A crash after the table write but before the commit (the server or the pod gone): the next
// attempt succeeds and the table holds no duplicate rows, for overwrite and for append.
func TestRetryAfterWriteNoDuplicates(t *testing.T) {
	w := newWorkspace(t)
	s := w.session()
	w.sampleData(s)
	for _, mode := range []string{"overwrite", "append"} {
		t.Run(mode, func(t *testing.T) {
			spec := w.faultSpec("SELECT 1", mode, "2024-01-01")
			_ = s.Exec(t.Context(), "DROP TABLE IF EXISTS fs"+w.sfx+".orders_copy")
			for _, run := range []string{"a", "b"} { // two runs: the second writes into an existing table
				w.mustRun("run", "--pipeline", "spark_faults", "--node", "orders_onelake", "--ir", spec, "--run-id", mode+run)
				// Every step of the write fails once (a lost answer, a dead server): each retry
				// converges. Steps that do not happen in this mode never fire.
				try := 1
				for _, at := range []string{"table-created", "staged", "pending", "table-written", "sink-written"} {
					fired := false
					restore := spark.SetHook(func(stage string) error {
						if stage == at && !fired {
							fired = true
							return fault.Wrap(fault.Temporary, errors.New("connection reset"), "injected at %s", at)
						}
						return nil
					})
					r := w.run("run", "--pipeline", "spark_faults", "--node", "out", "--ir", spec, "--run-id", mode+run, "--try", strconv.Itoa(try))
					restore()
					try++
					if !fired {
						if r.code != 0 {
							t.Fatalf("%s (no failure injected): exit %d\n%s", at, r.code, r.stderr)
						}
						break // the node committed: later stages are not reached again
					}
					if r.code != 75 {
						t.Fatalf("injected failure at %s: exit %d, want 75\n%s", at, r.code, r.stderr)
					}
				}
				w.mustRun("run", "--pipeline", "spark_faults", "--node", "out", "--ir", spec, "--run-id", mode+run, "--try", strconv.Itoa(try))
			}
			want := int64(1000) // overwrite: the partition replaced by run b
			if mode == "append" {
				want = 2000 // two runs appended once each
			}
			if n := count(t, s, "SELECT count(*) FROM fs"+w.sfx+".orders_copy"); n != want {
				t.Fatalf("%s: table has %d rows after the retries, want %d", mode, n, want)
			}
			if n := count(t, s, "SELECT count(*) FROM (SELECT order_id FROM fs"+w.sfx+".orders_copy GROUP BY order_id HAVING count(*) > "+map[string]string{"overwrite": "1", "append": "2"}[mode]+")"); n != 0 {
				t.Fatalf("%s: %d duplicated orders", mode, n)
			}
		})
	}
}

func TestResolveRemote(t *testing.T) {
	cfg := func(remote string, clusters map[string]string) *config.Config {
		return &config.Config{SparkRemote: remote, SparkClusters: clusters}
	}
	for _, tc := range []struct {
		name    string
		c       *config.Config
		cluster string
		want    string
		class   fault.Class
	}{
		{"default remote", cfg("sc://h:15002", nil), "", "sc://h:15002", 0},
		{"cluster mapped", cfg("sc://h:15002", map[string]string{"emr": "sc://emr:15002"}), "emr", "sc://emr:15002", 0},
		{"cluster not mapped falls back", cfg("sc://h:15002", map[string]string{"emr": "sc://emr:15002"}), "other", "sc://h:15002", 0},
		{"nothing set", cfg("", nil), "", "", fault.Config},
		{"cluster and nothing set", cfg("", nil), "emr", "", fault.Config},
		{"bad scheme", cfg("http://h:15002", nil), "", "", fault.Config},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := spark.ResolveRemote(tc.c, tc.cluster, nil)
			if fault.ClassOf(err) != tc.class || got != tc.want {
				t.Fatalf("got %q, %v; want %q, class %v", got, err, tc.want, tc.class)
			}
		})
	}
	withToken := cfg("sc://h:443", nil)
	withToken.SparkToken = "s3cret"
	got, err := spark.ResolveRemote(withToken, "", nil)
	if err != nil || got != "sc://h:443/;token=s3cret" {
		t.Fatalf("token: %q %v", got, err)
	}
	if red := spark.Redact(got); strings.Contains(red, "s3cret") {
		t.Fatalf("Redact left the token: %s", red)
	}
}

// A cluster without the S3A file system (the test server has no hadoop-aws) cannot read s3a://
// at all: configuration (78), not a temporary error retried in vain.
func TestNoS3AFileSystemIsConfig(t *testing.T) {
	w := newWorkspace(t)
	s := w.session()
	df, err := s.Read().Format("parquet").Load("s3a://aiflow-no-bucket/x/")
	if err == nil {
		_, err = df.Collect(t.Context())
	}
	err = spark.Classify(err, w.remote)
	if c := fault.ClassOf(err); c != fault.Config {
		t.Fatalf("s3a:// on a server without hadoop-aws: class %v (%v), want config", c, err)
	}
}

// A files source with format json feeds a spark transform (plugins lists spark for it): the
// manifest's ndjson files are read with Spark's json source.
func TestJSONFilesFeedSpark(t *testing.T) {
	w := newWorkspace(t)
	in := w.write("events.json", `{"user_id": 1, "v": 5}
{"user_id": 2, "v": 7}
`)
	spec := w.write("json.yaml", `api_version: aiflow/v1
pipeline: {id: json_spark, owner: t, team: t, env: dev, project: t}
nodes:
  - {id: events, source: files, with: {path: "`+in+`", format: json}}
  - {id: q, transform: spark, inputs: [events], with: {sql: "SELECT sum(v) AS s FROM events"}}
`)
	w.mustRun("run", "--pipeline", "json_spark", "--all", "--ir", spec, "--run-id", "j")
	if m := w.committed("json_spark", "j", "q"); m.Rows != 1 {
		t.Fatalf("q: %d rows, want 1", m.Rows)
	}
}
