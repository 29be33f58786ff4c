package fault_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aiflow-dev/aiflow/fault"
)

// unsafeFor reports the first rune of s that would act on a terminal or log: C0 controls (but
// newline and tab when layout is kept), DEL, C1, line separators, bidi and zero-width format
// characters, invalid UTF-8. Written independently of the package's own rule.
func unsafeFor(s string, keepLayout bool) (rune, bool) {
	bidi := "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\ufffd"):
			return r, true
		case keepLayout && (r == '\n' || r == '\t'):
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r == '\u2028', r == '\u2029', strings.ContainsRune(bidi, r):
			return r, true
		}
	}
	return 0, false
}

var hostile = []string{
	"node\x1b[31mred\x1b[0m", "line\rover", "nul\x00byte", "bell\a", "del\x7f", "c1\u0085next\u009b2J",
	"sep\u2028arator\u2029", "rtl\u202eexe.txt", "iso\u2066late\u2069", "mark\u200f", "bad\xffutf8\xc3",
	"nbsp\u00a0is fine", "é 中 🙂 are fine", "::error::x\nnext", "tab\there",
}

// TestEscape: no hostile character survives Escape (newline and tab are layout) or EscapeLine
// (one line); printable text, whatever its script, is unchanged.
func TestEscape(t *testing.T) {
	for _, s := range hostile {
		if r, bad := unsafeFor(fault.Escape(s), true); bad {
			t.Errorf("Escape(%q) = %q keeps %U", s, fault.Escape(s), r)
		}
		if r, bad := unsafeFor(fault.EscapeLine(s), false); bad {
			t.Errorf("EscapeLine(%q) = %q keeps %U", s, fault.EscapeLine(s), r)
		}
		if _, bad := unsafeFor(s, true); !bad && fault.Escape(s) != s {
			t.Errorf("Escape(%q) = %q, want it unchanged", s, fault.Escape(s))
		}
	}
	if got := fault.Escape("a\x1bb"); got != `a\x1bb` {
		t.Errorf("ESC shown as %q, want a Go escape", got)
	}
	if got := fault.EscapeLine("a\nb"); got != `a\nb` {
		t.Errorf("EscapeLine newline: %q", got)
	}
}

// TestEscapeWriter: written in pieces of every size (a character split across writes), the
// output is Escape of the whole.
func TestEscapeWriter(t *testing.T) {
	in := strings.Join(hostile, "\n")
	for step := 1; step <= 5; step++ {
		var out bytes.Buffer
		w := fault.NewEscapeWriter(&out)
		for i := 0; i < len(in); i += step {
			if n, err := w.Write([]byte(in[i:min(i+step, len(in))])); err != nil || n != min(step, len(in)-i) {
				t.Fatalf("Write: %d, %v", n, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got, want := out.String(), fault.Escape(in); got != want {
			t.Errorf("step %d:\n got %q\nwant %q", step, got, want)
		}
	}
}
