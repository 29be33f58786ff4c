// Package cli is aiflow-runner's command line as a testable function:
// Run(ctx, args, stdin, stdout, stderr) returns the exit code. Each command lives in its own file
// as a kong command struct (its flags and arguments are the struct's fields, its work is its
// Run(*Env) method) and registers itself in commands; errors are classified where they arise
// (package fault) and turned into exit codes here, once.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/pyplugin"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// version is the release: the same as python/pyproject.toml's and aiflow_sdk.__version__ (a test
// holds the three together, and `python -m aiflow_sdk build` warns when the SDK and the runner it
// calls differ). The linker may stamp a more precise one, and the commit:
// -X github.com/aiflow-dev/aiflow/internal/cli.version=… (see Makefile).
var (
	version = "0.1.0"
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
	// Exit, when set (os.Exit in the aiflow-runner process), ends a run whose task deadline
	// (AIFLOW_NODE_TIMEOUT from the start) passed WatchdogGrace ago with exit 75, whatever its
	// node still waits on: a call that ignores its context cannot keep the pod alive.
	Exit func(code int)
	// LiftMemoryLimit, when set (runner.Main outside a pod's memory cgroup, without GOMEMLIMIT),
	// ends the runner's soft memory limit (200 MiB, then 1.5 times the live heap), sized for one
	// node's streaming: the commands that load a whole tree of specs call it (liftMemoryLimit).
	LiftMemoryLimit func()

	base        *plugin.Registry          // Registry before any Python plugin module extended it
	pluginCache map[string]*pythonPlugins // by the sorted, comma-joined module names
}

// liftMemoryLimit is called by the commands that load a whole tree of specs (compile, validate,
// plan, pipelines record): they hold every loaded pipeline (~60 KB each, 600 MB for 10,000), and
// under a soft limit below that live heap the GC collects back to back without freeing anything.
func (e *Env) liftMemoryLimit() {
	if e.LiftMemoryLimit != nil {
		e.LiftMemoryLimit()
	}
}

// Config reads the runtime configuration from the command's environment. When it names Python
// plugin modules (AIFLOW_PLUGIN_MODULES), Registry is extended with the kinds they register, so
// every command that validates, compiles or runs a pipeline accepts them; the modules a pipeline
// names itself are added when it is loaded (pythonPluginsFor).
func (e *Env) Config() (*config.Config, error) {
	cfg, err := config.LoadFrom(e.Ctx, lookuper(e.Lookup))
	if err != nil {
		return nil, err
	}
	if e.base == nil {
		e.base = e.Registry
	}
	if len(cfg.PluginModules) == 0 {
		return cfg, nil
	}
	pp, err := e.pythonPlugins(cfg, cfg.PluginModules)
	if err != nil {
		return nil, err
	}
	e.Registry = pp.reg
	return cfg, nil
}

// pythonPlugins is the registry extended with one set of Python plugin modules.
type pythonPlugins struct {
	modules []string
	desc    *pyplugin.Description
	reg     *plugin.Registry
}

// pythonPlugins imports the modules (once per set) and returns the base registry extended with
// what they register.
func (e *Env) pythonPlugins(cfg *config.Config, modules []string) (*pythonPlugins, error) {
	mods := slices.Clone(modules)
	slices.Sort(mods)
	mods = slices.Compact(mods)
	key := strings.Join(mods, ",")
	if pp, ok := e.pluginCache[key]; ok {
		return pp, nil
	}
	d, err := pyplugin.Describe(e.Ctx, cfg, mods)
	if err != nil {
		return nil, err
	}
	r, err := pyplugin.Extend(e.base, d, mods)
	if err != nil {
		return nil, err
	}
	if e.pluginCache == nil {
		e.pluginCache = map[string]*pythonPlugins{}
	}
	pp := &pythonPlugins{modules: mods, desc: d, reg: r}
	e.pluginCache[key] = pp
	return pp, nil
}

