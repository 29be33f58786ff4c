package arrowops

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/aiflow-dev/aiflow/internal/arrowdict"
	"github.com/aiflow-dev/aiflow/internal/arrowops/expr"
)

type filterOp struct {
	pred *expr.Expr
	in   *arrow.Schema // the input schema compiled for (strings plain)
	// keep, when set, are the only input columns the next step reads (see prune): the
	// filter outputs just those, in outSchema, and copies nothing else.
	keep      []int
	outSchema *arrow.Schema
}

func (o *filterOp) open(ctx context.Context, up array.RecordReader, env *runEnv) (array.RecordReader, error) {
	cctx := exec.WithAllocator(ctx, env.mem)
	// The first filter may get string columns as dictionaries (Plan.DictionaryColumns): its
	// output has them as plain strings, expanded after filtering.
	schema := arrowdict.PlainSchema(up.Schema())
	if o.keep != nil {
		schema = o.outSchema
	}
	return newMapReader(ctx, up, schema, func(rec arrow.RecordBatch) (arrow.RecordBatch, bool, error) {
		out, err := o.apply(cctx, rec, env)
		if err != nil || out == nil {
			return out, true, err
		}
		out, err = expandDicts(out, schema, env.mem)
		return out, true, err
	}), nil
}

// expandDicts returns rec with its string dictionary columns expanded (schema: the plain
// schema), taking over rec's reference.
func expandDicts(rec arrow.RecordBatch, schema *arrow.Schema, mem memory.Allocator) (arrow.RecordBatch, error) {
	var cols []arrow.Array
	for i, c := range rec.Columns() {
		d, ok := c.(*array.Dictionary)
		if !ok {
			continue
		}
		if cols == nil {
			cols = slices.Clone(rec.Columns())
		}
		a, err := arrowdict.Expand(d, mem)
		if err != nil {
			rec.Release()
			return nil, err
		}
		defer a.Release()
		cols[i] = a
	}
	if cols == nil {
		return rec, nil
	}
	defer rec.Release()
	return array.NewRecordBatch(schema, cols, rec.NumRows()), nil
}

