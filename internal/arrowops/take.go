package arrowops

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// take gathers rows idx of a (a negative index gives a null). Strings are gathered here: the
// arrow-go v18.8 take kernel leaks a buffer on string inputs with nulls. Other types go
// through compute.
func take(ctx context.Context, mem memory.Allocator, a arrow.Array, idx []int32) (arrow.Array, error) {
	switch a := a.(type) {
	case *array.String:
		return takeStrings(mem, a, a.ValueOffsets(), a.ValueBytes(), idx, arrow.BinaryTypes.String), nil
	case *array.LargeString:
		return takeStrings(mem, a, a.ValueOffsets(), a.ValueBytes(), idx, arrow.BinaryTypes.LargeString), nil
	}
	ia := int32Array(idx, mem, mem)
	defer ia.Release()
	return compute.TakeArrayOpts(ctx, a, ia, compute.TakeOptions{BoundsCheck: false})
}

func takeStrings[O int32 | int64](mem memory.Allocator, a arrow.Array, offs []O, data []byte, idx []int32, dt arrow.DataType) arrow.Array {
	n := len(idx)
	size := 0
	nulls := 0
	hasNulls := a.NullN() > 0
	for _, i := range idx {
		if i < 0 || (hasNulls && a.IsNull(int(i))) {
			nulls++
			continue
		}
		size += int(offs[i+1] - offs[i])
	}
	offBuf := memory.NewResizableBuffer(mem)
	offBuf.Resize((n + 1) * int(arrow.Int64SizeBytes))
	defer offBuf.Release()
	dataBuf := memory.NewResizableBuffer(mem)
	dataBuf.Resize(size)
	defer dataBuf.Release()
	var valid *memory.Buffer
	var bits []byte
	if nulls > 0 {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		defer valid.Release()
		bits = valid.Bytes()
		clear(bits)
	}
	var out []O
	if dt.ID() == arrow.LARGE_STRING {
		out = any(arrow.Int64Traits.CastFromBytes(offBuf.Bytes())).([]O)
	} else {
		out = any(arrow.Int32Traits.CastFromBytes(offBuf.Bytes())).([]O)
	}
	dst := dataBuf.Bytes()
	pos := O(0)
	for k, i := range idx {
		out[k] = pos
		if i < 0 || (hasNulls && a.IsNull(int(i))) {
			continue
		}
		if bits != nil {
			bitutil.SetBit(bits, k)
		}
		pos += O(copy(dst[pos:], data[offs[i]:offs[i+1]]))
	}
	out[n] = pos
	d := array.NewData(dt, n, []*memory.Buffer{valid, offBuf, dataBuf}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}
