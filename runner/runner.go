// Package runner is aiflow-runner as a library: every command of the aiflow-runner binary
// (run, replay, validate, plan, compile, plugins, runs...) over a plugin registry the caller
// builds. A team that adds its own source, sink or engine builds its own runner binary with it:
//
//	func main() {
//		reg := builtin.Registry() // every built-in plugin
//		mysink.Register(reg)      // the team's own
//		runner.Main(reg)
//	}
//
// cmd/aiflow-runner is exactly that without the team's line; examples/custom-runner is a
// separate Go module that does it with a custom sink (docs/plugins.md).
package runner

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Main runs the command line of the process (os.Args) with reg and exits with the command's exit
// code. SIGTERM (pod eviction, task killed) and SIGINT cancel the running node: it aborts its
// staging and exits 75 without committing.
func Main(reg *plugin.Registry) {
	lift := setMemoryLimit()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	// Exit: a node whose task deadline passed and that still waits on a call ignoring its
	// context is ended from outside (exit 75), so no pod outlives AIFLOW_NODE_TIMEOUT by more
	// than a few seconds.
	//
	// The process environment enters the runner here, once, as its lookup: every setting is then
	// read from the configuration built from it (internal/config).
	code := cli.RunWith(&cli.Env{Ctx: ctx, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Registry: reg, Lookup: os.LookupEnv, Exit: os.Exit, LiftMemoryLimit: lift}, os.Args[1:])
	stop()
	os.Exit(code)
}

// Run runs one command line (args without the program name) with reg and returns its exit code:
// 0 ok, 64 usage, 65 data, 75 temporary, 78 configuration, 1 a bug. It reads the process
// environment for configuration.
func Run(ctx context.Context, reg *plugin.Registry, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The process environment as the lookup, as in Main.
	return cli.RunWith(&cli.Env{Ctx: ctx, Stdin: stdin, Stdout: stdout, Stderr: stderr, Registry: reg, Lookup: os.LookupEnv}, args)
}
