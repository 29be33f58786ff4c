package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

// `runs prune`: the runs older than --older-than go, the newer stay, usage keeps the pruned
// attempts; a bad age is a usage error (64), a deployment pinned to a team may not prune (78).
func TestRunsPrune(t *testing.T) {
	dsn := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "metadata.db"))
	ctx := context.Background()
	s, err := metadata.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for id, ago := range map[string]time.Duration{"old": 100 * 24 * time.Hour, "new": time.Hour} {
		k := metadata.AttemptKey{Pipeline: "daily", RunID: id, Node: "a", Try: 1}
		end := now.Add(-ago + time.Minute)
		for _, err := range []error{
			s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: "h1", StartedAt: now.Add(-ago)}),
			s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: metadata.AttemptSucceeded, ExitCode: new(int), EndedAt: &end}),
			s.EndRun(ctx, "daily", id, metadata.RunSucceeded, end),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	s.Close()
	run := func(env map[string]string, args ...string) (int, string, string) {
		r := plugin.NewRegistry()
		builtin.Register(r)
		env["AIFLOW_HOME"], env["AIFLOW_METADATA_DSN"] = t.TempDir(), dsn
		var out, errb bytes.Buffer
		code := cli.RunWith(&cli.Env{Ctx: ctx, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Registry: r,
			Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}, args)
		return code, out.String(), errb.String()
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		code int
		want string
	}{
		{map[string]string{}, []string{"runs", "prune", "--older-than", "90"}, 64, "not an age"},
		{map[string]string{}, []string{"runs", "prune", "--older-than", "10m"}, 64, "at least an hour"},
		{map[string]string{}, []string{"runs", "prune"}, 64, "--older-than"},
		{map[string]string{"AIFLOW_TEAM": "ads"}, []string{"runs", "prune", "--older-than", "90d"}, 78, "without AIFLOW_TEAM"},
		{map[string]string{}, []string{"runs", "prune", "--older-than", "90d", "--json"}, 0, `"runs":1,"attempts":1`},
		{map[string]string{}, []string{"runs", "prune", "--older-than", "2160h"}, 0, "pruned 0 runs"},
	} {
		code, stdout, stderr := run(tc.env, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.want, stdout, stderr)
		}
	}
	code, stdout, stderr := run(map[string]string{}, "runs", "list", "--json")
	var runs []metadata.Run
	if code != 0 || json.Unmarshal([]byte(stdout), &runs) != nil || len(runs) != 1 || runs[0].RunID != "new" {
		t.Errorf("runs after the prune: exit %d, %s%s; want only run new", code, stdout, stderr)
	}
	code, stdout, _ = run(map[string]string{}, "usage", "--since", now.Add(-200*24*time.Hour).UTC().Format("2006-01-02"), "--json")
	if code != 0 || !strings.Contains(stdout, `"attempts": 2,`) {
		t.Errorf("usage after the prune: exit %d, %s; want both attempts counted", code, stdout)
	}
}
