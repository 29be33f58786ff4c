package featurestore

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestGoValueCoversMappedTypes: every Arrow type that upsert.go maps to a PostgreSQL column gets a
// value COPY can encode for that column, not a JSON string.
func TestGoValueCoversMappedTypes(t *testing.T) {
	mem := memory.DefaultAllocator
	f16 := array.NewFloat16Builder(mem)
	f16.Append(float16.New(1.5))
	lb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.LargeBinary)
	lb.Append([]byte{1, 2})
	d64 := array.NewDate64Builder(mem)
	d64.Append(arrow.Date64FromTime(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)))
	dec := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 10, Scale: 2})
	dec.Append(decimal128.FromI64(12345))
	for _, b := range []array.Builder{f16, lb, d64, dec} {
		defer b.Release()
	}
	cases := []struct {
		name string
		arr  arrow.Array
		ok   func(any) bool
	}{
		{"float16", f16.NewArray(), func(v any) bool { f, ok := v.(float32); return ok && f == 1.5 }},
		{"large_binary", lb.NewArray(), func(v any) bool { b, ok := v.([]byte); return ok && len(b) == 2 }},
		{"date64", d64.NewArray(), func(v any) bool { d, ok := v.(time.Time); return ok && d.Day() == 2 }},
		{"decimal128", dec.NewArray(), func(v any) bool {
			n, ok := v.(pgtype.Numeric)
			if !ok {
				return false
			}
			f, _ := n.Float64Value()
			return f.Float64 == 123.45
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer c.arr.Release()
			if v := goValue(c.arr, 0); !c.ok(v) {
				t.Fatalf("goValue = %#v (%T)", v, v)
			}
		})
	}
}
