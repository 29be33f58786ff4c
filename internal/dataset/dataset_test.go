package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/objstore/objstoretest"
)

var ctx = context.Background()

var salesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "dt", Type: arrow.BinaryTypes.String},
	{Name: "country", Type: arrow.BinaryTypes.String},
}, nil)

// sales makes n rows in batches of batch rows: id i, amount i*1.5 (null every 7th), name "n<i>",
// ok i%2==0, dt one of 3 days, country NL/DE.
func sales(mem memory.Allocator, n, batch int) array.RecordReader {
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(mem, salesSchema)
	defer b.Release()
	for start := 0; start < n; start += batch {
		for i := start; i < min(n, start+batch); i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			if i%7 == 3 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.Float64Builder).Append(float64(i) * 1.5)
			}
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("n%d", i))
			b.Field(3).(*array.BooleanBuilder).Append(i%2 == 0)
			b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("2024-01-0%d", 1+i%3))
			b.Field(5).(*array.StringBuilder).Append([]string{"NL", "DE"}[i%2])
		}
		recs = append(recs, b.NewRecordBatch())
	}
	rr, err := array.NewRecordReader(salesSchema, recs)
	if err != nil {
		panic(err)
	}
	for _, r := range recs {
		r.Release()
	}
	return rr
}

type result struct {
	rows    int64
	batches int
	schema  *arrow.Schema
	cols    map[string][]string // column → values as text, in read order
}

func readAll(t *testing.T, ds *dataset.Dataset, mem memory.Allocator) (result, error) {
	t.Helper()
	rr, err := ds.Reader(ctx, mem)
	if err != nil {
		return result{}, err
	}
	defer rr.Release()
	res := result{schema: rr.Schema(), cols: map[string][]string{}}
	for rr.Next() {
		rec := rr.RecordBatch()
		res.rows += rec.NumRows()
		res.batches++
		for i, f := range rec.Schema().Fields() {
			c := rec.Column(i)
			for j := 0; j < c.Len(); j++ {
				res.cols[f.Name] = append(res.cols[f.Name], c.ValueStr(j))
			}
		}
	}
	return res, rr.Err()
}

