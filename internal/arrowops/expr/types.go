package expr

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// IsInteger reports whether t is a signed or unsigned integer type.
func IsInteger(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// IsSigned reports whether t is a signed integer type.
func IsSigned(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return true
	}
	return false
}

// IsFloat reports whether t is float32 or float64.
func IsFloat(t arrow.DataType) bool { return t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64 }

// IsNumeric reports whether t is an integer or float type.
func IsNumeric(t arrow.DataType) bool { return IsInteger(t) || IsFloat(t) }

// IsString reports whether t is utf8 or large_utf8.
func IsString(t arrow.DataType) bool { return t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING }

// IsTemporal reports whether t is date32 or a timestamp.
func IsTemporal(t arrow.DataType) bool { return t.ID() == arrow.DATE32 || t.ID() == arrow.TIMESTAMP }

// IsOrdered reports whether min/max/sort/comparison are defined on t.
func IsOrdered(t arrow.DataType) bool {
	return IsNumeric(t) || IsString(t) || IsTemporal(t) || t.ID() == arrow.BOOL
}

func bitWidth(t arrow.DataType) int {
	if fw, ok := t.(arrow.FixedWidthDataType); ok {
		return fw.BitWidth()
	}
	return 0
}

// numericCommon is the type two numeric operands are promoted to: float64 if either is a float
// (float32 if both are float32), else the wider integer of the same signedness, else int64.
func numericCommon(a, b arrow.DataType) arrow.DataType {
	switch {
	case arrow.TypeEqual(a, b):
		return a
	case IsFloat(a) || IsFloat(b):
		return arrow.PrimitiveTypes.Float64
	case IsSigned(a) == IsSigned(b):
		if bitWidth(a) >= bitWidth(b) {
			return a
		}
		return b
	}
	return arrow.PrimitiveTypes.Int64
}

var timeUnitRank = map[arrow.TimeUnit]int{arrow.Second: 0, arrow.Millisecond: 1, arrow.Microsecond: 2, arrow.Nanosecond: 3}
