package arrowops

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aiflow-dev/aiflow/fault"
)

// stepIndexes lists the (1-based) steps an error names, one entry per problem.
func stepIndexes(t *testing.T, err error) []int {
	t.Helper()
	if err == nil {
		return nil
	}
	if c := fault.ClassOf(err); c != fault.Config {
		t.Errorf("class = %s, want config (%v)", c, err)
	}
	var ses StepErrors
	if !errors.As(err, &ses) {
		t.Fatalf("%v: not StepErrors", err)
	}
	var out []int
	for _, se := range ses {
		out = append(out, se.Index+1)
	}
	return out
}

// TestLintReportsEveryStep: every broken step, and every broken item of a step, is its own
// problem, whatever breaks it (a step that does not decode does not hide the others).
func TestLintReportsEveryStep(t *testing.T) {
	for _, tc := range []struct {
		name, steps string
		want        []int
	}{
		{"none", `[{"filter": "amount > 0"}, {"limit": 3}]`, nil},
		{"first and last", `[{"filter": "amount >> 0"}, {"limit": 3}, {"derive": {"x": "1 +"}}]`, []int{1, 3}},
		{"two items of one step", `[{"derive": {"a": "trim(x)", "b": "(", "c": "1"}}]`, []int{1, 1}},
		{"aggregates and casts", `[{"group_by": {"keys": ["k"], "aggs": {"a": "summ(x)", "b": "max(x + 1)"}}}, {"cast": {"a": "int33", "b": "decimal"}}]`, []int{1, 1, 2, 2}},
		{"misspelt operation between", `[{"filter": "a == 1"}, {"filtr": "a = 1"}, {"sort": ["-"]}]`, []int{1, 2, 3}},
		{"misspelt fields and a wrong type", `[{"group_by": {"key": [], "agg": {}}}, {"sort": [1]}, {"join": {"right": "r", "on": ["k"], "how": "outer"}}]`, []int{1, 1, 2, 3}},
		{"several operations", `[{"filter": "a = 1", "limit": 1}, {}, {"limit": -1}]`, []int{1, 2, 3}},
		{"templates stand for literals", `[{"filter": "a = '{{ params.x }}'"}, {"filter": "a = {{ params.y }} AND"}]`, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := LintJSON([]byte(tc.steps))
			if got := stepIndexes(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("LintJSON(%s) names steps %v, want %v: %v", tc.steps, got, tc.want, err)
			}
			// Steps that decode give the same answer through DecodeSteps and Lint.
			if steps, derr := DecodeSteps([]byte(tc.steps)); derr == nil {
				if got := stepIndexes(t, Lint(steps)); !slices.Equal(got, tc.want) {
					t.Errorf("Lint names steps %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestCompileReportsEveryStep: against a schema, a broken step that keeps its input's columns
// (filter, sort, limit) does not end the check; after one that changes them it ends.
func TestCompileReportsEveryStep(t *testing.T) {
	for _, tc := range []struct {
		name, steps string
		want        []int
	}{
		{"filters and a sort", `[{"filter": "stauts = 'paid'"}, {"sort": ["amout"]}, {"derive": {"d": "amount * 2"}}, {"filter": "dd > 1"}, {"select": ["d", "nope"]}]`, []int{1, 2, 4, 5}},
		{"a broken derive ends the check", `[{"derive": {"d": "amuont * 2"}}, {"filter": "d > 1"}, {"select": ["nope"]}]`, []int{1}},
		{"a broken select ends the check", `[{"select": ["user_id", "amout"]}, {"filter": "amount > 1"}]`, []int{1}},
		{"limit then group_by", `[{"limit": -1}, {"group_by": {"keys": ["usr"], "aggs": {"n": "count(*)"}}}]`, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps, err := DecodeSteps([]byte(tc.steps))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compile(steps, map[string]*arrow.Schema{"orders": ordersSchema}, "orders")
			if got := stepIndexes(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("Compile names steps %v, want %v: %v", got, tc.want, err)
			}
			// The first problem is still found by errors.As, for callers that place one.
			var se *StepError
			if err != nil && (!errors.As(err, &se) || fmt.Sprint(se.Index+1) != fmt.Sprint(tc.want[0])) {
				t.Errorf("errors.As finds %v, want step %d", se, tc.want[0])
			}
		})
	}
}

// TestLintColumnsAfterGroupBy: without input schemas, the names a group_by or a select leaves
// are known, and the steps after it are checked against them (followed through derive, drop and
// rename; a join makes them unknown again).
func TestLintColumnsAfterGroupBy(t *testing.T) {
	gb := `{"group_by": {"keys": ["user_id"], "aggs": {"n": "count(*)", "amt": "sum(amount)"}}}`
	for _, tc := range []struct {
		name, steps string
		want        []int
		msg         string
	}{
		{"columns unknown before", `[{"filter": "whatever > 1"}, {"sort": ["x"]}, {"drop": ["y"]}]`, nil, ""},
		{"the keys and aggregates are known", `[` + gb + `, {"filter": "n > 1 AND amt > 0"}, {"sort": ["-amt", "user_id"]}]`, nil, ""},
		{"a column aggregated away", `[` + gb + `, {"filter": "amount > 10"}]`, []int{2}, `step 2 (filter): unknown column amount (available: user_id, amt, n) at column 1`},
		{"every later step", `[` + gb + `, {"derive": {"x": "amt / qty"}}, {"select": ["user_id", "x", "status"]}, {"sort": ["-nn"]}]`, []int{2, 3, 4}, `step 4 (sort): sort: unknown column "nn" (available: user_id, x, status)`},
		{"derive, drop, rename followed", `[` + gb + `, {"derive": {"avg": "amt / n"}}, {"drop": ["n"]}, {"rename": {"avg": "mean"}}, {"filter": "mean > 1 AND n > 0"}, {"cast": {"avg": "float32"}}]`, []int{5, 6}, `step 5 (filter): unknown column n (available: user_id, amt, mean) at column 14`},
		{"a select fixes the names", `[{"select": ["a", "b"]}, {"filter": "c = 1"}, {"group_by": {"keys": ["a"], "aggs": {"s": "sum(d)"}}}]`, []int{2, 3}, `step 3 (group_by): s: unknown column "d"`},
		{"a join makes them unknown", `[` + gb + `, {"join": {"right": "users", "on": ["user_id"]}}, {"filter": "country = 'fr'"}]`, nil, ""},
		{"a join key aggregated away", `[` + gb + `, {"join": {"right": "items", "on": ["item_id"]}}]`, []int{2}, `step 2 (join): on: unknown column "item_id"`},
		{"templates are literals", `[` + gb + `, {"filter": "n > {{ params.min }}"}]`, nil, ""},
		{"a step that does not decode", `[` + gb + `, {"filtr": "n > 1"}, {"filter": "anything > 1"}]`, []int{2}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := LintJSON([]byte(tc.steps))
			if got := stepIndexes(t, err); !slices.Equal(got, tc.want) {
				t.Fatalf("LintJSON names steps %v, want %v: %v", got, tc.want, err)
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error\n got %v\nwant it to contain %q", err, tc.msg)
			}
			// What lint finds, Compile finds too once the input's schema is known: no false alarm.
			if len(tc.want) == 0 && !strings.Contains(tc.steps, "join") && !strings.Contains(tc.steps, "filtr") && !strings.Contains(tc.steps, "whatever") {
				steps, derr := DecodeSteps([]byte(tc.steps))
				if derr != nil {
					t.Fatal(derr)
				}
				if _, cerr := Compile(steps, map[string]*arrow.Schema{"orders": ordersSchema}, "orders"); cerr != nil && !strings.Contains(tc.steps, "{{") {
					t.Errorf("Compile against the orders schema: %v", cerr)
				}
			}
		})
	}
}
