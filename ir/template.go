package ir

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Templates in params are rendered by the runner at run time, never by Airflow (the compiler
// passes the IR in a Jinja-inert encoding). The language is deliberately tiny: `{{ name }}` with
// one of the variables below; anything else is rejected at validate time.
//
//	{{ ds }}            logical date, YYYY-MM-DD
//	{{ ds_nodash }}     logical date, YYYYMMDD
//	{{ logical_date }}  logical date-time, RFC 3339 in UTC
//	{{ run_id }}        the Airflow run id (or the local run id)
//	{{ params.NAME }}   a pipeline parameter (pipeline.params in YAML, extra.params in the IR)
//
// Airflow 3 runs may have no logical date (manual, API and asset-triggered runs). Compiled DAGs
// then pass the run's run_after as the logical date, so {{ ds }} is the day the run was due; a
// local `run` without --logical-date uses the current UTC time.
var templateRE = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// TemplateVars are the values templates render from.
type TemplateVars struct {
	LogicalDate time.Time
	RunID       string
	Params      map[string]string
}

// TemplateVarNames lists the plain variables for messages and docs.
var TemplateVarNames = []string{"ds", "ds_nodash", "logical_date", "run_id", "params.NAME"}

// MaxRenderedLen bounds the rendered size of one string (a guard against template blow-up).
const MaxRenderedLen = 1 << 20

// CheckTemplate returns an error for each template in s that names an unknown variable or an
// undeclared parameter, and for unbalanced braces.
func CheckTemplate(s string, params map[string]any) []error {
	if !strings.Contains(s, "{{") && !strings.Contains(s, "}}") {
		return nil
	}
	var errs []error
	for _, m := range templateRE.FindAllStringSubmatch(s, -1) {
		if err := checkVar(m[1], params); err != nil {
			errs = append(errs, err)
		}
	}
	rest := templateRE.ReplaceAllString(s, "")
	if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		errs = append(errs, fmt.Errorf("unbalanced template braces in %q", s))
	}
	return errs
}

func checkVar(name string, params map[string]any) error {
	switch name {
	case "ds", "ds_nodash", "logical_date", "run_id":
		return nil
	}
	if p, ok := strings.CutPrefix(name, "params."); ok {
		if _, declared := params[p]; !declared {
			names := make([]string, 0, len(params))
			for k := range params {
				names = append(names, k)
			}
			sort.Strings(names)
			return fmt.Errorf("template {{ %s }}: parameter %q is not declared in pipeline params%s", name, p, suggest(p, names))
		}
		return nil
	}
	known := []string{"ds", "ds_nodash", "logical_date", "run_id"}
	return fmt.Errorf("template {{ %s }}: unknown variable (known: %s)%s", name, strings.Join(TemplateVarNames, ", "), suggest(name, known))
}

// RenderString renders the templates in s.
func RenderString(s string, v TemplateVars) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var firstErr error
	// The running total stops the expansion as soon as it passes the limit: a spec that repeats a
	// large parameter must not allocate gigabytes before being refused.
	total := len(s)
	out := templateRE.ReplaceAllStringFunc(s, func(m string) string {
		if firstErr != nil {
			return ""
		}
		name := templateRE.FindStringSubmatch(m)[1]
		val, err := v.lookup(name)
		if err != nil {
			firstErr = err
			return ""
		}
		total += len(val) - len(m)
		if total > MaxRenderedLen {
			firstErr = fmt.Errorf("rendered template is over the %d-byte limit", MaxRenderedLen)
			return ""
		}
		return val
	})
	if firstErr != nil {
		return "", firstErr
	}
	if len(out) > MaxRenderedLen {
		return "", fmt.Errorf("rendered template is %d bytes, over the %d limit", len(out), MaxRenderedLen)
	}
	return out, nil
}

func (v TemplateVars) lookup(name string) (string, error) {
	ld := v.LogicalDate.UTC()
	switch name {
	case "ds":
		return ld.Format("2006-01-02"), nil
	case "ds_nodash":
		return ld.Format("20060102"), nil
	case "logical_date":
		return ld.Format(time.RFC3339), nil
	case "run_id":
		if v.RunID == "" {
			return "", errors.New("template {{ run_id }}: no run id")
		}
		return v.RunID, nil
	}
	if p, ok := strings.CutPrefix(name, "params."); ok {
		if val, ok := v.Params[p]; ok {
			return val, nil
		}
		return "", fmt.Errorf("template {{ %s }}: parameter %q has no value", name, p)
	}
	return "", fmt.Errorf("template {{ %s }}: unknown variable", name)
}

// Render returns a deep copy of a params value with every string rendered.
func Render(v any, vars TemplateVars) (any, error) {
	switch x := v.(type) {
	case string:
		return RenderString(x, vars)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := Render(e, vars)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := Render(e, vars)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// PipelineParams returns the declared pipeline parameters (extra.params) with their defaults as
// strings.
func (p *Pipeline) PipelineParams() map[string]any {
	m, _ := p.Extra["params"].(map[string]any)
	return m
}

// walkStrings calls fn for every string inside v with its dotted path.
func walkStrings(path string, v any, fn func(path, s string)) {
	switch x := v.(type) {
	case string:
		fn(path, x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkStrings(joinPath(path, k), x[k], fn)
		}
	case []any:
		for i, e := range x {
			walkStrings(fmt.Sprintf("%s[%d]", path, i), e, fn)
		}
	}
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// Vars returns the template values of a run of p: the declared pipeline params (extra.params)
// as strings (non-strings as their canonical JSON), overridden by overrides, which may only name
// declared params.
func (p *Pipeline) Vars(logicalDate time.Time, runID string, overrides map[string]string) (TemplateVars, error) {
	v := TemplateVars{LogicalDate: logicalDate, RunID: runID, Params: map[string]string{}}
	declared := p.PipelineParams()
	for k, val := range declared {
		switch x := val.(type) {
		case string:
			v.Params[k] = x
		case nil:
			v.Params[k] = ""
		default:
			b, err := CanonicalJSON(x)
			if err != nil {
				return v, fmt.Errorf("pipeline param %s: %w", k, err)
			}
			v.Params[k] = string(b)
		}
	}
	for k, val := range overrides {
		if _, ok := declared[k]; !ok {
			names := make([]string, 0, len(declared))
			for n := range declared {
				names = append(names, n)
			}
			sort.Strings(names)
			return v, fmt.Errorf("param %s is not declared in pipeline params%s", k, suggest(k, names))
		}
		v.Params[k] = val
	}
	return v, nil
}
