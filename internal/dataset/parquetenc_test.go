package dataset_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/internal/dataset"
)

// The concurrent column encoder (parquetenc.go) writes byte for byte the file
// pqarrow.FileWriter writes, for every flat column type, nullable or not, with nulls, all
// nulls or none, over several batches and row groups (split inside a batch), plain and for
// Delta Lake (Interop), and with each compression; a nested schema still takes pqarrow's path.
func TestParallelColumnsWriteTheSameFile(t *testing.T) {
	types := []arrow.DataType{
		arrow.FixedWidthTypes.Boolean, arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16,
		arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint8,
		arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
		arrow.FixedWidthTypes.Float16, arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
		arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.Binary,
		arrow.BinaryTypes.LargeBinary, &arrow.FixedSizeBinaryType{ByteWidth: 5},
		arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date64,
		arrow.FixedWidthTypes.Timestamp_ms, arrow.FixedWidthTypes.Timestamp_us,
		&arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"},
		arrow.FixedWidthTypes.Time32ms, arrow.FixedWidthTypes.Time64us,
		&arrow.Decimal128Type{Precision: 12, Scale: 2}, &arrow.Decimal256Type{Precision: 40, Scale: 4},
	}
	var fields []arrow.Field
	for i, dt := range types {
		fields = append(fields,
			arrow.Field{Name: fmt.Sprintf("c%d", i), Type: dt},
			arrow.Field{Name: fmt.Sprintf("n%d", i), Type: dt, Nullable: true},
			arrow.Field{Name: fmt.Sprintf("z%d", i), Type: dt, Nullable: true}) // all null
	}
	md := arrow.NewMetadata([]string{"origin"}, []string{"test"})
	flat := arrow.NewSchema(fields, &md)
	nested := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)

	for _, c := range []struct {
		name string
		sc   *arrow.Schema
		opts dataset.WriteOptions
	}{
		{"flat", flat, dataset.WriteOptions{RowGroupRows: 700}},
		{"flat interop snappy", flat, dataset.WriteOptions{RowGroupRows: 1 << 20, Interop: true, Compression: "snappy"}},
		{"flat zstd level 1 one row group per batch", flat, dataset.WriteOptions{RowGroupRows: 500, CompressionLevel: 1}},
		{"nested", nested, dataset.WriteOptions{RowGroupRows: 700}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.opts.Interop {
				c.sc = interopOnly(c.sc)
			}
			mem := checkedMem(t)
			rng := rand.New(rand.NewPCG(1, 2))
			var batches []arrow.RecordBatch
			for _, n := range []int{500, 1, 1300, 0, 64} {
				batches = append(batches, randomBatch(mem, rng, c.sc, n))
			}
			defer func() {
				for _, b := range batches {
					b.Release()
				}
			}()
			write := func(parallel bool) []byte {
				restore := dataset.SetParallelColumns(parallel)
				defer restore()
				st, base := fileStore(t)
				rr, err := array.NewRecordReader(c.sc, batches)
				if err != nil {
					t.Fatal(err)
				}
				defer rr.Release()
				opts := c.opts
				opts.Allocator = mem
				files, err := dataset.WriteFiles(ctx, st, base+"out/", rr, opts)
				if err != nil {
					t.Fatal(err)
				}
				if len(files) != 1 || files[0].Rows != 1865 {
					t.Fatalf("wrote %+v, want one file of 1865 rows", files)
				}
				b, err := os.ReadFile(strings.TrimPrefix(files[0].URI, "file://"))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			want, got := write(false), write(true)
			if !bytes.Equal(got, want) {
				t.Fatalf("the concurrent encoder wrote %d bytes, pqarrow.FileWriter %d: not the same file", len(got), len(want))
			}
			// And it reads back to the rows written.
			st, base := fileStore(t)
			if err := st.Put(ctx, base+"f.parquet", bytes.NewReader(got)); err != nil {
				t.Fatal(err)
			}
			ds, err := dataset.Open(ctx, st, base+"f.parquet", dataset.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := readAll(t, ds, mem)
			if err != nil {
				t.Fatal(err)
			}
			if res.rows != 1865 {
				t.Fatalf("read back %d rows, want 1865", res.rows)
			}
			for i, f := range c.sc.Fields() {
				if j := res.schema.FieldIndices(f.Name); len(j) != 1 || !arrow.TypeEqual(res.schema.Field(j[0]).Type, f.Type) {
					continue // read back as another type (Date64, Interop's timestamps): the bytes above decide
				}
				var want []string
				for _, b := range batches {
					for r := 0; r < int(b.NumRows()); r++ {
						want = append(want, b.Column(i).ValueStr(r))
					}
				}
				if got := res.cols[f.Name]; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("column %s read back differs", f.Name)
				}
			}
		})
	}
}

