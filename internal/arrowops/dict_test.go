package arrowops

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/internal/arrowdict"
)

// dictReader is orders with status as dictionary<int32, string> (deduplicated values, as a
// Parquet dictionary page gives them): what readers.DictionaryReader streams.
func dictReader(t *testing.T, mem memory.Allocator) array.RecordReader {
	t.Helper()
	plain := reader(t, mem, ordersSchema, ordersBatches)
	defer plain.Release()
	fields := ordersSchema.Fields()
	si := ordersSchema.FieldIndices("status")[0]
	fields[si].Type = arrowdict.Type
	sc := arrow.NewSchema(fields, nil)
	var recs []arrow.RecordBatch
	for plain.Next() {
		rec := plain.RecordBatch()
		b := array.NewDictionaryBuilder(mem, arrowdict.Type).(*array.BinaryDictionaryBuilder)
		col := rec.Column(si).(*array.String)
		for i := range col.Len() {
			if col.IsNull(i) {
				b.AppendNull()
			} else if err := b.AppendString(col.Value(i)); err != nil {
				t.Fatal(err)
			}
		}
		d := b.NewArray()
		b.Release()
		cols := slices.Clone(rec.Columns())
		cols[si] = d
		recs = append(recs, array.NewRecordBatch(sc, cols, rec.NumRows()))
		d.Release()
	}
	rr, err := array.NewRecordReader(sc, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	return rr
}

// A plan whose first step is a filter takes string columns as dictionaries: every predicate
// (dictionary-aware comparisons, and functions that need the strings) and every later step
// see the same rows as with plain strings, and nothing downstream sees a dictionary.
func TestDictionaryInput(t *testing.T) {
	for _, steps := range []string{
		`[{"filter": "status = 'paid'"}]`,
		`[{"filter": "status != 'paid'"}]`,
		`[{"filter": "status <> 'paid' AND amount > 10"}]`,
		`[{"filter": "status IN ('paid', 'open')"}]`,
		`[{"filter": "status NOT IN ('paid')"}]`,
		`[{"filter": "status IS NULL OR status = 'refund'"}]`,
		`[{"filter": "lower(status) = 'paid' OR length(status) = 4"}]`,
		`[{"filter": "status < 'p'"}]`,
		`[{"filter": "coalesce(status, 'none') = 'none'"}]`,
		`[{"filter": "amount > -100"}]`,
		`[{"filter": "amount > 1000"}]`,
		`[{"filter": "status = 'paid' AND amount > 0"}, {"group_by": {"keys": ["user_id"], "aggs": {"n": "count(*)", "s": "sum(amount)"}}}]`,
		`[{"filter": "amount > 0"}, {"group_by": {"keys": ["status"], "aggs": {"n": "count(*)"}}}]`,
		`[{"filter": "qty > 1"}, {"derive": {"s2": "upper(status)"}}, {"select": ["s2", "status"]}]`,
	} {
		t.Run(steps, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			p, want, err := run(t, mem, steps, ordersBatches, usersBatches)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.DictionaryColumns(); !slices.Equal(got, []string{"status"}) {
				t.Fatalf("DictionaryColumns = %v, want [status]", got)
			}
			in := dictReader(t, mem)
			defer in.Release()
			users := reader(t, mem, usersSchema, usersBatches)
			defer users.Release()
			out, err := p.Run(context.Background(), map[string]array.RecordReader{"orders": in, "users": users}, mem)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			if !out.Schema().Equal(p.Schema()) {
				t.Fatalf("schema %s, want %s", out.Schema(), p.Schema())
			}
			got, err := drain(t, schemaChecked{out, t, p.Schema()})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("with a dictionary input:\n%v\nwith plain strings:\n%v", got, want)
			}
		})
	}
}

// Without a first filter, no dictionary is asked for, and a dictionary input is refused as a
// changed schema.
func TestDictionaryColumnsOnlyBeforeAFilter(t *testing.T) {
	steps, err := DecodeSteps([]byte(`[{"select": ["status"]}, {"filter": "status = 'paid'"}]`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(steps, map[string]*arrow.Schema{"orders": ordersSchema}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.DictionaryColumns(); got != nil {
		t.Fatalf("DictionaryColumns = %v, want none", got)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := dictReader(t, mem)
	defer in.Release()
	if out, err := p.Run(context.Background(), map[string]array.RecordReader{"orders": in}, mem); err == nil {
		out.Release()
		t.Fatal("a dictionary input ran through a plan that does not take it")
	}
}

// schemaChecked fails the test when a batch's schema is not want.
type schemaChecked struct {
	array.RecordReader
	t    *testing.T
	want *arrow.Schema
}

func (r schemaChecked) Next() bool {
	ok := r.RecordReader.Next()
	if ok && !r.RecordBatch().Schema().Equal(r.want) {
		r.t.Fatalf("batch schema %s, want %s", r.RecordBatch().Schema(), r.want)
	}
	return ok
}

// avg shares the state of a sum or count of the same column (avgAgg.link): alone or beside
// sum(amount), count(amount), count(*) (amount has a null) and aggregates of other columns, it
// gives the same averages.
func TestAvgSharesSumAndCount(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	avgOnly := func(aggs string) []string {
		_, rows, err := run(t, mem, `[{"group_by": {"keys": ["user_id"], "aggs": {`+aggs+`}}}]`, ordersBatches, usersBatches)
		if err != nil {
			t.Fatal(err)
		}
		// user_id | a | ...: keep the key and the average.
		out := make([]string, len(rows))
		for i, r := range rows {
			f := strings.Split(r, " | ")
			out[i] = f[0] + " | " + f[1]
		}
		return out
	}
	want := avgOnly(`"a": "avg(amount)"`)
	if !slices.Contains(want, "2 | 150") || !slices.Contains(want, "1 | 48.333333333333336") {
		t.Fatalf("avg alone: %v", want)
	}
	for _, aggs := range []string{
		`"a": "avg(amount)", "s": "sum(amount)"`,
		`"a": "avg(amount)", "s": "sum(amount)", "n": "count(*)"`,
		`"a": "avg(amount)", "n": "count(*)"`,
		`"a": "avg(amount)", "n": "count(amount)", "z": "count(*)"`,
		`"a": "avg(amount)", "q": "sum(qty)", "n": "count(qty)"`,
		`"a": "avg(amount)", "b": "avg(amount)", "s": "sum(amount)"`,
	} {
		if got := avgOnly(aggs); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", aggs, got, want)
		}
	}
}

// sum keeps no per-group validity until its column has a null (validSet): a group whose only
// values are null sums to null, whether it appears before, with or after the first null.
func TestSumValidityFromFirstNull(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	batches := []string{
		`[{"user_id":1,"amount":1.5},{"user_id":2,"amount":2}]`,
		`[{"user_id":3,"amount":null},{"user_id":1,"amount":1},{"user_id":5,"amount":null},{"user_id":5,"amount":4}]`,
		`[{"user_id":4,"amount":8},{"user_id":6,"amount":null},{"user_id":2,"amount":null}]`,
	}
	_, rows, err := run(t, mem, `[{"group_by": {"keys": ["user_id"], "aggs": {"s": "sum(amount)", "a": "avg(amount)"}}}]`, batches, usersBatches)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1 | 1.25 | 2.5", "2 | 2 | 2", "3 | null | null", "5 | 4 | 4", "4 | 8 | 8", "6 | null | null"}
	if !slices.Equal(rows, want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
}