// apply returns the rows of rec where the predicate is true, or nil if there are none.
func (o *filterOp) apply(ctx context.Context, rec arrow.RecordBatch, env *runEnv) (arrow.RecordBatch, error) {
	if rec.NumRows() == 0 {
		return nil, nil
	}
	d, err := o.pred.Eval(ctx, rec, env.mem)
	if err != nil {
		return nil, dataErr(err, "filter %q", o.pred)
	}
	defer d.Release()
	if o.keep != nil {
		cols := make([]arrow.Array, len(o.keep))
		sc := o.outSchema
		for k, i := range o.keep {
			cols[k] = rec.Column(i)
			if _, ok := cols[k].(*array.Dictionary); ok && sc == o.outSchema {
				// A kept column still a dictionary: expanded after the filter.
				fields := o.outSchema.Fields()
				for j, c := range o.keep {
					fields[j].Type = rec.Schema().Field(c).Type
				}
				sc = arrow.NewSchema(fields, nil)
			}
		}
		rec = array.NewRecordBatch(sc, cols, rec.NumRows())
		defer rec.Release()
	}
	switch d := d.(type) {
	case *compute.ScalarDatum:
		if b, ok := d.Value.(*scalar.Boolean); ok && b.Valid && b.Value {
			rec.Retain()
			return rec, nil
		}
		return nil, nil
	case *compute.ArrayDatum:
		mask := array.NewBooleanData(d.Value)
		defer mask.Release()
		if mask.NullN() == 0 {
			// All-true and all-false masks need no copy.
			switch trues := countTrue(mask); trues {
			case 0:
				return nil, nil
			case mask.Len():
				rec.Retain()
				return rec, nil
			}
		}
		out, err := compute.FilterRecordBatch(ctx, rec, mask, compute.DefaultFilterOptions())
		if err != nil {
			return nil, dataErr(err, "filter %q", o.pred)
		}
		if out.NumRows() == 0 {
			out.Release()
			return nil, nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("filter %q: unexpected result %s", o.pred, d.Kind())
}

// prune lets a filter followed by a group_by copy only the columns the group_by reads (the
// commonest pipeline: filter, then aggregate a few columns of a wide input).
func prune(ops []op, schemas []*arrow.Schema) {
	for i := 0; i+1 < len(ops); i++ {
		f, ok := ops[i].(*filterOp)
		g, ok2 := ops[i+1].(*groupByOp)
		if !ok || !ok2 {
			continue
		}
		in := schemas[i]
		used := make([]bool, in.NumFields())
		for _, k := range g.keyIdx {
			used[k] = true
		}
		for _, a := range g.aggs {
			if a.col >= 0 {
				used[a.col] = true
			}
		}
		pos := make([]int, in.NumFields())
		var keep []int
		var fields []arrow.Field
		for c, u := range used {
			if u {
				pos[c] = len(keep)
				keep = append(keep, c)
				fields = append(fields, in.Field(c))
			}
		}
		if len(keep) == in.NumFields() {
			continue
		}
		nf := *f
		nf.keep, nf.outSchema = keep, arrow.NewSchema(fields, nil)
		ng := *g
		ng.keyIdx = make([]int, len(g.keyIdx))
		for k, c := range g.keyIdx {
			ng.keyIdx[k] = pos[c]
		}
		ng.aggs = append([]aggSpec(nil), g.aggs...)
		for k := range ng.aggs {
			if ng.aggs[k].col >= 0 {
				ng.aggs[k].col = pos[ng.aggs[k].col]
			}
		}
		ops[i], ops[i+1] = &nf, &ng
	}
}

func countTrue(b *array.Boolean) int {
	return bitutil.CountSetBits(b.Data().Buffers()[1].Bytes(), b.Data().Offset(), b.Len())
}

type deriveOp struct {
	names  []string
	exprs  []*expr.Expr
	slot   []int // output column of each expression
	schema *arrow.Schema
	nIn    int
}

func compileDerive(m map[string]string, in *arrow.Schema) (op, *arrow.Schema, error) {
	if len(m) == 0 {
		return nil, nil, fmt.Errorf("derive needs at least one column")
	}
	o := &deriveOp{nIn: in.NumFields()}
	fields := append([]arrow.Field(nil), in.Fields()...)
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if name == "" {
			return nil, nil, fmt.Errorf("derive: empty column name")
		}
		e, err := expr.Compile(m[name], in)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		t := e.Type()
		if t.ID() == arrow.NULL {
			return nil, nil, fmt.Errorf("%s: the type of %q is unknown; cast the NULL, e.g. coalesce(NULL, 0)", name, m[name])
		}
		f := arrow.Field{Name: name, Type: t, Nullable: true}
		slot := len(fields)
		if idx := in.FieldIndices(name); len(idx) == 1 {
			slot = idx[0]
			fields[slot] = f
		} else {
			fields = append(fields, f)
		}
		o.names = append(o.names, name)
		o.exprs = append(o.exprs, e)
		o.slot = append(o.slot, slot)
	}
	o.schema = arrow.NewSchema(fields, nil)
	return o, o.schema, nil
}

func (o *deriveOp) open(ctx context.Context, up array.RecordReader, env *runEnv) (array.RecordReader, error) {
	return newMapReader(ctx, up, o.schema, func(rec arrow.RecordBatch) (arrow.RecordBatch, bool, error) {
		cols := make([]arrow.Array, o.schema.NumFields())
		copy(cols, rec.Columns())
		derived := make([]arrow.Array, 0, len(o.exprs))
		defer func() {
			for _, a := range derived {
				a.Release()
			}
		}()
		for k, e := range o.exprs {
			a, err := e.EvalArray(ctx, rec, env.mem)
			if err != nil {
				return nil, false, dataErr(err, "derive %s = %q", o.names[k], e)
			}
			derived = append(derived, a)
			cols[o.slot[k]] = a
		}
		return array.NewRecordBatch(o.schema, cols, rec.NumRows()), true, nil
	}), nil
}

// projectOp is select, drop and rename: a choice of input columns, some renamed.
type projectOp struct {
	idx    []int
	schema *arrow.Schema
}

func newProject(in *arrow.Schema, idx []int, rename map[int]string) (op, *arrow.Schema, error) {
	fields := make([]arrow.Field, len(idx))
	for k, i := range idx {
		fields[k] = in.Field(i)
		if n, ok := rename[i]; ok {
			fields[k].Name = n
		}
	}
	if err := checkUnique(fields); err != nil {
		return nil, nil, err
	}
	s := arrow.NewSchema(fields, nil)
	return &projectOp{idx: idx, schema: s}, s, nil
}

func (o *projectOp) open(ctx context.Context, up array.RecordReader, env *runEnv) (array.RecordReader, error) {
	return newMapReader(ctx, up, o.schema, func(rec arrow.RecordBatch) (arrow.RecordBatch, bool, error) {
		cols := make([]arrow.Array, len(o.idx))
		for k, i := range o.idx {
			cols[k] = rec.Column(i)
		}
		return array.NewRecordBatch(o.schema, cols, rec.NumRows()), true, nil
	}), nil
}

type castOp struct {
	to     map[int]arrow.DataType
	schema *arrow.Schema
}

func compileCast(m map[string]string, in *arrow.Schema) (op, *arrow.Schema, error) {
	names := slices.Sorted(maps.Keys(m))
	idx, err := lookupCols(in, names, "cast")
	if err != nil {
		return nil, nil, err
	}
	o := &castOp{to: map[int]arrow.DataType{}}
	fields := append([]arrow.Field(nil), in.Fields()...)
	for k, i := range idx {
		t, err := ParseType(m[names[k]])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", names[k], err)
		}
		from := in.Field(i).Type
		if arrow.TypeEqual(from, t) {
			continue
		}
		if !compute.CanCast(from, t) {
			return nil, nil, fmt.Errorf("%s: cannot cast %s to %s", names[k], from, t)
		}
		o.to[i] = t
		fields[i].Type = t
	}
	o.schema = arrow.NewSchema(fields, nil)
	return o, o.schema, nil
}

