package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A JSON source's declared schema travels in its manifest: the consumer reads the files with it,
// so a declared timestamp stays a timestamp downstream (re-inferred, it came back as text, and
// "newest wins" compared strings).
func TestDeclaredSchemaReachesConsumers(t *testing.T) {
	w := newWorkspace(t)
	w.write("in/events.json", `{"user_id": 1, "ts": "2024-01-02 10:00:00", "v": 5}
{"user_id": 1, "ts": "2024-01-02 09:00:00", "v": 7}
{"user_id": 2, "ts": "2024-01-01 23:00:00", "v": 1}
`)
	spec := w.write("spec.yaml", `api_version: aiflow/v1
pipeline: {id: declared, owner: me, env: dev}
nodes:
  - id: events
    source: files
    with: {path: "`+w.path("in")+`/", format: json, schema: {user_id: int64, "ts": "timestamp[us]", v: int64}}
  - id: latest
    transform: arrow
    inputs: [events]
    with: {steps: [{group_by: {keys: [user_id], aggs: {last_ts: "max(ts)", n: "count(*)"}}}]}
`)
	if r := w.run("run", "--pipeline", "declared", "--all", "--ir", spec, "--run-id", "d1"); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(w.env["AIFLOW_HOME"], "staging", "declared", "d1", "latest", "_manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Schema []struct{ Name, Type string } `json:"schema"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Schema {
		if f.Name == "last_ts" && !strings.HasPrefix(f.Type, "timestamp") {
			t.Fatalf("max(ts) of a declared timestamp is %s downstream, want a timestamp", f.Type)
		}
	}
}
