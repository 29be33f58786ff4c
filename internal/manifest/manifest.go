// Package manifest describes committed node outputs. Every committed output is a
// manifest that any engine can read: files (Parquet under the node's staging folder, or the files
// of a published table version), a catalog table, or Kafka offset ranges. Readers trust only
// manifests, never folder listings, so a retry or a concurrent zombie attempt cannot change what
// a downstream node reads.
package manifest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// Version is the manifest format version.
const Version = 1

// Kinds of output.
const (
	KindFiles = "files" // Parquet (or other) files listed in Files
	KindTable = "table" // a catalog table (Spark), see Table
	KindKafka = "kafka" // offset ranges, see Kafka
	KindNone  = "none"  // a sink that published elsewhere (feature store, Kafka): nothing to read
)

// Manifest is one committed node output.
type Manifest struct {
	Version  int    `json:"version"`
	Pipeline string `json:"pipeline"`
	RunID    string `json:"run_id"`
	Node     string `json:"node"`
	Attempt  int    `json:"attempt"`
	IRHash   string `json:"ir_hash"`
	Kind     string `json:"kind"`
	// Format of Files: parquet, csv, json, ipc.
	Format string             `json:"format,omitempty"`
	Files  []dataset.FileInfo `json:"files,omitempty"`
	Schema []Field            `json:"schema,omitempty"`
	// ReadSchema is the schema the producer read text files (csv, json) with: the source's
	// declared schema. Consumers read the files with it instead of inferring types again (a
	// declared timestamp must not come back as text).
	ReadSchema []Field `json:"read_schema,omitempty"`
	Rows       int64   `json:"rows"`
	Bytes      int64   `json:"bytes"`
	// Table is set for KindTable.
	Table *Table `json:"table,omitempty"`
	// Kafka is set for KindKafka.
	Kafka *KafkaRange `json:"kafka,omitempty"`
	// Dataset names what was read or published, for lineage (namespace, name).
	Dataset   *DatasetRef    `json:"dataset,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// Field is a column of the output.
type Field struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// Table is a catalog table output (Spark engine).
type Table struct {
	Name     string `json:"name"`
	Location string `json:"location,omitempty"`
	Format   string `json:"format,omitempty"`
	Snapshot string `json:"snapshot,omitempty"`
	// Filter is a SQL predicate (partition filters, safely quoted) consumers apply.
	Filter string `json:"filter,omitempty"`
}

// KafkaRange pins, per partition, [Start, End) offsets of a topic.
type KafkaRange struct {
	Topic string `json:"topic"`
	// TopicID identifies the topic beyond its name: a topic deleted and created again has a new
	// id, and the pinned offsets no longer name the pinned records (a reader refuses them).
	TopicID    string           `json:"topic_id,omitempty"`
	Brokers    []string         `json:"brokers,omitempty"`
	Group      string           `json:"group,omitempty"`
	Partitions []PartitionRange `json:"partitions"`
}

// PartitionRange is one partition's pinned offsets.
type PartitionRange struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
}

// DatasetRef names a dataset the OpenLineage way.
type DatasetRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Marshal encodes the manifest.
func (m *Manifest) Marshal() ([]byte, error) {
	return json.MarshalIndent(m, "", "  ")
}

// Unmarshal decodes a manifest and checks its version.
func Unmarshal(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fault.Wrap(fault.Data, err, "decode manifest")
	}
	if m.Version != Version {
		return nil, fault.Configf("manifest version %d is not supported (want %d)", m.Version, Version)
	}
	return &m, nil
}

// Staging is the layout of node outputs under AIFLOW_STAGING_URI:
//
//	<root>/<pipeline>/<run_id>/<node>/attempt-<n>-<id>/part-*.parquet   staged data of one attempt
//	<root>/<pipeline>/<run_id>/<node>/attempt-<n>-<id>/_manifest.json   its manifest (written last)
//	<root>/<pipeline>/<run_id>/<node>/attempt-<n>-<id>/result.json      how the attempt ended
//	<root>/<pipeline>/<run_id>/<node>/_manifest.json                    copy of the committed manifest
//
// <n> is the try and <id> the process's attempt id: two processes running the same try (a zombie
// pod and its replacement) stage into folders of their own, so neither overwrites, cleans or
// discards the other's files. The metadata store's commit row is the authority; the top-level
// _manifest.json is written after the commit for humans and tools.
type Staging struct {
	Root string // file:///abs or s3://bucket/prefix, no trailing slash
}

// Seg escapes a path segment: run ids like manual__2024-01-01T00:00:00+00:00 keep their letters,
// digits and -_.: everything else is %XX, so no id can escape its folder.
func Seg(s string) string {
	var b strings.Builder
	for _, r := range []byte(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteByte(r)
		default:
			fmt.Fprintf(&b, "%%%02X", r)
		}
	}
	out := b.String()
	if out == "." || out == ".." || out == "" {
		return url.PathEscape("%" + out)
	}
	return out
}

// NodeDir is the folder of a node's outputs in a run.
func (s Staging) NodeDir(pipeline, runID, node string) string {
	return fmt.Sprintf("%s/%s/%s/%s", strings.TrimSuffix(s.Root, "/"), Seg(pipeline), Seg(runID), Seg(node))
}

// AttemptDir is the folder of one process's attempt of a try (attemptID tells apart the
// processes running the same try).
func (s Staging) AttemptDir(pipeline, runID, node string, try int, attemptID string) string {
	return fmt.Sprintf("%s/attempt-%d-%s", s.NodeDir(pipeline, runID, node), try, Seg(attemptID))
}

// Under says whether the manifest points at anything under the folder dir (a staged file, a
// table location): removing dir would break it.
func (m *Manifest) Under(dir string) bool {
	dir = strings.TrimSuffix(dir, "/") + "/"
	for _, f := range m.Files {
		if strings.HasPrefix(f.URI, dir) {
			return true
		}
	}
	return m.Table != nil && strings.HasPrefix(strings.TrimSuffix(m.Table.Location, "/")+"/", dir)
}

// Write stores the manifest at uri.
func Write(ctx context.Context, st *objstore.Store, uri string, m *Manifest) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	if err := st.Put(ctx, uri, strings.NewReader(string(b))); err != nil {
		return fmt.Errorf("write manifest %s: %w", uri, err)
	}
	return nil
}

// Read loads the manifest at uri.
func Read(ctx context.Context, st *objstore.Store, uri string) (*Manifest, error) {
	b, err := st.Get(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", uri, err)
	}
	return Unmarshal(b)
}
