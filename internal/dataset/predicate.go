package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/aiflow-dev/aiflow/fault"
)

// Op is a comparison of a Predicate.
type Op string

const (
	Eq Op = "="
	Ne Op = "!="
	Lt Op = "<"
	Le Op = "<="
	Gt Op = ">"
	Ge Op = ">="
	In Op = "in"
)

// Predicate is a simple condition on one column: `Column Op Value`, or `Column in Values`.
// Values may be Go numbers, json.Number, strings, bools or time.Time; they are converted to the
// column's type (a string "2024-01-01" for a date or timestamp column).
//
// Predicates PRUNE: Parquet row groups whose column statistics prove that no row can match are
// skipped, and so are partitions whose value cannot match. Rows of what is kept are returned
// unfiltered; a consumer that needs exact results still filters.
type Predicate struct {
	Column string
	Op     Op
	Value  any
	Values []any // for In
}

func (p Predicate) String() string {
	if p.Op == In {
		return fmt.Sprintf("%s in %v", p.Column, p.Values)
	}
	return fmt.Sprintf("%s %s %v", p.Column, p.Op, p.Value)
}

func (p Predicate) validate() error {
	switch p.Op {
	case Eq, Ne, Lt, Le, Gt, Ge:
		if p.Value == nil {
			return fault.Configf("predicate %s: no value", p)
		}
	case In:
		if len(p.Values) == 0 {
			return fault.Configf("predicate %s: no values", p)
		}
	default:
		return fault.Configf("predicate on %s: unknown operator %q", p.Column, p.Op)
	}
	return nil
}

func (p Predicate) values() []any {
	if p.Op == In {
		return p.Values
	}
	return []any{p.Value}
}

// mayMatch reports whether some value in [lo, hi] can satisfy p; cmp compares a predicate value
// (already coerced) with a bound. ok=false means "cannot tell": keep.
func (p Predicate) mayMatch(vals []any, lo, hi any) bool {
	for _, v := range vals {
		cl, ok1 := compare(lo, v)
		ch, ok2 := compare(hi, v)
		if !ok1 || !ok2 {
			return true
		}
		var m bool
		switch p.Op {
		case Eq, In:
			m = cl <= 0 && ch >= 0
		case Ne:
			m = !(cl == 0 && ch == 0)
		case Lt:
			m = cl < 0
		case Le:
			m = cl <= 0
		case Gt:
			m = ch > 0
		case Ge:
			m = ch >= 0
		}
		if m {
			return true
		}
	}
	return false
}

// compare orders two coerced values of the same kind (int64, float64, string, bool).
func compare(a, b any) (int, bool) {
	switch a := a.(type) {
	case int64:
		switch b := b.(type) {
		case int64:
			return cmp3(a, b), true
		case float64:
			if math.IsNaN(b) {
				return 0, false
			}
			return cmp3(float64(a), b), true
		}
	case float64:
		if math.IsNaN(a) {
			return 0, false
		}
		switch b := b.(type) {
		case float64:
			if math.IsNaN(b) {
				return 0, false
			}
			return cmp3(a, b), true
		case int64:
			return cmp3(a, float64(b)), true
		}
	case string:
		if b, ok := b.(string); ok {
			return strings.Compare(a, b), true
		}
	case bool:
		if b, ok := b.(bool); ok {
			return cmp3(btoi(a), btoi(b)), true
		}
	}
	return 0, false
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmp3[T int | int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// coerce converts a predicate value to the comparison domain of an Arrow type (int64 for integers,
// dates and timestamps in the column's unit; float64; string; bool).
func coerce(v any, dt arrow.DataType) (any, bool) {
	if n, ok := v.(json.Number); ok {
		v = n.String()
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			v = i
		} else if f, err := strconv.ParseFloat(string(n), 64); err == nil {
			v = f
		}
	}
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return toInt(v)
	case arrow.FLOAT32, arrow.FLOAT64:
		return toFloat(v)
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		s, ok := v.(string)
		return s, ok
	case arrow.BOOL:
		switch b := v.(type) {
		case bool:
			return b, true
		case string:
			x, err := strconv.ParseBool(b)
			return x, err == nil
		}
	case arrow.DATE32:
		switch t := v.(type) {
		case time.Time:
			return t.Unix() / 86400, true
		case string:
			d, err := time.Parse("2006-01-02", t)
			return d.Unix() / 86400, err == nil
		}
	case arrow.TIMESTAMP:
		ts := dt.(*arrow.TimestampType)
		switch t := v.(type) {
		case time.Time:
			x, err := arrow.TimestampFromTime(t, ts.Unit)
			return int64(x), err == nil
		case string:
			x, err := arrow.TimestampFromString(t, ts.Unit)
			return int64(x), err == nil
		}
	}
	return nil, false
}

func toInt(v any) (any, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case float64:
		return x, true // compared as float: 2.5 against int stats is fine
	case float32:
		return float64(x), true
	case string:
		i, err := strconv.ParseInt(x, 10, 64)
		return i, err == nil
	}
	return nil, false
}

func toFloat(v any) (any, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	if i, ok := toInt(v); ok {
		if n, isInt := i.(int64); isInt {
			return float64(n), true
		}
		return i, true
	}
	return nil, false
}

// statsBounds returns the min and max of a column chunk in the comparison domain of dt.
func statsBounds(st metadata.TypedStatistics, dt arrow.DataType) (lo, hi any, ok bool) {
	if st == nil || !st.HasMinMax() {
		return nil, nil, false
	}
	switch s := st.(type) {
	case *metadata.Int32Statistics:
		switch dt.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.DATE32:
			return int64(s.Min()), int64(s.Max()), true
		}
	case *metadata.Int64Statistics:
		switch dt.ID() {
		case arrow.INT64, arrow.TIMESTAMP:
			return s.Min(), s.Max(), true
		}
	case *metadata.Float32Statistics:
		return float64(s.Min()), float64(s.Max()), true
	case *metadata.Float64Statistics:
		return s.Min(), s.Max(), true
	case *metadata.BooleanStatistics:
		return s.Min(), s.Max(), true
	case *metadata.ByteArrayStatistics:
		switch dt.ID() {
		case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
			return string(bytes.Clone(s.Min())), string(bytes.Clone(s.Max())), true
		}
	}
	return nil, nil, false
}
