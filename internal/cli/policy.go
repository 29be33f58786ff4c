package cli

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/policy"
	"github.com/aiflow-dev/aiflow/ir"
)

// The tenant policy (internal/policy) is checked twice: by compile, before a DAG is written,
// and by run, inside the pod, before any node of the pipeline runs, so that a hand-edited DAG
// (another team's namespace, a forbidden engine, more resources) is refused with exit 78.

// TeamEnv, when the platform sets it on a team's pods (or Airflow deployment), pins the team a
// pipeline may claim: a DAG cannot borrow another team's rights by editing its team field.
const TeamEnv = "AIFLOW_TEAM"

// policies returns the policies to enforce: file (--policy or AIFLOW_POLICY_FILE) and the
// system policy when it is mounted.
func policies(file string) ([]*policy.Policy, error) {
	var out []*policy.Policy
	seen := map[string]bool{}
	for _, f := range []string{file, policy.SystemFile} {
		if f == "" || seen[f] {
			continue
		}
		seen[f] = true
		if f == policy.SystemFile {
			if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		p, err := policy.Load(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// checkPolicy returns a configuration error (exit 78) listing every violation.
func checkPolicy(e *Env, file string, ps []*ir.Pipeline, opts func(p *ir.Pipeline) policy.Options) error {
	pols, err := policies(file)
	if err != nil {
		return err
	}
	var lines []string
	if team, ok := e.Lookup(TeamEnv); ok && team != "" {
		for _, p := range ps {
			if got := p.Tenant("team"); got != team {
				lines = append(lines, p.ID+": team "+quoteOrNone(got)+" is not this deployment's team "+quoteOrNone(team)+" ("+TeamEnv+")")
			}
		}
	}
	for _, pol := range pols {
		for _, p := range ps {
			var o policy.Options
			if opts != nil {
				o = opts(p)
			}
			for _, v := range pol.Check(p, e.Registry, o) {
				lines = append(lines, v.String())
			}
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fault.Configf("policy denied:\n%s", strings.Join(lines, "\n"))
}

func quoteOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return `"` + s + `"`
}

// enforcePolicy is the run-time check: params are rendered as the node will see them (logical
// date, run id, --param values), so a template cannot lead a write outside the allowed paths.
func enforcePolicy(e *Env, cfg *config.Config, p *ir.Pipeline, logicalDate time.Time, runID string, params map[string]string) error {
	vars, err := p.Vars(logicalDate, runID, params)
	if err != nil {
		return fault.Usagef("--param: %v", err)
	}
	render := func(params map[string]any) (map[string]any, error) {
		out, err := ir.Render(params, vars)
		if err != nil {
			return nil, err
		}
		m, _ := out.(map[string]any)
		return m, nil
	}
	return checkPolicy(e, cfg.PolicyFile, []*ir.Pipeline{p}, func(*ir.Pipeline) policy.Options {
		return policy.Options{Render: render}
	})
}
