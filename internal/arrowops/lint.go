package arrowops

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/internal/arrowops/expr"
)

// template matches a {{ … }} placeholder that validate sees unrendered: it renders to a literal
// (ir.RenderExpr), so a literal stands for it while the expression is checked.
var template = regexp.MustCompile(`\{\{.*?\}\}`)

// Lint checks the steps without their input schemas, as validate and compile must when no input
// declares its columns: every filter, derive and aggregate expression parses, its literals and
// function calls are valid, every aggregate is a known one over one column, every cast names a
// known type, join and sort are well formed. What needs the schema (column names, types) is left
// to Compile. Every problem of every step is reported (StepErrors, fault.Config), each naming its
// step: a user fixes them all at once.
func Lint(steps []Step) error {
	var errs StepErrors
	for i, s := range steps {
		errs = append(errs, lintStep(i, s)...)
	}
	return stepErr(errs)
}

// LintJSON decodes a JSON list of steps and lints it: the steps that do not decode (a misspelt
// operation or field, a value of the wrong type) are reported together with the problems of the
// steps that do.
func LintJSON(data []byte) error {
	steps, ok, errs, err := decodeSteps(data)
	if err != nil {
		return err
	}
	for i, s := range steps {
		if ok[i] {
			errs = append(errs, lintStep(i, s)...)
		}
	}
	slices.SortStableFunc(errs, func(a, b *StepError) int { return a.Index - b.Index })
	return stepErr(errs)
}

// lintStep returns every problem of step i: each broken expression, aggregate or cast of the
// step is its own problem.
func lintStep(i int, s Step) (errs StepErrors) {
	add := func(err error) {
		if err != nil {
			errs = append(errs, &StepError{Index: i, Kind: s.Kind(), Err: err})
		}
	}
	check := func(src string) error {
		return expr.Check(template.ReplaceAllString(src, "0"))
	}
	switch s.Kind() {
	case "filter":
		add(check(s.Filter))
	case "derive":
		for _, name := range slices.Sorted(maps.Keys(s.Derive)) {
			if strings.TrimSpace(name) == "" {
				add(fmt.Errorf("a derived column needs a name"))
				continue
			}
			if err := check(s.Derive[name]); err != nil {
				add(fmt.Errorf("%s: %w", name, err))
			}
		}
	case "cast":
		for _, name := range slices.Sorted(maps.Keys(s.Cast)) {
			if _, err := ParseType(s.Cast[name]); err != nil {
				add(fmt.Errorf("%s: %w", name, err))
			}
		}
	case "group_by":
		for _, name := range slices.Sorted(maps.Keys(s.GroupBy.Aggs)) {
			if _, _, err := parseAgg(template.ReplaceAllString(s.GroupBy.Aggs[name], "0")); err != nil {
				add(fmt.Errorf("%s: %w", name, err))
			}
		}
		if len(s.GroupBy.Keys) == 0 && len(s.GroupBy.Aggs) == 0 {
			add(fmt.Errorf("no keys and no aggregates"))
		}
	case "join":
		if s.Join.Right == "" || len(s.Join.On) == 0 {
			add(fmt.Errorf("join needs right (an input) and on (key columns)"))
		}
		if h := s.Join.How; h != "" && h != "inner" && h != "left" {
			add(fmt.Errorf("join how %q: want inner or left", h))
		}
	case "sort":
		for _, k := range s.Sort {
			if strings.TrimPrefix(k, "-") == "" {
				add(fmt.Errorf("empty sort key"))
				break
			}
		}
	case "limit":
		if *s.Limit < 0 {
			add(fmt.Errorf("limit %d: want ≥ 0", *s.Limit))
		}
	}
	return errs
}
