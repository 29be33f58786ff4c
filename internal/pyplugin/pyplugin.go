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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/pyengine"
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
}

// describeTimeout bounds the import of the plugin modules.
const describeTimeout = 2 * time.Minute

// Describe imports the modules with python and returns what they register. A module that
// cannot be imported, or raises, is a configuration error naming it.
func Describe(ctx context.Context, python string, modules []string) (*Description, error) {
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
	pp := sdk
	if v := os.Getenv("PYTHONPATH"); v != "" {
		pp += string(os.PathListSeparator) + v
	}
	cmd.Env = append(os.Environ(), "PYTHONPATH="+pp, "AIFLOW_SYS_PATH="+strings.Join(pyengine.SysPath(), ":"))
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

// SourceParams are the params of a Python-plugin source: whatever its builder returned (the
// runner cannot know its fields; the Python reader checks them).
type SourceParams struct {
	Rest map[string]any `json:"-" plugin:"rest"`
}

func (*SourceParams) Validate() error { return nil }

// Source pins a Python-plugin source: its rendered params and the modules that read it.
type Source struct {
	Kind    string
	Modules []string
}

var _ plugin.Source[*SourceParams] = Source{}

// Pin records what the consumers' readers need; nothing is read here.
func (s Source) Pin(ctx context.Context, env *plugin.Env, _ *SourceParams) (*plugin.Output, error) {
	params := map[string]any{}
	for k, v := range env.Node.Params {
		params[k] = v
	}
	params["id"] = env.Node.ID
	m := &manifest.Manifest{Kind: ManifestKind,
		Dataset: &manifest.DatasetRef{Namespace: "python." + s.Kind, Name: env.Node.ID},
		Details: map[string]any{"plugin_kind": s.Kind, "params": params, "modules": s.Modules}}
	return &plugin.Output{Manifest: m}, nil
}

// Extend returns r with the source kinds of d registered (r itself when d adds none). A kind
// the runner already has is a configuration error: two plugins cannot own one kind.
func Extend(r *plugin.Registry, d *Description, modules []string) (*plugin.Registry, error) {
	if len(d.Sources) == 0 {
		return r, nil
	}
	c := r.Clone()
	for _, kind := range slices.Sorted(maps.Keys(d.Sources)) {
		info := d.Sources[kind]
		if _, dup := c.Lookup(plugin.RoleSource, kind); dup {
			return nil, fault.Configf("AIFLOW_PLUGIN_MODULES: %s registers source %q, which this runner already has", info.Module, kind)
		}
		var engines []string
		if slices.Contains(d.SparkReaders, kind) {
			engines = append(engines, "spark")
		}
		summary := info.Doc
		if summary == "" {
			summary = "Python plugin source from " + info.Module
		}
		k := plugin.Kind[*SourceParams]{Kind: kind, Open: true, Engines: engines, Summary: summary,
			New: func() *SourceParams { return &SourceParams{} }}
		// Pinning is the same whatever engine reads the source.
		plugin.RegisterSource(c, k, Source{Kind: kind, Modules: modules}, "arrow", "spark")
	}
	return c, nil
}
