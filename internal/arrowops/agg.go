package arrowops

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowops/expr"
	"github.com/aiflow-dev/aiflow/ir"
)

// AggFuncs lists the aggregate functions group_by accepts.
var AggFuncs = []string{"avg", "count", "count_distinct", "max", "min", "sum"}

// aggregator keeps per-group state for one aggregate, indexed by group id.
type aggregator interface {
	// grow makes room for n groups (n only increases).
	grow(n int)
	// update folds column a (nil for count(*)) of one batch into the state; ids[i] is the
	// group of row i.
	update(a arrow.Array, ids []int32) error
	// finish builds the result column, one value per group.
	finish(mem memory.Allocator) arrow.Array
}

type aggSpec struct {
	name string
	fn   string
	col  int // -1 for count(*)
	in   arrow.DataType
	out  arrow.DataType
}

// parseAgg checks an aggregate's shape without a schema: "fn(col)" with a known fn, or
// "count(*)". The column is nil for count(*).
func parseAgg(src string) (*expr.Call, *expr.Ident, error) {
	n, err := expr.Parse(src)
	if err != nil {
		return nil, nil, err
	}
	call, ok := n.(*expr.Call)
	if !ok {
		return nil, nil, fmt.Errorf("want an aggregate call like sum(col), got %q (aggregates: %s)", src, strings.Join(AggFuncs, ", "))
	}
	if !slices.Contains(AggFuncs, call.Name) {
		return nil, nil, fmt.Errorf("unknown aggregate %s%s (aggregates: %s)", call.Name, ir.Suggest(strings.ToLower(call.Name), AggFuncs), strings.Join(AggFuncs, ", "))
	}
	if call.Star {
		if call.Name != "count" {
			return nil, nil, fmt.Errorf("%s(*) is not an aggregate; only count(*) is", call.Name)
		}
		return call, nil, nil
	}
	if len(call.Args) != 1 {
		return nil, nil, fmt.Errorf("%s takes one column, got %d arguments", call.Name, len(call.Args))
	}
	id, ok := call.Args[0].(*expr.Ident)
	if !ok {
		return nil, nil, fmt.Errorf("%s takes a column name, got %s (compute expressions in a derive step first)", call.Name, call.Args[0])
	}
	return call, id, nil
}

// bindAgg type-checks one aggregate written as "fn(col)" or "count(*)".
func bindAgg(name, src string, schema *arrow.Schema) (aggSpec, error) {
	call, id, err := parseAgg(src)
	if err != nil {
		return aggSpec{}, err
	}
	s := aggSpec{name: name, fn: call.Name, col: -1}
	if id == nil {
		s.out = arrow.PrimitiveTypes.Int64
		return s, nil
	}
	idx := schema.FieldIndices(id.Name)
	if len(idx) != 1 {
		return s, fmt.Errorf("unknown column %q in %s%s (available: %s)", id.Name, src, expr.SuggestColumn(id.Name, schema), expr.ColumnList(schema))
	}
	s.col = idx[0]
	s.in = schema.Field(idx[0]).Type
	t := s.in
	switch call.Name {
	case "count":
		s.out = arrow.PrimitiveTypes.Int64
	case "count_distinct":
		if classOf(t) == kcInvalid {
			return s, fmt.Errorf("count_distinct(%s): unsupported type %s (supported: %s)", id.Name, t, keyTypeNames)
		}
		s.out = arrow.PrimitiveTypes.Int64
	case "sum":
		switch {
		case expr.IsInteger(t):
			s.out = arrow.PrimitiveTypes.Int64
		case expr.IsFloat(t):
			s.out = arrow.PrimitiveTypes.Float64
		default:
			return s, fmt.Errorf("sum(%s): %s is not a number", id.Name, t)
		}
	case "avg":
		if !expr.IsNumeric(t) {
			return s, fmt.Errorf("avg(%s): %s is not a number", id.Name, t)
		}
		s.out = arrow.PrimitiveTypes.Float64
	case "min", "max":
		if !expr.IsNumeric(t) && !expr.IsString(t) && !expr.IsTemporal(t) {
			return s, fmt.Errorf("%s(%s): unsupported type %s (numbers, strings, dates and timestamps)", call.Name, id.Name, t)
		}
		s.out = t
	default:
		return s, fmt.Errorf("unknown aggregate %s%s (aggregates: %s)", call.Name, ir.Suggest(strings.ToLower(call.Name), AggFuncs), strings.Join(AggFuncs, ", "))
	}
	return s, nil
}

