package contract

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowops/expr"
)

// Measures are what the checks need from the data, one pass over it: the rows, and for each
// check (by index in Contract.Checks) a count or the newest value. The Evaluator computes them
// from Arrow batches; the Spark engine computes them with one aggregation query.
type Measures struct {
	Rows int64
	// Counts[i] is, for Checks[i]: the nulls (not_null, null_ratio); the rows whose key repeats an
	// earlier row's (unique; rows with a null in the key are not compared, as in SQL); the
	// non-null values outside the accepted values or the range; the rows the rows_where
	// expression matches (null counts as not matching, as in a WHERE clause).
	Counts []int64
	// Latest[i] is the newest value of a freshness check's column (nil: the column holds no value).
	Latest []*time.Time
	// Unmeasured[i] says why Checks[i] could not be measured ("" when it was): a missing column, a
	// type the check does not apply to, an expression that does not bind.
	Unmeasured []string
}

// NewMeasures returns empty measures for c.
func (c *Contract) NewMeasures() *Measures {
	n := len(c.Checks)
	return &Measures{Counts: make([]int64, n), Latest: make([]*time.Time, n), Unmeasured: make([]string, n)}
}

// Result is the outcome of one check.
type Result struct {
	Name     string `json:"name"`
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Passed   bool   `json:"passed"`
	// Observed is the measured value (rows, a ratio, a count of offending rows, an age in
	// seconds); nil when nothing could be measured.
	Observed *float64 `json:"observed,omitempty"`
	Message  string   `json:"message"`
	// Column is the column checked ("" for the whole output or a key of several columns).
	Column string `json:"column,omitempty"`
	// Expected says what passing requires ("0", "<= 0.05", "[0, 100]").
	Expected string `json:"expected,omitempty"`
	// Content is the expression of a rows_where check.
	Content string `json:"content,omitempty"`
}

// Status is "passed", "failed" (blocks the commit) or "warned" (a failed warn check).
func (r Result) Status() string {
	switch {
	case r.Passed:
		return "passed"
	case r.Severity == SeverityWarn:
		return "warned"
	}
	return "failed"
}

// Options are what judging needs besides the data.
type Options struct {
	// Now is the reference time of freshness checks (the attempt's start).
	Now time.Time
	// PreviousRows is the row count of the last committed run of the same node; nil when there
	// is none (relative row-count checks then pass and say so).
	PreviousRows *int64
}

// CheckSchema compares the output's columns with the declared ones: one failed Result per
// violation (missing column, type mismatch, undeclared column under extra_columns: forbid), or
// one passed Result. None when no columns are declared.
func (c *Contract) CheckSchema(fields []Field) []Result {
	if c == nil || c.Columns == nil {
		return nil
	}
	byName := map[string]arrow.DataType{}
	for _, f := range fields {
		byName[f.Name] = f.Type
	}
	var out []Result
	fail := func(col, msg string) {
		out = append(out, Result{Name: "schema(" + col + ")", Check: Schema, Severity: SeverityError, Message: msg, Column: col})
	}
	declared := map[string]bool{}
	for _, col := range c.Columns {
		declared[col.Name] = true
		t, ok := byName[col.Name]
		switch {
		case !ok:
			fail(col.Name, fmt.Sprintf("column %s is declared (%s) but missing from the output", col.Name, col.Type))
		case !col.typ.satisfies(t):
			fail(col.Name, fmt.Sprintf("column %s is %s, declared %s (and %s does not widen to it without loss)", col.Name, t, col.Type, t))
		}
	}
	if c.ExtraColumns != ExtraAllow {
		for _, f := range fields {
			if !declared[f.Name] {
				fail(f.Name, fmt.Sprintf("column %s (%s) is not declared (extra_columns: forbid)", f.Name, f.Type))
			}
		}
	}
	if len(out) == 0 {
		n := float64(len(fields))
		out = append(out, Result{Name: "schema", Check: Schema, Severity: SeverityError, Passed: true, Observed: &n, Message: fmt.Sprintf("%d columns as declared", len(fields))})
	}
	return out
}

