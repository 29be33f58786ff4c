package runner

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestLimitFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, want int64
	}{
		{0, 200 * mib},          // nothing live yet: the budget
		{100 * mib, 200 * mib},  // a streaming node: the budget trims its garbage
		{200 * mib, 300 * mib},  // a large group-by: 1.5 times its live heap
		{900 * mib, 1000 * mib}, // never past the ceiling
	} {
		if got := limitFor(c.live, 200*mib, 1000*mib); got != c.want {
			t.Errorf("limitFor(%d MiB) = %d MiB, want %d MiB", c.live/mib, got/mib, c.want/mib)
		}
	}
}

func TestReadLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		content string
		want    int64
	}{{"536870912\n", 512 << 20}, {"max\n", 0}, {"", 0}, {"-1", 0}} {
		if got := readLimit(write("memory.max", c.content)); got != c.want {
			t.Errorf("memory.max %q: %d, want %d", c.content, got, c.want)
		}
	}
	if got := readLimit(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("missing memory.max: %d", got)
	}
	mi := write("meminfo", "MemTotal:       24731880 kB\nMemFree:         4311000 kB\n")
	if got := memTotal(mi); got != 24731880<<10 {
		t.Errorf("MemTotal: %d", got)
	}
}

// The limit follows the live heap from one collection to the next.
func TestAfterEveryGCFollowsTheLiveHeap(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	const budget = 4 << 20
	runs := make(chan int64, 64)
	afterEveryGC(func() {
		l := limitFor(liveHeap(), budget, 1<<40)
		select {
		case runs <- l:
		default:
		}
	})
	live := make([]*[1 << 20]byte, 48) // 48 MiB live, in pointers so it is scanned and kept
	for i := range live {
		live[i] = new([1 << 20]byte)
	}
	// Finalizers run on their own goroutine after a collection: collect until one reports
	// (a bound on tries, not on time).
	var last int64
	for try := 0; try < 200 && last < 72<<20; try++ {
		runtime.GC()
		select {
		case last = <-runs:
		case <-time.After(10 * time.Millisecond):
		}
	}
	runtime.KeepAlive(live)
	if last < 72<<20 {
		t.Fatalf("limit after collections with 48 MiB live: %d MiB, want 1.5 times the live heap", last>>20)
	}
}

// Lifted (compile, validate, plan), the limit is gone and the follower leaves it alone.
func TestLiftEndsTheFollower(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	lift := followLiveHeap(4<<20, 1<<40)
	if got := debug.SetMemoryLimit(-1); got != 4<<20 {
		t.Fatalf("limit before the lift: %d, want the budget", got)
	}
	lift()
	for range 5 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond) // the finalizer goroutine runs the follower
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("limit after the lift and 5 collections: %d, want none (MaxInt64)", got)
	}
}
