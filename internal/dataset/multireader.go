package dataset

import (
	"context"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/aiflow-dev/aiflow/fault"
)

// multiReader streams the files of a Dataset one after the other, mapping each file's batches to
// the dataset schema by column name and appending partition columns.
type multiReader struct {
	ctx context.Context
	ds  *Dataset
	mem memory.Allocator
	// schema is the batches' schema: the dataset's, or with dictionary columns (dict).
	schema *arrow.Schema
	dict   map[string]bool
	refs   atomic.Int64

	next    int // index of the next file to open
	cur     *fileStream
	curFile FileInfo
	colMap  []int         // per output field: column index in the file batch, or -1 (partition)
	parts   []arrow.Array // per output field: cached constant partition column (or nil)

	rec       arrow.RecordBatch
	err       error
	rows      int64
	doneBytes int64

	// stats for tests and logs
	filesRead, rowGroupsRead int
}

var _ array.RecordReader = (*multiReader)(nil)

func (r *multiReader) Retain()                        { r.refs.Add(1) }
func (r *multiReader) Schema() *arrow.Schema          { return r.schema }
func (r *multiReader) RecordBatch() arrow.RecordBatch { return r.rec }
func (r *multiReader) Record() arrow.RecordBatch      { return r.rec }
func (r *multiReader) Err() error                     { return r.err }

func (r *multiReader) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	r.closeCur()
}

func (r *multiReader) closeCur() {
	if r.cur != nil {
		r.doneBytes += r.cur.bytes()
		r.cur.close()
		r.cur = nil
	}
	for i, a := range r.parts {
		if a != nil {
			a.Release()
			r.parts[i] = nil
		}
	}
}

// need lists the file columns the output uses.
func (r *multiReader) need() []string {
	var n []string
	for _, f := range r.ds.Schema.Fields() {
		if _, isPart := r.ds.partTypes[f.Name]; !isPart {
			n = append(n, f.Name)
		}
	}
	return n
}

func (r *multiReader) Next() bool {
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	if r.err != nil {
		return false
	}
	for {
		if r.cur == nil {
			if r.next >= len(r.ds.Files) {
				return false
			}
			if err := r.ctx.Err(); err != nil {
				r.err = fault.Wrap(fault.Temporary, err, "read %s", r.ds.URI)
				return false
			}
			f := r.ds.Files[r.next]
			r.next++
			s, err := r.ds.openFile(r.ctx, f, r.need(), r.dict, r.mem)
			if err != nil {
				r.err = err
				return false
			}
			r.cur, r.curFile = s, f
			r.filesRead++
			if s.rowGroups > 0 {
				r.rowGroupsRead += s.rowGroups
			}
			if err := r.mapColumns(s.rr.Schema()); err != nil {
				r.err = err
				r.closeCur()
				return false
			}
		}
		if r.cur.rr.Next() {
			in := r.cur.rr.RecordBatch()
			if in.NumRows() == 0 {
				continue
			}
			rec, err := r.assemble(in)
			if err != nil {
				r.err = err
				r.closeCur()
				return false
			}
			r.rec = rec
			r.rows += rec.NumRows()
			if p := r.ds.opts.Progress; p != nil {
				p(r.rows, r.doneBytes+r.cur.bytes())
			}
			return true
		}
		if err := r.cur.rr.Err(); err != nil {
			r.err = errFile(err, r.curFile.URI)
			r.closeCur()
			return false
		}
		r.closeCur()
	}
}

func (r *multiReader) mapColumns(sc *arrow.Schema) error {
	out := r.schema
	r.colMap = make([]int, out.NumFields())
	if len(r.parts) != out.NumFields() {
		r.parts = make([]arrow.Array, out.NumFields())
	}
	for i, f := range out.Fields() {
		if _, isPart := r.ds.partTypes[f.Name]; isPart {
			r.colMap[i] = -1
			continue
		}
		idx := sc.FieldIndices(f.Name)
		if len(idx) != 1 {
			return fault.Dataf("read %s: no column %s in the file", r.curFile.URI, f.Name)
		}
		if !arrow.TypeEqual(sc.Field(idx[0]).Type, f.Type) {
			return fault.Dataf("read %s: column %s is %s, want %s", r.curFile.URI, f.Name, sc.Field(idx[0]).Type, f.Type)
		}
		r.colMap[i] = idx[0]
	}
	return nil
}

func (r *multiReader) assemble(in arrow.RecordBatch) (arrow.RecordBatch, error) {
	out := r.schema
	n := int(in.NumRows())
	cols := make([]arrow.Array, out.NumFields())
	var owned []arrow.Array
	defer func() {
		for _, a := range owned {
			a.Release()
		}
	}()
	for i, f := range out.Fields() {
		if j := r.colMap[i]; j >= 0 {
			cols[i] = in.Column(j)
			continue
		}
		if r.parts[i] == nil || r.parts[i].Len() < n {
			if r.parts[i] != nil {
				r.parts[i].Release()
				r.parts[i] = nil
			}
			a, err := r.partitionArray(f, n)
			if err != nil {
				return nil, err
			}
			r.parts[i] = a
		}
		if r.parts[i].Len() == n {
			cols[i] = r.parts[i]
		} else {
			s := array.NewSlice(r.parts[i], 0, int64(n))
			owned = append(owned, s)
			cols[i] = s
		}
	}
	return array.NewRecordBatch(out, cols, int64(n)), nil
}

// partitionArray is the constant column of a partition value for n rows.
func (r *multiReader) partitionArray(f arrow.Field, n int) (arrow.Array, error) {
	if r.curFile.Partition == nil {
		return nil, fault.Dataf("read %s: no partition values for column %s", r.curFile.URI, f.Name)
	}
	if isNullPartition(r.curFile, f.Name) {
		return array.MakeArrayOfNull(r.mem, f.Type, n), nil
	}
	v, ok := r.curFile.Partition[f.Name]
	if !ok {
		return nil, fault.Dataf("read %s: no value for partition column %s", r.curFile.URI, f.Name)
	}
	sc, err := scalar.ParseScalar(f.Type, v)
	if err != nil {
		return nil, fault.Wrap(fault.Data, err, "read %s: partition %s=%s is not a %s", r.curFile.URI, f.Name, v, f.Type)
	}
	a, err := scalar.MakeArrayFromScalar(sc, n, r.mem)
	if err != nil {
		return nil, fault.Wrap(fault.Data, err, "read %s: partition %s=%s", r.curFile.URI, f.Name, v)
	}
	return a, nil
}
