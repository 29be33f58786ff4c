package jsonl_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sinktest"

	"example.com/aiflow-custom-runner/jsonl"
)

// TestConformance: the custom sink passes the suite every built-in sink passes.
func TestConformance(t *testing.T) {
	reg := builtin.Registry()
	jsonl.Register(reg)
	dir, n := t.TempDir(), 0
	sinktest.Run(t, sinktest.Target{Registry: reg, Kind: "jsonl",
		Params: func(*testing.T) map[string]any {
			n++
			return map[string]any{"path": filepath.Join(dir, fmt.Sprint(n))}
		},
		// What a reader of the folder sees: the lines of every run's file.
		Count: func(t *testing.T, p map[string]any) int {
			files, err := filepath.Glob(filepath.Join(fmt.Sprint(p["path"]), "*.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			lines := 0
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				lines += bytes.Count(b, []byte("\n"))
			}
			return lines
		},
	})
}
