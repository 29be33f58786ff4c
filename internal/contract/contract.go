// Package contract is a node's data contract: the declared shape of its output (output_schema:
// columns with Arrow types, nullability, allowed values, ranges, a unique key, and a policy for
// undeclared columns) and quality checks on it (row count, null ratio, uniqueness, accepted
// values, ranges, freshness, and "rows where <expr> must be 0"). The node lifecycle evaluates a
// contract on the staged output before committing it (write, audit, publish): an error-severity
// failure fails the node with exit 65 and nothing is published; a warn-severity failure is
// reported and the output is published.
//
// A contract is parsed from the IR's output_schema mapping (Parse), bound to the Arrow schema the
// output actually has (Bind: the schema checks), fed every output batch once (Evaluator.Observe,
// streaming, no second pass) and judged (Evaluator.Results). Engines that cannot stream batches
// through Go (Spark) compute the same Measures with their own aggregations and call Judge.
package contract

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aiflow-dev/aiflow/internal/arrowops"
	"github.com/aiflow-dev/aiflow/internal/arrowops/expr"
)

// Severities.
const (
	SeverityError = "error" // a failure blocks the commit (exit 65)
	SeverityWarn  = "warn"  // a failure is reported; the output is published
)

// Check kinds, as written in output_schema.checks.
const (
	RowCount       = "row_count"
	NullRatio      = "null_ratio"
	Unique         = "unique"
	AcceptedValues = "accepted_values"
	Range          = "range"
	Freshness      = "freshness"
	RowsWhere      = "rows_where"
	// Kinds that come from output_schema's columns.
	Schema  = "schema"
	NotNull = "not_null"
)

// Kinds lists the check kinds a user writes, in documentation order.
var Kinds = []string{RowCount, NullRatio, Unique, AcceptedValues, Range, Freshness, RowsWhere}

// Extra-column policies.
const (
	ExtraForbid = "forbid"
	ExtraAllow  = "allow"
)

// Contract is a parsed output_schema.
type Contract struct {
	// Columns is the declared schema; nil when output_schema declares no columns (checks only).
	Columns []Column
	// ExtraColumns is ExtraForbid (default) or ExtraAllow: whether output columns not in Columns
	// are a violation.
	ExtraColumns string
	// Checks holds the column constraints (not_null, accepted_values, range), the schema's unique
	// key, then the declared checks, in that order.
	Checks []Check
}

// Column is one declared column.
type Column struct {
	Name string
	// Type is the declared Arrow type name as written ("int64", "string", "timestamp[us, tz=UTC]").
	Type string
	// Nullable false means the column must hold no null (checked on the data: Parquet and Spark
	// mark most columns nullable whatever they hold).
	Nullable bool
	typ      declType
}

// Check is one quality check.
type Check struct {
	Name     string
	Kind     string
	Severity string
	// Columns: the column checked (one), or the unique key (one or more).
	Columns []string
	// Values are the accepted values (AcceptedValues): strings, numbers or booleans.
	Values []any
	// Min and Max bound a Range check (numbers, or strings for string, date and timestamp
	// columns) and a RowCount check (numbers); nil means unbounded.
	Min, Max any
	// MinRatio and MaxRatio bound a RowCount check relative to the rows of the last committed run
	// of the same node.
	MinRatio, MaxRatio *float64
	// MaxNullRatio bounds NullRatio (0..1).
	MaxNullRatio float64
	// MaxAge bounds Freshness: the newest value of the column is at most this old.
	MaxAge time.Duration
	// Expr is the RowsWhere predicate, in the arrow engine's expression language.
	Expr string
}

// Blocking reports whether a failure of c blocks the commit.
func (c *Check) Blocking() bool { return c.Severity != SeverityWarn }

// Column returns the first column of the check ("" when none).
func (c *Check) Column() string {
	if len(c.Columns) == 0 {
		return ""
	}
	return c.Columns[0]
}

// ParseError lists every problem of an output_schema, each prefixed with where it is.
type ParseError struct{ Problems []string }

func (e *ParseError) Error() string { return strings.Join(e.Problems, "; ") }

