package flink

import (
	"strings"

	"github.com/aiflow-dev/aiflow/plugin"
)

// Name is the flink engine's name.
const Name = "flink"

// Kind is the flink engine.
var Kind = plugin.EngineKind[*Config, *plugin.PodResources]{Kind: Name,
	Summary:      "Flink SQL over the inputs on a Flink session cluster, submitted through its SQL Gateway (batch: pinned Kafka offset ranges, files, lake tables)",
	New:          func() *Config { return &Config{} },
	NewResources: func() *plugin.PodResources { return &plugin.PodResources{} },
}

// Config is a flink transform's params.
type Config struct {
	SQL string `json:"sql" required:"true" doc:"Flink SQL over the inputs, each a temporary table named by its node id (templates allowed)"`
	// Parallelism 0 leaves the cluster's parallelism.default.
	Parallelism int `json:"parallelism" doc:"parallelism of the node's Flink job (default: the cluster's parallelism.default)"`
	// Settings are more Flink configuration for the node's session (table.exec.*, ...).
	Settings map[string]string `json:"settings" doc:"more Flink settings for the node's session, key to value (table.exec.*, execution.*); the runtime mode and the staging sink are the engine's"`
}

func (c *Config) Validate() error {
	if strings.TrimSpace(c.SQL) == "" {
		return plugin.Errorf("sql", "must not be empty")
	}
	if c.Parallelism < 0 {
		return plugin.Errorf("parallelism", "must not be negative")
	}
	for k := range c.Settings {
		switch k {
		case "execution.runtime-mode", "table.dml-sync", "execution.target", "rest.address", "rest.port":
			return plugin.Errorf("settings", "%q is set by the engine", k)
		}
	}
	return nil
}
