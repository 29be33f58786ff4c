package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/plugin"
)

// A process killed with SIGKILL (OOM, a node lost, kill -9) never runs its cleanup: its
// per-process staging folder stays. The next attempt of the same node in the same run removes
// the folders of attempts that are provably dead, and only those (docs/deadlines.md):
//
//   - the attempt's ledger row was ended by the attempt itself (it has an exit code): its
//     process ran its bookkeeping, and what it left is garbage;
//   - its lease (leaseFile, written before the attempt stages anything) names this very machine
//     (host name, boot id and PID namespace) and its process is gone: no process with its PID, or
//     one started at another time;
//   - its lease's deadline (the task's AIFLOW_NODE_TIMEOUT from its start) passed more than
//     StaleAfter ago: by then Airflow has killed the task at its execution_timeout.
//
// A folder the node's commit points into is never removed, nor one whose owner cannot be judged
// (no lease yet, the ledger not answering): garbage is cheap, removing a live attempt's files is
// not.

// leaseFile is the name of the file in an attempt's staging folder that says who owns it.
// Hadoop and Spark skip names starting with "_" when they read a folder.
const leaseFile = "_attempt.json"

// StaleAfter is how long after its deadline an attempt's staging is removed whoever owns it.
var StaleAfter = time.Hour

// lease identifies the process that owns an attempt's staging folder.
type lease struct {
	AttemptID string    `json:"attempt_id"`
	Host      string    `json:"host"`
	BootID    string    `json:"boot_id,omitempty"`
	PIDNS     string    `json:"pid_ns,omitempty"`
	PID       int       `json:"pid"`
	ProcStart string    `json:"proc_start,omitempty"` // /proc/PID/stat's starttime: tells a reused PID apart
	Started   time.Time `json:"started"`
	Deadline  time.Time `json:"deadline,omitzero"` // zero: none
}

