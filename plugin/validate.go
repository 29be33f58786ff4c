package plugin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowops"
	"github.com/aiflow-dev/aiflow/internal/contract"
	"github.com/aiflow-dev/aiflow/ir"
)

// NodeSpec returns the spec a node is configured by: its source or sink kind, or its engine.
func (r *Registry) NodeSpec(n *ir.Node) (*Spec, error) {
	var role Role
	var kind string
	switch n.Type {
	case ir.Source:
		role, kind = RoleSource, n.Kind()
	case ir.Sink:
		role, kind = RoleSink, n.Kind()
	case ir.Transform:
		role, kind = RoleEngine, n.EngineName()
	default:
		return nil, fmt.Errorf("node type %q has no plugin", n.Type)
	}
	s, ok := r.Lookup(role, kind)
	if !ok {
		known := r.Kinds(role)
		return nil, fmt.Errorf("unknown %s %q%s (known: %s)", role, kind, ir.Suggest(kind, known), strings.Join(known, ", "))
	}
	return s, nil
}

// Decoded is a node's decoded configuration. Params and Resources are for generic readers
// (listing, policy); the runtime gets the typed config itself (Runtime).
type Decoded struct {
	Spec      *Spec
	Params    Config
	Resources Config

	lint         func(*Registry) error
	destinations func() []Destination
	asset        func() string
	runtime      func(engine string) (RunFunc, bool)
}

