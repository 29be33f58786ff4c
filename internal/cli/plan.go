package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
)

func init() {
	register(&command{name: "plan", summary: "show the IR (canonical with --json), its hash, the nodes in order and their resolved params",
		new: func() any { return &planCmd{} }})
}

type planCmd struct {
	Paths       []string `arg:"" optional:"" name:"path" help:"spec or IR files, or folders of them"`
	Pipeline    string   `name:"pipeline" placeholder:"P" help:"only this pipeline"`
	LogicalDate string   `name:"logical-date" placeholder:"D" help:"logical date for rendering templates (YYYY-MM-DD or RFC 3339; default today, UTC)"`
	JSON        bool     `name:"json" help:"print canonical IR and hash, one JSON object per pipeline per line"`
}

// PlanJSON is one line of `plan --json`.
type PlanJSON struct {
	IR     json.RawMessage `json:"ir"`
	IRHash string          `json:"ir_hash"`
	Order  []string        `json:"order"`
}

func (c *planCmd) Run(e *Env) error {
	e.liftMemoryLimit()
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	ls, err := e.loadValid(cfg, c.Paths)
	if err != nil {
		return err
	}
	if c.Pipeline != "" {
		l, err := pick(ls, c.Pipeline)
		if err != nil {
			return err
		}
		ls = []*Loaded{l}
	}
	ld := time.Now().UTC()
	if c.LogicalDate != "" {
		if ld, err = ParseLogicalDate(c.LogicalDate); err != nil {
			return err
		}
	}
	for _, l := range ls {
		p := l.Spec.Pipeline
		order, err := p.TopoOrder()
		if err != nil {
			return fault.Wrap(fault.Config, err, "")
		}
		if c.JSON {
			canon := l.Canonical
			if canon == nil {
				if canon, err = p.Canonical(); err != nil {
					return err
				}
			}
			b, err := json.Marshal(PlanJSON{IR: canon, IRHash: l.Hash, Order: order})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "%s\n", b)
			continue
		}
		printPlan(e, l, order, ld)
	}
	return nil
}

func printPlan(e *Env, l *Loaded, order []string, ld time.Time) {
	p := l.Spec.Pipeline
	w := e.Stdout
	sched := "none (unscheduled)"
	if p.Schedule != nil {
		sched = *p.Schedule
	}
	fmt.Fprintf(w, "pipeline %s\n  ir_hash   %s\n  file      %s\n  schedule  %s\n  owner     %s\n  sla       %d min\n  tags      %s\n",
		p.ID, l.Hash, l.Spec.File, sched, p.Owner, p.SLAMinutes, strings.Join(p.Tags, ", "))
	if p.Streaming() {
		// The golden plans of batch pipelines stay as they were: the line is a streaming one's.
		fmt.Fprintf(w, "  mode      streaming: the nodes are one Flink job; the DAG runs stream deploy, then stream health\n")
	}
	vars, _ := p.Vars(ld, "plan__"+ld.Format("2006-01-02T15:04:05"), nil)
	fmt.Fprintf(w, "  nodes (in order, templates rendered for logical date %s):\n", ld.Format("2006-01-02"))
	for i, id := range order {
		n := p.Nodes[id]
		what := n.Plugin()
		in := ""
		if len(n.InputIDs) > 0 {
			in = " <- " + strings.Join(n.InputIDs, ", ")
		}
		fmt.Fprintf(w, "  %2d. %-28s %-9s %s%s\n", i+1, id, n.Type, what, in)
		rendered, err := ir.Render(n.Params, vars)
		if err != nil {
			fmt.Fprintf(w, "        params: cannot render: %v\n", err)
			continue
		}
		keys := make([]string, 0)
		for k := range rendered.(map[string]any) {
			if k != "kind" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			b, _ := ir.CanonicalJSON(rendered.(map[string]any)[k])
			fmt.Fprintf(w, "        %s = %s\n", k, b)
		}
		if len(n.Resources) > 0 {
			b, _ := ir.CanonicalJSON(n.Resources)
			fmt.Fprintf(w, "        resources = %s\n", b)
		}
	}
}

// ParseLogicalDate accepts YYYY-MM-DD or RFC 3339 and returns UTC.
func ParseLogicalDate(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05-07:00", "2006-01-02T15:04:05.999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fault.Usagef("--logical-date %q: want YYYY-MM-DD or an RFC 3339 time", s)
}
