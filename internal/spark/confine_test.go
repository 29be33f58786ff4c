//go:build !nospark

package spark_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/pathguard"
)

// TestSparkWriteConfined: the Spark server writes a onelake table itself and would follow a
// link planted in its _delta_log; with AIFLOW_ALLOWED_ROOTS the node refuses it first (78) and
// nothing lands outside.
func TestSparkWriteConfined(t *testing.T) {
	w := newWorkspace(t)
	outside := t.TempDir()
	lake := filepath.Join(w.dir, ".aiflow", "lake")
	for _, d := range []string{w.dir + "/in", outside, lake + "/ns" + w.sfx + "/t"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(w.dir+"/in/data.csv", []byte("id,region\n1,eu\n2,us\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, lake+"/ns"+w.sfx+"/t/_delta_log"); err != nil {
		t.Fatal(err)
	}
	w.env[pathguard.RootsEnv] = w.dir
	spec := w.write("confined.yaml", "api_version: aiflow/v1\npipeline: {id: confined, owner: t, env: dev}\nnodes:\n"+
		"  - {id: src, source: files, with: {path: '"+w.dir+"/in/data.csv', format: csv}}\n"+
		"  - {id: out, sink: onelake, engine: spark, inputs: [src], with: {table: ns"+w.sfx+".t}}\n")
	r := w.run("run", "--pipeline", "confined", "--all", "--ir", spec)
	if r.code != 78 || !strings.Contains(r.stderr, "outside the allowed roots") {
		t.Fatalf("exit %d, want 78 (a link out of the root in the table's _delta_log)\n%s", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("Spark wrote %d entries outside the allowed root", len(ents))
	}
}
