//go:build k8se2e

package k8se2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/objstore/objstoretest"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// Variables of scripts/k8s.sh (its env file, loaded by `scripts/k8s.sh exec`).
const (
	envKubeconfig = "AIFLOW_K8S_KUBECONFIG"
	envKubectl    = "AIFLOW_K8S_KUBECTL"
	envK8sDir     = "AIFLOW_K8S_DIR"
	envRunnerImg  = "AIFLOW_K8S_RUNNER_IMAGE"
	envPythonImg  = "AIFLOW_K8S_PYTHON_IMAGE"
	envNodeIP     = "AIFLOW_K8S_NODE_IP"
	envRunner     = "AIFLOW_TEST_RUNNER" // the host build of aiflow-runner (make build)
)

// namespace is where the pods run; airflow-worker is the identity Airflow talks to the API as,
// with exactly the Role docs/kubernetes.md gives it.
const namespace = "aiflow-e2e"

// env is the cluster and what the tests set up once in it.
type env struct {
	root       string
	kubectlBin string
	adminCfg   string
	workerCfg  string // kubeconfig of the airflow-worker service account (its token)
	runner     string
	airflowPy  string
	airflowEnv []string
	airflowDB  string // the migrated SQLite database that each DAG run starts from a copy of
	s3         *objstore.Store
	bucket     string // s3://bucket/
	pgDSN      string
	s3Endpoint string
	tmp        string
	pythonImg  string // the python image with the tests' own module on top
	runnerImg  string
	nodeIP     string      // the node address: pods reach the services and the tests' listeners on it
	lineage    *olReceiver // the OpenLineage endpoint the pods post their events to
}

var (
	setupOnce sync.Once
	shared    *env
	setupErr  error
)

// TestMain keeps one setup (namespace, RBAC, secrets, an Airflow database, a bucket) for all,
// and removes its folder at the end.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.lineage.close()
	}
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// tmpDir is the setup's folder (env.tmp), set as soon as it exists so that TestMain removes it
// even when the setup fails half-way.
var tmpDir string

func setup(t *testing.T) *env {
	t.Helper()
	kubeconfig := testenv.Require(t, envKubeconfig)
	e := &env{
		adminCfg:   kubeconfig,
		kubectlBin: testenv.Require(t, envKubectl),
		runner:     testenv.Require(t, envRunner),
		airflowPy:  testenv.Require(t, testenv.AirflowPython),
		pgDSN:      testenv.Require(t, testenv.PostgresDSN),
		s3Endpoint: testenv.Require(t, testenv.S3Endpoint),
		runnerImg:  testenv.Require(t, envRunnerImg),
		nodeIP:     testenv.Require(t, envNodeIP),
	}
	pyImg := testenv.Require(t, envPythonImg)
	k8sDir := testenv.Require(t, envK8sDir)
	setupOnce.Do(func() { setupErr = e.init(t, pyImg, k8sDir) })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return shared
}

