// Package expr is the small SQL-like expression language of the arrow engine's transforms: a
// parser (Parse) producing an untyped AST, a binder (Bind) that type-checks it against an Arrow
// schema, and a vectorised evaluator over record batches (Expr.Eval).
//
// Grammar, lowest precedence first (keywords are case-insensitive):
//
//	expr    = or
//	or      = and { OR and }
//	and     = not { AND not }
//	not     = NOT not | cmp
//	cmp     = sum [ ("=" | "!=" | "<>" | "<" | "<=" | ">" | ">=") sum
//	               | IS [NOT] NULL | [NOT] IN "(" expr { "," expr } ")" ]
//	sum     = product { ("+" | "-") product }
//	product = unary { ("*" | "/" | "%") unary }
//	unary   = ("-" | "+") unary | primary
//	primary = INT | FLOAT | 'string' | TRUE | FALSE | NULL | DATE 'yyyy-mm-dd'
//	        | TIMESTAMP 'yyyy-mm-dd hh:mm:ss[.ffffff]' | ident | "quoted ident"
//	        | ident "(" [ expr { "," expr } ] ")" | "(" expr ")"
//
// Strings are single-quoted with ” as the escape for a quote; identifiers may be double-quoted
// with "" as the escape.
package expr

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error is a parse or type error; Col is the 1-based column (in runes) of the offending token.
type Error struct {
	Col int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("%s at column %d", e.Msg, e.Col) }

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQIdent
	tInt
	tFloat
	tString
	tOp
	tLParen
	tRParen
	tComma
	tStar // '*' is also an operator; kept as tOp with text "*"
)

type token struct {
	kind tokKind
	text string // identifier/keyword text, operator, or literal text (unescaped for strings)
	pos  int    // byte offset
}

type lexer struct {
	src  string
	toks []token
}

func (l *lexer) col(off int) int { return utf8.RuneCountInString(l.src[:min(off, len(l.src))]) + 1 }

func (l *lexer) errAt(off int, format string, args ...any) error {
	return &Error{Col: l.col(off), Msg: fmt.Sprintf(format, args...)}
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) lex() error {
	s := l.src
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i
			for j < len(s) && (isIdentStart(s[j]) || isDigit(s[j])) {
				j++
			}
			l.toks = append(l.toks, token{tIdent, s[i:j], i})
			i = j
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			j := i
			kind := tInt
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j < len(s) && s[j] == '.' {
				kind = tFloat
				j++
				for j < len(s) && isDigit(s[j]) {
					j++
				}
			}
			if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
				k := j + 1
				if k < len(s) && (s[k] == '+' || s[k] == '-') {
					k++
				}
				if k < len(s) && isDigit(s[k]) {
					kind = tFloat
					for k < len(s) && isDigit(s[k]) {
						k++
					}
					j = k
				}
			}
			if j < len(s) && (isIdentStart(s[j])) {
				return l.errAt(j, "invalid number %q", s[i:j+1])
			}
			l.toks = append(l.toks, token{kind, s[i:j], i})
			i = j
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(s) {
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						b.WriteByte(c)
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				b.WriteByte(s[j])
				j++
			}
			if !closed {
				if c == '\'' {
					return l.errAt(i, "unterminated string")
				}
				return l.errAt(i, "unterminated quoted identifier")
			}
			kind := tString
			if c == '"' {
				kind = tQIdent
			}
			l.toks = append(l.toks, token{kind, b.String(), i})
			i = j
		case c == '(':
			l.toks = append(l.toks, token{tLParen, "(", i})
			i++
		case c == ')':
			l.toks = append(l.toks, token{tRParen, ")", i})
			i++
		case c == ',':
			l.toks = append(l.toks, token{tComma, ",", i})
			i++
		case c == '=' && i+1 < len(s) && s[i+1] == '=':
			// The commonest slip from Python, C or JavaScript: name it and say what SQL wants.
			return l.errAt(i, "unexpected '==' (did you mean '='? SQL compares with a single =)")
		case (c == '&' || c == '|') && i+1 < len(s) && s[i+1] == c:
			kw := map[byte]string{'&': "AND", '|': "OR"}[c]
			return l.errAt(i, "unexpected '%s' (did you mean %s?)", s[i:i+2], kw)
		case c == '+' || c == '-' || c == '*' || c == '/' || c == '%' || c == '=':
			l.toks = append(l.toks, token{tOp, s[i : i+1], i})
			i++
		case c == '!' || c == '<' || c == '>':
			if i+1 < len(s) && (s[i+1] == '=' || (c == '<' && s[i+1] == '>')) {
				l.toks = append(l.toks, token{tOp, s[i : i+2], i})
				i += 2
				continue
			}
			if c == '!' {
				return l.errAt(i, "unexpected character '!' (did you mean NOT, or != for not equal?)")
			}
			l.toks = append(l.toks, token{tOp, s[i : i+1], i})
			i++
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return l.errAt(i, "unexpected character %q", r)
		}
	}
	l.toks = append(l.toks, token{tEOF, "", len(s)})
	return nil
}

