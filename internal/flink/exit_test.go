package flink_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// A flink node ends with the exit code of its failure's class, and the run records it: bad SQL
// and undecodable data are the user's (65, no retry), no gateway configured is configuration
// (78), a gateway that does not answer is temporary (75).
func TestExitCodes(t *testing.T) {
	w := newWorkspace(t)
	ctx := context.Background()
	st := objstore.New(objstore.Options{})
	in := filepath.Join(w.dir, "in")
	rec := typedBatch(t)
	defer rec.Release()
	rr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.WriteFiles(ctx, st, "file://"+in, rr, dataset.WriteOptions{Format: dataset.Parquet}); err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	gw := w.env["AIFLOW_FLINK_GATEWAY"]
	for i, tc := range []struct {
		name, sql string
		env       map[string]string
		code      int
		msg       string
	}{
		{"syntax", "SELEC * FROM typed", nil, 65, "flink sql of same"},
		{"unknown column", "SELECT nope FROM typed", nil, 65, "nope"},
		{"bad cast at run time", "SELECT CAST(s AS INT) AS n FROM typed", nil, 65, ""},
		{"no gateway", "SELECT * FROM typed", map[string]string{"AIFLOW_FLINK_GATEWAY": ""}, 78, "AIFLOW_FLINK_GATEWAY"},
		{"gateway down", "SELECT * FROM typed", map[string]string{"AIFLOW_FLINK_GATEWAY": down}, 75, "unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				w.env[k] = v
			}
			defer func() { w.env["AIFLOW_FLINK_GATEWAY"] = gw }()
			spec := w.write("p.yaml", strings.NewReplacer("@IN@", in, "@OUT@", filepath.Join(w.dir, "out"),
				`"SELECT * FROM typed"`, `"`+strings.ReplaceAll(tc.sql, `"`, `\"`)+`"`).Replace(handoverPipeline))
			runID := "e" + string(rune('a'+i))
			if r := w.run("run", "--pipeline", "flink_types", "--node", "typed", "--ir", spec, "--run-id", runID); r.code != 0 {
				t.Fatalf("pin: %d\n%s", r.code, r.stderr)
			}
			r := w.run("run", "--pipeline", "flink_types", "--node", "same", "--ir", spec, "--run-id", runID)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("exit %d, want %d with %q\n%s", r.code, tc.code, tc.msg, r.stderr)
			}
		})
	}
}