// Judge turns measures into results: the schema results first, then one per check.
func (c *Contract) Judge(schema []Result, m *Measures, o Options) []Result {
	out := append([]Result(nil), schema...)
	rows := float64(m.Rows)
	for i := range c.Checks {
		ck := &c.Checks[i]
		r := Result{Name: ck.Name, Check: ck.Kind, Severity: ck.Severity, Expected: "0"}
		if len(ck.Columns) == 1 {
			r.Column = ck.Columns[0]
		}
		switch ck.Kind {
		case RowCount:
			r.Expected = expectRows(ck)
		case NullRatio:
			r.Expected = "<= " + fmtFloat(ck.MaxNullRatio)
		case Freshness:
			r.Expected = "<= " + ck.MaxAge.String()
		case RowsWhere:
			r.Content = ck.Expr
		}
		if why := m.Unmeasured[i]; why != "" {
			r.Message = why
			out = append(out, r)
			continue
		}
		count := float64(m.Counts[i])
		r.Observed = &count
		switch ck.Kind {
		case RowCount:
			r.Observed = &rows
			r.Passed, r.Message = judgeRows(ck, m.Rows, o.PreviousRows)
		case NotNull:
			r.Passed = count == 0
			r.Message = fmt.Sprintf("%d nulls in %s (declared nullable: false)", m.Counts[i], ck.Column())
		case NullRatio:
			ratio := 0.0
			if m.Rows > 0 {
				ratio = count / rows
			}
			r.Observed = &ratio
			r.Passed = ratio <= ck.MaxNullRatio
			r.Message = fmt.Sprintf("null ratio of %s is %s (%d of %d rows), at most %s allowed", ck.Column(), fmtFloat(ratio), m.Counts[i], m.Rows, fmtFloat(ck.MaxNullRatio))
		case Unique:
			r.Passed = count == 0
			r.Message = fmt.Sprintf("%d rows repeat the key (%s) of an earlier row", m.Counts[i], strings.Join(ck.Columns, ", "))
		case AcceptedValues:
			r.Passed = count == 0
			r.Message = fmt.Sprintf("%d rows have a value of %s outside %s", m.Counts[i], ck.Column(), showValues(ck.Values))
		case Range:
			r.Passed = count == 0
			r.Message = fmt.Sprintf("%d rows have %s outside [%s, %s]", m.Counts[i], ck.Column(), showBound(ck.Min), showBound(ck.Max))
		case Freshness:
			latest := m.Latest[i]
			if latest == nil {
				r.Observed = nil
				r.Message = fmt.Sprintf("%s holds no value: nothing is fresh", ck.Column())
				break
			}
			age := o.Now.Sub(*latest)
			secs := age.Seconds()
			r.Observed = &secs
			r.Passed = age <= ck.MaxAge
			r.Message = fmt.Sprintf("newest %s is %s, %s old (at most %s allowed)", ck.Column(), latest.UTC().Format(time.RFC3339), age.Round(time.Second), ck.MaxAge)
		case RowsWhere:
			r.Passed = count == 0
			r.Message = fmt.Sprintf("%d rows where %s (must be 0)", m.Counts[i], ck.Expr)
		}
		out = append(out, r)
	}
	return out
}

func expectRows(ck *Check) string {
	var parts []string
	if ck.Min != nil || ck.Max != nil {
		parts = append(parts, "["+showBound(ck.Min)+", "+showBound(ck.Max)+"]")
	}
	if ck.MinRatio != nil || ck.MaxRatio != nil {
		lo, hi := "…", "…"
		if ck.MinRatio != nil {
			lo = fmtFloat(*ck.MinRatio)
		}
		if ck.MaxRatio != nil {
			hi = fmtFloat(*ck.MaxRatio)
		}
		parts = append(parts, "["+lo+"×, "+hi+"×] the last committed run")
	}
	return strings.Join(parts, " and ")
}

