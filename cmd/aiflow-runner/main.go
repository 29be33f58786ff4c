// Command aiflow-runner runs one node of an aiflow pipeline (what a pod does), a whole pipeline
// locally, and the authoring tools: validate, plan, compile. See `aiflow-runner --help`. It is
// package runner over the built-in plugins; a team's own runner adds its plugins to the registry
// (docs/plugins.md).
package main

import (
	// The IANA time zone database inside the binary: the distroless/scratch image has no
	// /usr/share/zoneinfo, and schedules and logical dates must not depend on the base image.
	_ "time/tzdata"

	"github.com/aiflow-dev/aiflow/plugin"
	_ "github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/runner"
)

func main() { runner.Main(plugin.Default) }
