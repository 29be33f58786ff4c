package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aiflow-dev/aiflow/compiler"
	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
)

func init() {
	register(&command{name: "validate", summary: "load and validate specs and IR files or folders (exit 0, or 78 with one line per problem)",
		new: func() any { return &validateCmd{} }})
}

type validateCmd struct {
	Paths []string `arg:"" optional:"" name:"path" help:"spec (YAML) or IR (JSON) files, or folders of them"`
	Quiet bool     `short:"q" help:"print nothing on success"`
	JSON  bool     `name:"json" help:"print one JSON object per pipeline per line; problems as JSON lines too (exit 78)"`
}

// ValidateJSON is one line of `validate --json`: a valid pipeline, or one problem.
type ValidateJSON struct {
	Pipeline string `json:"pipeline,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Nodes    int    `json:"nodes,omitempty"`
	IRHash   string `json:"ir_hash,omitempty"`
	Node     string `json:"node,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

func (c *validateCmd) Run(e *Env) error {
	e.liftMemoryLimit()
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	ls, err := e.loadValid(cfg, c.Paths)
	if err == nil {
		err = irSizeProblems(ls)
	}
	var ps ir.Problems
	if c.JSON && errors.As(err, &ps) {
		// Problems on stdout for tools (an editor, CI annotations); the exit code stays 78.
		enc := json.NewEncoder(e.Stdout)
		for _, p := range ps {
			if err := enc.Encode(ValidateJSON{Pipeline: p.Pipeline, File: p.File, Line: p.Line, Node: p.Node, Problem: p.Msg}); err != nil {
				return err
			}
		}
		return fault.Configf("%d problem(s)", len(ps))
	}
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(e.Stdout)
		for _, l := range ls {
			p := l.Spec.Pipeline
			if err := enc.Encode(ValidateJSON{Pipeline: p.ID, File: l.Spec.File, Line: l.Spec.Line, Nodes: len(p.Nodes), IRHash: l.Hash}); err != nil {
				return err
			}
		}
		return nil
	}
	if !c.Quiet {
		for _, l := range ls {
			p := l.Spec.Pipeline
			fmt.Fprintf(e.Stdout, "ok  %s  %d nodes  ir_hash %s  (%s)\n", p.ID, len(p.Nodes), short(l.Hash), l.Spec.File)
		}
	}
	return nil
}

// irSizeProblems is what compile would refuse in a valid pipeline: an IR too large to travel into
// its tasks (compiler.CheckIRSize), one problem per pipeline, so validate says it first.
func irSizeProblems(ls []*Loaded) error {
	var ps ir.Problems
	for _, l := range ls {
		if err := compiler.CheckIRSize(l.Canonical); err != nil {
			ps = append(ps, l.Spec.Locate(ir.Problem{Pipeline: l.Spec.Pipeline.ID, Msg: err.Error()}, ""))
		}
	}
	if len(ps) > 0 {
		return fault.Wrap(fault.Config, ps, "")
	}
	return nil
}