func judgeRows(ck *Check, rows int64, prev *int64) (bool, string) {
	var bad []string
	if v, ok := num(ck.Min); ok && float64(rows) < v {
		bad = append(bad, fmt.Sprintf("fewer than %s", fmtFloat(v)))
	}
	if v, ok := num(ck.Max); ok && float64(rows) > v {
		bad = append(bad, fmt.Sprintf("more than %s", fmtFloat(v)))
	}
	msg := fmt.Sprintf("%d rows", rows)
	if ck.MinRatio != nil || ck.MaxRatio != nil {
		if prev == nil {
			msg += "; no earlier committed run to compare with"
		} else {
			ratio := 1.0
			if *prev > 0 {
				ratio = float64(rows) / float64(*prev)
			} else if rows > 0 {
				ratio = math.Inf(1)
			}
			msg += fmt.Sprintf(", %s× the %d of the last committed run", fmtFloat(ratio), *prev)
			if ck.MinRatio != nil && ratio < *ck.MinRatio {
				bad = append(bad, fmt.Sprintf("below %s× the last committed run", fmtFloat(*ck.MinRatio)))
			}
			if ck.MaxRatio != nil && ratio > *ck.MaxRatio {
				bad = append(bad, fmt.Sprintf("above %s× the last committed run", fmtFloat(*ck.MaxRatio)))
			}
		}
	}
	if len(bad) > 0 {
		return false, msg + ": " + strings.Join(bad, ", ")
	}
	return true, msg
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

func showBound(v any) string {
	if v == nil {
		return "…"
	}
	if f, ok := num(v); ok {
		return fmtFloat(f)
	}
	return fmt.Sprint(v)
}

func showValues(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		if s, ok := v.(string); ok {
			parts[i] = strconv.Quote(s)
		} else {
			parts[i] = showBound(v)
		}
	}
	if len(parts) > 10 {
		parts = append(parts[:10], "…")
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Blocking returns the failed error-severity results.
func Blocking(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if !r.Passed && r.Severity != SeverityWarn {
			out = append(out, r)
		}
	}
	return out
}

// Err is nil when no error-severity result failed; otherwise a data error (exit 65) listing
// every failure.
func Err(node string, rs []Result) error {
	bad := Blocking(rs)
	if len(bad) == 0 {
		return nil
	}
	parts := make([]string, len(bad))
	for i, r := range bad {
		parts[i] = r.Name + ": " + r.Message
	}
	return fault.Dataf("output of %s breaks its contract (%d failed, nothing published): %s", node, len(bad), strings.Join(parts, "; "))
}

// Evaluator measures a contract over a stream of batches.
type Evaluator struct {
	c      *Contract
	schema []Result
	m      *Measures
	checks []boundCheck
	mem    memory.Allocator
}

type boundCheck struct {
	i      int
	kind   string
	col    int   // column index (single-column checks)
	cols   []int // unique key columns
	count  func(a arrow.Array) int64
	latest func(a arrow.Array) (time.Time, bool)
	keys   *keySet
	expr   *expr.Expr
}

// Bind prepares the evaluation of c over batches of schema s: the schema checks are done here.
func (c *Contract) Bind(s *arrow.Schema, mem memory.Allocator) *Evaluator {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	e := &Evaluator{c: c, schema: c.CheckSchema(FieldsOf(s)), m: c.NewMeasures(), mem: mem}
	for i := range c.Checks {
		ck := &c.Checks[i]
		b := boundCheck{i: i, kind: ck.Kind, col: -1}
		var why string
		idx := func(name string) int {
			ix := s.FieldIndices(name)
			if len(ix) == 0 {
				why = fmt.Sprintf("column %s is not in the output (columns: %s)", name, expr.ColumnList(s))
				return -1
			}
			return ix[0]
		}
		switch ck.Kind {
		case RowCount:
		case RowsWhere:
			x, err := expr.Compile(ck.Expr, s)
			switch {
			case err != nil:
				why = fmt.Sprintf("expression %q: %v", ck.Expr, err)
			case x.Type().ID() != arrow.BOOL:
				why = fmt.Sprintf("expression %q is %s, not a condition", ck.Expr, x.Type())
			default:
				b.expr = x
			}
		case Unique:
			for _, name := range ck.Columns {
				if ix := idx(name); ix >= 0 {
					b.cols = append(b.cols, ix)
				}
			}
			if why == "" {
				types := make([]arrow.DataType, len(b.cols))
				for j, ix := range b.cols {
					types[j] = s.Field(ix).Type
				}
				b.keys, why = newKeySet(types)
			}
		default:
			b.col = idx(ck.Column())
			if why != "" {
				break
			}
			t := s.Field(b.col).Type
			switch ck.Kind {
			case AcceptedValues:
				b.count, why = valueCounter(t, func(t arrow.DataType) (func(a arrow.Array) func(int) bool, string) {
					return acceptedTester(t, ck.Values)
				})
			case Range:
				b.count, why = valueCounter(t, func(t arrow.DataType) (func(a arrow.Array) func(int) bool, string) {
					return rangeTester(t, ck.Min, ck.Max)
				})
			case Freshness:
				b.latest, why = latestOf(t)
			}
		}
		if why != "" {
			e.m.Unmeasured[i] = why
			continue
		}
		e.checks = append(e.checks, b)
	}
	return e
}

// Observe measures one batch.
func (e *Evaluator) Observe(ctx context.Context, rec arrow.RecordBatch) error {
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	e.m.Rows += n
	for k := range e.checks {
		b := &e.checks[k]
		switch b.kind {
		case RowCount:
		case NotNull, NullRatio:
			e.m.Counts[b.i] += int64(rec.Column(b.col).NullN())
		case AcceptedValues, Range:
			e.m.Counts[b.i] += b.count(rec.Column(b.col))
		case Freshness:
			if t, ok := b.latest(rec.Column(b.col)); ok {
				if cur := e.m.Latest[b.i]; cur == nil || t.After(*cur) {
					e.m.Latest[b.i] = &t
				}
			}
		case Unique:
			cols := make([]arrow.Array, len(b.cols))
			for j, ix := range b.cols {
				cols[j] = rec.Column(ix)
			}
			e.m.Counts[b.i] += b.keys.add(cols, int(n))
		case RowsWhere:
			a, err := b.expr.EvalArray(ctx, rec, e.mem)
			if err != nil {
				return fault.Wrap(fault.Data, err, "check %s", e.c.Checks[b.i].Name)
			}
			e.m.Counts[b.i] += countTrue(a)
			a.Release()
		}
	}
	return nil
}

// Measures returns what was measured so far.
func (e *Evaluator) Measures() *Measures { return e.m }

// Results judges what was measured.
func (e *Evaluator) Results(o Options) []Result { return e.c.Judge(e.schema, e.m, o) }

// Evaluate binds c to rr's schema and measures every batch of rr.
func (c *Contract) Evaluate(ctx context.Context, rr array.RecordReader, mem memory.Allocator) (*Evaluator, error) {
	e := c.Bind(rr.Schema(), mem)
	for rr.Next() {
		if err := e.Observe(ctx, rr.RecordBatch()); err != nil {
			return nil, err
		}
	}
	return e, rr.Err()
}

func countTrue(a arrow.Array) int64 {
	b, ok := a.(*array.Boolean)
	if !ok {
		return 0
	}
	var n int64
	for i := 0; i < b.Len(); i++ {
		if b.IsValid(i) && b.Value(i) {
			n++
		}
	}
	return n
}

// valueCounter builds a counter of the non-null values for which a tester says "bad"; a
// dictionary-encoded column is tested once per dictionary entry.
func valueCounter(t arrow.DataType, mk func(arrow.DataType) (func(a arrow.Array) func(int) bool, string)) (func(a arrow.Array) int64, string) {
	if dt, ok := t.(*arrow.DictionaryType); ok {
		tester, why := mk(dt.ValueType)
		if why != "" {
			return nil, why
		}
		return func(a arrow.Array) int64 {
			d := a.(*array.Dictionary)
			dict := d.Dictionary()
			bad := tester(dict)
			flags := make([]bool, dict.Len())
			for j := range flags {
				flags[j] = dict.IsValid(j) && bad(j)
			}
			var n int64
			for i := 0; i < d.Len(); i++ {
				if d.IsValid(i) && flags[d.GetValueIndex(i)] {
					n++
				}
			}
			return n
		}, ""
	}
	tester, why := mk(t)
	if why != "" {
		return nil, why
	}
	return func(a arrow.Array) int64 {
		bad := tester(a)
		var n int64
		if a.NullN() == 0 {
			for i := 0; i < a.Len(); i++ {
				if bad(i) {
					n++
				}
			}
			return n
		}
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) && bad(i) {
				n++
			}
		}
		return n
	}, ""
}

