package dataset_test

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/aiflow-dev/aiflow/internal/dataset"
)

// Dictionary-encoded string columns are read as dictionaries and expanded (dict.go): the rows
// must be exactly those written, with nulls, whatever the batch size against row groups whose
// dictionaries differ, and the schema stays string.
func TestDictionaryStringsReadBack(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	const n = 5000
	want := map[string][]string{}
	b := array.NewRecordBuilder(mem, sc)
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		// A different set of values in every row group of 1,000 rows; a null every 11th row.
		status := fmt.Sprintf("s%d-%d", i/1000, i%3)
		if i%11 == 0 {
			b.Field(1).AppendNull()
			want["status"] = append(want["status"], "(null)")
		} else {
			b.Field(1).(*array.StringBuilder).Append(status)
			want["status"] = append(want["status"], status)
		}
		note := fmt.Sprintf("note %d with a longer text", i%5)
		if i%4 == 1 {
			note = ""
		}
		b.Field(2).(*array.StringBuilder).Append(note)
		want["note"] = append(want["note"], note)
	}
	rec := b.NewRecordBatch()
	b.Release()
	in, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.WriteFiles(ctx, st, base+"d", in, dataset.WriteOptions{RowGroupRows: 1000, Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	in.Release()
	for _, batch := range []int{64, 1000, 1700, 8000} {
		ds, err := dataset.Open(ctx, st, base+"d/", dataset.ReadOptions{BatchRows: batch, Columns: []string{"status", "note"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, ds, mem)
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		if got.rows != n || !arrow.TypeEqual(got.schema.Field(0).Type, arrow.BinaryTypes.String) {
			t.Fatalf("batch %d: %d rows, schema %s", batch, got.rows, got.schema)
		}
		for _, col := range []string{"status", "note"} {
			for i := range want[col] {
				if got.cols[col][i] != want[col][i] {
					t.Fatalf("batch %d: %s[%d] = %q, want %q", batch, col, i, got.cols[col][i], want[col][i])
				}
			}
		}
	}
}
