package ir_test

import (
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/ir"
)

func strp(s string) *string { return &s }

func src(id string, inputs ...string) *ir.Node {
	return &ir.Node{ID: id, Type: ir.Source, Params: map[string]any{"kind": "files"}, InputIDs: inputs}
}

func tr(id string, inputs ...string) *ir.Node {
	return &ir.Node{ID: id, Type: ir.Transform, Engine: strp("arrow"), InputIDs: inputs}
}

func snk(id string, inputs ...string) *ir.Node {
	return &ir.Node{ID: id, Type: ir.Sink, Params: map[string]any{"kind": "files"}, InputIDs: inputs}
}

func pipe(nodes ...*ir.Node) *ir.Pipeline {
	p := &ir.Pipeline{APIVersion: ir.APIVersion, ID: "p", SLAMinutes: 60, Nodes: map[string]*ir.Node{}}
	for _, n := range nodes {
		p.Nodes[n.ID] = n
	}
	p.Normalize()
	return p
}

func messages(ps ir.Problems) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func TestCheckGraph(t *testing.T) {
	tests := []struct {
		name string
		p    func() *ir.Pipeline
		want []string // each must appear in exactly one problem; nil = valid
	}{
		{"valid chain", func() *ir.Pipeline { return pipe(src("a"), tr("b", "a"), snk("c", "b")) }, nil},
		{"valid diamond", func() *ir.Pipeline {
			return pipe(src("a"), src("b"), tr("t", "a", "b"), snk("s1", "t"), snk("s2", "t"))
		}, nil},
		{"cycle named", func() *ir.Pipeline { return pipe(src("s"), tr("a", "s", "b"), tr("b", "a")) },
			[]string{"p/a: cycle: a -> b -> a"}},
		{"self loop", func() *ir.Pipeline { return pipe(src("s"), tr("a", "a", "s")) },
			[]string{"p/a: cycle: a -> a"}},
		{"three cycle", func() *ir.Pipeline { return pipe(tr("x", "z"), tr("y", "x"), tr("z", "y")) },
			[]string{"cycle: x -> y -> z -> x"}},
		{"source with inputs", func() *ir.Pipeline { return pipe(src("a"), src("b", "a")) },
			[]string{"p/b: a source cannot have inputs (has a)"}},
		{"sink without inputs", func() *ir.Pipeline { return pipe(src("a"), snk("out")) },
			[]string{"p/out: a sink needs at least one input"}},
		{"transform without inputs", func() *ir.Pipeline { return pipe(tr("t"), snk("s", "t")) },
			[]string{"p/t: a transform needs at least one input"}},
		{"input to unknown node, with suggestion", func() *ir.Pipeline { return pipe(src("orders"), snk("s", "order")) },
			[]string{`p/s: input "order" is not a node of this pipeline (did you mean "orders"?)`}},
		{"input listed twice", func() *ir.Pipeline { return pipe(src("a"), snk("s", "a", "a")) },
			[]string{`p/s: input "a" listed twice`}},
		{"edge to unknown node", func() *ir.Pipeline {
			p := pipe(src("a"), snk("s", "a"))
			p.Edges = append(p.Edges, [2]string{"a", "ghost"})
			return p
		}, []string{`p: edge a -> ghost: "ghost" is not a node`}},
		{"edge from unknown node", func() *ir.Pipeline {
			p := pipe(src("a"), snk("s", "a"))
			p.Edges = append(p.Edges, [2]string{"ghost", "s"})
			return p
		}, []string{`p: edge ghost -> s: "ghost" is not a node`}},
		{"edge not backed by input_ids", func() *ir.Pipeline {
			p := pipe(src("a"), src("b"), snk("s", "a"))
			p.Edges = append(p.Edges, [2]string{"b", "s"})
			return p
		}, []string{"p/s: edge b -> s but s does not list b in input_ids"}},
		{"node id differs from key", func() *ir.Pipeline {
			p := pipe(src("a"), snk("s", "a"))
			p.Nodes["s"].ID = "sink"
			return p
		}, []string{`p/s: node id "sink" differs from its key "s"`}},
		{"unknown type", func() *ir.Pipeline {
			p := pipe(src("a"), snk("s", "a"))
			p.Nodes["s"].Type = "sinc"
			return p
		}, []string{`p/s: type "sinc" is not one of source, transform, sink`}},
		{"transform without engine", func() *ir.Pipeline {
			p := pipe(src("a"), tr("t", "a"))
			p.Nodes["t"].Engine = nil
			return p
		}, []string{"p/t: a transform must name its engine"}},
		{"source without kind", func() *ir.Pipeline {
			p := pipe(src("a"), snk("s", "a"))
			delete(p.Nodes["a"].Params, "kind")
			return p
		}, []string{"p/a: a source must name its plugin in params.kind"}},
		{"invalid node id", func() *ir.Pipeline { return pipe(src("bad id"), snk("s", "bad id")) },
			[]string{`p/bad id: node id "bad id" is invalid`}},
		{"invalid pipeline id", func() *ir.Pipeline {
			p := pipe(src("a"), snk("s", "a"))
			p.ID = "-x"
			return p
		}, []string{`pipeline id "-x" is invalid`}},
		{"no nodes", func() *ir.Pipeline { return pipe() }, []string{"p: pipeline has no nodes"}},
		{"null node", func() *ir.Pipeline {
			p := pipe(src("a"))
			p.Nodes["z"] = nil
			return p
		}, []string{"p/z: node is null"}},
		{"wrong api_version", func() *ir.Pipeline {
			p := pipe(src("a"), snk("s", "a"))
			p.APIVersion = "aiflow/v2"
			return p
		}, []string{`api_version "aiflow/v2" is not supported`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := messages(tt.p().CheckGraph())
			if tt.want == nil {
				if len(got) > 0 {
					t.Fatalf("want no problems, got:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			for _, w := range tt.want {
				n := 0
				for _, g := range got {
					if strings.Contains(g, w) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("want exactly one problem containing %q, got:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

func TestDuplicateNodeIDs(t *testing.T) {
	yaml := `api_version: aiflow/v1
pipeline: {id: p, env: dev}
nodes:
  - id: a
    source: files
    with: {path: x}
  - id: a
    sink: files
    inputs: [a]
    with: {path: y}
`
	_, ps := ir.Parse("dup.yaml", []byte(yaml), false)
	if len(ps) != 1 || ps[0].Line != 7 || !strings.Contains(ps[0].String(), `dup.yaml:7: p/a: duplicate node id "a" (first at line 4)`) {
		t.Fatalf("got %v", ps)
	}
	js := "{\"api_version\":\"aiflow/v1\",\"id\":\"p\",\n\"nodes\":{\"a\":{\"type\":\"source\"},\n\"a\":{\"type\":\"sink\"}}}"
	_, ps = ir.Parse("dup.json", []byte(js), false)
	if len(ps) != 1 || ps[0].String() != `dup.json:3: duplicate key "a" (first at line 2)` {
		t.Fatalf("got %v", ps)
	}
}

func TestTopoOrderDeterministic(t *testing.T) {
	ids := []string{"z_src", "a_src", "m_join", "b_t", "y_t", "out1", "out0"}
	build := func(order []string) *ir.Pipeline {
		all := map[string]*ir.Node{
			"z_src":  src("z_src"),
			"a_src":  src("a_src"),
			"b_t":    tr("b_t", "z_src"),
			"y_t":    tr("y_t", "a_src"),
			"m_join": tr("m_join", "y_t", "b_t"),
			"out1":   snk("out1", "m_join"),
			"out0":   snk("out0", "m_join", "a_src"),
		}
		var nodes []*ir.Node
		for _, id := range order {
			nodes = append(nodes, all[id])
		}
		return pipe(nodes...)
	}
	want := []string{"a_src", "y_t", "z_src", "b_t", "m_join", "out0", "out1"}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 50; i++ {
		order := append([]string(nil), ids...)
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		got, err := build(order).TopoOrder()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("TopoOrder = %v, want %v", got, want)
		}
	}
}

func TestTopoOrderCycle(t *testing.T) {
	_, err := pipe(src("s"), tr("a", "s", "b"), tr("b", "a")).TopoOrder()
	if err == nil || err.Error() != "pipeline p: cycle: a -> b -> a" {
		t.Fatalf("got %v", err)
	}
}

func TestUpstreamDownstream(t *testing.T) {
	p := pipe(src("a"), src("b"), tr("t", "a", "b"), snk("s", "t"), snk("s2", "a"))
	if got := p.Upstream("s"); !reflect.DeepEqual(got, []string{"a", "b", "t"}) {
		t.Errorf("Upstream(s) = %v", got)
	}
	if got := p.Downstream("a"); !reflect.DeepEqual(got, []string{"s2", "t"}) {
		t.Errorf("Downstream(a) = %v", got)
	}
}

func TestNormalize(t *testing.T) {
	p := &ir.Pipeline{APIVersion: ir.APIVersion, ID: "p", Tags: []string{"z", "team:x", "a"},
		Extra: map[string]any{"team": "x", "env": "dev"},
		Nodes: map[string]*ir.Node{"a": {ID: "a", Type: ir.Source}, "b": {ID: "b", Type: ir.Sink, InputIDs: []string{"a"}}},
		Edges: [][2]string{{"a", "b"}, {"a", "b"}}}
	p.Normalize()
	if want := []string{"a", "env:dev", "team:x", "z"}; !reflect.DeepEqual(p.Tags, want) {
		t.Errorf("tags = %v, want %v", p.Tags, want)
	}
	if want := [][2]string{{"a", "b"}}; !reflect.DeepEqual(p.Edges, want) {
		t.Errorf("edges = %v, want %v", p.Edges, want)
	}
	for _, k := range ir.TenancyKeys {
		if _, ok := p.Extra[k]; !ok {
			t.Errorf("extra lacks %s", k)
		}
	}
	a := p.Nodes["a"]
	if a.Params == nil || a.Resources == nil || a.InputIDs == nil {
		t.Errorf("Normalize left nil collections: %+v", a)
	}
}

// chain is a pipeline of n nodes in a line: a source, n-2 transforms and a sink.
func chain(n int) *ir.Pipeline {
	nodes := []*ir.Node{src("n00000")}
	for i := 1; i < n-1; i++ {
		nodes = append(nodes, tr(fmt.Sprintf("n%05d", i), fmt.Sprintf("n%05d", i-1)))
	}
	return pipe(append(nodes, snk(fmt.Sprintf("n%05d", n-1), fmt.Sprintf("n%05d", n-2)))...)
}

// Graph checks are linear: a 4 MiB spec can hold tens of thousands of nodes, and a quadratic
// check turned a 1.5 MB, 20,000-node IR file into minutes of CPU (fixed in graph.go).
func TestLargeGraph(t *testing.T) {
	p := chain(20000)
	if ps := p.CheckGraph(); len(ps) > 0 {
		t.Fatal(ps)
	}
	order, err := p.TopoOrder()
	if err != nil || len(order) != 20000 || order[0] != "n00000" || order[19999] != "n19999" {
		t.Fatalf("order: %d nodes, %v", len(order), err)
	}
}

func BenchmarkCheckGraph10k(b *testing.B) {
	p := chain(10000)
	for b.Loop() {
		p.CheckGraph()
		p.TopoOrder()
	}
}
