package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/plugin"
)

// secretSink is a test-only sink that uses a secret the way a database sink does: it resolves
// the reference at run time, registers the value with the run's redactor (the contract of
// plugin.Env.Redact), then — deliberately careless — logs it, and on `fail` returns a driver-style
// error that embeds it. It writes the value to its destination file, which proves it was
// resolved; that file is the only place the value may appear.
type secretSink struct {
	DSN  plugin.Secret `json:"dsn" doc:"the secret"`
	Dest string        `json:"dest" doc:"file the value is written to"`
	Fail bool          `json:"fail" doc:"fail with an error that embeds the value"`
	// Careless skips registering the value: the runner must have registered it already.
	Careless bool `json:"careless" doc:"do not register the value with the redactor"`
}

func (c *secretSink) Validate() error {
	if c.DSN.IsZero() || c.Dest == "" {
		return plugin.Errorf("", "dsn and dest are required")
	}
	return nil
}

type secretSinkRuntime struct{}

func (secretSinkRuntime) Publish(ctx context.Context, env *plugin.Env, c *secretSink) (*plugin.Output, error) {
	v, err := c.DSN.Resolve(env.Config.SecretsDir)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "")
	}
	if !c.Careless {
		env.Redact.Add(v)
	}
	env.Log.Info("connecting", "dsn", v, "note", "password is "+v)
	if c.Fail {
		return nil, fault.Temporaryf("connect postgres://app:%s@db:5432/features: connection refused", v)
	}
	if err := os.MkdirAll(filepath.Dir(c.Dest), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.Dest, []byte(v), 0o600); err != nil {
		return nil, err
	}
	return &plugin.Output{Manifest: &manifest.Manifest{Kind: manifest.KindNone, Dataset: &manifest.DatasetRef{Namespace: "postgres://db:5432", Name: "features"}}}, nil
}

func secretRegistry() *plugin.Registry {
	reg := plugin.Default.Clone()
	plugin.RegisterSink(reg, plugin.Kind[*secretSink]{Kind: "secret_test", Summary: "test only", Engines: []string{"arrow"},
		New: func() *secretSink { return &secretSink{} }}, secretSinkRuntime{}, "arrow")
	return reg
}

