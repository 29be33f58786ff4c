package contract

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// declType is a parsed declared type. A nil dt with any set matches every type of its family
// ("timestamp" without a unit, "decimal" without precision); text types (nested ones) compare by
// their Arrow rendering.
type declType struct {
	dt     arrow.DataType
	anyTS  bool // "timestamp": any unit, any zone
	anyDec bool // "decimal": any precision and scale
	text   string
}

// primitives maps the Arrow type names a user may write (arrow-go's and pyarrow's spellings) to
// their types.
var primitives = map[string]arrow.DataType{
	"null": arrow.Null, "bool": arrow.FixedWidthTypes.Boolean, "boolean": arrow.FixedWidthTypes.Boolean,
	"int8": arrow.PrimitiveTypes.Int8, "int16": arrow.PrimitiveTypes.Int16, "int32": arrow.PrimitiveTypes.Int32, "int64": arrow.PrimitiveTypes.Int64,
	"uint8": arrow.PrimitiveTypes.Uint8, "uint16": arrow.PrimitiveTypes.Uint16, "uint32": arrow.PrimitiveTypes.Uint32, "uint64": arrow.PrimitiveTypes.Uint64,
	"float16": arrow.FixedWidthTypes.Float16, "halffloat": arrow.FixedWidthTypes.Float16,
	"float32": arrow.PrimitiveTypes.Float32, "float": arrow.PrimitiveTypes.Float32,
	"float64": arrow.PrimitiveTypes.Float64, "double": arrow.PrimitiveTypes.Float64,
	"string": arrow.BinaryTypes.String, "utf8": arrow.BinaryTypes.String,
	"large_string": arrow.BinaryTypes.LargeString, "large_utf8": arrow.BinaryTypes.LargeString,
	"binary": arrow.BinaryTypes.Binary, "large_binary": arrow.BinaryTypes.LargeBinary,
	"date32": arrow.FixedWidthTypes.Date32, "date32[day]": arrow.FixedWidthTypes.Date32,
	"date64": arrow.FixedWidthTypes.Date64, "date64[ms]": arrow.FixedWidthTypes.Date64,
}

var (
	tsRe  = regexp.MustCompile(`^timestamp\[(s|ms|us|ns)(?:,\s*tz=([^\]]+))?\]$`)
	decRe = regexp.MustCompile(`^decimal(?:128)?\(\s*(\d+)\s*,\s*(\d+)\s*\)$`)
)

var units = map[string]arrow.TimeUnit{"s": arrow.Second, "ms": arrow.Millisecond, "us": arrow.Microsecond, "ns": arrow.Nanosecond}

// parseType reads a declared type name.
func parseType(s string) (declType, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if dt, ok := primitives[t]; ok {
		return declType{dt: dt}, nil
	}
	switch t {
	case "timestamp":
		return declType{anyTS: true}, nil
	case "decimal", "decimal128":
		return declType{anyDec: true}, nil
	}
	if m := tsRe.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
		return declType{dt: &arrow.TimestampType{Unit: units[m[1]], TimeZone: m[2]}}, nil
	}
	if m := decRe.FindStringSubmatch(t); m != nil {
		p, _ := strconv.Atoi(m[1])
		sc, _ := strconv.Atoi(m[2])
		if p < 1 || p > 38 || sc > p {
			return declType{}, fmt.Errorf("type %q: decimal precision must be 1..38 and scale at most the precision", s)
		}
		return declType{dt: &arrow.Decimal128Type{Precision: int32(p), Scale: int32(sc)}}, nil
	}
	for _, prefix := range []string{"list<", "large_list<", "struct<", "map<", "fixed_size_list<", "fixed_size_binary["} {
		if strings.HasPrefix(t, prefix) {
			return declType{text: strings.TrimSpace(s)}, nil
		}
	}
	return declType{}, fmt.Errorf("type %q is not an Arrow type name (int8..int64, uint8..uint64, float32, float64, bool, string, large_string, binary, date32, date64, timestamp[us, tz=UTC], timestamp, decimal128(18, 2), or a nested type as Arrow prints it)", s)
}

