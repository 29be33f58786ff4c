package flink_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// typedBatch is one row of every scalar type the engine hands to Flink and back, and a row of
// nulls.
func typedBatch(t *testing.T) arrow.RecordBatch {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "tsz", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	when := time.Date(2024, 5, 1, 12, 34, 56, 789000000, time.UTC)
	b.Field(0).(*array.Int32Builder).AppendValues([]int32{-7, 0}, []bool{true, false})
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{1 << 40, 0}, []bool{true, false})
	b.Field(2).(*array.Float64Builder).AppendValues([]float64{2.5, 0}, []bool{true, false})
	b.Field(3).(*array.StringBuilder).AppendValues([]string{`quote ' "and" \ back`, ""}, []bool{true, false})
	b.Field(4).(*array.BooleanBuilder).AppendValues([]bool{true, false}, []bool{true, false})
	b.Field(5).(*array.Date32Builder).AppendValues([]arrow.Date32{arrow.Date32FromTime(when), 0}, []bool{true, false})
	b.Field(6).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{arrow.Timestamp(when.UnixMicro()), 0}, []bool{true, false})
	b.Field(7).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{arrow.Timestamp(when.UnixMicro()), 0}, []bool{true, false})
	b.Field(8).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(-12345), {}}, []bool{true, false})
	return b.NewRecordBatch()
}

const handoverPipeline = `api_version: aiflow/v1
pipeline: {id: flink_types, schedule: null, owner: t, env: dev}
nodes:
  - id: typed
    source: files
    with: {path: "@IN@", format: parquet}
  - id: same
    transform: flink
    inputs: [typed]
    with: {sql: "SELECT * FROM typed"}
  - id: out
    sink: files
    inputs: [same]
    with: {path: "@OUT@", mode: overwrite}
`

// A Parquet input (which Flink has no format for here) reaches Flink as its pinned rows and comes
// back as the same values of the same types, nulls included: every scalar type survives the
// round trip through Flink's JSON.
func TestHandOverKeepsTypesAndValues(t *testing.T) {
	w := newWorkspace(t)
	ctx := context.Background()
	st := objstore.New(objstore.Options{})
	in, out := filepath.Join(w.dir, "in"), filepath.Join(w.dir, "out")
	rec := typedBatch(t)
	defer rec.Release()
	rr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.WriteFiles(ctx, st, "file://"+in, rr, dataset.WriteOptions{Format: dataset.Parquet}); err != nil {
		t.Fatal(err)
	}
	spec := w.write("p.yaml", strings.NewReplacer("@IN@", in, "@OUT@", out).Replace(handoverPipeline))
	if r := w.run("run", "--pipeline", "flink_types", "--all", "--ir", spec, "--run-id", "r1"); r.code != 0 {
		t.Fatalf("run: %d\n%s", r.code, r.stderr)
	}
	ds, err := dataset.Open(ctx, st, "file://"+out, dataset.ReadOptions{Format: dataset.Parquet})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ds.Reader(ctx, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	var rows int64
	for got.Next() {
		g := got.RecordBatch()
		for i, f := range rec.Schema().Fields() {
			gf := g.Schema().Field(i)
			if gf.Name != f.Name || !arrow.TypeEqual(gf.Type, f.Type) {
				t.Errorf("column %d: got %s %s, want %s %s", i, gf.Name, gf.Type, f.Name, f.Type)
				continue
			}
			for r := 0; r < int(g.NumRows()); r++ {
				if gv, wv := g.Column(i).ValueStr(r), rec.Column(i).ValueStr(int(rows)+r); gv != wv {
					t.Errorf("%s row %d: got %q, want %q", f.Name, int(rows)+r, gv, wv)
				}
			}
		}
		rows += g.NumRows()
	}
	if err := got.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != 2 {
		t.Fatalf("%d rows, want 2", rows)
	}
}
