package arrowops

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type joinOp struct {
	right     string
	left      bool // left outer join
	leftKeys  []int
	rightKeys []int
	rightCols []int // right non-key columns, in order
	keyTypes  []arrow.DataType
	rSchema   *arrow.Schema
	schema    *arrow.Schema
}

func (p *Plan) compileJoin(j *Join, in *arrow.Schema, inputs map[string]*arrow.Schema) (op, *arrow.Schema, error) {
	rs, ok := inputs[j.Right]
	if !ok {
		return nil, nil, fmt.Errorf("right input %q not found (inputs: %s)", j.Right, strings.Join(slices.Sorted(maps.Keys(inputs)), ", "))
	}
	if j.Right == p.main {
		return nil, nil, fmt.Errorf("cannot join the main input %q with itself", j.Right)
	}
	if _, dup := p.inputs[j.Right]; dup {
		return nil, nil, fmt.Errorf("input %q is joined twice; an input can be read once", j.Right)
	}
	o := &joinOp{right: j.Right, rSchema: rs}
	switch j.How {
	case "", "inner":
	case "left":
		o.left = true
	default:
		return nil, nil, fmt.Errorf("how must be inner or left, got %q", j.How)
	}
	if len(j.On) == 0 {
		return nil, nil, fmt.Errorf("on needs at least one key column")
	}
	var err error
	if o.leftKeys, err = lookupCols(in, j.On, "on (left side)"); err != nil {
		return nil, nil, err
	}
	if o.rightKeys, err = lookupCols(rs, j.On, "on (right input "+j.Right+")"); err != nil {
		return nil, nil, err
	}
	for k := range j.On {
		lt, rt := in.Field(o.leftKeys[k]).Type, rs.Field(o.rightKeys[k]).Type
		lc, rc := classOf(lt), classOf(rt)
		if lc == kcInvalid {
			return nil, nil, fmt.Errorf("key %q has type %s; keys can be %s", j.On[k], lt, keyTypeNames)
		}
		if lc == kcUint64 {
			lc = kcInt
		}
		if rc == kcUint64 {
			rc = kcInt
		}
		if lc != rc || (lc == kcTimestamp && !arrow.TypeEqual(lt, rt)) {
			return nil, nil, fmt.Errorf("key %q is %s on the left but %s on the right", j.On[k], lt, rt)
		}
		o.keyTypes = append(o.keyTypes, lt)
	}
	isKey := map[int]bool{}
	for _, i := range o.rightKeys {
		isKey[i] = true
	}
	fields := make([]arrow.Field, 0, in.NumFields()+rs.NumFields())
	taken := map[string]bool{}
	for _, f := range in.Fields() {
		fields = append(fields, f)
		taken[f.Name] = true
	}
	for i, f := range rs.Fields() {
		if isKey[i] {
			continue
		}
		o.rightCols = append(o.rightCols, i)
		if taken[f.Name] {
			f.Name += "_right"
			if taken[f.Name] {
				return nil, nil, fmt.Errorf("right column %q clashes with a left column, and so does %q", strings.TrimSuffix(f.Name, "_right"), f.Name)
			}
		}
		f.Nullable = f.Nullable || o.left
		taken[f.Name] = true
		fields = append(fields, f)
	}
	p.inputs[j.Right] = rs
	o.schema = arrow.NewSchema(fields, nil)
	return o, o.schema, nil
}

// joinTable is the built right side: the whole right input as one batch, a hash table from
// keys to group ids, and per group a chain of right rows (in input order).
type joinTable struct {
	rec  arrow.RecordBatch // nil when the right side is empty
	g    grouper
	head []int32 // per group, first right row
	next []int32 // per right row, next row with the same key or -1
}

func (o *joinOp) build(ctx context.Context, env *runEnv) (*joinTable, error) {
	r := env.inputs[o.right]
	rec, err := collect(ctx, r, o.rSchema, env)
	if err != nil {
		return nil, fmt.Errorf("read right input %q: %w", o.right, err)
	}
	jt := &joinTable{rec: rec, g: newGrouper(o.keyTypes, false)}
	if rec == nil {
		return jt, nil
	}
	n := int(rec.NumRows())
	keys := make([]arrow.Array, len(o.rightKeys))
	for k, i := range o.rightKeys {
		keys[k] = rec.Column(i)
	}
	ids := make([]int32, n)
	jt.g.insert(keys, ids, nil)
	jt.head = make([]int32, jt.g.len())
	for i := range jt.head {
		jt.head[i] = -1
	}
	jt.next = make([]int32, n)
	for row := n - 1; row >= 0; row-- {
		g := ids[row]
		if g < 0 {
			continue
		}
		jt.next[row] = jt.head[g]
		jt.head[g] = int32(row)
	}
	return jt, nil
}

