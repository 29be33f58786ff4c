package pyengine

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The subprocess exited before a feeder got to open its FIFO (an import error, say): the feeder
// must return, not block forever in open(2) waiting for a reader that will never come.
func TestFeederOfExitedProcessReturns(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "in.arrows")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	close(done)
	unblockWriter(fifo) // what Transform does after the process exits, here before the feeder runs
	ret := make(chan error, 1)
	go func() { ret <- feedInput(context.Background(), nil, "in", fifo, nil, done) }()
	select {
	case err := <-ret:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("feeder blocked opening a FIFO nobody will read")
	}
}
