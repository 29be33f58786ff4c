// Command aiflow-runner runs one node of an aiflow pipeline (what a pod does), a whole pipeline
// locally, and the authoring tools: validate, plan, compile. See `aiflow-runner --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	// The IANA time zone database inside the binary: the distroless/scratch image has no
	// /usr/share/zoneinfo, and schedules and logical dates must not depend on the base image.
	_ "time/tzdata"

	"github.com/aiflow-dev/aiflow/internal/cli"
	_ "github.com/aiflow-dev/aiflow/plugin/builtin"
)

func main() {
	setMemoryLimit()
	// SIGTERM (pod eviction, task killed) and SIGINT cancel the context; the node aborts its
	// staging and exits 75 without committing.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
