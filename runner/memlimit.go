package runner

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// setMemoryLimit gives the Go runtime a soft memory limit when GOMEMLIMIT is not set: 70% of the
// pod's cgroup memory limit, or 200 MiB without one. Streaming readers and writers keep the live
// heap near 100 MB; without a limit the GC lets garbage grow to twice that before collecting,
// which is what pushes a streaming copy past its RSS budget. The limit is soft: a node that
// really needs more memory (a large group-by) still gets it, at the cost of more GC work.
func setMemoryLimit() {
	// GOMEMLIMIT is the Go runtime's own variable, read by the runtime: only check it is unset.
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := int64(200 << 20)
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			limit = n * 7 / 10
		}
	}
	debug.SetMemoryLimit(limit)
}
