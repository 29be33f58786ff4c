package cli

import (
	"fmt"
)

func init() {
	register(&command{name: "validate", summary: "load and validate specs and IR files or folders (exit 0, or 78 with one line per problem)",
		new: func() any { return &validateCmd{} }})
}

type validateCmd struct {
	Paths []string `arg:"" optional:"" name:"path" help:"spec (YAML) or IR (JSON) files, or folders of them"`
	Quiet bool     `short:"q" help:"print nothing on success"`
}

func (c *validateCmd) Run(e *Env) error {
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	ls, err := LoadValid(e.Registry, cfg.Envs, c.Paths)
	if err != nil {
		return err
	}
	if !c.Quiet {
		for _, l := range ls {
			p := l.Spec.Pipeline
			fmt.Fprintf(e.Stdout, "ok  %s  %d nodes  ir_hash %s  (%s)\n", p.ID, len(p.Nodes), short(l.Hash), l.Spec.File)
		}
	}
	return nil
}
