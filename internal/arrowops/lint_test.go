package arrowops

import (
	"errors"
	"fmt"
	"slices"
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
		{"aggregates and casts", `[{"group_by": {"keys": ["k"], "aggs": {"a": "summ(x)", "b": "max(x + 1)"}}}, {"cast": {"x": "int33", "y": "decimal"}}]`, []int{1, 1, 2, 2}},
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
