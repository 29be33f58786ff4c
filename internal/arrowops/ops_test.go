package arrowops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
)

func TestSteps(t *testing.T) {
	tests := []struct {
		name   string
		steps  string
		orders []string // default ordersBatches
		users  []string // default usersBatches
		schema string
		rows   []string
	}{
		{
			name:   "filter across batches with SQL nulls",
			steps:  `[{"filter": "amount > 0 AND status = 'paid' AND dt >= '2024-01-01'"}, {"select": ["user_id", "item_id"]}]`,
			schema: "user_id:int64, item_id:int64",
			rows:   []string{"1 | 10", "2 | 11", "1 | 13", "null | 14"},
		},
		{
			name:   "filter IN, OR, IS NULL",
			steps:  `[{"filter": "status IN ('open', 'refund') OR status IS NULL OR qty IS NULL"}, {"select": ["item_id"]}]`,
			schema: "item_id:int64",
			rows:   []string{"10", "12", "15"},
		},
		{
			name:   "filter constant true keeps all rows, constant null none",
			steps:  `[{"filter": "1 = 1"}, {"filter": "NOT (NULL = 1) OR TRUE"}, {"select": ["item_id"]}, {"limit": 2}]`,
			schema: "item_id:int64",
			rows:   []string{"10", "11"},
		},
		{
			name:   "filter drops everything",
			steps:  `[{"filter": "amount > 1000"}]`,
			schema: "user_id:int64, item_id:int64, amount:float64, status:utf8, dt:date32, qty:int32",
			rows:   nil,
		},
		{
			name:   "derive in key order, replace and append",
			steps:  `[{"derive": {"qty": "qty + 1", "amt2": "amount * 2", "big": "amount >= 100", "label": "upper(coalesce(status, 'none'))", "n": "length(status) % 3"}}, {"select": ["item_id", "qty", "amt2", "big", "label", "n"]}, {"limit": 4}]`,
			schema: "item_id:int64, qty:int32, amt2:float64, big:bool, label:utf8, n:int64",
			rows:   []string{"10 | 2 | 100 | false | PAID | 1", "11 | 3 | 300 | true | PAID | 1", "10 | 2 | -10 | false | REFUND | 0", "12 | null | 40 | false | OPEN | 1"},
		},
		{
			name:   "derive a constant is broadcast",
			steps:  `[{"derive": {"one": "1", "s": "'x'"}}, {"select": ["one", "s"]}, {"limit": 1}]`,
			schema: "one:int64, s:utf8",
			rows:   []string{"1 | x"},
		},
		{
			name:   "select drop rename cast",
			steps:  `[{"select": ["user_id", "amount", "status"]}, {"drop": ["status"]}, {"rename": {"amount": "amt"}}, {"cast": {"user_id": "string", "amt": "float32"}}, {"limit": 2}]`,
			schema: "user_id:utf8, amt:float32",
			rows:   []string{"1 | 50", "2 | 150"},
		},
		{
			name:   "group_by every aggregate, null key group, first-seen order",
			steps:  `[{"filter": "status = 'paid'"}, {"group_by": {"keys": ["user_id"], "aggs": {"order_cnt": "count(*)", "amt_sum": "sum(amount)", "n_items": "count_distinct(item_id)", "amt_min": "min(amount)", "amt_max": "max(amount)", "amt_avg": "avg(amount)", "n_nonnull": "count(amount)"}}}]`,
			schema: "user_id:int64, amt_avg:float64, amt_max:float64, amt_min:float64, amt_sum:float64, n_items:int64, n_nonnull:int64, order_cnt:int64",
			rows: []string{
				"1 | 75 | 100 | 50 | 150 | 2 | 2 | 2",
				"2 | 150 | 150 | 150 | 150 | 1 | 1 | 2",
				"null | 7.5 | 7.5 | 7.5 | 7.5 | 1 | 1 | 1",
			},
		},
		{
			name:   "enrich_orders: count and sum per user",
			steps:  `[{"group_by": {"keys": ["user_id"], "aggs": {"order_cnt_30d": "count(*)", "order_amt_30d": "sum(amount)"}}}]`,
			schema: "user_id:int64, order_amt_30d:float64, order_cnt_30d:int64",
			rows:   []string{"1 | 145 | 3", "2 | 150 | 2", "3 | 20 | 1", "null | 7.5 | 1", "4 | 30 | 1"},
		},
		{
			name:   "group_by two keys with string key, int sum, string min/max, date max",
			steps:  `[{"group_by": {"keys": ["status", "user_id"], "aggs": {"q": "sum(qty)", "lo": "min(status)", "last": "max(dt)", "d": "count_distinct(status)"}}}, {"limit": 3}]`,
			schema: "status:utf8, user_id:int64, d:int64, last:date32, lo:utf8, q:int64",
			rows:   []string{"paid | 1 | 1 | 2024-03-01 | paid | 4", "paid | 2 | 1 | 2024-02-02 | paid | 7", "refund | 1 | 1 | 2024-01-06 | refund | 1"},
		},
		{
			name:   "group_by without keys is one row",
			steps:  `[{"group_by": {"keys": [], "aggs": {"n": "count(*)", "s": "sum(qty)", "m": "max(status)"}}}]`,
			schema: "m:utf8, n:int64, s:int64",
			rows:   []string{"refund | 8 | 15"},
		},
		{
			name:   "group_by on empty input",
			steps:  `[{"group_by": {"keys": ["user_id"], "aggs": {"n": "count(*)"}}}]`,
			orders: []string{},
			schema: "user_id:int64, n:int64",
			rows:   nil,
		},
		{
			name:   "global aggregate on empty input is one row of zero and nulls",
			steps:  `[{"group_by": {"keys": [], "aggs": {"n": "count(*)", "s": "sum(amount)", "a": "avg(amount)"}}}]`,
			orders: []string{`[]`},
			schema: "a:float64, n:int64, s:float64",
			rows:   []string{"null | 0 | null"},
		},
		{
			name:   "all-null key and value column",
			steps:  `[{"filter": "qty IS NULL OR amount IS NULL"}, {"group_by": {"keys": ["qty"], "aggs": {"n": "count(*)", "s": "sum(amount)", "c": "count(amount)"}}}]`,
			orders: []string{`[{"user_id":1,"item_id":1,"amount":null,"status":"a","dt":"2024-01-01","qty":null},{"user_id":2,"item_id":2,"amount":null,"status":"b","dt":"2024-01-01","qty":null}]`},
			schema: "qty:int32, c:int64, n:int64, s:float64",
			rows:   []string{"null | 0 | 2 | null"},
		},
		{
			name:   "sort multi-key, descending, nulls last",
			steps:  `[{"sort": ["user_id", "-amount"]}, {"select": ["user_id", "amount"]}]`,
			schema: "user_id:int64, amount:float64",
			rows:   []string{"1 | 100", "1 | 50", "1 | -5", "2 | 150", "2 | null", "3 | 20", "4 | 30", "null | 7.5"},
		},
		{
			name:   "sort by string descending then limit",
			steps:  `[{"sort": ["-status", "item_id"]}, {"limit": 3}, {"select": ["status", "item_id"]}]`,
			schema: "status:utf8, item_id:int64",
			rows:   []string{"refund | 10", "paid | 10", "paid | 11"},
		},
		{
			name:   "sort empty input",
			steps:  `[{"sort": ["user_id"]}]`,
			orders: []string{},
			schema: "user_id:int64, item_id:int64, amount:float64, status:utf8, dt:date32, qty:int32",
		},
		{
			name:   "inner join multiplies rows on duplicate right keys",
			steps:  `[{"select": ["user_id", "item_id", "amount"]}, {"join": {"right": "users", "on": ["user_id"], "how": "inner"}}]`,
			schema: "user_id:int64, item_id:int64, amount:float64, name:utf8, amount_right:float64",
			rows: []string{
				"1 | 10 | 50 | ann | 1",
				"2 | 11 | 150 | bob | 2", "2 | 11 | 150 | bob2 | 3",
				"1 | 10 | -5 | ann | 1",
				"1 | 13 | 100 | ann | 1",
				"2 | 11 | null | bob | 2", "2 | 11 | null | bob2 | 3",
			},
		},
		{
			name:   "left join keeps unmatched and null keys",
			steps:  `[{"select": ["user_id", "item_id"]}, {"join": {"right": "users", "on": ["user_id"], "how": "left"}}, {"drop": ["amount"]}]`,
			schema: "user_id:int64, item_id:int64, name:utf8",
			rows: []string{
				"1 | 10 | ann", "2 | 11 | bob", "2 | 11 | bob2", "1 | 10 | ann",
				"3 | 12 | null", "1 | 13 | ann", "null | 14 | null",
				"2 | 11 | bob", "2 | 11 | bob2", "4 | 15 | null",
			},
		},
		{
			name:   "left join with empty right side",
			steps:  `[{"select": ["item_id", "user_id"]}, {"join": {"right": "users", "on": ["user_id"], "how": "left"}}, {"limit": 2}]`,
			users:  []string{},
			schema: "item_id:int64, user_id:int64, name:utf8, amount:float64",
			rows:   []string{"10 | 1 | null | null", "11 | 2 | null | null"},
		},
		{
			name:   "inner join with empty right side",
			steps:  `[{"join": {"right": "users", "on": ["user_id"]}}]`,
			users:  []string{`[]`},
			schema: "user_id:int64, item_id:int64, amount:float64, status:utf8, dt:date32, qty:int32, name:utf8, amount_right:float64",
		},
		{
			name:   "join on a string key after a derive",
			steps:  `[{"derive": {"name": "lower('BOB')"}}, {"select": ["item_id", "name"]}, {"join": {"right": "users", "on": ["name"]}}, {"limit": 1}]`,
			schema: "item_id:int64, name:utf8, user_id:int32, amount:float64",
			rows:   []string{"10 | bob | 2 | 2"},
		},
		{
			name:   "limit across batches",
			steps:  `[{"limit": 4}, {"select": ["item_id"]}]`,
			schema: "item_id:int64",
			rows:   []string{"10", "11", "10", "12"},
		},
		{
			name:   "limit 0",
			steps:  `[{"limit": 0}]`,
			schema: "user_id:int64, item_id:int64, amount:float64, status:utf8, dt:date32, qty:int32",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			orders, users := tc.orders, tc.users
			if orders == nil {
				orders = ordersBatches
			}
			if users == nil {
				users = usersBatches
			}
			p, rows, err := run(t, mem, tc.steps, orders, users)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := schemaString(p.Schema()); got != tc.schema {
				t.Errorf("schema\n got %s\nwant %s", got, tc.schema)
			}
			if strings.Join(rows, "\n") != strings.Join(tc.rows, "\n") {
				t.Errorf("rows\n got:\n  %s\nwant:\n  %s", strings.Join(rows, "\n  "), strings.Join(tc.rows, "\n  "))
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		steps string
		want  string
	}{
		{"unknown column in filter", `[{"filter": "amout > 0"}]`,
			`step 1 (filter): unknown column amout (did you mean "amount"?) (available: user_id, item_id, amount, status, dt, qty) at column 1`},
		{"parse error with position", `[{"filter": "amount >= 10 )"}]`, `step 1 (filter): unexpected token ')' at column 14`},
		{"filter not boolean", `[{"filter": "amount + 1"}]`, `predicate "amount + 1" is float64, not a boolean`},
		{"compare string with number", `[{"filter": "status > 3"}]`, `cannot compare utf8 with int64`},
		{"arith on string", `[{"derive": {"x": "status * 2"}}]`, `operator * needs numbers, got utf8 and int64`},
		{"bad date literal", `[{"filter": "dt > 'yesterday'"}]`, `cannot read 'yesterday' as date32`},
		{"unknown function", `[{"derive": {"x": "trim(status)"}}]`, `unknown function trim`},
		{"sum of string", `[{"group_by": {"keys": ["user_id"], "aggs": {"s": "sum(status)"}}}]`,
			`step 1 (group_by): aggs s: sum(status): utf8 is not a number`},
		{"unknown agg column", `[{"group_by": {"keys": ["user_id"], "aggs": {"s": "sum(amt)"}}}]`, `unknown column "amt" in sum(amt) (available: user_id,`},
		{"unknown aggregate", `[{"group_by": {"keys": ["user_id"], "aggs": {"s": "median(amount)"}}}]`, `unknown aggregate median`},
		{"star not count", `[{"group_by": {"keys": ["user_id"], "aggs": {"s": "sum(*)"}}}]`, `sum(*) is not an aggregate`},
		{"unknown key", `[{"group_by": {"keys": ["uid"], "aggs": {"n": "count(*)"}}}]`, `keys: unknown column "uid"`},
		{"agg name clashes with key", `[{"group_by": {"keys": ["user_id"], "aggs": {"user_id": "count(*)"}}}]`, `two columns named "user_id"`},
		{"select unknown", `[{"select": ["user_id", "nope"]}]`, `select: unknown column "nope" (available: user_id, item_id, amount, status, dt, qty)`},
		{"column gone after select", `[{"select": ["user_id"]}, {"filter": "amount > 0"}]`, `step 2 (filter): unknown column amount (available: user_id)`},
		{"rename collision", `[{"rename": {"amount": "qty"}}]`, `two columns named "qty"`},
		{"cast unknown type", `[{"cast": {"amount": "decimal"}}]`, `unknown type "decimal"`},
		{"join unknown input", `[{"join": {"right": "people", "on": ["user_id"]}}]`, `right input "people" not found (inputs: orders, users)`},
		{"join key type mismatch", `[{"join": {"right": "users", "on": ["name"]}}]`, `on (left side): unknown column "name"`},
		{"join key class mismatch", `[{"derive": {"name": "1"}}, {"join": {"right": "users", "on": ["name"]}}]`, `key "name" is int64 on the left but utf8 on the right`},
		{"join how", `[{"join": {"right": "users", "on": ["user_id"], "how": "outer"}}]`, `how must be inner or left`},
		{"sort unknown", `[{"sort": ["-nope"]}]`, `sort: unknown column "nope"`},
		{"negative limit", `[{"limit": -1}]`, `limit must be >= 0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps, err := DecodeSteps([]byte(tc.steps))
			if err != nil {
				t.Fatalf("DecodeSteps: %v", err)
			}
			_, err = Compile(steps, map[string]*arrow.Schema{"orders": ordersSchema, "users": usersSchema}, "orders")
			if err == nil {
				t.Fatalf("Compile succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n got %v\nwant it to contain %q", err, tc.want)
			}
			if c := fault.ClassOf(err); c != fault.Config {
				t.Errorf("class = %s, want config", c)
			}
		})
	}
}

func TestDecodeSteps(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`[{"filter": "a > 1", "limit": 3}]`, "step 1: step has several operations (filter, limit)"},
		{`[{}]`, "step has no operation"},
		{`[{"filtre": "a > 1"}]`, `step 1: unknown operation "filtre" (did you mean "filter"?)`},
		{`[{"filter": "a > 1"}, {"groupby": {}}]`, `step 2: unknown operation "groupby" (did you mean "group_by"?)`},
		{`[{"group_by": {"keys": ["a"], "agg": {}}}]`, `step 1 (group_by): unknown field "agg" (did you mean "aggs"?) (group_by takes keys, aggs)`},
		{`[{"join": {"right": "r", "onn": ["k"]}}]`, `step 1 (join): unknown field "onn" (did you mean "on"?)`},
		{`[{"sort": [1]}]`, `cannot unmarshal number`},
	} {
		_, err := DecodeSteps([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || fault.ClassOf(err) != fault.Config {
			t.Errorf("DecodeSteps(%s) = %v, want config error containing %q", tc.in, err, tc.want)
		}
		// A problem with one step names it, so validate can point at its line.
		var se *StepError
		if tc.want != `cannot unmarshal number` && (!errors.As(err, &se) || !strings.HasPrefix(err.Error(), fmt.Sprintf("step %d", se.Index+1))) {
			t.Errorf("DecodeSteps(%s) = %v: no StepError naming the step", tc.in, err)
		}
	}
}

func TestRunDataErrors(t *testing.T) {
	tests := []struct {
		name, steps, want string
	}{
		{"cast fails on a value", `[{"cast": {"amount": "int64"}}]`, "cast amount to int64"},
		{"integer overflow", `[{"derive": {"x": "user_id * 9223372036854775807"}}]`, "overflow"},
		{"modulo by zero", `[{"derive": {"x": "qty % 0"}}]`, "modulo by zero"},
		{"int division by zero", `[{"derive": {"x": "qty / (qty - qty)"}}]`, "divide by zero"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			_, _, err := run(t, mem, tc.steps, ordersBatches, usersBatches)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if c := fault.ClassOf(err); c != fault.Data {
				t.Errorf("class = %s, want data (%v)", c, err)
			}
		})
	}
}

func TestSumOverflow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	_, _, err := run(t, mem, `[{"group_by": {"keys": [], "aggs": {"s": "sum(user_id)"}}}]`,
		[]string{`[{"user_id": 9223372036854775807}, {"user_id": 1}]`}, nil)
	if err == nil || fault.ClassOf(err) != fault.Data || !strings.Contains(err.Error(), "overflows") {
		t.Fatalf("err = %v, want a data error about overflow", err)
	}
}

func TestCancel(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	steps, _ := DecodeSteps([]byte(`[{"filter": "amount > 0"}, {"group_by": {"keys": ["user_id"], "aggs": {"n": "count(*)"}}}]`))
	p, err := Compile(steps, map[string]*arrow.Schema{"orders": ordersSchema}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := reader(t, mem, ordersSchema, ordersBatches)
	defer in.Release()
	out, err := p.Run(ctx, map[string]array.RecordReader{"orders": in}, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if out.Next() {
		t.Fatal("Next after cancel returned a batch")
	}
	if !errors.Is(out.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", out.Err())
	}
}

func TestRunChecksInputs(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p, err := Compile(nil, map[string]*arrow.Schema{"orders": ordersSchema}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	in := reader(t, mem, usersSchema, nil)
	defer in.Release()
	if _, err := p.Run(context.Background(), map[string]array.RecordReader{"orders": in}, mem); fault.ClassOf(err) != fault.Data {
		t.Fatalf("Run with another schema: %v, want a data error", err)
	}
	if _, err := p.Run(context.Background(), map[string]array.RecordReader{}, mem); fault.ClassOf(err) != fault.Config {
		t.Fatalf("Run without the input: %v, want a config error", err)
	}
}

func TestParseType(t *testing.T) {
	for _, name := range TypeNames {
		if _, err := ParseType(name); err != nil {
			t.Errorf("ParseType(%q): %v", name, err)
		}
	}
	tt, err := ParseType("timestamp[ms, Europe/Paris]")
	if err != nil || tt.String() != "timestamp[ms, tz=Europe/Paris]" {
		t.Errorf("ParseType(timestamp with zone) = %v, %v", tt, err)
	}
}

// TestParseTypeReadsArrowNames: a manifest records types with DataType.String(); they must parse
// back to the same type (empty outputs are rebuilt from their manifest schema).
func TestParseTypeReadsArrowNames(t *testing.T) {
	for _, dt := range []arrow.DataType{
		arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64, arrow.BinaryTypes.String, arrow.BinaryTypes.Binary,
		arrow.FixedWidthTypes.Date32, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
		&arrow.TimestampType{Unit: arrow.Microsecond},
	} {
		got, err := ParseType(dt.String())
		if err != nil || !arrow.TypeEqual(got, dt) {
			t.Errorf("ParseType(%q) = %v, %v; want %v", dt.String(), got, err, dt)
		}
	}
}

// Only what arrow says is wrong with a value is bad data; any other unclassified error of a
// step is a bug (exit 1, retried), not exit 65.
func TestDataErrClasses(t *testing.T) {
	for _, c := range []struct {
		err  error
		want fault.Class
	}{
		{fmt.Errorf("%w: overflow", arrow.ErrInvalid), fault.Data},
		{fmt.Errorf("%w: index 9 out of range", arrow.ErrIndex), fault.Data},
		{errors.New("unexpected nil buffer"), fault.Internal},
		{fault.Configf("bad column"), fault.Config},
		{context.Canceled, fault.Temporary},
	} {
		if got := fault.ClassOf(dataErr(c.err, "filter")); got != c.want {
			t.Errorf("%v: class %s, want %s", c.err, got, c.want)
		}
	}
}
