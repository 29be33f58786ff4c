// Package arrowengine is the arrow engine: in-process Go over Arrow record batches. A transform is
// either declarative steps (internal/arrowops) or a registered Go function (plugin.ArrowFunc);
// its inputs stream from their committed manifests and its output streams into the attempt's
// staging folder as Parquet, so memory stays bounded by the batches in flight (and the state of
// blocking steps such as group_by).
package arrowengine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowops"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Register adds the arrow engine to r.
func Register(r *plugin.Registry) { plugin.RegisterEngine(r, Kind, Engine{}) }

// Engine is the arrow transform runtime.
type Engine struct{}

var _ plugin.Engine[*Config, *plugin.PodResources] = Engine{}

// Steps decodes and checks the declarative steps of a config.
func Steps(c *Config) ([]arrowops.Step, error) {
	b, err := json.Marshal(c.Steps)
	if err != nil {
		return nil, err
	}
	steps, err := arrowops.DecodeSteps(b)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "steps")
	}
	for i, s := range steps {
		if err := s.Validate(); err != nil {
			return nil, fault.Wrap(fault.Config, err, "steps[%d]", i)
		}
	}
	return steps, nil
}

// Transform runs the node.
func (Engine) Transform(ctx context.Context, env *plugin.Env, cfg *Config, _ *plugin.PodResources) (*plugin.Output, error) {
	mem := memory.DefaultAllocator
	inputs := map[string]array.RecordReader{}
	schemas := map[string]*arrow.Schema{}
	counters := map[string]*readers.Counter{}
	defer func() {
		for _, rr := range inputs {
			rr.Release()
		}
	}()
	var steps []arrowops.Step
	if cfg.Function == "" {
		var err error
		if steps, err = Steps(cfg); err != nil {
			return nil, err
		}
	}
	for k, id := range env.InputOrder {
		c := &readers.Counter{Watch: env.ReadProgress(id)}
		var dict []string
		if k == 0 && len(steps) > 0 && steps[0].Kind() == "filter" {
			// A first filter takes string columns as dictionaries (arrowops.Plan.
			// DictionaryColumns): Parquet's dictionary-encoded strings are compared once per
			// dictionary value and expanded only for the rows kept.
			dict = stringColumns(env.Inputs[id])
		}
		rr, sc, err := readers.DictionaryReader(ctx, env.Store, env.Config, env.Inputs[id], c, mem, dict)
		if err != nil {
			return nil, fmt.Errorf("open input %s: %w", id, err)
		}
		inputs[id], schemas[id], counters[id] = rr, sc, c
	}
	var out array.RecordReader
	if cfg.Function != "" {
		fn, err := env.Registry.ArrowFunction(cfg.Function)
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "")
		}
		if out, err = fn(ctx, inputs, cfg.Params, mem); err != nil {
			if fault.ClassOf(err) == fault.Internal {
				// Unclassified: a bug of the function (exit 1, retried), not bad data; a
				// function says "bad data" with fault.Data (plugin.DataError).
				err = fault.Wrap(fault.Internal, err, "function %s", cfg.Function)
			}
			return nil, err
		}
	} else {
		plan, err := arrowops.Compile(steps, schemas, env.InputOrder[0])
		if err != nil {
			return nil, err
		}
		if out, err = plan.Run(ctx, inputs, mem); err != nil {
			return nil, err
		}
	}
	defer out.Release()
	// The output's checks measure each batch on its way to staging: no second pass.
	files, err := dataset.WriteFiles(ctx, env.Store, env.OutDir, env.Audit.Watch(ctx, out), dataset.WriteOptions{Format: dataset.Parquet, FilePrefix: "out", CompressionLevel: 1, Allocator: mem, Progress: env.Progress})
	if err != nil {
		return nil, err
	}
	m := readers.StagedManifest(files, out.Schema())
	m.Dataset = &manifest.DatasetRef{Namespace: "aiflow", Name: env.Pipeline.ID + "." + env.Node.ID}
	o := &plugin.Output{Manifest: m}
	var dead int64
	for _, c := range counters {
		o.RowsIn += c.Rows.Load()
		o.BytesIn += c.Bytes.Load()
		dead += c.DeadLetters.Load()
	}
	if dead > 0 {
		// Undecodable stream records set aside (on_error: dead_letter): in the run record.
		m.Details = map[string]any{"dead_letters": dead}
		env.Log.Warn("records sent to the dead-letter destination", "dead_letters", dead)
	}
	return o, nil
}

// stringColumns names the string columns a manifest records.
func stringColumns(m *manifest.Manifest) []string {
	var out []string
	for _, f := range m.Schema {
		if dt, err := arrowops.ParseType(f.Type); err == nil && dt.ID() == arrow.STRING {
			out = append(out, f.Name)
		}
	}
	return out
}
