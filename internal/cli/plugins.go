package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/pydsl"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

func init() {
	register(&command{name: "plugins", summary: "list every source, sink and engine with its fields, types, defaults and docs",
		new: func() any { return &pluginsCmd{} }})
}

type pluginsCmd struct {
	Kinds  []string `arg:"" optional:"" name:"kind" help:"only these kinds (source, sink or engine names)"`
	JSON   bool     `name:"json" help:"print one JSON object per kind per line"`
	Python bool     `name:"python" help:"print the Python DSL builders of the Go plugins (the module python/aiflow_sdk/builtin_plugins.py); with kinds, a module of just their builders, for a team's own runner"`
}

// PluginJSON is one line of `plugins --json`.
type PluginJSON struct {
	Role      string      `json:"role"`
	Kind      string      `json:"kind"`
	Summary   string      `json:"summary"`
	Engines   []string    `json:"engines,omitempty"`
	Params    []FieldJSON `json:"params"`
	Resources []FieldJSON `json:"resources"`
	// Open: params other than the listed ones are passed through (a Python function's kwargs).
	Open bool `json:"open,omitempty"`
}

// FieldJSON is one config field of a plugin.
type FieldJSON struct {
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Default  json.RawMessage `json:"default,omitempty"`
	Required bool            `json:"required,omitempty"`
	Doc      string          `json:"doc,omitempty"`
}

func (c *pluginsCmd) Run(e *Env) error {
	if c.Python {
		// Only the Go plugins: a Python plugin module's kinds have their builders already.
		if c.JSON {
			return fault.Usagef("plugins --python prints Python, not --json")
		}
		var src []byte
		var err error
		if len(c.Kinds) == 0 {
			src, err = pydsl.Generate(e.Registry)
		} else {
			if err := c.checkKinds(e.Registry); err != nil {
				return err
			}
			// aiflow_sdk registers the built-ins' builders itself: a second module registering
			// one again would fail at import.
			built := builtin.Registry()
			for _, k := range c.Kinds {
				for _, role := range plugin.Roles {
					if _, ok := built.Lookup(role, k); ok {
						return fault.Usagef("plugins --python %s: %s is built in, and aiflow_sdk has its builder (%s.%s): name your runner's own kinds", k, k, role, k)
					}
				}
			}
			src, err = pydsl.GenerateKinds(e.Registry, c.Kinds)
		}
		if err != nil {
			return err
		}
		_, err = e.Stdout.Write(src)
		return err
	}
	// Python plugin modules (AIFLOW_PLUGIN_MODULES) add their kinds to the registry.
	if _, err := e.Config(); err != nil {
		return err
	}
	r := e.Registry
	if err := c.checkKinds(r); err != nil {
		return err
	}
	for _, role := range plugin.Roles {
		for _, kind := range r.Kinds(role) {
			if len(c.Kinds) > 0 && !slices.Contains(c.Kinds, kind) {
				continue
			}
			s, _ := r.Lookup(role, kind)
			res := plugin.Config(&plugin.PodResources{})
			if role == plugin.RoleEngine && s.NewResources != nil {
				res = s.NewResources()
			}
			if c.JSON {
				b, err := json.Marshal(PluginJSON{Role: string(role), Kind: kind, Summary: s.Summary, Engines: s.Engines,
					Params: fieldsJSON(s.New()), Resources: fieldsJSON(res), Open: s.Open})
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "%s\n", b)
				continue
			}
			fmt.Fprintf(e.Stdout, "%s %s\n  %s\n", role, kind, s.Summary)
			if len(s.Engines) > 0 {
				fmt.Fprintf(e.Stdout, "  engines: %s\n", strings.Join(s.Engines, ", "))
			}
			printFields(e.Stdout, "params", s.New())
			printFields(e.Stdout, "resources", res)
			if s.Open {
				fmt.Fprintln(e.Stdout, "    (other params are passed to the function)")
			}
			fmt.Fprintln(e.Stdout)
		}
	}
	return nil
}

// checkKinds refuses a kind r does not hold (64), with the nearest one.
func (c *pluginsCmd) checkKinds(r *plugin.Registry) error {
	var all []string
	for _, role := range plugin.Roles {
		all = append(all, r.Kinds(role)...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	for _, k := range c.Kinds {
		if !slices.Contains(all, k) {
			return fault.Usagef("plugins: no source, sink or engine %q (have: %s)%s", k, strings.Join(all, ", "), ir.Suggest(k, all))
		}
	}
	return nil
}

func fieldsJSON(cfg plugin.Config) []FieldJSON {
	out := []FieldJSON{}
	for _, f := range plugin.Fields(cfg) {
		fj := FieldJSON{Name: f.Name, Type: f.Type, Required: f.Required, Doc: f.Doc}
		if f.Default != "" && json.Valid([]byte(f.Default)) {
			fj.Default = json.RawMessage(f.Default)
		}
		out = append(out, fj)
	}
	return out
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
