package arrowops

import (
	"context"
	"hash/maphash"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// groupByParallelism is how many partitions a group_by with keys aggregates in at once; 1
// keeps the whole aggregation on the reading goroutine. A variable so tests can run every
// case at several partition counts.
var groupByParallelism = func() int { return min(runtime.GOMAXPROCS(0), 8) }

// A partitioned group-by splits the rows of each batch by a hash of their key into P
// partitions, and each partition aggregates its rows on its own goroutine in its own
// groupState. Every row of a group goes to the same partition, in input order, so each
// group's state sees exactly the values, in exactly the order, of the one-goroutine
// aggregation: sums of floats are added in the same order and are bit for bit the same.
// Each partition records the input position of the row that created each of its groups;
// merging those positions restores the output order of the one-goroutine aggregation
// (groups in first-seen order).
//
// Memory is that of the one-goroutine aggregation (the groups are split, not copied), plus
// four bytes per group for the first-seen position and the batches in flight (at most
// parJobDepth per partition, each retaining its input batch).
const parJobDepth = 2

type parJob struct {
	rec  arrow.RecordBatch
	rows *[]int32 // the batch rows of this partition, nil for all of them
	base int64    // input position of the batch's first row
}

type partition struct {
	st    *groupState
	seen  positions // input position of the row that created each group, in group order
	jobs  chan parJob
	err   error
	cols  []arrow.Array // scratch: the batch's columns this group_by reads
	taken []arrow.Array
	bufs  []gatherBuf // per column the group_by reads (used), reused batch after batch
}

type parGroupBy struct {
	op    *groupByOp
	mem   memory.Allocator
	parts []*partition
	used  []int // input columns the group_by reads: keys and aggregate inputs
	seed  maphash.Seed
	rows  sync.Pool // *[]int32
	vals  []uint64  // scratch of the splitter
	hash  []uint64
}

func (o *groupByOp) newParGroupBy(mem memory.Allocator, p int) *parGroupBy {
	g := &parGroupBy{op: o, mem: mem, seed: maphash.MakeSeed()}
	seen := map[int]bool{}
	for _, c := range o.keyIdx {
		if !seen[c] {
			seen[c] = true
			g.used = append(g.used, c)
		}
	}
	for _, s := range o.aggs {
		if s.col >= 0 && !seen[s.col] {
			seen[s.col] = true
			g.used = append(g.used, s.col)
		}
	}
	for range p {
		st := o.newState(mem)
		st.borrowed = true
		g.parts = append(g.parts, &partition{st: st, jobs: make(chan parJob, parJobDepth)})
	}
	return g
}

// run aggregates every batch of up and returns the groups in first-seen order.
func (g *parGroupBy) run(ctx context.Context, up array.RecordReader) (arrow.RecordBatch, error) {
	defer func() {
		for _, p := range g.parts {
			p.st.release()
		}
	}()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range g.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.work(wctx, cancel, p)
		}()
	}
	err := g.split(wctx, up)
	for _, p := range g.parts {
		close(p.jobs)
	}
	wg.Wait()
	// A partition's failure cancels the split: report it rather than the cancellation.
	for _, p := range g.parts {
		if p.err != nil {
			return nil, p.err
		}
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return g.result(ctx)
}

// split hands each batch's rows to the partitions of their keys.
func (g *parGroupBy) split(ctx context.Context, up array.RecordReader) error {
	var base int64
	for up.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := up.RecordBatch()
		n := int(rec.NumRows())
		if n == 0 {
			continue
		}
		sels := g.assign(rec)
		for p, rows := range sels {
			if rows == nil || len(*rows) == 0 {
				if rows != nil {
					g.rows.Put(rows)
				}
				continue
			}
			if len(*rows) == n {
				g.rows.Put(rows)
				rows = nil
			}
			rec.Retain()
			select {
			case g.parts[p].jobs <- parJob{rec: rec, rows: rows, base: base}:
			case <-ctx.Done():
				rec.Release()
				return ctx.Err()
			}
		}
		base += int64(n)
	}
	return up.Err()
}

// assign returns, per partition, the rows of rec whose key hashes to it. Rows with a null in
// a key hash like any other value, so the null group lives in one partition.
func (g *parGroupBy) assign(rec arrow.RecordBatch) []*[]int32 {
	n := int(rec.NumRows())
	if cap(g.hash) < n {
		g.hash = make([]uint64, n)
		g.vals = make([]uint64, n)
	}
	h := g.hash[:n]
	for k, c := range g.op.keyIdx {
		g.hashColumn(rec.Column(c), h, k == 0)
	}
	sels := make([]*[]int32, len(g.parts))
	for p := range sels {
		r, _ := g.rows.Get().(*[]int32)
		if r == nil {
			r = new([]int32)
		}
		*r = (*r)[:0]
		sels[p] = r
	}
	np := uint64(len(g.parts))
	for i, x := range h {
		p, _ := bits.Mul64(mix64(x), np)
		*sels[p] = append(*sels[p], int32(i))
	}
	return sels
}

