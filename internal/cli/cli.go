// Package cli is aiflow-runner's command line as a testable function:
// Run(ctx, args, stdin, stdout, stderr) returns the exit code (ARCHITECTURE §5). Each command
// lives in its own file and registers itself in commands; errors are classified where they arise
// (package fault) and turned into exit codes here, once.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/pyplugin"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Set by the linker: -X github.com/aiflow-dev/aiflow/internal/cli.version=… (see Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

// Env is what a command runs with.
type Env struct {
	Ctx      context.Context
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	Registry *plugin.Registry
	// Lookup reads the environment (os.LookupEnv outside tests).
	Lookup func(string) (string, bool)

	pluginModules []string // the Python plugin modules Registry was extended with
}

// Config reads the runtime configuration from the command's environment. When it names Python
// plugin modules (AIFLOW_PLUGIN_MODULES), Registry is extended with the source kinds they
// register, so every command that validates, compiles or runs a pipeline accepts them.
func (e *Env) Config() (*config.Config, error) {
	cfg, err := config.LoadFrom(e.Ctx, lookuper(e.Lookup))
	if err != nil || len(cfg.PluginModules) == 0 || slices.Equal(cfg.PluginModules, e.pluginModules) {
		return cfg, err
	}
	d, err := pyplugin.Describe(e.Ctx, cfg.Python, cfg.PluginModules)
	if err != nil {
		return nil, err
	}
	r, err := pyplugin.Extend(e.Registry, d, cfg.PluginModules)
	if err != nil {
		return nil, err
	}
	e.Registry, e.pluginModules = r, cfg.PluginModules
	return cfg, nil
}

type lookuper func(string) (string, bool)

func (l lookuper) Lookup(k string) (string, bool) { return l(k) }

type command struct {
	name    string
	usage   string // one line: the arguments
	summary string
	run     func(e *Env, args []string) error
	hidden  bool
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("cli: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// Run runs the command line args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return RunWith(&Env{Ctx: ctx, Stdin: stdin, Stdout: stdout, Stderr: stderr, Registry: plugin.Default, Lookup: os.LookupEnv}, args)
}

// RunWith is Run with an explicit environment (a custom registry, a fake process environment).
func RunWith(e *Env, args []string) int {
	if len(args) == 0 {
		usage(e.Stderr)
		return fault.Usage.ExitCode()
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				commandHelp(e.Stdout, c)
				return 0
			}
		}
		usage(e.Stdout)
		return 0
	case "--version", "-version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.Stderr, "aiflow-runner: unknown command %q%s\n", name, suggestCommand(name))
		usage(e.Stderr)
		return fault.Usage.ExitCode()
	}
	err := c.run(e, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		reportError(e.Stderr, err)
	}
	return fault.ExitCode(err)
}

// reportError prints an error: one line per problem for spec problems, else one line.
func reportError(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, line)
	}
}

func suggestCommand(name string) string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	for _, n := range names {
		if strings.HasPrefix(n, name) && name != "" {
			return fmt.Sprintf(" (did you mean %q?)", n)
		}
	}
	return ""
}

func usage(w io.Writer) {
	fmt.Fprint(w, `aiflow-runner: declared ETL pipelines compiled to Airflow DAGs, one pod per node.

Usage: aiflow-runner COMMAND [flags] [args]

Commands:
`)
	var names []string
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-10s %s\n", n, c.summary)
	}
	fmt.Fprint(w, `
Run 'aiflow-runner help COMMAND' or 'aiflow-runner COMMAND --help' for a command's flags.

Exit codes (BSD sysexits):
  0   success, or this node was already committed for this run (a no-op)
  64  usage: bad flags or arguments
  65  data or user error: a transform raised, a check failed, a schema mismatch   (no retry)
  75  temporary: timeout, connection refused, a service down                     (retry)
  78  configuration: invalid spec or IR, IR-hash mismatch, policy denied          (no retry)
  1   a bug in aiflow                                                             (retry)

Environment:
`)
	for _, kv := range config.Doc {
		fmt.Fprintf(w, "  %-24s %s\n", kv[0], kv[1])
	}
}

func commandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: aiflow-runner %s %s\n\n%s\n", c.name, c.usage, c.summary)
}

// flags is a FlagSet that accepts flags before and after positional arguments
// (`compile examples/ --out dags/` and `compile --out dags/ examples/`).
type flags struct {
	*flag.FlagSet
	cmd *command
	env *Env
}

func newFlags(e *Env, c *command) *flags {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flags{FlagSet: fs, cmd: c, env: e}
	return f
}

// parse parses args, interleaving flags and positionals; bad flags are usage errors (exit 64).
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.FlagSet.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.printHelp(f.env.Stdout)
				return nil, flag.ErrHelp
			}
			f.printHelp(f.env.Stderr)
			return nil, fault.Usagef("%s: %v", f.cmd.name, err)
		}
		rest := f.FlagSet.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// isSet reports whether the flag was given on the command line (even as an empty value).
func (f *flags) isSet(name string) bool {
	set := false
	f.FlagSet.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

func (f *flags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: aiflow-runner %s %s\n\n%s\n\nFlags:\n", f.cmd.name, f.cmd.usage, f.cmd.summary)
	f.FlagSet.SetOutput(w)
	f.FlagSet.PrintDefaults()
	f.FlagSet.SetOutput(io.Discard)
}
