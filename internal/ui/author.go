package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Draft is a pipeline as the authoring page edits it: the YAML spec's shape (pipeline fields,
// then nodes with their role, kind or engine, inputs and `with` params), as JSON. It is turned
// into YAML by the server, never by the browser, so that what is saved is what validate reads.
type Draft struct {
	Pipeline DraftPipeline `json:"pipeline"`
	Nodes    []DraftNode   `json:"nodes"`
}

// DraftPipeline is the spec's pipeline mapping.
type DraftPipeline struct {
	ID          string         `json:"id"`
	Schedule    *string        `json:"schedule"`
	Owner       string         `json:"owner"`
	SLAMinutes  int            `json:"sla_minutes"`
	Tags        []string       `json:"tags"`
	Team        string         `json:"team"`
	Env         string         `json:"env"`
	Project     string         `json:"project"`
	CostCenter  string         `json:"cost_center"`
	Description string         `json:"description"`
	Params      map[string]any `json:"params"`
	Extra       map[string]any `json:"extra"`
}

// DraftNode is one node: Role is source, transform or sink; Kind the plugin kind (a transform's
// engine); Engine the engine a source or sink pins ("" for none).
type DraftNode struct {
	ID           string         `json:"id"`
	Role         string         `json:"role"`
	Kind         string         `json:"kind"`
	Engine       string         `json:"engine"`
	Inputs       []string       `json:"inputs"`
	With         map[string]any `json:"with"`
	Resources    map[string]any `json:"resources"`
	OutputSchema map[string]any `json:"output_schema"`
}

// DraftOf is the draft of a loaded pipeline: its YAML is the same IR (the same ir_hash).
func DraftOf(p *ir.Pipeline) Draft {
	d := Draft{Pipeline: DraftPipeline{ID: p.ID, Schedule: p.Schedule, Owner: p.Owner, SLAMinutes: p.SLAMinutes,
		Tags: p.Tags, Team: p.Tenant("team"), Env: p.Tenant("env"), Project: p.Tenant("project"),
		CostCenter: p.Tenant("cost_center")}}
	d.Pipeline.Description, _ = p.Extra["description"].(string)
	d.Pipeline.Params, _ = p.Extra["params"].(map[string]any)
	for k, v := range p.Extra {
		switch k {
		case "team", "env", "project", "cost_center", "description", "params":
			continue
		}
		if d.Pipeline.Extra == nil {
			d.Pipeline.Extra = map[string]any{}
		}
		d.Pipeline.Extra[k] = v
	}
	order, err := p.TopoOrder()
	if err != nil {
		order = p.NodeIDs()
	}
	for _, id := range order {
		n := p.Nodes[id]
		dn := DraftNode{ID: id, Role: n.Type, Inputs: n.InputIDs, Resources: n.Resources, OutputSchema: n.OutputSchema}
		if n.Type == ir.Transform {
			dn.Kind = n.EngineName()
		} else {
			dn.Kind, dn.Engine = n.Kind(), n.EngineName()
		}
		for k, v := range n.Params {
			if k == "kind" && n.Type != ir.Transform {
				continue
			}
			if dn.With == nil {
				dn.With = map[string]any{}
			}
			dn.With[k] = v
		}
		d.Nodes = append(d.Nodes, dn)
	}
	return d
}

