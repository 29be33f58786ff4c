package sqltext

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2024-01-01", `'2024-01-01'`},
		{"x' OR '1'='1", `'x\' OR \'1\'=\'1'`},
		{`back\slash`, `'back\\slash'`},
		{"line\nbreak", `'line\nbreak'`},
		{`\'`, `'\\\''`},
		{"", `''`},
	}
	for _, tt := range tests {
		got, err := String(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("String(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := String("a\x00b"); err == nil {
		t.Error("NUL must be rejected")
	}
}

func TestIdentAndNames(t *testing.T) {
	if got, _ := Ident("we`ird"); got != "`we``ird`" {
		t.Errorf("Ident = %s", got)
	}
	if got, _ := PGIdent(`a"b`); got != `"a""b"` {
		t.Errorf("PGIdent = %s", got)
	}
	if got, err := QualifiedName("raw.sales_orders"); err != nil || got != "`raw`.`sales_orders`" {
		t.Errorf("QualifiedName = %s %v", got, err)
	}
	for _, bad := range []string{"raw.sales orders", "raw;drop", "a.`b`", ""} {
		if _, err := QualifiedName(bad); err == nil {
			t.Errorf("QualifiedName(%q) must fail", bad)
		}
	}
	if got, _ := Equals("dt", "x' OR '1'='1"); !strings.HasPrefix(got, "`dt` = '") || strings.Count(got, `\'`) != 4 {
		t.Errorf("Equals = %s", got)
	}
}

// FuzzString checks that a quoted literal always ends the literal where it should: unescaped
// quotes never appear inside.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "a", "x' OR '1'='1", `\`, `\'`, "é'\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := String(s)
		if err != nil {
			if !strings.ContainsRune(s, 0) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		body := q[1 : len(q)-1]
		for i := 0; i < len(body); i++ {
			switch body[i] {
			case '\\':
				i++ // escaped character
			case '\'':
				t.Fatalf("unescaped quote in %q", q)
			}
		}
	})
}

func TestIdents(t *testing.T) {
	got, err := Idents([]string{"user_id", "we`ird", "dt"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "`user_id`, `we``ird`, `dt`"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if _, err := Idents([]string{"ok", ""}); err == nil {
		t.Fatal("an empty identifier was accepted")
	}
	if got, _ := Idents(nil); got != "" {
		t.Fatalf("no names: got %q", got)
	}
}
