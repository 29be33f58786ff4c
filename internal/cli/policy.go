package cli

import (
	"time"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/policy"
	"github.com/aiflow-dev/aiflow/ir"
)

// The tenant policy (internal/policy) is checked by compile, before a DAG is written, and at run
// time by the node runner before every attempt (internal/node), whatever the entry path (run,
// run --all, replay), so that a hand-edited DAG (another team's namespace, a forbidden engine,
// more resources) is refused with exit 78. run and replay also check it once up front, before
// they open the metadata store.

// TeamEnv pins the team a deployment may act for (see policy.TeamEnv).
const TeamEnv = policy.TeamEnv

// checkPolicy returns a configuration error (exit 78) listing every violation; cfg.Team is the
// team the deployment is pinned to.
func checkPolicy(e *Env, cfg *config.Config, file string, ps []*ir.Pipeline, opts func(p *ir.Pipeline) policy.Options) error {
	return policy.Enforce(file, cfg.Team, ps, e.Registry, opts)
}

// enforcePolicy is the run-time check: params are rendered as the node will see them (logical
// date, run id, --param values), so a template cannot lead a write outside the allowed paths.
func enforcePolicy(e *Env, cfg *config.Config, p *ir.Pipeline, logicalDate time.Time, runID string, params map[string]string) error {
	return policy.EnforceRun(cfg.PolicyFile, cfg.Team, p, e.Registry, logicalDate, runID, params)
}
