package node

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// WaitLogEvery is how often Waiting logs while a call has not returned.
var WaitLogEvery = 10 * time.Second

// Waiting logs, every WaitLogEvery in which progress (when not nil) did not move, until done is
// called (more than once is fine), that the node is still waiting for what (a broker's acknowledgements, a commit) and how
// long it may still wait: a node stuck on a dead service says so in its log instead of staying
// silent until its deadline.
func Waiting(ctx context.Context, log *slog.Logger, what string, progress func() int64, attrs ...any) (done func()) {
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(WaitLogEvery)
		defer t.Stop()
		last := int64(-1)
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if progress != nil {
					p := progress()
					if p != last {
						last = p
						continue
					}
				}
				args := append([]any{"waiting_for", what, "waited_s", int(time.Since(start).Seconds())}, attrs...)
				if dl, ok := ctx.Deadline(); ok {
					args = append(args, "gives_up_in_s", int(time.Until(dl).Seconds()))
				}
				log.Warn("still waiting", args...)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop) }) }
}
