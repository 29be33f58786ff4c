// Package sparkfn is the public API for a team's own Spark transforms written in Go :
// a function with the seed's shape (ctx, spark, inputs, params) → DataFrame, registered under a
// name that a spark transform names in its `entrypoint`. The spark engine registers every input
// as a temp view named by its node id before calling the function, hands it the inputs as
// DataFrames by node id, and stages the returned DataFrame as Parquet written by Spark (never
// collected through the client).
//
//	func init() {
//		sparkfn.Register("features:enrich_orders", func(ctx context.Context, spark sql.SparkSession,
//			in map[string]sql.DataFrame, params map[string]any) (sql.DataFrame, error) {
//			return spark.Sql(ctx, "SELECT user_id, count(*) AS n FROM orders_onelake GROUP BY user_id")
//		})
//	}
//
// A returned error keeps its fault class (package fault); an unclassified error fails the node
// with exit 65 (a user error), like a Spark SQL error.
package sparkfn

import (
	"context"
	"fmt"

	"github.com/apache/spark-connect-go/spark/sql"

	"github.com/aiflow-dev/aiflow/plugin"
)

// Func is a Spark transform in Go. inputs maps each input node id to its DataFrame; params are
// the node's template variables (ds, run_id, logical_date and the pipeline params).
type Func func(ctx context.Context, spark sql.SparkSession, inputs map[string]sql.DataFrame, params map[string]any) (sql.DataFrame, error)

const namespace = "spark"

// Register makes fn callable as `entrypoint: name` of a spark transform in plugin.Default. Like
// database/sql.Register it panics on an empty name, a nil function or a duplicate.
func Register(name string, fn Func) { RegisterIn(plugin.Default, name, fn) }

// RegisterIn registers fn in r.
func RegisterIn(r *plugin.Registry, name string, fn Func) {
	if name == "" || fn == nil {
		panic("sparkfn: Register needs a name and a function")
	}
	if _, dup := plugin.Func[Func](r, namespace, name); dup {
		panic(fmt.Sprintf("sparkfn: Register called twice for %q", name))
	}
	plugin.RegisterFunc(r, namespace, name, fn)
}

// Lookup returns the function registered in r under name.
func Lookup(r *plugin.Registry, name string) (Func, error) {
	fn, ok := plugin.Func[Func](r, namespace, name)
	if !ok {
		return nil, fmt.Errorf("spark function %q is not registered in this runner (sparkfn.Register in an init of a package the runner imports)", name)
	}
	return fn, nil
}
