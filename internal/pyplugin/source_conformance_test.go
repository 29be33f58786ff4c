package pyplugin_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/pyplugin"
	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sourcetest"
)

// sourcePlugins are two Python sources of an append-only JSON lines log. log_range reads the
// lines its params name (start, end), as a Kafka reader with fixed offsets does; log_latest
// reads every line there when it runs.
const sourcePlugins = `import json
import pyarrow as pa
from aiflow_sdk.plugins import register_source, register_arrow_source_reader

@register_source("log_range")
def log_range(id, path, start=0, end=None, **kwargs):
    return {"id": id, "kind": "log_range", "path": path, "start": start, "end": end}

@register_source("log_latest")
def log_latest(id, path, **kwargs):
    return {"id": id, "kind": "log_latest", "path": path}

def _lines(path, start, end):
    with open(path) as f:
        rows = [json.loads(l) for l in f if l.strip()]
    return pa.Table.from_pylist(rows[start:end], schema=pa.schema([("user_id", pa.int64()), ("amount", pa.float64())]))

@register_arrow_source_reader("log_range")
def read_range(params, context):
    return _lines(params["path"], int(params["start"]), int(params["end"]))

@register_arrow_source_reader("log_latest")
def read_latest(params, context):
    return _lines(params["path"], 0, None)
`

// sourceTarget describes the module and returns the suite's target for kind: every fresh
// source is a log of sourcetest.Rows lines, and Append adds lines to it.
func sourceTarget(t *testing.T, kind string) sourcetest.Target {
	t.Helper()
	py := testenv.Require(t, testenv.Python)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "source_plugins.py"), []byte(sourcePlugins), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Python: py, PythonPath: []string{dir}}
	mods := []string{"source_plugins"}
	d, err := pyplugin.Describe(context.Background(), cfg, mods)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := pyplugin.Extend(builtin.Registry(), d, mods)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	appendLines := func(t *testing.T, path string, from, rows int) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for i := range rows {
			fmt.Fprintf(f, "{\"user_id\": %d, \"amount\": %d.5}\n", from+i, i)
		}
	}
	return sourcetest.Target{Registry: reg, Kind: kind,
		Configure: func(c *config.Config) { c.Python, c.PythonPath = py, cfg.PythonPath },
		Params: func(t *testing.T) map[string]any {
			n++
			path := filepath.Join(dir, fmt.Sprintf("log-%d.jsonl", n))
			appendLines(t, path, 0, sourcetest.Rows)
			p := map[string]any{"path": path}
			if kind == "log_range" {
				p["start"], p["end"] = 0, sourcetest.Rows
			}
			return p
		},
		Append: func(t *testing.T, p map[string]any, rows int) { appendLines(t, p["path"].(string), 1000, rows) },
	}
}

// TestSourceConformance: a Python source passes the source suite when its params fix what it
// reads (here a range of lines; offsets, a snapshot id): the runner pins the params and the run
// context, and every consumer's reader runs the kind's Arrow reader with them.
func TestSourceConformance(t *testing.T) {
	sourcetest.Run(t, sourceTarget(t, "log_range"))
}

// TestLatestSourceReadsPastThePin: a Python source whose reader reads "whatever is there now"
// cannot keep the pin property, by design (nothing is read when the runner pins, so the rows a
// consumer sees are those of its own read). The suite, run in a child process of this test
// binary, fails it there: a consumer reading after the append sees the appended rows.
func TestLatestSourceReadsPastThePin(t *testing.T) {
	if os.Getenv("PYPLUGIN_SOURCETEST_CHILD") == "1" {
		sourcetest.Run(t, sourceTarget(t, "log_latest"))
		return
	}
	testenv.Require(t, testenv.Python)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLatestSourceReadsPastThePin$/^ConsumersReadThePin$", "-test.v")
	cmd.Env = append(os.Environ(), "PYPLUGIN_SOURCETEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a Python source that reads the latest lines:\n%s", out)
	}
	for _, want := range []string{"--- FAIL: TestLatestSourceReadsPastThePin/ConsumersReadThePin", "reads 8 rows, want 5"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}
