package cli_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// teamPlugins is a team's plugin module written with the Python API only: a source kind with an
// Arrow reader (arrow and python engines) and a sink kind with a writer.
const teamPlugins = `import json, os
import pyarrow as pa
from aiflow_sdk.plugins import (register_source, register_sink, register_arrow_source_reader,
                                register_sink_writer, TemporaryError)
from aiflow_sdk.observability import structured_log


@register_source("numbers")
def numbers_source(id, count, **kwargs):
    """Numbers 0..count-1, in batches of 1000."""
    return {"id": id, "kind": "numbers", "count": count, "extra": kwargs}


@register_arrow_source_reader("numbers")
def read_numbers(params, context):
    if params.get("fail"):
        raise ValueError("numbers: bad count " + str(params["count"]))
    n = int(params["count"])

    def batches():
        for start in range(0, n, 1000):
            ids = list(range(start, min(n, start + 1000)))
            yield pa.record_batch({"n": pa.array(ids, pa.int64()),
                                   "ds": pa.array([context.get("ds", "")] * len(ids))})
    return batches()


@register_sink("jsonl_dir")
def jsonl_sink(id, path, **kwargs):
    return {"id": id, "kind": "jsonl_dir", "path": path, "extra": kwargs}


@register_sink_writer("jsonl_dir")
def write_jsonl(data, params, context):
    if params.get("down"):
        raise ConnectionError("jsonl_dir: destination down")
    os.makedirs(params["path"], exist_ok=True)
    # One file per run and node, renamed into place: a retry overwrites it, never duplicates.
    final = os.path.join(params["path"], context["run_id"] + "__" + context["node_id"] + ".jsonl")
    tmp = final + ".tmp" + str(os.getpid())
    rows = 0
    with open(tmp, "w") as f:
        for batch in data:
            for row in batch.to_pylist():
                if params.get("bad_row") is not None and row["n"] == params["bad_row"]:
                    raise ValueError("jsonl_dir: row %d is bad" % row["n"])
                f.write(json.dumps(row) + "\n")
                rows += 1
    os.replace(tmp, final)
    structured_log("warn", "jsonl_written", rows=rows)


@register_sink("described_only")
def described_only(id, **kwargs):
    return {"id": id, "kind": "described_only"}
`

const teamJobs = `import pyarrow as pa
import pyarrow.compute as pc

def total(inputs, params):
    t = inputs["nums"]
    return pa.table({"rows": [t.num_rows], "sum": [pc.sum(t["n"]).as_py()]})
`

func pluginSpec(w *workspace, name, modules, source, sink string) string {
	return w.write(name, `api_version: aiflow/v1
pipeline: {id: team, owner: me, env: dev`+modules+`}
nodes:
  - {id: nums, source: numbers, with: {count: 2500`+source+`}}
  - id: evens
    transform: arrow
    inputs: [nums]
    with: {steps: [{filter: "n % 2 = 0"}]}
  - id: sums
    transform: python
    inputs: [nums]
    with: {fn: "team_jobs:total"}
  - {id: out, sink: jsonl_dir, inputs: [evens], with: {path: `+w.path("dest")+sink+`}}
  - {id: sums_out, sink: files, inputs: [sums], with: {path: `+w.path("sums")+`/}}
`)
}

