//go:build aiflow_testhooks

package dataset

import (
	"context"
	"os"
	"sync"
)

// HoldEnv names a file: a runner built with -tags aiflow_testhooks writes it once its first data
// file is complete, then holds that write until the node's context is cancelled (SIGTERM) or the
// process is killed. Kill and signal tests wait for the file instead of guessing when a write is
// under way, so they always interrupt a write in progress.
const HoldEnv = "AIFLOW_TESTHOOK_HOLD_AFTER_FILE"

func init() {
	var once sync.Once
	fileWritten = func(ctx context.Context, uri string) {
		// Compiled only into test builds: the kill test names the marker in the runner's environment.
		marker := os.Getenv(HoldEnv)
		if marker == "" {
			return
		}
		once.Do(func() {
			if err := os.WriteFile(marker, []byte(uri+"\n"), 0o644); err != nil {
				return
			}
			<-ctx.Done()
		})
	}
}
