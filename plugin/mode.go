package plugin

import (
	"fmt"
	"slices"
	"sort"

	"github.com/aiflow-dev/aiflow/ir"
)

// ModeProblem is one reason a pipeline cannot run in its mode: a node's (Node set, Field the
// param it is about, "" for the node) or the pipeline's (Node "").
type ModeProblem struct {
	Node string
	FieldError
}

// ModeCheck checks a whole pipeline of a mode other than batch (ir.ModeStreaming): which of its
// nodes the runtime of that mode cannot run, and why. It runs at validate and compile, after
// every node decoded, so a spec that cannot be deployed is refused (78) at its lines.
type ModeCheck func(r *Registry, p *ir.Pipeline) []ModeProblem

// RegisterMode adds the runtime check of a pipeline mode (the flink engine registers
// ir.ModeStreaming). A pipeline of a mode no plugin registered is refused at validate. It panics
// on a duplicate or on batch, which needs no check: programming errors found at init.
func (r *Registry) RegisterMode(mode string, check ModeCheck) {
	if mode == ir.ModeBatch || check == nil {
		panic("plugin: RegisterMode " + mode + ": batch needs no check, and a check is required")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.modes[mode]; dup {
		panic("plugin: RegisterMode called twice for " + mode)
	}
	r.modes[mode] = check
}

// Modes lists the pipeline modes this registry runs: batch and every registered one, sorted.
func (r *Registry) Modes() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []string{ir.ModeBatch}
	for m := range r.modes {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// modeProblems checks the pipeline against its mode's registered check.
func (r *Registry) modeProblems(spec *ir.Spec) ir.Problems {
	p := spec.Pipeline
	mode := p.Mode()
	if mode == ir.ModeBatch {
		return nil
	}
	r.mu.RLock()
	check, ok := r.modes[mode]
	r.mu.RUnlock()
	if !ok {
		if _, isStr := p.Extra[ir.ModeKey].(string); !isStr || !slices.Contains(ir.Modes, mode) {
			return nil // Spec.Check reports a mode that is none
		}
		return ir.Problems{spec.Locate(ir.Problem{Pipeline: p.ID, Msg: fmt.Sprintf("mode %s: no plugin of this runner runs %s pipelines", mode, mode)}, spec.ModeField())}
	}
	var ps ir.Problems
	for _, mp := range check(r, p) {
		if mp.Node == "" {
			ps = append(ps, spec.Locate(ir.Problem{Pipeline: p.ID, Msg: mp.Msg}, spec.ModeField()))
			continue
		}
		field := mp.Field
		if mp.At != "" {
			field = mp.At
		}
		ps = append(ps, spec.Locate(ir.Problem{Pipeline: p.ID, Node: mp.Node, Msg: mp.Error()}, field))
	}
	return ps
}
