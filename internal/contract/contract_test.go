package contract

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
)

func spec(t testing.TB, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber() // as the IR loader gives numbers
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, spec, want string }{
		{"unknown field", `{"colums": []}`, `unknown field "colums"`},
		{"bad policy", `{"extra_columns": "maybe"}`, `extra_columns: must be "forbid" or "allow"`},
		{"bad type", `{"columns": [{"name": "a", "type": "int65"}]}`, `type "int65" is not an Arrow type name`},
		{"missing type", `{"columns": [{"name": "a"}]}`, `columns.a: type must be`},
		{"duplicate column", `{"columns": [{"name": "a", "type": "int64"}, {"name": "a", "type": "int64"}]}`, `declared twice`},
		{"nullable not bool", `{"columns": [{"name": "a", "type": "int64", "nullable": "no"}]}`, `nullable: must be true or false`},
		{"two kinds", `{"checks": [{"row_count": {"min": 1}, "unique": ["a"]}]}`, `one check per entry`},
		{"no kind", `{"checks": [{"severity": "warn"}]}`, `names no check`},
		{"bad severity", `{"checks": [{"row_count": {"min": 1}, "severity": "fatal"}]}`, `severity: must be "error" or "warn"`},
		{"row_count empty", `{"checks": [{"row_count": {}}]}`, `give min, max, min_ratio or max_ratio`},
		{"row_count negative", `{"checks": [{"row_count": {"min": -1}}]}`, `min: must be a non-negative integer`},
		{"null ratio range", `{"checks": [{"null_ratio": {"column": "a", "max": 2}}]}`, `must be a number between 0 and 1`},
		{"freshness duration", `{"checks": [{"freshness": {"column": "a", "max_age": "1 day"}}]}`, `must be a positive duration`},
		{"rows_where empty", `{"checks": [{"rows_where": ""}]}`, `must be an expression`},
		{"unknown check arg", `{"checks": [{"range": {"column": "a", "mn": 0}}]}`, `unknown field "mn"`},
		{"undeclared column", `{"columns": [{"name": "a", "type": "int64"}], "checks": [{"unique": ["b"]}]}`, `names column "b", which is not declared`},
		{"same name", `{"checks": [{"row_count": {"min": 1}}, {"row_count": {"max": 9}}]}`, `two checks are named "row_count"`},
		{"bad decimal", `{"columns": [{"name": "a", "type": "decimal128(3, 5)"}]}`, `scale at most the precision`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(spec(t, c.spec))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse(%s) = %v, want an error containing %q", c.spec, err, c.want)
			}
		})
	}
}

