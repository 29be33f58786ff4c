package arrowops

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/internal/arrowops/expr"
	"github.com/aiflow-dev/aiflow/ir"
)

// template matches a {{ … }} placeholder that validate sees unrendered: it renders to a literal
// (ir.RenderExpr), so a literal stands for it while the expression is checked.
var template = regexp.MustCompile(`\{\{.*?\}\}`)

// Lint checks the steps without their input schemas, as validate and compile must when no input
// declares its columns: every filter, derive and aggregate expression parses, its literals and
// function calls are valid, every aggregate is a known one over one column, every cast names a
// known type, join and sort are well formed. What needs the schema (column names, types) is left
// to Compile, except the names a group_by or a select fixes: the steps after one are checked
// against the columns it leaves (lintColumns). Every problem of every step is reported (StepErrors, fault.Config), each naming its
// step: a user fixes them all at once.
func Lint(steps []Step) error {
	var errs StepErrors
	ok := make([]bool, len(steps))
	for i, s := range steps {
		errs = append(errs, lintStep(i, s)...)
		ok[i] = true
	}
	errs = append(errs, lintColumns(steps, ok)...)
	slices.SortStableFunc(errs, func(a, b *StepError) int { return a.Index - b.Index })
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
	errs = append(errs, lintColumns(steps, ok)...)
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
	addAt := func(field string, err error) {
		if err != nil {
			errs = append(errs, &StepError{Index: i, Kind: s.Kind(), Field: field, Err: err})
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
				addAt("derive."+name, fmt.Errorf("%s: %w", name, err))
			}
		}
	case "cast":
		for _, name := range slices.Sorted(maps.Keys(s.Cast)) {
			if _, err := ParseType(s.Cast[name]); err != nil {
				addAt("cast."+name, fmt.Errorf("%s: %w", name, err))
			}
		}
	case "group_by":
		for _, name := range slices.Sorted(maps.Keys(s.GroupBy.Aggs)) {
			if _, _, err := parseAgg(template.ReplaceAllString(s.GroupBy.Aggs[name], "0")); err != nil {
				addAt("group_by.aggs."+name, fmt.Errorf("%s: %w", name, err))
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

// lintColumns checks the column names the steps use where they are known without the inputs'
// schemas: none at first, exactly the keys and aggregates after a group_by and the list after a
// select, then followed through derive, drop and rename; a join brings columns of another input,
// unknown here. So a filter on a column a group_by aggregated away fails validate, not the pod.
// Steps that did not decode (ok[i] false) make the columns unknown again.
func lintColumns(steps []Step, ok []bool) (errs StepErrors) {
	var known []string // nil: not known
	for i, s := range steps {
		if !ok[i] {
			known = nil
			continue
		}
		kind := s.Kind()
		add := func(err error) {
			if err != nil {
				errs = append(errs, &StepError{Index: i, Kind: kind, Err: err})
			}
		}
		addAt := func(field string, err error) {
			if err != nil {
				errs = append(errs, &StepError{Index: i, Kind: kind, Field: field, Err: err})
			}
		}
		has := func(what, c string) error {
			if known == nil || slices.Contains(known, c) {
				return nil
			}
			return fmt.Errorf("%s: unknown column %q%s (available: %s)", what, c, ir.Suggest(c, known), strings.Join(known, ", "))
		}
		cols := func(src string) error {
			src = template.ReplaceAllString(src, "0")
			if known == nil || expr.Check(src) != nil {
				return nil // unknown columns, or a broken expression lintStep reports
			}
			return expr.CheckColumns(src, known)
		}
		switch kind {
		case "filter":
			add(cols(s.Filter))
		case "derive":
			names := slices.Sorted(maps.Keys(s.Derive))
			for _, name := range names {
				if err := cols(s.Derive[name]); err != nil {
					addAt("derive."+name, fmt.Errorf("%s: %w", name, err))
				}
			}
			if known != nil {
				for _, name := range names {
					if !slices.Contains(known, name) {
						known = append(known, name)
					}
				}
			}
		case "select":
			for _, c := range s.Select {
				addAt("select", has("select", c))
			}
			known = slices.Clone(s.Select)
		case "drop":
			for _, c := range s.Drop {
				add(has("drop", c))
			}
			if known != nil {
				known = slices.DeleteFunc(known, func(c string) bool { return slices.Contains(s.Drop, c) })
			}
		case "rename":
			from := slices.Sorted(maps.Keys(s.Rename))
			for _, c := range from {
				addAt("rename."+c, has("rename", c))
			}
			if known != nil {
				for i, c := range known {
					if to, ok := s.Rename[c]; ok {
						known[i] = to
					}
				}
			}
		case "cast":
			for _, c := range slices.Sorted(maps.Keys(s.Cast)) {
				addAt("cast."+c, has("cast", c))
			}
		case "group_by":
			for _, k := range s.GroupBy.Keys {
				addAt("group_by.keys", has("keys", k))
			}
			aggs := slices.Sorted(maps.Keys(s.GroupBy.Aggs))
			for _, name := range aggs {
				if _, id, err := parseAgg(template.ReplaceAllString(s.GroupBy.Aggs[name], "0")); err == nil && id != nil {
					addAt("group_by.aggs."+name, has(name, id.Name))
				}
			}
			known = append(slices.Clone(s.GroupBy.Keys), aggs...)
		case "join":
			for _, k := range s.Join.On {
				add(has("on", k))
			}
			known = nil
		case "sort":
			for _, k := range s.Sort {
				if c := strings.TrimPrefix(k, "-"); c != "" {
					add(has("sort", c))
				}
			}
		}
	}
	return errs
}