// Node is an untyped expression tree node.
type Node interface {
	// Pos is the byte offset of the node in the source.
	Pos() int
	String() string
}

// LitKind is the kind of a literal.
type LitKind int

const (
	LitInt LitKind = iota
	LitFloat
	LitString
	LitBool
	LitNull
	LitDate
	LitTimestamp
)

type (
	// Ident is a column reference.
	Ident struct {
		Name string
		At   int
		// Quoted: written as "name", which a user may have meant as the string 'name'.
		Quoted bool
	}
	// Lit is a literal; Val is its source text (unescaped for strings).
	Lit struct {
		Kind LitKind
		Val  string
		At   int
	}
	// Unary is "-x", "+x" or "NOT x".
	Unary struct {
		Op string
		X  Node
		At int
	}
	// Binary is an arithmetic, comparison or logical operation; Op is upper-case for AND/OR and
	// normalised ("<>" is "!=").
	Binary struct {
		Op   string
		L, R Node
		At   int
	}
	// IsNull is "x IS [NOT] NULL".
	IsNull struct {
		X   Node
		Not bool
		At  int
	}
	// In is "x [NOT] IN (list)".
	In struct {
		X    Node
		List []Node
		Not  bool
		At   int
	}
	// Call is a function call; Name is lower-case. Star is set for "f(*)".
	Call struct {
		Name string
		Args []Node
		Star bool
		At   int
	}
)

func (n *Ident) Pos() int  { return n.At }
func (n *Lit) Pos() int    { return n.At }
func (n *Unary) Pos() int  { return n.At }
func (n *Binary) Pos() int { return n.At }
func (n *IsNull) Pos() int { return n.At }
func (n *In) Pos() int     { return n.At }
func (n *Call) Pos() int   { return n.At }

func (n *Ident) String() string { return quoteIdent(n.Name) }
func (n *Lit) String() string {
	switch n.Kind {
	case LitString:
		return "'" + strings.ReplaceAll(n.Val, "'", "''") + "'"
	case LitDate:
		return "DATE '" + strings.ReplaceAll(n.Val, "'", "''") + "'"
	case LitTimestamp:
		return "TIMESTAMP '" + strings.ReplaceAll(n.Val, "'", "''") + "'"
	}
	return n.Val
}
func (n *Unary) String() string {
	if n.Op == "NOT" {
		return "(NOT " + n.X.String() + ")"
	}
	return "(" + n.Op + " " + n.X.String() + ")"
}
func (n *Binary) String() string { return "(" + n.L.String() + " " + n.Op + " " + n.R.String() + ")" }
func (n *IsNull) String() string {
	if n.Not {
		return "(" + n.X.String() + " IS NOT NULL)"
	}
	return "(" + n.X.String() + " IS NULL)"
}
func (n *In) String() string {
	parts := make([]string, len(n.List))
	for i, x := range n.List {
		parts[i] = x.String()
	}
	op := " IN ("
	if n.Not {
		op = " NOT IN ("
	}
	return "(" + n.X.String() + op + strings.Join(parts, ", ") + "))"
}
func (n *Call) String() string {
	if n.Star {
		return n.Name + "(*)"
	}
	parts := make([]string, len(n.Args))
	for i, x := range n.Args {
		parts[i] = x.String()
	}
	return n.Name + "(" + strings.Join(parts, ", ") + ")"
}

