package ir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A value is a parsed document node that remembers its line, so that every problem found while
// decoding a spec can say `file:line:`. YAML and JSON files both parse into values, and one strict
// decoder turns values into the IR.
type value struct {
	kind     vkind
	line     int
	keys     []string
	keyLines []int
	vals     []*value
	items    []*value
	s        string // string text, or number text
	b        bool
}

type vkind int

const (
	vNull vkind = iota
	vBool
	vNumber
	vString
	vList
	vMap
)

func (k vkind) String() string {
	return [...]string{"null", "boolean", "number", "string", "list", "mapping"}[k]
}

func (v *value) get(key string) (*value, int) {
	if v == nil || v.kind != vMap {
		return nil, 0
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i], v.keyLines[i]
		}
	}
	return nil, 0
}

// toAny converts to the generic Go form used inside the IR (map[string]any, []any, string,
// json.Number, bool, nil).
func (v *value) toAny() any {
	switch v.kind {
	case vBool:
		return v.b
	case vNumber:
		return json.Number(v.s)
	case vString:
		return v.s
	case vList:
		out := make([]any, len(v.items))
		for i, it := range v.items {
			out[i] = it.toAny()
		}
		return out
	case vMap:
		out := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			out[k] = v.vals[i].toAny()
		}
		return out
	}
	return nil
}

// Limits that keep hostile or accidental input from exhausting memory.
const (
	// MaxSpecSize is the largest spec or IR file the loader reads.
	MaxSpecSize = 4 << 20
	// maxNodes bounds the nodes of one document after alias expansion (YAML alias bombs).
	maxNodes = 200_000
	// maxDepth bounds nesting.
	maxDepth = 100
)

type parseError struct {
	line int
	msg  string
}

func (e *parseError) Error() string { return e.msg }

// ---- YAML ----

func parseYAML(data []byte) ([]*value, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*value
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlErr(err, data)
		}
		c := &yamlConv{}
		v, err := c.conv(&n, 0)
		if err != nil {
			return nil, err
		}
		if v != nil {
			docs = append(docs, v)
		}
	}
	return docs, nil
}

// yamlErr turns "yaml: line 3: mapping values are not allowed" into a positioned error. yaml.v3
// leaves the line out when the problem is on the first line and for some errors (unknown anchor,
// control characters); those get the line of the anchor's first use, or line 1, so that every
// problem reads `file:line:`.
func yamlErr(err error, data []byte) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if l, e := strconv.Atoi(num); e == nil {
				return &parseError{line: l, msg: "invalid YAML: " + tail}
			}
		}
	}
	line := 1
	if rest, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		if name, _, ok := strings.Cut(rest, "'"); ok {
			if i := bytes.Index(data, []byte("*"+name)); i >= 0 {
				line += bytes.Count(data[:i], []byte("\n"))
			}
		}
	}
	return &parseError{line: line, msg: "invalid YAML: " + msg}
}

type yamlConv struct{ nodes int }

func (c *yamlConv) conv(n *yaml.Node, depth int) (*value, error) {
	c.nodes++
	if c.nodes > maxNodes {
		return nil, &parseError{line: n.Line, msg: fmt.Sprintf("document expands to more than %d nodes (YAML alias bomb?)", maxNodes)}
	}
	if depth > maxDepth {
		return nil, &parseError{line: n.Line, msg: fmt.Sprintf("nesting deeper than %d levels", maxDepth)}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.conv(n.Content[0], depth)
	case yaml.AliasNode:
		return c.conv(n.Alias, depth+1)
	case yaml.SequenceNode:
		v := &value{kind: vList, line: n.Line}
		for _, e := range n.Content {
			ev, err := c.conv(e, depth+1)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, ev)
		}
		return v, nil
	case yaml.MappingNode:
		v := &value{kind: vMap, line: n.Line}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				return nil, &parseError{line: k.Line, msg: "YAML merge keys (<<) are not supported: write the fields out"}
			}
			if k.Kind != yaml.ScalarNode {
				return nil, &parseError{line: k.Line, msg: "mapping keys must be plain strings"}
			}
			if first, dup := seen[k.Value]; dup {
				return nil, &parseError{line: k.Line, msg: fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, first)}
			}
			seen[k.Value] = k.Line
			ev, err := c.conv(val, depth+1)
			if err != nil {
				return nil, err
			}
			v.keys = append(v.keys, k.Value)
			v.keyLines = append(v.keyLines, k.Line)
			v.vals = append(v.vals, ev)
		}
		return v, nil
	case yaml.ScalarNode:
		return yamlScalar(n)
	}
	return nil, &parseError{line: n.Line, msg: "unsupported YAML node"}
}

