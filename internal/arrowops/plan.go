package arrowops

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowdict"
	"github.com/aiflow-dev/aiflow/internal/arrowops/expr"
	"github.com/aiflow-dev/aiflow/internal/readahead"
)

// maxOutBatch bounds the rows of the batches blocking operators emit.
const maxOutBatch = 64 << 10

// Plan is a compiled transform. It is immutable; Run may be called several times, even
// concurrently.
type Plan struct {
	main   string
	inputs map[string]*arrow.Schema // the inputs the plan reads: main and join right sides
	ops    []op
	schema *arrow.Schema
}

// op is one compiled step.
type op interface {
	// open wraps the upstream reader (whose reference it takes over).
	open(ctx context.Context, up array.RecordReader, env *runEnv) (array.RecordReader, error)
}

type runEnv struct {
	inputs map[string]array.RecordReader
	mem    memory.Allocator
}

// Compile type-checks steps against the input schemas and computes the output schema. main
// names the input the steps apply to; join steps name the others. All errors are fault.Config
// and name the step ("step 2 (group_by): ..."). A broken step that keeps its input's schema
// (filter, sort, limit) does not stop the check: the steps after it are checked too and every
// problem is reported (StepErrors). After any other broken step the columns are unknown, so the
// check ends there.
func Compile(steps []Step, inputs map[string]*arrow.Schema, main string) (*Plan, error) {
	in, ok := inputs[main]
	if !ok {
		return nil, fault.Configf("main input %q not found (inputs: %s)", main, strings.Join(slices.Sorted(maps.Keys(inputs)), ", "))
	}
	p := &Plan{main: main, inputs: map[string]*arrow.Schema{main: in}}
	cur := in
	schemas := []*arrow.Schema{}
	var errs StepErrors
	for i, s := range steps {
		if err := s.Validate(); err != nil {
			errs = append(errs, &StepError{Index: i, Err: err})
			break
		}
		kind := s.Kind()
		o, out, err := p.compileStep(s, cur, inputs)
		if err != nil {
			errs = append(errs, &StepError{Index: i, Kind: kind, Err: err})
			if kind == "filter" || kind == "sort" || kind == "limit" {
				continue
			}
			break
		}
		p.ops = append(p.ops, o)
		schemas = append(schemas, cur)
		cur = out
	}
	if len(errs) > 0 {
		return nil, stepErr(errs)
	}
	prune(p.ops, schemas)
	p.schema = cur
	return p, nil
}

// Schema is the schema of the records Run produces.
func (p *Plan) Schema() *arrow.Schema { return p.schema }

// DictionaryColumns names the string columns of the main input that Run takes as
// dictionaries (arrowdict.Type) as well as plain: when the first step is a filter, it compares
// a dictionary's values once per batch instead of every row's string, and expands to plain
// strings only the rows it keeps. A reader that can (readers.DictionaryReader) should stream
// these columns as dictionaries.
func (p *Plan) DictionaryColumns() []string {
	if len(p.ops) == 0 {
		return nil
	}
	if _, ok := p.ops[0].(*filterOp); !ok {
		return nil
	}
	var cols []string
	for _, f := range p.inputs[p.main].Fields() {
		if f.Type.ID() == arrow.STRING {
			cols = append(cols, f.Name)
		}
	}
	return cols
}

// Inputs names the inputs Run reads (the main input and the right sides of joins), sorted.
func (p *Plan) Inputs() []string { return slices.Sorted(maps.Keys(p.inputs)) }

