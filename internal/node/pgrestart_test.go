package node_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/node"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/plugin"
)

// privatePG is a PostgreSQL cluster of this test alone (scripts/services.sh with its own state
// folder): the test stops and starts it, which the shared one must never be.
type privatePG struct {
	t                    *testing.T
	svc, data, port, bin string
}

func startPrivatePG(t *testing.T) *privatePG {
	t.Helper()
	bin := ""
	if p, err := exec.LookPath("initdb"); err == nil {
		bin = filepath.Dir(p)
	} else if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl"); len(m) > 0 {
		bin = filepath.Dir(m[0])
	}
	if bin == "" {
		if testenv.CI() {
			t.Fatal("no PostgreSQL server binaries (run scripts/install.sh postgres)")
		}
		t.Skip("no PostgreSQL server binaries (run scripts/install.sh postgres)")
	}
	root, _ := filepath.Abs("../..")
	svc := t.TempDir()
	up := exec.Command(filepath.Join(root, "scripts", "services.sh"), "up", "postgres")
	up.Env = append(os.Environ(), "AIFLOW_SERVICES_DIR="+svc)
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("start a private PostgreSQL: %v\n%s", err, out)
	}
	down := func() {
		c := exec.Command(filepath.Join(root, "scripts", "services.sh"), "down", "postgres")
		c.Env = append(os.Environ(), "AIFLOW_SERVICES_DIR="+svc)
		_ = c.Run()
	}
	t.Cleanup(down)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(svc, "postgres", name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	return &privatePG{t: t, svc: svc, data: read("datadir"), port: read("port"), bin: bin}
}

func (p *privatePG) dsn() string {
	return "postgres://postgres@127.0.0.1:" + p.port + "/postgres?sslmode=disable"
}

// pgCtl runs pg_ctl as the cluster's owner (PostgreSQL refuses to run as root).
func (p *privatePG) pgCtl(args ...string) {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(p.bin, "pg_ctl"), append([]string{"-D", p.data}, args...)...)
	if os.Geteuid() == 0 {
		owner := "postgres"
		if out, err := exec.Command("stat", "-c", "%U", p.data).Output(); err == nil {
			owner = strings.TrimSpace(string(out))
		}
		cmd = exec.Command("runuser", append([]string{"-u", owner, "--", cmd.Path}, cmd.Args[1:]...)...)
	}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("pg_ctl %v: %v\n%s", args, err, out)
	}
}

func (p *privatePG) stop() { p.pgCtl("-m", "immediate", "-w", "-t", "60", "stop") }

func (p *privatePG) start() {
	sock := p.data
	if len(sock) > 80 {
		sock = ""
	}
	p.pgCtl("-l", filepath.Join(filepath.Dir(p.data), "restart.log"), "-w", "-t", "60",
		"-o", "-p "+p.port+" -k '"+sock+"' -c listen_addresses=127.0.0.1 -c fsync=off", "start")
}

// restartOnEnd restarts the ledger's PostgreSQL while the first successful attempt records its
// end: the commit is in, the end of the attempt meets a database that is down.
type restartOnEnd struct {
	metadata.Store
	pg   *privatePG
	done bool
}

func (r *restartOnEnd) EndAttempt(ctx context.Context, a metadata.Attempt) error {
	if r.done || a.Status != metadata.AttemptSucceeded {
		return r.Store.EndAttempt(ctx, a)
	}
	r.done = true
	r.pg.stop()
	defer r.pg.start()
	return r.Store.EndAttempt(ctx, a)
}

// PostgreSQL restarted between the commit and the end of the attempt: the attempt exits 75, the
// retry is a no-op that records the committing attempt as succeeded, and the run ends succeeded:
// nothing stays running in the ledger, nothing is committed twice.
func TestLedgerRestartedBetweenCommitAndEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts its own PostgreSQL")
	}
	p, h, _, st, cfg := setup(t)
	pg := startPrivatePG(t)
	ctx := context.Background()
	meta, err := metadata.Open(ctx, pg.dsn())
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &node.Runner{Registry: plugin.Default, Config: cfg, Meta: meta, Store: st, Log: log}
	if _, err := r.Run(ctx, node.Request{Pipeline: p, IRHash: h, Node: "src", RunID: "pg", LogicalDate: time.Now(), Try: 1}); err != nil {
		t.Fatal(err)
	}
	r.Meta = &restartOnEnd{Store: meta, pg: pg}
	res, err := r.Run(ctx, node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "pg", LogicalDate: time.Now(), Try: 1})
	if fault.ClassOf(err) != fault.Temporary || res.ExitCode != 75 {
		t.Fatalf("ledger down at the end of the attempt: %v (exit %d), want 75", err, res.ExitCode)
	}
	r.Meta = meta
	res, err = r.Run(ctx, node.Request{Pipeline: p, IRHash: h, Node: "tr", RunID: "pg", LogicalDate: time.Now(), Try: 2})
	if err != nil || res.Status != "skipped_committed" {
		t.Fatalf("retry: %v %s, want a no-op", err, res.Status)
	}
	d, err := meta.GetRun(ctx, "lc", "pg")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range d.Attempts {
		if a.Status == metadata.AttemptRunning {
			t.Errorf("attempt %s is still running in the ledger", a.AttemptKey)
		}
		if a.Node == "tr" && (a.Try != 1 || a.Status != metadata.AttemptSucceeded) {
			t.Errorf("attempt %s: %s, want try 1 succeeded", a.AttemptKey, a.Status)
		}
	}
	if len(d.Commits) != 2 || d.Status != metadata.RunSucceeded {
		t.Errorf("run %s with %d commits, want succeeded with 2", d.Status, len(d.Commits))
	}
}