func (e *env) init(t *testing.T, pyImg, k8sDir string) error {
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	e.root = root
	// Not t.TempDir: the setup outlives the first test.
	e.tmp, err = os.MkdirTemp("", "aiflow-k8se2e-")
	if err != nil {
		return err
	}
	tmpDir = e.tmp
	// The pods post their OpenLineage events here (AIFLOW_OPENLINEAGE_URL of the profile).
	if e.lineage, err = newOLReceiver(e.nodeIP); err != nil {
		return err
	}
	// A bucket that lives as long as the process (the cluster is torn down after the tests).
	e.s3, e.bucket = objstoretest.RealS3(&keep{T: t})

	// The python image with the tests' own module on top, the way a team adds its code
	// (docs/kubernetes.md), imported into the cluster's containerd.
	e.pythonImg = "localhost/aiflow-e2e-python:dev"
	ctx := filepath.Join(e.tmp, "image")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		return err
	}
	if err := copyDir(filepath.Join(root, "internal/k8se2e/testdata/e2e_jobs"), filepath.Join(ctx, "e2e_jobs")); err != nil {
		return err
	}
	if err := copyDir(filepath.Join(root, "examples/user_features/etl_jobs"), filepath.Join(ctx, "etl_jobs")); err != nil {
		return err
	}
	cf := "FROM " + pyImg + "\nCOPY e2e_jobs/ /app/e2e_jobs/\nCOPY etl_jobs/ /app/etl_jobs/\n"
	if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(cf), 0o644); err != nil {
		return err
	}
	tar := filepath.Join(e.tmp, "e2e-python.tar")
	for _, c := range [][]string{
		{"buildah", "bud", "--quiet", "--layers=false", "-f", filepath.Join(ctx, "Containerfile"), "-t", e.pythonImg, ctx},
		{"podman", "save", "--quiet", "-o", tar, e.pythonImg},
		{"ctr", "-a", filepath.Join(k8sDir, "run/containerd.sock"), "-n", "k8s.io", "images", "import",
			"--base-name", strings.Split(e.pythonImg, ":")[0], "--digests", tar},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}

	// The namespace, the runner pods' service account (no API rights), the Secrets the profile
	// names, and the Airflow worker's service account with the Role of docs/kubernetes.md.
	s3Key, s3Secret := os.Getenv(testenv.S3AccessKey), os.Getenv(testenv.S3SecretKey)
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: aiflow-runner, namespace: %[1]s}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: airflow-worker, namespace: %[1]s}
---
apiVersion: v1
kind: Secret
metadata: {name: aiflow-metadata, namespace: %[1]s}
stringData: {dsn: %[2]q}
---
apiVersion: v1
kind: Secret
metadata: {name: aiflow-s3, namespace: %[1]s}
stringData: {AWS_ACCESS_KEY_ID: %[3]q, AWS_SECRET_ACCESS_KEY: %[4]q}
---
%[5]s`, namespace, e.pgDSN, s3Key, s3Secret, workerRBAC(namespace))
	if _, err := e.kubectl(e.adminCfg, manifest, "apply", "-f", "-"); err != nil {
		return err
	}
	token, err := e.kubectl(e.adminCfg, "", "-n", namespace, "create", "token", "airflow-worker", "--duration=2h")
	if err != nil {
		return err
	}
	admin, err := os.ReadFile(e.adminCfg)
	if err != nil {
		return err
	}
	ca := regexp.MustCompile(`certificate-authority: "([^"]+)"`).FindSubmatch(admin)
	if ca == nil {
		return fmt.Errorf("no certificate-authority in %s", e.adminCfg)
	}
	e.workerCfg = filepath.Join(e.tmp, "airflow-worker.kubeconfig")
	wc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: %q}
users:
- name: airflow-worker
  user: {token: %q}
contexts:
- name: c
  context: {cluster: c, user: airflow-worker, namespace: %s}
current-context: c
`, string(ca[1]), strings.TrimSpace(token), namespace)
	if err := os.WriteFile(e.workerCfg, []byte(wc), 0o600); err != nil {
		return err
	}
	// The worker may not do what its Role does not grant.
	if out, _ := e.kubectl(e.workerCfg, "", "auth", "can-i", "create", "secrets"); strings.TrimSpace(out) != "no" {
		return fmt.Errorf("airflow-worker can create secrets (%q): its Role is too wide", out)
	}

	// Airflow: a private home with its own SQLite database; the worker's connection to the
	// cluster is kubernetes_default, as an environment variable.
	home := filepath.Join(e.tmp, "airflow-home")
	e.airflowDB = filepath.Join(home, "airflow.db")
	conn, _ := json.Marshal(map[string]any{"conn_type": "kubernetes", "extra": map[string]any{
		"kube_config_path": e.workerCfg, "namespace": namespace}})
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "AIFLOW_") && !strings.HasPrefix(k, "AIFLOW_TEST_")) || strings.HasPrefix(k, "AIRFLOW") || k == "PYTHONPATH" || k == "KUBECONFIG" {
			continue
		}
		e.airflowEnv = append(e.airflowEnv, kv)
	}
	e.airflowEnv = append(e.airflowEnv,
		"AIRFLOW_HOME="+home,
		"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///"+e.airflowDB,
		"AIRFLOW__CORE__LOAD_EXAMPLES=False",
		"AIRFLOW__CORE__UNIT_TEST_MODE=False",
		"AIRFLOW_CONN_KUBERNETES_DEFAULT="+string(conn),
		"PYTHONPATH="+filepath.Join(root, "python"),
	)
	if _, err := e.airflow(nil, "db", "migrate"); err != nil {
		return err
	}
	if _, err := os.Stat(e.airflowDB); err != nil {
		return fmt.Errorf("airflow db migrate made no %s: %w", e.airflowDB, err)
	}
	shared = e
	return nil
}

// workerRBAC is the Role docs/kubernetes.md gives the Airflow worker: KubernetesPodOperator
// creates, watches, reads the logs of and deletes its pods, and reads their events on failure.
func workerRBAC(ns string) string {
	return fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: airflow-pod-operator, namespace: %[1]s}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [create, get, list, watch, delete, patch]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: airflow-pod-operator, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: airflow-pod-operator}
subjects:
- {kind: ServiceAccount, name: airflow-worker, namespace: %[1]s}
`, ns)
}

