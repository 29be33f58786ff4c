// Package dataset reads and writes tabular data (Parquet, CSV, NDJSON, Arrow IPC) on an objstore
// as streams of Arrow record batches: one file, a folder, or a Hive-partitioned folder
// (dt=2024-01-01/country=NL/part-0.parquet). Reads stream file after file and batch after batch;
// writes keep a bounded number of files open. Nothing holds a whole dataset in memory.
package dataset

import (
	"path"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
)

// Format is a file format.
type Format string

const (
	Parquet Format = "parquet"
	CSV     Format = "csv"
	NDJSON  Format = "ndjson"
	IPC     Format = "ipc" // Arrow IPC, file (Feather v2) or stream format, told apart by the magic bytes
)

// ParseFormat accepts a format name as written in a spec (case-insensitive; "json", "jsonl",
// "arrow", "feather" are aliases). The empty string is returned as "" (detect from extensions).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "parquet", "pq":
		return Parquet, nil
	case "csv":
		return CSV, nil
	case "ndjson", "jsonl", "json":
		return NDJSON, nil
	case "ipc", "arrow", "arrows", "feather":
		return IPC, nil
	}
	return "", fault.Configf("unknown format %q (want parquet, csv, ndjson or ipc)", s)
}

// FormatOf guesses a file's format from its extension (a trailing .gz is looked through).
func FormatOf(uri string) (Format, bool) {
	ext := strings.ToLower(path.Ext(strings.TrimSuffix(uri, ".gz")))
	switch ext {
	case ".parquet", ".pq", ".parq":
		return Parquet, true
	case ".csv":
		return CSV, true
	case ".ndjson", ".jsonl", ".json":
		return NDJSON, true
	case ".arrow", ".arrows", ".ipc", ".feather":
		return IPC, true
	}
	return "", false
}

func (f Format) ext() string {
	switch f {
	case CSV:
		return ".csv"
	case NDJSON:
		return ".ndjson"
	case IPC:
		return ".arrow"
	}
	return ".parquet"
}