func yamlScalar(n *yaml.Node) (*value, error) {
	v := &value{line: n.Line}
	switch n.ShortTag() {
	case "!!null":
		v.kind = vNull
	case "!!bool":
		v.kind = vBool
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err != nil {
			return nil, &parseError{line: n.Line, msg: fmt.Sprintf("invalid boolean %q", n.Value)}
		}
		v.b = b
	case "!!int":
		v.kind = vNumber
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil {
			return nil, &parseError{line: n.Line, msg: fmt.Sprintf("integer %s out of range", n.Value)}
		}
		v.s = strconv.FormatInt(i, 10)
	case "!!float":
		v.kind = vNumber
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, &parseError{line: n.Line, msg: fmt.Sprintf("number %s is not representable in JSON", n.Value)}
		}
		v.s = strconv.FormatFloat(f, 'g', -1, 64)
	case "!!str", "!!timestamp":
		// An unquoted date (dt: 2024-01-01) stays the string the author wrote.
		v.kind = vString
		v.s = n.Value
	default:
		return nil, &parseError{line: n.Line, msg: fmt.Sprintf("unsupported YAML tag %s", n.Tag)}
	}
	return v, nil
}

// ---- JSON ----

type jsonConv struct {
	dec   *json.Decoder
	data  []byte
	lines []int // byte offset of each line start
	nodes int
}

func parseJSON(data []byte) ([]*value, error) {
	c := &jsonConv{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	c.dec.UseNumber()
	c.lines = append(c.lines, 0)
	for i, b := range data {
		if b == '\n' {
			c.lines = append(c.lines, i+1)
		}
	}
	var docs []*value
	for {
		line := c.nextLine()
		tok, err := c.dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, c.err(err, line)
		}
		v, err := c.value(tok, line, 0)
		if err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
	return docs, nil
}

// nextLine is the line of the next token: skip whitespace and separators after the offset.
func (c *jsonConv) nextLine() int {
	off := int(c.dec.InputOffset())
	for off < len(c.data) {
		switch c.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return c.lineOf(off)
}

func (c *jsonConv) lineOf(off int) int {
	lo, hi := 0, len(c.lines)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if c.lines[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo + 1
}

func (c *jsonConv) err(err error, line int) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &parseError{line: c.lineOf(int(se.Offset)), msg: "invalid JSON: " + se.Error()}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &parseError{line: len(c.lines), msg: "invalid JSON: unexpected end of file"}
	}
	return &parseError{line: line, msg: "invalid JSON: " + err.Error()}
}

func (c *jsonConv) value(tok json.Token, line, depth int) (*value, error) {
	c.nodes++
	if c.nodes > maxNodes {
		return nil, &parseError{line: line, msg: fmt.Sprintf("document has more than %d nodes", maxNodes)}
	}
	if depth > maxDepth {
		return nil, &parseError{line: line, msg: fmt.Sprintf("nesting deeper than %d levels", maxDepth)}
	}
	switch t := tok.(type) {
	case nil:
		return &value{kind: vNull, line: line}, nil
	case bool:
		return &value{kind: vBool, line: line, b: t}, nil
	case json.Number:
		if _, err := canonicalNumber(string(t)); err != nil {
			return nil, &parseError{line: line, msg: err.Error()}
		}
		return &value{kind: vNumber, line: line, s: string(t)}, nil
	case string:
		return &value{kind: vString, line: line, s: t}, nil
	case json.Delim:
		switch t {
		case '[':
			v := &value{kind: vList, line: line}
			for c.dec.More() {
				l := c.nextLine()
				et, err := c.dec.Token()
				if err != nil {
					return nil, c.err(err, l)
				}
				ev, err := c.value(et, l, depth+1)
				if err != nil {
					return nil, err
				}
				v.items = append(v.items, ev)
			}
			if _, err := c.dec.Token(); err != nil {
				return nil, c.err(err, c.nextLine())
			}
			return v, nil
		case '{':
			v := &value{kind: vMap, line: line}
			seen := map[string]int{}
			for c.dec.More() {
				kl := c.nextLine()
				kt, err := c.dec.Token()
				if err != nil {
					return nil, c.err(err, kl)
				}
				key, _ := kt.(string)
				if first, dup := seen[key]; dup {
					return nil, &parseError{line: kl, msg: fmt.Sprintf("duplicate key %q (first at line %d)", key, first)}
				}
				seen[key] = kl
				vl := c.nextLine()
				vt, err := c.dec.Token()
				if err != nil {
					return nil, c.err(err, vl)
				}
				ev, err := c.value(vt, vl, depth+1)
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, key)
				v.keyLines = append(v.keyLines, kl)
				v.vals = append(v.vals, ev)
			}
			if _, err := c.dec.Token(); err != nil {
				return nil, c.err(err, c.nextLine())
			}
			return v, nil
		}
	}
	return nil, &parseError{line: line, msg: fmt.Sprintf("unexpected JSON token %v", tok)}
}
