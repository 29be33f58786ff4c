package arrowops

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type groupByOp struct {
	keyIdx   []int
	keyTypes []arrow.DataType
	aggs     []aggSpec
	schema   *arrow.Schema
}

func compileGroupBy(g *GroupBy, in *arrow.Schema) (op, *arrow.Schema, error) {
	if len(g.Aggs) == 0 && len(g.Keys) == 0 {
		return nil, nil, fmt.Errorf("group_by needs keys or aggs")
	}
	idx, err := lookupCols(in, g.Keys, "keys")
	if err != nil {
		return nil, nil, err
	}
	o := &groupByOp{keyIdx: idx}
	var fields []arrow.Field
	for k, i := range idx {
		f := in.Field(i)
		if classOf(f.Type) == kcInvalid {
			return nil, nil, fmt.Errorf("key %q has type %s; keys can be %s", g.Keys[k], f.Type, keyTypeNames)
		}
		o.keyTypes = append(o.keyTypes, f.Type)
		fields = append(fields, arrow.Field{Name: f.Name, Type: f.Type, Nullable: true})
	}
	for _, name := range slices.Sorted(maps.Keys(g.Aggs)) {
		s, err := bindAgg(name, g.Aggs[name], in)
		if err != nil {
			return nil, nil, fmt.Errorf("aggs %s: %w", name, err)
		}
		o.aggs = append(o.aggs, s)
		fields = append(fields, arrow.Field{Name: name, Type: s.out, Nullable: true})
	}
	if err := checkUnique(fields); err != nil {
		return nil, nil, err
	}
	o.schema = arrow.NewSchema(fields, nil)
	return o, o.schema, nil
}

func (o *groupByOp) open(ctx context.Context, up array.RecordReader, env *runEnv) (array.RecordReader, error) {
	return newBlockingReader(ctx, up, o.schema, func() ([]arrow.RecordBatch, error) {
		if p := groupByParallelism(); p > 1 && len(o.keyIdx) > 0 {
			rec, err := o.newParGroupBy(env.mem, p).run(ctx, up)
			if err != nil {
				return nil, err
			}
			return sliceBatches(rec), nil
		}
		st := o.newState(env.mem)
		defer st.release()
		for up.Next() {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			rec := up.RecordBatch()
			if err := st.addCols(ctx, rec.Columns(), int(rec.NumRows())); err != nil {
				return nil, err
			}
		}
		if err := up.Err(); err != nil {
			return nil, err
		}
		rec, err := st.result(ctx)
		if err != nil {
			return nil, err
		}
		return sliceBatches(rec), nil
	}), nil
}

// groupState is the running state of a group-by: the hash table, the key values of each group
// (first-seen order) and one aggregator per aggregate.
type groupState struct {
	op      *groupByOp
	mem     memory.Allocator
	g       grouper // nil when there are no keys: one global group
	aggs    []aggregator
	keyOut  [][]arrow.Array // per key, chunks of group key values
	ids     []int32
	newRows []int32
	keyCols []arrow.Array
	groups  int
	// borrowed: the batches' columns live in memory reused for the next batch, so the keys
	// of new groups are always copied.
	borrowed bool
}

func (o *groupByOp) newState(mem memory.Allocator) *groupState {
	st := &groupState{op: o, mem: mem, keyOut: make([][]arrow.Array, len(o.keyIdx))}
	if len(o.keyIdx) > 0 {
		st.g = newGrouper(o.keyTypes, true)
	} else {
		st.groups = 1
	}
	for _, s := range o.aggs {
		st.aggs = append(st.aggs, newAggregator(s))
	}
	for k, a := range st.aggs {
		if l, ok := a.(interface {
			link(col int, specs []aggSpec, aggs []aggregator)
		}); ok {
			l.link(o.aggs[k].col, o.aggs, st.aggs)
		}
	}
	for _, a := range st.aggs {
		a.grow(st.groups)
	}
	return st
}

func (st *groupState) release() {
	for _, chunks := range st.keyOut {
		for _, c := range chunks {
			c.Release()
		}
	}
	st.keyOut = nil
}

// addCols folds one batch of n rows into the state; cols are its columns by input index (only
// the keys' and the aggregates' are read).
func (st *groupState) addCols(ctx context.Context, cols []arrow.Array, n int) error {
	if n == 0 {
		return nil
	}
	if cap(st.ids) < n {
		st.ids = make([]int32, n)
	}
	ids := st.ids[:n]
	if st.g == nil {
		clear(ids)
	} else {
		st.keyCols = st.keyCols[:0]
		for _, i := range st.op.keyIdx {
			st.keyCols = append(st.keyCols, cols[i])
		}
		st.newRows = st.g.insert(st.keyCols, ids, st.newRows[:0])
		st.groups = st.g.len()
		if len(st.newRows) > 0 {
			if err := st.appendKeys(ctx, st.newRows); err != nil {
				return err
			}
		}
	}
	for k, a := range st.aggs {
		a.grow(st.groups)
		var col arrow.Array
		if c := st.op.aggs[k].col; c >= 0 {
			col = cols[c]
		}
		if err := a.update(col, ids); err != nil {
			return dataErr(err, "aggregate %s", st.op.aggs[k].name)
		}
	}
	return nil
}

// appendKeys keeps the key values of the rows that created groups.
func (st *groupState) appendKeys(ctx context.Context, rows []int32) error {
	cctx := exec.WithAllocator(ctx, st.mem)
	for k, c := range st.keyCols {
		if !st.borrowed && len(rows) == c.Len() && int(rows[len(rows)-1]) == len(rows)-1 {
			// Every row is a new group, in order: keep the column itself.
			c.Retain()
			st.keyOut[k] = append(st.keyOut[k], c)
			continue
		}
		if w := fixedWidth(c.DataType()); w > 0 {
			st.keyOut[k] = append(st.keyOut[k], gatherFixed(st.mem, nil, c, w, rows))
			continue
		}
		out, err := take(cctx, st.mem, c, rows)
		if err != nil {
			return dataErr(err, "group_by keys")
		}
		st.keyOut[k] = append(st.keyOut[k], out)
	}
	return nil
}

func (st *groupState) result(ctx context.Context) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, 0, st.op.schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for c := range st.op.schema.NumFields() {
		col, err := st.column(c)
		if err != nil {
			return nil, err
		}
		cols = append(cols, col)
	}
	return array.NewRecordBatch(st.op.schema, cols, int64(st.groups)), nil
}

// column builds output column c: a key (whose chunks it then lets go) or an aggregate.
func (st *groupState) column(c int) (arrow.Array, error) {
	if c >= len(st.keyOut) {
		a := st.aggs[c-len(st.keyOut)]
		a.grow(st.groups)
		return a.finish(st.mem), nil
	}
	chunks := st.keyOut[c]
	st.keyOut[c] = nil
	defer func() {
		for _, ch := range chunks {
			ch.Release()
		}
	}()
	switch len(chunks) {
	case 0:
		b := array.NewBuilder(st.mem, st.op.keyTypes[c])
		defer b.Release()
		return b.NewArray(), nil
	case 1:
		chunks[0].Retain()
		return chunks[0], nil
	}
	return array.Concatenate(chunks, st.mem)
}
