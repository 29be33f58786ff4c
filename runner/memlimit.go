package runner

import (
	"bufio"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
)

// streamingBudget is the soft memory limit of a runner outside a memory-limited container.
const streamingBudget = 200 << 20

// setMemoryLimit gives the Go runtime a soft memory limit when GOMEMLIMIT is not set.
//
// In a container with a memory limit (cgroup memory.max): 70% of it, fixed; past it the pod
// would be killed, so the GC working hard near it is the right trade.
//
// Otherwise 200 MiB to start with: streaming readers and writers keep the live heap near 100 MB,
// and without a limit the GC lets garbage grow to twice that before collecting, which is what
// pushed a streaming copy past its RSS budget. A node that really holds more (the group-by
// state of millions of groups) would, under a fixed 200 MiB, run the GC again and again for
// nothing: 300-350 collections instead of 25 at 30M orders / 3M groups, 7.5-9.5 s of CPU instead
// of 7.0 s. So after every collection the limit follows the live heap: 1.5 times it, never under
// the budget, never over 70% of the machine's memory.
//
// Outside a container it returns lift, which ends that limit for good (nil otherwise): the
// commands that load a whole tree of specs (compile, validate, plan) hold every pipeline loaded
// (~60 KB each, 600 MB for 10,000) and allocate several times that; a limit at 1.5 times the
// live heap collects twice as often as no limit, for nothing (`compile --check` of 10,000
// pipelines under the former fixed 200 MiB: 125 s of CPU; without a limit 12.5 s).
func setMemoryLimit() (lift func()) {
	// GOMEMLIMIT is the Go runtime's own variable, read by the runtime: only check it is unset.
	if os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	if n := readLimit("/sys/fs/cgroup/memory.max"); n > 0 {
		debug.SetMemoryLimit(n * 7 / 10)
		return nil
	}
	ceiling := memTotal("/proc/meminfo") * 7 / 10
	if ceiling < streamingBudget {
		ceiling = streamingBudget
	}
	return followLiveHeap(streamingBudget, ceiling)
}

// followLiveHeap sets the soft limit to budget and, after every collection, to limitFor the live
// heap, until the lift it returns removes the limit (the follower then leaves it alone).
func followLiveHeap(budget, ceiling int64) (lift func()) {
	var mu sync.Mutex
	lifted := false
	debug.SetMemoryLimit(budget)
	afterEveryGC(func() {
		mu.Lock()
		defer mu.Unlock()
		if !lifted {
			debug.SetMemoryLimit(limitFor(liveHeap(), budget, ceiling))
		}
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		lifted = true
		debug.SetMemoryLimit(math.MaxInt64)
	}
}

// limitFor is the soft limit for a live heap: 1.5 times it, within [budget, ceiling].
func limitFor(live, budget, ceiling int64) int64 {
	return max(budget, min(ceiling, live+live/2))
}

// readLimit reads a cgroup v2 memory limit: 0 for "max", a missing file or garbage.
func readLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// memTotal is MemTotal of /proc/meminfo in bytes (0 when unknown).
func memTotal(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// liveHeap is the heap the last collection marked live.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// gcSentinel is collected, and its finalizer run, once per GC cycle. It holds a pointer so it
// is never a tiny allocation (whose finalizer may never run).
type gcSentinel struct{ _ *int }

// afterEveryGC runs f on the finalizer goroutine after each garbage collection.
func afterEveryGC(f func()) {
	var arm func()
	arm = func() {
		runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
			f()
			arm()
		})
	}
	arm()
}
