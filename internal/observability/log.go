package observability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Redacted replaces every occurrence of a secret value in logs and lineage events.
const Redacted = "[REDACTED]"

// MinSecretLen is the shortest value a Redactor masks. Shorter values ("1", "on", "dev") would
// mask every occurrence of common text and a value that short protects nothing (Airflow's secrets
// masker makes the same choice).
const MinSecretLen = 4

// Redactor holds the secret values resolved during a run and masks them. It is safe for
// concurrent use; values added later apply to everything written afterwards.
type Redactor struct {
	mu      sync.Mutex
	secrets map[string]struct{}
	state   atomic.Pointer[redactState]
}

type redactState struct {
	r      *strings.Replacer
	olds   []string // longest first
	maxLen int
}

// NewRedactor returns a Redactor with no secrets.
func NewRedactor() *Redactor { return &Redactor{secrets: map[string]struct{}{}} }

// Add registers secret values. Each value is also registered in the forms a log encoder writes
// it (JSON-escaped, Go-quoted) and, when it spans lines, line by line, so that a PEM key or a
// value with quotes is masked however it reaches the output.
func (r *Redactor) Add(values ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	add := func(s string) {
		if len(s) < MinSecretLen {
			return
		}
		if _, ok := r.secrets[s]; !ok {
			r.secrets[s] = struct{}{}
			added = true
		}
	}
	for _, v := range values {
		for _, form := range secretForms(v) {
			add(form)
		}
		if strings.ContainsAny(v, "\r\n") {
			for _, line := range strings.FieldsFunc(v, func(c rune) bool { return c == '\n' || c == '\r' }) {
				for _, form := range secretForms(strings.TrimSpace(line)) {
					add(form)
				}
			}
		}
	}
	if !added {
		return
	}
	olds := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		olds = append(olds, s)
	}
	// strings.Replacer tries the old strings in argument order at each position: longest first,
	// so that a secret containing another is masked whole.
	sort.Slice(olds, func(i, j int) bool {
		if len(olds[i]) != len(olds[j]) {
			return len(olds[i]) > len(olds[j])
		}
		return olds[i] < olds[j]
	})
	pairs := make([]string, 0, 2*len(olds))
	for _, s := range olds {
		pairs = append(pairs, s, Redacted)
	}
	r.state.Store(&redactState{r: strings.NewReplacer(pairs...), olds: olds, maxLen: len(olds[0])})
}

// secretForms is the value as written raw, inside a JSON string (with and without HTML escaping)
// and inside a Go-quoted string (slog's text handler).
func secretForms(v string) []string {
	forms := []string{v}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		forms = append(forms, strings.TrimSuffix(strings.TrimSuffix(buf.String(), "\n"), `"`)[1:])
	}
	if b, err := json.Marshal(v); err == nil {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	q := strconv.Quote(v)
	forms = append(forms, q[1:len(q)-1])
	// Inside a URL (a DSN's userinfo or query, an error quoting a request): the escaped spellings.
	forms = append(forms, url.QueryEscape(v), url.PathEscape(v), strings.TrimSuffix(url.UserPassword("u", v).String(), "@")[2:])
	return forms
}

// Redact returns s with every registered secret replaced by [REDACTED].
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	st := r.state.Load()
	if st == nil {
		return s
	}
	return st.r.Replace(s)
}

// Writer wraps w so that every byte written through it is redacted: the safety net under the log
// handler, and the filter for anything else that reaches stdout and stderr (a subprocess's
// output, a panic message copied there). Output is line-buffered so that a secret split over two
// writes is still found; call Flush (or Close) at exit for a last line without a newline.
func (r *Redactor) Writer(w io.Writer) *RedactingWriter {
	if r == nil {
		r = NewRedactor()
	}
	return &RedactingWriter{r: r, w: w}
}

