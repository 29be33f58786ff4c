package ir

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Templates in params are rendered by the runner at run time, never by Airflow (the compiler
// passes the IR in a Jinja-inert encoding). The language is the part of Airflow's that ETL
// parameters use, without Jinja's statements and filters: `{{ name }}` with one of the variables
// below, or one of the two date macros; anything else is rejected at validate time.
//
//	{{ ds }}, {{ ds_nodash }}            logical date, YYYY-MM-DD / YYYYMMDD
//	{{ ts }}, {{ ts_nodash }}            logical date-time, 2024-01-02T03:04:05+00:00 / 20240102T030405
//	{{ ts_nodash_with_tz }}              20240102T030405+0000
//	{{ logical_date }}                   logical date-time, RFC 3339 in UTC
//	{{ data_interval_start }}, {{ data_interval_end }}
//	                                     the run's data interval; Airflow 3's cron timetables give
//	                                     runs an empty interval at the logical date, so both are it
//	{{ prev_ds }}, {{ next_ds }} (+ _nodash)
//	                                     the schedule's run before / after this one (cron schedules only)
//	{{ yesterday_ds }}, {{ tomorrow_ds }} (+ _nodash)
//	{{ run_id }}                         the Airflow run id (or the local run id)
//	{{ params.NAME }}                    a pipeline parameter (pipeline.params in YAML, extra.params in the IR)
//	{{ macros.ds_add(ds, -7) }}          a YYYY-MM-DD date plus a number of days
//	{{ macros.ds_format(ds, "%Y-%m-%d", "%Y/%m/%d") }}
//	                                     a date re-formatted (strftime directives)
//
// A macro's first argument is a variable or a quoted string. Airflow 3 runs may have no logical
// date (manual, API and asset-triggered runs). Compiled DAGs then pass the run's run_after as the
// logical date, so {{ ds }} is the day the run was due; a local `run` without --logical-date uses
// the current UTC time.
var templateRE = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// TemplateVars are the values templates render from.
type TemplateVars struct {
	LogicalDate time.Time
	RunID       string
	Params      map[string]string
	// Schedule gives prev_ds and next_ds; nil when the pipeline has no cron schedule.
	Schedule *Schedule
}

// TemplateVarNames lists the plain variables for messages and docs.
var TemplateVarNames = []string{"ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz", "logical_date",
	"data_interval_start", "data_interval_end", "prev_ds", "prev_ds_nodash", "next_ds", "next_ds_nodash",
	"yesterday_ds", "yesterday_ds_nodash", "tomorrow_ds", "tomorrow_ds_nodash", "run_id", "params.NAME",
	"macros.ds_add", "macros.ds_format"}

const knownShort = "ds, ts, logical_date, data_interval_start/end, prev_ds, next_ds, yesterday_ds, tomorrow_ds (and their _nodash forms), run_id, params.NAME, macros.ds_add, macros.ds_format"

// ScheduleVars are the variables that need a cron schedule.
var ScheduleVars = []string{"prev_ds", "prev_ds_nodash", "next_ds", "next_ds_nodash"}

// MaxRenderedLen bounds the rendered size of one string (a guard against template blow-up).
const MaxRenderedLen = 1 << 20

// CheckTemplate returns an error for each template in s that names an unknown variable or an
// undeclared parameter, a malformed macro call, and for unbalanced braces.
func CheckTemplate(s string, params map[string]any) []error {
	if !strings.Contains(s, "{{") && !strings.Contains(s, "}}") {
		return nil
	}
	var errs []error
	for _, m := range templateRE.FindAllStringSubmatch(s, -1) {
		if err := checkExpr(m[1], params); err != nil {
			errs = append(errs, err)
		}
	}
	rest := templateRE.ReplaceAllString(s, "")
	if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		errs = append(errs, fmt.Errorf("unbalanced template braces in %q", s))
	}
	return errs
}

// TemplateNames returns the variables the templates of s use (parameters as params.NAME).
func TemplateNames(s string) []string {
	var out []string
	for _, m := range templateRE.FindAllStringSubmatch(s, -1) {
		e, err := parseTmpl(m[1])
		if err != nil {
			continue
		}
		out = append(out, e.names()...)
	}
	return out
}

