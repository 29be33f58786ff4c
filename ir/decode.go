package ir

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
)

// decoder turns parsed values into a Spec, strictly: unknown keys and wrong types are problems
// with the line they are on.
type decoder struct {
	file     string
	pipeline string
	problems Problems
}

func (d *decoder) addf(line int, node, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Pipeline: d.pipeline, Node: node, Msg: fmt.Sprintf(format, args...)})
}

// known reports unknown keys of a mapping, with a suggestion for likely typos.
func (d *decoder) known(v *value, node, where string, allowed ...string) {
	for i, k := range v.keys {
		if !contains(allowed, k) {
			d.addf(v.keyLines[i], node, "unknown field %q in %s%s", k, where, suggest(k, allowed))
		}
	}
}

func (d *decoder) str(v *value, node, what string) string {
	if v == nil {
		return ""
	}
	if v.kind != vString {
		d.addf(v.line, node, "%s must be a string, not a %s", what, v.kind)
		return ""
	}
	return v.s
}

func (d *decoder) optStr(v *value, node, what string) *string {
	if v == nil || v.kind == vNull {
		return nil
	}
	s := d.str(v, node, what)
	return &s
}

func (d *decoder) integer(v *value, node, what string) (int, bool) {
	if v == nil || v.kind == vNull {
		return 0, false
	}
	if v.kind == vNumber {
		if i, err := strconv.Atoi(v.s); err == nil {
			return i, true
		}
		if f, err := strconv.ParseFloat(v.s, 64); err == nil && f == float64(int(f)) {
			return int(f), true
		}
	}
	d.addf(v.line, node, "%s must be an integer, not %s", what, describe(v))
	return 0, false
}

func (d *decoder) strList(v *value, node, what string) []string {
	if v == nil || v.kind == vNull {
		return nil
	}
	if v.kind != vList {
		d.addf(v.line, node, "%s must be a list of strings, not a %s", what, v.kind)
		return nil
	}
	out := make([]string, 0, len(v.items))
	for _, it := range v.items {
		if it.kind != vString {
			d.addf(it.line, node, "%s must hold strings, not a %s", what, it.kind)
			continue
		}
		out = append(out, it.s)
	}
	return out
}

func (d *decoder) mapping(v *value, node, what string) map[string]any {
	if v == nil || v.kind == vNull {
		return nil
	}
	if v.kind != vMap {
		d.addf(v.line, node, "%s must be a mapping, not a %s", what, v.kind)
		return nil
	}
	return v.toAny().(map[string]any)
}

func describe(v *value) string {
	switch v.kind {
	case vString:
		return fmt.Sprintf("the string %q", v.s)
	case vNumber:
		return "the number " + v.s
	}
	return "a " + v.kind.String()
}

func keyLines(v *value) map[string]int {
	m := map[string]int{"": v.line}
	if v.kind == vMap {
		for i, k := range v.keys {
			m[k] = v.keyLines[i]
			nestedLines(m, k, v.vals[i], 1)
		}
	}
	return m
}

// nestedLines records the lines inside a params value: "steps[1]" for a list item,
// "steps[1].group_by.aggs" for a key below it, so a problem with one step or field points at
// its own line. Bounded (depth and count): an aliased YAML value is walked once per use.
func nestedLines(m map[string]int, path string, v *value, depth int) {
	const maxDepth, maxLines = 4, 2000
	if v == nil || depth > maxDepth || len(m) > maxLines {
		return
	}
	switch v.kind {
	case vList:
		for i, it := range v.items {
			p := fmt.Sprintf("%s[%d]", path, i)
			if it != nil && it.line > 0 {
				m[p] = it.line
			}
			nestedLines(m, p, it, depth+1)
		}
	case vMap:
		for i, k := range v.keys {
			p := path + "." + k
			m[p] = v.keyLines[i]
			nestedLines(m, p, v.vals[i], depth+1)
		}
	}
}

