//go:build nospark

package builtin

import (
	"github.com/aiflow-dev/aiflow/internal/spark/sparkspec"
	"github.com/aiflow-dev/aiflow/plugin"
)

// registerSpark adds the spark engine's spec alone: this runner was built without Spark.
func registerSpark(r *plugin.Registry) { sparkspec.Register(r) }