func newAggregator(s aggSpec) aggregator {
	switch s.fn {
	case "count":
		if s.col < 0 {
			return &countAgg{star: true}
		}
		return &countAgg{}
	case "count_distinct":
		if classOf(s.in) == kcString {
			return &distinctStrAgg{seen: map[string]struct{}{}}
		}
		return &distinctU64Agg{seen: map[distinctKey]struct{}{}}
	case "sum":
		switch s.in.ID() {
		case arrow.INT8:
			return &sumIntAgg[int8]{}
		case arrow.INT16:
			return &sumIntAgg[int16]{}
		case arrow.INT32:
			return &sumIntAgg[int32]{}
		case arrow.INT64:
			return &sumIntAgg[int64]{}
		case arrow.UINT8:
			return &sumIntAgg[uint8]{}
		case arrow.UINT16:
			return &sumIntAgg[uint16]{}
		case arrow.UINT32:
			return &sumIntAgg[uint32]{}
		case arrow.UINT64:
			return &sumIntAgg[uint64]{}
		case arrow.FLOAT32:
			return &sumFloatAgg[float32]{}
		case arrow.FLOAT64:
			return &sumFloatAgg[float64]{}
		}
	case "avg":
		switch s.in.ID() {
		case arrow.INT8:
			return &avgAgg[int8]{}
		case arrow.INT16:
			return &avgAgg[int16]{}
		case arrow.INT32:
			return &avgAgg[int32]{}
		case arrow.INT64:
			return &avgAgg[int64]{}
		case arrow.UINT8:
			return &avgAgg[uint8]{}
		case arrow.UINT16:
			return &avgAgg[uint16]{}
		case arrow.UINT32:
			return &avgAgg[uint32]{}
		case arrow.UINT64:
			return &avgAgg[uint64]{}
		case arrow.FLOAT32:
			return &avgAgg[float32]{}
		case arrow.FLOAT64:
			return &avgAgg[float64]{}
		}
	case "min", "max":
		isMax := s.fn == "max"
		switch s.in.ID() {
		case arrow.INT8:
			return &minMaxAgg[int8]{max: isMax, dt: s.in}
		case arrow.INT16:
			return &minMaxAgg[int16]{max: isMax, dt: s.in}
		case arrow.INT32:
			return &minMaxAgg[int32]{max: isMax, dt: s.in}
		case arrow.INT64:
			return &minMaxAgg[int64]{max: isMax, dt: s.in}
		case arrow.UINT8:
			return &minMaxAgg[uint8]{max: isMax, dt: s.in}
		case arrow.UINT16:
			return &minMaxAgg[uint16]{max: isMax, dt: s.in}
		case arrow.UINT32:
			return &minMaxAgg[uint32]{max: isMax, dt: s.in}
		case arrow.UINT64:
			return &minMaxAgg[uint64]{max: isMax, dt: s.in}
		case arrow.FLOAT32:
			return &minMaxAgg[float32]{max: isMax, dt: s.in}
		case arrow.FLOAT64:
			return &minMaxAgg[float64]{max: isMax, dt: s.in}
		case arrow.DATE32:
			return &minMaxAgg[arrow.Date32]{max: isMax, dt: s.in}
		case arrow.TIMESTAMP:
			return &minMaxAgg[arrow.Timestamp]{max: isMax, dt: s.in}
		case arrow.STRING, arrow.LARGE_STRING:
			return &minMaxStrAgg{max: isMax, dt: s.in}
		}
	}
	panic(fmt.Sprintf("arrowops: no aggregator for %s(%s)", s.fn, s.in))
}

// values returns the typed value slice of a primitive array (offset applied).
func values[T any](a arrow.Array) []T {
	var v any
	switch a := a.(type) {
	case *array.Int8:
		v = a.Int8Values()
	case *array.Int16:
		v = a.Int16Values()
	case *array.Int32:
		v = a.Int32Values()
	case *array.Int64:
		v = a.Int64Values()
	case *array.Uint8:
		v = a.Uint8Values()
	case *array.Uint16:
		v = a.Uint16Values()
	case *array.Uint32:
		v = a.Uint32Values()
	case *array.Uint64:
		v = a.Uint64Values()
	case *array.Float32:
		v = a.Float32Values()
	case *array.Float64:
		v = a.Float64Values()
	case *array.Date32:
		v = a.Date32Values()
	case *array.Timestamp:
		v = a.TimestampValues()
	}
	return v.([]T)
}