// Parse reads an IR output_schema mapping. A nil or empty mapping gives a nil contract. Every
// problem is reported, not only the first.
func Parse(m map[string]any) (*Contract, error) {
	if len(m) == 0 {
		return nil, nil
	}
	p := &parser{}
	c := &Contract{ExtraColumns: ExtraForbid}
	for _, k := range sortedKeys(m) {
		switch k {
		case "columns", "extra_columns", "unique", "checks":
		default:
			p.addf("output_schema: unknown field %q (want columns, extra_columns, unique, checks)", k)
		}
	}
	if v, ok := m["extra_columns"]; ok && v != nil {
		s, _ := v.(string)
		if s != ExtraForbid && s != ExtraAllow {
			p.addf("output_schema.extra_columns: must be %q or %q, not %s", ExtraForbid, ExtraAllow, show(v))
		} else {
			c.ExtraColumns = s
		}
	}
	if v, ok := m["columns"]; ok && v != nil {
		c.Columns = p.columns(v, c)
	}
	if v, ok := m["unique"]; ok && v != nil {
		cols := p.strList(v, "output_schema.unique")
		if len(cols) > 0 {
			c.Checks = append(c.Checks, Check{Kind: Unique, Severity: SeverityError, Columns: cols})
		}
	}
	if v, ok := m["checks"]; ok && v != nil {
		list, isList := v.([]any)
		if !isList {
			p.addf("output_schema.checks: must be a list, not %s", show(v))
		}
		for i, it := range list {
			if ck, ok := p.check(it, fmt.Sprintf("output_schema.checks[%d]", i)); ok {
				c.Checks = append(c.Checks, ck)
			}
		}
	}
	if c.Columns != nil {
		declared := map[string]bool{}
		for _, col := range c.Columns {
			declared[col.Name] = true
		}
		for _, ck := range c.Checks {
			for _, col := range ck.Columns {
				if !declared[col] && c.ExtraColumns == ExtraForbid {
					p.addf("output_schema: check %s names column %q, which is not declared in columns", ck.displayName(), col)
				}
			}
		}
	}
	names := map[string]bool{}
	for i := range c.Checks {
		ck := &c.Checks[i]
		if ck.Name == "" {
			ck.Name = ck.displayName()
		}
		if names[ck.Name] {
			p.addf("output_schema: two checks are named %q: give one a name:", ck.Name)
		}
		names[ck.Name] = true
	}
	if len(p.problems) > 0 {
		return nil, &ParseError{Problems: p.problems}
	}
	return c, nil
}

// displayName is the name a check gets when none is given: its kind and what it looks at.
func (c *Check) displayName() string {
	if c.Name != "" {
		return c.Name
	}
	switch c.Kind {
	case RowCount:
		if c.MinRatio != nil || c.MaxRatio != nil {
			return "row_count_change"
		}
		return RowCount
	case RowsWhere:
		return RowsWhere + "(" + c.Expr + ")"
	}
	return c.Kind + "(" + strings.Join(c.Columns, ",") + ")"
}

type parser struct{ problems []string }