// hashColumn folds the values of key column a into h (set when first).
func (g *parGroupBy) hashColumn(a arrow.Array, h []uint64, first bool) {
	v := g.vals[:len(h)]
	switch a := a.(type) {
	case *array.String:
		for i := range v {
			v[i] = maphash.String(g.seed, a.Value(i))
		}
	case *array.LargeString:
		for i := range v {
			v[i] = maphash.String(g.seed, a.Value(i))
		}
	default:
		toU64(a, v)
	}
	if a.NullN() > 0 {
		const nullHash = 0x6a09e667f3bcc909
		for i := range v {
			if a.IsNull(i) {
				v[i] = nullHash
			}
		}
	}
	if first {
		copy(h, v)
		return
	}
	for i, x := range v {
		h[i] = mix64(h[i]) ^ x
	}
}

// mix64 is the finalizer of MurmurHash3: every input bit affects every output bit, so the
// high bits that choose a partition are spread even for sequential ids.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// work aggregates the jobs of one partition. After a failure it only releases the batches
// still queued (the split stops at the cancellation).
func (g *parGroupBy) work(ctx context.Context, cancel context.CancelFunc, p *partition) {
	for j := range p.jobs {
		if p.err == nil && ctx.Err() == nil {
			if err := g.add(ctx, p, j); err != nil {
				p.err = err
				cancel()
			}
		}
		j.rec.Release()
		if j.rows != nil {
			g.rows.Put(j.rows)
		}
	}
}

func (g *parGroupBy) add(ctx context.Context, p *partition, j parJob) error {
	rec := j.rec
	if j.rows == nil {
		if err := p.st.addCols(ctx, rec.Columns(), int(rec.NumRows())); err != nil {
			return err
		}
		for _, r := range p.st.newRows {
			p.seen.add(j.base + int64(r))
		}
		return nil
	}
	rows := *j.rows
	if p.cols == nil {
		p.cols = make([]arrow.Array, rec.NumCols())
		p.bufs = make([]gatherBuf, len(g.used))
	}
	p.taken = p.taken[:0]
	defer func() {
		for _, a := range p.taken {
			a.Release()
		}
		clear(p.cols)
	}()
	cctx := exec.WithAllocator(ctx, g.mem)
	for u, c := range g.used {
		col := rec.Column(c)
		var a arrow.Array
		if w := fixedWidth(col.DataType()); w > 0 {
			// Into memory the next batch reuses: the aggregators copy what they keep and
			// the state copies the keys of new groups (borrowed).
			a = gatherFixed(g.mem, &p.bufs[u], col, w, rows)
		} else {
			var err error
			if a, err = take(cctx, g.mem, col, rows); err != nil {
				return dataErr(err, "group_by")
			}
		}
		p.taken = append(p.taken, a)
		p.cols[c] = a
	}
	if err := p.st.addCols(ctx, p.cols, len(rows)); err != nil {
		return err
	}
	for _, r := range p.st.newRows {
		p.seen.add(j.base + int64(rows[r]))
	}
	return nil
}