// YAML writes the draft as a spec file, keys in the order people write them.
func (d Draft) YAML() ([]byte, error) {
	root := mapping()
	add(root, "api_version", ir.APIVersion)
	p := mapping()
	add(p, "id", d.Pipeline.ID)
	if d.Pipeline.Schedule != nil {
		add(p, "schedule", *d.Pipeline.Schedule)
	}
	for _, kv := range [][2]string{{"owner", d.Pipeline.Owner}, {"team", d.Pipeline.Team}, {"env", d.Pipeline.Env},
		{"project", d.Pipeline.Project}, {"cost_center", d.Pipeline.CostCenter}, {"description", d.Pipeline.Description}} {
		if kv[1] != "" {
			add(p, kv[0], kv[1])
		}
	}
	if d.Pipeline.SLAMinutes != 0 && d.Pipeline.SLAMinutes != ir.DefaultSLAMinutes {
		add(p, "sla_minutes", d.Pipeline.SLAMinutes)
	}
	if d.Pipeline.Tags != nil {
		add(p, "tags", d.Pipeline.Tags)
	}
	if d.Pipeline.Params != nil {
		add(p, "params", d.Pipeline.Params)
	}
	if len(d.Pipeline.Extra) > 0 {
		add(p, "extra", d.Pipeline.Extra)
	}
	addNode(root, "pipeline", p)
	nodes := &yaml.Node{Kind: yaml.SequenceNode}
	for _, n := range d.Nodes {
		m := mapping()
		add(m, "id", n.ID)
		add(m, n.Role, n.Kind)
		if n.Engine != "" && n.Role != ir.Transform {
			add(m, "engine", n.Engine)
		}
		if len(n.Inputs) > 0 {
			add(m, "inputs", n.Inputs)
		}
		if n.With != nil {
			add(m, "with", n.With)
		}
		if n.Resources != nil {
			add(m, "resources", n.Resources)
		}
		if n.OutputSchema != nil {
			add(m, "output_schema", n.OutputSchema)
		}
		nodes.Content = append(nodes.Content, m)
	}
	addNode(root, "nodes", nodes)
	var buf bytes.Buffer
	buf.WriteString("# Written by the aiflow web UI; edit freely: aiflow-runner validate checks it.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode the draft as YAML: %w", err)
	}
	return buf.Bytes(), enc.Close()
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func addNode(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

// add appends key: v, with map keys sorted (yaml.v3 sorts maps too; a stable file diffs well).
func add(m *yaml.Node, key string, v any) {
	var n yaml.Node
	if err := n.Encode(plain(v)); err != nil {
		n = yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(v)}
	}
	addNode(m, key, &n)
}

// plain turns JSON numbers into int64 or float64, so that YAML writes 3, not "3".
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case float64:
		if x == float64(int64(x)) && x < 1<<53 && x > -(1<<53) {
			return int64(x)
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// Problem is one validation problem of a draft, for the form: Node and Field say where it
// belongs ("" for the pipeline or the node as a whole).
type Problem struct {
	Line  int    `json:"line"`
	Node  string `json:"node"`
	Field string `json:"field"`
	Msg   string `json:"msg"`
}

// Checked is a draft's YAML, and its ir_hash when it is valid, else its problems.
type Checked struct {
	YAML     string    `json:"yaml"`
	IRHash   string    `json:"ir_hash"`
	Problems []Problem `json:"problems"`
	spec     *ir.Spec
}

// Check writes the draft as YAML and validates that YAML exactly as `aiflow-runner validate`
// does (parse, graph/schedule/tenancy/secret checks, each plugin's typed config), so that a
// saved draft validates to the same ir_hash.
func Check(r *plugin.Registry, envs []string, name string, d Draft) (*Checked, error) {
	y, err := d.YAML()
	if err != nil {
		return nil, err
	}
	c := &Checked{YAML: string(y), Problems: []Problem{}}
	specs, ps := ir.Parse(name, y, false)
	if len(ps) == 0 && len(specs) == 1 {
		s := specs[0]
		ps = append(ps, s.Check(ir.CheckOptions{Envs: envs})...)
		ps = append(ps, r.Validate(s)...)
		if len(ps) == 0 {
			canon, err := s.Pipeline.Canonical()
			if err != nil {
				ps = append(ps, ir.Problem{Msg: "canonical IR: " + err.Error()})
			} else {
				c.IRHash, c.spec = ir.HashBytes(canon), s
			}
		}
	}
	ps.Sort()
	for _, p := range ps {
		c.Problems = append(c.Problems, Problem{Line: p.Line, Node: p.Node, Field: fieldOf(p.Msg, d, p.Node), Msg: p.Msg})
	}
	return c, nil
}

// fieldOf guesses which `with` field a problem is about (a message naming it first, as the
// plugin decoder writes "path: required" or `unknown field "pth"`), for the form to mark it.
func fieldOf(msg string, d Draft, node string) string {
	var keys []string
	for _, n := range d.Nodes {
		if n.ID == node {
			keys = slices.Collect(maps.Keys(n.With))
		}
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		if strings.HasPrefix(msg, k+":") || strings.HasPrefix(msg, k+".") || strings.Contains(msg, `"`+k+`"`) {
			return k
		}
	}
	if i := strings.IndexAny(msg, ":. "); i > 0 && !strings.Contains(msg[:i], " ") {
		return msg[:i]
	}
	return ""
}
