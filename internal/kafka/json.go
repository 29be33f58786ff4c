package kafka

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON scanner for Kafka values: one flat pass over an object, handing each top-level
// field to the caller as a token (kind and raw bytes) without building maps or boxing values. It
// is what makes decoding about 1 KB JSON records run at several hundred MB/s per core, where
// encoding/json into map[string]any manages a fraction of that.

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString // raw holds the quoted string; esc says whether it has escapes
	jsonObject // raw holds the whole nested value
	jsonArray
)

func (k jsonKind) String() string {
	return [...]string{"null", "bool", "number", "string", "object", "array"}[k]
}

type jsonToken struct {
	kind jsonKind
	raw  []byte // the value's text; for strings including the quotes
	esc  bool   // a string with backslash escapes
}

var errNotObject = errors.New("value is not a JSON object")

// scanObject calls field for each top-level field of the JSON object in b. It fails on anything
// that is not exactly one well-formed object (trailing bytes other than whitespace included).
func scanObject(b []byte, field func(key []byte, keyEsc bool, v jsonToken) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errNotObject
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		if skipWS(b, i+1) != len(b) {
			return fmt.Errorf("trailing bytes after the JSON object at byte %d", i+1)
		}
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return fmt.Errorf("expected a field name at byte %d", i)
		}
		end, esc, err := scanString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : end-1]
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return fmt.Errorf("expected ':' at byte %d", i)
		}
		i = skipWS(b, i+1)
		tok, next, err := scanValue(b, i)
		if err != nil {
			return err
		}
		if err := field(key, esc, tok); err != nil {
			return err
		}
		i = skipWS(b, next)
		if i >= len(b) {
			return errors.New("unexpected end of JSON object")
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if b[i] == '}' {
			if skipWS(b, i+1) != len(b) {
				return fmt.Errorf("trailing bytes after the JSON object at byte %d", i+1)
			}
			return nil
		}
		return fmt.Errorf("expected ',' or '}' at byte %d", i)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString returns the index after the closing quote of the string starting at b[i] == '"'.
func scanString(b []byte, i int) (end int, esc bool, err error) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, esc, nil
		case c == '\\':
			esc = true
			j++
		case c < 0x20:
			return 0, false, fmt.Errorf("control character in string at byte %d", j)
		}
	}
	return 0, false, errors.New("unterminated string")
}

// scanValue scans one JSON value starting at b[i].
func scanValue(b []byte, i int) (jsonToken, int, error) {
	if i >= len(b) {
		return jsonToken{}, i, errors.New("unexpected end of JSON")
	}
	switch c := b[i]; {
	case c == '"':
		end, esc, err := scanString(b, i)
		if err != nil {
			return jsonToken{}, i, err
		}
		return jsonToken{kind: jsonString, raw: b[i:end], esc: esc}, end, nil
	case c == '{' || c == '[':
		end, err := scanNested(b, i)
		if err != nil {
			return jsonToken{}, i, err
		}
		k := jsonObject
		if c == '[' {
			k = jsonArray
		}
		return jsonToken{kind: k, raw: b[i:end]}, end, nil
	case c == 't':
		if hasLit(b, i, "true") {
			return jsonToken{kind: jsonBool, raw: b[i : i+4]}, i + 4, nil
		}
	case c == 'f':
		if hasLit(b, i, "false") {
			return jsonToken{kind: jsonBool, raw: b[i : i+5]}, i + 5, nil
		}
	case c == 'n':
		if hasLit(b, i, "null") {
			return jsonToken{kind: jsonNull, raw: b[i : i+4]}, i + 4, nil
		}
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) {
			d := b[j]
			if (d >= '0' && d <= '9') || d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-' {
				j++
				continue
			}
			break
		}
		return jsonToken{kind: jsonNumber, raw: b[i:j]}, j, nil
	}
	return jsonToken{}, i, fmt.Errorf("invalid JSON value at byte %d", i)
}

func hasLit(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// scanNested skips a nested object or array, respecting strings.
func scanNested(b []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			end, _, err := scanString(b, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, errors.New("unterminated object or array")
}

// unquote returns the string value of a jsonString token, appending to dst when it has escapes.
func unquote(t jsonToken, dst []byte) ([]byte, error) {
	s := t.raw[1 : len(t.raw)-1]
	if !t.esc {
		return s, nil
	}
	out := dst[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, errors.New("bad escape")
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+5 > len(s) {
				return nil, errors.New("bad \\u escape")
			}
			r, err := strconv.ParseUint(string(s[i+1:i+5]), 16, 32)
			if err != nil {
				return nil, errors.New("bad \\u escape")
			}
			i += 4
			ru := rune(r)
			if utf16.IsSurrogate(ru) && i+7 <= len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2, err := strconv.ParseUint(string(s[i+3:i+7]), 16, 32); err == nil {
					if d := utf16.DecodeRune(ru, rune(r2)); d != utf8.RuneError {
						ru = d
						i += 6
					}
				}
			}
			out = utf8.AppendRune(out, ru)
		default:
			return nil, fmt.Errorf("bad escape \\%c", s[i])
		}
	}
	return out, nil
}
