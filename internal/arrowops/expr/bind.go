package expr

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/aiflow-dev/aiflow/ir"
)

// Expr is an expression bound to a schema: type-checked, with column references resolved to
// indices. It is immutable and safe for concurrent use.
type Expr struct {
	src  string
	root node
	cols []string
}

// Type is the Arrow type of the expression's value. A bare NULL literal has type arrow.Null.
func (e *Expr) Type() arrow.DataType { return e.root.typ() }

// Columns lists the input columns the expression reads, in first-use order.
func (e *Expr) Columns() []string { return e.cols }

// String is the source text.
func (e *Expr) String() string { return e.src }

// Compile parses src and binds it to schema. Errors are *Error (syntax, unknown column, type).
func Compile(src string, schema *arrow.Schema) (*Expr, error) {
	n, err := Parse(src)
	if err != nil {
		return nil, err
	}
	return Bind(src, n, schema)
}

// Bind type-checks a parsed expression against schema.
func Bind(src string, n Node, schema *arrow.Schema) (*Expr, error) {
	b := &binder{src: src, schema: schema, seen: map[string]bool{}}
	root, err := b.bind(n)
	if err != nil {
		return nil, err
	}
	if l, ok := root.(*litNode); ok && l.untyped && l.sc.DataType().ID() == arrow.NULL {
		root = &litNode{sc: l.sc}
	}
	return &Expr{src: src, root: root, cols: b.cols}, nil
}

type binder struct {
	src    string
	schema *arrow.Schema
	cols   []string
	seen   map[string]bool
}

func (b *binder) errAt(pos int, format string, args ...any) error {
	lx := lexer{src: b.src}
	return &Error{Col: lx.col(pos), Msg: fmt.Sprintf(format, args...)}
}

// SuggestColumn is ` (did you mean "x"?)` for the column of s nearest to a misspelt name, or "".
func SuggestColumn(name string, s *arrow.Schema) string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return ir.Suggest(name, names)
}

// columnHint is what to say about an unknown column: the nearest column, or for a
// double-quoted name that is no column, that a string literal takes single quotes.
func columnHint(n *Ident, s *arrow.Schema) string {
	if h := SuggestColumn(n.Name, s); h != "" {
		return h
	}
	if n.Quoted {
		return fmt.Sprintf(" (a string literal takes single quotes: '%s')", strings.ReplaceAll(n.Name, "'", "''"))
	}
	return ""
}

// FunctionHint is what to say about an unknown scalar function: the nearest one, or that an
// aggregate belongs in a group_by.
func FunctionHint(name string) string {
	if h := ir.Suggest(strings.ToLower(name), Functions); h != "" {
		return h
	}
	for _, a := range []string{"sum", "avg", "min", "max", "count", "count_distinct"} {
		if strings.EqualFold(name, a) {
			return fmt.Sprintf(" (%s is an aggregate: use it in a group_by's aggs)", a)
		}
	}
	return ""
}

// ColumnList renders a schema's column names for "available columns" messages.
func ColumnList(s *arrow.Schema) string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = quoteIdent(f.Name)
	}
	return strings.Join(names, ", ")
}

func (b *binder) bind(n Node) (node, error) {
	switch n := n.(type) {
	case *Ident:
		idx := b.schema.FieldIndices(n.Name)
		switch len(idx) {
		case 0:
			return nil, b.errAt(n.At, "unknown column %s%s (available: %s)", quoteIdent(n.Name), columnHint(n, b.schema), ColumnList(b.schema))
		case 1:
		default:
			return nil, b.errAt(n.At, "ambiguous column %s: %d columns have that name", quoteIdent(n.Name), len(idx))
		}
		if !b.seen[n.Name] {
			b.seen[n.Name] = true
			b.cols = append(b.cols, n.Name)
		}
		return &colNode{idx: idx[0], dt: b.schema.Field(idx[0]).Type}, nil
	case *Lit:
		return b.bindLit(n)
	case *Unary:
		x, err := b.bind(n.X)
		if err != nil {
			return nil, err
		}
		switch n.Op {
		case "NOT":
			x, err = b.wantBool(x, n.X.Pos(), "NOT")
			if err != nil {
				return nil, err
			}
			return &callNode{fn: "not", args: []node{x}, dt: arrow.FixedWidthTypes.Boolean}, nil
		case "+":
			if !IsNumeric(x.typ()) && !isNullLit(x) {
				return nil, b.errAt(n.At, "unary + needs a number, got %s", x.typ())
			}
			return x, nil
		default:
			if isNullLit(x) {
				return x, nil
			}
			if !IsNumeric(x.typ()) {
				return nil, b.errAt(n.At, "unary - needs a number, got %s", x.typ())
			}
			if IsInteger(x.typ()) && !IsSigned(x.typ()) {
				x = castTo(x, arrow.PrimitiveTypes.Int64)
			}
			return &callNode{fn: "negate", args: []node{x}, dt: x.typ()}, nil
		}
	case *Binary:
		return b.bindBinary(n)
	case *IsNull:
		x, err := b.bind(n.X)
		if err != nil {
			return nil, err
		}
		fn := "is_null"
		if n.Not {
			fn = "is_not_null"
		}
		if l, ok := x.(*litNode); ok {
			// Constant: IS NULL of a literal is known now.
			return newLit(scalar.NewBooleanScalar(l.sc.IsValid() == n.Not)), nil
		}
		return &callNode{fn: fn, args: []node{x}, dt: arrow.FixedWidthTypes.Boolean}, nil
	case *In:
		return b.bindIn(n)
	case *Call:
		return b.bindCall(n)
	}
	return nil, b.errAt(n.Pos(), "unsupported expression %s", n)
}