// intsOf reads integer-like values (integers, dates, timestamps) as int64.
func intsOf(a arrow.Array) func(int) int64 {
	switch x := a.(type) {
	case *array.Int8:
		return func(i int) int64 { return int64(x.Value(i)) }
	case *array.Int16:
		return func(i int) int64 { return int64(x.Value(i)) }
	case *array.Int32:
		v := x.Int32Values()
		return func(i int) int64 { return int64(v[i]) }
	case *array.Int64:
		v := x.Int64Values()
		return func(i int) int64 { return v[i] }
	case *array.Uint8:
		return func(i int) int64 { return int64(x.Value(i)) }
	case *array.Uint16:
		return func(i int) int64 { return int64(x.Value(i)) }
	case *array.Uint32:
		return func(i int) int64 { return int64(x.Value(i)) }
	case *array.Uint64:
		return func(i int) int64 { return int64(x.Value(i)) }
	case *array.Date32:
		return func(i int) int64 { return int64(x.Value(i)) }
	case *array.Date64:
		return func(i int) int64 { return int64(x.Value(i)) }
	case *array.Timestamp:
		return func(i int) int64 { return int64(x.Value(i)) }
	}
	return nil
}

// floatsOf reads numeric values as float64.
func floatsOf(a arrow.Array) func(int) float64 {
	switch x := a.(type) {
	case *array.Float16:
		return func(i int) float64 { return float64(x.Value(i).Float32()) }
	case *array.Float32:
		return func(i int) float64 { return float64(x.Value(i)) }
	case *array.Float64:
		v := x.Float64Values()
		return func(i int) float64 { return v[i] }
	case *array.Decimal128:
		sc := x.DataType().(*arrow.Decimal128Type).Scale
		return func(i int) float64 { return x.Value(i).ToFloat64(sc) }
	}
	if ints := intsOf(a); ints != nil {
		if _, ok := a.(*array.Uint64); ok {
			u := a.(*array.Uint64)
			return func(i int) float64 { return float64(u.Value(i)) }
		}
		return func(i int) float64 { return float64(ints(i)) }
	}
	return nil
}

