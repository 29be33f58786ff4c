package compiler

import (
	"fmt"
	"testing"

	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// benchPipeline is a 10-node pipeline: a files source, eight arrow transforms (a chain with one
// fan-out and fan-in) and a files sink, with templates, resources and tenancy fields.
func benchPipeline(i int) *ir.Pipeline {
	sched := "0 3 * * *"
	arrow := "arrow"
	nodes := map[string]*ir.Node{}
	add := func(id, typ string, engine *string, params map[string]any, inputs ...string) {
		if inputs == nil {
			inputs = []string{}
		}
		nodes[id] = &ir.Node{ID: id, Type: typ, Engine: engine, Params: params, Resources: map[string]any{}, InputIDs: inputs}
	}
	add("orders", ir.Source, nil, map[string]any{"kind": "files", "path": fmt.Sprintf("s3://lake/raw/orders_%d/dt={{ ds }}/", i), "format": "parquet"})
	prev := "orders"
	for s := 1; s <= 8; s++ {
		id := fmt.Sprintf("step_%d", s)
		inputs := []string{prev}
		if s == 4 {
			inputs = []string{"step_2"} // fan-out from step_2 ...
		}
		if s == 5 {
			inputs = []string{"step_3", "step_4"} // ... and fan-in
		}
		add(id, ir.Transform, &arrow, map[string]any{"steps": []any{map[string]any{"filter": fmt.Sprintf("amount > %d", s)}}}, inputs...)
		if s == 6 {
			nodes[id].Resources = map[string]any{"cpu": "2", "memory": "4g"}
		}
		prev = id
	}
	add("out", ir.Sink, nil, map[string]any{"kind": "files", "path": fmt.Sprintf("s3://lake/out/p_%d/", i), "format": "parquet", "mode": "overwrite"}, prev)
	p := &ir.Pipeline{APIVersion: ir.APIVersion, ID: fmt.Sprintf("bench_pipeline_%04d", i), Schedule: &sched,
		Owner: "bench", SLAMinutes: 60, Extra: map[string]any{"team": "team-" + fmt.Sprint(i%7), "env": "prod", "project": "bench", "cost_center": "cc-1"},
		Nodes: nodes}
	p.Normalize()
	return p
}

func benchCorpus(b *testing.B) []*ir.Pipeline {
	ps := make([]*ir.Pipeline, 1000)
	for i := range ps {
		ps[i] = benchPipeline(i)
		if probs := ps[i].CheckGraph(); len(probs) > 0 {
			b.Fatal(probs)
		}
	}
	return ps
}

// BenchmarkCompile1000x10 compiles 1,000 pipelines of 10 nodes (one op = all 1,000) with plugin
// validation, as `aiflow-runner compile` does after loading (CompileAll: one worker per CPU).
// Target: under 2 s.
func BenchmarkCompile1000x10(b *testing.B) {
	ps := benchCorpus(b)
	opts := Options{Registry: plugin.Default, Profiles: DefaultProfiles()}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		files, err := CompileAll(ps, opts)
		if err != nil {
			b.Fatal(err)
		}
		size = len(files[0].Data)
	}
	b.ReportMetric(float64(size), "bytes/file")
}

// BenchmarkCompile1000x10Serial is the same on one goroutine.
func BenchmarkCompile1000x10Serial(b *testing.B) {
	ps := benchCorpus(b)
	opts := Options{Registry: plugin.Default, Profiles: DefaultProfiles()}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range ps {
			if _, err := Compile(p, opts); err != nil {
				b.Fatal(err)
			}
		}
	}
}