// interopOnly keeps the columns WriteOptions.Interop writes for Delta Lake (no unsigned,
// half-float, large or fixed-size binary, time or nanosecond columns).
func interopOnly(sc *arrow.Schema) *arrow.Schema {
	var keep []arrow.Field
	for _, f := range sc.Fields() {
		switch f.Type.ID() {
		case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64,
			arrow.STRING, arrow.BINARY, arrow.DATE32, arrow.DECIMAL128, arrow.TIMESTAMP:
			keep = append(keep, f)
		}
	}
	return arrow.NewSchema(keep, nil)
}

// randomBatch: n rows of random values; nullable columns whose name starts with z are all
// null, other nullable ones have nulls at random.
func randomBatch(mem memory.Allocator, rng *rand.Rand, sc *arrow.Schema, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	for i, f := range sc.Fields() {
		fb := b.Field(i)
		for range n {
			if f.Nullable && (strings.HasPrefix(f.Name, "z") || rng.IntN(4) == 0) {
				fb.AppendNull()
				continue
			}
			appendRandom(fb, rng)
		}
	}
	return b.NewRecordBatch()
}

func appendRandom(b array.Builder, rng *rand.Rand) {
	v := rng.Int64N(1000) - 500 // few distinct values: some columns keep their dictionary
	if rng.IntN(3) == 0 {
		v = rng.Int64()
	}
	word := fmt.Sprintf("w%d", v)
	switch b := b.(type) {
	case *array.BooleanBuilder:
		b.Append(v%2 == 0)
	case *array.Int8Builder:
		b.Append(int8(v))
	case *array.Int16Builder:
		b.Append(int16(v))
	case *array.Int32Builder:
		b.Append(int32(v))
	case *array.Int64Builder:
		b.Append(v)
	case *array.Uint8Builder:
		b.Append(uint8(v))
	case *array.Uint16Builder:
		b.Append(uint16(v))
	case *array.Uint32Builder:
		b.Append(uint32(v))
	case *array.Uint64Builder:
		b.Append(uint64(v))
	case *array.Float16Builder:
		b.Append(float16.New(float32(v % 2000)))
	case *array.Float32Builder:
		b.Append(float32(v) / 8)
	case *array.Float64Builder:
		b.Append(float64(v) / 8)
	case *array.StringBuilder:
		b.Append(word)
	case *array.LargeStringBuilder:
		b.Append(word)
	case *array.BinaryBuilder: // binary and large binary
		b.Append([]byte(word))
	case *array.FixedSizeBinaryBuilder:
		b.Append([]byte(fmt.Sprintf("%05d", v%100000))[:5])
	case *array.Date32Builder:
		b.Append(arrow.Date32(v % 100000))
	case *array.Date64Builder:
		b.Append(arrow.Date64((v % 100000) * 86400000))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v % (1 << 50)))
	case *array.Time32Builder:
		b.Append(arrow.Time32((v%86400000 + 86400000) % 86400000))
	case *array.Time64Builder:
		b.Append(arrow.Time64((v%86400000000 + 86400000000) % 86400000000))
	case *array.Decimal128Builder:
		b.Append(decimal128.FromI64(v % 1000000000))
	case *array.Decimal256Builder:
		b.Append(decimal256.FromI64(v))
	case *array.ListBuilder:
		b.Append(true)
		vb := b.ValueBuilder().(*array.StringBuilder)
		for j := range int(v&3) + 0 {
			vb.Append(fmt.Sprintf("%s-%d", word, j))
		}
	default:
		panic(fmt.Sprintf("no random values for %T", b))
	}
}