// pythonPluginsFor gives each spec the registry of its Python plugin modules (the
// configuration's and those its pipeline names in plugin_modules) and the problems of using
// them: a module that cannot be imported, a node reading a Python source on an engine without a
// reader for it. When pipelines name modules, Registry becomes the registry of all of them (what
// compile and run then use).
func (e *Env) pythonPluginsFor(cfg *config.Config, specs []*ir.Spec) (map[*ir.Spec]*plugin.Registry, map[*ir.Spec]ir.Problems, error) {
	regs := map[*ir.Spec]*plugin.Registry{}
	probs := map[*ir.Spec]ir.Problems{}
	if e.base == nil {
		e.base = e.Registry
	}
	union := slices.Clone(cfg.PluginModules)
	for _, s := range specs {
		mods, err := pyplugin.PipelineModules(s.Pipeline)
		if err != nil {
			probs[s] = ir.Problems{s.Locate(ir.Problem{Msg: err.Error()}, pyplugin.ModulesKey)}
			continue
		}
		all := append(slices.Clone(cfg.PluginModules), mods...)
		if len(all) == 0 {
			regs[s] = e.Registry
			continue
		}
		pp, err := e.pythonPlugins(cfg, all)
		if err != nil {
			if fault.ClassOf(err) != fault.Config {
				return nil, nil, err
			}
			probs[s] = ir.Problems{s.Locate(ir.Problem{Msg: err.Error()}, pyplugin.ModulesKey)}
			continue
		}
		regs[s] = pp.reg
		byNode := pyplugin.Check(s.Pipeline, pp.desc, "arrow")
		for _, id := range slices.Sorted(maps.Keys(byNode)) {
			probs[s] = append(probs[s], s.Locate(ir.Problem{Node: id, Msg: byNode[id]}, ""))
		}
		union = append(union, mods...)
	}
	if len(union) > len(cfg.PluginModules) {
		pp, err := e.pythonPlugins(cfg, union)
		if err != nil {
			return nil, nil, err
		}
		e.Registry = pp.reg
	}
	return regs, probs, nil
}

type lookuper func(string) (string, bool)

func (l lookuper) Lookup(k string) (string, bool) { return l(k) }

// command is one top-level command. new returns a fresh kong command struct for each parse (Run
// may be called concurrently): its exported fields tagged for kong are the flags (`help:"…"`,
// `short:"q"`, `default:"…"`) and arguments (`arg:""`), its fields tagged `cmd:""` are
// subcommands, and its (or the selected subcommand's) method Run(e *Env) error does the work.
type command struct {
	name    string
	summary string
	new     func() any
	hidden  bool
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("cli: duplicate command " + c.name)
	}
	commands[c.name] = c
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Run runs the command line args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The process environment as the lookup, as the runner's Main passes it.
	return RunWith(&Env{Ctx: ctx, Stdin: stdin, Stdout: stdout, Stderr: stderr, Registry: plugin.Default, Lookup: os.LookupEnv}, args)
}

// exitRequest is how kong's "exit now" (after printing --help) unwinds out of Parse without
// ending the process: Run is a function that tests and custom runners call.
type exitRequest int

// RunWith is Run with an explicit environment (a custom registry, a fake process environment).
func RunWith(e *Env, args []string) (code int) {
	// Everything the runner writes for people and logs passes control characters on escaped
	// (fault.Escape): an id, a path or a parameter value echoed in an error line must not act on
	// the terminal or CI log showing it.
	for _, w := range []*io.Writer{&e.Stdout, &e.Stderr} {
		if _, ok := (*w).(*fault.EscapeWriter); !ok && *w != nil {
			ew := fault.NewEscapeWriter(*w)
			*w = ew
			defer ew.Flush()
		}
	}
	if len(args) == 0 {
		usage(e.Stderr)
		return fault.Usage.ExitCode()
	}
	switch args[0] {
	case "-h", "--help":
		if len(args) == 1 {
			usage(e.Stdout)
			return 0
		}
	case "help":
		// `help X` is `X --help`: one help text per command, and an unknown topic fails.
		if len(args) == 1 {
			usage(e.Stdout)
			return 0
		}
		args = append(slices.Clone(args[1:]), "--help")
	case "--version", "-version", "-v":
		args = append([]string{"version"}, args[1:]...)
	}
	if name := args[0]; !strings.HasPrefix(name, "-") {
		if _, ok := commands[name]; !ok {
			fmt.Fprintf(e.Stderr, "aiflow-runner: unknown command %q%s\n", name, ir.Suggest(name, commandNames()))
			fmt.Fprintln(e.Stderr, "Run 'aiflow-runner --help' for the list of commands.")
			return fault.Usage.ExitCode()
		}
	}
	parser, err := newParser(e)
	if err != nil {
		// The command structs are this package's code: a malformed one is a bug.
		fmt.Fprintf(e.Stderr, "aiflow-runner: %v\n", err)
		return fault.Internal.ExitCode()
	}
	defer func() {
		if r := recover(); r != nil {
			x, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			code = int(x)
		}
	}()
	kctx, err := parser.Parse(joinHyphenValues(parser.Model.Node, args))
	if err != nil {
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil {
			kctx = pe.Context
		}
		fmt.Fprintf(e.Stderr, "aiflow-runner %s: %v%s\n", commandPath(kctx), err, suggestSubcommand(kctx, err))
		fmt.Fprintf(e.Stderr, "Run 'aiflow-runner %s --help' for usage.\n", commandPath(kctx))
		return fault.Usage.ExitCode()
	}
	err = kctx.Run(e)
	if err != nil {
		reportError(e.Stderr, err)
		if fault.ClassOf(err) == fault.Usage {
			fmt.Fprintf(e.Stderr, "Run 'aiflow-runner %s --help' for usage.\n", commandPath(kctx))
		}
	}
	return fault.ExitCode(err)
}

