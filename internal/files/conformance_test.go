package files_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/onelake"
	"github.com/aiflow-dev/aiflow/internal/table"
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

func TestFilesSinkConformance(t *testing.T) {
	dir, n := t.TempDir(), 0
	sinktest.Run(t, sinktest.Target{Registry: builtin.Registry(), Kind: "files",
		Params: func(*testing.T) map[string]any {
			n++
			return map[string]any{"path": fmt.Sprintf("file://%s/out-%d/", dir, n)}
		},
		Count: func(t *testing.T, p map[string]any) int { return tableRows(t, fmt.Sprint(p["path"])) },
	})
}

// The onelake sink on the arrow engine, format parquet (the table protocol of package files).
func TestOnelakeSinkConformance(t *testing.T) {
	lake, n := "file://"+filepath.Join(t.TempDir(), "lake"), 0
	sinktest.Run(t, sinktest.Target{Registry: builtin.Registry(), Kind: "onelake",
		Configure: func(c *config.Config) { c.LakeRoot = lake },
		Params: func(*testing.T) map[string]any {
			n++
			return map[string]any{"table": fmt.Sprintf("sinktest.t%d", n), "format": "parquet", "partition_by": []any{"user_id"}}
		},
		Count: func(t *testing.T, p map[string]any) int {
			dir, err := onelake.TableDir(lake, fmt.Sprint(p["table"]))
			if err != nil {
				t.Fatal(err)
			}
			return tableRows(t, dir)
		},
	})
}
