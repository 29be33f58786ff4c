//go:build !nospark

package spark_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/spark-connect-go/spark/sparkerrors"
	"github.com/apache/spark-connect-go/spark/sql"
	"google.golang.org/grpc/codes"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/plugin/sparkfn"
)

func init() {
	// The seed's shape: (ctx, spark, inputs, params) → DataFrame.
	sparkfn.Register("spark_test:web_orders", func(ctx context.Context, s sql.SparkSession, in map[string]sql.DataFrame, params map[string]any) (sql.DataFrame, error) {
		if params["ds"] != "2024-01-02" {
			return nil, fault.Dataf("params: ds = %v", params["ds"])
		}
		return in["orders_onelake"].Where(ctx, "channel = 'web'")
	})
}

const funcPipeline = `api_version: aiflow/v1
pipeline: {id: spark_func, schedule: "@daily", owner: t, team: t, env: dev, project: t}
nodes:
  - id: orders_onelake
    source: onelake
    with: {table: raw@@.sales_orders, format: parquet, partitions: {dt: "{{ ds }}"}}
  - id: web_orders
    transform: spark
    inputs: [orders_onelake]
    with: {entrypoint: "spark_test:web_orders"}
`

func TestGoFunction(t *testing.T) {
	w := newWorkspace(t)
	s := w.session()
	w.sampleData(s)
	spec := w.write("func.yaml", strings.ReplaceAll(funcPipeline, "@@", w.sfx))
	w.mustRun("run", "--pipeline", "spark_func", "--all", "--ir", spec, "--run-id", "f", "--logical-date", "2024-01-02")
	// id % 5 = 0 is web: 200 of the day's 1000 orders.
	if m := w.committed("spark_func", "f", "web_orders"); m.Rows != 200 {
		t.Fatalf("web_orders: %d rows, want 200", m.Rows)
	}
	// A name that is neither a registered Go function nor a Python module:function is refused
	// before anything runs; a module:function that is not a Go function is a PySpark entrypoint.
	r := w.run("validate", w.write("unknown.yaml", strings.ReplaceAll(strings.ReplaceAll(funcPipeline, "@@", w.sfx), "spark_test:web_orders", "spark test nope")))
	if r.code != 78 || !strings.Contains(r.stderr, "spark test nope") {
		t.Fatalf("malformed entrypoint: exit %d\n%s", r.code, r.stderr)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want fault.Class
	}{
		{"syntax", sparkerrors.WithType(&sparkerrors.SparkError{Code: codes.Internal, SqlState: "42601", ErrorClass: "PARSE_SYNTAX_ERROR", Message: "Syntax error"}, sparkerrors.ExecutionError), fault.Data},
		{"missing column", &sparkerrors.SparkError{Code: codes.Internal, SqlState: "42703", ErrorClass: "UNRESOLVED_COLUMN.WITH_SUGGESTION"}, fault.Data},
		{"cast", &sparkerrors.SparkError{Code: codes.Internal, SqlState: "22018", ErrorClass: "CAST_INVALID_INPUT"}, fault.Data},
		{"session changed", &sparkerrors.SparkError{Code: codes.Internal, SqlState: "", ErrorClass: "INVALID_HANDLE.SESSION_CHANGED"}, fault.Temporary},
		{"unavailable", &sparkerrors.SparkError{Code: codes.Unavailable, Message: "connection refused"}, fault.Temporary},
		{"delta protocol changed", &sparkerrors.SparkError{Code: codes.Internal, SqlState: "2D521", ErrorClass: "DELTA_PROTOCOL_CHANGED", Message: "ProtocolChangedException"}, fault.Temporary},
		{"delta concurrent append", &sparkerrors.SparkError{Code: codes.Internal, SqlState: "2D521", ErrorClass: "DELTA_CONCURRENT_APPEND.WITHOUT_HINT"}, fault.Temporary},
		{"delta conflict in the message only", &sparkerrors.SparkError{Code: codes.Internal, Message: "[DELTA_PROTOCOL_CHANGED] ProtocolChangedException: ..."}, fault.Temporary},
		{"no sqlstate", &sparkerrors.SparkError{Code: codes.Internal, Message: "executor lost"}, fault.Temporary},
		{"system sqlstate", &sparkerrors.SparkError{Code: codes.Internal, SqlState: "XX000", ErrorClass: "INTERNAL_ERROR"}, fault.Temporary},
		{"unauthenticated", &sparkerrors.SparkError{Code: codes.Unauthenticated}, fault.Config},
		{"insufficient privilege", &sparkerrors.SparkError{Code: codes.Internal, SqlState: "42501", ErrorClass: "INSUFFICIENT_PERMISSIONS"}, fault.Config},
		{"deadline", context.DeadlineExceeded, fault.Temporary},
		{"already classified", fault.Configf("x"), fault.Config},
		{"other", errors.New("bug"), fault.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fault.ClassOf(spark.Classify(tc.err, "sc://h:1")); got != tc.want {
				t.Fatalf("class %v, want %v", got, tc.want)
			}
		})
	}
}
