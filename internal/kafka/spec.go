package kafka

import (
	"strings"

	"github.com/aiflow-dev/aiflow/plugin"
)

// StreamKind is the seed's company stream; TopicKind a plain Kafka topic. Both pin a bounded
// offset range.
var (
	StreamKind = plugin.Kind[*SourceConfig]{Kind: "onestream", Engines: []string{"arrow", "spark", "flink"},
		Summary:      "the company stream (Kafka): a bounded offset range pinned by the source node",
		New:          newSourceConfig,
		Destinations: deadLetterDestinations,
		Asset:        func(c *SourceConfig) string { return topicAsset("onestream", c.Topic) }}
	TopicKind = plugin.Kind[*SourceConfig]{Kind: "kafka", Engines: []string{"arrow", "spark", "flink"},
		Summary:      "a Kafka topic: a bounded offset range pinned by the source node",
		New:          newSourceConfig,
		Destinations: deadLetterDestinations,
		Asset:        func(c *SourceConfig) string { return topicAsset("kafka", c.Topic) }}
)

// SinkKind is the kafka sink.
var SinkKind = plugin.Kind[*SinkConfig]{Kind: "kafka", Engines: []string{"arrow"},
	Summary: "a Kafka topic, written by a transactional producer so a retry never duplicates",
	New:     func() *SinkConfig { return &SinkConfig{Compression: "zstd", ValueFormat: "json"} },
	Destinations: func(c *SinkConfig) []plugin.Destination {
		return []plugin.Destination{{Kind: plugin.DestTopic, Value: c.Topic, Field: "topic"}}
	},
	Asset: func(c *SinkConfig) string { return topicAsset("kafka", c.Topic) }}

func topicAsset(kind, topic string) string {
	if t := plugin.Untemplated(topic); t != "" {
		return "x-" + kind + "://" + t
	}
	return ""
}

// deadLetterDestinations: a source with on_error: dead_letter writes undecodable records to a
// topic (kafka://topic) or under a folder.
func deadLetterDestinations(c *SourceConfig) []plugin.Destination {
	if c.DeadLetter == "" {
		return nil
	}
	if t, ok := strings.CutPrefix(c.DeadLetter, "kafka://"); ok {
		return []plugin.Destination{{Kind: plugin.DestTopic, Value: t, Field: "dead_letter"}}
	}
	return []plugin.Destination{{Kind: plugin.DestPath, Value: c.DeadLetter, Field: "dead_letter"}}
}

// SourceConfig reads a bounded range of a Kafka topic (kinds onestream and kafka).
type SourceConfig struct {
	Topic           string            `json:"topic" required:"true" doc:"topic to read"`
	Brokers         []string          `json:"brokers" doc:"bootstrap brokers host:port (default $AIFLOW_KAFKA_BROKERS)"`
	GroupID         string            `json:"group_id" doc:"consumer group whose committed offsets start the range; committed after the downstream sink commits (default aiflow.<pipeline>.<node>)"`
	StartingOffsets string            `json:"starting_offsets" doc:"where to start without a committed offset: earliest, latest, or timestamp:<unix ms>"`
	ValueFormat     string            `json:"value_format" doc:"json (decoded into columns) or raw (bytes)"`
	Schema          map[string]string `json:"schema" doc:"declared JSON value schema, column to type (inferred from the first records when empty)"`
	OnError         string            `json:"on_error" doc:"undecodable record: fail (exit 65 naming the offset) or dead_letter"`
	DeadLetter      string            `json:"dead_letter" doc:"where dead letters go: kafka://topic or a file:// / s3:// folder (with on_error: dead_letter)"`
	MaxRecords      int64             `json:"max_records" doc:"cap on records pinned per run (0: up to the high watermark)"`
}

func newSourceConfig() *SourceConfig {
	return &SourceConfig{StartingOffsets: "earliest", ValueFormat: "json", OnError: "fail"}
}

func (c *SourceConfig) Validate() error {
	if c.Topic == "" || strings.ContainsAny(c.Topic, " /\\") {
		return plugin.Errorf("topic", "invalid topic %q", c.Topic)
	}
	if c.StartingOffsets != "earliest" && c.StartingOffsets != "latest" && !strings.HasPrefix(c.StartingOffsets, "timestamp:") {
		return plugin.Errorf("starting_offsets", "%q is not earliest, latest or timestamp:<unix ms>", c.StartingOffsets)
	}
	if err := plugin.OneOf("value_format", c.ValueFormat, "json", "raw"); err != nil {
		return err
	}
	if err := plugin.OneOf("on_error", c.OnError, "fail", "dead_letter"); err != nil {
		return err
	}
	if c.OnError == "dead_letter" && c.DeadLetter == "" {
		return plugin.Errorf("dead_letter", "on_error: dead_letter needs a dead_letter destination")
	}
	if c.MaxRecords < 0 {
		return plugin.Errorf("max_records", "must not be negative")
	}
	return nil
}

// SinkConfig produces to a topic.
type SinkConfig struct {
	Topic       string   `json:"topic" required:"true" doc:"topic to write"`
	Brokers     []string `json:"brokers" doc:"bootstrap brokers host:port (default $AIFLOW_KAFKA_BROKERS)"`
	KeyColumn   string   `json:"key_column" doc:"column used as the message key (none: null keys)"`
	ValueFormat string   `json:"value_format" doc:"json: each row as a JSON object"`
	Compression string   `json:"compression" doc:"none, gzip, snappy, lz4 or zstd"`
}

func (c *SinkConfig) Validate() error {
	if err := plugin.OneOf("value_format", c.ValueFormat, "json"); err != nil {
		return err
	}
	return plugin.OneOf("compression", c.Compression, "none", "gzip", "snappy", "lz4", "zstd")
}
