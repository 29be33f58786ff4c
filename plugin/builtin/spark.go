//go:build !nospark

package builtin

import (
	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/plugin"
)

// registerSpark adds the spark engine with its runtime (Spark Connect).
func registerSpark(r *plugin.Registry) { spark.Register(r) }