// authoring decodes the YAML authoring format (docs/reference.md).
func (d *decoder) authoring(doc *value) *Spec {
	d.known(doc, "", "the spec", "api_version", "pipeline", "nodes")
	av, avLine := doc.get("api_version")
	api := d.str(av, "", "api_version")
	if av == nil {
		d.addf(doc.line, "", "api_version is required (api_version: %s)", APIVersion)
	} else if api != APIVersion {
		d.addf(avLine, "", "api_version %q is not supported (want %s)", api, APIVersion)
	}
	pv, pLine := doc.get("pipeline")
	if pv == nil || pv.kind != vMap {
		d.addf(pLine, "", "pipeline must be a mapping with at least an id")
		return nil
	}
	d.known(pv, "", "pipeline", "id", "schedule", "owner", "sla_minutes", "tags", "team", "env", "project", "cost_center", "params", "description", "mode", "plugin_modules", "extra")
	idv, _ := pv.get("id")
	p := &Pipeline{APIVersion: api, ID: d.str(idv, "", "pipeline.id"), SLAMinutes: DefaultSLAMinutes}
	if idv == nil {
		d.addf(pv.line, "", "pipeline.id is required")
	}
	d.pipeline = p.ID
	sv, _ := pv.get("schedule")
	p.Schedule = d.optStr(sv, "", "schedule")
	ov, _ := pv.get("owner")
	p.Owner = d.str(ov, "", "owner")
	if v, _ := pv.get("sla_minutes"); v != nil {
		if i, ok := d.integer(v, "", "sla_minutes"); ok {
			p.SLAMinutes = i
		}
	}
	tv, _ := pv.get("tags")
	p.Tags = d.strList(tv, "", "tags")
	p.Extra = map[string]any{}
	if ev, _ := pv.get("extra"); ev != nil {
		for k, v := range d.mapping(ev, "", "extra") {
			p.Extra[k] = v
		}
	}
	for _, k := range append(append([]string{}, TenancyKeys...), "description", ModeKey) {
		v, line := pv.get(k)
		if v == nil {
			continue
		}
		if _, dup := p.Extra[k]; dup {
			d.addf(line, "", "%s is given both in pipeline and in pipeline.extra", k)
		}
		if s := d.optStr(v, "", k); s != nil {
			p.Extra[k] = *s
		} else {
			p.Extra[k] = nil
		}
	}
	if v, line := pv.get("params"); v != nil {
		if _, dup := p.Extra["params"]; dup {
			d.addf(line, "", "params is given both in pipeline and in pipeline.extra")
		}
		p.Extra["params"] = d.mapping(v, "", "params")
	}

	// The Python modules that register the pipeline's own plugin kinds (the runner imports them).
	if v, line := pv.get("plugin_modules"); v != nil {
		if _, dup := p.Extra["plugin_modules"]; dup {
			d.addf(line, "", "plugin_modules is given both in pipeline and in pipeline.extra")
		}
		mods := d.strList(v, "", "plugin_modules")
		l := make([]any, len(mods))
		for i, m := range mods {
			l[i] = m
		}
		p.Extra["plugin_modules"] = l
	}

	s := &Spec{Pipeline: p, File: d.file, Line: pv.line, nodeLine: map[string]int{}, paramLine: map[string]map[string]int{}, fieldLine: keyLines(pv)}
	nv, nLine := doc.get("nodes")
	if nv == nil || nv.kind != vList {
		d.addf(max(nLine, doc.line), "", "nodes must be a list of nodes")
		return s
	}
	p.Nodes = map[string]*Node{}
	for _, item := range nv.items {
		d.authoringNode(s, item)
	}
	return s
}

func (d *decoder) authoringNode(s *Spec, v *value) {
	if v.kind != vMap {
		d.addf(v.line, "", "a node must be a mapping, not a %s", v.kind)
		return
	}
	idv, _ := v.get("id")
	id := d.str(idv, "", "node id")
	if idv == nil {
		d.addf(v.line, "", "node is missing its id")
		return
	}
	d.known(v, id, "node", "id", "source", "transform", "sink", "engine", "inputs", "with", "resources", "output_schema", "checks")
	if first, dup := s.nodeLine[id]; dup {
		d.addf(v.line, id, "duplicate node id %q (first at line %d)", id, first)
		return
	}
	n := &Node{ID: id}
	var roles []string
	for _, role := range []string{Source, Transform, Sink} {
		if rv, _ := v.get(role); rv != nil {
			roles = append(roles, role)
			name := d.str(rv, id, role)
			n.Type = role
			if role == Transform {
				n.Engine = &name
			} else {
				n.Params = map[string]any{"kind": name}
			}
		}
	}
	if len(roles) != 1 {
		d.addf(v.line, id, "a node must have exactly one of source, transform or sink (has %d)", len(roles))
		return
	}
	if ev, line := v.get("engine"); ev != nil {
		if n.Type == Transform {
			d.addf(line, id, "a transform names its engine in transform:, not engine:")
		} else {
			n.Engine = d.optStr(ev, id, "engine")
		}
	}
	iv, _ := v.get("inputs")
	n.InputIDs = d.strList(iv, id, "inputs")
	wv, _ := v.get("with")
	with := d.mapping(wv, id, "with")
	if n.Params == nil {
		n.Params = map[string]any{}
	}
	for k, val := range with {
		if k == "kind" && n.Type != Transform {
			d.addf(wv.line, id, "kind is set by %s:, not inside with", n.Type)
			continue
		}
		n.Params[k] = val
	}
	rv, _ := v.get("resources")
	n.Resources = d.mapping(rv, id, "resources")
	osv, osLine := v.get("output_schema")
	n.OutputSchema = d.mapping(osv, id, "output_schema")
	// checks: beside output_schema is a shorthand for output_schema.checks (the IR has one
	// place for a node's contract, so YAML, the Python DSL and IR JSON give the same IR).
	if cv, line := v.get("checks"); cv != nil && cv.kind != vNull {
		switch {
		case cv.kind != vList:
			d.addf(line, id, "checks must be a list, not a %s", cv.kind)
		case n.OutputSchema != nil && n.OutputSchema["checks"] != nil:
			d.addf(line, id, "checks are given twice: beside output_schema and inside it")
		default:
			if n.OutputSchema == nil {
				n.OutputSchema = map[string]any{}
			}
			n.OutputSchema["checks"] = cv.toAny()
		}
	}
	s.Pipeline.Nodes[id] = n
	s.nodeLine[id] = v.line
	if wv != nil {
		s.paramLine[id] = keyLines(wv)
	}
	// Problems of the contract point at output_schema:, or at checks: when only that is given.
	if _, line := v.get("checks"); osLine == 0 && line > 0 {
		osLine = line
	}
	if osLine > 0 {
		if s.paramLine[id] == nil {
			s.paramLine[id] = map[string]int{}
		}
		if _, clash := s.paramLine[id]["output_schema"]; !clash {
			s.paramLine[id]["output_schema"] = osLine
		}
	}
}