// result merges the partitions' groups back into first-seen order, one column at a time
// (the partitions' columns are let go once merged).
func (g *parGroupBy) result(ctx context.Context) (arrow.RecordBatch, error) {
	total := 0
	for _, p := range g.parts {
		total += p.st.groups
	}
	src := mergeOrder(g.parts, total)
	cols := make([]arrow.Array, 0, g.op.schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	chunks := make([]arrow.Array, 0, len(g.parts))
	release := func() {
		for _, ch := range chunks {
			ch.Release()
		}
		chunks = chunks[:0]
	}
	defer release()
	for c := range g.op.schema.NumFields() {
		for _, p := range g.parts {
			ch, err := p.st.column(c)
			if err != nil {
				return nil, err
			}
			chunks = append(chunks, ch)
		}
		out, err := interleave(ctx, g.mem, chunks, src)
		release()
		if err != nil {
			return nil, err
		}
		cols = append(cols, out)
	}
	return array.NewRecordBatch(g.op.schema, cols, int64(total)), nil
}

// mergeOrder returns, for each output group in first-seen order, the partition it is in.
// Each partition's groups already are in first-seen order, so the k-th group taken from a
// partition is its k-th.
func mergeOrder(parts []*partition, total int) []uint8 {
	src := make([]uint8, 0, total)
	type cursor struct {
		blocks []posBlock
		base   int64
		cur    []uint32 // what is left of the current block
	}
	cs := make([]cursor, len(parts))
	for k, p := range parts {
		cs[k].blocks = p.seen.blocks
	}
	for len(src) < total {
		best := -1
		var at int64
		for k := range cs {
			c := &cs[k]
			if len(c.cur) == 0 {
				if len(c.blocks) == 0 {
					continue
				}
				c.base, c.cur, c.blocks = c.blocks[0].base, c.blocks[0].off, c.blocks[1:]
			}
			if v := c.base + int64(c.cur[0]); best < 0 || v < at {
				best, at = k, v
			}
		}
		src = append(src, uint8(best))
		cs[best].cur = cs[best].cur[1:]
	}
	return src
}

// interleave builds the column whose k-th value is the next unused value of chunks[src[k]]:
// each chunk is read in order, once.
func interleave(ctx context.Context, mem memory.Allocator, chunks []arrow.Array, src []uint8) (arrow.Array, error) {
	n := len(src)
	dt := chunks[0].DataType()
	nulls := 0
	for _, c := range chunks {
		nulls += c.NullN()
	}
	var validBuf *memory.Buffer
	var valid []byte
	if nulls > 0 {
		validBuf = memory.NewResizableBuffer(mem)
		validBuf.Resize(int(bitutil.BytesForBits(int64(n))))
		defer validBuf.Release()
		valid = validBuf.Bytes()
		clear(valid)
		next := make([]int, len(chunks))
		for k, p := range src {
			if chunks[p].IsValid(next[p]) {
				bitutil.SetBit(valid, k)
			}
			next[p]++
		}
	}
	var bufs []*memory.Buffer
	switch w := fixedWidth(dt); {
	case w > 0:
		data := memory.NewResizableBuffer(mem)
		data.Resize(n * w)
		defer data.Release()
		switch w {
		case 1:
			interleaveT[uint8](data.Bytes(), chunks, src)
		case 2:
			interleaveT[uint16](data.Bytes(), chunks, src)
		case 4:
			interleaveT[uint32](data.Bytes(), chunks, src)
		default:
			interleaveT[uint64](data.Bytes(), chunks, src)
		}
		bufs = []*memory.Buffer{validBuf, data}
	case dt.ID() == arrow.STRING:
		bufs = interleaveStrings[int32](mem, chunks, src, validBuf)
		defer bufs[1].Release()
		defer bufs[2].Release()
	case dt.ID() == arrow.LARGE_STRING:
		bufs = interleaveStrings[int64](mem, chunks, src, validBuf)
		defer bufs[1].Release()
		defer bufs[2].Release()
	default:
		// Any other type (booleans): laid end to end, then taken in order.
		all, err := array.Concatenate(chunks, mem)
		if err != nil {
			return nil, err
		}
		defer all.Release()
		idx := make([]int32, n)
		start := make([]int32, len(chunks))
		for k := 1; k < len(chunks); k++ {
			start[k] = start[k-1] + int32(chunks[k-1].Len())
		}
		for k, p := range src {
			idx[k] = start[p]
			start[p]++
		}
		return take(exec.WithAllocator(ctx, mem), mem, all, idx)
	}
	d := array.NewData(dt, n, bufs, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

func interleaveT[T uint8 | uint16 | uint32 | uint64](dst []byte, chunks []arrow.Array, src []uint8) {
	if len(src) == 0 {
		return
	}
	size := int(unsafe.Sizeof(T(0)))
	d := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(dst))), len(src))
	vals := make([][]T, len(chunks))
	for k, c := range chunks {
		if c.Len() == 0 {
			continue
		}
		b := c.Data().Buffers()[1].Bytes()
		vals[k] = unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/size)[c.Data().Offset():]
	}
	next := make([]int, len(chunks))
	for k, p := range src {
		d[k] = vals[p][next[p]]
		next[p]++
	}
}

// interleaveStrings returns the buffers (validity, offsets, data) of the interleaved string
// column; the caller releases the offsets and data.
func interleaveStrings[O int32 | int64](mem memory.Allocator, chunks []arrow.Array, src []uint8, valid *memory.Buffer) []*memory.Buffer {
	offsets := make([][]O, len(chunks)) // per chunk, its Len()+1 offsets into its data
	datas := make([][]byte, len(chunks))
	size := 0
	for k, c := range chunks {
		switch c := c.(type) {
		case *array.String:
			offsets[k] = any(c.ValueOffsets()).([]O)
		case *array.LargeString:
			offsets[k] = any(c.ValueOffsets()).([]O)
		}
		if b := c.Data().Buffers()[2]; b != nil {
			datas[k] = b.Bytes()
		}
		if o := offsets[k]; len(o) > 0 {
			size += int(o[len(o)-1] - o[0])
		}
	}
	n := len(src)
	offBuf := memory.NewResizableBuffer(mem)
	offBuf.Resize((n + 1) * int(unsafe.Sizeof(O(0))))
	dataBuf := memory.NewResizableBuffer(mem)
	dataBuf.Resize(size)
	out := unsafe.Slice((*O)(unsafe.Pointer(unsafe.SliceData(offBuf.Bytes()))), n+1)
	data := dataBuf.Bytes()
	next := make([]int, len(chunks))
	pos := O(0)
	for k, p := range src {
		out[k] = pos
		o, i := offsets[p], next[p]
		next[p]++
		pos += O(copy(data[pos:], datas[p][o[i]:o[i+1]]))
	}
	out[n] = pos
	return []*memory.Buffer{valid, offBuf, dataBuf}
}