// keep is a testing.TB whose cleanups are dropped: the shared bucket outlives the test that
// made it (the whole S3 gateway goes with scripts/k8s.sh down).
type keep struct{ *testing.T }

func (k *keep) Cleanup(func()) {}

func (e *env) kubectl(cfg, stdin string, args ...string) (string, error) {
	cmd := exec.Command(e.kubectlBin, append([]string{"--kubeconfig", cfg}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

func (e *env) airflow(extra []string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(filepath.Dir(e.airflowPy), "airflow"), args...)
	cmd.Env = append(append([]string(nil), e.airflowEnv...), extra...)
	cmd.Dir = e.tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("airflow %s: %v\n%s", strings.Join(args, " "), err, tail(out, 80))
	}
	return out, nil
}

// runnerCmd runs the host's aiflow-runner against the cluster's services (as the test's
// helper: sample data, runs list).
func (e *env) runnerCmd(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(e.runner, args...)
	cmd.Env = append(os.Environ(),
		"AIFLOW_HOME="+filepath.Join(e.tmp, "runner-home"),
		"AIFLOW_METADATA_DSN="+e.pgDSN,
		"AIFLOW_S3_ENDPOINT="+e.s3Endpoint,
		"AWS_ACCESS_KEY_ID="+os.Getenv(testenv.S3AccessKey),
		"AWS_SECRET_ACCESS_KEY="+os.Getenv(testenv.S3SecretKey),
		"AWS_REGION=us-east-1",
		"AIFLOW_TERMINATION_LOG="+filepath.Join(e.tmp, "termination-log"),
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aiflow-runner %s: %v\n%s", strings.Join(args, " "), err, tail(out, 40))
	}
	return out
}

// profile is the deployment profile of this cluster: the images `make image` built (never
// pulled), the namespace and service account above, the services on the node address, and the
// credentials as Secrets.
func (e *env) profile(t *testing.T, retries int) string {
	t.Helper()
	doc := fmt.Sprintf(`api_version: aiflow/v1
profiles:
  - match: {env: dev}
    image: %s
    images: {python: %s}
    image_pull_policy: Never
    namespace: %s
    service_account: aiflow-runner
    env_vars:
      AIFLOW_STAGING_URI: %sstaging/
      AIFLOW_LAKE_ROOT: %slake/
      AIFLOW_S3_ENDPOINT: %s
      AWS_REGION: us-east-1
      AIFLOW_LOG_FORMAT: text
      AIFLOW_PUSHGATEWAY_URL: %s
      AIFLOW_OPENLINEAGE_URL: %s
    secrets:
      - {env: AIFLOW_METADATA_DSN, secret: aiflow-metadata, key: dsn}
      - {secret: aiflow-s3}
    resources: {cpu: 100m, memory: 512Mi}
    retries: %d
    retry_delay: 1s
    execution_timeout: 10m
    on_finish_action: delete_succeeded_pod
    get_logs: true
    termination_message_policy: File
    deferrable: false
    startup_timeout: 3m
`, e.runnerImg, e.pythonImg, namespace, e.bucket, e.bucket, e.s3Endpoint, os.Getenv(testenv.Pushgateway), e.lineage.url, retries)
	p := filepath.Join(t.TempDir(), "profiles.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// compile writes the DAG of spec (YAML text) for target kubernetes into a fresh dags folder.
func (e *env) compile(t *testing.T, spec string, retries int) string {
	t.Helper()
	dir := t.TempDir()
	specPath := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	dags := filepath.Join(dir, "dags")
	e.runnerCmd(t, "compile", specPath, "--out", dags, "--target", "kubernetes", "--profiles", e.profile(t, retries))
	return dags
}

type taskState struct {
	TaskID string `json:"task_id"`
	State  string `json:"state"`
	Try    int    `json:"try_number"`
}

// dagsTest runs `airflow dags test` and returns its output and the task instances' states.
// Each call has its own copy of the migrated database: the tests run their DAGs in parallel,
// and SQLite takes one writer at a time.
func (e *env) dagsTest(t *testing.T, dags, dagID, date string) (string, map[string]taskState) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "airflow.db")
	b, err := os.ReadFile(e.airflowDB)
	if err == nil {
		err = os.WriteFile(db, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	extra := []string{"AIRFLOW__CORE__DAGS_FOLDER=" + dags, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///" + db}
	start := time.Now()
	out, err := e.airflow(extra, "dags", "test", dagID, date)
	t.Logf("airflow dags test %s %s: %s (err %v)", dagID, date, time.Since(start).Round(time.Second), err)
	script := `import json, sys
from airflow.models import TaskInstance
from airflow.utils.session import create_session
with create_session() as s:
    tis = s.query(TaskInstance).filter(TaskInstance.dag_id == sys.argv[1]).all()
    print("AIFLOW_E2E_STATES=" + json.dumps([{"task_id": ti.task_id, "state": str(ti.state), "try_number": ti.try_number} for ti in tis]), flush=True)
`
	cmd := exec.Command(e.airflowPy, "-c", script, dagID)
	cmd.Env = append(append([]string(nil), e.airflowEnv...), extra...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	sout, serr := cmd.Output()
	if serr != nil {
		t.Fatalf("task states of %s: %v\n%s\n%s", dagID, serr, tail(stderr.Bytes(), 30), tail(out, 40))
	}
	// Airflow may log to stdout around it (settings, plugins): the states are the marked line.
	var tis []taskState
	m := regexp.MustCompile(`(?m)^AIFLOW_E2E_STATES=(.*)$`).FindSubmatch(sout)
	if m == nil {
		t.Fatalf("task states of %s: no AIFLOW_E2E_STATES line\n%s\n%s", dagID, sout, tail(stderr.Bytes(), 30))
	}
	if err := json.Unmarshal(m[1], &tis); err != nil {
		t.Fatalf("task states: %v\n%s", err, sout)
	}
	states := map[string]taskState{}
	for _, ti := range tis {
		states[ti.TaskID] = ti
	}
	return string(out), states
}

// runs returns the runs of a pipeline in the metadata store (runs list --json).
func (e *env) runs(t *testing.T, pipeline string) []map[string]any {
	t.Helper()
	out := e.runnerCmd(t, "runs", "list", "--pipeline", pipeline, "--json")
	var runs []map[string]any
	if err := json.Unmarshal(out, &runs); err != nil {
		t.Fatalf("runs list --json: %v\n%s", err, out)
	}
	return runs
}

// rows counts the data rows of the CSV part files under prefix.
func (e *env) csvRows(t *testing.T, prefix string) int {
	t.Helper()
	objs, err := e.s3.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range objs {
		if !strings.Contains(o.URI, "/part-") {
			continue
		}
		b, err := e.s3.Get(context.Background(), o.URI)
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(strings.TrimSpace(string(b)), "\n") // minus the header line
	}
	return n
}

// quickstart is examples/quickstart with its paths on the test bucket.
func (e *env) quickstart(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, "examples/quickstart/pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), ".aiflow/demo/orders/", e.bucket+"quickstart/orders/")
	s = strings.ReplaceAll(s, ".aiflow/demo/out/user_order_stats/", e.bucket+"quickstart/out/user_order_stats/")
	if !strings.Contains(s, e.bucket+"quickstart/out/") {
		t.Fatal("examples/quickstart/pipeline.yaml changed its paths: update this test")
	}
	return s
}

func TestQuickstartThroughPods(t *testing.T) {
	e := setup(t)
	t.Parallel()
	e.runnerCmd(t, "demo-data", "--out", e.bucket+"quickstart/orders/", "--rows", "20000", "--users", "500")
	dags := e.compile(t, e.quickstart(t), 1)
	since := time.Now()
	out, states := e.dagsTest(t, dags, "quickstart_user_orders", "2024-05-02")
	for _, task := range []string{"orders", "paid_orders_by_user", "user_order_stats"} {
		if s := states[task]; s.State != "success" || s.Try != 1 {
			t.Errorf("task %s: %+v, want success on the first try\n%s", task, s, tail([]byte(out), 60))
		}
	}
	// The task log streams the pod's output (get_logs): the runner's own log lines.
	if !strings.Contains(out, "node=user_order_stats") {
		t.Errorf("the runner's log lines are not in the task log:\n%s", tail([]byte(out), 40))
	}
	objs, err := e.s3.List(context.Background(), e.bucket+"quickstart/out/user_order_stats/")
	if err != nil {
		t.Fatal(err)
	}
	parquet := 0
	for _, o := range objs {
		if strings.HasSuffix(o.URI, ".parquet") && o.Size > 0 {
			parquet++
		}
	}
	if parquet == 0 {
		t.Fatalf("no Parquet committed under %squickstart/out/user_order_stats/: %v", e.bucket, objs)
	}
	// The metadata store (PostgreSQL) has the run, ended succeeded by the last node's commit,
	// and every node's attempt succeeded.
	run := e.wantRunStatus(t, "quickstart_user_orders", since, "succeeded")
	nodes := []string{"orders", "paid_orders_by_user", "user_order_stats", "user_order_stats_lake"}
	e.wantSucceeded(t, "quickstart_user_orders", fmt.Sprint(run["run_id"]), nodes...)
	// Every pod pushed its metrics and posted its lineage; the sinks' outputs carry their row
	// counts.
	wantMetrics(t, "quickstart_user_orders", nodes, nodes[1:])
	complete := e.wantLineage(t, "quickstart_user_orders", nodes...)
	for _, n := range []string{"user_order_stats", "user_order_stats_lake"} {
		outs := complete[n].Outputs
		if len(outs) != 1 || outs[0].OutputFacets.OutputStatistics == nil || outs[0].OutputFacets.OutputStatistics.RowCount <= 0 {
			t.Errorf("lineage COMPLETE of %s: outputs %+v, want one with its row count", n, outs)
		}
	}
	if outs := complete["user_order_stats"].Outputs; len(outs) == 1 && !strings.Contains(e.bucket, strings.TrimPrefix(outs[0].Namespace, "s3://")) {
		t.Errorf("lineage output of user_order_stats is %s %s, want the test bucket %s", outs[0].Namespace, outs[0].Name, e.bucket)
	}
}

// A data error (65) fails the task for good: no second try although the profile allows one,
// and the runner's termination message is in the task log.
func TestDataErrorNotRetried(t *testing.T) {
	e := setup(t)
	t.Parallel()
	ctx := context.Background()
	// A "Parquet" file that is not Parquet: the source cannot read it (a data error).
	if err := e.s3.Put(ctx, e.bucket+"bad/orders/part-0.parquet", strings.NewReader("this is not parquet")); err != nil {
		t.Fatal(err)
	}
	spec := fmt.Sprintf(`api_version: aiflow/v1
pipeline: {id: e2e_data_error, owner: e2e, team: e2e, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: %[1]sbad/orders/, format: parquet}
  - id: out
    sink: files
    inputs: [orders]
    with: {path: %[1]sbad/out/, format: csv}
`, e.bucket)
	dags := e.compile(t, spec, 1)
	since := time.Now()
	out, states := e.dagsTest(t, dags, "e2e_data_error", "2024-05-02")
	if s := states["orders"]; s.State != "failed" || s.Try != 1 {
		t.Fatalf("task orders: %+v, want failed after one try\n%s", s, tail([]byte(out), 60))
	}
	if !strings.Contains(out, "aiflow-runner exited 65") {
		t.Errorf("want the exit class in the task log:\n%s", tail([]byte(out), 60))
	}
	// The termination message (the runner's one-line reason, which the pod status carries) is
	// what KubernetesPodOperator puts after "returned a failure".
	if !regexp.MustCompile(`returned a failure\.\s*data error \(exit 65, retryable=false\): read s3://\S+: corrupt or unreadable data`).MatchString(out) {
		t.Errorf("want the termination message in the task log:\n%s", tail([]byte(out), 60))
	}
	// Not retried, so its first try was its last: the run ends failed, and the pod's metrics
	// count the failure by its class.
	e.wantRunStatus(t, "e2e_data_error", since, "failed")
	if m := pushed(t, "e2e_data_error", "orders"); m["aiflow_node_last_failure_timestamp_seconds"] <= 0 {
		t.Errorf("Pushgateway has for e2e_data_error/orders: %v, want a last failure", m)
	}
}

// A temporary error (75: S3 down on the first try) is retried, and the second try succeeds.
// Not parallel: S3 is down for every pod meanwhile (the other tests wait for it to finish).
func TestTemporaryErrorRetried(t *testing.T) {
	e := setup(t)
	e.runnerCmd(t, "demo-data", "--out", e.bucket+"temp/orders/", "--rows", "2000", "--users", "50")
	spec := fmt.Sprintf(`api_version: aiflow/v1
pipeline: {id: e2e_temporary, owner: e2e, team: e2e, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: %[1]stemp/orders/, format: parquet}
  - id: copy
    sink: files
    inputs: [orders]
    with: {path: %[1]stemp/out/, format: csv}
`, e.bucket)
	dags := e.compile(t, spec, 1)
	gw := stopS3(t)
	// S3 comes back once the first pod has failed: the retry finds it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(5 * time.Minute)
		for time.Now().Before(deadline) {
			out, _ := e.kubectl(e.adminCfg, "", "-n", namespace, "get", "pods", "-l", "pipeline=e2e_temporary,node=orders",
				"-o", "jsonpath={range .items[*]}{.status.containerStatuses[0].state.terminated.exitCode}{\"\\n\"}{end}")
			if strings.Contains(out, "75") {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		gw.start(t)
	}()
	since := time.Now()
	out, states := e.dagsTest(t, dags, "e2e_temporary", "2024-05-02")
	<-done
	if s := states["orders"]; s.State != "success" || s.Try != 2 {
		t.Fatalf("task orders: %+v, want success on the second try\n%s", s, tail([]byte(out), 80))
	}
	// The first try's failure carries the runner's termination message with its exit class.
	if !regexp.MustCompile(`returned a failure\.\s*[^\n]*\(exit 75, retryable=true\)`).MatchString(out) {
		t.Errorf("want the first try's termination message (exit 75) in the task log:\n%s", tail([]byte(out), 60))
	}
	if s := states["copy"]; s.State != "success" {
		t.Errorf("task copy: %+v, want success", s)
	}
	if n := e.csvRows(t, e.bucket+"temp/out/"); n != 2000 {
		t.Errorf("%d rows committed, want 2000", n)
	}
	e.wantRunStatus(t, "e2e_temporary", since, "succeeded")
}

// A pod deleted while its node works (SIGTERM, then the grace period) commits nothing; the
// task's retry runs the node again and the output holds every row exactly once.
func TestPodDeletedMidWrite(t *testing.T) {
	e := setup(t)
	t.Parallel()
	e.runnerCmd(t, "demo-data", "--out", e.bucket+"slow/orders/", "--rows", "3000", "--users", "50")
	spec := fmt.Sprintf(`api_version: aiflow/v1
pipeline: {id: e2e_pod_deleted, owner: e2e, team: e2e, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: %[1]sslow/orders/, format: parquet}
  - id: slow
    transform: python
    inputs: [orders]
    with: {fn: "e2e_jobs.slow:main", seconds: 20}
  - id: out
    sink: files
    inputs: [slow]
    with: {path: %[1]sslow/out/, format: csv}
`, e.bucket)
	dags := e.compile(t, spec, 1)
	deleted := make(chan string, 1)
	go func() {
		deadline := time.Now().Add(5 * time.Minute)
		for time.Now().Before(deadline) {
			// The node prints this line once it holds its input and is working.
			pods, _ := e.kubectl(e.adminCfg, "", "-n", namespace, "get", "pods", "-l", "pipeline=e2e_pod_deleted,node=slow",
				"-o", "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}")
			for _, p := range strings.Fields(pods) {
				logs, _ := e.kubectl(e.adminCfg, "", "-n", namespace, "logs", p)
				if strings.Contains(logs, "e2e slow: working") {
					_, err := e.kubectl(e.adminCfg, "", "-n", namespace, "delete", "pod", p, "--grace-period=10", "--wait=false")
					if err != nil {
						deleted <- "error: " + err.Error()
					} else {
						deleted <- p
					}
					return
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
		deleted <- ""
	}()
	since := time.Now()
	out, states := e.dagsTest(t, dags, "e2e_pod_deleted", "2024-05-02")
	pod := <-deleted
	if pod == "" || strings.HasPrefix(pod, "error:") {
		t.Fatalf("the slow node's pod was not deleted (%q)\n%s", pod, tail([]byte(out), 60))
	}
	if s := states["slow"]; s.State != "success" || s.Try != 2 {
		t.Fatalf("task slow: %+v, want success on the second try after its pod %s was deleted\n%s", s, pod, tail([]byte(out), 80))
	}
	if s := states["out"]; s.State != "success" || s.Try != 1 {
		t.Errorf("task out: %+v, want success on the first try", s)
	}
	if n := e.csvRows(t, e.bucket+"slow/out/"); n != 3000 {
		t.Errorf("%d rows committed, want each of the 3000 exactly once", n)
	}
	// The first attempt of slow committed nothing; exactly one attempt succeeded.
	run := e.wantRunStatus(t, "e2e_pod_deleted", since, "succeeded")
	if ok := e.wantSucceeded(t, "e2e_pod_deleted", fmt.Sprint(run["run_id"]), "orders", "slow", "out"); ok["slow"] != 1 {
		t.Errorf("node slow has %d succeeded attempts, want exactly 1", ok["slow"])
	}
}

// wantSucceeded checks that each node has a succeeded attempt in the run (runs show --json) and
// returns how many succeeded attempts each node has.
func (e *env) wantSucceeded(t *testing.T, pipeline, runID string, nodes ...string) map[string]int {
	t.Helper()
	show := e.runnerCmd(t, "runs", "show", runID, "--pipeline", pipeline, "--json")
	var detail struct {
		Attempts []struct {
			Node   string `json:"node"`
			Status string `json:"status"`
		} `json:"attempts"`
	}
	if err := json.Unmarshal(show, &detail); err != nil {
		t.Fatalf("runs show --json: %v\n%s", err, show)
	}
	ok := map[string]int{}
	for _, a := range detail.Attempts {
		if a.Status == "succeeded" {
			ok[a.Node]++
		}
	}
	for _, n := range nodes {
		if ok[n] == 0 {
			t.Errorf("run %s: node %s has no succeeded attempt: %s", runID, n, show)
		}
	}
	return ok
}

// gateway is the S3 gateway scripts/k8s.sh started in the namespace (scripts/services.sh state).
type gateway struct {
	dir  string
	args []string
	env  []string
}

// stopS3 stops the namespace's S3 gateway; start brings it back on the same address and data.
func stopS3(t *testing.T) *gateway {
	t.Helper()
	dir := filepath.Join(testenv.Require(t, envK8sDir), "services", "versitygw")
	pidB, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidB)))
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("versitygw")) {
		t.Fatalf("pid %d is not the S3 gateway (%q, %v)", pid, cmdline, err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	g := &gateway{dir: dir, args: args, env: strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00")}
	syscall.Kill(-pid, syscall.SIGTERM)
	for i := 0; i < 40 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(250 * time.Millisecond)
	}
	t.Cleanup(func() { g.start(t) })
	return g
}

func (g *gateway) start(t *testing.T) {
	if g.args == nil {
		return
	}
	logf, err := os.OpenFile(filepath.Join(g.dir, "log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	defer logf.Close()
	cmd := exec.Command(g.args[0], g.args[1:]...)
	cmd.Env = g.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return
	}
	// scripts/k8s.sh down stops it by this pid file.
	os.WriteFile(filepath.Join(g.dir, "pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	cmd.Process.Release()
	g.args = nil
	for i := 0; i < 120; i++ {
		if resp, err := http.Get(os.Getenv(testenv.S3Endpoint) + "/"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("the S3 gateway did not come back on %s", os.Getenv(testenv.S3Endpoint))
}

func copyDir(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if strings.Contains(rel, "__pycache__") {
			return nil
		}
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
