package cli

import (
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/internal/node"
)

func init() {
	register(&command{name: "stream-load", summary: "load what a streaming pipeline's job wrote for a lake sink since the last load into its table (the DAG's load_<sink> task)",
		new: func() any { return &streamLoadCmd{} }})
}

type streamLoadCmd struct {
	Pipeline    string  `name:"pipeline" placeholder:"P" help:"streaming pipeline id (required)"`
	Sink        string  `name:"sink" placeholder:"S" help:"the onelake sink node to load (required)"`
	IR          string  `name:"ir" placeholder:"PATH" help:"IR or spec file or folder (default: $$AIFLOW_IR_B64)"`
	IRHash      *string `name:"ir-hash" placeholder:"H" help:"expected ir_hash of the streaming pipeline; a mismatch fails with exit 78"`
	RunID       string  `name:"run-id" placeholder:"R" help:"run id (default: local__<UTC time>); a load of a committed run id adds nothing"`
	LogicalDate string  `name:"logical-date" placeholder:"D" help:"logical date (YYYY-MM-DD or RFC 3339; default: now, UTC)"`
	Try         int     `name:"try" default:"1" help:"attempt number (Airflow's try_number)"`
	MaxTries    int     `name:"max-tries" default:"0" help:"retries the task has (Airflow's ti.max_tries)"`
}

// Run loads one lake sink: the batch pipeline flink.LoadPipeline derives (the changelog
// topic's range pinned from the load group's offsets, its columns, the sink) runs through the
// ordinary node lifecycle under the pipeline id flink.LoadPipelineID, one task like a fused
// chain: a retry, or a rerun of the run id, finds the commits and adds nothing.
func (c *streamLoadCmd) Run(e *Env) error {
	begun := time.Now()
	if c.Pipeline == "" || c.Sink == "" {
		return fault.Usagef("stream-load: --pipeline and --sink are required")
	}
	if c.IRHash != nil && strings.TrimSpace(*c.IRHash) == "" {
		return fault.Usagef("stream-load: --ir-hash is empty; give the hash the DAG was compiled with, or leave the flag out")
	}
	if c.Try < 1 {
		return fault.Usagef("stream-load: --try must be at least 1")
	}
	if c.MaxTries < 0 {
		return fault.Usagef("stream-load: --max-tries must not be negative")
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	l, err := loadIR(e, cfg, c.IR, c.Pipeline)
	if err != nil {
		return writeTermination(e, cfg, nil, err)
	}
	if c.IRHash != nil && *c.IRHash != l.Hash {
		return writeTermination(e, cfg, nil, fault.Configf("ir_hash mismatch: the DAG expects %s but the IR it carries hashes to %s; recompile the DAG", *c.IRHash, l.Hash))
	}
	ld := time.Now().UTC()
	if c.LogicalDate != "" {
		if ld, err = ParseLogicalDate(c.LogicalDate); err != nil {
			return err
		}
	}
	rid := c.RunID
	if rid == "" {
		rid = "local__" + time.Now().UTC().Format("20060102T150405.000Z")
	}
	if err := checkRunID(rid); err != nil {
		return writeTermination(e, cfg, nil, err)
	}
	if err := enforcePolicy(e, cfg, l.Spec.Pipeline, ld, rid, nil); err != nil {
		return writeTermination(e, cfg, nil, err)
	}
	p, err := flink.LoadPipeline(e.Ctx, e.Registry, l.Spec.Pipeline, c.Sink, cfg)
	if err != nil {
		return writeTermination(e, cfg, nil, err)
	}
	hash, err := p.Hash()
	if err != nil {
		return writeTermination(e, cfg, nil, fault.Wrap(fault.Internal, err, "hash the load pipeline"))
	}
	order, err := p.TopoOrder()
	if err != nil {
		return writeTermination(e, cfg, nil, fault.Wrap(fault.Internal, err, "load pipeline"))
	}
	s, err := openSession(e, cfg)
	if err != nil {
		return writeTermination(e, cfg, nil, err)
	}
	defer s.close()
	s.runner.Progress = progressPrinter(e)
	if s.runner.Progress == nil {
		s.runner.ProgressEvery = cfg.ProgressInterval
	}
	if cfg.NodeTimeout > 0 {
		s.runner.Deadline = begun.Add(cfg.NodeTimeout)
		if e.Exit != nil {
			defer watchdog(e, cfg, s, s.runner.Deadline)()
		}
	}
	var results []*node.Result
	var runErr error
	for _, id := range order {
		res, err := s.runner.Run(e.Ctx, node.Request{Pipeline: p, IRHash: hash, Node: id, RunID: rid, LogicalDate: ld, Try: c.Try, MaxTries: c.MaxTries})
		results = append(results, res)
		if err != nil {
			runErr = err
			break
		}
	}
	printSummary(e, p, rid, results, runErr)
	return writeTermination(e, cfg, results[len(results)-1], runErr)
}