func stringsOf(a arrow.Array) func(int) string {
	switch x := a.(type) {
	case *array.String:
		return x.Value
	case *array.LargeString:
		return x.Value
	case *array.StringView:
		return x.Value
	}
	return nil
}

func isInt(t arrow.DataType) bool { _, ok, _ := intInfo(t); return ok }

func isNumber(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128:
		return true
	}
	return isInt(t)
}

func isString(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

// acceptedTester says which values are not among vals.
func acceptedTester(t arrow.DataType, vals []any) (func(a arrow.Array) func(int) bool, string) {
	switch {
	case isString(t):
		set := map[string]struct{}{}
		for _, v := range vals {
			switch x := v.(type) {
			case string:
				set[x] = struct{}{}
			case float64:
				set[strconv.FormatFloat(x, 'f', -1, 64)] = struct{}{}
			case bool:
				set[strconv.FormatBool(x)] = struct{}{}
			}
		}
		return func(a arrow.Array) func(int) bool {
			get := stringsOf(a)
			return func(i int) bool { _, ok := set[get(i)]; return !ok }
		}, ""
	case isInt(t):
		set := map[int64]struct{}{}
		for _, v := range vals {
			f, ok := v.(float64)
			if !ok || f != math.Trunc(f) {
				return nil, fmt.Sprintf("accepted values of an integer column must be integers, not %v", v)
			}
			set[int64(f)] = struct{}{}
		}
		return func(a arrow.Array) func(int) bool {
			get := intsOf(a)
			return func(i int) bool { _, ok := set[get(i)]; return !ok }
		}, ""
	case isNumber(t):
		set := map[float64]struct{}{}
		for _, v := range vals {
			f, ok := v.(float64)
			if !ok {
				return nil, fmt.Sprintf("accepted values of a numeric column must be numbers, not %v", v)
			}
			set[f] = struct{}{}
		}
		return func(a arrow.Array) func(int) bool {
			get := floatsOf(a)
			return func(i int) bool { _, ok := set[get(i)]; return !ok }
		}, ""
	case t.ID() == arrow.BOOL:
		var okT, okF bool
		for _, v := range vals {
			b, isB := v.(bool)
			if !isB {
				return nil, fmt.Sprintf("accepted values of a boolean column must be true or false, not %v", v)
			}
			okT, okF = okT || b, okF || !b
		}
		return func(a arrow.Array) func(int) bool {
			x := a.(*array.Boolean)
			return func(i int) bool {
				if x.Value(i) {
					return !okT
				}
				return !okF
			}
		}, ""
	}
	return nil, fmt.Sprintf("accepted_values applies to string, integer, float, decimal and boolean columns, not %s", t)
}

// rangeTester says which values fall outside [lo, hi] (nil bounds are open).
func rangeTester(t arrow.DataType, lo, hi any) (func(a arrow.Array) func(int) bool, string) {
	switch {
	case t.ID() == arrow.DATE32 || t.ID() == arrow.DATE64 || t.ID() == arrow.TIMESTAMP:
		conv := func(v any) (int64, bool, string) {
			if v == nil {
				return 0, false, ""
			}
			s, ok := v.(string)
			if !ok {
				return 0, false, fmt.Sprintf("a bound of a %s column must be a date or time string, not %v", t, v)
			}
			tm, err := parseTime(s)
			if err != nil {
				return 0, false, err.Error()
			}
			switch tt := t.(type) {
			case *arrow.TimestampType:
				return tm.UnixNano() / int64(tt.Unit.Multiplier()), true, ""
			case *arrow.Date64Type:
				return tm.UnixMilli(), true, ""
			}
			return int64(math.Floor(float64(tm.Unix()) / 86400)), true, ""
		}
		l, hasL, why := conv(lo)
		if why != "" {
			return nil, why
		}
		h, hasH, why := conv(hi)
		if why != "" {
			return nil, why
		}
		return func(a arrow.Array) func(int) bool {
			get := intsOf(a)
			return func(i int) bool { v := get(i); return (hasL && v < l) || (hasH && v > h) }
		}, ""
	case isNumber(t):
		l, hasL := num(lo)
		h, hasH := num(hi)
		if (lo != nil && !hasL) || (hi != nil && !hasH) {
			return nil, fmt.Sprintf("bounds of a numeric column must be numbers, not %v and %v", lo, hi)
		}
		return func(a arrow.Array) func(int) bool {
			get := floatsOf(a)
			return func(i int) bool { v := get(i); return (hasL && v < l) || (hasH && v > h) || math.IsNaN(v) }
		}, ""
	case isString(t):
		l, hasL := lo.(string)
		h, hasH := hi.(string)
		if (lo != nil && !hasL) || (hi != nil && !hasH) {
			return nil, fmt.Sprintf("bounds of a string column must be strings, not %v and %v", lo, hi)
		}
		return func(a arrow.Array) func(int) bool {
			get := stringsOf(a)
			return func(i int) bool { v := get(i); return (hasL && v < l) || (hasH && v > h) }
		}, ""
	}
	return nil, fmt.Sprintf("range applies to numeric, string, date and timestamp columns, not %s", t)
}

// parseTime reads a bound: a date, or a date and time (RFC 3339, or without a zone: UTC).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bound %q is not a date (2006-01-02) or a time (RFC 3339)", s)
}

