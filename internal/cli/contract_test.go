package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// contractSpec is the quickstart with a data contract on the transform; FILTER, AMT_TYPE,
// CHECKS and SINK_CHECKS vary per run.
const contractSpec = `api_version: aiflow/v1
pipeline: {id: dq, owner: me, env: dev}
nodes:
  - {id: orders, source: files, with: {path: ORDERS}}
  - id: by_user
    transform: arrow
    inputs: [orders]
    with:
      steps:
        - filter: "FILTER"
        - group_by: {keys: [user_id], aggs: {n: "count(*)", amt: "sum(amount)"}}
    output_schema:
      columns:
        - {name: user_id, type: int64, nullable: false}
        - {name: n, type: int64, min: 1}
        - {name: amt, type: AMT_TYPE}
      unique: [user_id]
    checks:
      - row_count: {min: 1}
      - row_count: {min_ratio: 0.9, max_ratio: 1.1}
CHECKS
  - id: out
    sink: files
    inputs: [by_user]
    with: {path: OUT, mode: overwrite}
SINK_CHECKS
`

// published reads the sink's folder as an independent reader would: pyarrow's dataset reader
// over the folder (it skips _-prefixed files such as _aiflow/), and aiflow's current version.
func published(t *testing.T, w *workspace, py string) string {
	t.Helper()
	out, err := exec.Command(py, "-c", `import sys, pyarrow.parquet as pq, pyarrow.compute as pc
t = pq.read_table(sys.argv[1])
print(t.num_rows, pc.sum(t["n"]).as_py())`, w.path("out/dq")).CombinedOutput()
	if err != nil {
		t.Fatalf("pyarrow read: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out)) + " " + strings.Join(tableRows(t, w.path("out/dq")), ",")
}

// TestContractArrow: a warn check publishes and is recorded; a schema violation, an
// error-severity check, a relative row count against the last committed run and a check on the
// sink's input each exit 65 with every violation listed, and leave the published table as it was
// for pyarrow and for aiflow readers.
func TestContractArrow(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	w := newWorkspace(t)
	w.orders("in/orders", 20000)
	spec := func(name, filter, amtType, checks, sinkChecks string) string {
		return w.write("spec/"+name+".yaml", strings.NewReplacer("ORDERS", w.path("in/orders")+"/", "OUT", w.path("out/dq")+"/",
			"FILTER", filter, "AMT_TYPE", amtType, "CHECKS", checks, "SINK_CHECKS", sinkChecks).Replace(contractSpec))
	}
	const paid = "status = 'paid'"
	warn := `      - {rows_where: "n > 1", name: many_orders, severity: warn}`

	r := w.run("run", "--pipeline", "dq", "--all", "--ir", spec("ok", paid, "float64", warn, ""), "--run-id", "r1")
	if r.code != 0 {
		t.Fatalf("r1: exit %d\n%s", r.code, r.stderr)
	}
	show := w.run("runs", "show", "r1").stdout
	for _, want := range []string{"CHECKS", "many_orders", "warned", "row_count_change", "no earlier committed run", "unique(user_id)"} {
		if !strings.Contains(show, want) {
			t.Errorf("runs show r1 lacks %q:\n%s", want, show)
		}
	}
	before := published(t, w, py)
	if strings.HasPrefix(before, "0 ") {
		t.Fatalf("r1 published nothing: %s", before)
	}

	cases := []struct {
		name, filter, amtType, checks, sinkChecks string
		want                                      []string
	}{
		{"schema", paid, "float32", "", "", []string{"schema(amt): column amt is float64, declared float32"}},
		{"error check", paid, "float64", `      - {rows_where: "n > 1", name: many_orders}`, "", []string{"many_orders: ", "rows where n > 1 (must be 0)"}},
		{"relative rows", paid + " AND user_id < 500", "float64", "", "", []string{"row_count_change: ", "the 1000 of the last committed run: below 0.9×"}},
		{"two violations", paid, "int64", `      - {null_ratio: {column: amt, max: 0}}
      - {accepted_values: {column: n, values: [1]}}`, "", []string{"(2 failed", "schema(amt)", "accepted_values(n)"}},
		{"sink input", paid, "float64", "", `    checks: [{row_count: {max: 10}}]`, []string{"output of out breaks its contract", "row_count: 1000 rows: more than 10"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := "r" + itoa(i+2)
			r := w.run("run", "--pipeline", "dq", "--all", "--ir", spec(strings.ReplaceAll(c.name, " ", "_"), c.filter, c.amtType, c.checks, c.sinkChecks), "--run-id", run)
			if r.code != 65 {
				t.Fatalf("exit %d, want 65\n%s", r.code, r.stderr)
			}
			for _, want := range c.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if got := published(t, w, py); got != before {
				t.Errorf("the published table changed:\n got %.200s\nwant %.200s", got, before)
			}
			// Nothing committed for the failed node; its staging is gone but for result.json.
			show := w.run("runs", "show", run, "--json").stdout
			if !strings.Contains(show, `"status": "failed"`) || !strings.Contains(show, `"checks": [`) {
				t.Errorf("runs show %s should list a failed attempt and its checks:\n%.2000s", run, show)
			}
			node := "by_user"
			if c.sinkChecks != "" {
				node = "out"
			}
			files, _ := filepath.Glob(filepath.Join(w.env["AIFLOW_HOME"], "staging", "dq", run, node, "attempt-1-*", "*"))
			if len(files) != 1 || filepath.Base(files[0]) != "result.json" {
				t.Errorf("staging of the failed attempt holds %v, want only result.json", files)
			}
			if _, err := os.Stat(filepath.Join(w.env["AIFLOW_HOME"], "staging", "dq", run, node, "_manifest.json")); err == nil {
				t.Error("a committed manifest exists for the failed node")
			}
		})
	}
}

// TestValidateContracts: output_schema and checks are checked by validate, at their line.
func TestValidateContracts(t *testing.T) {
	w := newWorkspace(t)
	p := w.write("bad.yaml", `api_version: aiflow/v1
pipeline: {id: bad, owner: me, env: dev}
nodes:
  - {id: orders, source: files, with: {path: /tmp/x/}}
  - id: t
    transform: arrow
    inputs: [orders]
    with: {steps: [{select: [a]}]}
    output_schema:
      columns: [{name: a, type: int65}, {name: b, type: string}]
      extra_columns: sometimes
    checks:
      - {rows_where: "c > 1"}
      - {null_ratio: {column: b, max: 2}}
  - {id: out, sink: files, inputs: [t], with: {path: /tmp/y/}}
`)
	r := w.run("validate", p)
	if r.code != 78 {
		t.Fatalf("exit %d, want 78\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{`type "int65" is not an Arrow type name`, `extra_columns: must be "forbid" or "allow"`, "max: must be a number between 0 and 1"} {
		if !strings.Contains(r.stderr+r.stdout, want) {
			t.Errorf("validate output lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	p = w.write("expr.yaml", `api_version: aiflow/v1
pipeline: {id: e, owner: me, env: dev}
nodes:
  - {id: orders, source: files, with: {path: /tmp/x/}}
  - id: t
    transform: arrow
    inputs: [orders]
    with: {steps: [{select: [a]}]}
    output_schema: {columns: [{name: a, type: int64}]}
    checks: [{rows_where: "c > 1"}, {rows_where: "a + 1"}]
  - {id: out, sink: files, inputs: [t], with: {path: /tmp/y/}}
`)
	r = w.run("validate", p)
	if r.code != 78 || !strings.Contains(r.stderr+r.stdout, "expr.yaml:9:") || !strings.Contains(r.stderr+r.stdout, "not a condition") {
		t.Fatalf("validate of a rows_where on an undeclared column: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestValidateDeclaredInputs: an arrow transform's steps are compiled at validate against the
// declared output_schema of its input: a column no contract declares is found before anything runs.
func TestValidateDeclaredInputs(t *testing.T) {
	w := newWorkspace(t)
	spec := func(name, filter string) string {
		return w.write(name+".yaml", `api_version: aiflow/v1
pipeline: {id: d, owner: me, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: /tmp/x/}
    output_schema: {columns: [{name: user_id, type: int64}, {name: amount, type: float64}]}
  - id: t
    transform: arrow
    inputs: [orders]
    with:
      steps:
        - filter: "`+filter+`"
        - group_by: {keys: [user_id], aggs: {amt: "sum(amount)"}}
  - {id: out, sink: files, inputs: [t], with: {path: /tmp/y/}}
`)
	}
	if r := w.run("validate", spec("good", "amount > 0")); r.code != 0 {
		t.Fatalf("valid references: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Reported at the line of the step that names the column.
	r := w.run("validate", spec("bad", "status = 'paid'"))
	if r.code != 78 || !strings.Contains(r.stderr+r.stdout, "bad.yaml:13:") || !strings.Contains(r.stderr+r.stdout, "declared output_schema of orders") ||
		!strings.Contains(r.stderr+r.stdout, "status") {
		t.Fatalf("a filter on an undeclared column: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestContractDSLSameIR: output_schema= and checks= of the Python DSL give the IR (and hash) of
// YAML's output_schema: and checks:.
func TestContractDSLSameIR(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	w := newWorkspace(t)
	yaml := w.write("c.yaml", `api_version: aiflow/v1
pipeline: {id: c, owner: me, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: /data/orders/}
    checks: [{row_count: {min: 1}}]
  - id: by_user
    transform: arrow
    inputs: [orders]
    with: {steps: [{select: [user_id, amount]}]}
    output_schema:
      columns: [{name: user_id, type: int64, nullable: false}, {name: amount, type: float64, min: 0}]
      extra_columns: forbid
    checks:
      - {unique: [user_id]}
      - {rows_where: "amount > 1e6", severity: warn, name: huge}
  - id: out
    sink: files
    inputs: [by_user]
    with: {path: /data/out/}
    checks: [{row_count: {min_ratio: 0.5}}]
`)
	r := w.run("plan", yaml, "--json")
	if r.code != 0 {
		t.Fatalf("plan: %d %s", r.code, r.stderr)
	}
	var plan struct {
		IRHash string `json:"ir_hash"`
	}
	if err := jsonUnmarshal([]byte(r.stdout), &plan); err != nil || plan.IRHash == "" {
		t.Fatalf("plan --json: %v\n%s", err, r.stdout)
	}
	script := `from aiflow_sdk.dsl import pipeline, sink, source

@pipeline(id="c", owner="me", env="dev")
def c(p):
    orders = p.read(source.files(id="orders", path="/data/orders/"), checks=[{"row_count": {"min": 1}}])
    t = orders.transform(id="by_user", engine="arrow", steps=[{"select": ["user_id", "amount"]}],
        output_schema={"columns": [{"name": "user_id", "type": "int64", "nullable": False},
                                   {"name": "amount", "type": "float64", "min": 0}], "extra_columns": "forbid"},
        checks=[{"unique": ["user_id"]}, {"rows_where": "amount > 1e6", "severity": "warn", "name": "huge"}])
    p.write(t, sink.files(id="out", path="/data/out/"), checks=[{"row_count": {"min_ratio": 0.5}}])

print(c().ir_hash())
`
	cmd := exec.Command(py, "-c", script)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(repoRoot(t), "python"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python DSL: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != plan.IRHash {
		t.Fatalf("DSL ir_hash %s, YAML ir_hash %s", got, plan.IRHash)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestContractPython: the python engine's output is checked as it streams into staging: a warn
// check publishes, a violated contract exits 65 and publishes nothing.
func TestContractPython(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	w := newWorkspace(t)
	w.env["AIFLOW_PYTHON"] = py
	w.orders("in/orders", 5000)
	w.write("jobs/jobs.py", pyJobs)
	w.env["AIFLOW_PYTHONPATH"] = w.path("jobs")
	spec := func(name, bucket string) string {
		return w.write(name+".yaml", `api_version: aiflow/v1
pipeline: {id: pyc, owner: me, env: dev}
nodes:
  - {id: orders, source: files, with: {path: `+w.path("in/orders")+`/}}
  - id: feat
    transform: python
    inputs: [orders]
    with: {fn: "jobs:per_user", bucket: gold}
    output_schema:
      columns:
        - {name: user_id, type: int64, nullable: false}
        - {name: amount_sum, type: float64}
        - {name: order_id_count, type: int64, min: 1}
        - {name: bucket, type: string, values: [`+bucket+`]}
      unique: [user_id]
    checks: [{rows_where: "amount_sum > 0", severity: warn, name: spent}]
  - {id: out, sink: files, inputs: [feat], with: {path: `+w.path("out/pyc")+`/}}
`)
	}
	if r := w.run("run", "--pipeline", "pyc", "--all", "--ir", spec("ok", "gold"), "--run-id", "r1"); r.code != 0 {
		t.Fatalf("r1: exit %d\n%s", r.code, r.stderr)
	}
	if show := w.run("runs", "show", "r1").stdout; !strings.Contains(show, "spent") || !strings.Contains(show, "warned") {
		t.Errorf("runs show r1 should list the warned check:\n%s", show)
	}
	rows := tableRows2(t, w.path("out/pyc"))
	r := w.run("run", "--pipeline", "pyc", "--all", "--ir", spec("bad", "silver"), "--run-id", "r2")
	if r.code != 65 || !strings.Contains(r.stderr, `rows have a value of bucket outside {"silver"}`) {
		t.Fatalf("r2: exit %d, want 65 naming values(bucket)\n%s", r.code, r.stderr)
	}
	if got := tableRows2(t, w.path("out/pyc")); got != rows {
		t.Errorf("published rows %d, want %d (unchanged)", got, rows)
	}
}
