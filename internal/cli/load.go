package cli

import (
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Loaded is a validated pipeline with its hash.
type Loaded struct {
	Spec *ir.Spec
	Hash string
	// Canonical is the canonical IR the hash was taken of (nil: not kept; use
	// Spec.Pipeline.Canonical).
	Canonical []byte
	// Registry is the registry its nodes were validated with (its Python plugin modules').
	Registry *plugin.Registry
}

// LoadValid loads, checks and plugin-validates specs from paths, and merges pipelines found in
// several files (the same pipeline as YAML and as IR JSON is fine when the IR is identical). Any
// problem makes it fail with a fault.Config whose message is one `file:line:` line per problem.
func LoadValid(r *plugin.Registry, envs []string, paths []string) ([]*Loaded, error) {
	if len(paths) == 0 {
		return nil, fault.Usagef("no spec paths given")
	}
	specs, ps := ir.LoadPaths(paths)
	return validSpecs(func(*ir.Spec) (*plugin.Registry, ir.Problems) { return r, nil }, envs, specs, ps, paths)
}

// loadValid is LoadValid with the registry of each pipeline's Python plugin modules (the
// configuration's and its own plugin_modules).
func (e *Env) loadValid(cfg *config.Config, paths []string) ([]*Loaded, error) {
	if len(paths) == 0 {
		return nil, fault.Usagef("no spec paths given")
	}
	specs, ps := ir.LoadPaths(paths)
	regs, probs, err := e.pythonPluginsFor(cfg, specs)
	if err != nil {
		return nil, err
	}
	return validSpecs(func(s *ir.Spec) (*plugin.Registry, ir.Problems) { return regs[s], probs[s] }, cfg.Envs, specs, ps, paths)
}

// validSpecs checks, validates (each spec with the registry regFor gives it, none when its
// plugin modules failed) and merges loaded specs, with the problems regFor reports.
func validSpecs(regFor func(*ir.Spec) (*plugin.Registry, ir.Problems), envs []string, specs []*ir.Spec, ps ir.Problems, paths []string) ([]*Loaded, error) {
	// Sequentially: regFor need not be safe for concurrent use.
	regs := make([]*plugin.Registry, len(specs))
	pre := make([]ir.Problems, len(specs))
	for i, s := range specs {
		regs[i], pre[i] = regFor(s)
	}
	// Check, validate and hash every spec, concurrently; then merge in load order.
	type checked struct {
		ps    ir.Problems
		canon []byte
	}
	res := make([]checked, len(specs))
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(specs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s := specs[i]
				sp := s.Check(ir.CheckOptions{Envs: envs})
				sp = append(sp, pre[i]...)
				if regs[i] != nil {
					sp = append(sp, regs[i].Validate(s)...)
				}
				if len(sp) > 0 {
					res[i].ps = sp
					continue
				}
				canon, err := s.Pipeline.Canonical()
				if err != nil {
					res[i].ps = ir.Problems{s.Locate(ir.Problem{Msg: "canonical IR: " + err.Error()}, "")}
					continue
				}
				res[i].canon = canon
			}
		}()
	}
	for i := range specs {
		work <- i
	}
	close(work)
	wg.Wait()
	byID := map[string]*Loaded{}
	var out []*Loaded
	for i, s := range specs {
		if len(res[i].ps) > 0 {
			ps = append(ps, res[i].ps...)
			continue
		}
		h := ir.HashBytes(res[i].canon)
		if prev, ok := byID[s.Pipeline.ID]; ok {
			if prev.Hash != h {
				ps = append(ps, s.Locate(ir.Problem{Msg: fmt.Sprintf("pipeline %q is also defined in %s:%d with different content (ir_hash %s vs %s)",
					s.Pipeline.ID, prev.Spec.File, prev.Spec.Line, short(prev.Hash), short(h))}, ""))
			}
			continue
		}
		l := &Loaded{Spec: s, Hash: h, Canonical: res[i].canon, Registry: regs[i]}
		byID[s.Pipeline.ID] = l
		out = append(out, l)
	}
	if len(ps) > 0 {
		ps.Sort()
		return nil, fault.Wrap(fault.Config, ps, "")
	}
	if len(out) == 0 {
		return nil, fault.Configf("no pipelines found in %v", paths)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Pipeline.ID < out[j].Spec.Pipeline.ID })
	return out, nil
}

// pick returns the pipeline named id, or the only one when id is empty.
func pick(ls []*Loaded, id string) (*Loaded, error) {
	if id == "" {
		if len(ls) == 1 {
			return ls[0], nil
		}
		return nil, fault.Usagef("%d pipelines found: choose one with --pipeline (%s)", len(ls), pipelineIDs(ls))
	}
	for _, l := range ls {
		if l.Spec.Pipeline.ID == id {
			return l, nil
		}
	}
	return nil, fault.Configf("pipeline %q not found (have: %s)%s", id, pipelineIDs(ls), ir.Suggest(id, idsOf(ls)))
}

func idsOf(ls []*Loaded) []string {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.Spec.Pipeline.ID
	}
	return ids
}

func pipelineIDs(ls []*Loaded) string {
	ids := idsOf(ls)
	if len(ids) > 10 {
		return fmt.Sprintf("%s, … %d more", joinComma(ids[:10]), len(ids)-10)
	}
	return joinComma(ids)
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
