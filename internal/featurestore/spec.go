package featurestore

import "github.com/aiflow-dev/aiflow/plugin"

// SinkKind is the feature_store sink.
var SinkKind = plugin.Kind[*SinkConfig]{Kind: "feature_store", Engines: []string{"arrow"},
	Summary: "a feature group in PostgreSQL: rows upserted by entity keys, newer event time wins, committed with the run",
	New: func() *SinkConfig {
		return &SinkConfig{Mode: "upsert", Schema: "public", DSN: plugin.Secret{Env: "AIFLOW_FEATURE_STORE_DSN"}}
	},
	Destinations: func(c *SinkConfig) []plugin.Destination {
		return []plugin.Destination{{Kind: plugin.DestFeatureGroup, Value: c.Schema + "." + c.FeatureGroup, Field: "feature_group"}}
	},
	Asset: func(c *SinkConfig) string {
		g, schema := plugin.Untemplated(c.FeatureGroup), plugin.Untemplated(c.Schema)
		if g == "" {
			return ""
		}
		if schema == "" {
			schema = "public"
		}
		return "x-feature-store://" + schema + "/" + g
	}}

// SinkConfig upserts into a feature group table.
type SinkConfig struct {
	FeatureGroup string        `json:"feature_group" required:"true" doc:"feature group (table) name"`
	Mode         string        `json:"mode" doc:"upsert (the only mode)"`
	EntityKeys   []string      `json:"entity_keys" doc:"entity key columns (default: user_id if present, else the first column)"`
	EventTime    string        `json:"event_time" doc:"event timestamp column: a row replaces the stored one only when newer"`
	Create       bool          `json:"create" doc:"create the table from the input schema when missing"`
	Schema       string        `json:"schema" doc:"PostgreSQL schema of the table"`
	DSN          plugin.Secret `json:"dsn" doc:"PostgreSQL DSN, a secret reference"`
}

func (c *SinkConfig) Validate() error {
	if err := plugin.CheckIdent("feature_group", c.FeatureGroup); err != nil {
		return err
	}
	if err := plugin.CheckIdent("schema", c.Schema); err != nil {
		return err
	}
	for _, k := range c.EntityKeys {
		if err := plugin.CheckIdent("entity_keys", k); err != nil {
			return err
		}
	}
	return plugin.OneOf("mode", c.Mode, "upsert")
}
