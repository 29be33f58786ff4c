package ir

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// idPattern is what a pipeline or node id may look like: it becomes an Airflow dag_id/task_id, a
// metric label, a path segment and a Kubernetes label value, so keep it to the safe intersection.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,126}$`)

// ValidID reports whether s can be a pipeline or node id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// CheckGraph checks the structure of a pipeline: ids, node types, inputs, edges and cycles. It
// returns one problem per defect (Line unset: the loader fills positions).
func (p *Pipeline) CheckGraph() Problems {
	var ps Problems
	add := func(node, format string, args ...any) {
		ps = append(ps, Problem{Pipeline: p.ID, Node: node, Msg: fmt.Sprintf(format, args...)})
	}
	if p.APIVersion != APIVersion {
		add("", "api_version %q is not supported (want %q)", p.APIVersion, APIVersion)
	}
	if !ValidID(p.ID) {
		add("", "pipeline id %q is invalid: use letters, digits, _ and - (at most 127, not starting with -)", p.ID)
	}
	if len(p.Nodes) == 0 {
		add("", "pipeline has no nodes")
	}
	ids := p.NodeIDs()
	for _, key := range ids {
		n := p.Nodes[key]
		if n == nil {
			add(key, "node is null")
			continue
		}
		if n.ID != key {
			add(key, "node id %q differs from its key %q", n.ID, key)
		}
		if !ValidID(key) {
			add(key, "node id %q is invalid: use letters, digits, _ and - (it becomes an Airflow task id)", key)
		}
		seen := map[string]bool{}
		for _, in := range n.InputIDs {
			if seen[in] {
				add(key, "input %q listed twice", in)
			}
			seen[in] = true
			if _, ok := p.Nodes[in]; !ok {
				add(key, "input %q is not a node of this pipeline%s", in, suggest(in, ids))
			}
		}
		switch n.Type {
		case Source:
			if len(n.InputIDs) > 0 {
				add(key, "a source cannot have inputs (has %s)", strings.Join(n.InputIDs, ", "))
			}
		case Transform, Sink:
			if len(n.InputIDs) == 0 {
				add(key, "a %s needs at least one input", n.Type)
			}
		default:
			add(key, "type %q is not one of source, transform, sink", n.Type)
		}
		if n.Type == Transform && n.EngineName() == "" {
			add(key, "a transform must name its engine")
		}
		if (n.Type == Source || n.Type == Sink) && n.Kind() == "" {
			add(key, "a %s must name its plugin in params.kind", n.Type)
		}
	}
	for _, e := range p.Edges {
		a, b := e[0], e[1]
		_, okA := p.Nodes[a]
		nb, okB := p.Nodes[b]
		switch {
		case !okA && nb != nil && contains(nb.InputIDs, a):
			// Reported above as an unknown input of b (Normalize made the edge from input_ids).
		case !okA:
			add("", "edge %s -> %s: %q is not a node", a, b, a)
		case !okB:
			add("", "edge %s -> %s: %q is not a node", a, b, b)
		case nb != nil && !contains(nb.InputIDs, a):
			add(b, "edge %s -> %s but %s does not list %s in input_ids", a, b, b, a)
		}
	}
	if c := p.cycle(); c != nil {
		add(c[0], "cycle: %s", strings.Join(c, " -> "))
	}
	return ps
}

// NodeIDs returns the node keys sorted.
func (p *Pipeline) NodeIDs() []string {
	ids := make([]string, 0, len(p.Nodes))
	for id := range p.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Downstream returns the ids of the nodes that list id as an input, sorted.
func (p *Pipeline) Downstream(id string) []string {
	return p.downstream(p.NodeIDs())[id]
}

// downstream maps every node id to the ids of the nodes that list it as an input, each list
// sorted (ids must be sorted). Built once per graph walk, so that checks stay linear in the
// number of nodes: a spec file may hold tens of thousands.
func (p *Pipeline) downstream(ids []string) map[string][]string {
	out := make(map[string][]string, len(ids))
	for _, k := range ids {
		n := p.Nodes[k]
		if n == nil {
			continue
		}
		for i, in := range n.InputIDs {
			if indexOf(n.InputIDs[:i], in) >= 0 {
				continue // listed twice: one edge
			}
			out[in] = append(out[in], k)
		}
	}
	return out
}

// cycle returns one cycle as a path that starts and ends at the same node, or nil.
func (p *Pipeline) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	ids := p.NodeIDs()
	down := p.downstream(ids)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(id string) bool
	visit = func(id string) bool {
		color[id] = grey
		stack = append(stack, id)
		for _, next := range down[id] {
			switch color[next] {
			case grey:
				i := indexOf(stack, next)
				found = append(append([]string{}, stack[i:]...), next)
				return true
			case white:
				if visit(next) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return false
	}
	for _, id := range ids {
		if color[id] == white && visit(id) {
			return found
		}
	}
	return nil
}

// TopoOrder returns the node ids in a deterministic topological order: among the nodes whose
// inputs are all done, the smallest id first (Kahn's algorithm). It fails on a cycle.
func (p *Pipeline) TopoOrder() ([]string, error) {
	ids := p.NodeIDs()
	down := p.downstream(ids)
	indeg := map[string]int{}
	for _, next := range down {
		for _, id := range next {
			indeg[id]++
		}
	}
	for in := range down {
		if _, ok := p.Nodes[in]; !ok {
			for _, id := range down[in] {
				indeg[id]-- // an input that is not a node (CheckGraph reports it) does not block
			}
		}
	}
	var ready []string
	for _, id := range ids {
		if indeg[id] == 0 {
			ready = append(ready, id)
		}
	}
	order := make([]string, 0, len(p.Nodes))
	for len(ready) > 0 {
		id := ready[0]
		ready = ready[1:]
		order = append(order, id)
		for _, next := range down[id] {
			indeg[next]--
			if indeg[next] == 0 {
				ready = insertSorted(ready, next)
			}
		}
	}
	if len(order) != len(p.Nodes) {
		if c := p.cycle(); c != nil {
			return nil, fmt.Errorf("pipeline %s: cycle: %s", p.ID, strings.Join(c, " -> "))
		}
		return nil, fmt.Errorf("pipeline %s: graph has no topological order", p.ID)
	}
	return order, nil
}

// Upstream returns every ancestor of id (not id itself), sorted.
func (p *Pipeline) Upstream(id string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(x string) {
		n := p.Nodes[x]
		if n == nil {
			return
		}
		for _, in := range n.InputIDs {
			if !seen[in] {
				seen[in] = true
				walk(in)
			}
		}
	}
	walk(id)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func insertSorted(s []string, v string) []string {
	i := sort.SearchStrings(s, v)
	s = append(s, "")
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

func contains(s []string, v string) bool { return indexOf(s, v) >= 0 }

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
