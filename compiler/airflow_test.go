package compiler

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// These tests check generated DAGs with the real Airflow 3 and cncf.kubernetes provider, from
// the venv that scripts/install.sh airflow creates ($AIFLOW_TEST_AIRFLOW_PYTHON, set by make test).

// airflowEnv is the environment of an Airflow command: a private AIRFLOW_HOME, aiflow_sdk on the
// path, no example DAGs, and none of the caller's AIFLOW_* settings (the runner's defaults apply).
func airflowEnv(t *testing.T, home string, extra ...string) []string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "AIFLOW_") && !strings.HasPrefix(k, "AIFLOW_TEST_")) || strings.HasPrefix(k, "AIRFLOW") || k == "PYTHONPATH" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"AIRFLOW_HOME="+home,
		"AIRFLOW__CORE__LOAD_EXAMPLES=False",
		"AIRFLOW__CORE__UNIT_TEST_MODE=False",
		"PYTHONPATH="+filepath.Join(root, "python"),
	)
	return append(env, extra...)
}

func runLogged(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v (after %s)\n%s", strings.Join(cmd.Args, " "), err, time.Since(start).Round(time.Millisecond), tail(out, 60))
	}
	t.Logf("%s: %s", filepath.Base(cmd.Args[0])+" "+strings.Join(cmd.Args[1:min(3, len(cmd.Args))], " "), time.Since(start).Round(time.Millisecond))
	return out
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type checkResult map[string]struct {
	ImportErrors map[string]string `json:"import_errors"`
	Dags         map[string]struct {
		Tasks map[string]struct {
			IR           string            `json:"ir"`
			RenderChecks map[string]string `json:"render_checks"`
			Pod          json.RawMessage   `json:"pod"`
			Local        json.RawMessage   `json:"local"`
		} `json:"tasks"`
	} `json:"dags"`
}

// TestAirflowDagBagAndPods loads every golden case's DAGs with DagBag and builds every task's pod
// with the provider's build_pod_request_obj (testdata/airflow_check.py), then compares the
// result with testdata/golden/airflow.json.
func TestAirflowDagBagAndPods(t *testing.T) {
	py := testenv.Require(t, testenv.AirflowPython)
	tmp := t.TempDir()
	var dirs []string
	for _, c := range goldenCases {
		dir := filepath.Join(tmp, c.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range compileCase(t, c, false) {
			if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		dirs = append(dirs, dir)
	}
	testdata, _ := filepath.Abs("testdata")
	resultPath := filepath.Join(tmp, "result.json")
	cmd := exec.Command(py, append([]string{filepath.Join(testdata, "airflow_check.py"), resultPath}, dirs...)...)
	cmd.Dir = testdata // the corpus profile's pod_template_file is relative to it
	cmd.Env = airflowEnv(t, filepath.Join(tmp, "airflow-home"))
	runLogged(t, cmd)
	got, err := os.ReadFile(resultPath)
	if err != nil {
		t.Fatal(err)
	}

	var res checkResult
	if err := json.Unmarshal(got, &res); err != nil {
		t.Fatal(err)
	}
	nPipelines := len(loadCorpus(t))
	for _, c := range goldenCases {
		r, ok := res[c.name]
		if !ok {
			t.Fatalf("no result for %s", c.name)
		}
		if len(r.ImportErrors) > 0 {
			t.Errorf("%s: DagBag import errors: %v", c.name, r.ImportErrors)
		}
		if len(r.Dags) != nPipelines {
			t.Errorf("%s: %d DAGs loaded, want %d", c.name, len(r.Dags), nPipelines)
		}
		for dagID, d := range r.Dags {
			for taskID, tk := range d.Tasks {
				where := c.name + "/" + dagID + "/" + taskID
				if tk.IR != "ok" {
					t.Errorf("%s: IR in the task's environment: %s", where, tk.IR)
				}
				if (len(tk.Pod) > 0) == (c.name == "local") {
					t.Errorf("%s: pod %v, local %v", where, len(tk.Pod) > 0, len(tk.Local) > 0)
				}
				rc := tk.RenderChecks
				_, hasLD := rc["logical_date_arg[no_logical_date]"]
				// A streaming pipeline's DAG deploys and checks its job: two tasks, no logical date.
				if stream := dagID == "paid_clicks_stream"; stream {
					if hasLD || (taskID != "stream_deploy" && taskID != "stream_health") {
						t.Errorf("%s: a streaming DAG has only stream_deploy and stream_health, without a logical date", where)
					}
				} else if rc["logical_date_arg[no_logical_date]"] != "2026-01-02T03:04:05+00:00" || rc["logical_date_arg[logical_date]"] != "2026-01-01T03:00:00+00:00" {
					t.Errorf("%s: --logical-date renders as %q without and %q with a logical date", where, rc["logical_date_arg[no_logical_date]"], rc["logical_date_arg[logical_date]"])
				}
				// Pipeline params are Airflow Params: every task passes their values, which a
				// trigger's dag_run.conf overrides, to the runner.
				if dagID == "edge-cases_pipeline" {
					if got, want := rc["params[defaults]"], "dry_run=false|min_amount=10|note=|ratio=0.5|region=eu-{{ x }}"; got != want {
						t.Errorf("%s: --param values %q, want %q", where, got, want)
					}
					if got, want := rc["params[conf]"], "dry_run=true|min_amount=7|note=n|ratio=1.25|region=us-west"; got != want {
						t.Errorf("%s: --param values with a dag_run.conf %q, want %q", where, got, want)
					}
				}
				if rc["OPENLINEAGE_PARENT_ID[without_openlineage]"] != "" || !strings.HasSuffix(rc["OPENLINEAGE_PARENT_ID[with_openlineage]"], "/parent-run-id") {
					t.Errorf("%s: OpenLineage parent renders as %q without and %q with the provider", where, rc["OPENLINEAGE_PARENT_ID[without_openlineage]"], rc["OPENLINEAGE_PARENT_ID[with_openlineage]"])
				}
			}
		}
	}

	golden := filepath.Join("testdata", "golden", "airflow.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./compiler -run Airflow -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Airflow's view of the generated DAGs differs from %s (run with -update and review the diff); first difference: %s", golden, firstDiff(want, got))
	}
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + strconv.Itoa(i+1) + ": want " + strings.TrimSpace(al[i]) + ", got " + strings.TrimSpace(bl[i])
		}
	}
	return "length differs"
}