// latestOf finds the newest value of a date or timestamp column.
func latestOf(t arrow.DataType) (func(a arrow.Array) (time.Time, bool), string) {
	var toTime func(v int64) time.Time
	switch tt := t.(type) {
	case *arrow.TimestampType:
		toTime = func(v int64) time.Time { return arrow.Timestamp(v).ToTime(tt.Unit) }
	case *arrow.Date32Type:
		toTime = func(v int64) time.Time { return arrow.Date32(v).ToTime() }
	case *arrow.Date64Type:
		toTime = func(v int64) time.Time { return arrow.Date64(v).ToTime() }
	default:
		return nil, fmt.Sprintf("freshness applies to timestamp and date columns, not %s", t)
	}
	return func(a arrow.Array) (time.Time, bool) {
		get := intsOf(a)
		best, found := int64(math.MinInt64), false
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) {
				if v := get(i); !found || v > best {
					best, found = v, true
				}
			}
		}
		if !found {
			return time.Time{}, false
		}
		return toTime(best), true
	}, ""
}

// keySet remembers the keys seen, as 128-bit hashes (a false repeat needs a 128-bit collision),
// or as the values themselves for a single integer-like column. Memory grows with the distinct
// keys: 16 to 64 bytes per key (8 or 16 bytes a slot, at most half the slots used).
type keySet struct {
	types  []arrow.DataType
	ints   *u64Set
	hashes *u128Set
	s1, s2 maphash.Seed
	buf    []byte
}

