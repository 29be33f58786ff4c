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

// ModeTask is one task of the compiled DAG of a pipeline of a mode other than batch: a pod
// running `aiflow-runner <Command...> --pipeline P --ir-hash H`, plus --run-id, --logical-date,
// --try and --max-tries when RunArgs is set.
type ModeTask struct {
	ID      string
	Command []string
	RunArgs bool
	// Nodes are the nodes the task acts for: its pod gets their resources (the largest) and
	// secrets, their sources' assets as inlets and their sinks' as outlets. None: the
	// profile's default resources.
	Nodes []string
	// Upstream are the ids of the tasks it runs after.
	Upstream []string
}

// Mode is how a registry runs pipelines of a mode other than batch.
type Mode struct {
	// Check refuses, at validate, what the mode's runtime cannot run.
	Check ModeCheck
	// Tasks are the tasks of the compiled DAG of a pipeline of the mode (it passed Check).
	Tasks func(p *ir.Pipeline) []ModeTask
}

// RegisterMode adds a pipeline mode other than batch (the flink engine registers
// ir.ModeStreaming). A pipeline of a mode no plugin registered is refused at validate. It panics
// on a duplicate, on batch, or without a check or tasks: programming errors found at init.
func (r *Registry) RegisterMode(mode string, m Mode) {
	if mode == ir.ModeBatch || m.Check == nil || m.Tasks == nil {
		panic("plugin: RegisterMode " + mode + ": batch is built in, and a mode needs a check and its tasks")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.modes[mode]; dup {
		panic("plugin: RegisterMode called twice for " + mode)
	}
	r.modes[mode] = m
}

// ModeTasks returns the DAG tasks of a pipeline of a registered mode other than batch.
func (r *Registry) ModeTasks(p *ir.Pipeline) ([]ModeTask, bool) {
	r.mu.RLock()
	m, ok := r.modes[p.Mode()]
	r.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return m.Tasks(p), true
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
	m, ok := r.modes[mode]
	r.mu.RUnlock()
	if !ok {
		if _, isStr := p.Extra[ir.ModeKey].(string); !isStr || !slices.Contains(ir.Modes, mode) {
			return nil // Spec.Check reports a mode that is none
		}
		return ir.Problems{spec.Locate(ir.Problem{Pipeline: p.ID, Msg: fmt.Sprintf("mode %s: no plugin of this runner runs %s pipelines", mode, mode)}, spec.ModeField())}
	}
	var ps ir.Problems
	for _, mp := range m.Check(r, p) {
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
