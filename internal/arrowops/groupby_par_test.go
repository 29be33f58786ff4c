package arrowops

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
)

// parSchema has a column of every key and aggregate type.
var parSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "k8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "ku", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "ks", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "kls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "kb", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "kf", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "kd", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "kt", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// parData builds batches of random rows: keys drawn from `keys` distinct values (null with
// probability nullP), floats of widely different magnitudes (so that adding them in another
// order changes the last bits of a sum), batch sizes varying (some empty).
func parData(t *testing.T, mem memory.Allocator, rows, keys int, nullP float64, seed uint64) []arrow.RecordBatch {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	b := array.NewRecordBuilder(mem, parSchema)
	defer b.Release()
	var recs []arrow.RecordBatch
	null := func() bool { return rng.Float64() < nullP }
	for done := 0; done < rows; {
		n := min(rng.IntN(3000), rows-done)
		if rng.IntN(10) == 0 {
			n = 0
		}
		for range n {
			k := rng.IntN(keys)
			for c := range parSchema.NumFields() {
				f := b.Field(c)
				if null() {
					f.AppendNull()
					continue
				}
				switch f := f.(type) {
				case *array.Int64Builder:
					f.Append(int64(k)*7919 - 1000)
				case *array.Int8Builder:
					f.Append(int8(k % 200))
				case *array.Uint64Builder:
					f.Append(uint64(k) * 0x9E3779B97F4A7C15)
				case *array.StringBuilder:
					if c == parSchema.NumFields()-1 {
						f.Append(fmt.Sprintf("v%d", rng.IntN(50)))
					} else {
						f.Append(fmt.Sprintf("key-%d", k))
					}
				case *array.LargeStringBuilder:
					f.Append(strings.Repeat("x", k%5) + fmt.Sprint(k))
				case *array.BooleanBuilder:
					f.Append(k%2 == 0)
				case *array.Float64Builder:
					if c == 6 { // kf: a float key, with -0 and NaN among the keys
						switch k % 50 {
						case 0:
							f.Append(math.Copysign(0, -1))
						case 1:
							f.Append(math.NaN())
						default:
							f.Append(float64(k) / 3)
						}
					} else {
						f.Append((rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(30)-10)))
					}
				case *array.Float32Builder:
					f.Append(float32(rng.NormFloat64() * 1e6))
				case *array.Date32Builder:
					f.Append(arrow.Date32(k % 3000))
				case *array.TimestampBuilder:
					f.Append(arrow.Timestamp(int64(k) * 1_000_003))
				case *array.Int32Builder:
					f.Append(int32(rng.IntN(1 << 20)))
				default:
					t.Fatalf("no generator for %T", f)
				}
			}
		}
		recs = append(recs, b.NewRecordBatch())
		done += n
	}
	return recs
}

// runGroupBy runs steps over recs with group_by partitioned p ways and returns the output as
// one record.
func runGroupBy(t *testing.T, mem memory.Allocator, steps string, recs []arrow.RecordBatch, p int) (arrow.RecordBatch, error) {
	t.Helper()
	old := groupByParallelism
	groupByParallelism = func() int { return p }
	defer func() { groupByParallelism = old }()
	st, err := DecodeSteps([]byte(steps))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Compile(st, map[string]*arrow.Schema{"t": parSchema}, "t")
	if err != nil {
		t.Fatal(err)
	}
	in, err := array.NewRecordReader(parSchema, recs)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	out, err := plan.Run(context.Background(), map[string]array.RecordReader{"t": in}, mem)
	if err != nil {
		return nil, err
	}
	defer out.Release()
	var batches []arrow.RecordBatch
	for out.Next() {
		r := out.RecordBatch()
		r.Retain()
		batches = append(batches, r)
	}
	defer func() {
		for _, r := range batches {
			r.Release()
		}
	}()
	if err := out.Err(); err != nil {
		return nil, err
	}
	tbl := array.NewTableFromRecords(plan.Schema(), batches)
	defer tbl.Release()
	cols := make([]arrow.Array, tbl.NumCols())
	for c := range cols {
		a, err := array.Concatenate(tbl.Column(c).Data().Chunks(), mem)
		if err != nil {
			if tbl.NumRows() == 0 {
				a = array.MakeArrayOfNull(mem, tbl.Schema().Field(c).Type, 0)
			} else {
				t.Fatal(err)
			}
		}
		defer a.Release()
		cols[c] = a
	}
	return array.NewRecordBatch(plan.Schema(), cols, tbl.NumRows()), nil
}

