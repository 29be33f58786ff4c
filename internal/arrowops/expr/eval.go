package expr

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/aiflow-dev/aiflow/internal/arrowdict"
)

type evalCtx struct {
	ctx context.Context // carries mem for the compute kernels
	mem memory.Allocator
	rec arrow.RecordBatch
	n   int
}

type node interface {
	typ() arrow.DataType
	// eval returns a Datum (array or scalar) the caller must release.
	eval(ec *evalCtx) (compute.Datum, error)
}

// Eval evaluates the expression over rec. The result is an *compute.ArrayDatum of rec's length
// or, for an expression without column references, a *compute.ScalarDatum; release it.
func (e *Expr) Eval(ctx context.Context, rec arrow.RecordBatch, mem memory.Allocator) (compute.Datum, error) {
	ec := &evalCtx{ctx: exec.WithAllocator(ctx, mem), mem: mem, rec: rec, n: int(rec.NumRows())}
	return e.root.eval(ec)
}

// EvalArray is Eval with a scalar result broadcast to an array of rec's length.
func (e *Expr) EvalArray(ctx context.Context, rec arrow.RecordBatch, mem memory.Allocator) (arrow.Array, error) {
	ec := &evalCtx{ctx: exec.WithAllocator(ctx, mem), mem: mem, rec: rec, n: int(rec.NumRows())}
	d, err := e.root.eval(ec)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	return ec.toArray(d)
}

// toArray returns an owned array for d (which stays owned by the caller).
func (ec *evalCtx) toArray(d compute.Datum) (arrow.Array, error) {
	switch d := d.(type) {
	case *compute.ArrayDatum:
		return d.MakeArray(), nil
	case *compute.ScalarDatum:
		return scalar.MakeArrayFromScalar(d.Value, ec.n, ec.mem)
	}
	return nil, fmt.Errorf("unexpected result kind %s", d.Kind())
}

func (ec *evalCtx) evalArray(n node) (arrow.Array, error) {
	d, err := n.eval(ec)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	return ec.toArray(d)
}

type colNode struct {
	idx int
	dt  arrow.DataType
}

func (n *colNode) typ() arrow.DataType { return n.dt }
func (n *colNode) eval(ec *evalCtx) (compute.Datum, error) {
	c := ec.rec.Column(n.idx)
	if d, ok := c.(*array.Dictionary); ok && !arrowdict.IsStringDict(n.dt) {
		// A string column read as a dictionary (internal/arrowdict) where this expression
		// needs the strings themselves: expand it. Comparisons with literals use the
		// dictionary directly (dictColumn).
		a, err := arrowdict.Expand(d, ec.mem)
		if err != nil {
			return nil, err
		}
		defer a.Release()
		return compute.NewDatum(a), nil
	}
	return compute.NewDatum(c), nil
}

// dictColumn returns the dictionary array x stands for when x is a column that rec holds as
// a string dictionary.
func (ec *evalCtx) dictColumn(x node) (*array.Dictionary, bool) {
	c, ok := x.(*colNode)
	if !ok {
		return nil, false
	}
	d, ok := ec.rec.Column(c.idx).(*array.Dictionary)
	return d, ok
}

// evalDict evaluates a boolean function of a string column once per value of its dictionary
// and maps the results to the rows by index: a filter on a dictionary-encoded column never
// compares strings per row.
func (ec *evalCtx) evalDict(d *array.Dictionary, fn func(ec *evalCtx) (compute.Datum, error)) (compute.Datum, error) {
	vals := d.Dictionary()
	vrec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "v", Type: vals.DataType(), Nullable: true}}, nil), []arrow.Array{vals}, int64(vals.Len()))
	defer vrec.Release()
	res, err := fn(&evalCtx{ctx: ec.ctx, mem: ec.mem, rec: vrec, n: vals.Len()})
	if err != nil {
		return nil, err
	}
	ad, ok := res.(*compute.ArrayDatum)
	if !ok {
		return res, nil // a scalar: the same for every row
	}
	defer res.Release()
	entry := array.NewBooleanData(ad.Value)
	defer entry.Release()
	out := arrowdict.MapBool(d, entry, ec.mem)
	defer out.Release()
	return compute.NewDatum(out), nil
}

type litNode struct {
	sc      scalar.Scalar
	untyped bool   // a bare number, string or NULL whose type adapts to the other operand
	text    string // source text of a string or integer literal
}

func (n *litNode) typ() arrow.DataType { return n.sc.DataType() }
func (n *litNode) eval(*evalCtx) (compute.Datum, error) {
	return compute.NewDatum(n.sc), nil
}

type callNode struct {
	fn   string
	args []node
	dt   arrow.DataType
}

func (n *callNode) typ() arrow.DataType { return n.dt }
func (n *callNode) eval(ec *evalCtx) (compute.Datum, error) {
	args := make([]compute.Datum, 0, len(n.args))
	defer func() {
		for _, a := range args {
			a.Release()
		}
	}()
	for _, a := range n.args {
		d, err := a.eval(ec)
		if err != nil {
			return nil, err
		}
		args = append(args, d)
	}
	return compute.CallFunction(ec.ctx, n.fn, nil, args...)
}

