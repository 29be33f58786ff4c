package delta

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// Stats is the per-file statistics JSON of an add action: readers (Spark, delta-rs, Polars)
// skip files whose [min, max] cannot match a predicate.
type Stats struct {
	NumRecords int64          `json:"numRecords"`
	MinValues  map[string]any `json:"minValues,omitempty"`
	MaxValues  map[string]any `json:"maxValues,omitempty"`
	NullCount  map[string]any `json:"nullCount,omitempty"`
}

// maxStatChars bounds the string min/max recorded: a longer value is left out rather than cut
// (a cut max would be smaller than the real one and make readers skip a matching file).
const maxStatChars = 32

// FileStats reads a written Parquet file's footer and sums up its row groups' statistics for
// the top-level primitive columns of schema (data columns only: partition columns are not in
// the file). Only bounds that are exact in Delta's JSON are recorded: integers, floats (no
// NaN), dates, booleans and short strings; timestamps and decimals get null counts only.
func FileStats(ctx context.Context, st *objstore.Store, uri string, schema *Schema) (string, error) {
	r, err := st.NewReader(ctx, uri)
	if err != nil {
		return "", err
	}
	defer r.Close()
	pf, err := file.NewParquetReader(r, file.WithReadProps(parquet.NewReaderProperties(memory.DefaultAllocator)))
	if err != nil {
		return "", fmt.Errorf("read footer of %s: %w", uri, err)
	}
	defer pf.Close()
	md := pf.MetaData()
	s := Stats{NumRecords: md.NumRows, MinValues: map[string]any{}, MaxValues: map[string]any{}, NullCount: map[string]any{}}
	for _, f := range schema.Fields {
		if f.Type.Kind != "" {
			continue
		}
		leaf := md.Schema.ColumnIndexByName(f.Name)
		if leaf < 0 {
			continue
		}
		var nulls int64
		nullsKnown, boundsKnown := true, true
		var lo, hi any
		for i := 0; i < md.NumRowGroups(); i++ {
			cc, err := md.RowGroup(i).ColumnChunk(leaf)
			if err != nil {
				nullsKnown, boundsKnown = false, false
				break
			}
			ts, err := cc.Statistics()
			if err != nil || ts == nil {
				nullsKnown, boundsKnown = false, false
				break
			}
			if ts.HasNullCount() {
				nulls += ts.NullCount()
			} else {
				nullsKnown = false
			}
			if cc.NumValues() == ts.NullCount() && ts.HasNullCount() {
				continue // all null in this row group: no bounds, nothing to widen
			}
			l, h, ok := bounds(ts, f.Type.Primitive)
			if !ok {
				boundsKnown = false
				continue
			}
			if lo == nil || less(l, lo) {
				lo = l
			}
			if hi == nil || less(hi, h) {
				hi = h
			}
		}
		if nullsKnown {
			s.NullCount[f.Name] = nulls
		}
		if boundsKnown && lo != nil {
			s.MinValues[f.Name], s.MaxValues[f.Name] = render(lo, f.Type.Primitive), render(hi, f.Type.Primitive)
		}
	}
	b, err := json.Marshal(s)
	return string(b), err
}

// bounds returns a row group's min and max in a comparable Go value: int64, float64, bool or
// string.
func bounds(ts metadata.TypedStatistics, typ string) (lo, hi any, ok bool) {
	if !ts.HasMinMax() {
		return nil, nil, false
	}
	switch s := ts.(type) {
	case *metadata.Int32Statistics:
		switch typ {
		case "integer", "short", "byte", "date":
			return int64(s.Min()), int64(s.Max()), true
		}
	case *metadata.Int64Statistics:
		if typ == "long" {
			return s.Min(), s.Max(), true
		}
	case *metadata.Float32Statistics:
		if typ == "float" && !math.IsNaN(float64(s.Min())) && !math.IsNaN(float64(s.Max())) {
			return float64(s.Min()), float64(s.Max()), true
		}
	case *metadata.Float64Statistics:
		if typ == "double" && !math.IsNaN(s.Min()) && !math.IsNaN(s.Max()) {
			return s.Min(), s.Max(), true
		}
	case *metadata.BooleanStatistics:
		if typ == "boolean" {
			return s.Min(), s.Max(), true
		}
	case *metadata.ByteArrayStatistics:
		if typ == "string" {
			lo, hi := string(s.Min()), string(s.Max())
			if utf8.RuneCountInString(lo) <= maxStatChars && utf8.RuneCountInString(hi) <= maxStatChars && utf8.ValidString(lo) && utf8.ValidString(hi) {
				return lo, hi, true
			}
		}
	}
	return nil, nil, false
}

func less(a, b any) bool {
	switch x := a.(type) {
	case int64:
		return x < b.(int64)
	case float64:
		return x < b.(float64)
	case bool:
		return !x && b.(bool)
	case string:
		return x < b.(string)
	}
	return false
}

func render(v any, typ string) any {
	if typ == "date" {
		return time.Unix(v.(int64)*86400, 0).UTC().Format("2006-01-02")
	}
	return v
}