func checkExpr(src string, params map[string]any) error {
	e, err := parseTmpl(src)
	if err != nil {
		return fmt.Errorf("template {{ %s }}: %v", src, err)
	}
	for _, name := range e.names() {
		if err := checkVar(src, name, params); err != nil {
			return err
		}
	}
	return nil
}

var plainVars = TemplateVarNames[:17]

func checkVar(src, name string, params map[string]any) error {
	if slices.Contains(plainVars, name) {
		return nil
	}
	if p, ok := strings.CutPrefix(name, "params."); ok {
		if _, declared := params[p]; !declared {
			names := make([]string, 0, len(params))
			for k := range params {
				names = append(names, k)
			}
			sort.Strings(names)
			return fmt.Errorf("template {{ %s }}: parameter %q is not declared in pipeline params%s", src, p, suggest(p, names))
		}
		return nil
	}
	if name != src {
		return fmt.Errorf("template {{ %s }}: unknown variable %s (known: %s)%s", src, name, knownShort, suggest(name, plainVars))
	}
	return fmt.Errorf("template {{ %s }}: unknown variable (known: %s)%s", src, knownShort, suggest(name, plainVars))
}

// tmpl is one parsed template: a variable, a quoted string, or a macro call.
type tmpl struct {
	name string // variable name, or the macro name of a call
	lit  *string
	args []tmpl
	num  *int // an integer argument
	call bool
}

func (e tmpl) names() []string {
	if e.call {
		var out []string
		for _, a := range e.args {
			out = append(out, a.names()...)
		}
		return out
	}
	if e.lit != nil || e.num != nil {
		return nil
	}
	return []string{e.name}
}

var (
	tmplNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)?$`)
	tmplCallRE = regexp.MustCompile(`^(macros\.[A-Za-z_]+)\s*\((.*)\)$`)
	tmplIntRE  = regexp.MustCompile(`^[+-]?[0-9]{1,9}$`)
)

// macroArity is the number of arguments of each macro.
var macroArity = map[string]int{"macros.ds_add": 2, "macros.ds_format": 3}

func parseTmpl(src string) (tmpl, error) {
	src = strings.TrimSpace(src)
	if m := tmplCallRE.FindStringSubmatch(src); m != nil {
		n, ok := macroArity[m[1]]
		if !ok {
			return tmpl{}, fmt.Errorf("unknown macro %s (known: macros.ds_add, macros.ds_format)%s", m[1], suggest(m[1], []string{"macros.ds_add", "macros.ds_format"}))
		}
		args, err := splitArgs(m[2])
		if err != nil {
			return tmpl{}, err
		}
		if len(args) != n {
			return tmpl{}, fmt.Errorf("%s takes %d arguments, not %d", m[1], n, len(args))
		}
		e := tmpl{name: m[1], call: true}
		for i, a := range args {
			var x tmpl
			switch {
			case strings.HasPrefix(a, "'") || strings.HasPrefix(a, `"`):
				s, err := unquote(a)
				if err != nil {
					return tmpl{}, err
				}
				x.lit = &s
			case tmplIntRE.MatchString(a):
				v, _ := strconv.Atoi(a)
				x.num = &v
			case tmplNameRE.MatchString(a):
				x.name = a
			default:
				return tmpl{}, fmt.Errorf("%s: argument %q is not a variable, a quoted string or an integer", m[1], a)
			}
			if i == 0 && x.num != nil || i > 0 && m[1] == "macros.ds_add" && x.num == nil || i > 0 && m[1] == "macros.ds_format" && x.lit == nil {
				want := map[string]string{"macros.ds_add": "(date, days)", "macros.ds_format": `(date, "input format", "output format")`}[m[1]]
				return tmpl{}, fmt.Errorf("%s takes %s", m[1], want)
			}
			e.args = append(e.args, x)
		}
		return e, nil
	}
	if tmplNameRE.MatchString(src) {
		return tmpl{name: src}, nil
	}
	return tmpl{}, fmt.Errorf("not a variable or a macro call (Jinja filters and statements are not supported; known: %s)", knownShort)
}

