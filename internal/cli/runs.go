package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
)

func init() {
	register(&command{name: "runs", usage: "list [--pipeline P] [--team T] [--status S] [--limit N] [--json] | show RUN_ID [--pipeline P] [--json]",
		summary: "runs and node attempts from the metadata store", run: runRuns})
	register(&command{name: "pipelines", usage: "list [--json] | record PATH...", summary: "pipelines recorded in the metadata store (latest version of each); record adds the versions of specs", run: runPipelines})
	register(&command{name: "usage", usage: "--by team|project|cost_center [--since D] [--json]",
		summary: "node-seconds, rows and bytes per tenant (cost attribution)", run: runUsage})
}

// openMeta opens the metadata store. When the deployment pins a team (AIFLOW_TEAM), what it
// reads is that team's only: `runs`, `pipelines list`, `usage` and the Python MetadataStore,
// which calls them, apply the same tenant filter as the web UI.
func openMeta(e *Env) (metadata.Store, error) {
	cfg, err := e.Config()
	if err != nil {
		return nil, err
	}
	s, err := metadata.Open(e.Ctx, cfg.MetadataDSN)
	if err != nil {
		return nil, err
	}
	if team, ok := e.Lookup(TeamEnv); ok && team != "" {
		return metadata.Scoped(s, []string{team}), nil
	}
	return s, nil
}

func runRuns(e *Env, args []string) error {
	sub := "list"
	if len(args) > 0 && (args[0] == "list" || args[0] == "show") {
		sub, args = args[0], args[1:]
	}
	f := newFlags(e, commands["runs"])
	pipeline := f.String("pipeline", "", "only this pipeline")
	team := f.String("team", "", "only this team (list)")
	status := f.String("status", "", "only this status: running, succeeded, failed (list)")
	limit := f.Int("limit", metadata.DefaultRunLimit, "at most this many runs (list)")
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	switch *status {
	case "", "running", "succeeded", "failed":
	default:
		return fault.Usagef("runs: --status %q: want running, succeeded or failed", *status)
	}
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	if sub == "show" {
		if len(pos) != 1 {
			return fault.Usagef("runs show: give one RUN_ID")
		}
		d, err := store.GetRun(e.Ctx, *pipeline, pos[0])
		if errors.Is(err, metadata.ErrNotFound) {
			return fault.Configf("run %q not found", pos[0])
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return metadata.WriteRunDetailJSON(e.Stdout, d)
		}
		return metadata.WriteRunDetail(e.Stdout, d)
	}
	if len(pos) > 0 {
		return fault.Usagef("runs list: unexpected arguments %v", pos)
	}
	runs, err := store.ListRuns(e.Ctx, metadata.RunFilter{Pipeline: *pipeline, Team: *team, Status: metadata.RunStatus(*status), Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		return metadata.WriteRunsJSON(e.Stdout, runs)
	}
	return metadata.WriteRunsTable(e.Stdout, runs)
}

func runPipelines(e *Env, args []string) error {
	if len(args) > 0 && args[0] == "record" {
		return runPipelinesRecord(e, args[1:])
	}
	if len(args) > 0 && args[0] == "list" {
		args = args[1:]
	}
	f := newFlags(e, commands["pipelines"])
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fault.Usagef("pipelines: unexpected arguments %v", pos)
	}
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	ps, err := store.ListPipelines(e.Ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return metadata.WritePipelinesJSON(e.Stdout, ps)
	}
	return metadata.WritePipelines(e.Stdout, ps)
}

func runUsage(e *Env, args []string) error {
	f := newFlags(e, commands["usage"])
	by := f.String("by", "team", "group by team, project or cost_center")
	since := f.String("since", "", "only attempts started since this date (YYYY-MM-DD or RFC 3339; default 30 days ago)")
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fault.Usagef("usage: unexpected arguments %v", pos)
	}
	q := metadata.UsageQuery{By: metadata.UsageBy(*by), Since: time.Now().UTC().AddDate(0, 0, -30)}
	switch q.By {
	case metadata.ByTeam, metadata.ByProject, metadata.ByCostCenter:
	default:
		return fault.Usagef("usage: --by %q: want team, project or cost_center", *by)
	}
	if *since != "" {
		if q.Since, err = ParseLogicalDate(*since); err != nil {
			return err
		}
	}
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	rows, err := store.Usage(e.Ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		return metadata.WriteUsageJSON(e.Stdout, q, rows)
	}
	return metadata.WriteUsage(e.Stdout, q, rows)
}

// runPipelinesRecord records the versions of the pipelines of PATH... (aiflow_sdk.metadata's
// register_or_update_pipeline, a discovery that records what it found).
func runPipelinesRecord(e *Env, args []string) error {
	f := newFlags(e, commands["pipelines"])
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fault.Usagef("pipelines record: give spec or IR paths")
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	ls, err := LoadValid(e.Registry, cfg.Envs, pos)
	if err != nil {
		return err
	}
	if err := recordVersions(e, ls); err != nil {
		return err
	}
	for _, l := range ls {
		fmt.Fprintf(e.Stdout, "recorded %s  ir_hash %s\n", l.Spec.Pipeline.ID, short(l.Hash))
	}
	return nil
}

// recordVersions records each loaded pipeline's version (its canonical IR) in the metadata store.
func recordVersions(e *Env, ls []*Loaded) error {
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	for _, l := range ls {
		p := l.Spec.Pipeline
		canon := l.Canonical
		if canon == nil {
			if canon, err = p.Canonical(); err != nil {
				return err
			}
		}
		v := metadata.PipelineVersion{Pipeline: p.ID, IRHash: l.Hash, IR: canon,
			Tenancy: metadata.Tenancy{Team: p.Tenant("team"), Env: p.Tenant("env"), Project: p.Tenant("project"), CostCenter: p.Tenant("cost_center")}}
		if err := store.RecordPipeline(e.Ctx, v); err != nil {
			return err
		}
	}
	return nil
}
