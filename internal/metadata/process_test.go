package metadata_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// Tests in this file run the store from several processes, as pods do: the test binary runs itself
// with -test.run=^TestHelperProcess$ and the helper environment below (the os/exec test pattern).
const (
	helperEnv    = "AIFLOW_METADATA_HELPER" // what the helper does: commit | crash
	helperDSNEnv = "AIFLOW_METADATA_HELPER_DSN"
	helperTryEnv = "AIFLOW_METADATA_HELPER_TRY"
)

// TestHelperProcess is not a test: it is the body of the processes the tests below start.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for the multi-process tests")
	}
	try, _ := strconv.Atoi(os.Getenv(helperTryEnv))
	if err := helper(mode, os.Getenv(helperDSNEnv), try); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}

func helper(mode, dsn string, try int) error {
	ctx := context.Background()
	s, err := metadata.Open(ctx, dsn) // every process migrates: they race on that too
	if err != nil {
		return err
	}
	defer s.Close()
	k := metadata.AttemptKey{Pipeline: "p", RunID: "r", Node: "sink", Try: try}
	switch mode {
	case "commit":
		// Wait at the barrier: the parent closes stdin when every process is ready.
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		committed, existing, err := s.Commit(ctx, metadata.Commit{AttemptKey: k, Manifest: json.RawMessage(fmt.Sprintf(`{"try":%d}`, try))})
		switch {
		case err != nil:
			return err
		case committed:
			fmt.Println("committed")
		default:
			fmt.Printf("existing %d\n", existing.Try)
		}
		return nil
	case "crash":
		if err := s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: "h"}); err != nil {
			return err
		}
		if err := s.RecordPins(ctx, k, map[string]json.RawMessage{"in": json.RawMessage(`{"snapshot":1}`)}); err != nil {
			return err
		}
		// Output staged, commit not yet written: the pod is killed.
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

func helperCommand(mode, dsn string, try int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperDSNEnv+"="+dsn, helperTryEnv+"="+strconv.Itoa(try))
	return cmd
}

// processDSN keeps each helper process to few PostgreSQL connections: 50 processes with a default
// pool each would exceed a test server's max_connections.
func processDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres") {
		return dsn + "&pool_max_conns=2"
	}
	return dsn
}

func TestProcessesRaceToCommit(t *testing.T) {
	const n = 50
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := processDSN(b.newDSN(t))
			type proc struct {
				cmd    *exec.Cmd
				stdin  io.WriteCloser
				stdout *bufio.Reader
				stderr strings.Builder
			}
			procs := make([]*proc, n)
			for i := range procs {
				p := &proc{cmd: helperCommand("commit", dsn, i+1)}
				p.cmd.Stderr = &p.stderr
				var err error
				if p.stdin, err = p.cmd.StdinPipe(); err != nil {
					t.Fatal(err)
				}
				out, err := p.cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				p.stdout = bufio.NewReader(out)
				if err := p.cmd.Start(); err != nil {
					t.Fatalf("start process %d: %v", i+1, err)
				}
				procs[i] = p
			}
			for i, p := range procs {
				if line, err := p.stdout.ReadString('\n'); line != "ready\n" {
					p.cmd.Wait()
					t.Fatalf("process %d: %q, %v; stderr: %s", i+1, line, err, p.stderr.String())
				}
			}
			for _, p := range procs {
				p.stdin.Close() // go
			}
			var winners []int
			lines := make([]string, n)
			for i, p := range procs {
				line, _ := p.stdout.ReadString('\n')
				if err := p.cmd.Wait(); err != nil {
					t.Fatalf("process %d: %v; stderr: %s", i+1, err, p.stderr.String())
				}
				lines[i] = strings.TrimSpace(line)
				if lines[i] == "committed" {
					winners = append(winners, i+1)
				}
			}
			if len(winners) != 1 {
				t.Fatalf("%d processes committed (%v), want exactly 1", len(winners), winners)
			}
			for i, line := range lines {
				if i+1 != winners[0] && line != fmt.Sprintf("existing %d", winners[0]) {
					t.Errorf("process %d: %q, want it to find the commit of try %d", i+1, line, winners[0])
				}
			}
			c, err := open(t, dsn).LookupCommit(context.Background(), "p", "r", "sink")
			if err != nil || c == nil || c.Try != winners[0] {
				t.Errorf("commit row = %+v, %v; want try %d's", c, err, winners[0])
			}
		})
	}
}

func TestKilledAttemptLeavesNoCommit(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.newDSN(t)
			cmd := helperCommand("crash", dsn, 1)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("crash helper: %v, want it killed; stderr: %s", err, stderr.String())
			}

			s := open(t, dsn)
			if c, err := s.LookupCommit(ctx, "p", "r", "sink"); err != nil || c != nil {
				t.Fatalf("after the kill: commit = %+v, %v; want none", c, err)
			}
			k := metadata.AttemptKey{Pipeline: "p", RunID: "r", Node: "sink", Try: 2}
			if err := s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: "h"}); err != nil {
				t.Fatal(err)
			}
			for i, want := range []bool{true, false} {
				committed, _, err := s.Commit(ctx, metadata.Commit{AttemptKey: k, Manifest: json.RawMessage(`{"try":2}`)})
				if err != nil || committed != want {
					t.Fatalf("commit #%d of try 2: committed=%v, %v; want %v", i+1, committed, err, want)
				}
			}
			d, err := s.GetRun(ctx, "p", "r")
			if err != nil {
				t.Fatal(err)
			}
			status := map[int]metadata.AttemptStatus{}
			for _, a := range d.Attempts {
				status[a.Try] = a.Status
			}
			if len(d.Commits) != 1 || d.Commits[0].Try != 2 || status[1] != metadata.AttemptInterrupted || status[2] != metadata.AttemptRunning {
				t.Errorf("commits %+v, attempts %v; want one commit by try 2, try 1 interrupted", d.Commits, status)
			}
		})
	}
}