// TestPythonPluginsArrow: a pipeline names its own plugin modules (no AIFLOW_PLUGIN_MODULES);
// the Python source is read by an arrow and a python node through its Arrow reader, and the
// Python sink's writer receives every row once, even when its node runs again; errors of the
// plugin's code are classified (65 with the exception's line, 75 for an unavailable service,
// 78 for a kind nothing can run).
func TestPythonPluginsArrow(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	w := newWorkspace(t)
	// Only the runner's injected lookup names the interpreter and the modules: the Arrow reader,
	// run where an input is opened, gets them from the runner's configuration too.
	w.env["AIFLOW_PYTHON"] = py
	w.write("mods/team_plugins.py", teamPlugins)
	w.write("mods/team_jobs.py", teamJobs)
	w.env["AIFLOW_PYTHONPATH"] = w.path("mods")
	mods := ", plugin_modules: [team_plugins]"

	spec := pluginSpec(w, "team.yaml", mods, "", "")
	if r := w.run("validate", spec); r.code != 0 {
		t.Fatalf("validate: exit %d\n%s", r.code, r.stderr)
	}
	r := w.run("run", "--pipeline", "team", "--all", "--ir", spec, "--run-id", "r1", "--logical-date", "2024-01-02")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The writer's structured_log is a record of the node's own log stream.
	if !strings.Contains(r.stderr, "jsonl_written") || !strings.Contains(r.stderr, "user.rows=1250") {
		t.Errorf("the writer's structured_log is not in the node's log:\n%s", r.stderr)
	}
	rows := readJSONL(t, w.path("dest/r1__out.jsonl"))
	if len(rows) != 1250 {
		t.Fatalf("sink wrote %d rows, want 1250", len(rows))
	}
	for i, r := range rows {
		if r["n"] != float64(2*i) || r["ds"] != "2024-01-02" {
			t.Fatalf("row %d: %v", i, r)
		}
	}
	if got := committedRows(t, w, "team", "r1", "out"); got != 1250 {
		t.Errorf("out committed %d rows, want 1250", got)
	}
	if got := committedRows(t, w, "team", "r1", "sums"); got != 1 {
		t.Errorf("sums committed %d rows, want 1", got)
	}
	if n := tableRows2(t, w.path("sums")); n != 1 {
		t.Errorf("sums published %d rows", n)
	}
	// Running the sink again is a no-op: committed once, the writer is not called.
	if err := os.Remove(w.path("dest/r1__out.jsonl")); err != nil {
		t.Fatal(err)
	}
	if r := w.run("run", "--pipeline", "team", "--node", "out", "--ir", spec, "--run-id", "r1"); r.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(w.path("dest/r1__out.jsonl")); err == nil {
		t.Error("a committed sink ran its writer again")
	}

	// Without plugin_modules (and no AIFLOW_PLUGIN_MODULES) the kinds are unknown.
	if r := w.run("validate", pluginSpec(w, "bare.yaml", "", "", "")); r.code != 78 || !strings.Contains(r.stderr, "numbers") {
		t.Fatalf("validate without plugin_modules: exit %d\n%s", r.code, r.stderr)
	}
	// AIFLOW_PLUGIN_MODULES still works for every pipeline.
	w.env["AIFLOW_PLUGIN_MODULES"] = "team_plugins"
	if r := w.run("validate", pluginSpec(w, "bare.yaml", "", "", "")); r.code != 0 {
		t.Fatalf("validate with AIFLOW_PLUGIN_MODULES: exit %d\n%s", r.code, r.stderr)
	}
	delete(w.env, "AIFLOW_PLUGIN_MODULES")

	for _, tt := range []struct {
		name, modules, source, sink string
		code                        int
		want                        string
	}{
		{"reader_raises", mods, ", fail: true", "", 65, "ValueError: numbers: bad count 2500"},
		{"writer_raises", mods, "", ", bad_row: 100", 65, "ValueError: jsonl_dir: row 100 is bad"},
		{"destination_down", mods, "", ", down: true", 75, "ConnectionError: jsonl_dir: destination down"},
		{"missing_module", ", plugin_modules: [no_such_plugins]", "", "", 78, "no_such_plugins"},
		{"not_a_module", ", plugin_modules: [\"team plugins\"]", "", "", 78, "not a Python module name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			term := w.path("term-" + tt.name)
			w.env["AIFLOW_TERMINATION_LOG"] = term
			spec := pluginSpec(w, tt.name+".yaml", tt.modules, tt.source, tt.sink)
			r := w.run("run", "--pipeline", "team", "--all", "--ir", spec, "--run-id", tt.name)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			b, _ := os.ReadFile(term)
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("termination message %q lacks %q", b, tt.want)
			}
			if _, err := os.Stat(w.path("dest/" + tt.name + "__out.jsonl")); err == nil {
				t.Error("a failed sink published its file")
			}
		})
	}

	// A sink kind with a builder and no writer, and an engine without a reader, fail validate.
	bad := w.write("bad.yaml", `api_version: aiflow/v1
pipeline: {id: bad, owner: me, env: dev, plugin_modules: [team_plugins]}
nodes:
  - {id: nums, source: numbers, with: {count: 3}}
  - {id: q, transform: spark, inputs: [nums], with: {sql: "SELECT * FROM nums"}}
  - {id: out, sink: described_only, inputs: [nums]}
`)
	r = w.run("validate", bad)
	if r.code != 78 || !strings.Contains(r.stderr, "no writer") || !strings.Contains(r.stderr, "no reader for engine spark") {
		t.Fatalf("validate bad.yaml: exit %d\n%s", r.code, r.stderr)
	}
}

func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("leftover %s", e.Name())
		}
	}
	return out
}
