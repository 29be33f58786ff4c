//go:build !nospark

package spark_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/onelake"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sinktest"
)

// TestOnelakeSinkConformance runs the sink suite on the onelake sink's Spark runtime against the
// test's Spark Connect server, in both formats: delta (the Delta table at <lake root>/<ns>/<t>,
// counted by Spark reading that folder) and parquet (a catalog table, counted from the catalog).
func TestOnelakeSinkConformance(t *testing.T) {
	for _, format := range []string{"delta", "parquet"} {
		t.Run(format, func(t *testing.T) {
			w := newWorkspace(t)
			s := w.session() // drops the tmp<sfx> namespace the tables are in when the test ends
			lake := "file://" + filepath.Join(w.dir, "lake")
			n := 0
			sinktest.Run(t, sinktest.Target{Registry: builtin.Registry(), Kind: "onelake", Engine: "spark",
				Configure: func(c *config.Config) { c.LakeRoot, c.SparkRemote = lake, w.remote },
				Params: func(*testing.T) map[string]any {
					n++
					return map[string]any{"table": fmt.Sprintf("tmp%s.sinktest_%s_%d", w.sfx, format, n), "format": format}
				},
				Count: func(t *testing.T, p map[string]any) int {
					table := fmt.Sprint(p["table"])
					if format == "delta" {
						dir, err := onelake.TableDir(lake, table)
						if err != nil {
							t.Fatal(err)
						}
						path := strings.TrimPrefix(strings.TrimSuffix(dir, "/"), "file://")
						if _, err := os.Stat(filepath.Join(path, "_delta_log")); err != nil {
							return 0
						}
						return int(count(t, s, "SELECT count(*) FROM delta.`"+path+"`"))
					}
					ns, name, _ := strings.Cut(table, ".")
					if len(query(t, s, fmt.Sprintf("SHOW NAMESPACES LIKE '%s'", ns))) == 0 ||
						len(query(t, s, fmt.Sprintf("SHOW TABLES IN %s LIKE '%s'", ns, name))) == 0 {
						return 0
					}
					return int(count(t, s, "SELECT count(*) FROM "+table))
				},
			})
		})
	}
}
