package dataset_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/aiflow-dev/aiflow/internal/arrowdict"
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

// A written column keeps its dictionary only where the dictionary pays: a low-cardinality
// string or integer column is dictionary-encoded, distinct keys, sums and long texts fall back to
// plain pages at the first page instead of carrying a dictionary as large as the data.
func TestWriteDictionaryOnlyWherePays(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32},
		{Name: "note", Type: arrow.BinaryTypes.String},
	}, nil)
	const rows = 20000
	b := array.NewRecordBuilder(mem, sc)
	for i := 0; i < rows; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i) * 7919)
		b.Field(1).(*array.Float64Builder).Append(float64(i) * 1.37)
		b.Field(2).(*array.StringBuilder).Append([]string{"paid", "pending", "refunded"}[i%3])
		b.Field(3).(*array.Int32Builder).Append(int32(i % 5))
		b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("order %d shipped to customer %d", i, i*31))
	}
	rec := b.NewRecordBatch()
	b.Release()
	in, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	files, err := dataset.WriteFiles(ctx, st, base+"d", in, dataset.WriteOptions{Allocator: mem, CompressionLevel: 1})
	in.Release()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := file.OpenParquetFile(strings.TrimPrefix(files[0].URI, "file://"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	want := map[string]bool{"id": false, "amount": false, "status": true, "n": true, "note": false}
	rg := pf.MetaData().RowGroup(0)
	for i := 0; i < rg.NumColumns(); i++ {
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		name := cc.PathInSchema().String()
		dictPages := false
		for _, s := range cc.EncodingStats() {
			if (s.PageType == 0 || s.PageType == 3) && (s.Encoding == parquet.Encodings.RLEDict || s.Encoding == parquet.Encodings.PlainDict) {
				dictPages = true
			}
		}
		if dictPages != want[name] {
			t.Errorf("%s: dictionary-encoded data pages %v, want %v (stats %+v)", name, dictPages, want[name], cc.EncodingStats())
		}
	}
	// And the data reads back.
	ds, err := dataset.Open(ctx, st, base+"d/", dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, ds, mem)
	if err != nil || got.rows != rows || got.cols["status"][4] != "pending" || got.cols["note"][2] != "order 2 shipped to customer 62" {
		t.Fatalf("read back: %d rows, %v", got.rows, err)
	}
}

// DictionaryReader streams the named string columns as dictionaries: a file that
// dictionary-encoded the column and one that did not (wrapped) both come in the reader's
// schema with the same values as Reader's plain strings; a file whose row groups are all
// pruned has that schema too, and other columns stay as they are.
func TestDictionaryReader(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String},
	}, nil)
	write := func(name string, from, rows int, status func(i int) string) {
		b := array.NewRecordBuilder(mem, sc)
		defer b.Release()
		for i := from; i < from+rows; i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			if i%7 == 0 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.StringBuilder).Append(status(i))
			}
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("n%d", i%3))
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		in, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Release()
		if _, err := dataset.WriteFiles(ctx, st, base+"d", in, dataset.WriteOptions{FilePrefix: name, Allocator: mem}); err != nil {
			t.Fatal(err)
		}
	}
	write("a", 0, 3000, func(i int) string { return []string{"paid", "open", "refund"}[i%3] }) // a dictionary
	write("b", 3000, 3000, func(i int) string { return fmt.Sprintf("unique status %d", i) })   // plain pages
	write("c", 6000, 100, func(i int) string { return "late" })                                // pruned below

	for _, pruned := range []bool{false, true} {
		opts := dataset.ReadOptions{BatchRows: 1000}
		if pruned {
			opts.Predicates = []dataset.Predicate{{Column: "id", Op: dataset.Lt, Value: int64(6000)}}
		}
		ds, err := dataset.Open(ctx, st, base+"d/", opts)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := readAll(t, ds, mem)
		if err != nil {
			t.Fatal(err)
		}
		rr, err := ds.DictionaryReader(ctx, mem, []string{"status", "id", "missing"})
		if err != nil {
			t.Fatal(err)
		}
		want := []arrow.DataType{arrow.PrimitiveTypes.Int64, arrowdict.Type, arrow.BinaryTypes.String}
		for i, dt := range want {
			if !arrow.TypeEqual(rr.Schema().Field(i).Type, dt) {
				t.Fatalf("schema %s, want %s for %s", rr.Schema(), dt, rr.Schema().Field(i).Name)
			}
		}
		var got []string
		for rr.Next() {
			rec := rr.RecordBatch()
			if !rec.Schema().Equal(rr.Schema()) {
				t.Fatalf("batch schema %s, want %s", rec.Schema(), rr.Schema())
			}
			s, err := arrowdict.Expand(rec.Column(1).(*array.Dictionary), mem)
			if err != nil {
				t.Fatal(err)
			}
			for i := range s.Len() {
				if s.IsNull(i) {
					got = append(got, "(null)")
				} else {
					got = append(got, s.ValueStr(i))
				}
			}
			s.Release()
		}
		if err := rr.Err(); err != nil {
			t.Fatal(err)
		}
		rr.Release()
		if len(got) != len(plain.cols["status"]) || int64(len(got)) != plain.rows {
			t.Fatalf("pruned %v: %d rows as dictionaries, %d plain", pruned, len(got), plain.rows)
		}
		for i := range got {
			if got[i] != plain.cols["status"][i] {
				t.Fatalf("pruned %v: row %d: %q as a dictionary, %q plain", pruned, i, got[i], plain.cols["status"][i])
			}
		}
	}
}
