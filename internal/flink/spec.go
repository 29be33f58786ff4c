package flink

import (
	"fmt"
	"strings"

	"github.com/aiflow-dev/aiflow/internal/kafka"
	"github.com/aiflow-dev/aiflow/internal/spark/sparkspec"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Name is the flink engine's name.
const Name = "flink"

// Kind is the flink engine.
var Kind = plugin.EngineKind[*Config, *plugin.PodResources]{Kind: Name,
	Summary:      "Flink SQL over the inputs on a Flink session cluster, submitted through its SQL Gateway (batch: pinned Kafka offset ranges, files, lake tables; mode: streaming: one long-running job)",
	New:          func() *Config { return &Config{} },
	NewResources: func() *plugin.PodResources { return &plugin.PodResources{} },
	CheckInput:   checkInput,
}

// checkInput refuses at validate the inputs the engine refuses when the node runs (78), so a
// spec that cannot run is not deployed:
//   - a Kafka or onestream source with on_error: dead_letter: Flink's JSON format fails or skips
//     a bad record, it cannot route it to a dead-letter destination;
//   - a onelake source that runs on Spark or also feeds a spark node: it is then pinned as a
//     catalog table, which only Spark reads.
func checkInput(p *ir.Pipeline, up *ir.Node) error {
	if up.Type != ir.Source {
		return nil // transforms stage files; sinks are no inputs (CheckGraph)
	}
	switch up.Kind() {
	case kafka.TopicKind.Kind, kafka.StreamKind.Kind:
		if v, _ := up.Params["on_error"].(string); v == "dead_letter" {
			return fmt.Errorf("%s source with on_error: dead_letter: the flink engine cannot set undecodable records aside (use on_error: fail, or read the topic with an arrow transform)", up.Kind())
		}
	case onelakeKind:
		if up.EngineName() == sparkspec.Engine {
			return fmt.Errorf("onelake source on engine spark is pinned as a catalog table, which only the spark engine reads (drop its engine: spark)")
		}
		for _, id := range p.Downstream(up.ID) {
			if d := p.Nodes[id]; d != nil && d.EngineName() == sparkspec.Engine {
				return fmt.Errorf("onelake source is also read by spark node %s, so it is pinned as a catalog table, which only the spark engine reads (give the flink node its own onelake source)", id)
			}
		}
	}
	return nil
}

// onelakeKind is the onelake source's kind (package onelake is not imported for one name).
const onelakeKind = "onelake"

// Config is a flink transform's params.
type Config struct {
	SQL string `json:"sql" required:"true" doc:"Flink SQL over the inputs, each a temporary table named by its node id (templates allowed)"`
	// Parallelism 0 leaves the cluster's parallelism.default.
	Parallelism int `json:"parallelism" doc:"parallelism of the node's Flink job (default: the cluster's parallelism.default)"`
	// Settings are more Flink configuration for the node's session (table.exec.*, ...).
	Settings map[string]string `json:"settings" doc:"more Flink settings for the node's session, key to value (table.exec.*, execution.*); the runtime mode and the staging sink are the engine's"`
	// CheckpointInterval is read by streaming pipelines only (a batch job takes no checkpoints).
	CheckpointInterval string `json:"checkpoint_interval" doc:"mode: streaming only: how often the job checkpoints (a Go duration, default 10s); Kafka sinks commit, and their output becomes visible to read_committed consumers, at each checkpoint"`
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
		case "execution.runtime-mode", "table.dml-sync", "execution.target", "rest.address", "rest.port", "execution.savepoint.path", "pipeline.name":
			return plugin.Errorf("settings", "%q is set by the engine", k)
		case "execution.checkpointing.interval":
			return plugin.Errorf("settings", "%q: use checkpoint_interval", k)
		}
	}
	return nil
}
