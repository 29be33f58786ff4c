package expr

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestParse(t *testing.T) {
	tests := []struct{ src, want string }{
		{"a + b * 2", "(a + (b * 2))"},
		{"(a + b) * 2", "((a + b) * 2)"},
		{"a > 0 AND b = 'x' OR NOT c", "(((a > 0) AND (b = 'x')) OR (NOT c))"},
		{"a <> 1", "(a != 1)"},
		{"x IS NOT NULL and y is null", "((x IS NOT NULL) AND (y IS NULL))"},
		{"s NOT IN ('a', 'it''s')", "(s NOT IN ('a', 'it''s'))"},
		{`"odd name" >= DATE '2024-01-01'`, `("odd name" >= DATE '2024-01-01')`},
		{"-a - -3", "((- a) - -3)"},
		{"coalesce(a, lower(b), 1.5e3)", "coalesce(a, lower(b), 1.5e3)"},
		{"count(*)", "count(*)"},
		{"-9223372036854775808", "-9223372036854775808"},
	}
	for _, tc := range tests {
		n, err := Parse(tc.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.src, err)
			continue
		}
		if got := n.String(); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.src, got, tc.want)
		}
		// The rendering parses back to itself.
		if n2, err := Parse(n.String()); err != nil || n2.String() != n.String() {
			t.Errorf("reparse of %s: %v %v", n, n2, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"amount >= 10 )", "unexpected token ')' at column 14"},
		{"a +", "unexpected end of expression at column 4"},
		{"a = 'open", "unterminated string at column 5"},
		{"(a", "expected ')', found end of expression at column 3"},
		{"a ! b", "unexpected character '!' (did you mean NOT, or != for not equal?) at column 3"},
		{"status == 'paid'", "unexpected '==' (did you mean '='? SQL compares with a single =) at column 8"},
		{"a > 1 && b", "unexpected '&&' (did you mean AND?) at column 7"},
		{"a > 1 || b", "unexpected '||' (did you mean OR?) at column 7"},
		{"a IS 3", "unexpected token '3' at column 6"},
		{"a IN ()", "unexpected token ')' at column 7"},
		{"é = 1 AND AND", "unexpected token 'AND' at column 11"},
		{"12abc", `invalid number "12a" at column 3`},
		{"a # b", "unexpected character '#' at column 3"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.src)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) error = %v, want %q", tc.src, err, tc.want)
		}
	}
	if _, err := Parse(strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000)); err == nil {
		t.Error("deep nesting parsed")
	}
}

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
	{Name: "u", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "odd name", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

const testRows = `[
 {"i": 1, "f": 1.5, "s": "Apple", "b": true, "d": "2024-01-01", "ts": "2024-01-01 10:00:00", "u": 200, "odd name": 7},
 {"i": -2, "f": null, "s": "épée", "b": false, "d": "2023-12-31", "ts": "2023-12-31 23:59:59", "u": 1, "odd name": 8},
 {"i": null, "f": 3, "s": null, "b": null, "d": null, "ts": null, "u": null, "odd name": null}
]`

func TestEval(t *testing.T) {
	tests := []struct {
		src, typ string
		want     []string
	}{
		{"i + 1", "int32", []string{"2", "-1", "null"}},
		{"i + 3000000000", "int64", []string{"3000000001", "2999999998", "null"}},
		{"i * f", "float64", []string{"1.5", "null", "null"}},
		{"i / 2", "int32", []string{"0", "-1", "null"}},
		{"i % 2", "int32", []string{"1", "0", "null"}},
		{"f % 2", "float64", []string{"1.5", "null", "1"}},
		{"-i", "int32", []string{"-1", "2", "null"}},
		{"-u", "int64", []string{"-200", "-1", "null"}},
		{"u + 100", "uint8", nil}, // overflows: see TestEvalErrors
		{"abs(i)", "int32", []string{"1", "2", "null"}},
		{`"odd name" * 2`, "int64", []string{"14", "16", "null"}},
		{"i = 1", "bool", []string{"true", "false", "null"}},
		{"i = 1.5", "bool", []string{"false", "false", "null"}},
		{"s = 'Apple'", "bool", []string{"true", "false", "null"}},
		{"'Apple' != s", "bool", []string{"false", "true", "null"}},
		{"s < 'B'", "bool", []string{"true", "false", "null"}},
		{"d >= '2024-01-01'", "bool", []string{"true", "false", "null"}},
		{"d < DATE '2024-01-01'", "bool", []string{"false", "true", "null"}},
		{"ts > '2024-01-01 09:00:00'", "bool", []string{"true", "false", "null"}},
		{"ts >= d", "bool", []string{"true", "true", "null"}},
		{"b AND NULL", "bool", []string{"null", "false", "null"}},
		{"b OR NULL", "bool", []string{"true", "null", "null"}},
		{"NOT b", "bool", []string{"false", "true", "null"}},
		{"f IS NULL", "bool", []string{"false", "true", "false"}},
		{"s IS NOT NULL", "bool", []string{"true", "true", "false"}},
		{"i IN (1, 5)", "bool", []string{"true", "false", "null"}},
		{"s NOT IN ('Apple')", "bool", []string{"false", "true", "null"}},
		{"i IN (1.5, -2)", "bool", []string{"false", "true", "null"}},
		{"i = NULL", "bool", []string{"null", "null", "null"}},
		{"lower(s)", "utf8", []string{"apple", "épée", "null"}},
		{"upper(s)", "utf8", []string{"APPLE", "ÉPÉE", "null"}},
		{"length(s)", "int64", []string{"5", "4", "null"}},
		{"coalesce(f, i, 0)", "float64", []string{"1.5", "-2", "3"}},
		{"coalesce(s, 'none')", "utf8", []string{"Apple", "épée", "none"}},
		{"1 + 2", "int64", []string{"3", "3", "3"}},
		{"TRUE", "bool", []string{"true", "true", "true"}},
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, _, err := array.RecordFromJSON(mem, testSchema, strings.NewReader(testRows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	for _, tc := range tests {
		e, err := Compile(tc.src, testSchema)
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.src, err)
			continue
		}
		if got := e.Type().String(); got != tc.typ {
			t.Errorf("%q: type %s, want %s", tc.src, got, tc.typ)
		}
		if tc.want == nil {
			continue
		}
		a, err := e.EvalArray(context.Background(), rec, mem)
		if err != nil {
			t.Errorf("Eval(%q): %v", tc.src, err)
			continue
		}
		got := make([]string, a.Len())
		for i := range got {
			if a.IsNull(i) {
				got[i] = "null"
			} else {
				got[i] = a.ValueStr(i)
			}
		}
		a.Release()
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%q = %v, want %v", tc.src, got, tc.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, _, err := array.RecordFromJSON(mem, testSchema, strings.NewReader(testRows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	for _, src := range []string{"u + 100", "i % 0", "i / (i - i)"} {
		e, err := Compile(src, testSchema)
		if err != nil {
			t.Fatalf("Compile(%q): %v", src, err)
		}
		if a, err := e.EvalArray(context.Background(), rec, mem); err == nil {
			a.Release()
			t.Errorf("Eval(%q) succeeded, want an error", src)
		}
	}
}

func TestBindErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"nope + 1", "unknown column nope (available: i, f, s, b, d, ts, u, \"odd name\") at column 1"},
		{"odd_name + 1", `unknown column odd_name (did you mean "odd name"?)`},
		{`s = "paid"`, `unknown column paid (a string literal takes single quotes: 'paid')`},
		{"lenght(s)", `unknown function lenght (did you mean "length"?)`},
		{"s + 1", "operator + needs numbers, got utf8 and int64 at column 3"},
		{"i = 'x'", "cannot compare int32 with utf8 (operator =) at column 3"},
		{"d = 'soon'", "cannot read 'soon' as date32"},
		{"i AND b", "AND needs a boolean, got int32 at column 1"},
		{"lower(i)", "lower needs a string, got int32 at column 7"},
		{"i IN (s)", "IN list items must be literals"},
		{"trim(s)", "unknown function trim (known: abs, coalesce, length, lower, upper)"},
		{"count(*)", "count(*) is only valid as an aggregate"},
		{"abs(i, f)", "abs takes 1 argument(s), got 2"},
		{"DATE '2024-13-01'", "invalid DATE literal"},
	}
	for _, tc := range tests {
		_, err := Compile(tc.src, testSchema)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q) error = %v, want it to contain %q", tc.src, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"amount > 0 AND status = 'paid' AND dt >= '2024-01-01'",
		"a IN (1, 2) OR b IS NOT NULL", `"x y" * -3.5e2 % 2`, "coalesce(lower(s), 'it''s')",
		"NOT NOT (a <> b)", "DATE '2024-01-01' <= d", "count(*)", "((", "'", `"`, "1e", ".5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		n, err := Parse(src)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse(%q) error %T, want *Error", src, err)
			}
			return
		}
		// What parses renders to something that parses to the same tree, and binding never panics.
		out := n.String()
		n2, err := Parse(out)
		// The rendering parenthesises every operation, so it nests deeper than its source: near
		// the nesting limit it may be refused where the source was not. Anything else is a bug.
		if e, ok := err.(*Error); ok && strings.Contains(e.Msg, "nested too deeply") {
			return
		}
		if err != nil || n2.String() != out {
			t.Fatalf("Parse(%q) renders %q which reparses to %v, %v", src, out, n2, err)
		}
		_, _ = Bind(src, n, testSchema)
	})
}