// thisProcess is the lease of the running process (without the attempt's fields).
func thisProcess() lease {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return lease{Host: host, BootID: bootID(), PIDNS: pidNS(), PID: pid, ProcStart: procStart(pid)}
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func pidNS() string {
	s, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return s
}

// procStart is field 22 of /proc/PID/stat (the process's start time in clock ticks since boot),
// "" when the process does not exist or there is no /proc.
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// deadOnThisMachine says whether the lease's process ran on this machine, in this PID
// namespace, and is gone. False when that cannot be known (another machine, no /proc).
func (l lease) deadOnThisMachine(me lease) bool {
	if l.Host == "" || l.BootID == "" || l.PIDNS == "" || l.PID <= 0 || l.ProcStart == "" ||
		l.Host != me.Host || l.BootID != me.BootID || l.PIDNS != me.PIDNS {
		return false
	}
	if err := syscall.Kill(l.PID, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	now := procStart(l.PID)
	return now != "" && now != l.ProcStart
}

// writeLease records who owns the attempt's staging folder, before anything else is staged
// there. Failing to write it is not fatal: a folder without a lease is never judged dead by it.
func (r *Runner) writeLease(ctx context.Context, env *plugin.Env, attemptID string, workEnd time.Time) {
	l := thisProcess()
	l.AttemptID, l.Started = attemptID, env.Started
	if !workEnd.IsZero() {
		_, step := r.budgets()
		l.Deadline = workEnd.Add(bookkeepingSteps * step)
	}
	b, _ := json.Marshal(l)
	if err := r.Store.Put(ctx, env.OutDir+"/"+leaseFile, bytes.NewReader(b)); err != nil {
		env.Log.Warn("could not write the staging lease", "uri", env.OutDir+"/"+leaseFile, "error", err)
	}
}

// sweepStaging removes the staging folders of this node's dead attempts in this run (see above).
// Best effort: it only logs.
func (r *Runner) sweepStaging(ctx context.Context, env *plugin.Env) {
	staging := manifest.Staging{Root: r.Config.StagingURI}
	nodeDir := staging.NodeDir(env.Pipeline.ID, env.RunID, env.Node.ID)
	dirs, _, err := r.Store.ListDir(ctx, nodeDir)
	if err != nil {
		if !errors.Is(err, objstore.ErrNotExist) {
			env.Log.Warn("could not list the node's staging to remove dead attempts' folders", "dir", nodeDir, "error", err)
		}
		return
	}
	own := strings.TrimSuffix(env.OutDir, "/") + "/"
	var others []string
	for _, d := range dirs {
		name := strings.TrimSuffix(d[strings.LastIndexByte(strings.TrimSuffix(d, "/"), '/')+1:], "/")
		if d != own && strings.HasPrefix(name, "attempt-") {
			others = append(others, strings.TrimSuffix(d, "/"))
		}
	}
	if len(others) == 0 {
		return
	}
	ended := map[string]bool{}
	if d, err := r.Meta.GetRun(ctx, env.Pipeline.ID, env.RunID); err == nil {
		for _, a := range d.Attempts {
			if a.Node == env.Node.ID && a.AttemptID != "" && a.ExitCode != nil {
				ended[a.AttemptID] = true
			}
		}
	} else {
		env.Log.Warn("could not read the ledger to remove dead attempts' staging", "error", err)
		return
	}
	me := thisProcess()
	now := time.Now()
	var dead []string
	reasons := map[string]string{}
	for _, dir := range others {
		var l lease
		b, err := r.Store.Get(ctx, dir+"/"+leaseFile)
		if err == nil {
			err = json.Unmarshal(b, &l)
		}
		id := attemptIDOf(dir)
		switch {
		case err == nil && l.AttemptID != "" && ended[l.AttemptID], err != nil && id != "" && ended[id]:
			reasons[dir] = "its attempt ended"
		case err == nil && l.deadOnThisMachine(me):
			reasons[dir] = "its process is gone"
		case err == nil && !l.Deadline.IsZero() && now.After(l.Deadline.Add(StaleAfter)):
			reasons[dir] = "its deadline passed"
		default:
			continue
		}
		dead = append(dead, dir)
	}
	if len(dead) == 0 {
		return
	}
	// The commit is read after the owners were judged dead: a dead process commits no more, so
	// a commit it made before dying is seen here.
	c, err := r.Meta.LookupCommit(ctx, env.Pipeline.ID, env.RunID, env.Node.ID)
	if err != nil {
		env.Log.Warn("keeping dead attempts' staging: cannot check whether a commit points at it", "error", err)
		return
	}
	var committed *manifest.Manifest
	if c != nil {
		if committed, err = manifest.Unmarshal(c.Manifest); err != nil {
			env.Log.Warn("keeping dead attempts' staging: the commit's manifest does not parse", "error", err)
			return
		}
	}
	for _, dir := range dead {
		if committed != nil && committed.Under(dir) {
			continue
		}
		// Unfinished Puts' temp files first (invisible to List on file://), then the rest and the
		// folders left empty.
		err := r.Store.RemoveTemps(ctx, dir, "")
		if err == nil {
			err = r.Store.DeletePrefix(ctx, dir+"/")
		}
		if err != nil && !errors.Is(err, objstore.ErrNotExist) {
			env.Log.Warn("could not remove a dead attempt's staging", "dir", dir, "error", err)
			continue
		}
		env.Log.Info("removed a dead attempt's staging", "dir", dir, "reason", reasons[dir])
	}
}

// attemptIDOf is the attempt id in a folder named attempt-<try>-<id>, "" if there is none.
func attemptIDOf(dir string) string {
	name := dir[strings.LastIndexByte(dir, '/')+1:]
	rest, ok := strings.CutPrefix(name, "attempt-")
	if !ok {
		return ""
	}
	_, id, ok := strings.Cut(rest, "-")
	if !ok {
		return ""
	}
	return id
}

// endCommitter records as succeeded the attempt that made commit c when its row was never ended:
// its process died (or lost the ledger) between the commit and recording its end, so without
// this the ledger would show the committed try running for ever. The attempt is the one still
// running of the committed try (the one whose staging the commit points into when there are
// several); it ended when it committed. Best effort: it only logs.
func (r *Runner) endCommitter(ctx context.Context, log *slog.Logger, key metadata.AttemptKey, c *metadata.Commit, by string) {
	d, err := r.Meta.GetRun(ctx, key.Pipeline, key.RunID)
	if err != nil {
		log.Warn("could not check the committing attempt's row", "error", err)
		return
	}
	var open []metadata.Attempt
	for _, a := range d.Attempts {
		if a.Node == key.Node && a.Try == c.Try && a.ExitCode == nil && (a.Status == metadata.AttemptRunning || a.Status == metadata.AttemptInterrupted) {
			open = append(open, a)
		}
	}
	if len(open) == 0 {
		return
	}
	m, _ := manifest.Unmarshal(c.Manifest)
	a := open[0]
	if len(open) > 1 {
		found := false
		staging := manifest.Staging{Root: r.Config.StagingURI}
		for _, o := range open {
			if m != nil && o.AttemptID != "" && m.Under(staging.AttemptDir(key.Pipeline, key.RunID, key.Node, o.Try, o.AttemptID)) {
				a, found = o, true
				break
			}
		}
		if !found {
			return // several processes of the committed try, none provably the committer
		}
	}
	code := 0
	ended := c.CommittedAt
	a.Status, a.ExitCode, a.EndedAt = metadata.AttemptSucceeded, &code, &ended
	a.ErrorClass = ""
	a.ErrorMessage = fmt.Sprintf("committed, but its process never recorded its end (killed, or the ledger was unreachable): recorded by attempt %s of try %d", by, key.Try)
	if m != nil {
		a.RowsOut, a.BytesOut = m.Rows, m.Bytes
	}
	if err := r.Meta.EndAttempt(ctx, a); err != nil {
		log.Warn("could not record the end of the committing attempt", "try", a.Try, "attempt_id", a.AttemptID, "error", err)
		return
	}
	log.Info("recorded the end of the attempt that committed", "committed_try", a.Try, "attempt_id", a.AttemptID)
}