func (p *Plan) compileStep(s Step, in *arrow.Schema, inputs map[string]*arrow.Schema) (op, *arrow.Schema, error) {
	switch s.Kind() {
	case "filter":
		e, err := expr.Compile(s.Filter, in)
		if err != nil {
			return nil, nil, err
		}
		if t := e.Type(); t.ID() != arrow.BOOL && t.ID() != arrow.NULL {
			return nil, nil, fmt.Errorf("predicate %q is %s, not a boolean", s.Filter, t)
		}
		return &filterOp{pred: e, in: in}, in, nil
	case "derive":
		return compileDerive(s.Derive, in)
	case "select":
		idx, err := lookupCols(in, s.Select, "select")
		if err != nil {
			return nil, nil, err
		}
		return newProject(in, idx, nil)
	case "drop":
		idx, err := lookupCols(in, s.Drop, "drop")
		if err != nil {
			return nil, nil, err
		}
		dropped := map[int]bool{}
		for _, i := range idx {
			dropped[i] = true
		}
		var keep []int
		for i := range in.NumFields() {
			if !dropped[i] {
				keep = append(keep, i)
			}
		}
		return newProject(in, keep, nil)
	case "rename":
		from := slices.Sorted(maps.Keys(s.Rename))
		idx, err := lookupCols(in, from, "rename")
		if err != nil {
			return nil, nil, err
		}
		names := map[int]string{}
		for k, i := range idx {
			if s.Rename[from[k]] == "" {
				return nil, nil, fmt.Errorf("rename %q to an empty name", from[k])
			}
			names[i] = s.Rename[from[k]]
		}
		keep := make([]int, in.NumFields())
		for i := range keep {
			keep[i] = i
		}
		return newProject(in, keep, names)
	case "cast":
		return compileCast(s.Cast, in)
	case "group_by":
		return compileGroupBy(s.GroupBy, in)
	case "join":
		return p.compileJoin(s.Join, in, inputs)
	case "sort":
		return compileSort(s.Sort, in)
	case "limit":
		if *s.Limit < 0 {
			return nil, nil, fmt.Errorf("limit must be >= 0, got %d", *s.Limit)
		}
		return &limitOp{n: *s.Limit}, in, nil
	}
	return nil, nil, fmt.Errorf("unknown step")
}

// lookupCols resolves column names, naming the unknown one and the available columns.
func lookupCols(s *arrow.Schema, names []string, what string) ([]int, error) {
	idx := make([]int, len(names))
	seen := map[string]bool{}
	for k, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("%s: column %q listed twice", what, n)
		}
		seen[n] = true
		is := s.FieldIndices(n)
		switch len(is) {
		case 0:
			return nil, fmt.Errorf("%s: unknown column %q%s (available: %s)", what, n, expr.SuggestColumn(n, s), expr.ColumnList(s))
		case 1:
			idx[k] = is[0]
		default:
			return nil, fmt.Errorf("%s: ambiguous column %q", what, n)
		}
	}
	return idx, nil
}

