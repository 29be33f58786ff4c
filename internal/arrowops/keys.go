package arrowops

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/aiflow-dev/aiflow/internal/arrowops/expr"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// keyClass groups key types whose values compare equal across sides of a join: all integers
// compare as int64, all floats as float64, utf8 and large_utf8 as bytes.
type keyClass int

const (
	kcInvalid keyClass = iota
	kcInt
	kcUint64
	kcFloat
	kcBool
	kcString
	kcDate32
	kcTimestamp
)

func classOf(t arrow.DataType) keyClass {
	switch {
	case t.ID() == arrow.UINT64:
		return kcUint64
	case expr.IsInteger(t):
		return kcInt
	case expr.IsFloat(t):
		return kcFloat
	case t.ID() == arrow.BOOL:
		return kcBool
	case expr.IsString(t):
		return kcString
	case t.ID() == arrow.DATE32:
		return kcDate32
	case t.ID() == arrow.TIMESTAMP:
		return kcTimestamp
	}
	return kcInvalid
}

// keyTypeNames lists the key types group_by and join accept, for error messages.
const keyTypeNames = "int8..int64, uint8..uint64, float32, float64, bool, string, large_string, date32, timestamp"

// toU64 writes the normalised 64-bit form of each value of a fixed-width key column into dst
// (len(dst) == a.Len()); values under nulls are unspecified.
func toU64(a arrow.Array, dst []uint64) {
	switch a := a.(type) {
	case *array.Int64:
		for i, v := range a.Int64Values() {
			dst[i] = uint64(v)
		}
	case *array.Int32:
		for i, v := range a.Int32Values() {
			dst[i] = uint64(int64(v))
		}
	case *array.Int16:
		for i, v := range a.Int16Values() {
			dst[i] = uint64(int64(v))
		}
	case *array.Int8:
		for i, v := range a.Int8Values() {
			dst[i] = uint64(int64(v))
		}
	case *array.Uint64:
		copy(dst, a.Uint64Values())
	case *array.Uint32:
		for i, v := range a.Uint32Values() {
			dst[i] = uint64(v)
		}
	case *array.Uint16:
		for i, v := range a.Uint16Values() {
			dst[i] = uint64(v)
		}
	case *array.Uint8:
		for i, v := range a.Uint8Values() {
			dst[i] = uint64(v)
		}
	case *array.Float64:
		for i, v := range a.Float64Values() {
			dst[i] = floatBits(v)
		}
	case *array.Float32:
		for i, v := range a.Float32Values() {
			dst[i] = floatBits(float64(v))
		}
	case *array.Date32:
		for i, v := range a.Date32Values() {
			dst[i] = uint64(int64(v))
		}
	case *array.Timestamp:
		for i, v := range a.TimestampValues() {
			dst[i] = uint64(int64(v))
		}
	case *array.Boolean:
		for i := range a.Len() {
			if a.Value(i) {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	default:
		panic(fmt.Sprintf("arrowops: no 64-bit key form for %s", a.DataType()))
	}
}

// floatBits normalises -0 to 0 and every NaN to one NaN so that equal keys hash equally.
func floatBits(v float64) uint64 {
	switch {
	case v == 0:
		return 0
	case v != v:
		return 0x7ff8000000000001
	}
	return math.Float64bits(v)
}

// encodeRows appends, for each row, a byte key of the key columns to buf and records the end
// offset of each row's key in ends. Every column contributes a null flag then its value (8 bytes
// for fixed-width, a 4-byte length and the bytes for strings).
func encodeRows(cols []arrow.Array, n int, buf []byte, ends []int, scratch []uint64) ([]byte, []int, []uint64) {
	buf = buf[:0]
	ends = ends[:0]
	if cap(scratch) < len(cols)*n {
		scratch = make([]uint64, len(cols)*n)
	}
	scratch = scratch[:len(cols)*n]
	encs := make([]func(i int, b []byte) []byte, len(cols))
	for c, a := range cols {
		switch a := a.(type) {
		case *array.String:
			encs[c] = func(i int, b []byte) []byte {
				v := a.Value(i)
				b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
				return append(b, v...)
			}
		case *array.LargeString:
			encs[c] = func(i int, b []byte) []byte {
				v := a.Value(i)
				b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
				return append(b, v...)
			}
		default:
			vals := scratch[c*n : (c+1)*n]
			toU64(a, vals)
			encs[c] = func(i int, b []byte) []byte { return binary.LittleEndian.AppendUint64(b, vals[i]) }
		}
	}
	for i := range n {
		for c, a := range cols {
			if a.IsNull(i) {
				buf = append(buf, 0)
				continue
			}
			buf = append(buf, 1)
			buf = encs[c](i, buf)
		}
		ends = append(ends, len(buf))
	}
	return buf, ends, scratch
}

// grouper assigns dense ids, in first-seen order, to distinct key tuples.
type grouper interface {
	// insert sets ids[i] to the group of row i, creating groups as needed, and appends to
	// newRows the rows that created a group. Rows with a null key form a group when
	// nullsGroup is set, and get -1 otherwise.
	insert(cols []arrow.Array, ids []int32, newRows []int32) []int32
	// lookup sets ids[i] to the group of row i or -1 if the key is unknown or has a null.
	lookup(cols []arrow.Array, ids []int32)
	len() int
}

func newGrouper(types []arrow.DataType, nullsGroup bool) grouper {
	if len(types) == 1 && classOf(types[0]) != kcString {
		return &u64Grouper{tab: newU64Table(1024), nullGroup: -1, nullsGroup: nullsGroup}
	}
	return &bytesGrouper{m: make(map[string]int32), nullGroup: -1, nullsGroup: nullsGroup}
}

// u64Grouper handles one fixed-width key with an open-addressing table.
type u64Grouper struct {
	tab        u64Table
	n          int32
	nullGroup  int32
	nullsGroup bool
	vals       []uint64
}

func (g *u64Grouper) len() int { return int(g.n) }

func (g *u64Grouper) prepare(a arrow.Array) []uint64 {
	if cap(g.vals) < a.Len() {
		g.vals = make([]uint64, a.Len())
	}
	v := g.vals[:a.Len()]
	toU64(a, v)
	return v
}

func (g *u64Grouper) insert(cols []arrow.Array, ids []int32, newRows []int32) []int32 {
	a := cols[0]
	vals := g.prepare(a)
	if a.NullN() == 0 {
		t := &g.tab
		for beg := 0; beg < len(vals); beg += touchRows {
			chunk := vals[beg:min(beg+touchRows, len(vals))]
			t.touch(chunk)
			for i, k := range chunk {
				id, isNew := t.findOrInsert(k, g.n)
				if isNew {
					g.n++
					newRows = append(newRows, int32(beg+i))
				}
				ids[beg+i] = id
			}
		}
		return newRows
	}
	for i, k := range vals {
		if i%touchRows == 0 {
			g.tab.touch(vals[i:min(i+touchRows, len(vals))])
		}
		if a.IsNull(i) {
			if !g.nullsGroup {
				ids[i] = -1
				continue
			}
			if g.nullGroup < 0 {
				g.nullGroup = g.n
				g.n++
				newRows = append(newRows, int32(i))
			}
			ids[i] = g.nullGroup
			continue
		}
		id, isNew := g.tab.findOrInsert(k, g.n)
		if isNew {
			g.n++
			newRows = append(newRows, int32(i))
		}
		ids[i] = id
	}
	return newRows
}

func (g *u64Grouper) lookup(cols []arrow.Array, ids []int32) {
	a := cols[0]
	vals := g.prepare(a)
	hasNulls := a.NullN() > 0
	for i, k := range vals {
		if i%touchRows == 0 {
			g.tab.touch(vals[i:min(i+touchRows, len(vals))])
		}
		if hasNulls && a.IsNull(i) {
			ids[i] = -1
			continue
		}
		ids[i] = g.tab.find(k)
	}
}

// bytesGrouper handles several keys or string keys through a byte-string encoding.
type bytesGrouper struct {
	m          map[string]int32
	n          int32
	nullGroup  int32
	nullsGroup bool
	buf        []byte
	ends       []int
	scratch    []uint64
}

func (g *bytesGrouper) len() int { return int(g.n) }

func anyNull(cols []arrow.Array, i int) bool {
	for _, c := range cols {
		if c.IsNull(i) {
			return true
		}
	}
	return false
}

func (g *bytesGrouper) insert(cols []arrow.Array, ids []int32, newRows []int32) []int32 {
	n := cols[0].Len()
	g.buf, g.ends, g.scratch = encodeRows(cols, n, g.buf, g.ends, g.scratch)
	hasNulls := false
	for _, c := range cols {
		hasNulls = hasNulls || c.NullN() > 0
	}
	beg := 0
	for i := range n {
		k := g.buf[beg:g.ends[i]]
		beg = g.ends[i]
		if !g.nullsGroup && hasNulls && anyNull(cols, i) {
			ids[i] = -1
			continue
		}
		id, ok := g.m[string(k)]
		if !ok {
			id = g.n
			g.m[string(k)] = id
			g.n++
			newRows = append(newRows, int32(i))
		}
		ids[i] = id
	}
	return newRows
}

func (g *bytesGrouper) lookup(cols []arrow.Array, ids []int32) {
	n := cols[0].Len()
	g.buf, g.ends, g.scratch = encodeRows(cols, n, g.buf, g.ends, g.scratch)
	hasNulls := false
	for _, c := range cols {
		hasNulls = hasNulls || c.NullN() > 0
	}
	beg := 0
	for i := range n {
		k := g.buf[beg:g.ends[i]]
		beg = g.ends[i]
		if hasNulls && anyNull(cols, i) {
			ids[i] = -1
			continue
		}
		id, ok := g.m[string(k)]
		if !ok {
			id = -1
		}
		ids[i] = id
	}
}

// u64Table is an open-addressing (linear probing) hash table from uint64 keys to int32 ids.
// Key and id share a slot so that a probe touches one cache line.
type u64Table struct {
	slots []u64Slot
	mask  uint64
	shift uint
	n     int
	sink  int32 // what touch loaded, kept so that its loads are not optimised away
}

type u64Slot struct {
	k uint64
	v int32 // id+1; 0 marks an empty slot
}

func newU64Table(capacity int) u64Table {
	size := 16
	for size < capacity*2 {
		size <<= 1
	}
	shift := uint(64)
	for s := size; s > 1; s >>= 1 {
		shift--
	}
	return u64Table{slots: make([]u64Slot, size), mask: uint64(size - 1), shift: shift}
}

func (t *u64Table) slot(k uint64) uint64 { return (k * 0x9E3779B97F4A7C15) >> t.shift }

// findOrInsert returns k's id, inserting it with id next if absent.
func (t *u64Table) findOrInsert(k uint64, next int32) (int32, bool) {
	slots, mask := t.slots, t.mask
	for s := t.slot(k); ; s = (s + 1) & mask {
		e := &slots[s]
		if e.v == 0 {
			e.k, e.v = k, next+1
			t.n++
			if t.n*2 > len(slots) {
				t.grow()
			}
			return next, true
		}
		if e.k == k {
			return e.v - 1, false
		}
	}
}

// touchRows is how many keys touch loads ahead of their probes: their slots' cache lines
// stay in the first-level caches until probed.
const touchRows = 256

// touch loads the home slot of each key. The loads do not depend on each other, so the CPU
// has many cache misses in flight at once, where the probe loop (each probe's branches wait
// for its load) has about one: on a table larger than the caches, the probes that follow
// find their slots cached.
func (t *u64Table) touch(keys []uint64) {
	slots := t.slots
	var x int32
	for _, k := range keys {
		x |= slots[t.slot(k)].v
	}
	t.sink = x
}

func (t *u64Table) find(k uint64) int32 {
	slots, mask := t.slots, t.mask
	for s := t.slot(k); ; s = (s + 1) & mask {
		e := &slots[s]
		if e.v == 0 {
			return -1
		}
		if e.k == k {
			return e.v - 1
		}
	}
}

func (t *u64Table) grow() {
	old := t.slots
	n := t.n
	*t = newU64Table(len(old))
	for _, e := range old {
		if e.v != 0 {
			for d := t.slot(e.k); ; d = (d + 1) & t.mask {
				if t.slots[d].v == 0 {
					t.slots[d] = e
					break
				}
			}
		}
	}
	t.n = n
}