// irDoc decodes an IR JSON (or YAML) document.
func (d *decoder) irDoc(doc *value) *Spec {
	d.known(doc, "", "the IR", "api_version", "id", "schedule", "owner", "sla_minutes", "tags", "extra", "nodes", "edges")
	av, _ := doc.get("api_version")
	idv, _ := doc.get("id")
	p := &Pipeline{APIVersion: d.str(av, "", "api_version"), ID: d.str(idv, "", "id"), SLAMinutes: DefaultSLAMinutes}
	if av == nil {
		d.addf(doc.line, "", "api_version is required (%q)", APIVersion)
	}
	if idv == nil {
		d.addf(doc.line, "", "id is required")
	}
	d.pipeline = p.ID
	sv, _ := doc.get("schedule")
	p.Schedule = d.optStr(sv, "", "schedule")
	ov, _ := doc.get("owner")
	p.Owner = d.str(ov, "", "owner")
	if v, _ := doc.get("sla_minutes"); v != nil {
		if i, ok := d.integer(v, "", "sla_minutes"); ok {
			p.SLAMinutes = i
		}
	}
	tv, _ := doc.get("tags")
	p.Tags = d.strList(tv, "", "tags")
	ev, _ := doc.get("extra")
	p.Extra = d.mapping(ev, "", "extra")
	s := &Spec{Pipeline: p, File: d.file, Line: doc.line, nodeLine: map[string]int{}, paramLine: map[string]map[string]int{}, fieldLine: keyLines(doc)}
	nv, nLine := doc.get("nodes")
	if nv == nil || nv.kind != vMap {
		d.addf(max(nLine, doc.line), "", "nodes must be a mapping of node id to node")
		return s
	}
	p.Nodes = map[string]*Node{}
	for i, key := range nv.keys {
		v := nv.vals[i]
		s.nodeLine[key] = nv.keyLines[i]
		if v.kind != vMap {
			d.addf(v.line, key, "a node must be a mapping, not a %s", v.kind)
			continue
		}
		d.known(v, key, "node", "id", "type", "engine", "params", "resources", "input_ids", "output_schema")
		n := &Node{}
		idv, _ := v.get("id")
		n.ID = d.str(idv, key, "id")
		if idv == nil {
			n.ID = key
		}
		tyv, _ := v.get("type")
		n.Type = d.str(tyv, key, "type")
		env, _ := v.get("engine")
		n.Engine = d.optStr(env, key, "engine")
		pv, _ := v.get("params")
		n.Params = d.mapping(pv, key, "params")
		if pv != nil {
			s.paramLine[key] = keyLines(pv)
		}
		rv, _ := v.get("resources")
		n.Resources = d.mapping(rv, key, "resources")
		iv, _ := v.get("input_ids")
		n.InputIDs = d.strList(iv, key, "input_ids")
		osv, _ := v.get("output_schema")
		n.OutputSchema = d.mapping(osv, key, "output_schema")
		p.Nodes[key] = n
	}
	if ev, _ := doc.get("edges"); ev != nil && ev.kind != vNull {
		if ev.kind != vList {
			d.addf(ev.line, "", "edges must be a list of [from, to] pairs")
		} else {
			for _, e := range ev.items {
				pair := d.strList(e, "", "edge")
				if len(pair) != 2 {
					d.addf(e.line, "", "an edge must be a [from, to] pair of node ids")
					continue
				}
				p.Edges = append(p.Edges, [2]string{pair[0], pair[1]})
			}
		}
	}
	return s
}