func quoteIdent(s string) string {
	if s == "" {
		return `""`
	}
	plain := isIdentStart(s[0])
	for i := 0; i < len(s) && plain; i++ {
		plain = isIdentStart(s[i]) || isDigit(s[i])
	}
	if plain && !isKeyword(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

var keywords = map[string]bool{
	"AND": true, "OR": true, "NOT": true, "IS": true, "NULL": true, "IN": true,
	"TRUE": true, "FALSE": true, "DATE": true, "TIMESTAMP": true,
}

func isKeyword(s string) bool { return keywords[strings.ToUpper(s)] }

type parser struct {
	lx    *lexer
	i     int
	depth int
}

const maxDepth = 200

// Parse parses an expression. Errors are *Error.
func Parse(src string) (Node, error) {
	p, err := newParser(src)
	if err != nil {
		return nil, err
	}
	n, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t)
	}
	return n, nil
}

func newParser(src string) (*parser, error) {
	lx := &lexer{src: src}
	if err := lx.lex(); err != nil {
		return nil, err
	}
	return &parser{lx: lx}, nil
}

func (p *parser) peek() token { return p.lx.toks[p.i] }
func (p *parser) next() token {
	t := p.lx.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isKw(t token, kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) unexpected(t token) error {
	if t.kind == tEOF {
		return p.lx.errAt(t.pos, "unexpected end of expression")
	}
	txt := t.text
	switch t.kind {
	case tString:
		txt = "'" + strings.ReplaceAll(t.text, "'", "''") + "'"
	case tQIdent:
		txt = `"` + strings.ReplaceAll(t.text, `"`, `""`) + `"`
	}
	return p.lx.errAt(t.pos, "unexpected token %s", quoteTok(txt))
}

func quoteTok(s string) string {
	if strings.HasPrefix(s, "'") {
		return s
	}
	return "'" + s + "'"
}

func (p *parser) expect(kind tokKind, what string) (token, error) {
	t := p.next()
	if t.kind != kind {
		if t.kind == tEOF {
			return t, p.lx.errAt(t.pos, "expected %s, found end of expression", what)
		}
		return t, p.unexpected(t)
	}
	return t, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.lx.errAt(p.peek().pos, "expression nested too deeply")
	}
	return nil
}

func (p *parser) parseExpr() (Node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	return p.parseOr()
}

func (p *parser) parseOr() (Node, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.isKw(p.peek(), "OR") {
		t := p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &Binary{Op: "OR", L: l, R: r, At: t.pos}
	}
	return l, nil
}

func (p *parser) parseAnd() (Node, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.isKw(p.peek(), "AND") {
		t := p.next()
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		l = &Binary{Op: "AND", L: l, R: r, At: t.pos}
	}
	return l, nil
}

func (p *parser) parseNot() (Node, error) {
	if t := p.peek(); p.isKw(t, "NOT") {
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &Unary{Op: "NOT", X: x, At: t.pos}, nil
	}
	return p.parseCmp()
}