// TestAirflowOperatorPython runs python/tests/test_airflow_operator.py (exit-code mapping of
// both operators) with the Airflow venv.
func TestAirflowOperatorPython(t *testing.T) {
	py := testenv.Require(t, testenv.AirflowPython)
	root, _ := filepath.Abs("..")
	cmd := exec.Command(py, "-m", "unittest", "-v", filepath.Join(root, "python", "tests", "test_airflow_operator.py"))
	cmd.Dir = root
	cmd.Env = airflowEnv(t, t.TempDir())
	out := runLogged(t, cmd)
	if bytes.Contains(out, []byte("skipped")) {
		t.Errorf("operator tests skipped in the Airflow venv:\n%s", tail(out, 30))
	}
}

// TestAirflowDagsTestQuickstart runs the local target of examples/quickstart under
// `airflow dags test` (SQLite Airflow database): every task executes the real runner binary,
// and the sink's output must exist afterwards.
func TestAirflowDagsTestQuickstart(t *testing.T) {
	py := testenv.Require(t, testenv.AirflowPython)
	airflow := filepath.Join(filepath.Dir(py), "airflow")
	tmp := t.TempDir()
	root, _ := filepath.Abs("..")
	runner := filepath.Join(tmp, "aiflow-runner")
	build := exec.Command("go", "build", "-o", runner, "./cmd/aiflow-runner")
	build.Dir = root
	runLogged(t, build)

	work := filepath.Join(tmp, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	runnerEnv := []string{"AIFLOW_HOME=" + filepath.Join(work, ".aiflow"), "AIFLOW_LOG_FORMAT=json", "AIFLOW_TERMINATION_LOG=" + filepath.Join(tmp, "termination-log")}
	demo := exec.Command(runner, "demo-data", "--out", ".aiflow/demo/orders", "--rows", "20000")
	demo.Dir = work
	demo.Env = append(os.Environ(), runnerEnv...)
	runLogged(t, demo)

	dags := filepath.Join(tmp, "dags")
	compile := exec.Command(runner, "compile", filepath.Join(root, "examples", "quickstart"), "--out", dags, "--target", "local", "--runner", runner)
	compile.Env = append(os.Environ(), runnerEnv...)
	runLogged(t, compile)

	env := airflowEnv(t, filepath.Join(tmp, "airflow-home"), append(runnerEnv, "AIRFLOW__CORE__DAGS_FOLDER="+dags)...)
	migrate := exec.Command(airflow, "db", "migrate")
	migrate.Env = env
	runLogged(t, migrate)

	test := exec.Command(airflow, "dags", "test", "quickstart_user_orders", "2026-01-01")
	test.Dir = work // the pipeline's paths are relative to the runner's working directory
	test.Env = env
	out := runLogged(t, test)
	for _, task := range []string{"orders", "paid_orders_by_user", "user_order_stats"} {
		if !regexp.MustCompile(`Running \S*aiflow-runner run --pipeline quickstart_user_orders --node ` + task + ` `).Match(out) {
			t.Errorf("task %s did not run the runner:\n%s", task, tail(out, 40))
		}
	}
	if !bytes.Contains(out, []byte("state=success")) || bytes.Contains(out, []byte("state=failed")) {
		t.Fatalf("the DAG run did not succeed:\n%s", tail(out, 60))
	}
	parts, _ := filepath.Glob(filepath.Join(work, ".aiflow", "demo", "out", "user_order_stats", "*.parquet"))
	if len(parts) == 0 {
		t.Fatalf("no Parquet output under %s", filepath.Join(work, ".aiflow/demo/out/user_order_stats"))
	}
	for _, p := range parts {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("output %s is empty: %v", p, err)
		}
	}
}
