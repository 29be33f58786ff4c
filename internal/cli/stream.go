package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/internal/metadata"
)

func init() {
	register(&command{name: "stream", summary: "a streaming pipeline's Flink job: deploy (or upgrade), health, stop, status",
		new: func() any { return &streamCmd{} }})
}

type streamCmd struct {
	Deploy streamDeployCmd `cmd:"" help:"make the job run this IR: nothing when it does; stop with savepoint and start from it when it runs another; start from the last savepoint when none runs; start a job Flink gave up on (FAILED) from its latest retained checkpoint (AIFLOW_FLINK_REST)"`
	Health streamHealthCmd `cmd:"" help:"exit 0 when the job is RUNNING, 75 while it is created or restarting, 65 when it ended or none is deployed"`
	Stop   streamStopCmd   `cmd:"" help:"stop the job with a savepoint (the next deploy resumes from it)"`
	Status streamStatusCmd `cmd:"" help:"the recorded deployment, the job's live state and the latest events"`
}

// streamTarget is the pipeline a stream command acts on.
type streamTarget struct {
	Pipeline string  `name:"pipeline" placeholder:"P" help:"pipeline id (required)"`
	IR       string  `name:"ir" placeholder:"PATH" help:"IR or spec file or folder (default: $$AIFLOW_IR_B64)"`
	IRHash   *string `name:"ir-hash" placeholder:"H" help:"expected ir_hash; a mismatch fails with exit 78"`
}

type streamDeployCmd struct {
	streamTarget
	Restart bool          `name:"restart" help:"also start a job that ended by itself and has no retained checkpoint to resume from (CANCELED, unknown to the cluster, FAILED without AIFLOW_FLINK_REST) from the last savepoint: what it read after that savepoint is written again"`
	Lease   time.Duration `name:"lease" default:"15m" help:"how long a dead deploy keeps others from deploying"`
}

type streamHealthCmd struct {
	streamTarget
}

type streamStopCmd struct {
	streamTarget
	Lease time.Duration `name:"lease" default:"15m" help:"how long a dead stop keeps others from deploying"`
}

type streamStatusCmd struct {
	Pipeline string `name:"pipeline" placeholder:"P" help:"one pipeline (default: every streaming pipeline recorded)"`
	Events   int    `name:"events" default:"10" help:"how many of the latest events to show per pipeline"`
	JSON     bool   `name:"json" help:"print JSON"`
}

// streamLoaded is the streaming pipeline a command acts on, with its job.
type streamLoaded struct {
	l   *Loaded
	cfg *config.Config
	job flink.StreamJob
}

// load reads and checks the streaming pipeline (like run: from --ir or AIFLOW_IR_B64).
func (t *streamTarget) load(e *Env, what string) (*streamLoaded, error) {
	if t.Pipeline == "" {
		return nil, fault.Usagef("stream %s: --pipeline is required", what)
	}
	if t.IRHash != nil && strings.TrimSpace(*t.IRHash) == "" {
		return nil, fault.Usagef("stream %s: --ir-hash is empty; give the hash the DAG was compiled with, or leave the flag out", what)
	}
	cfg, err := e.Config()
	if err != nil {
		return nil, err
	}
	l, err := loadIR(e, cfg, t.IR, t.Pipeline)
	if err != nil {
		return nil, writeTermination(e, cfg, nil, err)
	}
	if t.IRHash != nil && *t.IRHash != l.Hash {
		return nil, writeTermination(e, cfg, nil, fault.Configf("ir_hash mismatch: the DAG expects %s but the IR it carries hashes to %s; recompile the DAG", *t.IRHash, l.Hash))
	}
	p := l.Spec.Pipeline
	if !p.Streaming() {
		return nil, writeTermination(e, cfg, nil, fault.Usagef("pipeline %s is a %s pipeline: run its nodes with aiflow-runner run (stream commands drive mode: streaming pipelines)", p.ID, p.Mode()))
	}
	if err := enforcePolicy(e, cfg, p, time.Now().UTC(), "stream__"+what, nil); err != nil {
		return nil, writeTermination(e, cfg, nil, err)
	}
	job, err := flink.PlanStream(e.Registry, p, cfg)
	if err != nil {
		return nil, writeTermination(e, cfg, nil, err)
	}
	return &streamLoaded{l: l, cfg: cfg, job: job}, nil
}