func (p *parser) parseCmp() (Node, error) {
	l, err := p.parseSum()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case t.kind == tOp && (t.text == "=" || t.text == "!=" || t.text == "<>" || t.text == "<" ||
		t.text == "<=" || t.text == ">" || t.text == ">="):
		p.next()
		r, err := p.parseSum()
		if err != nil {
			return nil, err
		}
		op := t.text
		if op == "<>" {
			op = "!="
		}
		return &Binary{Op: op, L: l, R: r, At: t.pos}, nil
	case p.isKw(t, "IS"):
		p.next()
		not := false
		if p.isKw(p.peek(), "NOT") {
			p.next()
			not = true
		}
		n := p.next()
		if !p.isKw(n, "NULL") {
			if n.kind == tEOF {
				return nil, p.lx.errAt(n.pos, "expected NULL, found end of expression")
			}
			return nil, p.unexpected(n)
		}
		return &IsNull{X: l, Not: not, At: t.pos}, nil
	case p.isKw(t, "IN"), p.isKw(t, "NOT") && p.isKw(p.lx.toks[min(p.i+1, len(p.lx.toks)-1)], "IN"):
		not := false
		if p.isKw(t, "NOT") {
			p.next()
			not = true
		}
		p.next()
		if _, err := p.expect(tLParen, "'('"); err != nil {
			return nil, err
		}
		var list []Node
		for {
			x, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			list = append(list, x)
			if p.peek().kind == tComma {
				p.next()
				continue
			}
			break
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return &In{X: l, List: list, Not: not, At: t.pos}, nil
	}
	return l, nil
}

func (p *parser) parseSum() (Node, error) {
	l, err := p.parseProduct()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == tOp && (t.text == "+" || t.text == "-"); t = p.peek() {
		p.next()
		r, err := p.parseProduct()
		if err != nil {
			return nil, err
		}
		l = &Binary{Op: t.text, L: l, R: r, At: t.pos}
	}
	return l, nil
}

func (p *parser) parseProduct() (Node, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == tOp && (t.text == "*" || t.text == "/" || t.text == "%"); t = p.peek() {
		p.next()
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = &Binary{Op: t.text, L: l, R: r, At: t.pos}
	}
	return l, nil
}

func (p *parser) parseUnary() (Node, error) {
	t := p.peek()
	if t.kind == tOp && (t.text == "-" || t.text == "+") {
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		// Fold the sign into a numeric literal so that -9223372036854775808 parses.
		if lit, ok := x.(*Lit); ok && (lit.Kind == LitInt || lit.Kind == LitFloat) && lit.At == t.pos+1 {
			if t.text == "-" {
				return &Lit{Kind: lit.Kind, Val: "-" + lit.Val, At: t.pos}, nil
			}
			return lit, nil
		}
		return &Unary{Op: t.text, X: x, At: t.pos}, nil
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() (Node, error) {
	t := p.next()
	switch t.kind {
	case tInt:
		return &Lit{Kind: LitInt, Val: t.text, At: t.pos}, nil
	case tFloat:
		return &Lit{Kind: LitFloat, Val: t.text, At: t.pos}, nil
	case tString:
		return &Lit{Kind: LitString, Val: t.text, At: t.pos}, nil
	case tQIdent:
		return &Ident{Name: t.text, At: t.pos, Quoted: true}, nil
	case tLParen:
		x, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return x, nil
	case tIdent:
		switch strings.ToUpper(t.text) {
		case "TRUE", "FALSE":
			return &Lit{Kind: LitBool, Val: strings.ToLower(t.text), At: t.pos}, nil
		case "NULL":
			return &Lit{Kind: LitNull, Val: "null", At: t.pos}, nil
		case "DATE", "TIMESTAMP":
			if s := p.peek(); s.kind == tString {
				p.next()
				k := LitDate
				if strings.EqualFold(t.text, "TIMESTAMP") {
					k = LitTimestamp
				}
				return &Lit{Kind: k, Val: s.text, At: t.pos}, nil
			}
		}
		if isKeyword(t.text) {
			return nil, p.unexpected(t)
		}
		if p.peek().kind == tLParen {
			p.next()
			c := &Call{Name: strings.ToLower(t.text), At: t.pos}
			if s := p.peek(); s.kind == tOp && s.text == "*" {
				p.next()
				c.Star = true
			} else if p.peek().kind != tRParen {
				for {
					x, err := p.parseExpr()
					if err != nil {
						return nil, err
					}
					c.Args = append(c.Args, x)
					if p.peek().kind == tComma {
						p.next()
						continue
					}
					break
				}
			}
			if _, err := p.expect(tRParen, "')'"); err != nil {
				return nil, err
			}
			return c, nil
		}
		return &Ident{Name: t.text, At: t.pos}, nil
	}
	return nil, p.unexpected(t)
}
