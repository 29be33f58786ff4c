package pyplugin_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/pyplugin"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

const readPlugins = `import pyarrow as pa
from aiflow_sdk.plugins import register_source, register_arrow_source_reader

@register_source("counted")
def counted(id, count, **kwargs):
    return {"id": id, "kind": "counted", "count": count}

@register_arrow_source_reader("counted")
def read_counted(params, context):
    return pa.table({"n": pa.array(range(int(params["count"])), pa.int64())})
`

// TestOpenUsesRunnerConfig: a Python source is opened with the interpreter and sys.path of the
// configuration the runner passes in (a custom runner's, a test's injected lookup), never with
// what the process environment says; without a configuration the open is a bug (1), not a
// silent read of the environment.
func TestOpenUsesRunnerConfig(t *testing.T) {
	py := testenv.Require(t, testenv.Python)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "read_plugins.py"), []byte(readPlugins), 0o644); err != nil {
		t.Fatal(err)
	}
	// What the process environment says is wrong on purpose: reading it would fail the open.
	t.Setenv("AIFLOW_PYTHON", filepath.Join(dir, "no-such-python"))
	t.Setenv("AIFLOW_PYTHONPATH", filepath.Join(dir, "elsewhere"))
	m := &manifest.Manifest{Kind: pyplugin.ManifestKind, Node: "src", Details: map[string]any{
		"plugin_kind": "counted", "params": map[string]any{"count": 7}, "context": map[string]any{}, "modules": []any{"read_plugins"},
	}}
	cfg := &config.Config{Python: py, PythonPath: []string{dir}}
	c := &readers.Counter{}
	rr, _, err := readers.Reader(context.Background(), nil, cfg, m, c, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("open with the runner's configuration: %v", err)
	}
	defer rr.Release()
	var rows int64
	for rr.Next() {
		rows += rr.RecordBatch().NumRows()
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != 7 || c.Rows.Load() != 7 {
		t.Errorf("read %d rows (counted %d), want 7", rows, c.Rows.Load())
	}

	_, _, err = readers.Reader(context.Background(), nil, nil, m, nil, memory.DefaultAllocator)
	if err == nil || fault.ExitCode(err) != 1 {
		t.Errorf("open without a configuration: %v (exit %d), want a bug (1)", err, fault.ExitCode(err))
	}
}