// TestSecretsNeverLeak plants a unique secret value, resolves it at run time from the
// environment and from a mounted Kubernetes Secret file, and searches everything aiflow writes:
// the IR (plan --json), the compiled DAG, the metadata database, stdout and stderr of every
// command, result.json and manifests under staging, the termination message, the metrics pushed
// to a Pushgateway and the OpenLineage events. The value may appear only in the sink's own
// destination.
func TestSecretsNeverLeak(t *testing.T) {
	w := newWorkspace(t)
	value := "planted-" + randomHex(t)   // {secret: db/password} through AIFLOW_SECRET_DB_PASSWORD
	mounted := "mounted-" + randomHex(t) // {secret: fs/token} through $AIFLOW_SECRETS_DIR/fs/token
	envValue := "envvar-" + randomHex(t) // ${MY_TOKEN}
	bare := "bare" + randomHex(t)        // ${BARE_PW}: a sink that never registers it
	fsPassword := "fspw" + randomHex(t)  // ${FS_DSN}: a key=value DSN the DSN masker does not parse
	planted := []string{value, mounted, envValue, bare, fsPassword}
	t.Setenv("BARE_PW", bare)
	t.Setenv("FS_DSN", "host=127.0.0.1 port=1 user=app dbname=features connect_timeout=1 sslmode=disable passfile="+fsPassword+" password="+fsPassword)
	t.Setenv("AIFLOW_SECRET_DB_PASSWORD", value)
	t.Setenv("MY_TOKEN", envValue)
	secrets := w.path("secrets")
	w.write("secrets/fs/token", mounted+"\n")
	w.env["AIFLOW_SECRETS_DIR"] = secrets

	var pushMu sync.Mutex
	var pushed bytes.Buffer
	pgw := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		pushMu.Lock()
		fmt.Fprintf(&pushed, "%s %s\n%s\n", r.Method, r.URL, b)
		pushMu.Unlock()
		rw.WriteHeader(http.StatusOK)
	}))
	defer pgw.Close()
	lineage := w.path("lineage/events.ndjson")
	w.env["AIFLOW_PUSHGATEWAY_URL"] = pgw.URL
	w.env["AIFLOW_OPENLINEAGE_URL"] = "file://" + lineage
	w.env["AIFLOW_LOG_LEVEL"] = "debug"
	w.env["AIFLOW_TERMINATION_LOG"] = w.path("termination-log")
	w.env["AIFLOW_LOG_FORMAT"] = "json"

	w.write("in/orders.csv", "order_id,user_id\n1,10\n2,11\n")
	dests := map[string]string{"db": w.path("dest/db"), "fs": w.path("dest/fs"), "env": w.path("dest/env")}
	spec := w.write("specs/secrets.yaml", `api_version: aiflow/v1
pipeline: {id: secrets, owner: me, team: t, env: dev}
nodes:
  - {id: src, source: files, with: {path: `+w.path("in/orders.csv")+`, format: csv}}
  - id: to_db
    sink: secret_test
    inputs: [src]
    with: {dsn: {secret: db/password}, dest: `+dests["db"]+`}
  - id: to_fs
    sink: secret_test
    inputs: [src]
    with: {dsn: {secret: fs/token}, dest: `+dests["fs"]+`}
  - id: to_env
    sink: secret_test
    inputs: [src]
    with: {dsn: "${MY_TOKEN}", dest: `+dests["env"]+`}
  - id: broken
    sink: secret_test
    inputs: [src]
    with: {dsn: {secret: db/password}, dest: `+w.path("dest/never")+`, fail: true}
  - id: careless
    sink: secret_test
    inputs: [src]
    with: {dsn: "${BARE_PW}", dest: `+w.path("dest/never2")+`, fail: true, careless: true}
  - id: fstore
    sink: feature_store
    inputs: [src]
    with: {feature_group: orders, dsn: "${FS_DSN}"}
`)
	var outputs bytes.Buffer
	reg := secretRegistry()
	run := func(want int, args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := cli.RunWith(&cli.Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Registry: reg,
			Lookup: func(k string) (string, bool) { v, ok := w.env[k]; return v, ok }}, args)
		fmt.Fprintf(&outputs, "$ %s\n%s\n%s\n", strings.Join(args, " "), stdout.String(), stderr.String())
		if code != want && (want >= 0 || code == 0) {
			t.Fatalf("%v: exit %d, want %d\n%s\n%s", args, code, want, stdout.String(), stderr.String())
		}
	}
	run(0, "validate", spec)
	run(0, "plan", spec, "--json")
	run(0, "compile", spec, "--out", w.path("dags"))
	run(0, "run", "--pipeline", "secrets", "--node", "src", "--ir", spec, "--run-id", "r1")
	for _, n := range []string{"to_db", "to_fs", "to_env"} {
		run(0, "run", "--pipeline", "secrets", "--node", n, "--ir", spec, "--run-id", "r1")
	}
	run(75, "run", "--pipeline", "secrets", "--node", "broken", "--ir", spec, "--run-id", "r1")
	run(75, "run", "--pipeline", "secrets", "--node", "careless", "--ir", spec, "--run-id", "r1")
	run(-1, "run", "--pipeline", "secrets", "--node", "fstore", "--ir", spec, "--run-id", "r1")
	run(0, "runs", "show", "r1", "--pipeline", "secrets", "--json")
	run(0, "runs", "list", "--json")

	// Resolved where they are used.
	for name, want := range map[string]string{"db": value, "fs": mounted, "env": envValue} {
		if b, err := os.ReadFile(dests[name]); err != nil || string(b) != want {
			t.Fatalf("sink %s resolved %q (%v), want the planted value", name, b, err)
		}
	}
	// The logs did carry the deliberately logged line (redacted), so the search below is real.
	if !strings.Contains(outputs.String(), "connecting") {
		t.Fatalf("the sink's log line is missing from the output:\n%s", outputs.String())
	}
	pushMu.Lock()
	pushedText := pushed.String()
	pushMu.Unlock()
	if pushedText == "" {
		t.Error("no metrics were pushed to the Pushgateway: the metrics search found nothing to search")
	}
	if _, err := os.Stat(lineage); err != nil {
		t.Errorf("no lineage events were written: %v", err)
	}

	// Search everything.
	places := map[string][]byte{
		"stdout/stderr of the commands": outputs.Bytes(),
		"metrics pushed":                []byte(pushedText),
	}
	skip := map[string]bool{}
	for _, d := range dests {
		skip[d] = true
	}
	skip[filepath.Join(secrets, "fs", "token")] = true
	filepath.WalkDir(w.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || skip[p] {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil {
			rel, _ := filepath.Rel(w.dir, p)
			places[rel] = b
		}
		return nil
	})
	for _, must := range []string{".aiflow/metadata.db", "termination-log", "lineage/events.ndjson", "dags/secrets.py"} {
		if _, ok := places[must]; !ok {
			t.Errorf("%s was not written, so it was not searched", must)
		}
	}
	var staged int
	for name := range places {
		if strings.HasPrefix(name, ".aiflow/staging/") {
			staged++
		}
	}
	if staged == 0 {
		t.Error("nothing under staging was searched")
	}
	for name, b := range places {
		for _, v := range planted {
			if bytes.Contains(b, []byte(v)) {
				i := bytes.Index(b, []byte(v))
				lo, hi := max(0, i-120), min(len(b), i+len(v)+40)
				t.Errorf("secret value found in %s: …%q…", name, b[lo:hi])
			}
		}
	}
	// The references are what the IR and the DAG carry.
	if !strings.Contains(outputs.String(), `"secret":"db/password"`) {
		t.Error("plan --json does not show the reference {secret: db/password}")
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
