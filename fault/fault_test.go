package fault

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain error is a bug", base, 1},
		{"config", Configf("bad spec"), 78},
		{"data wrapped twice keeps its class", fmt.Errorf("run node x: %w", fmt.Errorf("read: %w", Wrap(Data, base, "parse"))), 65},
		{"outermost class wins", Wrap(Config, Temporaryf("db down"), "load"), 78},
		{"canceled is temporary", fmt.Errorf("write: %w", context.Canceled), 75},
		{"deadline is temporary", context.DeadlineExceeded, 75},
		{"usage", Usagef("unknown flag"), 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Fatalf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	err := Wrap(Data, errors.New("bad row 7"), "read %s", "orders.csv")
	if got, want := err.Error(), "read orders.csv: bad row 7"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if !errors.Is(err, err.(*Error).Err) {
		t.Fatal("Unwrap lost the cause")
	}
	if Wrap(Data, nil, "x") != nil {
		t.Fatal("Wrap(nil) must be nil")
	}
	if !Temporary.Retryable() || Data.Retryable() || Config.Retryable() || !Internal.Retryable() {
		t.Fatal("retryable classes wrong")
	}
}

// A cancellation wrapped as a bug or as data by a layer that did not look at its cause is still
// an interruption: temporary, retried.
func TestCancellationWinsOverWrapper(t *testing.T) {
	for _, err := range []error{
		Wrap(Internal, context.Canceled, "write part-0"),
		Wrap(Data, fmt.Errorf("encode: %w", context.DeadlineExceeded), "sink"),
		fmt.Errorf("publish: %w", Wrap(Internal, context.Canceled, "")),
	} {
		if c := ClassOf(err); c != Temporary {
			t.Errorf("%v: class %s, want temporary", err, c)
		}
	}
}

// WrapOr keeps a class given further down (or a cancellation) and classifies only what has none.
func TestWrapOr(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"unclassified takes the default", errors.New("eof"), Data},
		{"a class is kept", fmt.Errorf("get: %w", Temporaryf("s3 down")), Temporary},
		{"a cancellation stays temporary", fmt.Errorf("copy: %w", context.Canceled), Temporary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WrapOr(Data, tt.err, "read %s", "x.parquet")
			if got := ClassOf(err); got != tt.want {
				t.Fatalf("class %s, want %s", got, tt.want)
			}
			if want := "read x.parquet: " + tt.err.Error(); err.Error() != want {
				t.Fatalf("message %q, want %q", err, want)
			}
			if !errors.Is(err, tt.err) {
				t.Fatal("the cause is lost")
			}
		})
	}
	if WrapOr(Data, nil, "x") != nil {
		t.Fatal("WrapOr(nil) must be nil")
	}
	if Classified(errors.New("x")) || !Classified(Dataf("x")) || !Classified(context.Canceled) {
		t.Fatal("Classified is wrong")
	}
}
