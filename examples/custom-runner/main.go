// Command custom-runner is aiflow-runner with one more sink, jsonl: a team's own runner. It
// accepts every command of aiflow-runner (run, replay, validate, plan, compile, plugins...),
// and pipelines may name `sink: jsonl`.
package main

import (
	_ "time/tzdata" // schedules and logical dates must not depend on the base image

	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/runner"

	"example.com/aiflow-custom-runner/jsonl"
)

func main() {
	reg := builtin.Registry() // every built-in source, sink and engine
	jsonl.Register(reg)       // the one line that links the team's sink in
	runner.Main(reg)
}