func isNullLit(n node) bool {
	l, ok := n.(*litNode)
	return ok && !l.sc.IsValid()
}

func newLit(sc scalar.Scalar) *litNode { return &litNode{sc: sc} }

func (b *binder) bindLit(n *Lit) (node, error) {
	switch n.Kind {
	case LitInt:
		v, err := strconv.ParseInt(n.Val, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(n.Val, 64)
			if ferr != nil {
				return nil, b.errAt(n.At, "invalid integer %s", n.Val)
			}
			return &litNode{sc: scalar.NewFloat64Scalar(f), untyped: true}, nil
		}
		return &litNode{sc: scalar.NewInt64Scalar(v), untyped: true, text: n.Val}, nil
	case LitFloat:
		f, err := strconv.ParseFloat(n.Val, 64)
		if err != nil {
			return nil, b.errAt(n.At, "invalid number %s", n.Val)
		}
		return &litNode{sc: scalar.NewFloat64Scalar(f), untyped: true}, nil
	case LitString:
		return &litNode{sc: scalar.NewStringScalar(n.Val), untyped: true, text: n.Val}, nil
	case LitBool:
		return newLit(scalar.NewBooleanScalar(n.Val == "true")), nil
	case LitNull:
		return &litNode{sc: scalar.MakeNullScalar(arrow.Null), untyped: true}, nil
	case LitDate:
		d, err := parseDate(n.Val)
		if err != nil {
			return nil, b.errAt(n.At, "invalid DATE literal '%s': want yyyy-mm-dd", n.Val)
		}
		return newLit(scalar.NewDate32Scalar(d)), nil
	case LitTimestamp:
		ts, err := arrow.TimestampFromString(n.Val, arrow.Microsecond)
		if err != nil {
			return nil, b.errAt(n.At, "invalid TIMESTAMP literal '%s'", n.Val)
		}
		return newLit(scalar.NewTimestampScalar(ts, &arrow.TimestampType{Unit: arrow.Microsecond})), nil
	}
	return nil, b.errAt(n.At, "invalid literal")
}