// DecodeNode decodes and validates a node's params and resources. The error is a fault.Config
// listing every field problem.
func (r *Registry) DecodeNode(n *ir.Node) (*Decoded, error) {
	d, errs := r.decodeNode(n)
	if len(errs) == 0 {
		return d, nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return nil, fault.Configf("node %s: %s", n.ID, strings.Join(msgs, "; "))
}

func (r *Registry) decodeNode(n *ir.Node) (*Decoded, []FieldError) {
	s, err := r.NodeSpec(n)
	if err != nil {
		return nil, []FieldError{{Msg: err.Error()}}
	}
	var errs []FieldError
	if n.Type != ir.Transform && n.Engine != nil {
		if _, ok := r.Lookup(RoleEngine, *n.Engine); !ok {
			known := r.Kinds(RoleEngine)
			errs = append(errs, FieldError{Msg: fmt.Sprintf("unknown engine %q%s (known: %s)", *n.Engine, ir.Suggest(*n.Engine, known), strings.Join(known, ", "))})
		}
	}
	var d *Decoded
	var perrs, rerrs []FieldError
	if s.binder != nil {
		d, perrs, rerrs = s.binder.decode(s, n.Params, n.Resources)
	} else {
		d = &Decoded{Spec: s}
		d.Params, perrs = s.Decode(n.Params, false)
		d.Resources, rerrs = s.Decode(n.Resources, true)
	}
	errs = append(errs, perrs...)
	for _, e := range rerrs {
		e.Field = "resources." + e.Field
		if e.Field == "resources." {
			e.Field = "resources"
		}
		errs = append(errs, e)
	}
	if len(errs) == 0 && d.lint != nil {
		if err := d.lint(r); err != nil {
			var many FieldErrors
			var at FieldError
			switch {
			case errors.As(err, &many):
				errs = append(errs, many...)
			case errors.As(err, &at):
				errs = append(errs, at)
			default:
				errs = append(errs, FieldError{Msg: err.Error()})
			}
		}
	}
	return d, errs
}

// Validate checks every node of a loaded spec against the registry and returns positioned
// problems: unknown kinds or engines, fields that fail the plugin's config spec, and nodes the
// runtime of the pipeline's mode cannot run (RegisterMode).
func (r *Registry) Validate(spec *ir.Spec) ir.Problems {
	p := spec.Pipeline
	var ps ir.Problems
	for _, id := range p.NodeIDs() {
		n := p.Nodes[id]
		if n == nil {
			continue
		}
		if n.Type != ir.Source && n.Type != ir.Sink && n.Type != ir.Transform {
			continue // CheckGraph reports it
		}
		if (n.Type == ir.Source || n.Type == ir.Sink) && n.Kind() == "" {
			continue // CheckGraph reports it
		}
		_, errs := r.decodeNode(n)
		errs = append(errs, contractErrors(n)...)
		if reported, ok := stepProblems(errs); ok {
			// Problems with some steps do not hide the column problems of the others.
			errs = append(errs, declaredInputErrors(p, n, reported)...)
			errs = append(errs, r.engineInputErrors(p, n)...)
		}
		for _, e := range errs {
			// The line of the deepest part of the field's path the spec recorded.
			field := e.Field
			if e.At != "" {
				field = e.At
			}
			msg := e.Msg
			if e.Field != "" && !strings.Contains(msg, fmt.Sprintf("%q", e.Field)) {
				msg = e.Field + ": " + msg
			}
			ps = append(ps, spec.Locate(ir.Problem{Pipeline: p.ID, Node: id, Msg: msg}, field))
		}
	}
	return append(ps, r.modeProblems(spec)...)
}

// engineInputErrors asks a transform's engine whether it can read each of the node's inputs
// (Spec.CheckInput): an input the engine would refuse at run time is a problem at validate.
func (r *Registry) engineInputErrors(p *ir.Pipeline, n *ir.Node) []FieldError {
	if n.Type != ir.Transform {
		return nil
	}
	s, ok := r.Lookup(RoleEngine, n.EngineName())
	if !ok || s.CheckInput == nil {
		return nil
	}
	var out []FieldError
	for _, id := range n.InputIDs {
		up := p.Nodes[id]
		if up == nil {
			continue // CheckGraph reports it
		}
		if err := s.CheckInput(p, up); err != nil {
			out = append(out, FieldError{Msg: fmt.Sprintf("input %s: %v", id, err)})
		}
	}
	return out
}

// contractErrors checks a node's output_schema: its shape, its type names, and the rows_where
// expressions of its checks against the declared columns.
func contractErrors(n *ir.Node) []FieldError {
	c, err := contract.Parse(n.OutputSchema)
	if err != nil {
		var pe *contract.ParseError
		if errors.As(err, &pe) {
			out := make([]FieldError, len(pe.Problems))
			for i, p := range pe.Problems {
				out[i] = FieldError{Field: "output_schema", Msg: p}
			}
			return out
		}
		return []FieldError{{Field: "output_schema", Msg: err.Error()}}
	}
	var out []FieldError
	for _, p := range c.CheckDeclared() {
		out = append(out, FieldError{Field: "output_schema", Msg: p})
	}
	return out
}

// stepProblems says whether every problem found is at a step (or there is none), and which
// steps they are at.
func stepProblems(errs []FieldError) (map[string]bool, bool) {
	at := map[string]bool{}
	for _, e := range errs {
		step, _, ok := strings.Cut(e.At, "]")
		if !strings.HasPrefix(e.At, "steps[") || !ok {
			return nil, false
		}
		at[step+"]"] = true // the step, whatever part of it the problem is in
	}
	return at, true
}

// declaredInputErrors checks the column references of an arrow transform's steps against the
// declared output_schema of its inputs, when every input declares its columns (and forbids
// others): what the engine would find at run time, found at validate. Every broken step is
// reported but those already reported (at a path of reported).
func declaredInputErrors(p *ir.Pipeline, n *ir.Node, reported map[string]bool) []FieldError {
	steps, ok := n.Params["steps"]
	if n.Type != ir.Transform || n.EngineName() != "arrow" || !ok || len(n.InputIDs) == 0 {
		return nil
	}
	schemas := map[string]*arrow.Schema{}
	for _, id := range n.InputIDs {
		up := p.Nodes[id]
		if up == nil {
			return nil
		}
		c, err := contract.Parse(up.OutputSchema)
		if err != nil {
			return nil // reported on the input node
		}
		s, ok := c.Schema()
		if !ok {
			return nil
		}
		schemas[id] = s
	}
	err := contract.CheckSteps(steps, schemas, n.InputIDs[0])
	if err == nil {
		return nil
	}
	against := fmt.Sprintf("against the declared output_schema of %s", strings.Join(n.InputIDs, ", "))
	var ses arrowops.StepErrors
	if !errors.As(err, &ses) {
		if len(reported) > 0 {
			return nil // the steps are broken: their problems say more
		}
		return []FieldError{{Field: "steps", Msg: fmt.Sprintf("%s: %v", against, err)}}
	}
	var out []FieldError
	for _, se := range ses {
		at := fmt.Sprintf("steps[%d]", se.Index)
		if !reported[at] {
			out = append(out, FieldError{Field: "steps", At: at, Msg: fmt.Sprintf("%s: %v", against, se)})
		}
	}
	return out
}