func newKeySet(types []arrow.DataType) (*keySet, string) {
	k := &keySet{types: types}
	if len(types) == 1 && intsKeyed(types[0]) {
		k.ints = newU64Set()
		return k, ""
	}
	for _, t := range types {
		if dt, ok := t.(*arrow.DictionaryType); ok {
			t = dt.ValueType
		}
		if !isNumber(t) && !isString(t) && !intsKeyed(t) && t.ID() != arrow.BOOL && t.ID() != arrow.BINARY && t.ID() != arrow.LARGE_BINARY {
			return nil, fmt.Sprintf("unique applies to numeric, string, binary, boolean, date and timestamp columns, not %s", t)
		}
	}
	k.hashes = newU128Set()
	k.s1, k.s2 = maphash.MakeSeed(), maphash.MakeSeed()
	return k, ""
}

func intsKeyed(t arrow.DataType) bool {
	return isInt(t) || t.ID() == arrow.DATE32 || t.ID() == arrow.DATE64 || t.ID() == arrow.TIMESTAMP
}

// add records the keys of n rows and returns how many repeated an earlier key.
func (k *keySet) add(cols []arrow.Array, n int) int64 {
	var dup int64
	if k.ints != nil {
		a := cols[0]
		if x, ok := a.(*array.Int64); ok && a.NullN() == 0 {
			for _, v := range x.Int64Values() {
				if k.ints.add(uint64(v)) {
					dup++
				}
			}
			return dup
		}
		get := intsOf(a)
		for i := 0; i < n; i++ {
			if a.IsNull(i) {
				continue
			}
			if k.ints.add(uint64(get(i))) {
				dup++
			}
		}
		return dup
	}
	encs := make([]func([]byte, int) []byte, len(cols))
	for j, a := range cols {
		encs[j] = encoder(a)
	}
rows:
	for i := 0; i < n; i++ {
		buf := k.buf[:0]
		for j, a := range cols {
			if a.IsNull(i) {
				continue rows
			}
			buf = encs[j](buf, i)
		}
		k.buf = buf
		if k.hashes.add([2]uint64{maphash.Bytes(k.s1, buf), maphash.Bytes(k.s2, buf)}) {
			dup++
		}
	}
	return dup
}

// encoder appends an unambiguous encoding of a row's value (length-prefixed for variable-width
// values).
func encoder(a arrow.Array) func([]byte, int) []byte {
	if d, ok := a.(*array.Dictionary); ok {
		inner := encoder(d.Dictionary())
		return func(b []byte, i int) []byte { return inner(b, d.GetValueIndex(i)) }
	}
	if get := stringsOf(a); get != nil {
		return func(b []byte, i int) []byte {
			s := get(i)
			b = binary.AppendUvarint(b, uint64(len(s)))
			return append(b, s...)
		}
	}
	switch x := a.(type) {
	case *array.Binary:
		return func(b []byte, i int) []byte {
			v := x.Value(i)
			b = binary.AppendUvarint(b, uint64(len(v)))
			return append(b, v...)
		}
	case *array.LargeBinary:
		return func(b []byte, i int) []byte {
			v := x.Value(i)
			b = binary.AppendUvarint(b, uint64(len(v)))
			return append(b, v...)
		}
	case *array.Boolean:
		return func(b []byte, i int) []byte {
			if x.Value(i) {
				return append(b, 1)
			}
			return append(b, 0)
		}
	case *array.Decimal128:
		return func(b []byte, i int) []byte {
			v := x.Value(i)
			b = binary.LittleEndian.AppendUint64(b, v.LowBits())
			return binary.LittleEndian.AppendUint64(b, uint64(v.HighBits()))
		}
	}
	if get := intsOf(a); get != nil {
		return func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(get(i))) }
	}
	get := floatsOf(a)
	return func(b []byte, i int) []byte {
		v := get(i)
		if v == 0 {
			v = 0 // -0 and +0 are one key
		}
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
}