func checkUnique(fields []arrow.Field) error {
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f.Name] {
			return fmt.Errorf("output would have two columns named %q", f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// Run executes the plan. inputs must hold a reader for each name of Inputs, with the schema
// the plan was compiled for; Run retains the readers it uses and releases them when the
// returned reader is released. Runtime data problems (a failed cast, an overflow) are
// fault.Data; a cancelled ctx stops the readers with ctx's error.
func (p *Plan) Run(ctx context.Context, inputs map[string]array.RecordReader, mem memory.Allocator) (array.RecordReader, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	for name, want := range p.inputs {
		r, ok := inputs[name]
		if !ok {
			return nil, fault.Configf("input %q not given to the transform", name)
		}
		got := r.Schema()
		if name == p.main && len(p.DictionaryColumns()) > 0 {
			got = arrowdict.PlainSchema(got) // string columns as dictionaries are taken
		}
		if err := sameFields(want, got); err != nil {
			return nil, fault.Wrap(fault.Data, err, "input %q", name)
		}
	}
	env := &runEnv{inputs: inputs, mem: mem}
	up := inputs[p.main]
	up.Retain()
	for i, o := range p.ops {
		if i > 0 && isBlocking(o) {
			// The streaming steps before a group_by or sort run in their own goroutine, one
			// batch ahead of the aggregation: two cores, two stages.
			up = readahead.New(ctx, up, 1)
		}
		next, err := o.open(ctx, up, env)
		if err != nil {
			up.Release()
			return nil, err
		}
		up = next
	}
	return up, nil
}

func isBlocking(o op) bool {
	switch o.(type) {
	case *groupByOp, *sortOp:
		return true
	}
	return false
}

// sameFields compares names and types, ignoring metadata and nullability.
func sameFields(want, got *arrow.Schema) error {
	if want.NumFields() != got.NumFields() {
		return fmt.Errorf("schema changed since compile: got %s, want %s", got, want)
	}
	for i, f := range want.Fields() {
		g := got.Field(i)
		if f.Name != g.Name || !arrow.TypeEqual(f.Type, g.Type) {
			return fmt.Errorf("schema changed since compile: column %d is %s %s, want %s %s", i, g.Name, g.Type, f.Name, f.Type)
		}
	}
	return nil
}

// dataErr classifies an error raised while processing data.
func dataErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, arrow.ErrNotImplemented) || fault.Classified(err) {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	// Arrow's compute kernels report what is wrong with a value (an overflow, a cast that does
	// not parse, an index out of range) with these sentinels: the data's fault. Anything else
	// unclassified is a bug (exit 1, retried), not bad data.
	if errors.Is(err, arrow.ErrInvalid) || errors.Is(err, arrow.ErrType) || errors.Is(err, arrow.ErrIndex) {
		return fault.Wrap(fault.Data, err, format, args...)
	}
	return fault.Wrap(fault.Internal, err, format, args...)
}

// baseReader carries what every reader of this package shares: reference counting, the
// current batch and the first error.
type baseReader struct {
	refs   atomic.Int64
	schema *arrow.Schema
	cur    arrow.RecordBatch
	err    error
	free   func()
}

func (b *baseReader) init(schema *arrow.Schema, free func()) {
	b.refs.Store(1)
	b.schema = schema
	b.free = free
}

func (b *baseReader) Retain()                        { b.refs.Add(1) }
func (b *baseReader) Schema() *arrow.Schema          { return b.schema }
func (b *baseReader) RecordBatch() arrow.RecordBatch { return b.cur }

// Deprecated: Use RecordBatch.
func (b *baseReader) Record() arrow.RecordBatch { return b.cur }
func (b *baseReader) Err() error                { return b.err }

func (b *baseReader) Release() {
	if b.refs.Add(-1) == 0 {
		b.setCur(nil)
		if b.free != nil {
			b.free()
		}
	}
}

func (b *baseReader) setCur(r arrow.RecordBatch) {
	if b.cur != nil {
		b.cur.Release()
	}
	b.cur = r
}

// mapReader applies fn to each upstream batch. fn returns an owned batch or nil to skip, and
// more=false to end the stream early.
type mapReader struct {
	baseReader
	ctx  context.Context
	up   array.RecordReader
	fn   func(rec arrow.RecordBatch) (out arrow.RecordBatch, more bool, err error)
	done bool
}

func newMapReader(ctx context.Context, up array.RecordReader, schema *arrow.Schema,
	fn func(arrow.RecordBatch) (arrow.RecordBatch, bool, error)) *mapReader {
	m := &mapReader{ctx: ctx, up: up, fn: fn}
	m.init(schema, up.Release)
	return m
}

func (m *mapReader) Next() bool {
	m.setCur(nil)
	for !m.done && m.err == nil {
		if err := m.ctx.Err(); err != nil {
			m.err = err
			return false
		}
		if !m.up.Next() {
			m.err = m.up.Err()
			m.done = true
			return false
		}
		out, more, err := m.fn(m.up.RecordBatch())
		if err != nil {
			m.err = err
			return false
		}
		m.done = !more
		if out != nil {
			m.cur = out
			return true
		}
	}
	return false
}

// blockingReader runs fill once, at the first Next, then emits its batches.
type blockingReader struct {
	baseReader
	ctx    context.Context
	fill   func() ([]arrow.RecordBatch, error)
	out    []arrow.RecordBatch
	filled bool
}

func newBlockingReader(ctx context.Context, up array.RecordReader, schema *arrow.Schema,
	fill func() ([]arrow.RecordBatch, error)) *blockingReader {
	b := &blockingReader{ctx: ctx, fill: fill}
	b.init(schema, func() {
		for _, r := range b.out {
			r.Release()
		}
		b.out = nil
		up.Release()
	})
	return b
}

func (b *blockingReader) Next() bool {
	b.setCur(nil)
	if b.err != nil {
		return false
	}
	if !b.filled {
		b.filled = true
		b.out, b.err = b.fill()
		if b.err != nil {
			return false
		}
	}
	if err := b.ctx.Err(); err != nil {
		b.err = err
		return false
	}
	if len(b.out) == 0 {
		return false
	}
	b.cur = b.out[0]
	b.out = b.out[1:]
	return true
}

// sliceBatches splits rec into batches of at most maxOutBatch rows, taking over rec.
func sliceBatches(rec arrow.RecordBatch) []arrow.RecordBatch {
	n := rec.NumRows()
	if n <= maxOutBatch {
		if n == 0 {
			rec.Release()
			return nil
		}
		return []arrow.RecordBatch{rec}
	}
	defer rec.Release()
	var out []arrow.RecordBatch
	for beg := int64(0); beg < n; beg += maxOutBatch {
		out = append(out, rec.NewSlice(beg, min(beg+maxOutBatch, n)))
	}
	return out
}

func sortedNames(m map[string]string) []string {
	ks := slices.Sorted(maps.Keys(m))
	sort.Strings(ks)
	return ks
}
