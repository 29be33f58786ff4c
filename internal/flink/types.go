package flink

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aiflow-dev/aiflow/fault"
)

// SQLType is the Flink SQL type a column of Arrow type dt is declared with when Flink reads it
// from JSON.
func SQLType(dt arrow.DataType) (string, error) {
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return "BOOLEAN", nil
	case *arrow.Int8Type:
		return "TINYINT", nil
	case *arrow.Int16Type, *arrow.Uint8Type:
		return "SMALLINT", nil
	case *arrow.Int32Type, *arrow.Uint16Type:
		return "INT", nil
	case *arrow.Int64Type, *arrow.Uint32Type:
		return "BIGINT", nil
	case *arrow.Uint64Type:
		return "DECIMAL(20, 0)", nil
	case *arrow.Float32Type:
		return "FLOAT", nil
	case *arrow.Float64Type:
		return "DOUBLE", nil
	case *arrow.StringType, *arrow.LargeStringType:
		return "STRING", nil
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		return "BYTES", nil
	case *arrow.Date32Type, *arrow.Date64Type:
		return "DATE", nil
	case *arrow.Decimal128Type:
		return fmt.Sprintf("DECIMAL(%d, %d)", t.Precision, t.Scale), nil
	case *arrow.TimestampType:
		p := map[arrow.TimeUnit]int{arrow.Second: 0, arrow.Millisecond: 3, arrow.Microsecond: 6, arrow.Nanosecond: 9}[t.Unit]
		if t.TimeZone != "" {
			return fmt.Sprintf("TIMESTAMP_LTZ(%d)", p), nil
		}
		return fmt.Sprintf("TIMESTAMP(%d)", p), nil
	case *arrow.DictionaryType:
		return SQLType(t.ValueType)
	}
	return "", fault.Configf("type %s has no Flink SQL counterpart the flink engine reads", dt)
}

var (
	typeArgs   = regexp.MustCompile(`^([A-Z_ ]+?)\s*(?:\((\d+)(?:\s*,\s*(\d+))?\))?(\s+WITH LOCAL TIME ZONE)?$`)
	typeMarker = regexp.MustCompile(`\s*\*(ROWTIME|PROCTIME)\*`)
)

// ArrowType is the Arrow type of a column Flink describes with the type string typ (as DESCRIBE
// prints it: "BIGINT NOT NULL", "DECIMAL(10, 2)", "TIMESTAMP(3) *ROWTIME*"), and whether the
// column is nullable.
func ArrowType(typ string) (arrow.DataType, bool, error) {
	s := strings.ToUpper(strings.TrimSpace(typeMarker.ReplaceAllString(typ, "")))
	nullable := true
	if strings.HasSuffix(s, " NOT NULL") {
		nullable = false
		s = strings.TrimSpace(strings.TrimSuffix(s, " NOT NULL"))
	}
	m := typeArgs.FindStringSubmatch(s)
	if m == nil {
		return nil, false, fault.Dataf("Flink type %s has no Arrow counterpart the flink engine stages (cast the column to a scalar type)", typ)
	}
	name, a1, a2, ltz := strings.TrimSpace(m[1]), m[2], m[3], m[4] != ""
	p := func(def int) int {
		if a1 == "" {
			return def
		}
		n, _ := strconv.Atoi(a1)
		return n
	}
	switch name {
	case "BOOLEAN":
		return arrow.FixedWidthTypes.Boolean, nullable, nil
	case "TINYINT":
		return arrow.PrimitiveTypes.Int8, nullable, nil
	case "SMALLINT":
		return arrow.PrimitiveTypes.Int16, nullable, nil
	case "INT", "INTEGER":
		return arrow.PrimitiveTypes.Int32, nullable, nil
	case "BIGINT":
		return arrow.PrimitiveTypes.Int64, nullable, nil
	case "FLOAT":
		return arrow.PrimitiveTypes.Float32, nullable, nil
	case "DOUBLE":
		return arrow.PrimitiveTypes.Float64, nullable, nil
	case "STRING", "VARCHAR", "CHAR":
		return arrow.BinaryTypes.String, nullable, nil
	case "BYTES", "VARBINARY", "BINARY":
		return arrow.BinaryTypes.Binary, nullable, nil
	case "DATE":
		return arrow.FixedWidthTypes.Date32, nullable, nil
	case "DECIMAL", "NUMERIC", "DEC":
		scale := 0
		if a2 != "" {
			scale, _ = strconv.Atoi(a2)
		}
		return &arrow.Decimal128Type{Precision: int32(p(10)), Scale: int32(scale)}, nullable, nil
	case "TIMESTAMP", "TIMESTAMP_LTZ":
		unit := arrow.Microsecond
		if p(6) > 6 {
			unit = arrow.Nanosecond
		}
		if name == "TIMESTAMP_LTZ" || ltz {
			return &arrow.TimestampType{Unit: unit, TimeZone: "UTC"}, nullable, nil
		}
		return &arrow.TimestampType{Unit: unit}, nullable, nil
	}
	return nil, false, fault.Dataf("Flink type %s has no Arrow counterpart the flink engine stages (cast the column to a scalar type)", typ)
}
