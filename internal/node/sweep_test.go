package node_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/node"
	"github.com/aiflow-dev/aiflow/plugin"
)

// lateCommit is a ledger where a commit of node tr pointing at dir appears right after the
// attempt checked the ledger (another process committed while this one started).
type lateCommit struct {
	metadata.Store
	dir   string
	calls int
}

func (l *lateCommit) LookupCommit(ctx context.Context, pipeline, runID, n string) (*metadata.Commit, error) {
	if n == "tr" && l.dir != "" {
		if l.calls++; l.calls > 1 {
			b, _ := json.Marshal(&manifest.Manifest{Version: manifest.Version, Kind: manifest.KindTable, Table: &manifest.Table{Location: "file://" + l.dir}})
			return &metadata.Commit{AttemptKey: metadata.AttemptKey{Pipeline: pipeline, RunID: runID, Node: n, Try: 1}, Manifest: b}, nil
		}
	}
	return l.Store.LookupCommit(ctx, pipeline, runID, n)
}

// The next attempt of a node removes the staging folders of its dead attempts, and only those:
// an attempt whose row it ended itself, a process of this machine that is gone, a lease whose
// deadline passed StaleAfter ago. A live process's folder, one of another machine within its
// deadline, one without a lease and a running row, and one a commit points into stay.
func TestSweepRemovesOnlyDeadAttemptsStaging(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("judges processes through /proc")
	}
	p, h, meta, st, cfg := setup(t)
	ctx := context.Background()
	nodeDir := strings.TrimPrefix(manifest.Staging{Root: cfg.StagingURI}.NodeDir("lc", "r", "tr"), "file://")
	self, _ := os.Hostname()
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	pidNS, _ := os.Readlink("/proc/self/ns/pid")
	type lease struct {
		AttemptID string    `json:"attempt_id"`
		Host      string    `json:"host"`
		BootID    string    `json:"boot_id,omitempty"`
		PIDNS     string    `json:"pid_ns,omitempty"`
		PID       int       `json:"pid"`
		ProcStart string    `json:"proc_start,omitempty"`
		Deadline  time.Time `json:"deadline,omitzero"`
	}
	stat, _ := os.ReadFile("/proc/self/stat")
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	myStart := f[19]
	here := func(pid int, start string) *lease {
		return &lease{Host: self, BootID: strings.TrimSpace(string(bootID)), PIDNS: pidNS, PID: pid, ProcStart: start}
	}
	tests := []struct {
		name   string
		lease  *lease // nil: none
		ended  bool   // its row has an exit code
		commit bool   // the commit points into it
		gone   bool
	}{
		{"live process here", here(os.Getpid(), myStart), false, false, false},
		{"process here gone", here(1<<22-1, "12345"), false, false, true},
		{"pid reused by another process", here(os.Getpid(), "1"), false, false, true},
		{"attempt ended", &lease{Host: "other-pod", PID: 7}, true, false, true},
		{"ended without a lease", nil, true, false, true},
		{"other machine within its deadline", &lease{Host: "other-pod", PID: 7, Deadline: time.Now().Add(time.Hour)}, false, false, false},
		{"other machine past its deadline", &lease{Host: "other-pod", PID: 7, Deadline: time.Now().Add(-node.StaleAfter - time.Minute)}, false, false, true},
		{"no lease, running", nil, false, false, false},
		{"process gone but committed", here(1<<22-1, "12345"), false, true, false},
	}
	store := &lateCommit{Store: meta}
	dirs := map[string]string{}
	for i, tt := range tests {
		id := "dead" + string(rune('a'+i))
		dir := filepath.Join(nodeDir, "attempt-1-"+id)
		dirs[tt.name] = dir
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "part-0.parquet"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if tt.lease != nil {
			tt.lease.AttemptID = id
			b, _ := json.Marshal(tt.lease)
			if err := os.WriteFile(filepath.Join(dir, "_attempt.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		a := metadata.Attempt{AttemptKey: metadata.AttemptKey{Pipeline: "lc", RunID: "r", Node: "tr", Try: 1}, AttemptID: id, IRHash: h, Status: metadata.AttemptRunning}
		if err := meta.StartAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
		if tt.ended {
			code := 75
			a.Status, a.ExitCode = metadata.AttemptFailed, &code
			if err := meta.EndAttempt(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if tt.commit {
			store.dir = dir
		}
	}
	r := &node.Runner{Registry: plugin.Default, Config: cfg, Meta: store, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := r.Run(ctx, node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "r", LogicalDate: time.Now(), Try: 2}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		_, err := os.Stat(dirs[tt.name])
		if gone := os.IsNotExist(err); gone != tt.gone {
			t.Errorf("%s: removed %t, want %t", tt.name, gone, tt.gone)
		}
	}
}

// endFails is a ledger that loses the first successful attempt's end (the database restarted
// between the commit and the end of the attempt).
type endFails struct {
	metadata.Store
	failed bool
}

func (e *endFails) EndAttempt(ctx context.Context, a metadata.Attempt) error {
	if !e.failed && a.Status == metadata.AttemptSucceeded {
		e.failed = true
		return fault.Temporaryf("end attempt: connection reset by peer")
	}
	return e.Store.EndAttempt(ctx, a)
}

// The ledger restarts between the commit and the end of the attempt: the attempt exits 75 (its
// success is not recorded), and the retry, a no-op, records the committing attempt as succeeded
// instead of leaving it running for ever.
func TestRetryEndsTheCommittersRow(t *testing.T) {
	p, h, meta, st, cfg := setup(t)
	ctx := context.Background()
	r := &node.Runner{Registry: plugin.Default, Config: cfg, Meta: &endFails{Store: meta}, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, err := r.Run(ctx, node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "r", LogicalDate: time.Now(), Try: 1})
	if fault.ClassOf(err) != fault.Temporary {
		t.Fatalf("lost end of attempt: %v, want a temporary failure", err)
	}
	r.Meta = meta
	if res, err = r.Run(ctx, node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "r", LogicalDate: time.Now(), Try: 2}); err != nil || res.Status != "skipped_committed" {
		t.Fatalf("retry: %v %s", err, res.Status)
	}
	d, err := meta.GetRun(ctx, "lc", "r")
	if err != nil {
		t.Fatal(err)
	}
	var tr []metadata.Attempt
	for _, a := range d.Attempts {
		if a.Node == "tr" {
			tr = append(tr, a)
		}
	}
	if len(tr) != 1 || tr[0].Try != 1 || tr[0].Status != metadata.AttemptSucceeded || tr[0].ExitCode == nil || tr[0].RowsOut != 3 {
		t.Fatalf("attempts of tr: %+v, want try 1 succeeded with its rows", tr)
	}
	if d.Status != metadata.RunSucceeded {
		t.Errorf("run %s, want succeeded", d.Status)
	}
}
