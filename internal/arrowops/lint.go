package arrowops

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowops/expr"
)

// template matches a {{ … }} placeholder that validate sees unrendered: it renders to a literal
// (ir.RenderExpr), so a literal stands for it while the expression is checked.
var template = regexp.MustCompile(`\{\{.*?\}\}`)

// Lint checks the steps without their input schemas, as validate and compile must when no input
// declares its columns: every filter, derive and aggregate expression parses, its literals and
// function calls are valid, every aggregate is a known one over one column, every cast names a
// known type, join and sort are well formed. What needs the schema (column names, types) is left
// to Compile. Errors are fault.Config naming the step.
func Lint(steps []Step) error {
	for i, s := range steps {
		if err := lintStep(s); err != nil {
			return fault.Wrap(fault.Config, &StepError{Index: i, Kind: s.Kind(), Err: err}, "")
		}
	}
	return nil
}

func lintStep(s Step) error {
	check := func(src string) error {
		return expr.Check(template.ReplaceAllString(src, "0"))
	}
	switch s.Kind() {
	case "filter":
		return check(s.Filter)
	case "derive":
		for _, name := range slices.Sorted(maps.Keys(s.Derive)) {
			if strings.TrimSpace(name) == "" {
				return fmt.Errorf("a derived column needs a name")
			}
			if err := check(s.Derive[name]); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	case "cast":
		for _, name := range slices.Sorted(maps.Keys(s.Cast)) {
			if _, err := ParseType(s.Cast[name]); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	case "group_by":
		for _, name := range slices.Sorted(maps.Keys(s.GroupBy.Aggs)) {
			if _, _, err := parseAgg(template.ReplaceAllString(s.GroupBy.Aggs[name], "0")); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		if len(s.GroupBy.Keys) == 0 && len(s.GroupBy.Aggs) == 0 {
			return fmt.Errorf("no keys and no aggregates")
		}
	case "join":
		if s.Join.Right == "" || len(s.Join.On) == 0 {
			return fmt.Errorf("join needs right (an input) and on (key columns)")
		}
		if h := s.Join.How; h != "" && h != "inner" && h != "left" {
			return fmt.Errorf("join how %q: want inner or left", h)
		}
	case "sort":
		for _, k := range s.Sort {
			if strings.TrimPrefix(k, "-") == "" {
				return fmt.Errorf("empty sort key")
			}
		}
	case "limit":
		if *s.Limit < 0 {
			return fmt.Errorf("limit %d: want ≥ 0", *s.Limit)
		}
	}
	return nil
}
