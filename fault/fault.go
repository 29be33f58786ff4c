// Package fault classifies errors where they arise so that the runner maps them to an exit code
// exactly once, in main (README.md, "The runner", lists the codes). A class travels with the error through %w wrapping and
// is recovered with errors.As, never with a bare type assertion.
package fault

import (
	"context"
	"errors"
	"fmt"
)

// Class is the kind of failure; its value is the BSD sysexits code the runner exits with.
type Class int

const (
	// Internal is a bug in aiflow (exit 1, Airflow retries).
	Internal Class = 1
	// Usage is a bad command line (exit 64, no retry).
	Usage Class = 64
	// Data is a data or user error: a transform raised, a check failed, a schema mismatch (exit 65, no retry).
	Data Class = 65
	// Temporary is a timeout, a refused connection, throttling, a service down (exit 75, retry).
	Temporary Class = 75
	// Config is an invalid spec or IR, an IR-hash mismatch, a policy denial, a missing setting (exit 78, no retry).
	Config Class = 78
)

// String names the class as it appears in result.json, logs and metrics labels.
func (c Class) String() string {
	switch c {
	case Usage:
		return "usage"
	case Data:
		return "data"
	case Temporary:
		return "temporary"
	case Config:
		return "config"
	case Internal:
		return "internal"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// ExitCode is the process exit code of the class.
func (c Class) ExitCode() int { return int(c) }

// Retryable reports whether Airflow should retry a task that failed with this class.
func (c Class) Retryable() bool { return c == Temporary || c == Internal }

// Error is an error with a class. Msg, when set, is prefixed to Err like a %w wrap.
type Error struct {
	Class Class
	Msg   string
	Err   error
}

func (e *Error) Error() string {
	switch {
	case e.Err == nil:
		return e.Msg
	case e.Msg == "":
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns a classified error with a formatted message.
func New(c Class, format string, args ...any) error {
	return &Error{Class: c, Msg: fmt.Sprintf(format, args...)}
}

// Wrap classifies err and says what was being done. A nil err stays nil.
func Wrap(c Class, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Msg: fmt.Sprintf(format, args...), Err: err}
}

// Classified reports whether err carries a class of its own: a classified error, or a context
// cancellation or deadline (ClassOf makes those Temporary), anywhere in its chain. Code that
// classifies a library's errors asks this first, so that a class given further down (by this
// module's own storage code, say, or a cancelled attempt) is kept instead of guessed again.
func Classified(err error) bool {
	var fe *Error
	return errors.As(err, &fe) || IsCancel(err)
}

// WrapOr says what was being done, keeping err's class when it has one (see Classified) and
// classifying it as c when it has none. A nil err stays nil.
func WrapOr(c Class, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if Classified(err) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
	}
	return Wrap(c, err, format, args...)
}

// Data, Config, Temporary and Usage are shorthands for New with that class.
func Dataf(format string, args ...any) error      { return New(Data, format, args...) }
func Configf(format string, args ...any) error    { return New(Config, format, args...) }
func Temporaryf(format string, args ...any) error { return New(Temporary, format, args...) }
func Usagef(format string, args ...any) error     { return New(Usage, format, args...) }

// ClassOf returns the class of the outermost classified error in err's chain. Context
// cancellation and deadlines anywhere in the chain are Temporary whatever a wrapper said (a killed
// or timed-out attempt may succeed when retried; a layer that wrapped the cancellation as a bug
// or as bad data before looking at its cause must not turn a SIGTERM into "failed"). Other
// unclassified errors are Internal. A nil error has class 0.
func ClassOf(err error) Class {
	if err == nil {
		return 0
	}
	if IsCancel(err) {
		return Temporary
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Class
	}
	return Internal
}

// IsCancel reports whether err is, or wraps, a context cancellation or deadline.
func IsCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// ExitCode maps an error to the runner's exit code: 0 for nil, else the code of its class.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	return ClassOf(err).ExitCode()
}
