package dataset

import (
	"math"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/aiflow-dev/aiflow/fault"
)

// Dictionary-encoded string columns (status, country, category: few distinct values) are the
// common case of Parquet files. arrow-go decodes them to plain strings one value at a time
// through a growing builder, the largest single cost of reading such a column (bench/transform's
// notes). Read as a dictionary instead (the indices are decoded in bulk), the column is
// expanded here in two tight passes over the indices: sizes, then copies.

// dictLeaves returns the leaf columns of the wanted top-level string fields whose data pages
// are all dictionary-encoded in every row group: reading them as dictionaries never makes
// arrow-go hash plain values into a dictionary.
func dictLeaves(md *metadata.FileMetaData, sc *arrow.Schema, top []int) []int {
	var out []int
	for _, i := range top {
		f := sc.Field(i)
		if f.Type.ID() != arrow.STRING {
			continue
		}
		leaf := md.Schema.ColumnIndexByName(f.Name)
		if leaf < 0 || md.NumRowGroups() == 0 {
			continue
		}
		ok := true
		for g := 0; g < md.NumRowGroups() && ok; g++ {
			cc, err := md.RowGroup(g).ColumnChunk(leaf)
			ok = err == nil && cc.HasDictionaryPage() && allDictPages(cc.EncodingStats())
		}
		if ok {
			out = append(out, leaf)
		}
	}
	return out
}

func allDictPages(stats []metadata.PageEncodingStats) bool {
	data := 0
	for _, s := range stats {
		switch s.PageType {
		case 0, 3: // DATA_PAGE, DATA_PAGE_V2
			data++
			if s.Encoding != parquet.Encodings.RLEDict && s.Encoding != parquet.Encodings.PlainDict {
				return false
			}
		}
	}
	return data > 0 // no page statistics: unknown, read plainly
}

// dictExpander reads batches whose dictionary<int32, string> columns are expanded to the plain
// string columns of schema.
type dictExpander struct {
	rr     array.RecordReader
	schema *arrow.Schema
	mem    memory.Allocator
	cur    arrow.RecordBatch
	err    error
	refs   atomic.Int64
}

func newDictExpander(rr array.RecordReader, mem memory.Allocator) *dictExpander {
	fields := rr.Schema().Fields()
	for i, f := range fields {
		if dt, ok := f.Type.(*arrow.DictionaryType); ok {
			fields[i].Type = dt.ValueType
		}
	}
	md := rr.Schema().Metadata()
	e := &dictExpander{rr: rr, schema: arrow.NewSchema(fields, &md), mem: mem}
	e.refs.Store(1)
	return e
}

func (e *dictExpander) Schema() *arrow.Schema          { return e.schema }
func (e *dictExpander) RecordBatch() arrow.RecordBatch { return e.cur }
func (e *dictExpander) Record() arrow.RecordBatch      { return e.cur }
func (e *dictExpander) Retain()                        { e.refs.Add(1) }
func (e *dictExpander) Err() error {
	if e.err != nil {
		return e.err
	}
	return e.rr.Err()
}

func (e *dictExpander) Release() {
	if e.refs.Add(-1) == 0 {
		if e.cur != nil {
			e.cur.Release()
			e.cur = nil
		}
		e.rr.Release()
	}
}

func (e *dictExpander) Next() bool {
	if e.cur != nil {
		e.cur.Release()
		e.cur = nil
	}
	if e.err != nil || !e.rr.Next() {
		return false
	}
	in := e.rr.RecordBatch()
	cols := make([]arrow.Array, in.NumCols())
	var owned []arrow.Array
	defer func() {
		for _, a := range owned {
			a.Release()
		}
	}()
	for i, c := range in.Columns() {
		d, ok := c.(*array.Dictionary)
		if !ok {
			cols[i] = c
			continue
		}
		out, err := expandStrings(d, e.mem)
		if err != nil {
			e.err = err
			return false
		}
		owned = append(owned, out)
		cols[i] = out
	}
	e.cur = array.NewRecordBatch(e.schema, cols, in.NumRows())
	return true
}

// expandStrings returns the plain string array a dictionary<int, string> array stands for.
func expandStrings(d *array.Dictionary, mem memory.Allocator) (arrow.Array, error) {
	vals, ok := d.Dictionary().(*array.String)
	if !ok {
		return nil, fault.New(fault.Internal, "read: dictionary of %s, want string", d.Dictionary().DataType())
	}
	n := d.Len()
	var idx []int32
	if ix, ok := d.Indices().(*array.Int32); ok {
		idx = ix.Int32Values()
	} else {
		idx = make([]int32, n)
		for i := range idx {
			idx[i] = int32(d.GetValueIndex(i))
		}
	}
	hasNulls := d.NullN() > 0
	offs := vals.ValueOffsets()
	var total int64
	for i, k := range idx {
		if hasNulls && d.IsNull(i) {
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
	for i, k := range idx {
		outOffs[i] = pos
		if hasNulls && d.IsNull(i) {
			continue
		}
		pos += int32(copy(data[pos:], src[offs[k]:offs[k+1]]))
	}
	outOffs[n] = pos
	var valid *memory.Buffer
	if hasNulls {
		valid = memory.NewResizableBuffer(mem)
		defer valid.Release()
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		bitutil.CopyBitmap(d.NullBitmapBytes(), d.Data().Offset(), n, valid.Bytes(), 0)
	}
	out := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{valid, offBuf, dataBuf}, nil, d.NullN(), 0)
	defer out.Release()
	return array.MakeFromData(out), nil
}
