package cli_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// Tests of hostile input and bad luck: each names the class of failure it guards against.

// TestNonCanonicalSinkURIKeepsData: a files sink whose path is a non-canonical file:// URI (a
// localhost host, a doubled slash, a `..`) publishes data that stays, and a commit is recorded
// only for files that exist.
func TestNonCanonicalSinkURIKeepsData(t *testing.T) {
	w := newWorkspace(t)
	w.orders("in/orders", 2000)
	for name, out := range map[string]func(string) string{
		"localhost": func(p string) string { return "file://localhost" + p + "/" },
		"slashes":   func(p string) string { return "file://" + strings.Replace(p, "/out/", "/out//", 1) + "/" },
		"dotdot":    func(p string) string { return "file://" + strings.Replace(p, "/out/", "/out/x/../", 1) + "/" },
		"plain":     func(p string) string { return strings.Replace(p, "/out/", "/out/./", 1) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := w.path("out/" + name)
			spec := strings.NewReplacer("ORDERS", w.path("in/orders")+"/", "OUT", out(dir)).Replace(quickstart)
			spec = strings.Replace(spec, "id: qs,", "id: qs_"+name+",", 1)
			p := w.write("spec/"+name+".yaml", spec)
			if r := w.run("run", "--pipeline", "qs_"+name, "--all", "--ir", p, "--run-id", "r1"); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if rows := tableRows(t, dir); len(rows) == 0 {
				t.Fatal("the published version holds no rows")
			}
			ents, _ := filepath.Glob(filepath.Join(dir, "part-*"))
			if len(ents) == 0 {
				t.Fatalf("no data file left in %s", dir)
			}
			for _, e := range ents {
				if _, err := os.Stat(e); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// runStatus returns the status `runs list --json` shows for a run, and whether it has ended.
func (w *workspace) runStatus(pipeline, runID string) (string, bool) {
	w.t.Helper()
	r := w.run("runs", "list", "--pipeline", pipeline, "--json")
	if r.code != 0 {
		w.t.Fatalf("runs list: exit %d %s", r.code, r.stderr)
	}
	var runs []struct {
		RunID   string `json:"run_id"`
		Status  string `json:"status"`
		EndedAt any    `json:"ended_at"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil {
		w.t.Fatalf("runs list --json: %v\n%s", err, r.stdout)
	}
	for _, x := range runs {
		if x.RunID == runID {
			return x.Status, x.EndedAt != nil
		}
	}
	w.t.Fatalf("run %s not listed:\n%s", runID, r.stdout)
	return "", false
}

// TestRunDrivenNodeByNodeEnds: a run driven one pod per node, as Airflow does, ends when its
// last node commits, or fails when a node fails on its last try (or with a class never retried).
func TestRunDrivenNodeByNodeEnds(t *testing.T) {
	w := newWorkspace(t)
	spec := w.quickstart()
	node := func(runID, n string, try, maxTries int) runResult {
		return w.run("run", "--pipeline", "qs", "--node", n, "--ir", spec, "--run-id", runID, "--try", itoa(try), "--max-tries", itoa(maxTries))
	}
	for i, n := range []string{"orders", "by_user", "out"} {
		if r := node("ok", n, 1, 2); r.code != 0 {
			t.Fatalf("node %s: exit %d %s", n, r.code, r.stderr)
		}
		status, ended := w.runStatus("qs", "ok")
		if i < 2 && (status != "running" || ended) {
			t.Fatalf("after %s: status %s ended %v, want running", n, status, ended)
		}
		if i == 2 && (status != "succeeded" || !ended) {
			t.Fatalf("after the last node: status %s ended %v, want succeeded and ended", status, ended)
		}
	}
	if r := w.run("usage", "--by", "team", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"attempts": 3`) && !strings.Contains(r.stdout, `"attempts":3`) {
		t.Errorf("usage does not count the run's three attempts: exit %d\n%s", r.code, r.stdout)
	}

	// A class never retried (the input has no commit: configuration) fails the run at once.
	if r := node("cfg", "out", 1, 3); r.code != 78 {
		t.Fatalf("sink without input: exit %d, want 78\n%s", r.code, r.stderr)
	}
	if status, ended := w.runStatus("qs", "cfg"); status != "failed" || !ended {
		t.Fatalf("after a configuration error: status %s ended %v, want failed", status, ended)
	}

	// A retryable failure (the S3 endpoint is down) keeps the run open until the last try.
	w.env["AIFLOW_S3_ENDPOINT"] = "http://127.0.0.1:1"
	w.env["AWS_ACCESS_KEY_ID"], w.env["AWS_SECRET_ACCESS_KEY"] = "k", "s"
	s3spec := w.write("s3/spec.yaml", strings.Replace(strings.Replace(mustRead(t, spec), w.path("in/orders")+"/", "s3://nobucket/orders/", 1), "id: qs,", "id: qs3,", 1))
	s3node := func(try int) runResult {
		return w.run("run", "--pipeline", "qs3", "--node", "orders", "--ir", s3spec, "--run-id", "tmp", "--try", itoa(try), "--max-tries", "1")
	}
	if r := s3node(1); r.code != 75 {
		t.Fatalf("S3 down: exit %d, want 75\n%s", r.code, r.stderr)
	}
	if status, ended := w.runStatus("qs3", "tmp"); status != "running" || ended {
		t.Fatalf("after a retryable failure with a retry left: status %s ended %v, want running", status, ended)
	}
	if r := s3node(2); r.code != 75 {
		t.Fatalf("S3 down: exit %d, want 75\n%s", r.code, r.stderr)
	}
	if status, ended := w.runStatus("qs3", "tmp"); status != "failed" || !ended {
		t.Fatalf("after the last try failed: status %s ended %v, want failed", status, ended)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReplayHoles: two replays in the same second are two runs (the second is not a no-op
// showing the first's result); replay --publish is held to the tenant policy; an empty
// --ir-hash does not turn the hash check off.
func TestReplayHoles(t *testing.T) {
	w := newWorkspace(t)
	spec := w.quickstart()
	if r := w.run("run", "--pipeline", "qs", "--all", "--ir", spec, "--run-id", "r1"); r.code != 0 {
		t.Fatalf("run: exit %d %s", r.code, r.stderr)
	}
	ids := map[string]bool{}
	for i := 0; i < 2; i++ {
		r := w.run("replay", "--pipeline", "qs", "--run-id", "r1", "--node", "by_user")
		if r.code != 0 || strings.Contains(r.stderr, "already committed") {
			t.Fatalf("replay %d: exit %d %s", i, r.code, r.stderr)
		}
		line := r.stderr[strings.Index(r.stderr, "run replay__"):]
		ids[strings.Fields(line)[1]] = true
	}
	if len(ids) != 2 {
		t.Fatalf("two replays shared a run id: %v", ids)
	}
	// A policy that lets team t write nowhere under the workspace's out/.
	w.write("policy.yaml", "teams:\n  t:\n    sources: [files]\n    sinks: [files]\n    engines: [arrow]\n    write_paths: [\"file:///nowhere/\"]\n")
	w.env["AIFLOW_POLICY_FILE"] = w.path("policy.yaml")
	if r := w.run("replay", "--pipeline", "qs", "--run-id", "r1", "--node", "out", "--publish"); r.code != 78 {
		t.Fatalf("replay --publish outside the policy's write paths: exit %d, want 78\n%s", r.code, r.stderr)
	}
	delete(w.env, "AIFLOW_POLICY_FILE")
	if r := w.run("run", "--pipeline", "qs", "--node", "orders", "--ir", spec, "--run-id", "r3", "--ir-hash", ""); r.code != 64 {
		t.Fatalf("--ir-hash \"\": exit %d, want 64\n%s", r.code, r.stderr)
	}
}

// TestFIFOAmongSpecsDoesNotHang: a named pipe among the specs (or as the policy file) is refused
// or skipped, never opened for a blocking read.
func TestFIFOAmongSpecsDoesNotHang(t *testing.T) {
	w := newWorkspace(t)
	spec := w.quickstart()
	fifo := filepath.Join(filepath.Dir(spec), "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	policyFIFO := w.path("policy.yaml")
	if err := syscall.Mkfifo(policyFIFO, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
		code int
		msg  string
	}{
		{args: []string{"validate", filepath.Dir(spec)}, code: 0},
		{args: []string{"validate", fifo}, code: 78, msg: "named pipe"},
		{args: []string{"compile", filepath.Dir(spec), "--out", w.path("dags")}, code: 0},
		{args: []string{"compile", spec, "--out", w.path("dags2"), "--policy", policyFIFO}, code: 78, msg: "named pipe"},
	} {
		done := make(chan runResult, 1)
		go func() { done <- w.run(c.args...) }()
		select {
		case r := <-done:
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Errorf("%v: exit %d, want %d with %q\n%s", c.args, r.code, c.code, c.msg, r.stderr)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%v: still blocked after a minute (a FIFO was opened for reading)", c.args)
		}
	}
}

// TestTemplateValueIsALiteral: a --param value rendered into a filter is compared as text; it
// cannot add an OR to the expression.
func TestTemplateValueIsALiteral(t *testing.T) {
	w := newWorkspace(t)
	spec := mustRead(t, w.quickstart())
	spec = strings.Replace(spec, `filter: "status = 'paid'"`, `filter: "status = '{{ params.st }}'"`, 1)
	spec = strings.Replace(spec, "pipeline: {id: qs,", "pipeline: {params: {st: paid}, id: qs,", 1)
	p := w.write("spec/param.yaml", spec)
	byUser := func(runID string, args ...string) string {
		r := w.run(append([]string{"run", "--pipeline", "qs", "--all", "--ir", p, "--run-id", runID}, args...)...)
		if r.code != 0 {
			t.Fatalf("exit %d %s", r.code, r.stderr)
		}
		for _, line := range strings.Split(r.stderr, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == "by_user" {
				return line
			}
		}
		t.Fatalf("no by_user line in\n%s", r.stderr)
		return ""
	}
	if l := byUser("paid"); strings.Contains(l, "committed 0 rows") {
		t.Fatalf("the plain parameter matched nothing: %s", l)
	}
	if l := byUser("inject", "--param", "st=x' OR '1'='1"); !strings.Contains(l, "committed 0 rows") {
		t.Fatalf("an injected OR matched rows: %s", l)
	}
}

// TestIRTooLargeRefusedAtValidate: validate says what compile refuses, a pipeline whose IR is too
// large to reach its tasks (one environment string over the kernel's limit: exec E2BIG in every
// pod), as a problem at the pipeline's line, and compile refuses it; both exit 78.
func TestIRTooLargeRefusedAtValidate(t *testing.T) {
	w := newWorkspace(t)
	rnd := rand.New(rand.NewPCG(5, 6))
	lit := make([]byte, 200_000)
	for i := range lit {
		lit[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[rnd.IntN(36)]
	}
	spec := strings.NewReplacer("ORDERS", w.path("in/orders")+"/", "OUT", w.path("out")+"/",
		"status = 'paid'", "status = '"+string(lit)+"'").Replace(quickstart)
	p := w.write("spec/big.yaml", spec)
	r := w.run("validate", p)
	if r.code != 78 || !strings.Contains(r.stderr, "E2BIG") || !strings.Contains(r.stderr, "big.yaml:2") {
		t.Errorf("validate: exit %d, stderr %.400s; want 78 naming the file, line and E2BIG", r.code, r.stderr)
	}
	r = w.run("validate", "--json", p)
	if r.code != 78 || !strings.Contains(r.stdout, `"problem":`) || !strings.Contains(r.stdout, "E2BIG") {
		t.Errorf("validate --json: exit %d, stdout %.400s", r.code, r.stdout)
	}
	r = w.run("compile", "--target", "local", "--out", w.path("dags"), p)
	if r.code != 78 || !strings.Contains(r.stderr, "E2BIG") {
		t.Errorf("compile: exit %d, stderr %.400s", r.code, r.stderr)
	}
}

// unsafeRune is the first character of s that would act on a terminal or CI log (C0 but
// newline and tab, DEL, C1, line separators, bidi and zero-width format characters, invalid
// UTF-8), written independently of fault.Escape.
func unsafeRune(s string, keepLayout bool) (string, bool) {
	const format = "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\ufffd"):
			return fmt.Sprintf("invalid byte %#x at %d", s[i], i), true
		case keepLayout && (r == '\n' || r == '\t'):
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r == '\u2028', r == '\u2029', strings.ContainsRune(format, r):
			return fmt.Sprintf("%U at %d in %.200q", r, i, s[max(0, i-60):]), true
		}
	}
	return "", false
}

// TestControlCharactersEscaped: control characters in ids, paths, parameter values and run ids
// that the runner echoes (error lines, problems, log lines, the termination message) reach the
// terminal and the pod log escaped, in every output and log format.
func TestControlCharactersEscaped(t *testing.T) {
	w := newWorkspace(t)
	spec := w.quickstart()
	term := w.path("termination")
	w.env["AIFLOW_TERMINATION_LOG"] = term
	const evil = "\x1b]0;pwn\a\x1b[2J\r\x00\u009b31m\u202eexe\u2028::error::x\xff"
	bad := w.write("spec/evil.yaml", strings.NewReplacer("id: qs,", `id: "qs`+yamlEscape(evil)+`",`,
		"id: by_user", `id: "by`+yamlEscape(evil)+`"`, "[by_user]", `["by`+yamlEscape(evil)+`"]`).Replace(mustRead(t, spec)))
	missing := w.write("spec/missing.yaml", strings.Replace(mustRead(t, spec), w.path("in/orders")+"/", `"`+yamlEscape(w.path("in/no"+evil))+`/"`, 1))
	for _, format := range []string{"text", "json"} {
		w.env["AIFLOW_LOG_FORMAT"] = format
		w.env["AIFLOW_LOG_LEVEL"] = "info"
		for name, args := range map[string][]string{
			"validate ids":     {"validate", bad},
			"validate path":    {"validate", w.path("spec/no" + evil + ".yaml")},
			"run ids":          {"run", "--pipeline", "qs" + evil, "--all", "--ir", bad, "--run-id", "r1"},
			"run id":           {"run", "--pipeline", "qs", "--all", "--ir", spec, "--run-id", "r" + evil},
			"param":            {"run", "--pipeline", "qs", "--all", "--ir", spec, "--run-id", "p1", "--param", "x=" + evil},
			"missing input":    {"run", "--pipeline", "qs", "--all", "--ir", missing, "--run-id", "m1"},
			"unknown pipeline": {"run", "--pipeline", "no" + evil, "--all", "--ir", spec},
			"unknown flag":     {"validate", "--no" + evil, spec},
		} {
			t.Run(format+"/"+name, func(t *testing.T) {
				_ = os.Remove(term)
				r := w.run(args...)
				if r.code == 0 {
					t.Errorf("exit 0, want a failure echoing the value\n%s", r.stderr)
				}
				for what, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
					if where, bad := unsafeRune(out, true); bad {
						t.Errorf("%s: %s", what, where)
					}
				}
				if b, err := os.ReadFile(term); err == nil {
					if where, bad := unsafeRune(strings.TrimSuffix(string(b), "\n"), false); bad {
						t.Errorf("termination message: %s", where)
					}
				}
				if !strings.Contains(r.stdout+r.stderr, `\x1b`) && name != "param" {
					t.Errorf("the value is not shown escaped:\n%s%s", r.stdout, r.stderr)
				}
			})
		}
	}
}

// yamlEscape writes s for a double-quoted YAML string.
func yamlEscape(s string) string {
	var b strings.Builder
	for _, r := range []byte(s) {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' {
			fmt.Fprintf(&b, `\x%02x`, r)
		} else {
			b.WriteByte(r)
		}
	}
	return b.String()
}
