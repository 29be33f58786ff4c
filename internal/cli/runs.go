package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/ir"
)

func init() {
	register(&command{name: "runs", summary: "runs and node attempts from the metadata store (list, or show RUN_ID)",
		new: func() any { return &runsCmd{} }})
	register(&command{name: "pipelines", summary: "pipelines recorded in the metadata store (latest version of each); record adds the versions of specs",
		new: func() any { return &pipelinesCmd{} }})
	register(&command{name: "usage", summary: "node-seconds, rows and bytes per tenant (cost attribution)",
		new: func() any { return &usageCmd{} }})
}

const defaultRunLimit = metadata.DefaultRunLimit

type runsCmd struct {
	List  runsListCmd  `cmd:"" default:"withargs" help:"the latest runs, newest first (the default)"`
	Show  runsShowCmd  `cmd:"" help:"one run: its nodes, attempts, rows, bytes and errors"`
	Prune runsPruneCmd `cmd:"" help:"delete runs started before --older-than that ended, or that a dead pod left running (no attempt started or ended for 7 days), with their attempts, pins, commits and lineage (usage and the fleet counters keep them)"`
}

type runsPruneCmd struct {
	OlderThan string `name:"older-than" required:"" placeholder:"AGE" help:"prune the runs started longer ago than this: days (90d) or a duration (2160h)"`
	Batch     int    `name:"batch" default:"1000" help:"runs deleted per transaction"`
	JSON      bool   `name:"json" help:"print what was deleted as JSON"`
}

type runsListCmd struct {
	Pipeline string `name:"pipeline" placeholder:"P" help:"only this pipeline"`
	Team     string `name:"team" placeholder:"T" help:"only this team"`
	Status   string `name:"status" placeholder:"S" help:"only this status: running, succeeded, failed"`
	Limit    int    `name:"limit" default:"${default_run_limit}" help:"at most this many runs"`
	JSON     bool   `name:"json" help:"print JSON"`
}

type runsShowCmd struct {
	RunID    string `arg:"" name:"run-id" help:"the run (Airflow's run_id, or local__… for a local run)"`
	Pipeline string `name:"pipeline" placeholder:"P" help:"the pipeline of the run (needed when two pipelines share the run id)"`
	JSON     bool   `name:"json" help:"print JSON"`
}

type pipelinesCmd struct {
	List   pipelinesListCmd   `cmd:"" default:"withargs" help:"the latest version of each recorded pipeline (the default)"`
	Record pipelinesRecordCmd `cmd:"" help:"record the versions of the pipelines of spec or IR paths"`
}

type pipelinesListCmd struct {
	JSON bool `name:"json" help:"print JSON"`
}

type pipelinesRecordCmd struct {
	Paths []string `arg:"" optional:"" name:"path" help:"spec or IR files, or folders of them"`
	JSON  bool     `name:"json" help:"print one JSON object per recorded pipeline per line"`
}

type usageCmd struct {
	By    string `name:"by" default:"team" help:"group by team, project or cost_center"`
	Since string `name:"since" placeholder:"D" help:"only attempts started since this date (YYYY-MM-DD or RFC 3339; default 30 days ago)"`
	JSON  bool   `name:"json" help:"print JSON"`
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
	if cfg.Team != "" {
		return metadata.Scoped(s, []string{cfg.Team}), nil
	}
	return s, nil
}

func (c *runsListCmd) Run(e *Env) error {
	statuses := []string{string(metadata.RunRunning), string(metadata.RunSucceeded), string(metadata.RunFailed)}
	if c.Status != "" && !slices.Contains(statuses, c.Status) {
		return fault.Usagef("runs: --status %q: want running, succeeded or failed%s", c.Status, ir.Suggest(c.Status, statuses))
	}
	if c.Limit < 0 {
		return fault.Usagef("runs: --limit %d: must not be negative", c.Limit)
	}
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	runs, err := store.ListRuns(e.Ctx, metadata.RunFilter{Pipeline: c.Pipeline, Team: c.Team, Status: metadata.RunStatus(c.Status), Limit: c.Limit})
	if err != nil {
		return err
	}
	if c.JSON {
		return metadata.WriteRunsJSON(e.Stdout, runs)
	}
	return metadata.WriteRunsTable(e.Stdout, runs)
}

