package arrowops

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/internal/arrowops/expr"
)

type sortOp struct {
	keys   []compute.SortKey
	schema *arrow.Schema
}

func compileSort(spec []string, in *arrow.Schema) (op, *arrow.Schema, error) {
	if len(spec) == 0 {
		return nil, nil, fmt.Errorf("sort needs at least one column")
	}
	o := &sortOp{schema: in}
	names := make([]string, len(spec))
	orders := make([]compute.SortKey, len(spec))
	for k, s := range spec {
		key := compute.SortKey{Order: compute.SortOrderAscending, NullPlacement: compute.SortNullsAtEnd}
		name := s
		if n, ok := strings.CutPrefix(s, "-"); ok {
			name = n
			key.Order = compute.SortOrderDescending
		} else if n, ok := strings.CutPrefix(s, "+"); ok {
			name = n
		}
		names[k] = name
		orders[k] = key
	}
	idx, err := lookupCols(in, names, "sort")
	if err != nil {
		return nil, nil, err
	}
	for k, i := range idx {
		if t := in.Field(i).Type; !expr.IsOrdered(t) {
			return nil, nil, fmt.Errorf("cannot sort by %q of type %s", names[k], t)
		}
		orders[k].ColumnIndex = i
	}
	o.keys = orders
	return o, in, nil
}

func (o *sortOp) open(ctx context.Context, up array.RecordReader, env *runEnv) (array.RecordReader, error) {
	return newBlockingReader(ctx, up, o.schema, func() ([]arrow.RecordBatch, error) {
		cctx := exec.WithAllocator(ctx, env.mem)
		rec, err := collect(ctx, up, o.schema, env)
		if err != nil || rec == nil {
			return nil, err
		}
		defer rec.Release()
		// arrow-go v18.8.0's sort_indices never releases its scratch buffer: give it the Go
		// allocator (garbage-collected); the indices are copied out at once.
		idx, err := compute.SortIndicesRecordBatch(exec.WithAllocator(ctx, memory.DefaultAllocator), rec, o.keys)
		if err != nil {
			return nil, dataErr(err, "sort")
		}
		defer idx.Release()
		perm := make([]int32, idx.Len())
		for i, v := range idx.(*array.Uint64).Uint64Values() {
			perm[i] = int32(v)
		}
		cols := make([]arrow.Array, rec.NumCols())
		defer func() {
			for _, c := range cols {
				if c != nil {
					c.Release()
				}
			}
		}()
		for i, c := range rec.Columns() {
			if cols[i], err = take(cctx, env.mem, c, perm); err != nil {
				return nil, dataErr(err, "sort")
			}
		}
		sorted := array.NewRecordBatch(o.schema, cols, rec.NumRows())
		return sliceBatches(sorted), nil
	}), nil
}

// collect reads the whole upstream into one batch (nil when empty).
func collect(ctx context.Context, up array.RecordReader, schema *arrow.Schema, env *runEnv) (arrow.RecordBatch, error) {
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	rows := int64(0)
	for up.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := up.RecordBatch()
		if r.NumRows() == 0 {
			continue
		}
		r.Retain()
		recs = append(recs, r)
		rows += r.NumRows()
	}
	if err := up.Err(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		chunks := make([]arrow.Array, len(recs))
		for k, r := range recs {
			chunks[k] = r.Column(i)
		}
		c, err := array.Concatenate(chunks, env.mem)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}
