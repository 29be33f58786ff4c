//go:build !nospark

package cli

// The spark engine (Spark Connect); `go build -tags nospark` leaves it out of a slim runner.
import _ "github.com/aiflow-dev/aiflow/internal/spark"
