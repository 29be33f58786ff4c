package flink_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

// TestValidateRefusesInputsFlinkCannotRead: an input the flink engine refuses when the node
// runs (78) is a problem at validate (and so at compile), on the flink node's line; the inputs
// it reads and other engines' nodes are left alone.
func TestValidateRefusesInputsFlinkCannotRead(t *testing.T) {
	const kafka = `  - id: in
    source: %s
    with: {topic: orders, schema: {id: int64}%s}
`
	const onelake = `  - id: in
    source: onelake
%s    with: {table: sales.orders, format: delta}
`
	const flinkNode = `  - id: agg
    transform: flink
    inputs: [in]
    with: {sql: "SELECT COUNT(*) AS n FROM %s"}
`
	const sparkNode = `  - id: other
    transform: spark
    inputs: [in]
    with: {sql: "SELECT * FROM in"}
`
	const arrowNode = `  - id: agg
    transform: arrow
    inputs: [in]
    with: {steps: [{select: [id]}]}
`
	dl := ", on_error: dead_letter, dead_letter: kafka://orders_dlq"
	f := fmt.Sprintf
	for _, tc := range []struct {
		name, nodes string
		want        string // a substring of the one problem; "" for none
	}{
		{"kafka dead_letter", f(kafka, "kafka", dl) + f(flinkNode, "`in`"), "v.yaml:7: p/agg: input in: kafka source with on_error: dead_letter"},
		{"onestream dead_letter", f(kafka, "onestream", dl) + f(flinkNode, "`in`"), "v.yaml:7: p/agg: input in: onestream source with on_error: dead_letter"},
		{"kafka fail", f(kafka, "kafka", "") + f(flinkNode, "`in`"), ""},
		{"kafka dead_letter on arrow", f(kafka, "kafka", dl) + arrowNode, ""},
		{"onelake on spark", f(onelake, "    engine: spark\n") + f(flinkNode, "`in`"), "v.yaml:8: p/agg: input in: onelake source on engine spark is pinned as a catalog table"},
		{"onelake also read by spark", f(onelake, "") + f(flinkNode, "`in`") + sparkNode, "v.yaml:7: p/agg: input in: onelake source is also read by spark node other"},
		{"onelake", f(onelake, "") + f(flinkNode, "`in`"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "api_version: aiflow/v1\npipeline: {id: p, env: dev}\nnodes:\n" + tc.nodes
			specs, ps := ir.Parse("v.yaml", []byte(yaml), false)
			if len(ps) > 0 {
				t.Fatalf("%v\n%s", ps, yaml)
			}
			r := plugin.NewRegistry()
			builtin.Register(r)
			got := append(specs[0].Check(ir.CheckOptions{}), r.Validate(specs[0])...)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Fatalf("problems %v for\n%s", got, yaml)
			case tc.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0].String(), tc.want)):
				t.Fatalf("problems %v, want one starting %q, for\n%s", got, tc.want, yaml)
			}
		})
	}
}