// fixedWidth is the byte width of a type whose values are one buffer of 1, 2, 4 or 8 bytes
// each (integers, floats, dates, timestamps), 0 for any other.
func fixedWidth(t arrow.DataType) int {
	switch t.ID() {
	case arrow.INT8, arrow.UINT8:
		return 1
	case arrow.INT16, arrow.UINT16:
		return 2
	case arrow.INT32, arrow.UINT32, arrow.FLOAT32, arrow.DATE32:
		return 4
	case arrow.INT64, arrow.UINT64, arrow.FLOAT64, arrow.DATE64, arrow.TIMESTAMP:
		return 8
	}
	return 0
}

// gatherBuf is memory a partition reuses for the rows it gathers of one column.
type gatherBuf struct{ data, valid []byte }

// gatherFixed returns rows of a, whose values are w bytes wide. With buf, the result lives
// in buf's memory until the next gather into it (it must not be kept); without, in memory
// from mem.
func gatherFixed(mem memory.Allocator, buf *gatherBuf, a arrow.Array, w int, rows []int32) arrow.Array {
	n := len(rows)
	var data, valid []byte
	var dataBuf, validBuf *memory.Buffer
	nulls := 0
	hasNulls := a.NullN() > 0
	if buf != nil {
		buf.data = growBytes(buf.data, n*w)
		data = buf.data
		dataBuf = memory.NewBufferBytes(data)
		if hasNulls {
			buf.valid = growBytes(buf.valid, int(bitutil.BytesForBits(int64(n))))
			valid = buf.valid
			validBuf = memory.NewBufferBytes(valid)
		}
	} else {
		dataBuf = memory.NewResizableBuffer(mem)
		dataBuf.Resize(n * w)
		defer dataBuf.Release()
		data = dataBuf.Bytes()
		if hasNulls {
			validBuf = memory.NewResizableBuffer(mem)
			validBuf.Resize(int(bitutil.BytesForBits(int64(n))))
			defer validBuf.Release()
			valid = validBuf.Bytes()
		}
	}
	src := a.Data().Buffers()[1].Bytes()
	off := a.Data().Offset()
	switch w {
	case 1:
		gatherT[uint8](data, src, off, rows)
	case 2:
		gatherT[uint16](data, src, off, rows)
	case 4:
		gatherT[uint32](data, src, off, rows)
	default:
		gatherT[uint64](data, src, off, rows)
	}
	if hasNulls {
		clear(valid)
		for k, r := range rows {
			if a.IsValid(int(r)) {
				bitutil.SetBit(valid, k)
			} else {
				nulls++
			}
		}
	}
	d := array.NewData(a.DataType(), n, []*memory.Buffer{validBuf, dataBuf}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

func growBytes(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n, max(n, 2*cap(b)))
	}
	return b[:n]
}

// gatherT copies the values at rows of src (an array's value buffer, off values in) to dst.
func gatherT[T uint8 | uint16 | uint32 | uint64](dst, src []byte, off int, rows []int32) {
	if len(rows) == 0 {
		return
	}
	size := int(unsafe.Sizeof(T(0)))
	d := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(dst))), len(rows))
	s := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(src))), len(src)/size)[off:]
	for k, r := range rows {
		d[k] = s[r]
	}
}

// positions is an append-only, increasing list of input positions in blocks: growing it
// copies nothing, and each position takes 4 bytes (its distance from its block's first).
type positions struct {
	blocks []posBlock
	n      int
}

type posBlock struct {
	base int64
	off  []uint32
}

const positionsBlock = 1 << 16

func (p *positions) add(v int64) {
	k := len(p.blocks) - 1
	if k < 0 || len(p.blocks[k].off) == positionsBlock || v-p.blocks[k].base > math.MaxUint32 {
		p.blocks = append(p.blocks, posBlock{base: v, off: make([]uint32, 0, positionsBlock)})
		k++
	}
	b := &p.blocks[k]
	b.off = append(b.off, uint32(v-b.base))
	p.n++
}
