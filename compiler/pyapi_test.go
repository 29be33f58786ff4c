package compiler

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// The seed's DAG-folder entry file, verbatim.
const generatedPipelines = `# airflow_dags/generated_pipelines.py
from aiflow_sdk.discovery import discover_pipelines
from aiflow_sdk.compiler import compile_pipeline_to_airflow_dag

for pipeline_ir in discover_pipelines("user_repo.pipelines"):
    dag = compile_pipeline_to_airflow_dag(pipeline_ir)
    globals()[dag.dag_id] = dag
`

// compareBags loads both DAG folders in Airflow's DagBag and prints one line per difference in
// the pipeline's DAG: its tasks, their operator, image, command, arguments, env and upstreams.
const compareBags = `
import sys
from airflow.models.dagbag import DagBag

def describe(folder):
    bag = DagBag(folder, include_examples=False)
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["daily_user_feature_pipeline"]
    out = {"schedule": str(dag.timetable.summary), "tags": sorted(dag.tags)}
    for t in dag.tasks:
        ev = t.env_vars or {}
        env = sorted(ev.items()) if isinstance(ev, dict) else sorted(repr(e) for e in ev)
        out[t.task_id] = (type(t).__name__, t.image, t.cmds, t.arguments, env, sorted(t.upstream_task_ids))
    return out

a, b = describe(sys.argv[1]), describe(sys.argv[2])
for k in sorted(set(a) | set(b)):
    if a.get(k) != b.get(k):
        print("DIFF", k, a.get(k), b.get(k))
print("TASKS", len(a) - 2)
`

// TestPythonCompileAPI: aiflow_sdk.compiler.compile_pipeline_to_airflow_dag, called by the seed's
// generated_pipelines.py over the seed's pipeline module, gives Airflow the same DAG as the file
// aiflow-runner compile writes; the second parse reuses the cached file (no new file).
func TestPythonCompileAPI(t *testing.T) {
	py := testenv.Require(t, testenv.AirflowPython)
	root, _ := filepath.Abs("..")
	tmp := t.TempDir()
	runner := filepath.Join(tmp, "aiflow-runner")
	build := exec.Command("go", "build", "-o", runner, "./cmd/aiflow-runner")
	build.Dir = root
	runLogged(t, build)

	repo := filepath.Join(tmp, "repo")
	seedPipeline, err := os.ReadFile(filepath.Join(root, "examples", "user_features", "user_features.py"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"user_repo/__init__.py":                "",
		"user_repo/pipelines/__init__.py":      "",
		"user_repo/pipelines/user_features.py": string(seedPipeline),
		"dags-entry/generated_pipelines.py":    generatedPipelines,
		"compare.py":                           compareBags,
	} {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	static := filepath.Join(tmp, "dags-static")
	runLogged(t, exec.Command(runner, "compile", filepath.Join(root, "examples", "user_features", "pipeline.yaml"), "--out", static))

	cache := filepath.Join(tmp, "cache")
	env := airflowEnv(t, filepath.Join(tmp, "airflow-home"), "AIFLOW_RUNNER="+runner, "AIFLOW_DAG_CACHE="+cache)
	for i, kv := range env {
		if strings.HasPrefix(kv, "PYTHONPATH=") {
			env[i] = kv + string(os.PathListSeparator) + repo
		}
	}
	for range 2 {
		cmd := exec.Command(py, filepath.Join(repo, "compare.py"), filepath.Join(repo, "dags-entry"), static)
		cmd.Dir = repo
		cmd.Env = env
		out := string(runLogged(t, cmd))
		if strings.Contains(out, "DIFF") || !strings.Contains(out, "TASKS 4") {
			t.Fatalf("the DAG of generated_pipelines.py differs from aiflow-runner compile's:\n%s", tail([]byte(out), 30))
		}
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.py"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one DAG file (compiled once, then reused)", files)
	}
}