// allAggs is every aggregate function over every type it takes.
const allAggs = `{"n": "count(*)", "nf": "count(f64)", "cd": "count_distinct(i32)", "cds": "count_distinct(s)",
	"si": "sum(i32)", "sf": "sum(f64)", "sf32": "sum(f32)", "a": "avg(f64)", "ai": "avg(i32)",
	"mn": "min(f64)", "mx": "max(i32)", "mns": "min(s)", "mxs": "max(s)", "mnd": "min(kd)", "mxt": "max(kt)"}`

// TestParallelGroupByMatchesOneGoroutine: the partitioned group_by gives the one-goroutine
// result exactly, in the same order (first seen), float sums to the last bit, at several
// partition counts.
func TestParallelGroupByMatchesOneGoroutine(t *testing.T) {
	tests := []struct {
		name        string
		keys        string
		rows, keysN int
		nullP       float64
		aggs        string
	}{
		{"int64 key, every aggregate, nulls", `["k64"]`, 20000, 500, 0.05, allAggs},
		{"many groups", `["k64"]`, 30000, 25000, 0.01, `{"n": "count(*)", "s": "sum(f64)", "a": "avg(f64)"}`},
		{"one group", `["kb"]`, 5000, 1, 0, allAggs},
		{"empty input", `["k64"]`, 0, 1, 0, allAggs},
		{"all keys null", `["k8"]`, 3000, 10, 1, `{"n": "count(*)", "s": "sum(f64)"}`},
		{"string key", `["ks"]`, 20000, 700, 0.05, allAggs},
		{"large string key", `["kls"]`, 10000, 300, 0.05, `{"n": "count(*)", "mx": "max(s)"}`},
		{"several keys of every type", `["kb", "k8", "ku", "kf", "kd", "kt", "ks"]`, 20000, 900, 0.03, allAggs},
		{"float key with -0 and NaN", `["kf"]`, 10000, 400, 0.05, `{"n": "count(*)", "s": "sum(f64)"}`},
		{"keys only", `["k64", "ks"]`, 10000, 800, 0.05, `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			recs := parData(t, mem, tc.rows, tc.keysN, tc.nullP, uint64(len(tc.name)))
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			steps := fmt.Sprintf(`[{"group_by": {"keys": %s, "aggs": %s}}]`, tc.keys, tc.aggs)
			want, err := runGroupBy(t, mem, steps, recs, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer want.Release()
			if tc.rows > 0 && want.NumRows() == 0 {
				t.Fatal("no groups")
			}
			for _, p := range []int{2, 3, 8} {
				got, err := runGroupBy(t, mem, steps, recs, p)
				if err != nil {
					t.Fatalf("%d partitions: %v", p, err)
				}
				if !sameRecord(want, got) {
					t.Errorf("%d partitions: result differs from one goroutine's\n got %v\nwant %v", p, head(got), head(want))
				}
				got.Release()
			}
		})
	}
}

// sameRecord compares two records value by value; floats by their bits (NaN equals NaN, a
// last-bit difference is a difference).
func sameRecord(a, b arrow.RecordBatch) bool {
	if a.NumRows() != b.NumRows() || !a.Schema().Equal(b.Schema()) {
		return false
	}
	for c := range a.NumCols() {
		x, y := a.Column(int(c)), b.Column(int(c))
		for i := range x.Len() {
			if x.IsNull(i) != y.IsNull(i) {
				return false
			}
			if x.IsNull(i) {
				continue
			}
			switch x := x.(type) {
			case *array.Float64:
				if math.Float64bits(x.Value(i)) != math.Float64bits(y.(*array.Float64).Value(i)) {
					return false
				}
			default:
				if x.ValueStr(i) != y.ValueStr(i) {
					return false
				}
			}
		}
	}
	return true
}

func head(r arrow.RecordBatch) string {
	var b strings.Builder
	for i := range min(int(r.NumRows()), 5) {
		for c := range r.NumCols() {
			fmt.Fprintf(&b, "%s ", r.Column(int(c)).ValueStr(i))
		}
		b.WriteString("; ")
	}
	return fmt.Sprintf("%d rows: %s", r.NumRows(), b.String())
}

// TestParallelGroupByErrors: a data error in one partition stops the others and is the
// error reported, classified, with no batch leaked.
func TestParallelGroupByErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := parData(t, mem, 20000, 100, 0, 3)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	big := array.NewRecordBuilder(mem, parSchema)
	defer big.Release()
	big.Field(0).(*array.Int64Builder).Append(42)
	big.Field(2).(*array.Uint64Builder).Append(math.MaxUint64)
	for c := range parSchema.NumFields() {
		if c != 0 && c != 2 {
			big.Field(c).AppendNull()
		}
	}
	bad := big.NewRecordBatch()
	defer bad.Release()
	all := append(append([]arrow.RecordBatch{}, recs[:len(recs)/2]...), bad)
	all = append(all, recs[len(recs)/2:]...)
	for _, p := range []int{1, 2, 4} {
		_, err := runGroupBy(t, mem, `[{"group_by": {"keys": ["k64"], "aggs": {"s": "sum(ku)"}}}]`, all, p)
		if err == nil || fault.ClassOf(err) != fault.Data || !strings.Contains(err.Error(), "overflows") {
			t.Errorf("%d partitions: err = %v, want a data error about overflow", p, err)
		}
	}
}

// TestParallelGroupByCancel: cancelling while partitions work stops them, releases every
// batch and returns the cancellation.
func TestParallelGroupByCancel(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := parData(t, mem, 20000, 1000, 0, 5)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	old := groupByParallelism
	groupByParallelism = func() int { return 4 }
	defer func() { groupByParallelism = old }()
	st, _ := DecodeSteps([]byte(`[{"group_by": {"keys": ["k64"], "aggs": {"n": "count(*)"}}}]`))
	plan, err := Compile(st, map[string]*arrow.Schema{"t": parSchema}, "t")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &cancelAfter{RecordReader: mustReader(t, recs), n: 3, cancel: cancel}
	defer in.Release()
	out, err := plan.Run(ctx, map[string]array.RecordReader{"t": in}, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if out.Next() {
		t.Fatal("Next after cancel returned a batch")
	}
	if out.Err() == nil || !strings.Contains(out.Err().Error(), "context canceled") {
		t.Fatalf("Err = %v, want context.Canceled", out.Err())
	}
}

func mustReader(t *testing.T, recs []arrow.RecordBatch) array.RecordReader {
	t.Helper()
	r, err := array.NewRecordReader(parSchema, recs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// cancelAfter cancels its context once n batches were read.
type cancelAfter struct {
	array.RecordReader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Next() bool {
	if c.n == 0 {
		c.cancel()
	}
	c.n--
	return c.RecordReader.Next()
}

// TestMergeOrderFarPositions: first-seen positions more than 2^32 rows apart (a block starts
// anew) still merge in order.
func TestMergeOrderFarPositions(t *testing.T) {
	a, b := &partition{}, &partition{}
	for _, v := range []int64{0, 7, 1 << 33, 1<<33 + 2, 1 << 40} {
		a.seen.add(v)
	}
	for _, v := range []int64{5, 1<<32 + 9, 1<<33 + 1, 1<<41 + 3} {
		b.seen.add(v)
	}
	got := fmt.Sprint(mergeOrder([]*partition{a, b}, 9))
	if want := "[0 1 0 1 0 1 0 0 1]"; got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
}
