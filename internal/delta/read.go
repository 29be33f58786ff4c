package delta

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
)

// Scan is what a reader of a snapshot reads: the live data files that match a partition filter,
// as dataset files (partition values from the log, never from the paths), and the Arrow types of
// the partition columns.
type Scan struct {
	Files          []dataset.FileInfo
	PartitionTypes map[string]arrow.DataType
	Rows           int64 // from the files' stats; -1 when a file has none
}

// Scan selects the files whose partition values equal filter (column → value; a filter on a
// column that is not a partition column is fault.Config). Values compare by the column's type,
// so "7" matches a long partition stored as "07" and a date matches its ISO form.
func (s *Snapshot) Scan(filter map[string]string) (*Scan, error) {
	if err := s.CheckRead(); err != nil {
		return nil, err
	}
	parts := s.Metadata.PartitionColumns
	types := map[string]arrow.DataType{}
	kinds := map[string]string{}
	for _, k := range parts {
		f, ok := s.Schema.Field(k)
		if !ok {
			return nil, fault.Dataf("delta table %s: partition column %s is not in the schema", s.Table.uri, k)
		}
		dt, err := f.Type.ArrowType()
		if err != nil {
			return nil, fault.Wrap(fault.Data, err, "delta table %s: partition column %s", s.Table.uri, k)
		}
		types[k], kinds[k] = dt, f.Type.Primitive
	}
	for k := range filter {
		if _, ok := types[k]; !ok {
			return nil, fault.Configf("delta table %s: %s is not a partition column (partition columns: [%s])", s.Table.uri, k, strings.Join(parts, ", "))
		}
	}
	out := &Scan{PartitionTypes: types}
	for _, a := range s.Files() {
		vals, nulls := a.PartitionValues.Values()
		keep := true
		for k, want := range filter {
			if v, ok := vals[k]; !ok || slicesContains(nulls, k) || !sameValue(kinds[k], v, want) {
				keep = false
				break
			}
		}
		if !keep {
			continue
		}
		fi := dataset.FileInfo{URI: s.Table.FileURI(a.Path), Size: a.Size}
		if len(parts) > 0 {
			fi.Partition = map[string]string{}
			for _, k := range parts {
				fi.Partition[k] = vals[k]
			}
			fi.NullPartitions = nulls
		}
		out.Files = append(out.Files, fi)
		if out.Rows >= 0 {
			var st struct {
				NumRecords *int64 `json:"numRecords"`
			}
			if a.Stats == "" || json.Unmarshal([]byte(a.Stats), &st) != nil || st.NumRecords == nil {
				out.Rows = -1
			} else {
				out.Rows += *st.NumRecords
			}
		}
	}
	return out, nil
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// sameValue compares a partition value with a filter value in the column's type.
func sameValue(kind, v, want string) bool {
	if v == want {
		return true
	}
	switch kind {
	case "long", "integer", "short", "byte":
		a, err1 := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		b, err2 := strconv.ParseInt(strings.TrimSpace(want), 10, 64)
		return err1 == nil && err2 == nil && a == b
	case "float", "double":
		a, err1 := strconv.ParseFloat(v, 64)
		b, err2 := strconv.ParseFloat(want, 64)
		return err1 == nil && err2 == nil && a == b
	case "boolean":
		return strings.EqualFold(v, want)
	case "date":
		a, err1 := time.Parse("2006-01-02", v)
		b, err2 := time.Parse("2006-01-02", want)
		return err1 == nil && err2 == nil && a.Equal(b)
	case "timestamp", "timestamp_ntz":
		a, ok1 := parseTS(v)
		b, ok2 := parseTS(want)
		return ok1 && ok2 && a.Equal(b)
	}
	return false
}

func parseTS(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// ReadOptions are the dataset options that read a Scan's files: Parquet, partition columns typed
// by the table schema.
func (sc *Scan) ReadOptions(columns []string) dataset.ReadOptions {
	return dataset.ReadOptions{Format: dataset.Parquet, PartitionTypes: sc.PartitionTypes, Columns: columns}
}

// Open is a shortcut for tests and tools: the newest snapshot's files matching filter, opened as
// a dataset.
func Open(ctx context.Context, t *Table, filter map[string]string) (*dataset.Dataset, *Snapshot, error) {
	s, err := t.Latest(ctx)
	if err != nil {
		return nil, nil, err
	}
	sc, err := s.Scan(filter)
	if err != nil {
		return nil, nil, err
	}
	if len(sc.Files) == 0 {
		return nil, s, nil
	}
	ds, err := dataset.OpenFiles(ctx, t.st, sc.Files, sc.ReadOptions(nil))
	return ds, s, err
}