func checkedMem(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func fileStore(t *testing.T) (*objstore.Store, string) {
	return objstore.New(objstore.Options{}), "file://" + t.TempDir() + "/"
}

func wantClass(t *testing.T, err error, c fault.Class, contains ...string) {
	t.Helper()
	if fault.ClassOf(err) != c {
		t.Fatalf("err = %v (class %v), want class %v", err, fault.ClassOf(err), c)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func TestRoundTripEveryFormat(t *testing.T) {
	for _, f := range []dataset.Format{dataset.Parquet, dataset.CSV, dataset.NDJSON, dataset.IPC} {
		t.Run(string(f), func(t *testing.T) {
			mem := checkedMem(t)
			st, base := fileStore(t)
			in := sales(mem, 2500, 1000)
			var progressRows int64
			files, err := dataset.WriteFiles(ctx, st, base+"out", in, dataset.WriteOptions{
				Format: f, MaxRowsPerFile: 1000, FilePrefix: "run1", Allocator: mem,
				Progress: func(rows, bytes int64) { progressRows = rows },
			})
			in.Release()
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 3 || files[0].Rows != 1000 || files[2].Rows != 500 || progressRows != 2500 {
				t.Fatalf("files = %+v, progress %d", files, progressRows)
			}
			if want := base + "out/part-run1-00000" + map[dataset.Format]string{dataset.Parquet: ".parquet", dataset.CSV: ".csv", dataset.NDJSON: ".ndjson", dataset.IPC: ".arrow"}[f]; files[0].URI != want {
				t.Errorf("first file %s, want %s", files[0].URI, want)
			}
			for _, wf := range files {
				if info, err := st.Stat(ctx, wf.URI); err != nil || info.Size != wf.Bytes || len(wf.SHA256) != 64 {
					t.Errorf("%+v: stat %+v %v", wf, info, err)
				}
			}
			// A marker file and a hidden file are ignored.
			st.Put(ctx, base+"out/_SUCCESS", strings.NewReader(""))
			st.Put(ctx, base+"out/.part-0.crc", strings.NewReader("x"))

			ds, err := dataset.Open(ctx, st, base+"out", dataset.ReadOptions{BatchRows: 400})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Format != f || len(ds.Files) != 3 {
				t.Fatalf("format %s, files %v", ds.Format, ds.Files)
			}
			res, err := readAll(t, ds, mem)
			if err != nil {
				t.Fatal(err)
			}
			if res.rows != 2500 || (res.batches < 7 && f != dataset.IPC) {
				t.Fatalf("rows %d batches %d", res.rows, res.batches)
			}
			for _, fl := range salesSchema.Fields() {
				i := res.schema.FieldIndices(fl.Name)
				if len(i) != 1 || !arrow.TypeEqual(res.schema.Field(i[0]).Type, fl.Type) {
					t.Errorf("schema %s: field %s", res.schema, fl)
				}
			}
			if res.cols["id"][2499] != "2499" || res.cols["amount"][3] != "(null)" || res.cols["amount"][4] != "6" ||
				res.cols["name"][17] != "n17" || res.cols["ok"][2] != "true" || res.cols["country"][1] != "DE" {
				t.Errorf("values: id %v amount %v name %v ok %v", res.cols["id"][2499], res.cols["amount"][3:5], res.cols["name"][17], res.cols["ok"][2])
			}
		})
	}
}

func TestProjection(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	in := sales(mem, 100, 100)
	defer in.Release()
	if _, err := dataset.WriteFiles(ctx, st, base+"p", in, dataset.WriteOptions{PartitionBy: []string{"dt"}}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(ctx, st, base+"p/", dataset.ReadOptions{Columns: []string{"dt", "name"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := readAll(t, ds, mem)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.schema); got != "dt,name" || res.rows != 100 {
		t.Fatalf("schema %s rows %d", got, res.rows)
	}
	// Only a partition column: rows are still counted.
	ds, _ = dataset.Open(ctx, st, base+"p/", dataset.ReadOptions{Columns: []string{"dt"}})
	if res, err = readAll(t, ds, mem); err != nil || res.rows != 100 {
		t.Fatalf("dt only: %d rows, %v", res.rows, err)
	}
	_, err = dataset.Open(ctx, st, base+"p/", dataset.ReadOptions{Columns: []string{"nope"}})
	wantClass(t, err, fault.Config, "nope")
}

func names(s *arrow.Schema) string {
	var n []string
	for _, f := range s.Fields() {
		n = append(n, f.Name)
	}
	return strings.Join(n, ",")
}

func TestPartitionedWriteAndPruning(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	in := sales(mem, 3000, 512)
	files, err := dataset.WriteFiles(ctx, st, base+"sales", in, dataset.WriteOptions{PartitionBy: []string{"dt", "country"}, FilePrefix: "r", Allocator: mem})
	in.Release()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Fatalf("%d files: %+v", len(files), files)
	}
	if files[0].URI != base+"sales/dt=2024-01-01/country=DE/part-r-00000.parquet" || files[0].Partition["country"] != "DE" {
		t.Errorf("first file %+v", files[0])
	}
	var total int64
	for _, f := range files {
		total += f.Rows
	}
	if total != 3000 {
		t.Errorf("rows %d", total)
	}

	// The partition column is not in the file data; it comes back from the path.
	ds, err := dataset.Open(ctx, st, base+"sales", dataset.ReadOptions{Partitions: map[string]string{"dt": "2024-01-02"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Files) != 2 {
		t.Fatalf("pruned files %v", ds.Files)
	}
	res, err := readAll(t, ds, mem)
	if err != nil {
		t.Fatal(err)
	}
	if res.rows != 1000 || names(res.schema) != "id,amount,name,ok,dt,country" {
		t.Fatalf("rows %d schema %s", res.rows, names(res.schema))
	}
	for i, d := range res.cols["dt"] {
		id := res.cols["id"][i]
		var n int
		fmt.Sscan(id, &n)
		if d != "2024-01-02" || n%3 != 1 || res.cols["country"][i] != []string{"NL", "DE"}[n%2] {
			t.Fatalf("row %d: id %s dt %s country %s", i, id, d, res.cols["country"][i])
		}
	}

	// Two levels, and a predicate on a partition column.
	ds, err = dataset.Open(ctx, st, base+"sales/", dataset.ReadOptions{
		Partitions: map[string]string{"country": "NL"},
		Predicates: []dataset.Predicate{{Column: "dt", Op: dataset.In, Values: []any{"2024-01-01", "2024-01-03"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, err = readAll(t, ds, mem); err != nil || len(ds.Files) != 2 || res.rows != 1000 {
		t.Fatalf("files %d rows %d err %v", len(ds.Files), res.rows, err)
	}

	// Typed partition column through a declared schema.
	decl := arrow.NewSchema(append(salesSchema.Fields()[:4:4], arrow.Field{Name: "dt", Type: arrow.FixedWidthTypes.Date32}, arrow.Field{Name: "country", Type: arrow.BinaryTypes.String}), nil)
	ds, err = dataset.Open(ctx, st, base+"sales/", dataset.ReadOptions{Schema: decl, Partitions: map[string]string{"dt": "2024-01-03"}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err = readAll(t, ds, mem); err != nil || res.schema.Field(4).Type.ID() != arrow.DATE32 || res.cols["dt"][0] != "2024-01-03" {
		t.Fatalf("typed: %v %v %v", res.schema, res.cols["dt"][:1], err)
	}

	// A partition value that matches nothing.
	_, err = dataset.Open(ctx, st, base+"sales", dataset.ReadOptions{Partitions: map[string]string{"dt": "2024-01-09"}})
	wantClass(t, err, fault.Data, "no partition dt=2024-01-09 under "+base+"sales/")
	_, err = dataset.Open(ctx, st, base+"sales", dataset.ReadOptions{Partitions: map[string]string{"region": "eu"}})
	wantClass(t, err, fault.Data, "region=eu")
}

func TestUnsafePartitionValues(t *testing.T) {
	st, base := fileStore(t)
	for _, v := range []string{"../../etc", "a/b", `a\b`, "x\x00", "it's", "..", ""} {
		_, err := dataset.Open(ctx, st, base+"any", dataset.ReadOptions{Partitions: map[string]string{"dt": v}})
		wantClass(t, err, fault.Config)
	}
	_, err := dataset.Open(ctx, st, base+"any", dataset.ReadOptions{Partitions: map[string]string{"../x": "1"}})
	wantClass(t, err, fault.Config)
}

func TestWriteEscapesPartitionValues(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	sc := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(mem, sc)
	vals := []string{"../../etc", "a/b", "it's", "", "ok"}
	for i, v := range vals {
		b.Field(0).(*array.StringBuilder).Append(v)
		b.Field(1).(*array.Int64Builder).Append(int64(i))
	}
	b.Field(0).AppendNull()
	b.Field(1).(*array.Int64Builder).Append(99)
	rec := b.NewRecordBatch()
	b.Release()
	rr, _ := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
	rec.Release()
	files, err := dataset.WriteFiles(ctx, st, base+"esc", rr, dataset.WriteOptions{PartitionBy: []string{"k"}, Allocator: mem})
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	// Everything stays under esc/: nothing escaped the folder.
	var dirs []string
	for _, f := range files {
		rel := strings.TrimPrefix(f.URI, base+"esc/")
		if rel == f.URI || strings.Count(rel, "/") != 1 {
			t.Errorf("file outside its partition folder: %s", f.URI)
		}
		dirs = append(dirs, strings.Split(rel, "/")[0])
	}
	sort.Strings(dirs)
	if got := strings.Join(dirs, " "); got != "k=..%2F..%2Fetc k=__HIVE_DEFAULT_PARTITION__ k=a%2Fb k=it%27s k=ok" {
		t.Errorf("folders: %s", got)
	}
	ents, _ := os.ReadDir(filepath.Join(strings.TrimPrefix(base, "file://")))
	if len(ents) != 1 {
		t.Errorf("base has %d entries", len(ents))
	}
	ds, err := dataset.Open(ctx, st, base+"esc", dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := readAll(t, ds, mem)
	if err != nil {
		t.Fatal(err)
	}
	got := sortedCopy(res.cols["k"])
	if strings.Join(got, "|") != "(null)|(null)|../../etc|a/b|it's|ok" {
		t.Errorf("values read back: %q", got)
	}
}

func TestRowGroupPruning(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	in := sales(mem, 10000, 1000)
	files, err := dataset.WriteFiles(ctx, st, base+"rg", in, dataset.WriteOptions{RowGroupRows: 1000, Allocator: mem})
	in.Release()
	if err != nil || len(files) != 1 {
		t.Fatal(files, err)
	}
	for _, c := range []struct {
		name  string
		preds []dataset.Predicate
		rows  int64
	}{
		{"none", nil, 10000},
		{"ge", []dataset.Predicate{{Column: "id", Op: dataset.Ge, Value: 9500}}, 1000},
		{"gt-last", []dataset.Predicate{{Column: "id", Op: dataset.Gt, Value: int64(9999)}}, 0},
		{"lt", []dataset.Predicate{{Column: "id", Op: dataset.Lt, Value: 2000}}, 2000},
		{"le", []dataset.Predicate{{Column: "id", Op: dataset.Le, Value: 2000}}, 3000},
		{"eq", []dataset.Predicate{{Column: "id", Op: dataset.Eq, Value: "4321"}}, 1000},
		{"in", []dataset.Predicate{{Column: "id", Op: dataset.In, Values: []any{5, 7005}}}, 2000},
		{"and", []dataset.Predicate{{Column: "id", Op: dataset.Ge, Value: 1000}, {Column: "amount", Op: dataset.Lt, Value: 2000.0}}, 1000},
		{"string", []dataset.Predicate{{Column: "name", Op: dataset.Eq, Value: "zzz"}}, 0},
		{"ne", []dataset.Predicate{{Column: "id", Op: dataset.Ne, Value: 3}}, 10000},
		{"uncomparable", []dataset.Predicate{{Column: "id", Op: dataset.Eq, Value: "abc"}}, 10000},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds, err := dataset.Open(ctx, st, base+"rg", dataset.ReadOptions{Predicates: c.preds})
			if err != nil {
				t.Fatal(err)
			}
			res, err := readAll(t, ds, mem)
			if err != nil || res.rows != c.rows {
				t.Fatalf("rows %d, want %d (%v)", res.rows, c.rows, err)
			}
		})
	}
	_, err = dataset.Open(ctx, st, base+"rg", dataset.ReadOptions{Predicates: []dataset.Predicate{{Column: "nope", Op: dataset.Eq, Value: 1}}})
	wantClass(t, err, fault.Config, "nope")
	_, err = dataset.Open(ctx, st, base+"rg", dataset.ReadOptions{Predicates: []dataset.Predicate{{Column: "id", Op: "~", Value: 1}}})
	wantClass(t, err, fault.Config)
}

func writeSchema(t *testing.T, st *objstore.Store, uri string, sc *arrow.Schema, mem memory.Allocator) {
	t.Helper()
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	for _, f := range b.Fields() {
		switch f := f.(type) {
		case *array.Int64Builder:
			f.Append(1)
		case *array.StringBuilder:
			f.Append("x")
		case *array.Float64Builder:
			f.Append(1.5)
		}
	}
	rec := b.NewRecordBatch()
	rr, _ := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
	rec.Release()
	defer rr.Release()
	dir, name := uri[:strings.LastIndex(uri, "/")], uri[strings.LastIndex(uri, "/")+1:]
	files, err := dataset.WriteFiles(ctx, st, dir, rr, dataset.WriteOptions{FilePrefix: name})
	if err != nil {
		t.Fatal(err)
	}
	_ = files
}

func TestSchemaMismatch(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	a := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.BinaryTypes.String}}, nil)
	b := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.BinaryTypes.String}, {Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	c := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Float64}, {Name: "v", Type: arrow.BinaryTypes.String}}, nil)
	writeSchema(t, st, base+"m/a", a, mem)
	writeSchema(t, st, base+"m/b", b, mem) // same fields, other order: fine
	ds, err := dataset.Open(ctx, st, base+"m", dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := readAll(t, ds, mem); err != nil || res.rows != 2 || names(res.schema) != "id,v" {
		t.Fatalf("order-insensitive: %v %v", res, err)
	}
	writeSchema(t, st, base+"m/c", c, mem)
	ds, err = dataset.Open(ctx, st, base+"m", dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = readAll(t, ds, mem)
	wantClass(t, err, fault.Data, "part-a-00000.parquet", "part-c-00000.parquet", "id: int64", "id: float64", "column id is float64, not int64")
}

func TestCorruptAndMissing(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	st.Put(ctx, base+"bad/x.parquet", strings.NewReader("this is not parquet at all"))
	_, err := dataset.Open(ctx, st, base+"bad", dataset.ReadOptions{})
	wantClass(t, err, fault.Data, base+"bad/x.parquet")

	// Corrupt in the middle: the footer is fine, the pages are not.
	in := sales(mem, 5000, 5000)
	files, err := dataset.WriteFiles(ctx, st, base+"mid", in, dataset.WriteOptions{Compression: "none"})
	in.Release()
	if err != nil {
		t.Fatal(err)
	}
	p := strings.TrimPrefix(files[0].URI, "file://")
	data, _ := os.ReadFile(p)
	for i := 100; i < len(data)/2; i++ {
		data[i] = 0xff
	}
	os.WriteFile(p, data, 0o644)
	ds, err := dataset.Open(ctx, st, base+"mid", dataset.ReadOptions{})
	if err == nil {
		_, err = readAll(t, ds, mem)
	}
	wantClass(t, err, fault.Data, files[0].URI)

	_, err = dataset.Open(ctx, st, base+"nothing/here", dataset.ReadOptions{})
	wantClass(t, err, fault.Data, base+"nothing/here")
	if !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("missing path: %v does not wrap ErrNotExist", err)
	}
	_, err = dataset.Open(ctx, st, base+"x", dataset.ReadOptions{Format: "xls"})
	wantClass(t, err, fault.Config)
}

func TestPinnedFiles(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	in := sales(mem, 300, 100)
	files, err := dataset.WriteFiles(ctx, st, base+"pin", in, dataset.WriteOptions{MaxRowsPerFile: 100, PartitionBy: []string{"country"}})
	in.Release()
	if err != nil {
		t.Fatal(err)
	}
	src, err := dataset.Open(ctx, st, base+"pin", dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pin := src.Files[:2]
	// A new file appears after the pin: the pinned read does not see it.
	st.Copy(ctx, pin[0].URI, base+"pin/country=NL/part-99999.parquet")
	ds, err := dataset.OpenFiles(ctx, st, pin, dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := readAll(t, ds, mem)
	if err != nil || res.rows != files[0].Rows+files[1].Rows || res.cols["country"][0] != "DE" {
		t.Fatalf("pinned read: %d rows, %v", res.rows, err)
	}
	// A pinned file is rewritten: fault.Data naming it.
	if err := st.Copy(ctx, files[2].URI, pin[1].URI); err != nil {
		t.Fatal(err)
	}
	ds, _ = dataset.OpenFiles(ctx, st, pin, dataset.ReadOptions{})
	_, err = readAll(t, ds, mem)
	wantClass(t, err, fault.Data, pin[1].URI, "changed")
}

func TestCSVInferenceAndDeclared(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	st.Put(ctx, base+"c/a.csv", strings.NewReader("id,price,name,flag\n1,2.5,x,true\n2,,\"y, z\",false\n3,4,,\n"))
	st.Put(ctx, base+"c/b.csv", strings.NewReader("name,flag,id,price\nq,true,4,1e3\n"))
	ds, err := dataset.Open(ctx, st, base+"c", dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := ds.Schema.String(); !strings.Contains(s, "id: type=int64") || !strings.Contains(s, "price: type=float64") || !strings.Contains(s, "flag: type=bool") || !strings.Contains(s, "name: type=utf8") {
		t.Fatalf("inferred %s", s)
	}
	res, err := readAll(t, ds, mem)
	if err != nil || res.rows != 4 || res.cols["name"][1] != "y, z" || res.cols["price"][1] != "(null)" || res.cols["price"][3] != "1000" {
		t.Fatalf("%d rows %v %v %v", res.rows, res.cols["name"], res.cols["price"], err)
	}
	decl := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "price", Type: arrow.PrimitiveTypes.Float32, Nullable: true}, {Name: "name", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "flag", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	ds, err = dataset.Open(ctx, st, base+"c/a.csv", dataset.ReadOptions{Schema: decl})
	if err != nil {
		t.Fatal(err)
	}
	if res, err = readAll(t, ds, mem); err != nil || res.rows != 3 || res.schema.Field(0).Type.ID() != arrow.INT32 {
		t.Fatalf("declared: %v %v", res.schema, err)
	}
	st.Put(ctx, base+"c2/a.csv", strings.NewReader("id,other\n1,2\n"))
	ds, _ = dataset.Open(ctx, st, base+"c2/a.csv", dataset.ReadOptions{Schema: decl})
	_, err = readAll(t, ds, mem)
	wantClass(t, err, fault.Data, "a.csv", "other")
	st.Put(ctx, base+"c3/a.csv", strings.NewReader("id\n1\n2\nnot-a-number\n"))
	ds, _ = dataset.Open(ctx, st, base+"c3/a.csv", dataset.ReadOptions{InferRows: 2})
	_, err = readAll(t, ds, mem)
	wantClass(t, err, fault.Data, "c3/a.csv")
}

func TestNDJSONInference(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	st.Put(ctx, base+"j/a.jsonl", strings.NewReader(`{"id": 1, "v": 1.5, "tags": ["a"], "o": {"x": 1}}
{"id": 2, "v": 2, "s": "hi", "extra": null}
{"id": 3}
`))
	ds, err := dataset.Open(ctx, st, base+"j", dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ds.Schema); got != "id,v,tags,o,s,extra" {
		t.Fatalf("fields %s", got)
	}
	res, err := readAll(t, ds, mem)
	if err != nil || res.rows != 3 || res.cols["v"][1] != "2" || res.cols["s"][1] != "hi" || res.cols["id"][2] != "3" {
		t.Fatalf("%+v %v", res.cols, err)
	}
	st.Put(ctx, base+"j2/a.ndjson", strings.NewReader("{\"a\": 1}\n{\"a\": \"x\"}\n"))
	_, err = dataset.Open(ctx, st, base+"j2", dataset.ReadOptions{})
	wantClass(t, err, fault.Data, "a.ndjson", "declare a schema")
}

func TestThreeFilesStreamed(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	for i := range 3 {
		in := sales(mem, 1000, 250)
		if _, err := dataset.WriteFiles(ctx, st, base+"three", in, dataset.WriteOptions{FilePrefix: fmt.Sprint(i), Allocator: mem}); err != nil {
			t.Fatal(err)
		}
		in.Release()
	}
	ds, err := dataset.Open(ctx, st, base+"three", dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var progress [][2]int64
	ds2, _ := dataset.OpenFiles(ctx, st, ds.Files, dataset.ReadOptions{BatchRows: 300, Progress: func(r, b int64) { progress = append(progress, [2]int64{r, b}) }})
	res, err := readAll(t, ds2, mem)
	if err != nil || res.rows != 3000 || len(ds.Files) != 3 {
		t.Fatalf("%d rows %v", res.rows, err)
	}
	last := progress[len(progress)-1]
	var size int64
	for _, f := range ds.Files {
		size += f.Size
	}
	if last[0] != 3000 || last[1] <= 0 || last[1] > size || res.batches != len(progress) {
		t.Errorf("progress %v (files %d bytes)", progress, size)
	}
}

func TestS3(t *testing.T) {
	t.Run("gofakes3", func(t *testing.T) {
		st, base := objstoretest.FakeS3(t)
		testStore(t, st, base)
	})
	t.Run("versitygw", func(t *testing.T) {
		st, base := objstoretest.RealS3(t)
		testStore(t, st, base)
	})
}

func testStore(t *testing.T, st *objstore.Store, base string) {
	mem := checkedMem(t)
	in := sales(mem, 5000, 1000)
	files, err := dataset.WriteFiles(ctx, st, base+"raw/sales_orders", in, dataset.WriteOptions{PartitionBy: []string{"dt"}, RowGroupRows: 500, Allocator: mem})
	in.Release()
	if err != nil || len(files) != 3 {
		t.Fatal(files, err)
	}
	ds, err := dataset.Open(ctx, st, base+"raw/sales_orders", dataset.ReadOptions{
		Partitions: map[string]string{"dt": "2024-01-01"},
		Predicates: []dataset.Predicate{{Column: "id", Op: dataset.Lt, Value: 1000}},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := readAll(t, ds, mem)
	// dt=2024-01-01 holds ids 0,3,6,…: 1667 rows in row groups of 500; ids < 1000 are in the first row group.
	if err != nil || len(ds.Files) != 1 || res.rows != 500 {
		t.Fatalf("rows %d files %d: %v", res.rows, len(ds.Files), err)
	}
	_, err = dataset.Open(ctx, st, base+"raw/sales_orders", dataset.ReadOptions{Partitions: map[string]string{"dt": "2024-01-02x"}})
	wantClass(t, err, fault.Data, "no partition dt=2024-01-02x under "+base+"raw/sales_orders/")
	for _, f := range []dataset.Format{dataset.CSV, dataset.NDJSON, dataset.IPC} {
		in := sales(mem, 700, 300)
		_, err := dataset.WriteFiles(ctx, st, base+"fmt/"+string(f), in, dataset.WriteOptions{Format: f, Allocator: mem})
		in.Release()
		if err != nil {
			t.Fatal(err)
		}
		ds, err := dataset.Open(ctx, st, base+"fmt/"+string(f)+"/", dataset.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := readAll(t, ds, mem); err != nil || res.rows != 700 {
			t.Fatalf("%s: %d rows, %v", f, res.rows, err)
		}
	}
}

func TestWriteFailureCleansUp(t *testing.T) {
	mem := checkedMem(t)
	st, base := fileStore(t)
	boom := fault.Dataf("transform raised")
	in := &failingReader{RecordReader: sales(mem, 3000, 500), after: 4, err: boom}
	_, err := dataset.WriteFiles(ctx, st, base+"f", in, dataset.WriteOptions{MaxRowsPerFile: 1000, Allocator: mem})
	in.Release()
	if !errors.Is(err, boom) || fault.ClassOf(err) != fault.Data {
		t.Fatalf("err = %v", err)
	}
	if objs, _ := st.List(ctx, base+"f/"); len(objs) != 0 {
		t.Fatalf("left %v", objs)
	}
}

type failingReader struct {
	array.RecordReader
	after, n int
	err      error
}

func (f *failingReader) Next() bool {
	if f.n >= f.after {
		return false
	}
	f.n++
	return f.RecordReader.Next()
}

func (f *failingReader) Err() error {
	if f.n >= f.after {
		return f.err
	}
	return nil
}

// TestNDJSONBadLineLocated: a line of an NDJSON file that is not one JSON object (the last line
// cut short by a truncated upload, a missing comma arrow's decoder would accept, an array) fails
// the read (fault.Data) naming the file, the line and its byte offset; blank lines are fine.
func TestNDJSONBadLineLocated(t *testing.T) {
	st, base := fileStore(t)
	good := "{\"id\": 1, \"s\": \"a\"}\n\n{\"id\": 2, \"s\": \"b\"}\n" // line 4 starts at byte 41
	cases := []struct{ name, text, want string }{
		{"truncated", good + `{"id": 3, "s": "c`, "line 4 (byte offset 41): the last line is cut short"},
		{"missing comma", good + "{\"id\": 3 \"s\": \"c\"}\n{\"id\": 4, \"s\": \"d\"}\n", "line 4 (byte offset 41): invalid JSON"},
		{"not an object", good + "[3, \"c\"]\n", "line 4 (byte offset 41): not a JSON object"},
		{"trailing garbage", "{\"id\": 1, \"s\": \"a\"} x\n" + good, "line 1 (byte offset 0): invalid JSON"},
	}
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			uri := fmt.Sprintf("%sbad%d/part.ndjson", base, i)
			if err := st.Put(ctx, uri, strings.NewReader(c.text)); err != nil {
				t.Fatal(err)
			}
			ds, err := dataset.Open(ctx, st, strings.TrimSuffix(uri, "/part.ndjson"), dataset.ReadOptions{Format: dataset.NDJSON, Schema: sc})
			if err != nil {
				t.Fatal(err)
			}
			_, err = readAll(t, ds, memory.DefaultAllocator)
			wantClass(t, err, fault.Data, "part.ndjson", c.want)
		})
	}
	st.Put(ctx, base+"ok/part.ndjson", strings.NewReader(good+"\n"))
	ds, err := dataset.Open(ctx, st, base+"ok", dataset.ReadOptions{Format: dataset.NDJSON, Schema: sc})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := readAll(t, ds, memory.DefaultAllocator); err != nil || res.rows != 2 {
		t.Fatalf("%d rows, %v", res.rows, err)
	}
}
