// Package arrowdict handles dictionary-encoded string columns (dictionary<int32, utf8>): the
// form Parquet stores low-cardinality strings in (status, country, category). A reader may hand
// such a column to a filter as it is; the filter compares the dictionary's few values once and
// selects rows by index, and only the rows it keeps are expanded to plain strings. Nothing past
// the filter sees a dictionary.
package arrowdict

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
)

// Type is the dictionary type of a string column read as a dictionary.
var Type = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}

// IsStringDict reports whether dt is a dictionary of strings (any index type).
func IsStringDict(dt arrow.DataType) bool {
	d, ok := dt.(*arrow.DictionaryType)
	return ok && d.ValueType.ID() == arrow.STRING
}

// Plain is dt with a string dictionary replaced by plain strings.
func Plain(dt arrow.DataType) arrow.DataType {
	if IsStringDict(dt) {
		return arrow.BinaryTypes.String
	}
	return dt
}

// PlainSchema is sc with every string dictionary column as plain strings.
func PlainSchema(sc *arrow.Schema) *arrow.Schema {
	fields := sc.Fields()
	changed := false
	for i, f := range fields {
		if IsStringDict(f.Type) {
			fields[i].Type = arrow.BinaryTypes.String
			changed = true
		}
	}
	if !changed {
		return sc
	}
	md := sc.Metadata()
	return arrow.NewSchema(fields, &md)
}

// indices returns the dictionary indices of d as int32 (a copy unless they already are).
func indices(d *array.Dictionary) []int32 {
	if ix, ok := d.Indices().(*array.Int32); ok {
		return ix.Int32Values()
	}
	idx := make([]int32, d.Len())
	for i := range idx {
		if d.IsValid(i) {
			idx[i] = int32(d.GetValueIndex(i))
		}
	}
	return idx
}

// Expand returns the plain string array a dictionary<int, string> array stands for, in two
// passes over the indices (sizes, then copies): much cheaper than appending value by value.
func Expand(d *array.Dictionary, mem memory.Allocator) (arrow.Array, error) {
	vals, ok := d.Dictionary().(*array.String)
	if !ok {
		return nil, fault.New(fault.Internal, "dictionary of %s, want string", d.Dictionary().DataType())
	}
	n := d.Len()
	idx := indices(d)
	// A row is null when its index is null or the dictionary value it points at is null.
	nullAt := func(i int) bool { return d.IsNull(i) || vals.IsNull(int(idx[i])) }
	hasNulls := d.NullN() > 0 || vals.NullN() > 0
	offs := vals.ValueOffsets()
	var total int64
	for i, k := range idx {
		if hasNulls && nullAt(i) {
			continue
		}
		total += int64(offs[k+1] - offs[k])
	}
	if total > math.MaxInt32 {
		return nil, fault.Dataf("read: %d bytes of strings in one batch of %d rows (over 2 GiB)", total, n)
	}
	offBuf := memory.NewResizableBuffer(mem)
	defer offBuf.Release()
	offBuf.Resize((n + 1) * arrow.Int32SizeBytes)
	dataBuf := memory.NewResizableBuffer(mem)
	defer dataBuf.Release()
	dataBuf.Resize(int(total))
	outOffs := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())
	data := dataBuf.Bytes()
	src := vals.ValueBytes()
	pos := int32(0)
	var valid *memory.Buffer
	var vbits []byte
	nulls := 0
	if hasNulls {
		valid = memory.NewResizableBuffer(mem)
		defer valid.Release()
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		vbits = valid.Bytes()
		clear(vbits)
	}
	for i, k := range idx {
		outOffs[i] = pos
		if hasNulls {
			if nullAt(i) {
				nulls++
				continue
			}
			bitutil.SetBit(vbits, i)
		}
		pos += int32(copy(data[pos:], src[offs[k]:offs[k+1]]))
	}
	outOffs[n] = pos
	if nulls == 0 {
		valid = nil
	}
	out := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{valid, offBuf, dataBuf}, nil, nulls, 0)
	defer out.Release()
	return array.MakeFromData(out), nil
}

// Wrap makes a plain string array a dictionary<int32, string> of itself (index i → value i):
// a file whose column is not dictionary-encoded still streams in the dictionary schema a
// reader promised.
func Wrap(a arrow.Array, mem memory.Allocator) (arrow.Array, error) {
	if a.DataType().ID() != arrow.STRING {
		return nil, fault.New(fault.Internal, "wrap %s as a string dictionary", a.DataType())
	}
	n := a.Len()
	ib := memory.NewResizableBuffer(mem)
	defer ib.Release()
	ib.Resize(n * arrow.Int32SizeBytes)
	ix := arrow.Int32Traits.CastFromBytes(ib.Bytes())
	for i := range ix {
		ix[i] = int32(i)
	}
	var valid *memory.Buffer
	if a.NullN() > 0 {
		valid = memory.NewResizableBuffer(mem)
		defer valid.Release()
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		bitutil.CopyBitmap(a.NullBitmapBytes(), a.Data().Offset(), n, valid.Bytes(), 0)
	}
	idxData := array.NewData(arrow.PrimitiveTypes.Int32, n, []*memory.Buffer{valid, ib}, nil, a.NullN(), 0)
	defer idxData.Release()
	idx := array.MakeFromData(idxData)
	defer idx.Release()
	return array.NewDictionaryArray(Type, idx, a), nil
}

// MapBool maps a boolean result computed once per dictionary value (entry, as long as d's
// dictionary) to d's rows: row i is entry[index i], null where the row or the entry is null.
func MapBool(d *array.Dictionary, entry *array.Boolean, mem memory.Allocator) arrow.ArrayData {
	n := d.Len()
	idx := indices(d)
	ne := entry.Len()
	// The entries as bytes: 0 false, 1 true, 2 null; one lookup per row.
	lut := make([]byte, ne)
	for k := range ne {
		switch {
		case entry.IsNull(k):
			lut[k] = 2
		case entry.Value(k):
			lut[k] = 1
		}
	}
	out := memory.NewResizableBuffer(mem)
	defer out.Release()
	out.Resize(int(bitutil.BytesForBits(int64(n))))
	bits := out.Bytes()
	hasNulls := d.NullN() > 0 || entry.NullN() > 0
	var valid *memory.Buffer
	var vbits []byte
	if hasNulls {
		valid = memory.NewResizableBuffer(mem)
		defer valid.Release()
		valid.Resize(len(bits))
		vbits = valid.Bytes()
		clear(vbits)
	}
	nulls := 0
	var acc byte
	for i, k := range idx {
		var v byte
		if hasNulls {
			if d.IsNull(i) {
				v = 2
			} else {
				v = lut[k]
			}
			if v == 2 {
				nulls++
				v = 0
			} else {
				bitutil.SetBit(vbits, i)
			}
		} else {
			v = lut[k]
		}
		acc |= v << (i & 7)
		if i&7 == 7 {
			bits[i>>3] = acc
			acc = 0
		}
	}
	if n&7 != 0 {
		bits[n>>3] = acc
	}
	if nulls == 0 {
		valid = nil
	}
	return array.NewData(arrow.FixedWidthTypes.Boolean, n, []*memory.Buffer{valid, out}, nil, nulls, 0)
}