func (o *castOp) open(ctx context.Context, up array.RecordReader, env *runEnv) (array.RecordReader, error) {
	cctx := exec.WithAllocator(ctx, env.mem)
	return newMapReader(ctx, up, o.schema, func(rec arrow.RecordBatch) (arrow.RecordBatch, bool, error) {
		cols := make([]arrow.Array, rec.NumCols())
		copy(cols, rec.Columns())
		var casted []arrow.Array
		defer func() {
			for _, a := range casted {
				a.Release()
			}
		}()
		for i, t := range o.to {
			c := cctx
			if expr.IsString(t) {
				// arrow-go v18.8.0 leaks a builder when casting to strings: use the
				// garbage-collected Go allocator for those.
				c = exec.WithAllocator(ctx, memory.DefaultAllocator)
			}
			a, err := compute.CastArray(c, rec.Column(i), compute.SafeCastOptions(t))
			if err != nil {
				return nil, false, dataErr(err, "cast %s to %s", rec.ColumnName(i), t)
			}
			casted = append(casted, a)
			cols[i] = a
		}
		return array.NewRecordBatch(o.schema, cols, rec.NumRows()), true, nil
	}), nil
}

type limitOp struct{ n int64 }

func (o *limitOp) open(ctx context.Context, up array.RecordReader, env *runEnv) (array.RecordReader, error) {
	left := o.n
	return newMapReader(ctx, up, up.Schema(), func(rec arrow.RecordBatch) (arrow.RecordBatch, bool, error) {
		if left <= 0 {
			return nil, false, nil
		}
		n := rec.NumRows()
		if n < left {
			left -= n
			rec.Retain()
			return rec, true, nil
		}
		out := rec.NewSlice(0, left)
		left = 0
		return out, false, nil
	}), nil
}