func (p *parser) addf(format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

func (p *parser) columns(v any, c *Contract) []Column {
	list, ok := v.([]any)
	if !ok {
		p.addf("output_schema.columns: must be a list of {name, type, nullable, values, min, max}, not %s", show(v))
		return nil
	}
	out := []Column{}
	seen := map[string]bool{}
	for i, it := range list {
		where := fmt.Sprintf("output_schema.columns[%d]", i)
		m, ok := it.(map[string]any)
		if !ok {
			p.addf("%s: must be a mapping {name, type, ...}, not %s", where, show(it))
			continue
		}
		for _, k := range sortedKeys(m) {
			switch k {
			case "name", "type", "nullable", "values", "min", "max", "description":
			default:
				p.addf("%s: unknown field %q (want name, type, nullable, values, min, max, description)", where, k)
			}
		}
		name, _ := m["name"].(string)
		if name == "" {
			p.addf("%s: name must be a non-empty string", where)
			continue
		}
		where = "output_schema.columns." + name
		if seen[name] {
			p.addf("%s: declared twice", where)
		}
		seen[name] = true
		col := Column{Name: name, Nullable: true}
		col.Type, _ = m["type"].(string)
		if col.Type == "" {
			p.addf("%s: type must be an Arrow type name such as int64, float64, string, bool, date32, timestamp[us, tz=UTC], decimal128(18, 2)", where)
		} else if t, err := parseType(col.Type); err != nil {
			p.addf("%s: %v", where, err)
		} else {
			col.typ = t
		}
		if v, ok := m["nullable"]; ok && v != nil {
			b, isBool := v.(bool)
			if !isBool {
				p.addf("%s.nullable: must be true or false, not %s", where, show(v))
			}
			col.Nullable = b || !isBool
		}
		if !col.Nullable {
			c.Checks = append(c.Checks, Check{Name: "not_null(" + name + ")", Kind: NotNull, Severity: SeverityError, Columns: []string{name}})
		}
		if v, ok := m["values"]; ok && v != nil {
			vals := p.values(v, where+".values")
			c.Checks = append(c.Checks, Check{Name: "values(" + name + ")", Kind: AcceptedValues, Severity: SeverityError, Columns: []string{name}, Values: vals})
		}
		minV, hasMin := m["min"]
		maxV, hasMax := m["max"]
		if (hasMin && minV != nil) || (hasMax && maxV != nil) {
			ck := Check{Name: "range(" + name + ")", Kind: Range, Severity: SeverityError, Columns: []string{name}}
			ck.Min, ck.Max = p.bound(minV, where+".min"), p.bound(maxV, where+".max")
			c.Checks = append(c.Checks, ck)
		}
		out = append(out, col)
	}
	return out
}

// check parses one entry of checks: exactly one kind key, plus optional name and severity.
func (p *parser) check(v any, where string) (Check, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		p.addf("%s: must be a mapping such as {row_count: {min: 1}}, not %s", where, show(v))
		return Check{}, false
	}
	ck := Check{Severity: SeverityError}
	var kinds []string
	for _, k := range sortedKeys(m) {
		switch {
		case k == "name":
			s, ok := m[k].(string)
			if !ok || s == "" {
				p.addf("%s.name: must be a non-empty string", where)
			}
			ck.Name = s
		case k == "severity":
			s, _ := m[k].(string)
			if s != SeverityError && s != SeverityWarn {
				p.addf("%s.severity: must be %q or %q, not %s", where, SeverityError, SeverityWarn, show(m[k]))
			} else {
				ck.Severity = s
			}
		case slices.Contains(Kinds, k):
			kinds = append(kinds, k)
		default:
			p.addf("%s: unknown field %q (a check is one of %s, with optional name and severity)", where, k, strings.Join(Kinds, ", "))
		}
	}
	if len(kinds) != 1 {
		if len(kinds) > 1 {
			p.addf("%s: one check per entry, found %s", where, strings.Join(kinds, " and "))
		} else if len(p.problems) == 0 {
			p.addf("%s: names no check (one of %s)", where, strings.Join(Kinds, ", "))
		}
		return ck, false
	}
	ck.Kind = kinds[0]
	arg := m[ck.Kind]
	where += "." + ck.Kind
	n := len(p.problems)
	switch ck.Kind {
	case RowCount:
		a := p.args(arg, where, "min", "max", "min_ratio", "max_ratio")
		ck.Min, ck.Max = p.count(a["min"], where+".min"), p.count(a["max"], where+".max")
		ck.MinRatio, ck.MaxRatio = p.ratio(a["min_ratio"], where+".min_ratio"), p.ratio(a["max_ratio"], where+".max_ratio")
		if ck.Min == nil && ck.Max == nil && ck.MinRatio == nil && ck.MaxRatio == nil && len(p.problems) == n {
			p.addf("%s: give min, max, min_ratio or max_ratio", where)
		}
	case NullRatio:
		a := p.args(arg, where, "column", "max")
		ck.Columns = p.column(a["column"], where)
		if f, ok := num(a["max"]); !ok || f < 0 || f > 1 {
			p.addf("%s.max: must be a number between 0 and 1, not %s", where, show(a["max"]))
		} else {
			ck.MaxNullRatio = f
		}
	case Unique:
		if m, ok := arg.(map[string]any); ok {
			a := p.args(m, where, "columns")
			ck.Columns = p.strList(a["columns"], where+".columns")
		} else if s, ok := arg.(string); ok {
			ck.Columns = []string{s}
		} else {
			ck.Columns = p.strList(arg, where)
		}
		if len(ck.Columns) == 0 && len(p.problems) == n {
			p.addf("%s: name the key's columns", where)
		}
	case AcceptedValues:
		a := p.args(arg, where, "column", "values")
		ck.Columns = p.column(a["column"], where)
		ck.Values = p.values(a["values"], where+".values")
	case Range:
		a := p.args(arg, where, "column", "min", "max")
		ck.Columns = p.column(a["column"], where)
		ck.Min, ck.Max = p.bound(a["min"], where+".min"), p.bound(a["max"], where+".max")
		if ck.Min == nil && ck.Max == nil && len(p.problems) == n {
			p.addf("%s: give min, max or both", where)
		}
	case Freshness:
		a := p.args(arg, where, "column", "max_age")
		ck.Columns = p.column(a["column"], where)
		s, _ := a["max_age"].(string)
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			p.addf("%s.max_age: must be a positive duration such as 26h or 90m, not %s", where, show(a["max_age"]))
		}
		ck.MaxAge = d
	case RowsWhere:
		s, ok := arg.(string)
		if !ok || strings.TrimSpace(s) == "" {
			p.addf("%s: must be an expression such as \"amount < 0\" (the rows it matches must be 0)", where)
		}
		ck.Expr = s
	}
	return ck, len(p.problems) == n
}

// args reads a check's argument mapping, rejecting unknown keys.
func (p *parser) args(v any, where string, allowed ...string) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		p.addf("%s: must be a mapping with %s, not %s", where, strings.Join(allowed, ", "), show(v))
		return map[string]any{}
	}
	for _, k := range sortedKeys(m) {
		if !slices.Contains(allowed, k) {
			p.addf("%s: unknown field %q (want %s)", where, k, strings.Join(allowed, ", "))
		}
	}
	return m
}

