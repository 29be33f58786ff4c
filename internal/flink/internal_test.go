package flink

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aiflow-dev/aiflow/fault"
)

func TestArrowType(t *testing.T) {
	for _, tc := range []struct {
		in       string
		want     arrow.DataType
		nullable bool
	}{
		{"BIGINT NOT NULL", arrow.PrimitiveTypes.Int64, false},
		{"INT", arrow.PrimitiveTypes.Int32, true},
		{"STRING", arrow.BinaryTypes.String, true},
		{"VARCHAR(2147483647)", arrow.BinaryTypes.String, true},
		{"CHAR(3) NOT NULL", arrow.BinaryTypes.String, false},
		{"DECIMAL(38, 2)", &arrow.Decimal128Type{Precision: 38, Scale: 2}, true},
		{"DECIMAL(10)", &arrow.Decimal128Type{Precision: 10}, true},
		{"TIMESTAMP(3) *ROWTIME*", &arrow.TimestampType{Unit: arrow.Microsecond}, true},
		{"TIMESTAMP(9)", &arrow.TimestampType{Unit: arrow.Nanosecond}, true},
		{"TIMESTAMP_LTZ(3)", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, true},
		{"TIMESTAMP(6) WITH LOCAL TIME ZONE NOT NULL", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, false},
		{"DATE", arrow.FixedWidthTypes.Date32, true},
		{"BYTES", arrow.BinaryTypes.Binary, true},
		{"BOOLEAN", arrow.FixedWidthTypes.Boolean, true},
		{"DOUBLE", arrow.PrimitiveTypes.Float64, true},
	} {
		got, nullable, err := ArrowType(tc.in)
		if err != nil || !arrow.TypeEqual(got, tc.want) || nullable != tc.nullable {
			t.Errorf("%s: %v %v %v, want %v %v", tc.in, got, nullable, err, tc.want, tc.nullable)
		}
	}
	for _, bad := range []string{"ARRAY<INT>", "MAP<STRING, INT>", "ROW<a INT>", "TIME(0)", "RAW('x')"} {
		if _, _, err := ArrowType(bad); fault.ClassOf(err) != fault.Data {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// Every type SQLType declares comes back as itself (or its widening) from ArrowType.
func TestSQLTypeRoundTrip(t *testing.T) {
	for _, dt := range []arrow.DataType{
		arrow.FixedWidthTypes.Boolean, arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16,
		arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float32,
		arrow.PrimitiveTypes.Float64, arrow.BinaryTypes.String, arrow.BinaryTypes.Binary,
		arrow.FixedWidthTypes.Date32, &arrow.Decimal128Type{Precision: 12, Scale: 3},
		&arrow.TimestampType{Unit: arrow.Microsecond}, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
	} {
		s, err := SQLType(dt)
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		back, _, err := ArrowType(s)
		if err != nil || !arrow.TypeEqual(back, dt) {
			t.Errorf("%s -> %s -> %v (%v)", dt, s, back, err)
		}
	}
	if _, err := SQLType(arrow.ListOf(arrow.PrimitiveTypes.Int64)); fault.ClassOf(err) != fault.Config {
		t.Errorf("list: %v", err)
	}
}

func TestOptionsQuoteLiterals(t *testing.T) {
	got := options(map[string]string{"path": "file:///tmp/it's", "connector": "filesystem"})
	if want := `'connector' = 'filesystem', 'path' = 'file:///tmp/it''s'`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestLocalDir(t *testing.T) {
	if d, err := localDir("file:///var/staging/p/r/n/attempt-1-x"); err != nil || d != "/var/staging/p/r/n/attempt-1-x" {
		t.Errorf("file: %q %v", d, err)
	}
	if _, err := localDir("s3://bucket/staging"); fault.ClassOf(err) != fault.Config {
		t.Errorf("s3: %v", err)
	}
}
