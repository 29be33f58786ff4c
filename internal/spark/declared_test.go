//go:build !nospark

package spark_test

import (
	"strings"
	"testing"
)

// A csv/json source's declared schema reaches a spark transform: the files are read with it,
// never inferred (inferred, a declared timestamp came back as text, a declared int32 as bigint
// and a CSV code "007" as the number 7); a header that does not match the declared columns,
// or a value that does not parse, fails with 65.
func TestDeclaredSchemaOnSpark(t *testing.T) {
	w := newWorkspace(t)
	for _, c := range []struct {
		name, format, file, data, schema string
		exit                             int
	}{
		{"json", "json", "events.json", `{"user_id": 1, "ts": "2024-01-02T10:00:00", "code": "007", "v": 5}
{"user_id": 1, "ts": "2024-01-02T09:00:00", "code": "012", "v": 7}
{"user_id": 2, "ts": "2024-01-01T23:00:00", "code": "100"}
`, `{user_id: int64, ts: "timestamp[us]", code: string, v: int32}`, 0},
		{"csv in another column order", "csv", "events.csv", "v,code,ts,user_id\n5,007,2024-01-02 10:00:00,1\n7,012,2024-01-02 09:00:00,1\n,100,2024-01-01 23:00:00,2\n",
			`{user_id: int64, ts: "timestamp[us]", code: string, v: int32}`, 0},
		{"csv header without a declared column", "csv", "events.csv", "code,ts,user_id\n007,2024-01-02 10:00:00,1\n",
			`{user_id: int64, ts: "timestamp[us]", code: string, v: int32}`, 65},
		{"json value that is not its type", "json", "events.json", `{"user_id": "one", "ts": "2024-01-02T10:00:00", "code": "007", "v": 5}
`, `{user_id: int64, ts: "timestamp[us]", code: string, v: int32}`, 65},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := strings.NewReplacer(" ", "_").Replace(c.name)
			in := w.write(id+"-"+c.file, c.data)
			spec := w.write(id+".yaml", `api_version: aiflow/v1
pipeline: {id: declared, owner: t, team: t, env: dev, project: t}
nodes:
  - {id: events, source: files, with: {path: "`+in+`", format: `+c.format+`, schema: `+c.schema+`}}
  - id: latest
    transform: spark
    inputs: [events]
    with: {sql: "SELECT user_id, max(ts) AS last_ts, max(code) AS code, max(v) AS v FROM events GROUP BY user_id"}
`)
			r := w.run("run", "--pipeline", "declared", "--all", "--ir", spec, "--run-id", id)
			if r.code != c.exit {
				t.Fatalf("exit %d, want %d\n%s", r.code, c.exit, r.stderr)
			}
			if c.exit != 0 {
				return
			}
			m := w.committed("declared", id, "latest")
			types := map[string]string{}
			for _, f := range m.Schema {
				types[f.Name] = f.Type
			}
			if m.Rows != 2 || !strings.HasPrefix(types["last_ts"], "timestamp") || (types["code"] != "utf8" && types["code"] != "string") || types["v"] != "int32" {
				t.Fatalf("%d rows of %v: want 2 rows, last_ts a timestamp, code text, v int32", m.Rows, types)
			}
		})
	}
}