func growTo[T any](s []T, n int) []T {
	if n <= len(s) {
		return s
	}
	if n <= cap(s) {
		return s[:n]
	}
	out := make([]T, n, max(n, 2*cap(s)))
	copy(out, s)
	return out
}

type countAgg struct {
	star bool
	c    []int64
}

func (a *countAgg) grow(n int) { a.c = growTo(a.c, n) }
func (a *countAgg) update(arr arrow.Array, ids []int32) error {
	c := a.c
	if a.star || arr.NullN() == 0 {
		for _, g := range ids {
			c[g]++
		}
		return nil
	}
	for i, g := range ids {
		if arr.IsValid(i) {
			c[g]++
		}
	}
	return nil
}
func (a *countAgg) finish(mem memory.Allocator) arrow.Array {
	return buildFixed(mem, arrow.PrimitiveTypes.Int64, a.c, nil)
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type number interface {
	integer | ~float32 | ~float64
}

// sumIntAgg sums integers into int64; overflow is a data error. An all-null group sums to null.
type sumIntAgg[T integer] struct {
	s   []int64
	has []bool
}

func (a *sumIntAgg[T]) grow(n int) { a.s, a.has = growTo(a.s, n), growTo(a.has, n) }
func (a *sumIntAgg[T]) update(arr arrow.Array, ids []int32) error {
	vals := values[T](arr)
	s, has := a.s, a.has
	nulls := arr.NullN() > 0
	for i, g := range ids {
		if nulls && arr.IsNull(i) {
			continue
		}
		v := vals[i]
		x := int64(v)
		if (x < 0) != (v < 0) { // a uint64 above MaxInt64
			return fault.Dataf("sum overflows int64 (value %d)", uint64(v))
		}
		r := s[g] + x
		if (r > s[g]) != (x > 0) {
			return fault.Dataf("sum overflows int64")
		}
		s[g] = r
		has[g] = true
	}
	return nil
}
func (a *sumIntAgg[T]) finish(mem memory.Allocator) arrow.Array {
	return buildFixed(mem, arrow.PrimitiveTypes.Int64, a.s, a.has)
}

type float interface{ ~float32 | ~float64 }

type sumFloatAgg[T float] struct {
	s   []float64
	has validSet
}

func (a *sumFloatAgg[T]) grow(n int) { a.s = growTo(a.s, n); a.has.grow(n) }
func (a *sumFloatAgg[T]) update(arr arrow.Array, ids []int32) error {
	vals := values[T](arr)
	s := a.s
	defer a.has.folded(len(s))
	if arr.NullN() == 0 {
		vals = vals[:len(ids)]
		if a.has.all() {
			for i, g := range ids {
				s[g] += float64(vals[i])
			}
			return nil
		}
		has := a.has.v
		for i, g := range ids {
			s[g] += float64(vals[i])
			has[g] = true
		}
		return nil
	}
	has := a.has.start(len(s))
	for i, g := range ids {
		if arr.IsValid(i) {
			s[g] += float64(vals[i])
			has[g] = true
		}
	}
	return nil
}

// validSet marks the groups that have a non-null value. While the column has had no null,
// every group has one (a row of it created the group) and nothing is stored: one array fewer
// for every row to touch.
type validSet struct {
	v      []bool // nil while all
	groups int    // groups when the last batch was folded in
}

func (h *validSet) all() bool { return h.v == nil }
func (h *validSet) grow(n int) {
	if h.v != nil {
		h.v = growTo(h.v, n)
	}
}

// start returns the marks to update for a batch with nulls, of length n (the groups after
// grow); the first time, the groups of the earlier batches are marked.
func (h *validSet) start(n int) []bool {
	if h.v == nil {
		h.v = make([]bool, n)
		for g := range h.groups {
			h.v[g] = true
		}
	}
	return h.v
}

// folded records that the batches so far made n groups.
func (h *validSet) folded(n int) { h.groups = n }

// valid is the marks for n groups, nil when all are valid. A group no batch was folded into
// (the one group of a group_by without keys, on no rows) has no value.
func (h *validSet) valid(n int) []bool {
	if h.v == nil && h.groups >= n {
		return nil
	}
	return growTo(h.start(h.groups), n)
}

// floatSummer is a sumFloatAgg of any float type.
type floatSummer interface{ sums() []float64 }

func (a *sumFloatAgg[T]) sums() []float64 { return a.s }

func (a *sumFloatAgg[T]) finish(mem memory.Allocator) arrow.Array {
	return buildFixed(mem, arrow.PrimitiveTypes.Float64, a.s, a.has.valid(len(a.s)))
}

// avgAgg keeps a sum and a count per group. When the same group_by also sums the same float
// column, or counts it (count(col), or count(*) less the rows where the column is null), avg
// reads those at finish instead of keeping its own (link): every array a row updates is one
// more random memory access per row on a group table larger than the cache.
type avgAgg[T number] struct {
	s []float64
	c []int64
	// sum, when set, is a sum(col) of the same float column; then s is unused.
	sum floatSummer
	// cnt, when set, counts the rows: count(col) of the same column, or count(*) (star), in
	// which case nullc counts the rows where the column is null. Then c is unused.
	cnt   *countAgg
	nullc []int64
}

// link makes a share the state of the other aggregates of its group_by over the same column.
func (a *avgAgg[T]) link(col int, specs []aggSpec, aggs []aggregator) {
	for k, o := range aggs {
		switch o := o.(type) {
		case floatSummer:
			if specs[k].col == col && a.sum == nil {
				a.sum = o
			}
		case *countAgg:
			if specs[k].col == col && (a.cnt == nil || a.cnt.star) {
				a.cnt = o
			} else if o.star && a.cnt == nil {
				a.cnt = o
			}
		}
	}
}

func (a *avgAgg[T]) grow(n int) {
	if a.sum == nil {
		a.s = growTo(a.s, n)
	}
	switch {
	case a.cnt == nil:
		a.c = growTo(a.c, n)
	case a.cnt.star:
		a.nullc = growTo(a.nullc, n)
	}
}

func (a *avgAgg[T]) update(arr arrow.Array, ids []int32) error {
	nulls := arr.NullN() > 0
	if a.cnt != nil && a.cnt.star && nulls {
		for i, g := range ids {
			if arr.IsNull(i) {
				a.nullc[g]++
			}
		}
	}
	ownSum, ownCount := a.sum == nil, a.cnt == nil
	if !ownSum && !ownCount {
		return nil
	}
	vals := values[T](arr)
	for i, g := range ids {
		if nulls && arr.IsNull(i) {
			continue
		}
		if ownSum {
			a.s[g] += float64(vals[i])
		}
		if ownCount {
			a.c[g]++
		}
	}
	return nil
}

func (a *avgAgg[T]) finish(mem memory.Allocator) arrow.Array {
	sums, counts := a.s, a.c
	if a.sum != nil {
		sums = a.sum.sums()
	}
	if a.cnt != nil {
		counts = a.cnt.c
	}
	n := len(counts)
	out := make([]float64, n)
	valid := make([]bool, n)
	for g, c := range counts[:n] {
		if a.nullc != nil {
			c -= a.nullc[g]
		}
		if c > 0 {
			out[g] = sums[g] / float64(c)
			valid[g] = true
		}
	}
	return buildFixed(mem, arrow.PrimitiveTypes.Float64, out, valid)
}

type minMaxAgg[T cmp.Ordered] struct {
	max bool
	dt  arrow.DataType
	v   []T
	has []bool
}

func (a *minMaxAgg[T]) grow(n int) { a.v, a.has = growTo(a.v, n), growTo(a.has, n) }
func (a *minMaxAgg[T]) update(arr arrow.Array, ids []int32) error {
	vals := values[T](arr)
	nulls := arr.NullN() > 0
	cur, has := a.v, a.has
	for i, g := range ids {
		if nulls && arr.IsNull(i) {
			continue
		}
		x := vals[i]
		if !has[g] || (a.max && x > cur[g]) || (!a.max && x < cur[g]) {
			cur[g] = x
			has[g] = true
		}
	}
	return nil
}
func (a *minMaxAgg[T]) finish(mem memory.Allocator) arrow.Array {
	return buildFixed(mem, a.dt, a.v, a.has)
}

type minMaxStrAgg struct {
	max bool
	dt  arrow.DataType
	v   []string
	has []bool
}

func (a *minMaxStrAgg) grow(n int) { a.v, a.has = growTo(a.v, n), growTo(a.has, n) }
func (a *minMaxStrAgg) update(arr arrow.Array, ids []int32) error {
	sa := arr.(interface{ Value(int) string })
	for i, g := range ids {
		if arr.IsNull(i) {
			continue
		}
		x := sa.Value(i)
		if !a.has[g] || (a.max && x > a.v[g]) || (!a.max && x < a.v[g]) {
			a.v[g] = strings.Clone(x) // x points into the batch's buffer
			a.has[g] = true
		}
	}
	return nil
}
func (a *minMaxStrAgg) finish(mem memory.Allocator) arrow.Array {
	b := array.NewBuilder(mem, a.dt)
	defer b.Release()
	b.Reserve(len(a.v))
	sb := b.(interface {
		Append(string)
		AppendNull()
	})
	for g, v := range a.v {
		if a.has[g] {
			sb.Append(v)
		} else {
			sb.AppendNull()
		}
	}
	return b.NewArray()
}

type distinctKey struct {
	g int32
	v uint64
}

// distinctU64Agg counts distinct non-null fixed-width values per group with one set of
// (group, value) pairs.
type distinctU64Agg struct {
	seen map[distinctKey]struct{}
	c    []int64
	vals []uint64
}

func (a *distinctU64Agg) grow(n int) { a.c = growTo(a.c, n) }
func (a *distinctU64Agg) update(arr arrow.Array, ids []int32) error {
	if cap(a.vals) < arr.Len() {
		a.vals = make([]uint64, arr.Len())
	}
	vals := a.vals[:arr.Len()]
	toU64(arr, vals)
	nulls := arr.NullN() > 0
	for i, g := range ids {
		if nulls && arr.IsNull(i) {
			continue
		}
		k := distinctKey{g, vals[i]}
		if _, ok := a.seen[k]; !ok {
			a.seen[k] = struct{}{}
			a.c[g]++
		}
	}
	return nil
}
func (a *distinctU64Agg) finish(mem memory.Allocator) arrow.Array {
	return buildFixed(mem, arrow.PrimitiveTypes.Int64, a.c, nil)
}

type distinctStrAgg struct {
	seen map[string]struct{}
	c    []int64
	buf  []byte
}

func (a *distinctStrAgg) grow(n int) { a.c = growTo(a.c, n) }
func (a *distinctStrAgg) update(arr arrow.Array, ids []int32) error {
	sa := arr.(interface{ Value(int) string })
	for i, g := range ids {
		if arr.IsNull(i) {
			continue
		}
		a.buf = binary.LittleEndian.AppendUint32(a.buf[:0], uint32(g))
		a.buf = append(a.buf, sa.Value(i)...)
		if _, ok := a.seen[string(a.buf)]; !ok {
			a.seen[string(a.buf)] = struct{}{}
			a.c[g]++
		}
	}
	return nil
}
func (a *distinctStrAgg) finish(mem memory.Allocator) arrow.Array {
	return buildFixed(mem, arrow.PrimitiveTypes.Int64, a.c, nil)
}

// buildFixed copies a slice of fixed-width values into an Arrow array of type dt; valid, when
// not nil, marks the non-null entries.
func buildFixed[T any](mem memory.Allocator, dt arrow.DataType, vals []T, valid []bool) arrow.Array {
	n := len(vals)
	size := int(unsafe.Sizeof(*new(T)))
	data := memory.NewResizableBuffer(mem)
	data.Resize(n * size)
	defer data.Release()
	if n > 0 {
		copy(data.Bytes(), unsafe.Slice((*byte)(unsafe.Pointer(&vals[0])), n*size))
	}
	var vb *memory.Buffer
	nulls := 0
	for _, ok := range valid[:min(len(valid), n)] {
		if !ok {
			nulls++
		}
	}
	if nulls > 0 {
		vb = memory.NewResizableBuffer(mem)
		vb.Resize(int(bitutil.BytesForBits(int64(n))))
		defer vb.Release()
		bits := vb.Bytes()
		for i := range bits {
			bits[i] = 0
		}
		for i, ok := range valid[:n] {
			if ok {
				bitutil.SetBit(bits, i)
			}
		}
	}
	d := array.NewData(dt, n, []*memory.Buffer{vb, data}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}