type castNode struct {
	x  node
	dt arrow.DataType
}

func (n *castNode) typ() arrow.DataType { return n.dt }
func (n *castNode) eval(ec *evalCtx) (compute.Datum, error) {
	d, err := n.x.eval(ec)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	return compute.CastDatum(ec.ctx, d, compute.SafeCastOptions(n.dt))
}

type inNode struct {
	x   node
	set arrow.Array
}

func (n *inNode) typ() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (n *inNode) eval(ec *evalCtx) (compute.Datum, error) {
	if dict, ok := ec.dictColumn(n.x); ok {
		return ec.evalDict(dict, func(ec *evalCtx) (compute.Datum, error) {
			return (&inNode{x: &colNode{idx: 0, dt: arrow.BinaryTypes.String}, set: n.set}).eval(ec)
		})
	}
	d, err := n.x.eval(ec)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	return compute.IsIn(ec.ctx, compute.SetOptions{
		ValueSet:     compute.NewDatumWithoutOwning(n.set),
		NullBehavior: compute.NullMatchingEmitNull,
	}, d)
}

// strEqNode is "utf8 column = 'literal'" (or !=) evaluated directly over the offsets and bytes.
type strEqNode struct {
	x   node
	val string
	neg bool
}

func (n *strEqNode) typ() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (n *strEqNode) eval(ec *evalCtx) (compute.Datum, error) {
	if dict, ok := ec.dictColumn(n.x); ok {
		return ec.evalDict(dict, func(ec *evalCtx) (compute.Datum, error) {
			return (&strEqNode{x: &colNode{idx: 0, dt: arrow.BinaryTypes.String}, val: n.val, neg: n.neg}).eval(ec)
		})
	}
	d, err := n.x.eval(ec)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	ad, ok := d.(*compute.ArrayDatum)
	if !ok {
		fn := "equal"
		if n.neg {
			fn = "not_equal"
		}
		return compute.CallFunction(ec.ctx, fn, nil, d, compute.NewDatum(scalar.NewStringScalar(n.val)))
	}
	arr := array.NewStringData(ad.Value)
	defer arr.Release()
	length := arr.Len()
	offs := arr.ValueOffsets()
	data := arr.ValueBytes()
	out := memory.NewResizableBuffer(ec.mem)
	out.Resize(int(bitutil.BytesForBits(int64(length))))
	bits := out.Bytes()
	want := n.val
	wl := int32(len(want))
	var w0 byte
	if wl > 0 {
		w0 = want[0]
	}
	offs = offs[:length+1]
	var acc byte
	for i := range length {
		beg, end := offs[i], offs[i+1]
		// Length, then first byte, then the rest: most rows fail the cheap tests.
		eq := end-beg == wl && (wl == 0 || (data[beg] == w0 && string(data[beg:end]) == want))
		if eq != n.neg {
			acc |= 1 << (i & 7)
		}
		if i&7 == 7 {
			bits[i>>3] = acc
			acc = 0
		}
	}
	if length&7 != 0 {
		bits[length>>3] = acc
	}
	var validity *memory.Buffer
	nulls := arr.NullN()
	if nulls > 0 {
		validity = memory.NewResizableBuffer(ec.mem)
		validity.Resize(int(bitutil.BytesForBits(int64(length))))
		bitutil.CopyBitmap(arr.NullBitmapBytes(), arr.Data().Offset(), length, validity.Bytes(), 0)
	}
	res := array.NewData(arrow.FixedWidthTypes.Boolean, length, []*memory.Buffer{validity, out}, nil, nulls, 0)
	out.Release()
	if validity != nil {
		validity.Release()
	}
	return &compute.ArrayDatum{Value: res}, nil
}

// modNode is "%": the remainder with the sign of the dividend; an integer modulo by zero fails.
type modNode struct {
	l, r node
	dt   arrow.DataType
}