// Normalize puts a decoded pipeline in canonical shape: tenancy keys present in extra, tags merged
// with tenancy tags and sorted, empty collections instead of nulls, edges completed from
// input_ids, sorted and deduplicated. Canonical JSON is taken after Normalize.
func (p *Pipeline) Normalize() {
	if p.Extra == nil {
		p.Extra = map[string]any{}
	}
	for _, k := range TenancyKeys {
		if _, ok := p.Extra[k]; !ok {
			p.Extra[k] = nil
		}
	}
	p.Tags = TenancyTags(p.Tags, p.Extra)
	if p.Nodes == nil {
		p.Nodes = map[string]*Node{}
	}
	set := map[[2]string]bool{}
	for _, e := range p.Edges {
		set[e] = true
	}
	for id, n := range p.Nodes {
		if n == nil {
			continue
		}
		if n.Params == nil {
			n.Params = map[string]any{}
		}
		if n.Resources == nil {
			n.Resources = map[string]any{}
		}
		if n.InputIDs == nil {
			n.InputIDs = []string{}
		}
		for _, in := range n.InputIDs {
			set[[2]string{in, id}] = true
		}
	}
	p.Edges = make([][2]string, 0, len(set))
	for e := range set {
		p.Edges = append(p.Edges, e)
	}
	sort.Slice(p.Edges, func(i, j int) bool {
		if p.Edges[i][0] != p.Edges[j][0] {
			return p.Edges[i][0] < p.Edges[j][0]
		}
		return p.Edges[i][1] < p.Edges[j][1]
	})
}

// CheckOptions configures Check.
type CheckOptions struct {
	// Envs are the allowed values of extra.env (default DefaultEnvs).
	Envs []string
}

// Check runs every plugin-independent check on a loaded spec: graph, schedule, tenancy,
// templates and secret hygiene. Problems carry file and line.
func (s *Spec) Check(opts CheckOptions) Problems {
	p := s.Pipeline
	var ps Problems
	for _, pr := range p.CheckGraph() {
		ps = append(ps, s.Locate(pr, ""))
	}
	if p.Schedule != nil {
		if err := CheckSchedule(*p.Schedule); err != nil {
			ps = append(ps, s.Locate(Problem{Pipeline: p.ID, Msg: err.Error()}, "schedule"))
		}
	}
	if p.SLAMinutes < 0 {
		ps = append(ps, s.Locate(Problem{Pipeline: p.ID, Msg: "sla_minutes must not be negative"}, "sla_minutes"))
	}
	if pr := p.checkMode(); pr != nil {
		ps = append(ps, s.Locate(*pr, s.ModeField()))
	}
	for _, pr := range p.CheckTenancy(opts.Envs) {
		ps = append(ps, s.Locate(pr, pr.field))
	}
	cron := false
	if p.Schedule != nil {
		sch, err := ParseSchedule(*p.Schedule)
		cron = err == nil && sch != nil
	}
	params := p.PipelineParams()
	for k, v := range params {
		switch v.(type) {
		case string, bool, nil:
		default:
			if _, isNum := v.(interface{ String() string }); !isNum {
				ps = append(ps, s.Locate(Problem{Pipeline: p.ID, Msg: fmt.Sprintf("pipeline param %q must be a scalar", k)}, "params"))
			}
		}
	}
	for _, id := range p.NodeIDs() {
		n := p.Nodes[id]
		if n == nil {
			continue
		}
		walkStrings("", n.Params, func(path, str string) {
			for _, err := range CheckTemplate(str, params) {
				ps = append(ps, s.Locate(Problem{Pipeline: p.ID, Node: id, Msg: path + ": " + err.Error()}, topKey(path)))
			}
			if !cron {
				for _, name := range TemplateNames(str) {
					if slices.Contains(ScheduleVars, name) {
						ps = append(ps, s.Locate(Problem{Pipeline: p.ID, Node: id, Msg: fmt.Sprintf(
							"%s: template {{ %s }} needs a cron schedule (the pipeline's is %s)", path, name, scheduleText(p.Schedule))}, topKey(path)))
					}
				}
			}
		})
		for _, path := range secretLiterals("", n.Params) {
			ps = append(ps, s.Locate(Problem{Pipeline: p.ID, Node: id, Msg: fmt.Sprintf(
				"%s looks like a secret value: the IR must hold only references ({secret: name/key} or ${ENV_VAR})", path)}, topKey(path)))
		}
	}
	ps.Sort()
	return ps
}

func scheduleText(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// topKey is the params path a problem is located at: the whole path (ParamLine takes the line
// of its deepest recorded part, else its top-level key's).
func topKey(path string) string { return path }