// TestCheck: without a schema, syntax, literals and function calls are checked; column names
// and types are not (they need the input's schema), so nothing Compile accepts is refused.
func TestCheck(t *testing.T) {
	for _, src := range []string{
		"i + 1", "nope + 1", "s + 1", `"odd name" * 2`, "d < DATE '2024-01-01'", "coalesce(lower(s), 'x')",
		"abs(i) > 3 AND s IN ('a', 'b', -1)", "ts > TIMESTAMP '2024-01-01 09:00:00'", "x IS NOT NULL",
		"NOT (a <> b) OR length(s) % 2 = 0",
	} {
		if err := Check(src); err != nil {
			t.Errorf("Check(%q) = %v, want nil", src, err)
		}
	}
	tests := []struct{ src, want string }{
		{"status = = 'x'", "at column 10"},
		{"1 +", "at column"},
		{"nosuchfn(b)", "unknown function nosuchfn"},
		{"a > 0 AND trim(s) = ''", "unknown function trim"},
		{"lowr(s) = 'x'", `unknown function lowr (did you mean "lower"?)`},
		{"sum(i) > 3", "sum is an aggregate: use it in a group_by's aggs"},
		{"count(*)", "count(*) is only valid as an aggregate"},
		{"abs(i, f)", "abs takes 1 argument(s), got 2"},
		{"coalesce()", "coalesce needs at least one argument"},
		{"d = DATE '2024-13-01'", "invalid DATE literal"},
		{"x IN (1, upper())", "upper takes 1 argument(s), got 0"},
	}
	for _, tc := range tests {
		err := Check(tc.src)
		_, cerr := Compile(tc.src, testSchema)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%q) error = %v, want it to contain %q", tc.src, err, tc.want)
		}
		if cerr == nil {
			t.Errorf("Compile(%q) accepts what Check refuses", tc.src)
		}
	}
}
