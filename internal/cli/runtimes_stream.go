package cli

// The streaming runtimes: Kafka source (onestream, kafka) and sink, and the feature store sink.
import (
	_ "github.com/aiflow-dev/aiflow/internal/featurestore"
	_ "github.com/aiflow-dev/aiflow/internal/kafka"
)
