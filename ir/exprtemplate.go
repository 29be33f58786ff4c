package ir

import (
	"fmt"
	"regexp"
	"strings"
)

// Dialect says how an expression language quotes: string literals in single quotes, a doubled
// quote for a quote, and (Spark SQL) backslash escapes inside them too.
type Dialect struct {
	// BackslashEscapes: a backslash escapes the next character inside a string literal.
	BackslashEscapes bool
}

var (
	// ArrowExpr is the arrow engine's expression language (docs/arrow-engine.md).
	ArrowExpr = Dialect{}
	// SparkSQL is Spark SQL with its default string-literal escapes.
	SparkSQL = Dialect{BackslashEscapes: true}
)

var numberRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// RenderExpr renders the templates of an expression or a SQL text so that every value is a
// literal, never code: inside a string literal ('…{{ ds }}…') the value is escaped for that
// literal; outside one it becomes a number literal when it is a plain number and a quoted string
// literal otherwise; inside a quoted identifier ("…" or `…`) a value holding the quote character
// is refused. `--param st="x' OR '1'='1"` in `status = '{{ params.st }}'` compares status with
// that whole text.
func RenderExpr(s string, v TemplateVars, d Dialect) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var b strings.Builder
	var quote byte // 0 outside, else the open quote character
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "{{") {
			loc := templateRE.FindStringSubmatchIndex(s[i:])
			if loc == nil || loc[0] != 0 {
				return "", fmt.Errorf("unbalanced {{ in %q", s)
			}
			val, err := v.lookup(s[i+loc[2] : i+loc[3]])
			if err != nil {
				return "", err
			}
			switch quote {
			case 0:
				if numberRE.MatchString(val) {
					b.WriteString(val)
				} else {
					b.WriteString("'" + escapeLiteral(val, d) + "'")
				}
			case '\'':
				b.WriteString(escapeLiteral(val, d))
			default:
				if strings.ContainsRune(val, rune(quote)) || strings.ContainsRune(val, '\\') {
					return "", fmt.Errorf("template value %q cannot stand inside a quoted name (it holds %c)", val, quote)
				}
				b.WriteString(val)
			}
			i += loc[1]
			if b.Len() > MaxRenderedLen {
				return "", fmt.Errorf("rendered template is over the %d-byte limit", MaxRenderedLen)
			}
			continue
		}
		c := s[i]
		switch {
		case quote == 0 && (c == '\'' || c == '"' || c == '`'):
			quote = c
		case quote != 0 && c == '\\' && d.BackslashEscapes && i+1 < len(s):
			b.WriteByte(c)
			i++
			c = s[i]
		case quote != 0 && c == quote:
			if i+1 < len(s) && s[i+1] == quote {
				b.WriteByte(c)
				i++
			} else {
				quote = 0
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), nil
}

func escapeLiteral(v string, d Dialect) string {
	if d.BackslashEscapes {
		// Spark: '' would end the literal and start an adjacent one (concatenated); \' is a quote.
		return strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(v)
	}
	return strings.ReplaceAll(v, "'", "''")
}

// RenderParams is Render, except that the strings for which expr returns a dialect (by their
// path of keys; list elements add no key) render with RenderExpr.
func RenderParams(v any, vars TemplateVars, expr func(path []string) (Dialect, bool)) (any, error) {
	return renderAt(nil, v, vars, expr)
}

func renderAt(path []string, v any, vars TemplateVars, expr func([]string) (Dialect, bool)) (any, error) {
	switch x := v.(type) {
	case string:
		if d, ok := expr(path); ok {
			return RenderExpr(x, vars, d)
		}
		return RenderString(x, vars)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := renderAt(append(path[:len(path):len(path)], k), e, vars, expr)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := renderAt(path, e, vars, expr)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// ExprField reports whether the param at path is an expression or SQL text of n, and in which
// dialect: the arrow engine's filter, derive and aggregate expressions, the spark engine's sql.
// Templates in them render as literals (RenderExpr).
func (n *Node) ExprField(path []string) (Dialect, bool) {
	if n.Type != Transform || len(path) == 0 {
		return Dialect{}, false
	}
	switch n.EngineName() {
	case "arrow":
		if path[0] != "steps" {
			return Dialect{}, false
		}
		p := path[1:]
		switch {
		case len(p) == 1 && p[0] == "filter",
			len(p) == 2 && p[0] == "derive",
			len(p) == 3 && p[0] == "group_by" && p[1] == "aggs":
			return ArrowExpr, true
		}
	case "spark":
		if len(path) == 1 && path[0] == "sql" {
			return SparkSQL, true
		}
	}
	return Dialect{}, false
}