func (p *parser) column(v any, where string) []string {
	s, ok := v.(string)
	if !ok || s == "" {
		p.addf("%s.column: must name a column", where)
		return nil
	}
	return []string{s}
}

func (p *parser) strList(v any, where string) []string {
	list, ok := v.([]any)
	if !ok {
		p.addf("%s: must be a list of column names, not %s", where, show(v))
		return nil
	}
	var out []string
	for _, it := range list {
		s, ok := it.(string)
		if !ok || s == "" {
			p.addf("%s: must hold column names, not %s", where, show(it))
			continue
		}
		out = append(out, s)
	}
	return out
}

func (p *parser) values(v any, where string) []any {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		p.addf("%s: must be a non-empty list of values, not %s", where, show(v))
		return nil
	}
	out := make([]any, 0, len(list))
	for _, it := range list {
		switch x := it.(type) {
		case string, bool:
			out = append(out, x)
		default:
			if f, ok := num(x); ok {
				out = append(out, f)
			} else {
				p.addf("%s: values must be strings, numbers or booleans, not %s", where, show(it))
			}
		}
	}
	return out
}

// bound is a range bound: a number, or a string (dates, timestamps, strings); nil when absent.
func (p *parser) bound(v any, where string) any {
	if v == nil {
		return nil
	}
	if s, ok := v.(string); ok {
		return s
	}
	if f, ok := num(v); ok {
		return f
	}
	p.addf("%s: must be a number or a string, not %s", where, show(v))
	return nil
}

func (p *parser) count(v any, where string) any {
	if v == nil {
		return nil
	}
	f, ok := num(v)
	if !ok || f < 0 || f != math.Trunc(f) {
		p.addf("%s: must be a non-negative integer, not %s", where, show(v))
		return nil
	}
	return f
}

func (p *parser) ratio(v any, where string) *float64 {
	if v == nil {
		return nil
	}
	f, ok := num(v)
	if !ok || f < 0 {
		p.addf("%s: must be a non-negative number (1 = as many rows as the last committed run), not %s", where, show(v))
		return nil
	}
	return &f
}

// num reads a number as the IR holds it (json.Number from specs, float64 from encoding/json,
// ints from Go callers).
func num(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	}
	return 0, false
}

func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprint(v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Field is an output column as an engine reports it.
type Field struct {
	Name string
	Type arrow.DataType
}

// FieldsOf lists the fields of an Arrow schema.
func FieldsOf(s *arrow.Schema) []Field {
	out := make([]Field, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = Field{Name: f.Name, Type: f.Type}
	}
	return out
}

// Schema returns the declared columns as an Arrow schema, for checking expressions of this node
// and of its consumers at validate time. ok is false when no columns are declared, when
// undeclared columns are allowed (the real output may have more), or when a declared type is a
// nested type written as text.
func (c *Contract) Schema() (s *arrow.Schema, ok bool) {
	if c == nil || c.Columns == nil || c.ExtraColumns == ExtraAllow {
		return nil, false
	}
	fields := make([]arrow.Field, len(c.Columns))
	for i, col := range c.Columns {
		t := col.typ.dt
		switch {
		case col.typ.anyTS:
			t = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		case col.typ.anyDec:
			t = &arrow.Decimal128Type{Precision: 38, Scale: 9}
		case t == nil:
			return nil, false
		}
		fields[i] = arrow.Field{Name: col.Name, Type: t, Nullable: col.Nullable}
	}
	return arrow.NewSchema(fields, nil), true
}

// CheckDeclared checks the contract against its own declared columns: rows_where expressions
// must bind to them and be conditions. Problems are returned as messages.
func (c *Contract) CheckDeclared() []string {
	s, ok := c.Schema()
	if !ok {
		return nil
	}
	var out []string
	for _, ck := range c.Checks {
		if ck.Kind != RowsWhere {
			continue
		}
		x, err := expr.Compile(ck.Expr, s)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("check %s: %v", ck.Name, err))
		case x.Type().ID() != arrow.BOOL:
			out = append(out, fmt.Sprintf("check %s: %q is %s, not a condition", ck.Name, ck.Expr, x.Type()))
		}
	}
	return out
}

// CheckSteps compiles an arrow transform's declarative steps (as the IR holds them) against the
// declared schemas of its inputs, so a column a downstream step names but no upstream contract
// declares is found at validate time. main is the first input.
func CheckSteps(steps any, inputs map[string]*arrow.Schema, main string) error {
	b, err := json.Marshal(steps)
	if err != nil {
		return err
	}
	ss, err := arrowops.DecodeSteps(b)
	if err != nil {
		return err
	}
	_, err = arrowops.Compile(ss, inputs, main)
	return err
}
