package files_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/onelake"
	"github.com/aiflow-dev/aiflow/internal/table"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sinktest"
)

// tableRows is what a reader of the table folder sees: the rows of its current version.
func tableRows(t *testing.T, dir string) int {
	t.Helper()
	v, err := table.Current(context.Background(), objstore.New(objstore.Options{}), dir)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return 0
	}
	n := int64(0)
	for _, f := range v.Files {
		n += v.FileRows[f.URI]
	}
	return int(n)
}

// The files sink on each engine it lists: the same Go runtime publishes, whichever engine the
// node names.
func TestFilesSinkConformance(t *testing.T) {
	for _, engine := range builtin.Registry().RuntimeEngines(plugin.RoleSink, "files") {
		t.Run(engine, func(t *testing.T) {
			dir, n := t.TempDir(), 0
			sinktest.Run(t, sinktest.Target{Registry: builtin.Registry(), Kind: "files", Engine: engine,
				Params: func(*testing.T) map[string]any {
					n++
					return map[string]any{"path": fmt.Sprintf("file://%s/out-%d/", dir, n)}
				},
				Count: func(t *testing.T, p map[string]any) int { return tableRows(t, fmt.Sprint(p["path"])) },
			})
		})
	}
}

// The onelake sink on the arrow engine in both formats: parquet (the table protocol of package
// files) and delta (the Delta table at <lake root>/<ns>/<t>, counted from its latest snapshot).
// On Spark, both formats run the suite in package spark.
func TestOnelakeSinkConformance(t *testing.T) {
	for _, format := range []string{"parquet", "delta"} {
		t.Run(format, func(t *testing.T) {
			lake, n := "file://"+filepath.Join(t.TempDir(), "lake"), 0
			sinktest.Run(t, sinktest.Target{Registry: builtin.Registry(), Kind: "onelake", Engine: "arrow",
				Configure: func(c *config.Config) { c.LakeRoot = lake },
				Params: func(*testing.T) map[string]any {
					n++
					return map[string]any{"table": fmt.Sprintf("sinktest.t%d", n), "format": format, "partition_by": []any{"user_id"}}
				},
				Count: func(t *testing.T, p map[string]any) int {
					dir, err := onelake.TableDir(lake, fmt.Sprint(p["table"]))
					if err != nil {
						t.Fatal(err)
					}
					if format == "parquet" {
						return tableRows(t, dir)
					}
					snap, err := delta.New(objstore.New(objstore.Options{}), strings.TrimSuffix(dir, "/")).Latest(context.Background())
					if errors.Is(err, delta.ErrNoTable) {
						return 0
					}
					if err != nil {
						t.Fatal(err)
					}
					sc, err := snap.Scan(nil)
					if err != nil || sc.Rows < 0 {
						t.Fatalf("scan %s: rows %v, %v", dir, sc, err)
					}
					return int(sc.Rows)
				},
			})
		})
	}
}