func (o *joinOp) open(ctx context.Context, up array.RecordReader, env *runEnv) (array.RecordReader, error) {
	right := env.inputs[o.right]
	right.Retain()
	var jt *joinTable
	var ids, li, ri []int32
	var keys []arrow.Array
	cctx := exec.WithAllocator(ctx, env.mem)
	m := newMapReader(ctx, up, o.schema, func(rec arrow.RecordBatch) (arrow.RecordBatch, bool, error) {
		if jt == nil {
			var err error
			if jt, err = o.build(ctx, env); err != nil {
				return nil, false, err
			}
		}
		n := int(rec.NumRows())
		if n == 0 {
			return nil, true, nil
		}
		if jt.rec == nil && !o.left {
			return nil, false, nil // nothing can match
		}
		keys = keys[:0]
		for _, i := range o.leftKeys {
			keys = append(keys, rec.Column(i))
		}
		if cap(ids) < n {
			ids = make([]int32, n)
		}
		ids = ids[:n]
		if jt.rec == nil {
			for i := range ids {
				ids[i] = -1
			}
		} else {
			jt.g.lookup(keys, ids)
		}
		li, ri = li[:0], ri[:0]
		for i, g := range ids {
			if g < 0 {
				if o.left {
					li = append(li, int32(i))
					ri = append(ri, -1)
				}
				continue
			}
			for r := jt.head[g]; r >= 0; r = jt.next[r] {
				li = append(li, int32(i))
				ri = append(ri, r)
			}
		}
		if len(li) == 0 {
			return nil, true, nil
		}
		out, err := o.assemble(cctx, rec, jt, li, ri, env.mem)
		if err != nil {
			return nil, false, dataErr(err, "join %s", o.right)
		}
		return out, true, nil
	})
	prevFree := m.free
	m.free = func() {
		prevFree()
		right.Release()
		if jt != nil && jt.rec != nil {
			jt.rec.Release()
		}
	}
	return m, nil
}

// assemble takes left rows li and right rows ri (-1: none, the right columns are null).
func (o *joinOp) assemble(ctx context.Context, rec arrow.RecordBatch, jt *joinTable, li, ri []int32, mem memory.Allocator) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, 0, o.schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	identity := len(li) == int(rec.NumRows())
	for i, v := range li {
		if int(v) != i {
			identity = false
			break
		}
	}
	if identity {
		for _, c := range rec.Columns() {
			c.Retain()
			cols = append(cols, c)
		}
	} else {
		for _, c := range rec.Columns() {
			t, err := take(ctx, mem, c, li)
			if err != nil {
				return nil, err
			}
			cols = append(cols, t)
		}
	}
	if len(o.rightCols) > 0 {
		if jt.rec == nil {
			for _, i := range o.rightCols {
				cols = append(cols, array.MakeArrayOfNull(mem, o.rSchema.Field(i).Type, len(ri)))
			}
		} else {
			for _, i := range o.rightCols {
				t, err := take(ctx, mem, jt.rec.Column(i), ri)
				if err != nil {
					return nil, err
				}
				cols = append(cols, t)
			}
		}
	}
	return array.NewRecordBatch(o.schema, cols, int64(len(li))), nil
}

// int32Array copies v into an Int32 array; when nullMem is set, negative values become nulls.
func int32Array(v []int32, nullMem memory.Allocator, mem memory.Allocator) *array.Int32 {
	n := len(v)
	data := memory.NewResizableBuffer(mem)
	data.Resize(n * 4)
	defer data.Release()
	if n > 0 {
		copy(data.Bytes(), unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), n*4))
	}
	var valid *memory.Buffer
	nulls := 0
	if nullMem != nil {
		for _, x := range v {
			if x < 0 {
				nulls++
			}
		}
		if nulls > 0 {
			valid = memory.NewResizableBuffer(mem)
			valid.Resize(int(bitutil.BytesForBits(int64(n))))
			defer valid.Release()
			bits := valid.Bytes()
			clear(bits)
			vals := unsafe.Slice((*int32)(unsafe.Pointer(&data.Bytes()[0])), n)
			for i, x := range v {
				if x >= 0 {
					bitutil.SetBit(bits, i)
				} else {
					vals[i] = 0
				}
			}
		}
	}
	d := array.NewData(arrow.PrimitiveTypes.Int32, n, []*memory.Buffer{valid, data}, nil, nulls, 0)
	defer d.Release()
	return array.NewInt32Data(d)
}
