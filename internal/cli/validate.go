package cli

import (
	"fmt"
)

func init() {
	register(&command{name: "validate", usage: "PATH...", summary: "load and validate specs and IR files or folders (exit 0, or 78 with one line per problem)", run: runValidate})
}

func runValidate(e *Env, args []string) error {
	f := newFlags(e, commands["validate"])
	quiet := f.Bool("q", false, "print nothing on success")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	ls, err := LoadValid(e.Registry, cfg.Envs, pos)
	if err != nil {
		return err
	}
	if !*quiet {
		for _, l := range ls {
			p := l.Spec.Pipeline
			fmt.Fprintf(e.Stdout, "ok  %s  %d nodes  ir_hash %s  (%s)\n", p.ID, len(p.Nodes), short(l.Hash), l.Spec.File)
		}
	}
	return nil
}
