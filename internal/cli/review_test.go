package cli_test

import (
	"strings"
	"testing"
)

// A files source whose path names a published table folder without the trailing slash must read
// the table's current version, not every file in the folder (an overwrite keeps the files of
// older versions until a vacuum): before the fix it read both versions, duplicating every row.
func TestSourcePathWithoutSlashReadsTableVersion(t *testing.T) {
	w := newWorkspace(t)
	spec := w.quickstart()
	for _, rid := range []string{"r1", "r2"} {
		if r := w.run("run", "--pipeline", "qs", "--all", "--ir", spec, "--run-id", rid); r.code != 0 {
			t.Fatalf("run %s: %d %s", rid, r.code, r.stderr)
		}
	}
	want := tableRows(t, w.path("out/by_user"))
	copySpec := w.write("spec2/cp.yaml", strings.NewReplacer("IN", w.path("out/by_user"), "OUT", w.path("out/copy")+"/").Replace(`api_version: aiflow/v1
pipeline: {id: cp, schedule: "@daily", owner: me, team: t, env: dev}
nodes:
  - id: src
    source: files
    with: {path: IN, format: parquet}
  - id: out
    sink: files
    inputs: [src]
    with: {path: OUT, mode: overwrite}
`))
	if r := w.run("run", "--pipeline", "cp", "--all", "--ir", copySpec, "--run-id", "c1"); r.code != 0 {
		t.Fatalf("copy: %d %s", r.code, r.stderr)
	}
	got := tableRows(t, w.path("out/copy"))
	if len(got) != len(want) {
		t.Fatalf("copy of the table has %d rows, the table has %d", len(got), len(want))
	}
}
