package pyengine

import (
	"strings"

	"github.com/aiflow-dev/aiflow/plugin"
)

// Name is the python engine's name.
const Name = "python"

// Kind is the python engine.
var Kind = plugin.EngineKind[*Config, *plugin.PodResources]{Kind: Name, Open: true,
	Summary:      "a Python function fn(inputs: dict[str, pyarrow.Table], params: dict) run in a subprocess, exchanging Arrow IPC",
	New:          func() *Config { return &Config{Timeout: plugin.Duration{Duration: 3600e9}} },
	NewResources: func() *plugin.PodResources { return &plugin.PodResources{} }}

// Config calls fn(inputs, params) in a Python subprocess.
type Config struct {
	Fn         string          `json:"fn" doc:"module:function, e.g. etl_jobs.build_user_features:main"`
	Entrypoint string          `json:"entrypoint" doc:"the seed's alternative spelling of fn"`
	Timeout    plugin.Duration `json:"timeout" doc:"kill the function after this long"`
	Rest       map[string]any  `json:"-" plugin:"rest"`
}

func (c *Config) Validate() error {
	fn := c.Function()
	if fn == "" {
		return plugin.Errorf("fn", "missing required field \"fn\" (module:function)")
	}
	mod, f, ok := strings.Cut(fn, ":")
	if !ok || mod == "" || f == "" || strings.ContainsAny(fn, " /\\") {
		return plugin.Errorf("fn", "%q is not module:function", fn)
	}
	if c.Fn != "" && c.Entrypoint != "" && c.Fn != c.Entrypoint {
		return plugin.Errorf("entrypoint", "fn and entrypoint disagree")
	}
	return nil
}

// Function is fn, or entrypoint when fn is empty.
func (c *Config) Function() string {
	if c.Fn != "" {
		return c.Fn
	}
	return c.Entrypoint
}
