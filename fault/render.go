package fault

import (
	"io"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Error lines echo what users and upstream systems chose: ids, paths, parameter values, the
// first line of an exception. A control character among them (ESC starting a terminal sequence,
// CR rewriting the line, NUL, a C1 code, a Unicode line separator, a bidi override reordering
// what a reviewer reads) would act on the terminal or CI log that shows the line. Everything
// written for people is therefore passed through Escape (or an EscapeWriter): such characters
// are shown as Go escapes (\x1b, \r, \u202e), everything else as is.

// unsafeRune reports whether r must not reach a terminal or log raw. Newline and tab are
// layout (one problem per line, tables), the caller decides about them.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return true
	case r < 0x80:
		return false
	}
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// appendEscaped appends s to b with unsafe runes and invalid UTF-8 escaped; keepLayout leaves
// newline and tab raw.
func appendEscaped(b []byte, s []byte, keepLayout bool) []byte {
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\x`...)
			b = append(b, "0123456789abcdef"[s[0]>>4], "0123456789abcdef"[s[0]&15])
		case keepLayout && (r == '\n' || r == '\t'):
			b = append(b, byte(r))
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\u202e'
			b = append(b, q[1:len(q)-1]...)
		default:
			b = append(b, s[:n]...)
		}
		s = s[n:]
	}
	return b
}

// needsEscape reports whether appendEscaped would change s.
func needsEscape(s []byte, keepLayout bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 || c == 0x7f) && !(keepLayout && (c == '\n' || c == '\t')) {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if (r == utf8.RuneError && n == 1) || unsafeRune(r) {
			return true
		}
		i += n
	}
	return false
}

// Escape returns s with control characters (C0 but newline and tab, DEL, C1), Unicode format
// characters (bidi overrides and isolates, zero-width marks), line and paragraph separators and
// invalid UTF-8 written as Go escapes: safe to show on a terminal or in a CI log.
func Escape(s string) string {
	if !needsEscape([]byte(s), true) {
		return s
	}
	return string(appendEscaped(nil, []byte(s), true))
}

// EscapeLine is Escape for a text that must stay one line (a termination message): newline and
// tab are escaped too.
func EscapeLine(s string) string {
	if !needsEscape([]byte(s), false) {
		return s
	}
	return string(appendEscaped(nil, []byte(s), false))
}

// EscapeWriter passes what is written to w through Escape. A UTF-8 sequence split across two
// writes is held until it is complete (Flush writes out an incomplete one, escaped). It is safe
// for concurrent use.
type EscapeWriter struct {
	mu   sync.Mutex
	w    io.Writer
	pend []byte
	buf  []byte
}

// NewEscapeWriter returns an EscapeWriter writing to w.
func NewEscapeWriter(w io.Writer) *EscapeWriter { return &EscapeWriter{w: w} }

// Unwrap returns the writer escaped text goes to.
func (e *EscapeWriter) Unwrap() io.Writer { return e.w }

func (e *EscapeWriter) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := p
	if len(e.pend) > 0 {
		b = append(e.pend, p...)
		e.pend = nil
	}
	// Hold back an incomplete sequence at the end (at most 3 bytes).
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			if b[i] >= utf8.RuneSelf && !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	if cut < len(b) {
		e.pend = append([]byte(nil), b[cut:]...)
		b = b[:cut]
	}
	out := b
	if needsEscape(b, true) {
		e.buf = appendEscaped(e.buf[:0], b, true)
		out = e.buf
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes out a held incomplete sequence, escaped.
func (e *EscapeWriter) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.pend) == 0 {
		return nil
	}
	out := appendEscaped(nil, e.pend, true)
	e.pend = nil
	_, err := e.w.Write(out)
	return err
}