// Satisfies reports whether a column of type actual meets the declared type: the same type, or
// one that widens to it without loss (see widens). Dictionary-encoded columns are judged by their
// value type.
func (d declType) satisfies(actual arrow.DataType) bool {
	if dict, ok := actual.(*arrow.DictionaryType); ok {
		actual = dict.ValueType
	}
	switch {
	case d.anyTS:
		return actual.ID() == arrow.TIMESTAMP
	case d.anyDec:
		return actual.ID() == arrow.DECIMAL128 || actual.ID() == arrow.DECIMAL256
	case d.text != "":
		return strings.EqualFold(strings.ReplaceAll(actual.String(), " ", ""), strings.ReplaceAll(d.text, " ", ""))
	case d.dt == nil:
		return false
	}
	return arrow.TypeEqual(actual, d.dt) || widens(actual, d.dt)
}

// widens reports whether every value of type from is exactly representable in type to: the safe
// widenings a reader of the declared type can apply without losing data.
//
//   - a signed integer to a wider signed integer; an unsigned one to a wider unsigned one, or to a
//     signed one of more bits;
//   - an integer of at most 16 bits to float32, of at most 32 bits to float64; float16 to float32
//     to float64;
//   - string to large_string, binary to large_binary, date32 to date64;
//   - a timestamp to a finer unit with the same time zone (s → ms → us → ns);
//   - decimal(p, s) to decimal(p', s') with s' ≥ s and p'−s' ≥ p−s.
//
// Nothing narrows, and nothing changes family (no int64 to float64: not every int64 is a float64).
func widens(from, to arrow.DataType) bool {
	fb, fInt, fSigned := intInfo(from)
	tb, tInt, tSigned := intInfo(to)
	switch {
	case fInt && tInt:
		if fSigned == tSigned {
			return tb > fb
		}
		return !fSigned && tSigned && tb > fb
	case fInt && to.ID() == arrow.FLOAT32:
		return fb <= 16
	case fInt && to.ID() == arrow.FLOAT64:
		return fb <= 32
	}
	switch from.ID() {
	case arrow.FLOAT16:
		return to.ID() == arrow.FLOAT32 || to.ID() == arrow.FLOAT64
	case arrow.FLOAT32:
		return to.ID() == arrow.FLOAT64
	case arrow.STRING:
		return to.ID() == arrow.LARGE_STRING
	case arrow.BINARY:
		return to.ID() == arrow.LARGE_BINARY
	case arrow.DATE32:
		return to.ID() == arrow.DATE64
	case arrow.TIMESTAMP:
		ft, _ := from.(*arrow.TimestampType)
		tt, ok := to.(*arrow.TimestampType)
		return ok && ft != nil && ft.TimeZone == tt.TimeZone && tt.Unit >= ft.Unit
	case arrow.DECIMAL128:
		fd, _ := from.(*arrow.Decimal128Type)
		td, ok := to.(*arrow.Decimal128Type)
		return ok && fd != nil && td.Scale >= fd.Scale && td.Precision-td.Scale >= fd.Precision-fd.Scale
	}
	return false
}

func intInfo(t arrow.DataType) (bits int, isInt, signed bool) {
	switch t.ID() {
	case arrow.INT8:
		return 8, true, true
	case arrow.INT16:
		return 16, true, true
	case arrow.INT32:
		return 32, true, true
	case arrow.INT64:
		return 64, true, true
	case arrow.UINT8:
		return 8, true, false
	case arrow.UINT16:
		return 16, true, false
	case arrow.UINT32:
		return 32, true, false
	case arrow.UINT64:
		return 64, true, false
	}
	return 0, false, false
}

// TypeKnown reports whether name is a type name output_schema accepts (for validate).
func TypeKnown(name string) error {
	_, err := parseType(name)
	return err
}
