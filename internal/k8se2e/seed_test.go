//go:build k8se2e

package k8se2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

const envSharedDir = "AIFLOW_K8S_SHARED_DIR"

// podUID is the user of the runner images: the folders the pods write into are its own.
const podUID = 65532

// TestSeedExampleThroughPods runs the seed's daily_user_feature_pipeline (examples/user_features,
// env prod as written) through KubernetesPodOperator: a onelake Delta source, the seed's PySpark
// entrypoint on the Spark Connect server (resources.cluster emr-feature-prod mapped to it by the
// profile), a python node and a onelake sink, every task a pod. The profile pins both images by
// digest (env prod requires it). The lake root and the staging are in a node folder that the
// pods mount (hostPath, through the profile's pod template) and that the Spark server sees at
// the same path: this Spark has no object-store connector.
func TestSeedExampleThroughPods(t *testing.T) {
	e := setup(t)
	t.Parallel()
	remote := testenv.Require(t, testenv.SparkRemote)
	py := testenv.Require(t, testenv.Python)
	shared := testenv.Require(t, envSharedDir)
	dir, err := os.MkdirTemp(shared, "seed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lake, staging := filepath.Join(dir, "lake"), filepath.Join(dir, "staging")
	for _, d := range []string{dir, lake, staging} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, podUID, podUID); err != nil {
			t.Fatal(err)
		}
	}

	// The example's sample table raw.sales_orders, as its sampledata command makes it: a Delta
	// table under the lake root, written by the Spark server.
	ctx := context.Background()
	// A server that has just started, on a loaded machine, may take minutes over its first
	// session (the metastore's Derby database is created then).
	s, err := spark.Connect(ctx, spark.Options{Remote: remote, ConnectTimeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sql, err := os.ReadFile(filepath.Join(e.root, "examples/user_features/sampledata/sample_data.sql"))
	if err != nil {
		t.Fatal(err)
	}
	orders, err := spark.DeltaPath("file://" + filepath.Join(lake, "raw", "sales_orders"))
	if err != nil {
		t.Fatal(err)
	}
	q := strings.NewReplacer("{{create}}", "CREATE OR REPLACE TABLE "+orders, "{{format}}", "delta").Replace(string(sql))
	if err := s.Exec(ctx, spark.Statements(q)...); err != nil {
		t.Fatal(err)
	}

	// The pod template adds the shared folder to every pod, at the path the Spark server uses.
	tmpl := filepath.Join(t.TempDir(), "pod-template.yaml")
	if err := os.WriteFile(tmpl, []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: aiflow-task}
spec:
  containers:
    - name: base
      volumeMounts: [{name: lake, mountPath: %[1]q}]
  volumes:
    - name: lake
      hostPath: {path: %[1]q, type: Directory}
`, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	runnerImg := e.digestRef(t, e.runnerImg)
	pythonImg := e.digestRef(t, e.pythonImg)
	prof := filepath.Join(t.TempDir(), "profiles.yaml")
	if err := os.WriteFile(prof, []byte(fmt.Sprintf(`api_version: aiflow/v1
profiles:
  - match: {env: prod}
    image: %s
    images: {python: %s}
    image_pull_policy: Never
    namespace: %s
    service_account: aiflow-runner
    env_vars:
      AIFLOW_STAGING_URI: file://%s/
      AIFLOW_LAKE_ROOT: file://%s/
      AIFLOW_SPARK_CLUSTERS: emr-feature-prod=%s
      AIFLOW_SPARK_CONNECT_TIMEOUT: 5m
      AIFLOW_LOG_FORMAT: text
      AIFLOW_PUSHGATEWAY_URL: %s
      AIFLOW_OPENLINEAGE_URL: %s
    secrets:
      - {env: AIFLOW_METADATA_DSN, secret: aiflow-metadata, key: dsn}
    resources: {cpu: 100m, memory: 1Gi}
    spark_resources: {cpu: 100m, memory: 1Gi}
    retries: 1
    retry_delay: 1s
    execution_timeout: 15m
    on_finish_action: delete_succeeded_pod
    get_logs: true
    termination_message_policy: File
    startup_timeout: 3m
    pod_template_file: %s
`, runnerImg, pythonImg, namespace, staging, lake, remote, os.Getenv(testenv.Pushgateway), e.lineage.url, tmpl)), 0o644); err != nil {
		t.Fatal(err)
	}
	dags := filepath.Join(t.TempDir(), "dags")
	e.runnerCmd(t, "compile", filepath.Join(e.root, "examples/user_features/pipeline.yaml"), "--out", dags,
		"--target", "kubernetes", "--profiles", prof)

	const pipeline = "daily_user_feature_pipeline"
	since := time.Now()
	out, states := e.dagsTest(t, dags, pipeline, "2024-01-02")
	if len(states) == 0 {
		t.Fatalf("no task instances\n%s", tail([]byte(out), 60))
	}
	for task, s := range states {
		if s.State != "success" || s.Try != 1 {
			t.Errorf("task %s: %+v, want success on the first try\n%s", task, s, tail([]byte(out), 60))
		}
	}
	nodes := []string{"orders_onelake", "enrich_orders", "build_user_features", "user_features_onelake"}
	run := e.wantRunStatus(t, pipeline, since, "succeeded")
	e.wantSucceeded(t, pipeline, fmt.Sprint(run["run_id"]), nodes...)
	wantMetrics(t, pipeline, nodes, nodes[1:])
	e.wantLineage(t, pipeline, nodes...)

	// The features: a Delta table of 97 users for the day, read with delta-rs (nothing of aiflow).
	// os._exit: inside the cluster's network namespace, the interpreter's exit aborted in a
	// native library's teardown ("terminate called without an active exception") after the
	// table had been read; nothing is left to clean up by then.
	script := `import json, os, sys
from deltalake import DeltaTable
rows = DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist()
print(json.dumps({"rows": len(rows), "dts": sorted({str(r["dt"]) for r in rows})}), flush=True)
os._exit(0)
`
	var stderr strings.Builder
	cmd := exec.Command(py, "-c", script, filepath.Join(lake, "feature_store", "user_features_daily"))
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("read the features: %v\n%s%s", err, b, stderr.String())
	}
	var got struct {
		Rows int      `json:"rows"`
		Dts  []string `json:"dts"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if got.Rows != 97 || len(got.Dts) != 1 || got.Dts[0] != "2024-01-02" {
		t.Errorf("feature_store.user_features_daily: %+v, want 97 rows of dt 2024-01-02", got)
	}
}

// digestRef is image pinned by the digest the cluster's containerd has for it
// (repo@sha256:…, as scripts/k8s.sh and the setup import the images).
func (e *env) digestRef(t *testing.T, image string) string {
	t.Helper()
	out, err := exec.Command("ctr", "-a", filepath.Join(testenv.Require(t, envK8sDir), "run/containerd.sock"), "-n", "k8s.io",
		"images", "ls", "name=="+image).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr images ls %s: %v\n%s", image, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == image && strings.HasPrefix(f[2], "sha256:") {
			repo := image // without its tag
			if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
				repo = image[:i]
			}
			return repo + "@" + f[2]
		}
	}
	t.Fatalf("no digest for %s in the cluster's containerd:\n%s", image, out)
	return ""
}
