package pyplugin_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/pyplugin"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sinktest"
)

// confPlugins is a sink written in Python the way docs/plugins.md asks: one file per run and
// node, written under a temporary name and renamed into place.
const confPlugins = `import json, os
from aiflow_sdk.plugins import register_sink, register_sink_writer

@register_sink("jsonl_dir")
def jsonl_sink(id, path, **kwargs):
    return {"id": id, "kind": "jsonl_dir", "path": path, "extra": kwargs}

@register_sink_writer("jsonl_dir")
def write_jsonl(data, params, context):
    os.makedirs(params["path"], exist_ok=True)
    final = os.path.join(params["path"], context["run_id"] + "__" + context["node_id"] + ".jsonl")
    tmp = final + ".tmp" + str(os.getpid())
    with open(tmp, "w") as f:
        for batch in data:
            for row in batch.to_pylist():
                f.write(json.dumps(row, default=str) + "\n")
    os.replace(tmp, final)
`

// TestSinkConformance: a Python sink passes the conformance suite every built-in sink passes
// (retry no-op, replay without --publish, killed between publish and commit, concurrent
// attempts), on the arrow and the python engine.
func TestSinkConformance(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "conf_plugins.py"), []byte(confPlugins), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Python: py, PythonPath: []string{dir}}
	mods := []string{"conf_plugins"}
	d, err := pyplugin.Describe(context.Background(), cfg, mods)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := pyplugin.Extend(builtin.Registry(), d, mods)
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range []string{"", "python"} {
		t.Run("engine="+engine, func(t *testing.T) {
			sinktest.Run(t, sinktest.Target{Registry: reg, Kind: "jsonl_dir", Engine: engine,
				Params:    func(t *testing.T) map[string]any { return map[string]any{"path": t.TempDir()} },
				Count:     countLines,
				Configure: func(c *config.Config) { c.Python, c.PythonPath = py, cfg.PythonPath },
			})
		})
	}
}

// countLines counts the rows in the finished files of a destination.
func countLines(t *testing.T, p map[string]any) int {
	t.Helper()
	entries, err := os.ReadDir(p["path"].(string))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		f, err := os.Open(filepath.Join(p["path"].(string), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			n++
		}
		f.Close()
	}
	return n
}
