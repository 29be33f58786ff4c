package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aiflow-dev/aiflow/compiler"
	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/node"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/observability"
	"github.com/aiflow-dev/aiflow/ir"
)

func init() {
	register(&command{name: "run", summary: "run one node, as a pod does (or every node in order with --all, locally)",
		new: func() any { return &runCmd{} }})
	register(&command{name: "replay", summary: "run one node again from run R's committed upstream outputs (debug a failed node on a laptop)",
		new: func() any { return &replayCmd{} }})
}

type runCmd struct {
	Pipeline    string   `name:"pipeline" placeholder:"P" help:"pipeline id (required)"`
	Nodes       []string `name:"node" placeholder:"N" help:"node id to run (repeat, or a,b,c, for a fused chain run in order)"`
	All         bool     `name:"all" help:"run every node in topological order, locally"`
	IR          string   `name:"ir" placeholder:"PATH" help:"IR or spec file or folder (default: $$AIFLOW_IR_B64)"`
	IRHash      *string  `name:"ir-hash" placeholder:"H" help:"expected ir_hash; a mismatch fails with exit 78"`
	RunID       string   `name:"run-id" placeholder:"R" help:"run id (default: local__<UTC time>)"`
	LogicalDate string   `name:"logical-date" placeholder:"D" help:"logical date (YYYY-MM-DD or RFC 3339; default: now, UTC)"`
	Try         int      `name:"try" default:"1" help:"attempt number (Airflow's try_number)"`
	MaxTries    int      `name:"max-tries" default:"0" help:"retries the task has (Airflow's ti.max_tries): a failure of try > max-tries ends the run as failed"`
	Params      []string `name:"param" sep:"none" placeholder:"NAME=VALUE" help:"pipeline param NAME=VALUE (repeatable)"`
}

type replayCmd struct {
	Pipeline string `name:"pipeline" placeholder:"P" help:"pipeline id (required)"`
	RunID    string `name:"run-id" placeholder:"R" help:"the run whose committed upstream outputs feed the node (required)"`
	Node     string `name:"node" placeholder:"N" help:"node to run again (required)"`
	IR       string `name:"ir" placeholder:"PATH" help:"IR or spec file or folder (default: the IR recorded for that run)"`
	Publish  bool   `name:"publish" help:"let a sink publish to its real destination (default: staging only)"`
}

// IREnv is the environment variable that carries the IR into a pod: standard base64 of the gzip
// of the canonical IR JSON (Jinja-inert).
const IREnv = "AIFLOW_IR_B64"

// EncodeIR returns the AIFLOW_IR_B64 form of canonical IR bytes (the compiler's encoding: one
// implementation, so the DAG and the runner agree by construction).
func EncodeIR(canonical []byte) (string, error) { return compiler.EncodeIR(canonical) }

// DecodeIR reverses EncodeIR.
func DecodeIR(s string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%s is not base64: %w", IREnv, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s is not gzip: %w", IREnv, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, ir.MaxSpecSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IREnv, err)
	}
	if len(b) > ir.MaxSpecSize {
		return nil, fmt.Errorf("%s: IR larger than %d MiB", IREnv, ir.MaxSpecSize>>20)
	}
	return b, nil
}

// loadIR finds the pipeline to run: from --ir (file or folder) or from AIFLOW_IR_B64.
func loadIR(e *Env, cfg *config.Config, irPath, pipeline string) (*Loaded, error) {
	if irPath != "" {
		ls, err := e.loadValid(cfg, []string{irPath})
		if err != nil {
			return nil, err
		}
		return pick(ls, pipeline)
	}
	enc, ok := e.Lookup(IREnv)
	if !ok || enc == "" {
		return nil, fault.Configf("no IR: pass --ir PATH or set %s (the compiled DAG does)", IREnv)
	}
	data, err := DecodeIR(enc)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "")
	}
	specs, ps := ir.Parse(IREnv+".json", data, false)
	regs, probs, err := e.pythonPluginsFor(cfg, specs)
	if err != nil {
		return nil, err
	}
	var all []*Loaded
	for _, s := range specs {
		sp := append(s.Check(ir.CheckOptions{Envs: cfg.Envs}), probs[s]...)
		if regs[s] != nil {
			sp = append(sp, regs[s].Validate(s)...)
		}
		if len(sp) > 0 {
			ps = append(ps, sp...)
			continue
		}
		h, err := s.Pipeline.Hash()
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "hash IR")
		}
		all = append(all, &Loaded{Spec: s, Hash: h})
	}
	if len(ps) > 0 {
		return nil, fault.Wrap(fault.Config, ps, "")
	}
	return pick(all, pipeline)
}

