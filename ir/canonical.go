package ir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"
)

func decodeGeneric(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// CanonicalJSON writes a generic value (maps, slices, strings, numbers, bools, nil) canonically.
// The Python DSL implements the same rules (python/aiflow_sdk/ir.py); change both together.
func CanonicalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case string:
		writeString(buf, x)
	case json.Number:
		if !json.Valid([]byte(x)) {
			return fmt.Errorf("invalid number literal %q", string(x))
		}
		s, err := canonicalNumber(string(x))
		if err != nil {
			return err
		}
		buf.WriteString(s)
	case float64:
		s, err := canonicalFloat(x)
		if err != nil {
			return err
		}
		buf.WriteString(s)
	case int:
		buf.WriteString(strconv.Itoa(x))
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case []string:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, e)
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		// Anything else (typed maps and structs) goes through encoding/json first.
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		g, err := decodeGeneric(b)
		if err != nil {
			return err
		}
		return writeCanonical(buf, g)
	}
	return nil
}

// canonicalNumber writes integral values as integers (4.0 → 4) and others in the shortest form
// that round-trips, the way Python's repr does (0.1 → 0.1, 1e21 → 1e+21).
func canonicalNumber(s string) (string, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return strconv.FormatInt(i, 10), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", fmt.Errorf("number %s out of range", s)
	}
	return canonicalFloat(f)
}

func canonicalFloat(f float64) (string, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("number %v is not representable in JSON", f)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10), nil
	}
	return pythonFloat(f), nil
}

// pythonFloat formats like Python's float repr: shortest round-trip digits, exponent form when
// the exponent is < -4 or >= 16.
func pythonFloat(f float64) string {
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := bytes.Cut([]byte(s), []byte("e"))
	exp, _ := strconv.Atoi(string(expStr))
	if exp < -4 || exp >= 16 {
		e := strconv.Itoa(abs(exp))
		if len(e) < 2 {
			e = "0" + e
		}
		sign := "+"
		if exp < 0 {
			sign = "-"
		}
		return string(mant) + "e" + sign + e
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// writeString quotes like encoding/json without HTML escaping: \" \\ \n \r \t \b \f, other
// control characters as \u00XX, and U+2028/U+2029 as \u2028/\u2029. Everything else is raw UTF-8
// (invalid bytes as a raw U+FFFD).
func writeString(buf *bytes.Buffer, s string) {
	const hexd = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				buf.WriteString(`\"`)
			case '\\':
				buf.WriteString(`\\`)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			case '\b':
				buf.WriteString(`\b`)
			case '\f':
				buf.WriteString(`\f`)
			default:
				if c < 0x20 {
					buf.WriteString(`\u00`)
					buf.WriteByte(hexd[c>>4])
					buf.WriteByte(hexd[c&0xf])
				} else {
					buf.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			// An invalid byte becomes U+FFFD, written raw like every other rune, so that
			// canonical JSON re-parses to the same bytes.
			buf.WriteRune(utf8.RuneError)
		case r == '\u2028' || r == '\u2029':
			buf.WriteString(`\u202`)
			buf.WriteByte(hexd[r&0xf])
		default:
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}