func parseDate(s string) (arrow.Date32, error) {
	t, err := time.Parse("2006-01-02", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return arrow.Date32FromTime(t), nil
}

// coerceLit converts a literal to type t at bind time; ok is false if it does not fit exactly.
func coerceLit(l *litNode, t arrow.DataType) (*litNode, bool) {
	if !l.sc.IsValid() {
		return newLit(scalar.MakeNullScalar(t)), true
	}
	if arrow.TypeEqual(l.sc.DataType(), t) {
		return l, true
	}
	switch v := l.sc.(type) {
	case *scalar.Int64:
		switch {
		case IsInteger(t):
			sc, err := scalar.ParseScalar(t, strconv.FormatInt(v.Value, 10))
			if err != nil {
				return nil, false
			}
			return newLit(sc), true
		case IsFloat(t):
			if t.ID() == arrow.FLOAT32 {
				return newLit(scalar.NewFloat32Scalar(float32(v.Value))), true
			}
			return newLit(scalar.NewFloat64Scalar(float64(v.Value))), true
		}
	case *scalar.Float64:
		if t.ID() == arrow.FLOAT32 && float64(float32(v.Value)) == v.Value {
			return newLit(scalar.NewFloat32Scalar(float32(v.Value))), true
		}
	case *scalar.String:
		s := string(v.Data())
		switch t.ID() {
		case arrow.LARGE_STRING:
			return newLit(scalar.NewLargeStringScalar(s)), true
		case arrow.DATE32:
			d, err := parseDate(s)
			if err != nil {
				return nil, false
			}
			return newLit(scalar.NewDate32Scalar(d)), true
		case arrow.TIMESTAMP:
			tt := t.(*arrow.TimestampType)
			loc, err := tt.GetZone()
			if err != nil || loc == nil {
				loc = time.UTC
			}
			ts, _, err := arrow.TimestampFromStringInLocation(strings.TrimSpace(s), tt.Unit, loc)
			if err != nil {
				return nil, false
			}
			return newLit(scalar.NewTimestampScalar(ts, t)), true
		}
	case *scalar.Date32:
		if tt, ok := t.(*arrow.TimestampType); ok {
			ts, err := arrow.TimestampFromTime(v.Value.ToTime(), tt.Unit)
			if err != nil {
				return nil, false
			}
			return newLit(scalar.NewTimestampScalar(ts, t)), true
		}
	case *scalar.Timestamp:
		if tt, ok := t.(*arrow.TimestampType); ok {
			src := v.DataType().(*arrow.TimestampType)
			ts, err := arrow.TimestampFromTime(v.Value.ToTime(src.Unit), tt.Unit)
			if err != nil || ts.ToTime(tt.Unit) != v.Value.ToTime(src.Unit) {
				return nil, false
			}
			return newLit(scalar.NewTimestampScalar(ts, t)), true
		}
	}
	return nil, false
}

func castTo(n node, t arrow.DataType) node {
	if arrow.TypeEqual(n.typ(), t) {
		return n
	}
	if l, ok := n.(*litNode); ok {
		if c, ok := coerceLit(l, t); ok {
			return c
		}
	}
	return &castNode{x: n, dt: t}
}

// unify brings two operands to a common type for arithmetic or comparison; what names the
// operator in errors. Untyped literals adapt to the other side when they fit.
func (b *binder) unify(l, r node, pos int, what string, arith bool) (node, node, error) {
	lt, rt := l.typ(), r.typ()
	ll, lIsLit := l.(*litNode)
	rl, rIsLit := r.(*litNode)
	lUntyped := lIsLit && ll.untyped
	rUntyped := rIsLit && rl.untyped
	// NULL adapts to anything.
	if lUntyped && lt.ID() == arrow.NULL {
		if rt.ID() == arrow.NULL {
			return l, r, nil
		}
		c, _ := coerceLit(ll, rt)
		return c, r, nil
	}
	if rUntyped && rt.ID() == arrow.NULL {
		c, _ := coerceLit(rl, lt)
		return l, c, nil
	}
	switch {
	case IsNumeric(lt) && IsNumeric(rt):
		if arrow.TypeEqual(lt, rt) {
			return l, r, nil
		}
		// An untyped literal takes the other side's type if it fits exactly.
		if rUntyped && !lUntyped {
			if c, ok := coerceLit(rl, lt); ok {
				return l, c, nil
			}
		}
		if lUntyped && !rUntyped {
			if c, ok := coerceLit(ll, rt); ok {
				return c, r, nil
			}
		}
		t := numericCommon(lt, rt)
		return castTo(l, t), castTo(r, t), nil
	case arith:
		return nil, nil, b.errAt(pos, "operator %s needs numbers, got %s and %s", what, lt, rt)
	case IsString(lt) && IsString(rt):
		if arrow.TypeEqual(lt, rt) {
			return l, r, nil
		}
		if rUntyped {
			return l, castTo(r, lt), nil
		}
		if lUntyped {
			return castTo(l, rt), r, nil
		}
		return castTo(l, arrow.BinaryTypes.LargeString), castTo(r, arrow.BinaryTypes.LargeString), nil
	case lt.ID() == arrow.BOOL && rt.ID() == arrow.BOOL:
		return l, r, nil
	case IsTemporal(lt) && (IsTemporal(rt) || (rUntyped && IsString(rt))):
		if rUntyped && IsString(rt) {
			c, ok := coerceLit(rl, lt)
			if !ok {
				return nil, nil, b.errAt(pos, "cannot read '%s' as %s", rl.text, lt)
			}
			return l, c, nil
		}
		t := temporalCommon(lt, rt)
		return castTo(l, t), castTo(r, t), nil
	case IsTemporal(rt) && lUntyped && IsString(lt):
		c, ok := coerceLit(ll, rt)
		if !ok {
			return nil, nil, b.errAt(pos, "cannot read '%s' as %s", ll.text, rt)
		}
		return c, r, nil
	}
	return nil, nil, b.errAt(pos, "cannot compare %s with %s (operator %s)", lt, rt, what)
}

func temporalCommon(a, b arrow.DataType) arrow.DataType {
	if arrow.TypeEqual(a, b) {
		return a
	}
	at, aok := a.(*arrow.TimestampType)
	bt, bok := b.(*arrow.TimestampType)
	switch {
	case aok && bok:
		if timeUnitRank[bt.Unit] > timeUnitRank[at.Unit] {
			return &arrow.TimestampType{Unit: bt.Unit, TimeZone: at.TimeZone}
		}
		return a
	case aok:
		return a
	case bok:
		return b
	}
	return a
}

var cmpFuncs = map[string]string{
	"=": "equal", "!=": "not_equal", "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal",
}

var arithFuncs = map[string]string{"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}

func (b *binder) wantBool(x node, pos int, op string) (node, error) {
	if isNullLit(x) {
		return castTo(x, arrow.FixedWidthTypes.Boolean), nil
	}
	if x.typ().ID() != arrow.BOOL {
		return nil, b.errAt(pos, "%s needs a boolean, got %s", op, x.typ())
	}
	return x, nil
}

func (b *binder) bindBinary(n *Binary) (node, error) {
	l, err := b.bind(n.L)
	if err != nil {
		return nil, err
	}
	r, err := b.bind(n.R)
	if err != nil {
		return nil, err
	}
	switch n.Op {
	case "AND", "OR":
		if l, err = b.wantBool(l, n.L.Pos(), n.Op); err != nil {
			return nil, err
		}
		if r, err = b.wantBool(r, n.R.Pos(), n.Op); err != nil {
			return nil, err
		}
		fn := "and_kleene"
		if n.Op == "OR" {
			fn = "or_kleene"
		}
		return &callNode{fn: fn, args: []node{l, r}, dt: arrow.FixedWidthTypes.Boolean}, nil
	case "+", "-", "*", "/", "%":
		l, r, err = b.unify(l, r, n.At, n.Op, true)
		if err != nil {
			return nil, err
		}
		t := l.typ()
		if t.ID() == arrow.NULL {
			t = arrow.PrimitiveTypes.Int64
			l, r = castTo(l, t), castTo(r, t)
		}
		if n.Op == "%" {
			return &modNode{l: l, r: r, dt: t}, nil
		}
		return &callNode{fn: arithFuncs[n.Op], args: []node{l, r}, dt: t}, nil
	default:
		l, r, err = b.unify(l, r, n.At, n.Op, false)
		if err != nil {
			return nil, err
		}
		if l.typ().ID() == arrow.NULL {
			return newLit(scalar.MakeNullScalar(arrow.FixedWidthTypes.Boolean)), nil
		}
		if s, ok := strLitCompare(l, r, n.Op); ok {
			return s, nil
		}
		return &callNode{fn: cmpFuncs[n.Op], args: []node{l, r}, dt: arrow.FixedWidthTypes.Boolean}, nil
	}
}

func (b *binder) bindIn(n *In) (node, error) {
	x, err := b.bind(n.X)
	if err != nil {
		return nil, err
	}
	lits := make([]*litNode, len(n.List))
	for i, e := range n.List {
		v, err := b.bind(e)
		if err != nil {
			return nil, err
		}
		l, ok := v.(*litNode)
		if !ok {
			return nil, b.errAt(e.Pos(), "IN list items must be literals, got %s", e)
		}
		lits[i] = l
	}
	t := x.typ()
	// Find the type everything is compared in.
	for i, l := range lits {
		xx, ll, err := b.unify(castTo(x, t), l, n.List[i].Pos(), "IN", false)
		if err != nil {
			return nil, err
		}
		if ll.typ().ID() != arrow.NULL {
			t = xx.typ()
		}
	}
	if t.ID() == arrow.NULL {
		return newLit(scalar.MakeNullScalar(arrow.FixedWidthTypes.Boolean)), nil
	}
	x = castTo(x, t)
	bld := array.NewBuilder(memory.DefaultAllocator, t)
	defer bld.Release()
	for i, l := range lits {
		c, ok := coerceLit(l, t)
		if !ok {
			return nil, b.errAt(n.List[i].Pos(), "IN list item %s is not a %s", n.List[i], t)
		}
		if err := appendScalar(bld, c.sc); err != nil {
			return nil, b.errAt(n.List[i].Pos(), "IN list item %s: %v", n.List[i], err)
		}
	}
	set := bld.NewArray()
	var out node = &inNode{x: x, set: set}
	if n.Not {
		out = &callNode{fn: "not", args: []node{out}, dt: arrow.FixedWidthTypes.Boolean}
	}
	return out, nil
}

func appendScalar(b array.Builder, sc scalar.Scalar) error {
	arr, err := scalar.MakeArrayFromScalar(sc, 1, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer arr.Release()
	return b.AppendValueFromString(arr.ValueStr(0))
}

// Functions is the list of scalar functions the language knows, for error messages and docs.
var Functions = []string{"abs", "coalesce", "length", "lower", "upper"}

func (b *binder) bindCall(n *Call) (node, error) {
	if n.Star {
		return nil, b.errAt(n.At, "%s(*) is only valid as an aggregate", n.Name)
	}
	args := make([]node, len(n.Args))
	for i, a := range n.Args {
		x, err := b.bind(a)
		if err != nil {
			return nil, err
		}
		args[i] = x
	}
	want := func(k int) error {
		if len(args) != k {
			return b.errAt(n.At, "%s takes %d argument(s), got %d", n.Name, k, len(args))
		}
		return nil
	}
	switch n.Name {
	case "lower", "upper", "length":
		if err := want(1); err != nil {
			return nil, err
		}
		x := args[0]
		if isNullLit(x) {
			x = castTo(x, arrow.BinaryTypes.String)
		}
		if !IsString(x.typ()) {
			return nil, b.errAt(n.Args[0].Pos(), "%s needs a string, got %s", n.Name, x.typ())
		}
		if n.Name == "length" {
			return &strFuncNode{fn: n.Name, x: x, dt: arrow.PrimitiveTypes.Int64}, nil
		}
		return &strFuncNode{fn: n.Name, x: x, dt: x.typ()}, nil
	case "abs":
		if err := want(1); err != nil {
			return nil, err
		}
		x := args[0]
		if isNullLit(x) {
			x = castTo(x, arrow.PrimitiveTypes.Int64)
		}
		if !IsNumeric(x.typ()) {
			return nil, b.errAt(n.Args[0].Pos(), "abs needs a number, got %s", x.typ())
		}
		if IsInteger(x.typ()) && !IsSigned(x.typ()) {
			return x, nil
		}
		return &callNode{fn: "abs", args: []node{x}, dt: x.typ()}, nil
	case "coalesce":
		if len(args) == 0 {
			return nil, b.errAt(n.At, "coalesce needs at least one argument")
		}
		// Fold the common type left to right.
		acc := args[0]
		for i := 1; i < len(args); i++ {
			l, r, err := b.unify(acc, args[i], n.Args[i].Pos(), "coalesce", false)
			if err != nil {
				return nil, err
			}
			if !arrow.TypeEqual(l.typ(), r.typ()) {
				return nil, b.errAt(n.Args[i].Pos(), "coalesce arguments have types %s and %s", l.typ(), r.typ())
			}
			acc = l
			if acc.typ().ID() == arrow.NULL {
				acc = r
			}
		}
		t := acc.typ()
		for i := range args {
			args[i] = castTo(args[i], t)
		}
		if len(args) == 1 {
			return args[0], nil
		}
		return &coalesceNode{args: args, dt: t}, nil
	}
	return nil, b.errAt(n.At, "unknown function %s%s (known: %s)", n.Name, FunctionHint(n.Name), strings.Join(Functions, ", "))
}

// strLitCompare specialises "string column = 'literal'" (and !=), the commonest filter, into a
// direct byte comparison that avoids the generic kernel's per-row overhead.
func strLitCompare(l, r node, op string) (node, bool) {
	if op != "=" && op != "!=" {
		return nil, false
	}
	if _, ok := l.(*litNode); ok {
		l, r = r, l
	}
	lit, ok := r.(*litNode)
	if !ok || !lit.sc.IsValid() || l.typ().ID() != arrow.STRING {
		return nil, false
	}
	if _, isLit := l.(*litNode); isLit {
		return nil, false
	}
	return &strEqNode{x: l, val: string(lit.sc.(*scalar.String).Data()), neg: op == "!="}, true
}
