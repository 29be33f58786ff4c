package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// retriable runs fn again while it fails with an error Kafka calls retriable (a group coordinator
// that is still loading or not yet elected on a fresh broker, a leader moving) and ctx allows:
// those answers mean "ask again in a moment", not "fail the node".
func retriable[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	backoff := 100 * time.Millisecond
	for {
		v, err := fn()
		var ke *kerr.Error
		if err == nil || !errors.As(err, &ke) || !ke.Retriable {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}
