package dataset

import (
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/aiflow-dev/aiflow/internal/arrowdict"
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
// string columns of schema, except the columns in keep: those stay dictionaries, and a plain
// string column in keep (a file that did not dictionary-encode it) is wrapped as one, so that
// every batch has the reader's schema.
type dictExpander struct {
	rr     array.RecordReader
	schema *arrow.Schema
	keep   map[string]bool
	mem    memory.Allocator
	cur    arrow.RecordBatch
	err    error
	refs   atomic.Int64
}

func newDictExpander(rr array.RecordReader, keep map[string]bool, mem memory.Allocator) *dictExpander {
	fields := rr.Schema().Fields()
	for i, f := range fields {
		switch {
		case keep[f.Name] && (f.Type.ID() == arrow.STRING || arrowdict.IsStringDict(f.Type)):
			fields[i].Type = arrowdict.Type
		default:
			fields[i].Type = arrowdict.Plain(f.Type)
		}
	}
	md := rr.Schema().Metadata()
	e := &dictExpander{rr: rr, schema: arrow.NewSchema(fields, &md), keep: keep, mem: mem}
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
		want := e.schema.Field(i).Type
		var out arrow.Array
		var err error
		switch d, isDict := c.(*array.Dictionary); {
		case arrow.TypeEqual(c.DataType(), want):
			cols[i] = c
			continue
		case isDict:
			out, err = arrowdict.Expand(d, e.mem)
		default:
			out, err = arrowdict.Wrap(c, e.mem)
		}
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
