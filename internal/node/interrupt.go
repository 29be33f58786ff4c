package node

import (
	"context"
	"sync"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// live is the attempt a Runner has started and not yet ended in the ledger: what Interrupt
// ends when the process is about to die with the attempt still inside a call.
type live struct {
	a        *metadata.Attempt // nil when no attempt row is open
	maxTries int
}

// liveMu guards every Runner's live: one lock for the package, so that a Runner stays a plain
// value that can be copied (a test's variant of a runner); it is taken twice per attempt.
var liveMu sync.Mutex

// open notes the attempt whose row StartAttempt just wrote.
func (l *live) open(a metadata.Attempt, maxTries int) {
	liveMu.Lock()
	defer liveMu.Unlock()
	l.a, l.maxTries = &a, maxTries
}

// take hands the open attempt with this id (any, when "") to whoever ends it first (finish, or
// Interrupt), once: the other finds nil and leaves the row alone.
func (l *live) take(attemptID string) (*metadata.Attempt, int) {
	liveMu.Lock()
	defer liveMu.Unlock()
	a := l.a
	if a == nil || attemptID != "" && a.AttemptID != attemptID {
		return nil, 0
	}
	l.a = nil
	return a, l.maxTries
}

// Interrupt records the attempt this Runner is running, if any, as interrupted with exit code 75
// and cause as its error, and, when no retry will follow (its try is the last), the run as
// failed: the process is about to end with the attempt still inside a call that ignores its
// context (the watchdog). It waits at most within for the ledger, never longer, whatever the
// store does (a hung database cannot hold the process): it reports whether the ledger answered
// in time. Without an open attempt it does nothing and returns true. The attempt's own end
// (finish) writes nothing after Interrupt took the attempt.
func (r *Runner) Interrupt(within time.Duration, cause error) bool {
	a, maxTries := r.live.take("")
	if a == nil {
		return true
	}
	now := time.Now().UTC()
	code := fault.Temporary.ExitCode()
	a.Status, a.ExitCode, a.EndedAt = metadata.AttemptInterrupted, &code, &now
	a.ErrorClass, a.ErrorMessage = fault.Temporary.String(), truncate(cause.Error(), 4000)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := r.Meta.EndAttempt(ctx, *a)
		if err == nil && a.Try > maxTries {
			// No retry will mark it or settle the run: this was the task's last try.
			err = r.Meta.EndRun(ctx, a.Pipeline, a.RunID, metadata.RunFailed, now)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && r.Log != nil {
			r.Log.Error("could not record the interrupted attempt", "attempt_id", a.AttemptID, "error", err)
		}
		return err == nil
	case <-time.After(within):
		if r.Log != nil {
			r.Log.Error("could not record the interrupted attempt: the ledger did not answer", "attempt_id", a.AttemptID, "waited", within)
		}
		return false
	}
}
