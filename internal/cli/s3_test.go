package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/objstore/objstoretest"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// TestPipelineOnS3 runs a whole pipeline with its input, its staging and its output on the real
// S3 gateway of make test (versitygw): no rename exists there, and the sink still publishes once.
func TestPipelineOnS3(t *testing.T) {
	st, base := objstoretest.RealS3(t)
	w := newWorkspace(t)
	t.Setenv("AIFLOW_S3_ENDPOINT", testenv.Require(t, testenv.S3Endpoint))
	t.Setenv("AWS_ACCESS_KEY_ID", testenv.Require(t, testenv.S3AccessKey))
	t.Setenv("AWS_SECRET_ACCESS_KEY", testenv.Require(t, testenv.S3SecretKey))
	t.Setenv("AWS_REGION", "us-east-1")
	w.env["AIFLOW_S3_ENDPOINT"] = testenv.Require(t, testenv.S3Endpoint)
	w.env["AIFLOW_STAGING_URI"] = base + "staging"
	if r := w.run("demo-data", "--out", base+"in/orders", "--rows", "50000", "--users", "500", "--partition-by-day"); r.code != 0 {
		t.Fatalf("demo-data on S3: %d %s", r.code, r.stderr)
	}
	spec := w.write("s3.yaml", `api_version: aiflow/v1
pipeline: {id: s3p, owner: me, env: dev}
nodes:
  - {id: orders, source: files, with: {path: "`+base+`in/orders/", partitions: {dt: "2024-01-03"}}}
  - id: by_user
    transform: arrow
    inputs: [orders]
    with: {steps: [{group_by: {keys: [user_id, dt], aggs: {n: "count(*)"}}}]}
  - {id: out, sink: files, inputs: [by_user], with: {path: "`+base+`out/", partition_by: [dt]}}
`)
	r := w.run("run", "--pipeline", "s3p", "--all", "--ir", spec, "--run-id", "s1")
	if r.code != 0 {
		t.Fatalf("run on S3: exit %d\n%s", r.code, r.stderr)
	}
	ctx := context.Background()
	b, err := st.Get(ctx, base+"out/_aiflow/current.json")
	if err != nil {
		t.Fatalf("no published version on S3: %v", err)
	}
	var v struct {
		Rows  int64 `json:"rows"`
		Files []struct {
			URI string `json:"uri"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Rows == 0 || len(v.Files) == 0 {
		t.Fatalf("empty version: %s", b)
	}
	for _, f := range v.Files {
		if !strings.Contains(f.URI, "/dt=2024-01-03/") {
			t.Errorf("a partition other than the pinned one was written: %s", f.URI)
		}
	}
	// Staging holds the committed manifests, on S3.
	if _, err := st.Get(ctx, base+"staging/s3p/s1/out/_manifest.json"); err != nil {
		t.Errorf("committed manifest missing from S3 staging: %v", err)
	}
	// Same run id again: nothing new.
	r = w.run("run", "--pipeline", "s3p", "--all", "--ir", spec, "--run-id", "s1")
	if r.code != 0 {
		t.Fatalf("second run: %d %s", r.code, r.stderr)
	}
	objs, err := st.List(ctx, base+"out/_aiflow/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 { // v-00000001.json and current.json
		t.Errorf("the second run published again: %d version objects", len(objs))
	}
}
