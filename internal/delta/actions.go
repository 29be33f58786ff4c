// Package delta reads and writes Delta Lake tables (the open table format Spark, delta-rs,
// Polars, DuckDB and Trino read) on file:// and s3:// through internal/objstore, following the
// Delta transaction log protocol (PROTOCOL.md of delta-io/delta):
//
//   - a table is a folder of Parquet data files plus `_delta_log/`, a log of numbered commits
//     (`00000000000000000007.json`, one action per line) and Parquet checkpoints that sum up the
//     log up to a version (`…10.checkpoint.parquet`, pointed to by `_last_checkpoint`);
//   - a snapshot replays the newest checkpoint and the commits after it: the protocol, the
//     metadata (schema, partition columns), the live `add` files and the `txn` application ids;
//   - a writer writes its data files first (invisible until committed), then creates the next
//     commit file with put-if-absent: of two concurrent writers exactly one gets a version, the
//     other re-reads the log and tries the next one;
//   - a `txn` action with an application id derived from pipeline/run/node makes a retried write
//     a no-op: the retry finds its id in the snapshot and publishes nothing.
//
// Tables that need reader features this package does not implement (deletion vectors, column
// mapping, v2 checkpoints, …) are refused with fault.Data, never misread.
package delta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Protocol is the `protocol` action: the reader and writer versions (and features) a client
// must support.
type Protocol struct {
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures,omitempty"`
	WriterFeatures   []string `json:"writerFeatures,omitempty"`
}

// Format is the data file format of a table (always parquet).
type Format struct {
	Provider string    `json:"provider"`
	Options  StringMap `json:"options"`
}

// Metadata is the `metaData` action.
type Metadata struct {
	ID               string    `json:"id"`
	Name             *string   `json:"name,omitempty"`
	Description      *string   `json:"description,omitempty"`
	Format           Format    `json:"format"`
	SchemaString     string    `json:"schemaString"`
	PartitionColumns []string  `json:"partitionColumns"`
	Configuration    StringMap `json:"configuration"`
	CreatedTime      *int64    `json:"createdTime,omitempty"`
}

// Add is the `add` action: a data file that is part of the table.
type Add struct {
	Path string `json:"path"` // RFC 2396 URI, relative to the table root (or absolute)
	// PartitionValues maps every partition column to its value; nil is a null partition value.
	PartitionValues  NullableStringMap `json:"partitionValues"`
	Size             int64             `json:"size"`
	ModificationTime int64             `json:"modificationTime"`
	DataChange       bool              `json:"dataChange"`
	Stats            string            `json:"stats,omitempty"`
	Tags             StringMap         `json:"tags,omitempty"`
	// DeletionVector is kept raw: a file with one is refused (see Snapshot.CheckRead).
	DeletionVector          json.RawMessage `json:"deletionVector,omitempty"`
	BaseRowID               *int64          `json:"baseRowId,omitempty"`
	DefaultRowCommitVersion *int64          `json:"defaultRowCommitVersion,omitempty"`
}

// Remove is the `remove` action: a data file that left the table (kept as a tombstone).
type Remove struct {
	Path                 string            `json:"path"`
	DeletionTimestamp    int64             `json:"deletionTimestamp"`
	DataChange           bool              `json:"dataChange"`
	ExtendedFileMetadata bool              `json:"extendedFileMetadata"`
	PartitionValues      NullableStringMap `json:"partitionValues,omitempty"`
	Size                 int64             `json:"size,omitempty"`
	DeletionVector       json.RawMessage   `json:"deletionVector,omitempty"`
}

// Txn is the `txn` action: the latest version an application committed to the table.
type Txn struct {
	AppID       string `json:"appId"`
	Version     int64  `json:"version"`
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

// Action is one line of a commit file: exactly one of its fields is set.
type Action struct {
	Protocol   *Protocol      `json:"protocol,omitempty"`
	MetaData   *Metadata      `json:"metaData,omitempty"`
	Add        *Add           `json:"add,omitempty"`
	Remove     *Remove        `json:"remove,omitempty"`
	Txn        *Txn           `json:"txn,omitempty"`
	CommitInfo map[string]any `json:"commitInfo,omitempty"`
	// Actions this package does not act on but must recognise (their features are checked on
	// the protocol): change data, domain metadata, v2 checkpoint pieces.
	CDC                json.RawMessage `json:"cdc,omitempty"`
	DomainMetadata     json.RawMessage `json:"domainMetadata,omitempty"`
	CheckpointMetadata json.RawMessage `json:"checkpointMetadata,omitempty"`
	Sidecar            json.RawMessage `json:"sidecar,omitempty"`
}

// StringMap is a map<string,string> that also decodes from a checkpoint's list of {key, value}
// entries (how Arrow renders a Parquet map as JSON).
type StringMap map[string]string

// UnmarshalJSON accepts {"k": "v"} and [{"key": "k", "value": "v"}].
func (m *StringMap) UnmarshalJSON(b []byte) error {
	var n NullableStringMap
	if err := n.UnmarshalJSON(b); err != nil {
		return err
	}
	if n == nil {
		*m = nil
		return nil
	}
	out := make(StringMap, len(n))
	for k, v := range n {
		if v != nil {
			out[k] = *v
		}
	}
	*m = out
	return nil
}

// NullableStringMap is a map<string,string> whose values may be null (partition values).
type NullableStringMap map[string]*string

// UnmarshalJSON accepts {"k": "v"|null} and [{"key": "k", "value": "v"|null}].
func (m *NullableStringMap) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*m = nil
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var kvs []struct {
			Key   string  `json:"key"`
			Value *string `json:"value"`
		}
		if err := json.Unmarshal(b, &kvs); err != nil {
			return err
		}
		out := make(NullableStringMap, len(kvs))
		for _, kv := range kvs {
			out[kv.Key] = kv.Value
		}
		*m = out
		return nil
	}
	var raw map[string]*string
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = raw
	return nil
}

// Values returns the non-null values and the names of the null ones (sorted).
func (m NullableStringMap) Values() (vals map[string]string, nulls []string) {
	vals = make(map[string]string, len(m))
	for k, v := range m {
		if v == nil || *v == "" {
			// An empty string is a null partition value too (Partition Value Serialization).
			nulls = append(nulls, k)
			vals[k] = ""
			continue
		}
		vals[k] = *v
	}
	sort.Strings(nulls)
	return vals, nulls
}

// encodeActions renders actions as newline-delimited JSON, one action per line.
func encodeActions(actions []Action) ([]byte, error) {
	var buf bytes.Buffer
	for _, a := range actions {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("encode delta action: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}