// lifecycle opens the metadata store and the gateway client.
func streamLifecycle(e *Env, cfg *config.Config, lease time.Duration) (*flink.Lifecycle, error) {
	if cfg.FlinkGateway == "" {
		return nil, fault.Configf("streaming pipelines need AIFLOW_FLINK_GATEWAY (the Flink SQL Gateway, http://host:8083)")
	}
	c, err := flink.NewClient(cfg.FlinkGateway, nil)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.Open(e.Ctx, cfg.MetadataDSN)
	if err != nil {
		return nil, err
	}
	var jm *flink.JobManager
	if cfg.FlinkREST != "" {
		if jm, err = flink.NewJobManager(cfg.FlinkREST, nil); err != nil {
			meta.Close()
			return nil, err
		}
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	owner := fmt.Sprintf("%s/%d/%s", cfg.PodName, os.Getpid(), hex.EncodeToString(b[:]))
	return &flink.Lifecycle{Client: c, JobManager: jm, Meta: meta, Owner: owner, LeaseTTL: lease}, nil
}

func (c *streamDeployCmd) Run(e *Env) error {
	if c.Lease <= 0 {
		return fault.Usagef("stream deploy: --lease must be positive")
	}
	s, err := c.load(e, "deploy")
	if err != nil {
		return err
	}
	lc, err := streamLifecycle(e, s.cfg, c.Lease)
	if err != nil {
		return writeTermination(e, s.cfg, nil, err)
	}
	defer lc.Meta.Close()
	p := s.l.Spec.Pipeline
	canon, err := p.Canonical()
	if err != nil {
		return fault.Wrap(fault.Internal, err, "canonical IR")
	}
	team := p.Tenant("team")
	if err := lc.Meta.RecordPipeline(e.Ctx, metadata.PipelineVersion{Pipeline: p.ID, IRHash: s.l.Hash, IR: canon,
		Tenancy: metadata.Tenancy{Team: team, Env: p.Tenant("env"), Project: p.Tenant("project"), CostCenter: p.Tenant("cost_center")}}); err != nil {
		return writeTermination(e, s.cfg, nil, err)
	}
	action, rec, err := lc.Deploy(e.Ctx, flink.Deployment{Pipeline: p.ID, Team: team, IRHash: s.l.Hash, Job: s.job, Restart: c.Restart})
	if err != nil {
		return writeTermination(e, s.cfg, nil, err)
	}
	switch action {
	case flink.ActionNone:
		fmt.Fprintf(e.Stdout, "%s: job %s already runs ir_hash %s (%s)\n", p.ID, rec.JobID, short(s.l.Hash), rec.State)
	case flink.ActionUpgrade:
		fmt.Fprintf(e.Stdout, "%s: upgraded to ir_hash %s: job %s (%s) started from savepoint %s\n", p.ID, short(s.l.Hash), rec.JobID, rec.State, rec.Savepoint)
	case flink.ActionRestart:
		from := "from the retained checkpoint " + rec.Savepoint
		if rec.Savepoint == "" {
			from = "from its start (the failed job completed no checkpoint and restored none)"
		}
		fmt.Fprintf(e.Stdout, "%s: the failed job restarted with ir_hash %s: job %s (%s) %s\n", p.ID, short(s.l.Hash), rec.JobID, rec.State, from)
	default:
		from := "without a savepoint"
		if rec.Savepoint != "" {
			from = "from savepoint " + rec.Savepoint
		}
		verb := "deployed"
		if action == flink.ActionAdopt {
			verb = "recorded the job an earlier attempt deployed"
		}
		fmt.Fprintf(e.Stdout, "%s: %s ir_hash %s: job %s (%s) %s\n", p.ID, verb, short(s.l.Hash), rec.JobID, rec.State, from)
	}
	return nil
}

func (c *streamHealthCmd) Run(e *Env) error {
	s, err := c.load(e, "health")
	if err != nil {
		return err
	}
	lc, err := streamLifecycle(e, s.cfg, time.Minute)
	if err != nil {
		return writeTermination(e, s.cfg, nil, err)
	}
	defer lc.Meta.Close()
	p := s.l.Spec.Pipeline
	rec, err := lc.Health(e.Ctx, p.ID)
	if err != nil {
		return writeTermination(e, s.cfg, nil, err)
	}
	note := ""
	if rec.IRHash != s.l.Hash {
		note = fmt.Sprintf(" (it runs ir_hash %s, not this DAG's %s: stream deploy upgrades it)", short(rec.IRHash), short(s.l.Hash))
	}
	fmt.Fprintf(e.Stdout, "%s: job %s is %s%s\n", p.ID, rec.JobID, rec.State, note)
	return nil
}

func (c *streamStopCmd) Run(e *Env) error {
	if c.Lease <= 0 {
		return fault.Usagef("stream stop: --lease must be positive")
	}
	s, err := c.load(e, "stop")
	if err != nil {
		return err
	}
	lc, err := streamLifecycle(e, s.cfg, c.Lease)
	if err != nil {
		return writeTermination(e, s.cfg, nil, err)
	}
	defer lc.Meta.Close()
	p := s.l.Spec.Pipeline
	rec, stopped, err := lc.Stop(e.Ctx, p.ID, p.Tenant("team"))
	if err != nil {
		return writeTermination(e, s.cfg, nil, err)
	}
	switch {
	case stopped:
		fmt.Fprintf(e.Stdout, "%s: stopped; savepoint %s\n", p.ID, rec.Savepoint)
	case rec == nil:
		fmt.Fprintf(e.Stdout, "%s: no job deployed\n", p.ID)
	default:
		fmt.Fprintf(e.Stdout, "%s: no job running (%s); resumes from %s\n", p.ID, rec.State, orDash(rec.Savepoint))
	}
	return nil
}

// streamStatus is one pipeline in `stream status --json`.
type streamStatus struct {
	metadata.StreamJob
	// Live is the job's state on the cluster now ("" when the gateway is not configured or the
	// job is not deployed).
	Live   string                 `json:"live_state,omitempty"`
	Events []metadata.StreamEvent `json:"events"`
}

func (c *streamStatusCmd) Run(e *Env) error {
	if c.Events < 0 {
		return fault.Usagef("stream status: --events must not be negative")
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	var jobs []metadata.StreamJob
	if c.Pipeline != "" {
		j, err := store.StreamJob(e.Ctx, c.Pipeline)
		if err != nil {
			return err
		}
		if j == nil {
			return fault.Configf("no streaming deployment recorded for %s", c.Pipeline)
		}
		jobs = append(jobs, *j)
	} else if jobs, err = store.ListStreamJobs(e.Ctx); err != nil {
		return err
	}
	var live map[string]string
	if cfg.FlinkGateway != "" {
		if cl, err := flink.NewClient(cfg.FlinkGateway, nil); err == nil {
			if js, err := cl.Jobs(e.Ctx); err == nil {
				live = map[string]string{}
				for _, j := range js {
					live[j.ID] = j.Status
				}
			} else {
				fmt.Fprintf(e.Stderr, "warning: live states unavailable: %v\n", err)
			}
		}
	}
	out := make([]streamStatus, 0, len(jobs))
	for _, j := range jobs {
		st := streamStatus{StreamJob: j, Events: []metadata.StreamEvent{}}
		if j.JobID != "" && live != nil {
			st.Live = live[j.JobID]
			if st.Live == "" {
				st.Live = flink.StateUnknown
			}
		}
		if c.Events > 0 {
			if st.Events, err = store.StreamEvents(e.Ctx, j.Pipeline, c.Events); err != nil {
				return err
			}
		}
		out = append(out, st)
	}
	if c.JSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PIPELINE\tTEAM\tIR_HASH\tJOB\tSTATE\tLIVE\tDEPLOYED\tRESUMES_FROM")
	for _, s := range out {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Pipeline, orDash(s.Team), orDash(short(s.IRHash)), orDash(s.JobID), orDash(s.State), orDash(s.Live), timeOrDash(s.DeployedAt), orDash(s.Savepoint))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, s := range out {
		if len(s.Events) == 0 {
			continue
		}
		fmt.Fprintf(e.Stdout, "\n%s events (newest first):\n", s.Pipeline)
		for _, ev := range s.Events {
			fmt.Fprintf(e.Stdout, "  %s  %-7s  %s  job %s  %s  %s\n", ev.At.Format(time.RFC3339), ev.Action, orDash(short(ev.IRHash)), orDash(ev.JobID), orDash(ev.State), fault.EscapeLine(strings.TrimSpace(ev.Savepoint+" "+ev.Message)))
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
