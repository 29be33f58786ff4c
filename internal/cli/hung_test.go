package cli_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// privateS3 starts a versitygw of this test alone (the test freezes it; the shared one must keep
// serving the other packages) with one bucket. It returns the endpoint and the process.
func privateS3(t *testing.T, bucket string) (string, *os.Process) {
	t.Helper()
	gw := startVersitygw(t, bucket)
	t.Setenv("AWS_ACCESS_KEY_ID", gw.key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", gw.secret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AIFLOW_S3_ENDPOINT", gw.endpoint())
	return gw.endpoint(), gw.cmd.Process
}

// versitygw is a private S3 gateway that a test may kill -9 and start again on the same port
// with the same data (a server that dies and comes back).
type versitygw struct {
	t              *testing.T
	bin, addr, dir string
	key, secret    string
	cmd            *exec.Cmd
}

func (g *versitygw) endpoint() string { return "http://" + g.addr }

// startVersitygw starts a private versitygw with one bucket; it is killed when the test ends.
func startVersitygw(t *testing.T, bucket string) *versitygw {
	t.Helper()
	root, _ := filepath.Abs("../..")
	bin := filepath.Join(root, ".tools", "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		if testenv.CI() {
			t.Fatalf("no versitygw at %s (run scripts/install.sh versitygw)", bin)
		}
		t.Skipf("no versitygw at %s (run scripts/install.sh versitygw)", bin)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &versitygw{t: t, bin: bin, addr: l.Addr().String(), dir: t.TempDir(), key: "hungkey", secret: "hungsecret"}
	l.Close()
	_ = os.MkdirAll(filepath.Join(g.dir, "data"), 0o755)
	_ = os.MkdirAll(filepath.Join(g.dir, "meta"), 0o755)
	g.start()
	t.Cleanup(g.kill)
	c := s3.New(s3.Options{BaseEndpoint: aws.String(g.endpoint()), UsePathStyle: true, Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: g.key, SecretAccessKey: g.secret}, nil
		})})
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return g
}

// start runs the gateway on its port over its data and waits until it answers.
func (g *versitygw) start() {
	g.t.Helper()
	cmd := exec.Command(g.bin, "--port", g.addr, "--quiet", "posix", "--sidecar", filepath.Join(g.dir, "meta"), filepath.Join(g.dir, "data"))
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+g.key, "ROOT_SECRET_KEY="+g.secret)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.cmd = cmd
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(g.endpoint() + "/"); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("private versitygw did not start on %s", g.addr)
		}
	}
}

// kill ends the gateway with SIGKILL (a stopped one too), and waits for it.
func (g *versitygw) kill() {
	if g.cmd == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGCONT)
	_ = g.cmd.Process.Kill()
	_ = g.cmd.Wait()
	g.cmd = nil
}

// An object store that accepts connections and never answers (versitygw stopped with SIGSTOP)
// while the ledger (PostgreSQL) is healthy: the node logs what it waits for, exits 75 within
// AIFLOW_NODE_TIMEOUT, and the ledger records the attempt as ended, not running for ever (the
// cleanup of the hung store used to use up the bookkeeping's one shared budget).
func TestHungObjectStoreStillRecordsTheAttempt(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a node timeout")
	}
	dsn := testenv.Require(t, testenv.PostgresDSN)
	ep, proc := privateS3(t, "hung")
	w := newWorkspace(t)
	w.orders("in", 1000)
	const timeout = 24 * time.Second
	w.env["AIFLOW_METADATA_DSN"] = dsn
	w.env["AIFLOW_STAGING_URI"] = "s3://hung/staging"
	w.env["AIFLOW_S3_ENDPOINT"] = ep
	w.env["AIFLOW_NODE_TIMEOUT"] = timeout.String()
	run := fmt.Sprintf("hung-%d", time.Now().UnixNano())
	spec := w.write("spec.yaml", `api_version: aiflow/v1
pipeline: {id: hung_store, owner: me, env: dev}
nodes:
  - {id: src, source: files, with: {path: "`+w.path("in")+`/", format: parquet}}
  - {id: n, transform: arrow, inputs: [src], with: {steps: [{filter: "amount > 0"}]}}
`)
	if r := w.run("run", "--pipeline", "hung_store", "--node", "src", "--ir", spec, "--run-id", run); r.code != 0 {
		t.Fatalf("src: exit %d\n%s", r.code, r.stderr)
	}
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := w.run("run", "--pipeline", "hung_store", "--node", "n", "--ir", spec, "--run-id", run)
	took := time.Since(start)
	if r.code != 75 {
		t.Fatalf("hung object store: exit %d, want 75\n%s", r.code, r.stderr)
	}
	if took > timeout+10*time.Second { // the bound, with slack for a loaded machine
		t.Fatalf("exit 75 after %s with AIFLOW_NODE_TIMEOUT=%s", took, timeout)
	}
	if !strings.Contains(r.stderr, "node timeout") {
		t.Errorf("the error does not say the node ran out of time:\n%s", r.stderr)
	}
	t.Logf("exit 75 after %s", took.Round(time.Second))
	st, err := metadata.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.GetRun(context.Background(), "hung_store", run)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range d.Attempts {
		if a.Node == "n" && a.Status == metadata.AttemptRunning {
			t.Fatalf("the attempt of n is still running in the ledger after the node exited: %+v", a)
		}
	}
	found := false
	for _, a := range d.Attempts {
		found = found || a.Node == "n"
	}
	if !found {
		t.Fatalf("no attempt of n recorded: %+v", d.Attempts)
	}
}
