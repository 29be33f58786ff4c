package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const streamLoadSpec = `api_version: aiflow/v1
pipeline: {id: s, owner: t, env: dev, mode: streaming}
nodes:
  - id: orders
    source: kafka
    with: {topic: orders, schema: {id: int64}}
  - id: picked
    transform: flink
    inputs: [orders]
    with: {sql: "SELECT id FROM orders"}
  - id: totals
    sink: onelake
    inputs: [picked]
    with: {table: sales.totals, mode: append}
  - id: out
    sink: kafka
    inputs: [picked]
    with: {topic: out}
`

// stream-load's refusals, before it talks to any service: usage (64), and what the spec or the
// configuration does not allow (78) with the name meant.
func TestStreamLoadRefusals(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(spec, []byte(streamLoadSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	batch := filepath.Join(dir, "b.yaml")
	if err := os.WriteFile(batch, []byte(strings.Replace(streamLoadSpec, ", mode: streaming", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"no sink", []string{"stream-load", "--pipeline", "s", "--ir", spec}, nil, exitUsage, "--pipeline and --sink are required"},
		{"empty ir hash", []string{"stream-load", "--pipeline", "s", "--sink", "totals", "--ir", spec, "--ir-hash", " "}, nil, exitUsage, "--ir-hash is empty"},
		{"ir hash mismatch", []string{"stream-load", "--pipeline", "s", "--sink", "totals", "--ir", spec, "--ir-hash", "abc"}, nil, exitConfig, "ir_hash mismatch"},
		{"misspelt sink", []string{"stream-load", "--pipeline", "s", "--sink", "total", "--ir", spec}, nil, exitConfig, `pipeline s has no lake sink "total" (its onelake sinks: totals) (did you mean "totals"?)`},
		{"kafka sink", []string{"stream-load", "--pipeline", "s", "--sink", "out", "--ir", spec}, nil, exitConfig, `has no lake sink "out"`},
		{"batch pipeline", []string{"stream-load", "--pipeline", "s", "--sink", "totals", "--ir", batch}, nil, exitConfig, "is not a streaming pipeline"},
		{"no brokers", []string{"stream-load", "--pipeline", "s", "--sink", "totals", "--ir", spec}, nil, exitConfig, "AIFLOW_KAFKA_BROKERS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, want %d and %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
		})
	}
}
