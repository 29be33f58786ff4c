package compiler

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PyStr returns s as a Python string literal. Every string the compiler writes into a DAG file
// goes through it (STYLE: Python literals are not JSON). The literal is double-quoted; backslash,
// quote and every character that is not printable (controls, line and paragraph separators,
// unassigned or private-use code points, invalid UTF-8 bytes as U+FFFD) is escaped, so the literal
// always stays on one source line. Printable Unicode is written as itself (DAG files are UTF-8).
// Jinja braces are left alone: whether Airflow renders a string is decided by where it is used,
// not by quoting.
func PyStr(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	writePyStr(&b, s)
	return b.String()
}

func writePyStr(b *strings.Builder, s string) {
	const hexd = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				if c < 0x20 || c == 0x7f {
					b.WriteString(`\x`)
					b.WriteByte(hexd[c>>4])
					b.WriteByte(hexd[c&0xf])
				} else {
					b.WriteByte(c)
				}
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\ufffd`)
			continue
		}
		if unicode.IsPrint(r) && r != '\u2028' && r != '\u2029' {
			b.WriteRune(r)
			continue
		}
		switch {
		case r <= 0xff:
			fmt.Fprintf(b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			fmt.Fprintf(b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
}

// PyValue returns a Python literal for a JSON-like value: nil, bool, string, numbers
// (json.Number, int, int64, float64), []any, []string, map[string]any and map[string]string.
// Map keys are sorted so that the output is deterministic.
func PyValue(v any) (string, error) {
	var b strings.Builder
	if err := writePyValue(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writePyValue(b *strings.Builder, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case string:
		writePyStr(b, x)
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		s, err := pyFloat(x)
		if err != nil {
			return err
		}
		b.WriteString(s)
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			b.WriteString(strconv.FormatInt(i, 10))
			return nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return fmt.Errorf("number %s is out of range", x)
		}
		s, err := pyFloat(f)
		if err != nil {
			return err
		}
		b.WriteString(s)
	case []string:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyStr(b, e)
		}
		b.WriteByte(']')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writePyValue(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]string:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyStr(b, k)
			b.WriteString(": ")
			writePyStr(b, x[k])
		}
		b.WriteByte('}')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyStr(b, k)
			b.WriteString(": ")
			if err := writePyValue(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("no Python literal for %T", v)
	}
	return nil
}

// pyFloat writes a float so that Python reads back the same value; NaN and infinities are not
// literals and are refused.
func pyFloat(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("number %v has no Python literal", f)
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s, nil
}
