// Package pyplugin makes the plugins a team registers in Python with the seed's API
// (register_source, register_spark_source_reader in aiflow_sdk.plugins) real plugins of the
// runner. AIFLOW_PLUGIN_MODULES names the modules; the runner imports them in a subprocess
// (python -m aiflow_sdk.plugindesc, interpreter AIFLOW_PYTHON, modules from AIFLOW_PYTHONPATH)
// and registers every source kind they add, so validate, compile and run accept it. A source of
// such a kind pins its rendered params (it copies nothing, like every source); the spark engine
// then calls the kind's Python Spark reader in the node's Spark Connect session, where the
// returned DataFrame becomes the input's temp view.
package pyplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/pyengine"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// ManifestKind is the manifest kind of a Python-plugin source: Details hold "plugin_kind",
// "params" (rendered) and "modules".
const ManifestKind = "python_source"

// Info is one registered kind.
type Info struct {
	Module string `json:"module"`
	Doc    string `json:"doc"`
}

// Description is what the modules register beyond aiflow's built-ins.
type Description struct {
	Sources      map[string]Info `json:"sources"`
	Sinks        map[string]Info `json:"sinks"`
	SparkReaders []string        `json:"spark_readers"`
	ArrowReaders []string        `json:"arrow_readers"`
	SinkWriters  []string        `json:"sink_writers"`
}

// describeTimeout bounds the import of the plugin modules.
const describeTimeout = 2 * time.Minute

// Describe imports the modules with python and returns what they register. A module that
// cannot be imported, or raises, is a configuration error naming it.
func Describe(ctx context.Context, cfg *config.Config, modules []string) (*Description, error) {
	python := cfg.Python
	work, err := os.MkdirTemp("", "aiflow-plugins-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	sdk := filepath.Join(work, "sdk")
	if err := pyengine.ExtractSDK(sdk); err != nil {
		return nil, err
	}
	out := filepath.Join(work, "plugins.json")
	cctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, python, append([]string{"-m", "aiflow_sdk.plugindesc", out}, modules...)...)
	// The describer inherits the pod's environment (PATH, HOME, locale); the runner's settings
	// (sys.path) are passed explicitly.
	cmd.Env = append(os.Environ(), "PYTHONPATH="+pyengine.ChildPythonPath(sdk), "AIFLOW_SYS_PATH="+strings.Join(pyengine.SysPath(cfg.PythonPath), ":"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	b, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fault.Configf("AIFLOW_PLUGIN_MODULES: interpreter %q not found (set AIFLOW_PYTHON)", python)
		}
		if cctx.Err() != nil {
			return nil, fault.Temporaryf("AIFLOW_PLUGIN_MODULES: importing %s took longer than %s", strings.Join(modules, ", "), describeTimeout)
		}
		return nil, fault.Configf("AIFLOW_PLUGIN_MODULES: %s", lastLine(string(b)))
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("plugin description: %w", err)
	}
	var d Description
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("plugin description: %w", err)
	}
	return &d, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Source pins a Python-plugin source: its rendered params, the run's context and the modules
// that read it.
type Source struct {
	Kind    string
	Modules []string
}

var _ plugin.Source[*Params] = Source{}

// Pin records what the consumers' readers need; nothing is read here.
func (s Source) Pin(ctx context.Context, env *plugin.Env, _ *Params) (*plugin.Output, error) {
	params := map[string]any{}
	for k, v := range env.Node.Params {
		params[k] = v
	}
	params["id"] = env.Node.ID
	m := &manifest.Manifest{Kind: ManifestKind,
		Dataset: &manifest.DatasetRef{Namespace: "python." + s.Kind, Name: env.Node.ID},
		Details: map[string]any{"plugin_kind": s.Kind, "params": params, "modules": s.Modules, "context": runContext(env)}}
	return &plugin.Output{Manifest: m}, nil
}