// RedactingWriter is an io.Writer filter returned by Redactor.Writer. It is safe for concurrent use.
type RedactingWriter struct {
	r   *Redactor
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// maxPending is how much of a line without a newline the writer holds before writing it out.
const maxPending = 64 << 10

// Write implements io.Writer. It reports len(p) written unless the underlying writer fails.
func (rw *RedactingWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	st := rw.r.state.Load()
	if st == nil && len(rw.buf) == 0 {
		if _, err := rw.w.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	rw.buf = append(rw.buf, p...)
	cut := bytes.LastIndexByte(rw.buf, '\n') + 1
	if cut == 0 && len(rw.buf) > maxPending {
		cut = safeCut(rw.buf, st)
	}
	if cut == 0 {
		return len(p), nil
	}
	err := rw.emit(rw.buf[:cut], st)
	rw.buf = append(rw.buf[:0], rw.buf[cut:]...)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// safeCut is where a long line without a newline may be split: at most maxLen-1 bytes are held
// back and no occurrence of a secret straddles the cut.
func safeCut(b []byte, st *redactState) int {
	if st == nil {
		return len(b)
	}
	cut := len(b) - (st.maxLen - 1)
	for moved := true; moved && cut > 0; {
		moved = false
		for _, s := range st.olds {
			lo := max(0, cut-len(s)+1)
			hi := min(len(b), cut+len(s)-1)
			if i := bytes.Index(b[lo:hi], []byte(s)); i >= 0 && lo+i < cut {
				cut, moved = lo+i, true
			}
		}
	}
	return cut
}

func (rw *RedactingWriter) emit(b []byte, st *redactState) error {
	if st == nil {
		_, err := rw.w.Write(b)
		return err
	}
	_, err := st.r.WriteString(rw.w, string(b))
	return err
}

// Flush writes out a pending partial line.
func (rw *RedactingWriter) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.buf) == 0 {
		return nil
	}
	err := rw.emit(rw.buf, rw.r.state.Load())
	rw.buf = rw.buf[:0]
	return err
}

// Close flushes; it does not close the underlying writer.
func (rw *RedactingWriter) Close() error { return rw.Flush() }

// ParseLevel reads AIFLOW_LOG_LEVEL: debug, info, warn, error (any case, slog's "info+2" forms too).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if strings.TrimSpace(s) == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return slog.LevelInfo, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger returns the node run's logger: JSON lines (format "json" or "") or slog's text
// format ("text") on w, at level (ParseLevel; unknown levels mean info — config.Load rejects them
// first), each line carrying pipeline, node, run_id, try, ir_hash, engine, team, env, project and
// cost_center. With a Redactor, secret values are masked twice over: in the message and every
// attribute value (errors and Stringers included) before encoding, and in the bytes written to w.
func NewLogger(w io.Writer, format, level string, info RunInfo, redact *Redactor) *slog.Logger {
	lvl, _ := ParseLevel(level)
	opts := &slog.HandlerOptions{Level: lvl}
	if redact != nil {
		if rw, ok := w.(*RedactingWriter); !ok || rw.r != redact {
			w = redact.Writer(w)
		}
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			a.Value = redactValue(redact, a.Value)
			return a
		}
	}
	var h slog.Handler
	if strings.EqualFold(format, "text") {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h.WithAttrs(info.logAttrs()))
}

// logAttrs are the fields on every line; all present, "" when unset, so queries never miss a key.
func (r RunInfo) logAttrs() []slog.Attr {
	return []slog.Attr{
		slog.String("pipeline", r.Pipeline),
		slog.String("node", r.Node),
		slog.String("run_id", r.RunID),
		slog.Int("try", r.Try),
		slog.String("ir_hash", r.IRHash),
		slog.String("engine", r.Engine),
		slog.String("team", r.Team),
		slog.String("env", r.Env),
		slog.String("project", r.Project),
		slog.String("cost_center", r.CostCenter),
	}
}

func redactValue(r *Redactor, v slog.Value) slog.Value {
	if r.state.Load() == nil {
		return v
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(r.Redact(v.String()))
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.StringValue(r.Redact(x.Error()))
		case fmt.Stringer:
			return slog.StringValue(r.Redact(x.String()))
		case []byte:
			return slog.StringValue(r.Redact(string(x)))
		}
		// Other values are encoded by the handler (JSON, %+v); the writer filter masks them.
	}
	return v
}