func newParser(e *Env) (*kong.Kong, error) {
	opts := []kong.Option{
		kong.Name("aiflow-runner"),
		kong.Description("Declared ETL pipelines compiled to Airflow DAGs, one pod per node."),
		kong.Writers(e.Stdout, e.Stderr),
		kong.Exit(func(code int) { panic(exitRequest(code)) }),
		kong.Help(helpPrinter),
		kong.ConfigureHelp(kong.HelpOptions{NoExpandSubcommands: true}),
		kong.Vars{"default_run_limit": fmt.Sprint(defaultRunLimit)},
	}
	for _, n := range commandNames() {
		c := commands[n]
		opts = append(opts, kong.DynamicCommand(c.name, c.summary, "", c.new()))
	}
	for n, c := range commands {
		if c.hidden {
			opts = append(opts, kong.DynamicCommand(n, c.summary, "", c.new(), `hidden:""`))
		}
	}
	return kong.New(&struct{}{}, opts...)
}

// joinHyphenValues lets a flag's value start with a dash where that is unambiguous: after a flag
// that takes a value (given without "="), a word starting with a single "-" that is not one of
// the command's short flags is the value (`--limit -5`, `--param -x=1`, `-n -1`), joined as
// `--flag=value` for kong, which would take it for a short flag. A word starting with "--" is
// always a flag (`--pipeline --json` stays an error with kong's hint to write `--pipeline=--json`).
func joinHyphenValues(root *kong.Node, args []string) []string {
	node := root
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if !strings.HasPrefix(a, "-") {
			for _, c := range node.Children {
				if c.Type == kong.CommandNode && (c.Name == a || slices.Contains(c.Aliases, a)) {
					node = c
					break
				}
			}
			out = append(out, a)
			continue
		}
		f := flagOf(node, a)
		if f == nil || f.IsBool() || f.IsCounter() || i+1 == len(args) {
			out = append(out, a)
			continue
		}
		next := args[i+1]
		if len(next) < 2 || next[0] != '-' || next[1] == '-' || (len(next) == 2 && flagOf(node, next) != nil) {
			out = append(out, a)
			continue
		}
		out = append(out, "--"+f.Name+"="+next)
		i++
	}
	return out
}

// flagOf is the flag a word names ("--name" or "-x", no "=") among node's, its parents' and its
// default subcommand's flags; nil when it names none.
func flagOf(node *kong.Node, word string) *kong.Flag {
	long, isLong := strings.CutPrefix(word, "--")
	short, isShort := strings.CutPrefix(word, "-")
	if strings.Contains(word, "=") || (!isLong && (!isShort || len(short) != 1)) {
		return nil
	}
	match := func(n *kong.Node) *kong.Flag {
		for _, f := range n.Flags {
			if isLong && (f.Name == long || slices.Contains(f.Aliases, long)) || !isLong && f.Short != 0 && string(f.Short) == short {
				return f
			}
		}
		return nil
	}
	if node.DefaultCmd != nil {
		if f := match(node.DefaultCmd); f != nil {
			return f
		}
	}
	for n := node; n != nil; n = n.Parent {
		if f := match(n); f != nil {
			return f
		}
	}
	return nil
}

// commandPath is the command (and subcommand) a parse got to, "" at the top.
func commandPath(kctx *kong.Context) string {
	if kctx == nil {
		return ""
	}
	var parts []string
	for _, p := range kctx.Path {
		if p.Command != nil {
			parts = append(parts, p.Command.Name)
		}
	}
	return strings.Join(parts, " ")
}

// suggestSubcommand adds a did-you-mean for a misspelt subcommand that kong took for an
// argument of the default subcommand (`runs shwo` parses as `runs list shwo`).
func suggestSubcommand(kctx *kong.Context, err error) string {
	got, ok := strings.CutPrefix(err.Error(), "unexpected argument ")
	if !ok || kctx == nil || strings.Contains(got, " ") {
		return ""
	}
	var names []string
	for _, p := range kctx.Path {
		if p.Command != nil {
			for _, c := range p.Command.Children {
				if c.Type == kong.CommandNode {
					names = append(names, c.Name)
				}
			}
		}
	}
	return ir.Suggest(got, names)
}

// helpPrinter prints the top-level usage (with exit codes and environment) at the top, and
// kong's per-command help (usage line, summary, arguments, flags) for a command.
func helpPrinter(options kong.HelpOptions, kctx *kong.Context) error {
	if kctx.Selected() == nil {
		usage(kctx.Stdout)
		return nil
	}
	return kong.DefaultHelpPrinter(options, kctx)
}

// reportError prints an error: one line per problem for spec problems, else one line.
func reportError(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, line)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `aiflow-runner: declared ETL pipelines compiled to Airflow DAGs, one pod per node.

Usage: aiflow-runner COMMAND [flags] [args]

Commands:
`)
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
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