func TestParseNames(t *testing.T) {
	c, err := Parse(spec(t, `{"columns": [{"name": "id", "type": "int64", "nullable": false},
		{"name": "status", "type": "string", "values": ["a", "b"]}, {"name": "amt", "type": "float64", "min": 0}],
		"unique": ["id"],
		"checks": [{"row_count": {"min": 1}}, {"row_count": {"min_ratio": 0.5}, "severity": "warn"},
			{"rows_where": "amt > 100", "name": "no_big"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ck := range c.Checks {
		got = append(got, ck.Name+"/"+ck.Kind+"/"+ck.Severity)
	}
	want := "not_null(id)/not_null/error values(status)/accepted_values/error range(amt)/range/error unique(id)/unique/error row_count/row_count/error row_count_change/row_count/warn no_big/rows_where/error"
	if strings.Join(got, " ") != want {
		t.Fatalf("checks:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if c.ExtraColumns != ExtraForbid {
		t.Fatalf("extra_columns default = %q, want forbid", c.ExtraColumns)
	}
	if c, err := Parse(nil); c != nil || err != nil {
		t.Fatalf("Parse(nil) = %v, %v; want no contract", c, err)
	}
}

func TestTypes(t *testing.T) {
	ts := func(u arrow.TimeUnit, tz string) arrow.DataType { return &arrow.TimestampType{Unit: u, TimeZone: tz} }
	cases := []struct {
		declared string
		actual   arrow.DataType
		ok       bool
	}{
		{"int64", arrow.PrimitiveTypes.Int64, true},
		{"int64", arrow.PrimitiveTypes.Int32, true},  // widens
		{"int32", arrow.PrimitiveTypes.Int64, false}, // narrows
		{"int64", arrow.PrimitiveTypes.Uint32, true},
		{"int32", arrow.PrimitiveTypes.Uint32, false},
		{"uint64", arrow.PrimitiveTypes.Int8, false},
		{"float64", arrow.PrimitiveTypes.Int32, true},
		{"float64", arrow.PrimitiveTypes.Int64, false}, // not every int64 is a float64
		{"float32", arrow.PrimitiveTypes.Int16, true},
		{"double", arrow.PrimitiveTypes.Float32, true},
		{"float32", arrow.PrimitiveTypes.Float64, false},
		{"string", arrow.BinaryTypes.String, true},
		{"utf8", arrow.BinaryTypes.String, true},
		{"large_string", arrow.BinaryTypes.String, true},
		{"string", arrow.BinaryTypes.LargeString, false},
		{"string", &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, true},
		{"bool", arrow.FixedWidthTypes.Boolean, true},
		{"date64", arrow.FixedWidthTypes.Date32, true},
		{"date32", arrow.FixedWidthTypes.Date64, false},
		{"timestamp[us, tz=UTC]", ts(arrow.Microsecond, "UTC"), true},
		{"timestamp[ns, tz=UTC]", ts(arrow.Millisecond, "UTC"), true},
		{"timestamp[ms, tz=UTC]", ts(arrow.Microsecond, "UTC"), false},
		{"timestamp[us]", ts(arrow.Microsecond, "UTC"), false},
		{"timestamp", ts(arrow.Nanosecond, "Europe/Paris"), true},
		{"decimal128(12, 2)", &arrow.Decimal128Type{Precision: 10, Scale: 2}, true},
		{"decimal(12, 4)", &arrow.Decimal128Type{Precision: 10, Scale: 2}, true},
		{"decimal(10, 3)", &arrow.Decimal128Type{Precision: 10, Scale: 2}, false},
		{"decimal", &arrow.Decimal128Type{Precision: 38, Scale: 9}, true},
		{"list<item: int64, nullable>", arrow.ListOf(arrow.PrimitiveTypes.Int64), true},
		{"int64", arrow.BinaryTypes.String, false},
	}
	for _, c := range cases {
		d, err := parseType(c.declared)
		if err != nil {
			t.Fatalf("parseType(%q): %v", c.declared, err)
		}
		if got := d.satisfies(c.actual); got != c.ok {
			t.Errorf("%s satisfies %s = %v, want %v", c.actual, c.declared, got, c.ok)
		}
	}
}

var ordersSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
}, nil)

// two batches: duplicates and nulls span them, so the checks must carry state across batches.
var orderBatches = []string{
	`[{"id": 1, "status": "paid", "amount": 10, "at": "2026-11-28T10:00:00Z"},
	  {"id": 2, "status": "paid", "amount": -5, "at": "2026-11-28T11:00:00Z"},
	  {"id": 3, "status": null, "amount": 7.5, "at": null}]`,
	`[{"id": 1, "status": "lost", "amount": 200, "at": "2026-11-28T12:00:00Z"},
	  {"id": null, "status": "refunded", "amount": null, "at": "2026-11-27T00:00:00Z"}]`,
}

func evaluate(t *testing.T, c *Contract, schema *arrow.Schema, batches []string, o Options) []Result {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	var recs []arrow.RecordBatch
	for _, b := range batches {
		rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	rr, err := array.NewRecordReader(schema, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	defer rr.Release()
	e, err := c.Evaluate(context.Background(), rr, mem)
	if err != nil {
		t.Fatal(err)
	}
	return e.Results(o)
}

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	prev := int64(10)
	cases := []struct {
		name string
		spec string
		prev *int64
		// want: check name → status, and a fragment of its message
		want map[string]string
	}{
		{"schema as declared", `{"columns": [{"name": "id", "type": "int64"}, {"name": "status", "type": "string"},
			{"name": "amount", "type": "double"}, {"name": "at", "type": "timestamp[us, tz=UTC]"}]}`, nil,
			map[string]string{"schema": "passed|4 columns as declared"}},
		{"schema violations", `{"columns": [{"name": "id", "type": "int32"}, {"name": "status", "type": "string"},
			{"name": "qty", "type": "int64"}]}`, nil,
			map[string]string{"schema(id)": "failed|column id is int64, declared int32", "schema(qty)": "failed|missing from the output",
				"schema(amount)": "failed|not declared (extra_columns: forbid)", "schema(at)": "failed|not declared"}},
		{"extra allowed", `{"columns": [{"name": "id", "type": "int64"}], "extra_columns": "allow"}`, nil,
			map[string]string{"schema": "passed|"}},
		{"column constraints", `{"columns": [{"name": "id", "type": "int64", "nullable": false},
			{"name": "status", "type": "string", "values": ["paid", "refunded"]}, {"name": "amount", "type": "float64", "min": 0, "max": 100},
			{"name": "at", "type": "timestamp"}], "unique": ["id"]}`, nil,
			map[string]string{"not_null(id)": "failed|1 nulls in id", "values(status)": "failed|1 rows have a value of status outside",
				"range(amount)": "failed|2 rows have amount outside [0, 100]", "unique(id)": "failed|1 rows repeat the key (id)"}},
		{"checks pass", `{"checks": [{"row_count": {"min": 5, "max": 5}}, {"null_ratio": {"column": "status", "max": 0.2}},
			{"unique": ["id", "status"]}, {"accepted_values": {"column": "status", "values": ["paid", "lost", "refunded"]}},
			{"range": {"column": "at", "min": "2026-11-27", "max": "2026-11-28T12:00:00Z"}},
			{"freshness": {"column": "at", "max_age": "2h"}}, {"rows_where": "amount > 1000"}]}`, nil,
			map[string]string{"row_count": "passed|5 rows", "null_ratio(status)": "passed|0.2 (1 of 5 rows)", "unique(id,status)": "passed|0 rows",
				"accepted_values(status)": "passed|0 rows", "range(at)": "passed|0 rows", "freshness(at)": "passed|2h0m0s old",
				"rows_where(amount > 1000)": "passed|0 rows where"}},
		{"checks fail", `{"checks": [{"row_count": {"min": 6}}, {"null_ratio": {"column": "amount", "max": 0.1}, "severity": "warn"},
			{"freshness": {"column": "at", "max_age": "1h"}}, {"rows_where": "amount < 0 OR status = 'lost'", "name": "bad_rows"},
			{"range": {"column": "status", "min": "m"}}]}`, nil,
			map[string]string{"row_count": "failed|fewer than 6", "null_ratio(amount)": "warned|0.2 (1 of 5 rows)",
				"freshness(at)": "failed|2h0m0s old (at most 1h0m0s", "bad_rows": "failed|2 rows where", "range(status)": "failed|1 rows have status outside [m, …]"}},
		{"relative row count", `{"checks": [{"row_count": {"min_ratio": 0.8, "max_ratio": 1.5}}]}`, &prev,
			map[string]string{"row_count_change": "failed|0.5× the 10 of the last committed run: below 0.8×"}},
		{"relative row count, first run", `{"checks": [{"row_count": {"min_ratio": 0.8}}]}`, nil,
			map[string]string{"row_count_change": "passed|no earlier committed run"}},
		{"unmeasurable", `{"checks": [{"unique": ["nope"]}, {"rows_where": "amount + 1"}, {"freshness": {"column": "status", "max_age": "1h"}}]}`, nil,
			map[string]string{"unique(nope)": "failed|column nope is not in the output", "rows_where(amount + 1)": "failed|not a condition",
				"freshness(status)": "failed|applies to timestamp and date columns"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct, err := Parse(spec(t, c.spec))
			if err != nil {
				t.Fatal(err)
			}
			rs := evaluate(t, ct, ordersSchema, orderBatches, Options{Now: now, PreviousRows: c.prev})
			got := map[string]Result{}
			for _, r := range rs {
				got[r.Name] = r
			}
			for name, want := range c.want {
				status, frag, _ := strings.Cut(want, "|")
				r, ok := got[name]
				if !ok {
					t.Errorf("no result %q in %+v", name, rs)
					continue
				}
				if r.Status() != status || !strings.Contains(r.Message, frag) {
					t.Errorf("%s: %s %q, want %s containing %q", name, r.Status(), r.Message, status, frag)
				}
			}
			if len(got) != len(rs) {
				t.Errorf("two results share a name: %+v", rs)
			}
		})
	}
}

func TestErr(t *testing.T) {
	ct, err := Parse(spec(t, `{"checks": [{"row_count": {"min": 100}}, {"rows_where": "amount < 0", "severity": "warn"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	rs := evaluate(t, ct, ordersSchema, orderBatches, Options{})
	e := Err("n", rs)
	if fault.ClassOf(e) != fault.Data || !strings.Contains(e.Error(), "row_count: 5 rows: fewer than 100") || strings.Contains(e.Error(), "amount < 0") {
		t.Fatalf("Err = %v (class %v), want a data error naming only the blocking check", e, fault.ClassOf(e))
	}
	if Err("n", rs[1:]) != nil {
		t.Fatal("a failed warn check must not block")
	}
}

// A dictionary-encoded column (as Parquet readers may give) is judged by its values.
func TestDictionary(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	b := array.NewDictionaryBuilder(mem, dt).(*array.BinaryDictionaryBuilder)
	defer b.Release()
	for _, s := range []string{"a", "b", "a", "c"} {
		if err := b.AppendString(s); err != nil {
			t.Fatal(err)
		}
	}
	b.AppendNull()
	arr := b.NewArray()
	defer arr.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: dt, Nullable: true}}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len()))
	defer rec.Release()
	ct, err := Parse(spec(t, `{"columns": [{"name": "s", "type": "string", "values": ["a", "b"]}], "checks": [{"unique": ["s"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := ct.Bind(schema, mem)
	if err := e.Observe(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	m := e.Measures()
	if m.Counts[0] != 1 || m.Counts[1] != 1 {
		t.Fatalf("counts = %v, want 1 value outside {a, b} and 1 repeated key", m.Counts)
	}
}

// The key sets grow past their first table and still count every repeat.
func TestKeySetGrows(t *testing.T) {
	ints, hashes := newU64Set(), newU128Set()
	var dupInts, dupHashes int
	for i := 0; i < 300_000; i++ {
		k := uint64(i % 200_000) // 100,000 repeats, key 0 included
		if ints.add(k) {
			dupInts++
		}
		if hashes.add([2]uint64{k * 31, k}) {
			dupHashes++
		}
	}
	if dupInts != 100_000 || dupHashes != 100_000 {
		t.Fatalf("repeats: %d and %d, want 100000", dupInts, dupHashes)
	}
}

// Keys outside the first key's bitmap window (negative, far away) are still counted.
func TestKeySetWindow(t *testing.T) {
	s := newU64Set()
	var dup int
	for _, k := range []int64{5, 1 << 40, -1, 5, 1 << 40, -1, 0, 0, 1<<27 + 5, 1<<27 + 5} {
		if s.add(uint64(k)) {
			dup++
		}
	}
	if dup != 5 {
		t.Fatalf("repeats: %d, want 5", dup)
	}
}