func (c *runsShowCmd) Run(e *Env) error {
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	d, err := store.GetRun(e.Ctx, c.Pipeline, c.RunID)
	if errors.Is(err, metadata.ErrNotFound) {
		return fault.Configf("run %q not found%s", c.RunID, metadata.SuggestRun(e.Ctx, store, c.Pipeline, c.RunID))
	}
	if err != nil {
		return err
	}
	if c.JSON {
		return metadata.WriteRunDetailJSON(e.Stdout, d)
	}
	return metadata.WriteRunDetail(e.Stdout, d)
}

// parseAge reads --older-than: whole days ("90d") or a Go duration ("2160h"), at least an hour.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < time.Hour {
		return 0, fault.Usagef("runs prune: --older-than %q is not an age of at least an hour: days (90d) or a duration (2160h)", s)
	}
	return d, nil
}

// Run prunes old runs (retention): those that ended, and those a pod killed outright left
// "running" (metadata.AbandonedAfter). The rollups keep the pruned attempts' usage, so `usage` and
// the fleet counters of `metrics serve` do not go down; a pruned run can no longer be shown, and a
// replay of it commits afresh (its commits are gone).
func (c *runsPruneCmd) Run(e *Env) error {
	age, err := parseAge(c.OlderThan)
	if err != nil {
		return err
	}
	if c.Batch <= 0 {
		return fault.Usagef("runs prune: --batch %d must be at least 1", c.Batch)
	}
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	p, ok := store.(metadata.Pruner)
	if !ok {
		return fault.Configf("runs prune deletes every team's runs: run it without %s (this deployment acts for one team)", TeamEnv)
	}
	before := time.Now().Add(-age)
	progress := func(r metadata.PruneResult) {
		if !c.JSON {
			fmt.Fprintf(e.Stderr, "pruned %d runs, %d attempts so far\n", r.Runs, r.Attempts)
		}
	}
	res, err := p.Prune(e.Ctx, before, c.Batch, progress)
	if err != nil {
		return err
	}
	if c.JSON {
		return json.NewEncoder(e.Stdout).Encode(struct {
			Before string `json:"before"`
			metadata.PruneResult
		}{before.UTC().Format(time.RFC3339), res})
	}
	fmt.Fprintf(e.Stdout, "pruned %d runs started before %s: %d attempts, %d pins, %d commits, %d lineage rows, %d check results\n",
		res.Runs, before.UTC().Format(time.RFC3339), res.Attempts, res.Pins, res.Commits, res.Lineage, res.Checks)
	return nil
}

func (c *pipelinesListCmd) Run(e *Env) error {
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	ps, err := store.ListPipelines(e.Ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		return metadata.WritePipelinesJSON(e.Stdout, ps)
	}
	return metadata.WritePipelines(e.Stdout, ps)
}

func (c *usageCmd) Run(e *Env) error {
	// The default window starts on the hour: usage comes from hourly and daily rollups, and only a
	// start inside an hour makes the store sum that hour's attempts one by one (docs/scale.md).
	q := metadata.UsageQuery{By: metadata.UsageBy(c.By), Since: time.Now().UTC().AddDate(0, 0, -30).Truncate(time.Hour)}
	switch q.By {
	case metadata.ByTeam, metadata.ByProject, metadata.ByCostCenter:
	default:
		return fault.Usagef("usage: --by %q: want team, project or cost_center%s", c.By, ir.Suggest(c.By, []string{"team", "project", "cost_center"}))
	}
	if c.Since != "" {
		var err error
		if q.Since, err = ParseLogicalDate(c.Since); err != nil {
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
	if c.JSON {
		return metadata.WriteUsageJSON(e.Stdout, q, rows)
	}
	return metadata.WriteUsage(e.Stdout, q, rows)
}

// runPipelinesRecord records the versions of the pipelines of PATH... (aiflow_sdk.metadata's
// register_or_update_pipeline, a discovery that records what it found).
func (c *pipelinesRecordCmd) Run(e *Env) error {
	e.liftMemoryLimit()
	if len(c.Paths) == 0 {
		return fault.Usagef("pipelines record: give spec or IR paths")
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	ls, err := e.loadValid(cfg, c.Paths)
	if err != nil {
		return err
	}
	if err := recordVersions(e, ls); err != nil {
		return err
	}
	for _, l := range ls {
		if c.JSON {
			b, err := json.Marshal(map[string]string{"pipeline": l.Spec.Pipeline.ID, "ir_hash": l.Hash})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "%s\n", b)
			continue
		}
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