// Extend returns r with the source and sink kinds of d registered (r itself when d adds none).
// A kind the runner already has is a configuration error: two plugins cannot own one kind. A
// source kind is read by the engines it has readers for (spark: register_spark_source_reader;
// arrow and python: register_arrow_source_reader); a sink kind runs when it has a writer
// (register_sink_writer), on the arrow and python engines.
func Extend(r *plugin.Registry, d *Description, modules []string) (*plugin.Registry, error) {
	if len(d.Sources) == 0 && len(d.Sinks) == 0 {
		return r, nil
	}
	c := r.Clone()
	for _, kind := range slices.Sorted(maps.Keys(d.Sources)) {
		info := d.Sources[kind]
		if _, dup := c.Lookup(plugin.RoleSource, kind); dup {
			return nil, fault.Configf("plugin modules: %s registers source %q, which this runner already has", info.Module, kind)
		}
		summary := info.Doc
		if summary == "" {
			summary = "Python plugin source from " + info.Module
		}
		k := plugin.Kind[*Params]{Kind: kind, Open: true, Engines: d.ReaderEngines(kind), Summary: summary,
			New: func() *Params { return &Params{} }}
		// Pinning is the same whatever engine reads the source.
		plugin.RegisterSource(c, k, Source{Kind: kind, Modules: modules}, "arrow", "python", "spark")
	}
	for _, kind := range slices.Sorted(maps.Keys(d.Sinks)) {
		info := d.Sinks[kind]
		if _, dup := c.Lookup(plugin.RoleSink, kind); dup {
			return nil, fault.Configf("plugin modules: %s registers sink %q, which this runner already has", info.Module, kind)
		}
		summary := info.Doc
		if summary == "" {
			summary = "Python plugin sink from " + info.Module
		}
		k := plugin.Kind[*Params]{Kind: kind, Open: true, Summary: summary, New: func() *Params { return &Params{} },
			Destinations: paramDestinations}
		if !slices.Contains(d.SinkWriters, kind) {
			// A builder without a writer describes the kind for the DSL only: validate refuses a
			// pipeline that uses it, as nothing could run it.
			k.Lint = func(*plugin.Registry, *Params) error {
				return fmt.Errorf("sink kind %q (from %s) has no writer: register one with register_sink_writer", kind, info.Module)
			}
			plugin.RegisterSink[*Params](c, k, nil)
			continue
		}
		k.Engines = []string{"arrow", "python"}
		plugin.RegisterSink(c, k, Sink{Kind: kind, Modules: modules}, "arrow", "python")
	}
	return c, nil
}

// ReaderEngines are the engines that can read a source kind of d.
func (d *Description) ReaderEngines(kind string) []string {
	var out []string
	if slices.Contains(d.ArrowReaders, kind) {
		out = append(out, "arrow", "python")
	}
	if slices.Contains(d.SparkReaders, kind) {
		out = append(out, "spark")
	}
	return out
}

// paramDestinations reports where a Python sink writes for tenant policy, from the params its
// builder returned under the usual names (table, path, topic, feature_group): the runner cannot
// know more of a kind written in Python.
func paramDestinations(p *Params) []plugin.Destination {
	var out []plugin.Destination
	for _, f := range []struct{ field, kind string }{{"table", plugin.DestTable}, {"path", plugin.DestPath},
		{"topic", plugin.DestTopic}, {"feature_group", plugin.DestFeatureGroup}} {
		if v, ok := p.Rest[f.field].(string); ok && v != "" {
			out = append(out, plugin.Destination{Kind: f.kind, Value: v, Field: f.field})
		}
	}
	return out
}

// ModulesKey is the pipeline key (in the IR's extra) naming its plugin modules.
const ModulesKey = "plugin_modules"

var moduleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// PipelineModules returns the Python modules a pipeline names as its plugin modules
// (`plugin_modules:` in a YAML spec's pipeline, plugin_modules= in the DSL's @pipeline, extra
// in IR JSON): a list of dotted module names.
func PipelineModules(p *ir.Pipeline) ([]string, error) {
	v, ok := p.Extra[ModulesKey]
	if !ok || v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a list of Python module names, not %T", ModulesKey, v)
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok || !moduleName.MatchString(s) {
			return nil, fmt.Errorf("%s: %v is not a Python module name (my_team_plugins, team.plugins)", ModulesKey, x)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Check reports the nodes of p that read a Python-plugin source on an engine without a reader
// for its kind, by node id: the run would fail there.
func Check(p *ir.Pipeline, d *Description, defaultEngine string) map[string]string {
	out := map[string]string{}
	for _, id := range p.NodeIDs() {
		n := p.Nodes[id]
		if n == nil || n.Type == ir.Source {
			continue
		}
		engine := n.EngineName()
		if engine == "" {
			engine = defaultEngine
		}
		for _, in := range n.InputIDs {
			src := p.Nodes[in]
			if src == nil || src.Type != ir.Source {
				continue
			}
			info, ok := d.Sources[src.Kind()]
			if !ok {
				continue
			}
			engines := d.ReaderEngines(src.Kind())
			if slices.Contains(engines, engine) {
				continue
			}
			how := "register_arrow_source_reader"
			if engine == "spark" {
				how = "register_spark_source_reader"
			}
			have := strings.Join(engines, ", ")
			if have == "" {
				have = "none"
			}
			out[id] = fmt.Sprintf("input %s: source kind %q (from %s) has no reader for engine %s (engines with a reader: %s); register one with %s",
				in, src.Kind(), info.Module, engine, have, how)
		}
	}
	return out
}