func (n *modNode) typ() arrow.DataType { return n.dt }
func (n *modNode) eval(ec *evalCtx) (compute.Datum, error) {
	la, err := ec.evalArray(n.l)
	if err != nil {
		return nil, err
	}
	defer la.Release()
	ra, err := ec.evalArray(n.r)
	if err != nil {
		return nil, err
	}
	defer ra.Release()
	b := array.NewBuilder(ec.mem, n.dt)
	defer b.Release()
	b.Reserve(la.Len())
	switch n.dt.ID() {
	case arrow.INT8:
		err = modInt(la.(*array.Int8).Int8Values(), ra.(*array.Int8).Int8Values(), la, ra, b.(*array.Int8Builder).Append, b.AppendNull)
	case arrow.INT16:
		err = modInt(la.(*array.Int16).Int16Values(), ra.(*array.Int16).Int16Values(), la, ra, b.(*array.Int16Builder).Append, b.AppendNull)
	case arrow.INT32:
		err = modInt(la.(*array.Int32).Int32Values(), ra.(*array.Int32).Int32Values(), la, ra, b.(*array.Int32Builder).Append, b.AppendNull)
	case arrow.INT64:
		err = modInt(la.(*array.Int64).Int64Values(), ra.(*array.Int64).Int64Values(), la, ra, b.(*array.Int64Builder).Append, b.AppendNull)
	case arrow.UINT8:
		err = modInt(la.(*array.Uint8).Uint8Values(), ra.(*array.Uint8).Uint8Values(), la, ra, b.(*array.Uint8Builder).Append, b.AppendNull)
	case arrow.UINT16:
		err = modInt(la.(*array.Uint16).Uint16Values(), ra.(*array.Uint16).Uint16Values(), la, ra, b.(*array.Uint16Builder).Append, b.AppendNull)
	case arrow.UINT32:
		err = modInt(la.(*array.Uint32).Uint32Values(), ra.(*array.Uint32).Uint32Values(), la, ra, b.(*array.Uint32Builder).Append, b.AppendNull)
	case arrow.UINT64:
		err = modInt(la.(*array.Uint64).Uint64Values(), ra.(*array.Uint64).Uint64Values(), la, ra, b.(*array.Uint64Builder).Append, b.AppendNull)
	case arrow.FLOAT32:
		lv, rv := la.(*array.Float32).Float32Values(), ra.(*array.Float32).Float32Values()
		fb := b.(*array.Float32Builder)
		for i := range lv {
			if la.IsNull(i) || ra.IsNull(i) {
				fb.AppendNull()
				continue
			}
			fb.Append(float32(math.Mod(float64(lv[i]), float64(rv[i]))))
		}
	case arrow.FLOAT64:
		lv, rv := la.(*array.Float64).Float64Values(), ra.(*array.Float64).Float64Values()
		fb := b.(*array.Float64Builder)
		for i := range lv {
			if la.IsNull(i) || ra.IsNull(i) {
				fb.AppendNull()
				continue
			}
			fb.Append(math.Mod(lv[i], rv[i]))
		}
	default:
		return nil, fmt.Errorf("%% is not defined on %s", n.dt)
	}
	if err != nil {
		return nil, err
	}
	out := b.NewArray()
	defer out.Release()
	return compute.NewDatum(out), nil
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

func modInt[T integer](lv, rv []T, la, ra arrow.Array, app func(T), appNull func()) error {
	for i := range lv {
		if la.IsNull(i) || ra.IsNull(i) {
			appNull()
			continue
		}
		if rv[i] == 0 {
			return fmt.Errorf("%w: modulo by zero", arrow.ErrInvalid)
		}
		app(lv[i] % rv[i])
	}
	return nil
}

type strFuncNode struct {
	fn string // lower, upper, length
	x  node
	dt arrow.DataType
}

func (n *strFuncNode) typ() arrow.DataType { return n.dt }
func (n *strFuncNode) eval(ec *evalCtx) (compute.Datum, error) {
	a, err := ec.evalArray(n.x)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	type strs interface {
		arrow.Array
		Value(int) string
	}
	sa := a.(strs)
	var out arrow.Array
	switch n.fn {
	case "length":
		b := array.NewInt64Builder(ec.mem)
		defer b.Release()
		b.Reserve(sa.Len())
		for i := range sa.Len() {
			if sa.IsNull(i) {
				b.AppendNull()
				continue
			}
			b.UnsafeAppend(int64(utf8.RuneCountInString(sa.Value(i))))
		}
		out = b.NewArray()
	default:
		conv := strings.ToLower
		if n.fn == "upper" {
			conv = strings.ToUpper
		}
		b := array.NewBuilder(ec.mem, n.dt)
		defer b.Release()
		b.Reserve(sa.Len())
		type strAppender interface {
			Append(string)
			AppendNull()
		}
		sb := b.(strAppender)
		for i := range sa.Len() {
			if sa.IsNull(i) {
				sb.AppendNull()
				continue
			}
			sb.Append(conv(sa.Value(i)))
		}
		out = b.NewArray()
	}
	defer out.Release()
	return compute.NewDatum(out), nil
}

// coalesceNode picks, per row, the first non-null argument: it concatenates the arguments and
// takes from the concatenation, so it works for every type "take" supports.
type coalesceNode struct {
	args []node
	dt   arrow.DataType
}

func (n *coalesceNode) typ() arrow.DataType { return n.dt }
func (n *coalesceNode) eval(ec *evalCtx) (compute.Datum, error) {
	arrs := make([]arrow.Array, 0, len(n.args))
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for _, x := range n.args {
		a, err := ec.evalArray(x)
		if err != nil {
			return nil, err
		}
		arrs = append(arrs, a)
	}
	all, err := array.Concatenate(arrs, ec.mem)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	ib := array.NewInt64Builder(ec.mem)
	defer ib.Release()
	ib.Reserve(ec.n)
	last := len(arrs) - 1
	for i := range ec.n {
		j := 0
		for j < last && arrs[j].IsNull(i) {
			j++
		}
		ib.UnsafeAppend(int64(j*ec.n + i))
	}
	idx := ib.NewArray()
	defer idx.Release()
	out, err := compute.TakeArray(ec.ctx, all, idx)
	if err != nil {
		return nil, err
	}
	defer out.Release()
	return compute.NewDatum(out), nil
}
