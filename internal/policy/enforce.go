package policy

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// TeamEnv, when the platform sets it on a team's pods (or Airflow deployment), pins the team a
// pipeline may claim: a DAG cannot borrow another team's rights by editing its team field.
const TeamEnv = "AIFLOW_TEAM"

// LoadAll returns the policies to enforce: file (--policy or AIFLOW_POLICY_FILE, none when
// empty) and the system policy when it is mounted.
func LoadAll(file string) ([]*Policy, error) {
	var out []*Policy
	seen := map[string]bool{}
	for _, f := range []string{file, SystemFile} {
		if f == "" || seen[f] {
			continue
		}
		seen[f] = true
		if f == SystemFile {
			if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		p, err := Load(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Enforce checks pipelines against the policies of file (see LoadAll) and against the team the
// deployment is pinned to (team, from AIFLOW_TEAM; none when empty). It returns a configuration
// error (exit 78) listing every violation. opts, when set, gives each pipeline's check options.
func Enforce(file, team string, ps []*ir.Pipeline, reg *plugin.Registry, opts func(p *ir.Pipeline) Options) error {
	pols, err := LoadAll(file)
	if err != nil {
		return err
	}
	var lines []string
	if team != "" {
		for _, p := range ps {
			if got := p.Tenant("team"); got != team {
				lines = append(lines, p.ID+": team "+quoteOrNone(got)+" is not this deployment's team "+quoteOrNone(team)+" ("+TeamEnv+")")
			}
		}
	}
	for _, pol := range pols {
		for _, p := range ps {
			var o Options
			if opts != nil {
				o = opts(p)
			}
			for _, v := range pol.Check(p, reg, o) {
				lines = append(lines, v.String())
			}
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fault.Configf("policy denied:\n%s", strings.Join(lines, "\n"))
}

// EnforceRun is the run-time check of one pipeline: params are rendered as the node will see
// them (logical date, run id, parameter values), so a template cannot lead a write outside the
// allowed paths. A parameter that does not fit the pipeline's params is a usage error (64).
func EnforceRun(file, team string, p *ir.Pipeline, reg *plugin.Registry, logicalDate time.Time, runID string, params map[string]string) error {
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
	return Enforce(file, team, []*ir.Pipeline{p}, reg, func(*ir.Pipeline) Options {
		return Options{Render: render}
	})
}

func quoteOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return `"` + s + `"`
}
