package files_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sourcetest"
)

// TestFilesSourceConformance runs the source suite over a folder of CSV files: the pin lists the
// files there (sizes and ETags), so a file added after it is read by the next run only, and a
// file rewritten after it fails the read (65) instead of being read as pinned.
func TestFilesSourceConformance(t *testing.T) {
	dir, n := t.TempDir(), 0
	writeCSV := func(t *testing.T, folder string, rows int) {
		t.Helper()
		n++
		var b strings.Builder
		b.WriteString("user_id,amount\n")
		for i := range rows {
			fmt.Fprintf(&b, "%d,%d.5\n", n*100+i, i)
		}
		if err := os.WriteFile(filepath.Join(folder, fmt.Sprintf("part-%03d.csv", n)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sourcetest.Run(t, sourcetest.Target{Registry: builtin.Registry(), Kind: "files",
		Params: func(t *testing.T) map[string]any {
			folder := filepath.Join(dir, fmt.Sprintf("in-%d", n))
			if err := os.MkdirAll(folder, 0o755); err != nil {
				t.Fatal(err)
			}
			writeCSV(t, folder, sourcetest.Rows)
			return map[string]any{"path": "file://" + folder + "/", "format": "csv",
				"schema": map[string]any{"user_id": "int64", "amount": "float64"}}
		},
		Append: func(t *testing.T, p map[string]any, rows int) {
			writeCSV(t, strings.TrimPrefix(fmt.Sprint(p["path"]), "file://"), rows)
		},
		Rewrite: func(t *testing.T, p map[string]any) {
			// The first file again, under its name, with other rows.
			folder := strings.TrimPrefix(fmt.Sprint(p["path"]), "file://")
			files, err := filepath.Glob(filepath.Join(folder, "part-*.csv"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no file to rewrite in %s: %v", folder, err)
			}
			var b strings.Builder
			b.WriteString("user_id,amount\n")
			for i := range sourcetest.Rows + 2 {
				fmt.Fprintf(&b, "%d,%d.5\n", 900+i, i)
			}
			if err := os.WriteFile(files[0], []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	})
}