// splitArgs splits a macro's arguments at commas outside quotes.
func splitArgs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			cur.WriteRune(r)
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
			cur.WriteRune(r)
		case r == ',':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated string")
	}
	if last := strings.TrimSpace(cur.String()); last != "" || len(out) > 0 {
		out = append(out, last)
	}
	return out, nil
}

func unquote(a string) (string, error) {
	if len(a) < 2 || a[len(a)-1] != a[0] || strings.ContainsRune(a[1:len(a)-1], rune(a[0])) {
		return "", fmt.Errorf("bad string %s", a)
	}
	return a[1 : len(a)-1], nil
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

func (v TemplateVars) lookup(src string) (string, error) {
	e, err := parseTmpl(src)
	if err != nil {
		return "", fmt.Errorf("template {{ %s }}: %v", src, err)
	}
	out, err := v.eval(e)
	if err != nil {
		return "", fmt.Errorf("template {{ %s }}: %v", src, err)
	}
	return out, nil
}

func (v TemplateVars) eval(e tmpl) (string, error) {
	switch {
	case e.lit != nil:
		return *e.lit, nil
	case e.num != nil:
		return strconv.Itoa(*e.num), nil
	case e.call:
		date, err := v.eval(e.args[0])
		if err != nil {
			return "", err
		}
		switch e.name {
		case "macros.ds_add":
			d, err := time.Parse("2006-01-02", date)
			if err != nil {
				return "", fmt.Errorf("macros.ds_add: %q is not a YYYY-MM-DD date", date)
			}
			return d.AddDate(0, 0, *e.args[1].num).Format("2006-01-02"), nil
		case "macros.ds_format":
			d, err := Strptime(date, *e.args[1].lit)
			if err != nil {
				return "", fmt.Errorf("macros.ds_format: %v", err)
			}
			return Strftime(d, *e.args[2].lit)
		}
	}
	ld := v.LogicalDate.UTC()
	day := func(t time.Time, nodash bool) string {
		if nodash {
			return t.Format("20060102")
		}
		return t.Format("2006-01-02")
	}
	base, nodash := strings.CutSuffix(e.name, "_nodash")
	switch base {
	case "ds":
		return day(ld, nodash), nil
	case "yesterday_ds":
		return day(ld.AddDate(0, 0, -1), nodash), nil
	case "tomorrow_ds":
		return day(ld.AddDate(0, 0, 1), nodash), nil
	case "ts":
		if nodash {
			return ld.Format("20060102T150405"), nil
		}
		return ld.Format("2006-01-02T15:04:05-07:00"), nil
	case "prev_ds", "next_ds":
		if v.Schedule == nil {
			return "", fmt.Errorf("%s needs a cron schedule", e.name)
		}
		var t time.Time
		var ok bool
		if base == "prev_ds" {
			t, ok = v.Schedule.Prev(ld)
		} else {
			t, ok = v.Schedule.Next(ld)
		}
		if !ok {
			return "", fmt.Errorf("%s: the schedule has no run within 50 years", e.name)
		}
		return day(t, nodash), nil
	}
	switch e.name {
	case "ts_nodash_with_tz":
		return ld.Format("20060102T150405-0700"), nil
	case "logical_date":
		return ld.Format(time.RFC3339), nil
	case "data_interval_start", "data_interval_end":
		return ld.Format("2006-01-02T15:04:05-07:00"), nil
	case "run_id":
		if v.RunID == "" {
			return "", errors.New("no run id")
		}
		return v.RunID, nil
	}
	if p, ok := strings.CutPrefix(e.name, "params."); ok {
		if val, ok := v.Params[p]; ok {
			return val, nil
		}
		return "", fmt.Errorf("parameter %q has no value", p)
	}
	return "", fmt.Errorf("unknown variable %s", e.name)
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
	if p.Schedule != nil {
		v.Schedule, _ = ParseSchedule(*p.Schedule)
	}
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
