package sourcetest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/sourcetest"
)

// liveConfig is a source that pins nothing: its manifest names a file of row counts, and reading
// it reads the count there at that moment (a reader of "latest").
type liveConfig struct {
	Path string `json:"path" required:"true" doc:"file holding the row count"`
}

func (*liveConfig) Validate() error { return nil }

type liveSource struct{}

func (liveSource) Pin(_ context.Context, _ *plugin.Env, c *liveConfig) (*plugin.Output, error) {
	return &plugin.Output{Manifest: &plugin.Manifest{Kind: "sourcetest_live", Details: map[string]any{"path": c.Path}}}, nil
}

func init() {
	readers.RegisterOpener("sourcetest_live", func(_ context.Context, _ *objstore.Store, _ *config.Config, m *manifest.Manifest, _ *readers.Counter, mem memory.Allocator) (array.RecordReader, *arrow.Schema, error) {
		b, err := os.ReadFile(fmt.Sprint(m.Details["path"]))
		if err != nil {
			return nil, nil, err
		}
		var n int
		fmt.Sscan(string(b), &n)
		sc := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
		bld := array.NewInt64Builder(mem)
		defer bld.Release()
		for i := range n {
			bld.Append(int64(i))
		}
		col := bld.NewArray()
		defer col.Release()
		rec := array.NewRecordBatch(sc, []arrow.Array{col}, int64(n))
		defer rec.Release()
		rr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
		return rr, sc, err
	})
}

func liveTarget(t *testing.T) sourcetest.Target {
	reg := plugin.NewRegistry()
	plugin.RegisterSource(reg, plugin.Kind[*liveConfig]{Kind: "live", Summary: "reads the count there now",
		Engines: []string{"arrow"}, New: func() *liveConfig { return &liveConfig{} }}, liveSource{}, "arrow")
	dir, n := t.TempDir(), 0
	return sourcetest.Target{Registry: reg, Kind: "live",
		Params: func(t *testing.T) map[string]any {
			n++
			p := filepath.Join(dir, fmt.Sprintf("count-%d", n))
			if err := os.WriteFile(p, []byte(fmt.Sprint(sourcetest.Rows)), 0o644); err != nil {
				t.Fatal(err)
			}
			return map[string]any{"path": p}
		},
		Append: func(t *testing.T, p map[string]any, rows int) {
			b, _ := os.ReadFile(p["path"].(string))
			var have int
			fmt.Sscan(string(b), &have)
			if err := os.WriteFile(p["path"].(string), []byte(fmt.Sprint(have+rows)), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// TestUnpinnedSourceFailsTheSuite runs the suite over the live source in a child process of
// this test binary (a failing subtest fails its parent): it must fail ConsumersReadThePin, and
// only that.
func TestUnpinnedSourceFailsTheSuite(t *testing.T) {
	if os.Getenv("SOURCETEST_CHILD") == "1" {
		sourcetest.Run(t, liveTarget(t))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnpinnedSourceFailsTheSuite$", "-test.v")
	cmd.Env = append(os.Environ(), "SOURCETEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a source that pins nothing:\n%s", out)
	}
	for _, want := range []string{"--- FAIL: TestUnpinnedSourceFailsTheSuite/ConsumersReadThePin", "reads 8 rows, want 5",
		"--- PASS: TestUnpinnedSourceFailsTheSuite/RetryIsNoOp", "--- PASS: TestUnpinnedSourceFailsTheSuite/ConcurrentAttemptsCommitOnce"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}
