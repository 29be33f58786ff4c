package metadata

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
)

// Lock is a named lock as the store holds it.
type Lock struct {
	Name  string    `json:"name"`
	Owner string    `json:"owner"`
	Taken time.Time `json:"taken"`
	Until time.Time `json:"until"`
}

const (
	tryLock = `
INSERT INTO aiflow_locks (name, owner, taken_us, until_us) VALUES ($1, $2, $3, $4)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_us = excluded.until_us,
    taken_us = CASE WHEN aiflow_locks.owner = excluded.owner THEN aiflow_locks.taken_us ELSE excluded.taken_us END
WHERE aiflow_locks.owner = excluded.owner OR aiflow_locks.until_us < excluded.taken_us`
	selectLock = `SELECT owner, taken_us, until_us FROM aiflow_locks WHERE name = $1`
	unlock     = `DELETE FROM aiflow_locks WHERE name = $1 AND owner = $2`
)

func (s *sqlStore) TryLock(ctx context.Context, name, owner string, ttl time.Duration) (Lock, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return Lock{}, fmt.Errorf("lock: name %q, owner %q and a positive ttl are required", name, owner)
	}
	// The clock is the caller's, as for the stream lease: the ttl is minutes, and the skew
	// between hosts that share a metadata store is far below that.
	now := time.Now()
	if _, err := s.db.ExecContext(ctx, tryLock, name, owner, micros(now), micros(now.Add(ttl))); err != nil {
		return Lock{}, s.fail(err, "take lock %s", name)
	}
	l := Lock{Name: name}
	var taken, until int64
	if err := s.db.QueryRowContext(ctx, selectLock, name).Scan(&l.Owner, &taken, &until); err != nil {
		// Freed between the two statements: free now, not ours; the caller tries again.
		if errors.Is(err, sql.ErrNoRows) {
			return l, nil
		}
		return Lock{}, s.fail(err, "read lock %s", name)
	}
	l.Taken, l.Until = fromMicros(taken), fromMicros(until)
	return l, nil
}

func (s *sqlStore) Unlock(ctx context.Context, name, owner string) error {
	_, err := s.db.ExecContext(ctx, unlock, name, owner)
	return s.fail(err, "free lock %s", name)
}

// LockOptions tunes HoldLock.
type LockOptions struct {
	// TTL is how long the lock outlives its holder's last renewal (default 2 minutes): how long
	// a retry waits for the lock of an attempt that was killed. The holder renews it every TTL/4.
	TTL time.Duration
	// Poll is the first wait between tries while another owner holds the lock (default 250 ms,
	// doubling up to 5 s).
	Poll time.Duration
	// Log, when set, says who holds the lock the caller waits for (once, then every minute).
	Log *slog.Logger
}

// LockOwner names a lock holder: what it does (a run's node attempt, say), then the host and
// process and a random part, so two attempts of one node never share an owner.
func LockOwner(what string) string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s on %s pid %d #%s", what, host, os.Getpid(), hex.EncodeToString(b))
}

// HoldLock waits until owner holds the named lock, then keeps renewing it until release is
// called. The returned context is ctx, cancelled with a temporary fault if a renewal finds the
// lock lost (the store unreachable past the lock's expiry, or the lock taken over): work done
// under the lock must use it, so a writer that may no longer be alone stops. A wait ends only
// with ctx (the node's timeout), as a temporary fault: the holder is alive and writing, and a
// dead holder's lock expires within one TTL.
func HoldLock(ctx context.Context, s Store, name, owner string, o LockOptions) (context.Context, func(), error) {
	if o.TTL <= 0 {
		o.TTL = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	start := time.Now()
	wait, logged := o.Poll, time.Time{}
	for {
		l, err := s.TryLock(ctx, name, owner, o.TTL)
		if err != nil {
			return nil, nil, err
		}
		if l.Owner == owner {
			break
		}
		if o.Log != nil && time.Since(logged) >= time.Minute {
			o.Log.Info("waiting for a lock another attempt holds", "lock", name, "holder", l.Owner, "until", l.Until.Format(time.RFC3339))
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, nil, fault.Wrap(fault.Temporary, context.Cause(ctx), "waited %s for lock %s (held by %s)", time.Since(start).Round(time.Second), name, l.Owner)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
	held, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(o.TTL / 4)
		defer t.Stop()
		until := time.Now().Add(o.TTL)
		for {
			select {
			case <-done:
				return
			case <-held.Done():
				return
			case <-t.C:
			}
			l, err := s.TryLock(held, name, owner, o.TTL)
			switch {
			case err == nil && l.Owner == owner:
				until = l.Until
			case err == nil:
				cancel(fault.New(fault.Temporary, "lock %s was taken over by %s: stopping so that two attempts never write at once", name, l.Owner))
				return
			case time.Now().After(until):
				cancel(fault.Wrap(fault.Temporary, err, "lock %s expired: its renewals failed", name))
				return
			}
		}
	}()
	release := func() {
		close(done)
		<-stopped
		cancel(nil)
		_ = s.Unlock(context.WithoutCancel(ctx), name, owner)
	}
	return held, release, nil
}