// session is what running nodes needs, opened once.
type session struct {
	cfg    *config.Config
	meta   metadata.Store
	store  *objstore.Store
	log    *slog.Logger
	out    *observability.RedactingWriter
	runner *node.Runner
}

func openSession(e *Env, cfg *config.Config) (*session, error) {
	redact := observability.NewRedactor()
	// JSON logs go to stdout (the pod log Airflow shows); text logs are for people, on stderr.
	dest := e.Stdout
	if cfg.LogFormat == "text" {
		dest = e.Stderr
	}
	out := redact.Writer(dest)
	log := observability.NewLogger(out, cfg.LogFormat, cfg.LogLevel, observability.RunInfo{}, redact)
	lin, err := observability.NewEmitter(cfg.OpenLineageURL, "https://github.com/aiflow-dev/aiflow", log,
		observability.WithRedactor(redact), observability.WithVersion(version), observability.WithAPIKey(cfg.OpenLineageAPIKey))
	if cfg.OpenLineageAPIKey != "" {
		redact.Add(cfg.OpenLineageAPIKey)
	}
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "AIFLOW_OPENLINEAGE_URL")
	}
	meta, err := metadata.Open(e.Ctx, cfg.MetadataDSN)
	if err != nil {
		return nil, err
	}
	opts, err := cfg.StoreOptions()
	if err != nil {
		return nil, err
	}
	opts.Log = log
	st := objstore.New(opts)
	s := &session{cfg: cfg, meta: meta, store: st, log: log, out: out}
	s.runner = &node.Runner{Registry: e.Registry, Config: cfg, Meta: meta, Store: st, Log: log,
		Obs: &node.Observability{Out: out, Format: cfg.LogFormat, Level: cfg.LogLevel, Redact: redact, Lineage: lin,
			PushgatewayURL: cfg.PushgatewayURL, MetricsAddr: cfg.MetricsAddr}}
	return s, nil
}

func (s *session) close() {
	s.meta.Close()
	_ = s.out.Flush()
}

// params parses the --param NAME=VALUE flags.
func (c *runCmd) params() (map[string]string, error) {
	out := map[string]string{}
	for _, s := range c.Params {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fault.Usagef("run: --param %q: want NAME=VALUE", s)
		}
		out[k] = v
	}
	return out, nil
}

