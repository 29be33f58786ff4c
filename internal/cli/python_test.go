package cli_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

const pyJobs = `import pyarrow as pa
import pyarrow.compute as pc
import time

def per_user(inputs, params):
    t = inputs["orders"]
    g = t.group_by("user_id").aggregate([("amount", "sum"), ("order_id", "count")])
    return g.append_column("bucket", pa.array([params.get("bucket", "x")] * g.num_rows))

def as_pandas(inputs, params):
    return inputs["orders"].to_pandas().head(10)

def boom(inputs, params):
    raise ValueError("boom: bad rows")

def not_a_table(inputs, params):
    return 42

def slow(inputs, params):
    time.sleep(30)
    return inputs["orders"]
`

func pythonSpec(w *workspace, fn, extra string) string {
	return w.write("spec-"+fn+".yaml", `api_version: aiflow/v1
pipeline: {id: py, owner: me, env: dev}
nodes:
  - {id: orders, source: files, with: {path: `+w.path("in/orders")+`/}}
  - id: feat
    transform: python
    inputs: [orders]
    with: {fn: "jobs:`+fn+`"`+extra+`}
  - {id: out, sink: files, inputs: [feat], with: {path: `+w.path("out/"+fn)+`/}}
`)
}

func TestPythonEngine(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	w := newWorkspace(t)
	w.env["AIFLOW_PYTHON"] = py
	w.orders("in/orders", 5000)
	w.write("jobs/jobs.py", pyJobs)
	t.Setenv("AIFLOW_PYTHONPATH", w.path("jobs"))
	tests := []struct {
		fn, extra string
		code      int
		want      string
	}{
		{"per_user", `, bucket: "gold"`, 0, ""},
		{"as_pandas", "", 0, ""},
		{"boom", "", 65, "ValueError: boom: bad rows"},
		{"not_a_table", "", 65, "int"},
		{"missing_fn", "", 78, "missing_fn"},
		{"slow", `, timeout: "2s"`, 75, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			term := w.path("term-" + tt.fn)
			w.env["AIFLOW_TERMINATION_LOG"] = term
			start := time.Now()
			r := w.run("run", "--pipeline", "py", "--all", "--ir", pythonSpec(w, tt.fn, tt.extra), "--run-id", "r-"+tt.fn)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.code == 0 {
				if rows := tableRows2(t, w.path("out/"+tt.fn)); rows == 0 {
					t.Error("no rows published")
				}
				return
			}
			b, _ := os.ReadFile(term)
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("termination message %q lacks %q", b, tt.want)
			}
			if tt.fn == "boom" && !strings.Contains(r.stdout+r.stderr, "Traceback") {
				t.Errorf("the traceback should be in the log:\n%s", r.stderr)
			}
			if tt.fn == "slow" && time.Since(start) > 25*time.Second {
				t.Errorf("the timeout did not stop the function (%s)", time.Since(start))
			}
			if _, err := os.Stat(w.path("out/" + tt.fn + "/_aiflow/current.json")); err == nil {
				t.Error("a failed python node published output")
			}
		})
	}
}

// tableRows2 returns the row count of a published table's current version.
func tableRows2(t *testing.T, dir string) int64 {
	t.Helper()
	b, err := os.ReadFile(dir + "/_aiflow/current.json")
	if err != nil {
		t.Fatalf("no published version: %v", err)
	}
	var v struct {
		Rows int64 `json:"rows"`
	}
	if err := jsonUnmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v.Rows
}
