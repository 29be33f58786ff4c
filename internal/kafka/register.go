package kafka

import (
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/plugin"
)

func init() {
	readers.RegisterOpener(manifest.KindKafka, Open)
	plugin.OnCommitted(CommitUpstreamOffsets)
}

// Register adds the Kafka source (kinds onestream and kafka) and sink to r. The offset-commit
// hook and the opener of Kafka manifests are process-wide and registered once, by init.
func Register(r *plugin.Registry) {
	plugin.RegisterSource(r, StreamKind, Source{}, StreamKind.Engines...)
	plugin.RegisterSource(r, TopicKind, Source{}, TopicKind.Engines...)
	plugin.RegisterSink(r, SinkKind, Sink{}, SinkKind.Engines...)
}

var (
	_ plugin.Source[*SourceConfig] = Source{}
	_ plugin.Sink[*SinkConfig]     = Sink{}
)