func (c *runCmd) Run(e *Env) error {
	// The task's clock starts with the process: its loading and connecting count against
	// AIFLOW_NODE_TIMEOUT too.
	begun := time.Now()
	params, err := c.params()
	if err != nil {
		return err
	}
	var nodes []string
	for _, n := range c.Nodes {
		if n != "" {
			nodes = append(nodes, n)
		}
	}
	if c.Pipeline == "" {
		return fault.Usagef("run: --pipeline is required")
	}
	if c.All == (len(nodes) > 0) {
		return fault.Usagef("run: give --node N or --all")
	}
	irHash := ""
	if c.IRHash != nil {
		if irHash = strings.TrimSpace(*c.IRHash); irHash == "" {
			// An empty hash would turn the check off: a DAG always passes the hash it was compiled with.
			return fault.Usagef("run: --ir-hash is empty; give the hash the DAG was compiled with, or leave the flag out")
		}
		irHash = *c.IRHash
	}
	if c.Try < 1 {
		return fault.Usagef("run: --try must be at least 1")
	}
	if c.MaxTries < 0 {
		return fault.Usagef("run: --max-tries must not be negative")
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	l, err := loadIR(e, cfg, c.IR, c.Pipeline)
	if err != nil {
		return writeTermination(e, cfg, nil, err)
	}
	if irHash != "" && irHash != l.Hash {
		err := fault.Configf("ir_hash mismatch: the DAG expects %s but the IR it carries hashes to %s; recompile the DAG", irHash, l.Hash)
		return writeTermination(e, cfg, nil, err)
	}
	p := l.Spec.Pipeline
	if p.Streaming() {
		return writeTermination(e, cfg, nil, fault.Usagef("pipeline %s is a streaming pipeline: its nodes run as one Flink job, driven by aiflow-runner stream deploy, health and stop (docs/flink.md)", p.ID))
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
	// The tenant policy again, inside the pod: a hand-edited DAG cannot bypass compile's check.
	if err := enforcePolicy(e, cfg, p, ld, rid, params); err != nil {
		return writeTermination(e, cfg, nil, err)
	}
	order := nodes
	if c.All {
		if order, err = p.TopoOrder(); err != nil {
			return writeTermination(e, cfg, nil, fault.Wrap(fault.Config, err, ""))
		}
	}
	for _, id := range order {
		if _, ok := p.Nodes[id]; !ok {
			return writeTermination(e, cfg, nil, fault.Configf("pipeline %s has no node %q%s", p.ID, id, ir.Suggest(id, p.NodeIDs())))
		}
	}
	s, err := openSession(e, cfg)
	if err != nil {
		return writeTermination(e, cfg, nil, err)
	}
	defer s.close()
	s.runner.Progress = progressPrinter(e)
	if s.runner.Progress == nil {
		s.runner.ProgressEvery = cfg.ProgressInterval // no terminal: progress records in the log
	}
	if !c.All && cfg.NodeTimeout > 0 {
		// One task (a pod, one execution_timeout), however many nodes it runs: a fused chain
		// shares one deadline instead of taking AIFLOW_NODE_TIMEOUT per node. run --all is a
		// local run of many tasks: each node gets its own.
		s.runner.Deadline = begun.Add(cfg.NodeTimeout)
		if e.Exit != nil {
			stop := watchdog(e, cfg, s, s.runner.Deadline)
			defer stop()
		}
	}
	var results []*node.Result
	var runErr error
	for _, id := range order {
		res, err := s.runner.Run(e.Ctx, node.Request{Pipeline: p, IRHash: l.Hash, Node: id, RunID: rid, LogicalDate: ld, Try: c.Try, MaxTries: c.MaxTries, Params: params})
		results = append(results, res)
		if err != nil {
			runErr = err
			break
		}
	}
	if c.All || len(order) > 1 {
		printSummary(e, p, rid, results, runErr)
		endRun(e.Ctx, s.meta, p.ID, rid, runErr, c.All)
	}
	var last *node.Result
	if len(results) > 0 {
		last = results[len(results)-1]
	}
	return writeTermination(e, cfg, last, runErr)
}

// WatchdogGrace is how long after the task's deadline the watchdog ends the process.
var WatchdogGrace = 5 * time.Second

// WatchdogLedgerWait bounds how long the watchdog waits for the ledger to record the stuck
// attempt as interrupted before it ends the process anyway.
var WatchdogLedgerWait = 2 * time.Second

// watchdog ends the process with exit 75 WatchdogGrace after deadline: the node's own deadline
// has stopped every call that honours its context by then, and the attempt's end is recorded
// within the deadline; what is left is a call that does not (a library, a blocking read), and the
// attempt's retry is what it needs. On its way out it records the stuck attempt as interrupted
// (and the run as failed when no retry follows) if the ledger answers within WatchdogLedgerWait:
// a hung ledger never holds the exit. The returned func disarms it.
func watchdog(e *Env, cfg *config.Config, s *session, deadline time.Time) func() {
	t := time.AfterFunc(time.Until(deadline)+WatchdogGrace, func() {
		err := fault.Temporaryf("node timeout: the task's AIFLOW_NODE_TIMEOUT=%s passed %s ago and a call of the node does not return: the process ends", cfg.NodeTimeout, WatchdogGrace)
		s.log.Error("watchdog: ending the process", "error", err.Error(), "exit_code", fault.Temporary.ExitCode())
		if !s.runner.Interrupt(WatchdogLedgerWait, err) {
			err = fault.Temporaryf("%s (the ledger did not record the attempt's end: it shows running until the retry)", err.Error())
		}
		_ = s.out.Flush()
		fmt.Fprintln(e.Stderr, "aiflow-runner:", err)
		_ = writeTermination(e, cfg, nil, err)
		e.Exit(fault.Temporary.ExitCode())
	})
	return func() { t.Stop() }
}

// endRun marks a local run finished; pods leave the run open (Airflow owns the DAG run).
func endRun(ctx context.Context, meta metadata.Store, pipeline, runID string, err error, all bool) {
	if !all {
		return
	}
	status := metadata.RunSucceeded
	if err != nil {
		status = metadata.RunFailed
	}
	_ = meta.EndRun(ctx, pipeline, runID, status, time.Now().UTC())
}

func printSummary(e *Env, p *ir.Pipeline, runID string, results []*node.Result, err error) {
	w := e.Stderr
	fmt.Fprintf(w, "\nrun %s of %s\n", runID, p.ID)
	for _, r := range results {
		what := r.Status
		switch r.Status {
		case "succeeded":
			what = fmt.Sprintf("committed %d rows (%s) in %s", r.RowsOut, human(r.BytesOut), time.Duration(r.DurationMS)*time.Millisecond)
			if n := p.Nodes[r.Node]; n != nil && n.Type == ir.Source && r.Manifest != nil {
				// A source copies nothing: it pins what its consumers will read.
				what = fmt.Sprintf("pinned %s in %s", pinned(r.Manifest), time.Duration(r.DurationMS)*time.Millisecond)
			}
			if r.RowsIn > 0 {
				what = fmt.Sprintf("read %d rows, ", r.RowsIn) + what
			}
		case "skipped_committed":
			what = "already committed in this run: nothing done"
		default:
			what = fmt.Sprintf("%s (exit %d): %s", r.Status, r.ExitCode, firstLine(r.Error))
		}
		fmt.Fprintf(w, "  %-28s %s\n", r.Node, what)
	}
	if err == nil {
		fmt.Fprintf(w, "see it: aiflow-runner runs show %s\n", runID)
	}
}

// pinned says what a source's manifest pins, for people.
func pinned(m *manifest.Manifest) string {
	switch {
	case m.Kafka != nil:
		var n int64
		for _, p := range m.Kafka.Partitions {
			n += p.End - p.Start
		}
		return fmt.Sprintf("offsets of %d partitions of %s (%d records)", len(m.Kafka.Partitions), m.Kafka.Topic, n)
	case m.Table != nil:
		return "table " + m.Table.Name
	}
	return fmt.Sprintf("%d files (%s)", len(m.Files), human(m.Bytes))
}

func human(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// progressPrinter prints rows and rows/s on a terminal (stderr), at most twice a second.
func progressPrinter(e *Env) func(string) func(rows, bytes int64) {
	w := e.Stderr
	if ew, ok := w.(*fault.EscapeWriter); ok {
		w = ew.Unwrap() // the progress line's \r is layout; the node id is escaped below
	}
	fd, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if st, err := fd.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(nodeID string) func(rows, bytes int64) {
		start := time.Now()
		var last time.Time
		return func(rows, bytes int64) {
			if time.Since(last) < 500*time.Millisecond {
				return
			}
			last = time.Now()
			secs := time.Since(start).Seconds()
			if secs <= 0 {
				secs = 1e-9
			}
			fmt.Fprintf(fd, "\r  %s: %d rows, %s (%.0f rows/s)   ", fault.EscapeLine(nodeID), rows, human(bytes), float64(rows)/secs)
		}
	}
}

// checkRunID refuses (usage, 64) a run id that could not be shown as it is: a control or format
// character or invalid UTF-8 in it would be stored, put in paths and echoed into every log line
// of the run. Airflow's run ids are at most 250 characters.
func checkRunID(rid string) error {
	if fault.EscapeLine(rid) != rid || utf8.RuneCountInString(rid) > 250 || strings.TrimSpace(rid) == "" {
		return fault.Usagef("--run-id %s: want at most 250 printable characters (no control or format characters)", strconv.Quote(rid))
	}
	return nil
}

// writeTermination writes the one-line reason for the exit to the termination-message file (only
// where it exists, as in a pod, or where AIFLOW_TERMINATION_LOG points) and returns err.
func writeTermination(e *Env, cfg *config.Config, res *node.Result, err error) error {
	path := cfg.TerminationLog
	if _, statErr := os.Stat(path); statErr != nil && !cfg.TerminationLogSet {
		return err
	}
	var line string
	switch {
	case err != nil:
		c := fault.ClassOf(err)
		line = fmt.Sprintf("%s error (exit %d, retryable=%t): %s", c, c.ExitCode(), c.Retryable(), fault.EscapeLine(firstLine(err.Error())))
	case res != nil:
		line = fault.EscapeLine(fmt.Sprintf("%s: %s/%s try %d, %d rows out", res.Status, res.Pipeline, res.Node, res.Try, res.RowsOut))
	default:
		return nil
	}
	if len(line) > 4000 {
		cut := 4000
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut-- // not inside a character: the message stays valid UTF-8
		}
		line = line[:cut]
	}
	_ = os.WriteFile(path, []byte(line+"\n"), 0o644)
	return err
}

// metaClass keeps the class of a metadata store error (a database that is down stays
// temporary); anything else about a run that cannot be replayed is a configuration error.
func metaClass(err error) fault.Class {
	if c := fault.ClassOf(err); c == fault.Temporary || c == fault.Usage {
		return c
	}
	return fault.Config
}

func (c *replayCmd) Run(e *Env) error {
	if c.Pipeline == "" || c.RunID == "" || c.Node == "" {
		return fault.Usagef("replay: --pipeline, --run-id and --node are required")
	}
	if err := checkRunID(c.RunID); err != nil {
		return err
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	s, err := openSession(e, cfg)
	if err != nil {
		return err
	}
	defer s.close()
	detail, err := s.meta.GetRun(e.Ctx, c.Pipeline, c.RunID)
	if errors.Is(err, metadata.ErrNotFound) {
		// A misspelt run id or pipeline gets the one meant, as other misspellings do.
		err = fmt.Errorf("%w%s", err, metadata.SuggestRun(e.Ctx, s.meta, c.Pipeline, c.RunID))
	}
	if err != nil {
		return fault.Wrap(metaClass(err), err, "replay: run %s of %s", c.RunID, c.Pipeline)
	}
	var l *Loaded
	if c.IR != "" {
		if l, err = loadIR(e, cfg, c.IR, c.Pipeline); err != nil {
			return err
		}
	} else {
		// The exact IR the run used, from the metadata store.
		v, err := s.meta.PipelineVersion(e.Ctx, c.Pipeline, detail.IRHash)
		if err != nil {
			return fault.Wrap(metaClass(err), err, "replay: IR %s of run %s", short(detail.IRHash), c.RunID)
		}
		specs, ps := ir.Parse("metadata:"+short(detail.IRHash)+".json", v.IR, false)
		if len(ps) > 0 || len(specs) != 1 {
			return fault.Wrap(fault.Config, ps, "replay: stored IR")
		}
		l = &Loaded{Spec: specs[0], Hash: detail.IRHash}
		// The modules the stored pipeline names (plugin_modules) extend the registry.
		_, probs, err := e.pythonPluginsFor(cfg, specs)
		if err != nil {
			return err
		}
		if ps := probs[specs[0]]; len(ps) > 0 {
			return fault.Wrap(fault.Config, ps, "replay: stored IR")
		}
	}
	// The session was opened before the IR was loaded: its nodes run with the registry the
	// pipeline's plugin modules extended.
	s.runner.Registry = e.Registry
	ld := time.Now().UTC()
	if detail.LogicalDate != nil {
		ld = *detail.LogicalDate
	}
	// Unique per replay, even two in the same second: a replay that reused a run id would be a
	// silent no-op showing the earlier replay's result.
	var nonce [4]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fault.Wrap(fault.Internal, err, "replay: run id")
	}
	rid := "replay__" + c.RunID + "__" + time.Now().UTC().Format("20060102T150405.000Z") + "_" + hex.EncodeToString(nonce[:])
	// The tenant policy, as for any run: a replay that publishes writes where the policy says.
	if err := enforcePolicy(e, cfg, l.Spec.Pipeline, ld, rid, nil); err != nil {
		return err
	}
	s.runner.Progress = progressPrinter(e)
	if s.runner.Progress == nil {
		s.runner.ProgressEvery = cfg.ProgressInterval // no terminal: progress records in the log
	}
	res, err := s.runner.Run(e.Ctx, node.Request{Pipeline: l.Spec.Pipeline, IRHash: l.Hash, Node: c.Node, RunID: rid,
		LogicalDate: ld, Try: 1, InputsRunID: c.RunID, NoPublish: !c.Publish})
	endRun(e.Ctx, s.meta, l.Spec.Pipeline.ID, rid, err, true)
	printSummary(e, l.Spec.Pipeline, rid, []*node.Result{res}, err)
	if err == nil {
		fmt.Fprintf(e.Stderr, "output: %s\n", res.OutputURI)
	}
	return err
}
