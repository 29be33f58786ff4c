package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/aiflow-dev/aiflow/plugin"
)

func init() {
	register(&command{name: "plugins", summary: "list every source, sink and engine with its fields, types, defaults and docs",
		new: func() any { return &pluginsCmd{} }})
}

type pluginsCmd struct {
	Kind string `arg:"" optional:"" help:"only this kind (a source, sink or engine name)"`
}

func (c *pluginsCmd) Run(e *Env) error {
	// Python plugin modules (AIFLOW_PLUGIN_MODULES) add their kinds to the registry.
	if _, err := e.Config(); err != nil {
		return err
	}
	only := c.Kind
	r := e.Registry
	for _, role := range plugin.Roles {
		for _, kind := range r.Kinds(role) {
			if only != "" && kind != only {
				continue
			}
			s, _ := r.Lookup(role, kind)
			fmt.Fprintf(e.Stdout, "%s %s\n  %s\n", role, kind, s.Summary)
			if len(s.Engines) > 0 {
				fmt.Fprintf(e.Stdout, "  engines: %s\n", strings.Join(s.Engines, ", "))
			}
			printFields(e.Stdout, "params", s.New())
			if role == plugin.RoleEngine && s.NewResources != nil {
				printFields(e.Stdout, "resources", s.NewResources())
			} else {
				printFields(e.Stdout, "resources", &plugin.PodResources{})
			}
			if s.Open {
				fmt.Fprintln(e.Stdout, "    (other params are passed to the function)")
			}
			fmt.Fprintln(e.Stdout)
		}
	}
	return nil
}

func printFields(w io.Writer, title string, cfg plugin.Config) {
	fields := plugin.Fields(cfg)
	if len(fields) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range fields {
		def := f.Default
		if f.Required {
			def = "required"
		} else if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", f.Name, f.Type, def, f.Doc)
	}
	tw.Flush()
}
