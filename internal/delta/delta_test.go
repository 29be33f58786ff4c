package delta_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

var inSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "dt", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func batch(t *testing.T, ids []int64, dts []string) array.RecordReader {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, inSchema)
	defer b.Release()
	for i, id := range ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.StringBuilder).Append("n" + strings.Repeat("x", int(id%3)))
		if dts[i] == "" {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.StringBuilder).Append(dts[i])
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rr, err := array.NewRecordReader(inSchema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// write runs one whole write the way the onelake sink does: Begin, data files, Commit.
func write(t *testing.T, st *objstore.Store, tbl *delta.Table, w delta.Write, prefix string, ids []int64, dts []string) (*delta.Plan, *delta.Result) {
	t.Helper()
	ctx := context.Background()
	w.Schema = inSchema
	p, err := tbl.Begin(ctx, w)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if p.Decision != delta.WriteFiles {
		return p, nil
	}
	rr := batch(t, ids, dts)
	defer rr.Release()
	files, err := dataset.WriteFiles(ctx, st, tbl.URI(), rr, dataset.WriteOptions{PartitionBy: p.PartitionBy, FilePrefix: prefix, Interop: true})
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := delta.SchemaOf(inSchema)
	var nf []delta.NewFile
	for _, f := range files {
		stats, err := delta.FileStats(ctx, st, f.URI, sc)
		if err != nil {
			t.Fatal(err)
		}
		nf = append(nf, delta.NewFile{URI: f.URI, Size: f.Bytes, Partition: f.Partition, Stats: stats})
	}
	res, err := p.Commit(ctx, nf)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return p, res
}

// readIDs reads the newest snapshot (optionally filtered) and returns the sorted ids.
func readIDs(t *testing.T, tbl *delta.Table, filter map[string]string) []int64 {
	t.Helper()
	ctx := context.Background()
	ds, _, err := delta.Open(ctx, tbl, filter)
	if err != nil {
		t.Fatal(err)
	}
	if ds == nil {
		return nil
	}
	rr, err := ds.Reader(ctx, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	var ids []int64
	for rr.Next() {
		rec := rr.RecordBatch()
		col := rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.Int64)
		ids = append(ids, col.Int64Values()...)
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

func newTable(t *testing.T) (*objstore.Store, *delta.Table) {
	st := objstore.New(objstore.Options{})
	return st, delta.New(st, "file://"+filepath.Join(t.TempDir(), "tbl"))
}

func TestModes(t *testing.T) {
	st, tbl := newTable(t)
	part := []string{"dt"}
	write(t, st, tbl, delta.Write{Mode: delta.Overwrite, PartitionBy: part, AppID: "r1"}, "r1", []int64{1, 2, 3}, []string{"a", "a", "b"})
	write(t, st, tbl, delta.Write{Mode: delta.Append, AppID: "r2"}, "r2", []int64{4}, []string{"b"})
	if got := readIDs(t, tbl, nil); !slices.Equal(got, []int64{1, 2, 3, 4}) {
		t.Fatalf("after append: %v", got)
	}
	// Overwrite replaces only partition b (replaceWhere of the touched partitions).
	_, res := write(t, st, tbl, delta.Write{Mode: delta.Overwrite, AppID: "r3"}, "r3", []int64{10, 11}, []string{"b", "b"})
	if res.Removed != 2 {
		t.Fatalf("removed %d files, want 2 (partition b)", res.Removed)
	}
	if got := readIDs(t, tbl, nil); !slices.Equal(got, []int64{1, 2, 10, 11}) {
		t.Fatalf("after partition overwrite: %v", got)
	}
	if got := readIDs(t, tbl, map[string]string{"dt": "a"}); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("partition a: %v", got)
	}
	// A null partition value round-trips as null.
	write(t, st, tbl, delta.Write{Mode: delta.Append, AppID: "r4"}, "r4", []int64{20}, []string{""})
	if got := readIDs(t, tbl, nil); !slices.Equal(got, []int64{1, 2, 10, 11, 20}) {
		t.Fatalf("with a null partition: %v", got)
	}
	// error and ignore look at the data.
	if _, err := tbl.Begin(context.Background(), delta.Write{Mode: delta.Error, Schema: inSchema}); fault.ClassOf(err) != fault.Data {
		t.Fatalf("mode error on a table with data: %v", err)
	}
	p, _ := write(t, st, tbl, delta.Write{Mode: delta.Ignore, AppID: "r5"}, "r5", []int64{99}, []string{"a"})
	if p.Decision != delta.Skip {
		t.Fatalf("mode ignore: decision %v", p.Decision)
	}
	// A retry of r3 finds its txn: nothing written again.
	p, _ = write(t, st, tbl, delta.Write{Mode: delta.Overwrite, AppID: "r3"}, "r3b", []int64{77}, []string{"b"})
	if p.Decision != delta.AlreadyCommitted {
		t.Fatalf("retry: decision %v", p.Decision)
	}
	v, actions, err := p.Base.FindTxn(context.Background(), "r3")
	if err != nil || v != 2 {
		t.Fatalf("FindTxn: %d %v", v, err)
	}
	adds := 0
	for _, a := range actions {
		if a.Add != nil {
			adds++
		}
	}
	if adds != 1 {
		t.Fatalf("r3's commit has %d adds", adds)
	}
	// Partitioning is the table's.
	if _, err := tbl.Begin(context.Background(), delta.Write{Mode: delta.Append, PartitionBy: []string{"name"}, Schema: inSchema}); fault.ClassOf(err) != fault.Data {
		t.Fatalf("other partitioning: %v", err)
	}
}

func TestUnpartitionedOverwriteAndSchema(t *testing.T) {
	st, tbl := newTable(t)
	write(t, st, tbl, delta.Write{Mode: delta.Overwrite, AppID: "a"}, "a", []int64{1, 2}, []string{"x", "y"})
	write(t, st, tbl, delta.Write{Mode: delta.Overwrite, AppID: "b"}, "b", []int64{3}, []string{"x"})
	if got := readIDs(t, tbl, nil); !slices.Equal(got, []int64{3}) {
		t.Fatalf("overwrite twice: %v", got)
	}
	other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, nil)
	if _, err := tbl.Begin(context.Background(), delta.Write{Mode: delta.Append, Schema: other}); fault.ClassOf(err) != fault.Data || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("append of another schema: %v", err)
	}
	p, err := tbl.Begin(context.Background(), delta.Write{Mode: delta.Overwrite, Schema: other})
	if err != nil || p.Decision != delta.WriteFiles {
		t.Fatalf("overwrite of a whole table with a new schema: %v", err)
	}
	// Unsigned integers have no Delta type: refused with the cast to make.
	u := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Uint32}}, nil)
	if _, err := tbl.Begin(context.Background(), delta.Write{Mode: delta.Append, Schema: u}); fault.ClassOf(err) != fault.Data || !strings.Contains(err.Error(), "cast") {
		t.Fatalf("uint32: %v", err)
	}
}

// Concurrent writers: every commit gets its own version, none is lost.
func TestConcurrentAppends(t *testing.T) {
	st, tbl := newTable(t)
	write(t, st, tbl, delta.Write{Mode: delta.Append, AppID: "init"}, "init", []int64{0}, []string{"a"})
	var wg sync.WaitGroup
	for i := 1; i <= 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := string(rune('a' + i))
			write(t, st, tbl, delta.Write{Mode: delta.Append, AppID: id}, id, []int64{int64(i)}, []string{"a"})
		}(i)
	}
	wg.Wait()
	if got := readIDs(t, tbl, nil); !slices.Equal(got, []int64{0, 1, 2, 3, 4, 5, 6}) {
		t.Fatalf("concurrent appends: %v", got)
	}
	s, err := tbl.Latest(context.Background())
	if err != nil || s.Version != 6 {
		t.Fatalf("version %v, %v", s, err)
	}
}

// A commit that lost the race re-decides: the same AppID committed by the winner is not written twice.
func TestLostRaceSameApp(t *testing.T) {
	st, tbl := newTable(t)
	ctx := context.Background()
	write(t, st, tbl, delta.Write{Mode: delta.Append, AppID: "x"}, "x", []int64{1}, []string{"a"})
	p1, err := tbl.Begin(ctx, delta.Write{Mode: delta.Append, AppID: "same", Schema: inSchema})
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, tbl, delta.Write{Mode: delta.Append, AppID: "same"}, "s1", []int64{2}, []string{"a"})
	res, err := p1.Commit(ctx, nil)
	if err != nil || !res.AlreadyCommitted {
		t.Fatalf("late attempt: %+v %v", res, err)
	}
	if got := readIDs(t, tbl, nil); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("rows: %v", got)
	}
}

// A table written by delta-rs (testdata/make_fixture.py): partitioned, four commits, a
// partition overwrite, a Parquet checkpoint at version 2 and a commit after it.
func TestReadDeltaRSFixture(t *testing.T) {
	st := objstore.New(objstore.Options{})
	abs, _ := filepath.Abs("testdata/deltars_partitioned")
	tbl := delta.New(st, "file://"+abs)
	if got := readIDs(t, tbl, nil); !slices.Equal(got, []int64{1, 2, 5, 30, 31, 32}) {
		t.Fatalf("ids %v", got)
	}
	if got := readIDs(t, tbl, map[string]string{"dt": "2024-01-02"}); !slices.Equal(got, []int64{30, 31, 32}) {
		t.Fatalf("partition: %v", got)
	}
	s, err := tbl.At(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.NumFiles() != 2 {
		t.Fatalf("version 1 has %d files", s.NumFiles())
	}
	ds, _, err := delta.Open(context.Background(), tbl, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "id: int64, name: utf8, amount: float64, day: date32, ts: timestamp[us, tz=UTC], dt: utf8"
	var got []string
	for _, f := range ds.Schema.Fields() {
		got = append(got, f.Name+": "+f.Type.String())
	}
	if strings.Join(got, ", ") != want {
		t.Fatalf("schema %s", strings.Join(got, ", "))
	}
}

// Reader features that would make the arrow engine misread a table are refused (exit 65).
func TestRefusedFeatures(t *testing.T) {
	meta := `{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":%s}}`
	cases := []struct {
		name, protocol, config, add, want string
	}{
		{"deletion vectors in use", `{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}`, `{}`,
			`{"add":{"path":"a.parquet","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true,"deletionVector":{"storageType":"u","pathOrInlineDv":"ab","offset":1,"sizeInBytes":36,"cardinality":2}}}`, "deletion vectors"},
		{"column mapping", `{"minReaderVersion":2,"minWriterVersion":5}`, `{"delta.columnMapping.mode":"name"}`, ``, "column mapping"},
		{"unknown feature", `{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["v2Checkpoint"],"writerFeatures":["v2Checkpoint"]}`, `{}`, ``, "v2Checkpoint"},
		{"reader version 4", `{"minReaderVersion":4,"minWriterVersion":7}`, `{}`, ``, "reader version 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "_delta_log"), 0o755)
			lines := []string{`{"protocol":` + c.protocol + `}`, strings.Replace(meta, "%s", c.config, 1)}
			if c.add != "" {
				lines = append(lines, c.add)
			}
			os.WriteFile(filepath.Join(dir, "_delta_log", delta.CommitName(0)), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
			st := objstore.New(objstore.Options{})
			_, _, err := delta.Open(context.Background(), delta.New(st, "file://"+dir), nil)
			if fault.ClassOf(err) != fault.Data || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a data error about %s", err, c.want)
			}
		})
	}
	// Deletion vectors enabled but unused read fine.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "_delta_log"), 0o755)
	os.WriteFile(filepath.Join(dir, "_delta_log", delta.CommitName(0)), []byte(`{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}`+"\n"+strings.Replace(meta, "%s", "{}", 1)+"\n"), 0o644)
	if _, _, err := delta.Open(context.Background(), delta.New(objstore.New(objstore.Options{}), "file://"+dir), nil); err != nil {
		t.Fatalf("deletion vectors enabled, none used: %v", err)
	}
}

func TestNoTable(t *testing.T) {
	_, tbl := newTable(t)
	_, err := tbl.Latest(context.Background())
	if !errors.Is(err, delta.ErrNoTable) {
		t.Fatalf("got %v", err)
	}
}

// Our commits are what other readers expect: one action per line, protocol and metaData first,
// a relative URI-escaped path, partition values from the data, numRecords and bounds in stats.
func TestCommitFormat(t *testing.T) {
	st, tbl := newTable(t)
	write(t, st, tbl, delta.Write{Mode: delta.Overwrite, PartitionBy: []string{"dt"}, AppID: "app"}, "p", []int64{5, 7}, []string{"a:b", "a:b"})
	b, err := os.ReadFile(strings.TrimPrefix(tbl.URI(), "file://") + "/_delta_log/" + delta.CommitName(0))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var kinds []string
	var add struct {
		Add struct {
			Path            string            `json:"path"`
			PartitionValues map[string]string `json:"partitionValues"`
			Stats           string            `json:"stats"`
		} `json:"add"`
	}
	for _, l := range lines {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			kinds = append(kinds, k)
		}
		if _, ok := m["add"]; ok {
			json.Unmarshal([]byte(l), &add)
		}
	}
	if strings.Join(kinds, ",") != "commitInfo,protocol,metaData,txn,add" {
		t.Fatalf("actions %v", kinds)
	}
	// The folder is Hive-escaped (dt=a%3Ab), and the path escapes that again as a URI.
	if !strings.HasPrefix(add.Add.Path, "dt=a%253Ab/part-p-") || add.Add.PartitionValues["dt"] != "a:b" {
		t.Fatalf("add %+v", add.Add)
	}
	var stats delta.Stats
	if err := json.Unmarshal([]byte(add.Add.Stats), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.NumRecords != 2 || stats.MinValues["id"] != float64(5) || stats.MaxValues["id"] != float64(7) || stats.NullCount["id"] != float64(0) {
		t.Fatalf("stats %+v", stats)
	}
	if got := readIDs(t, tbl, map[string]string{"dt": "a:b"}); !slices.Equal(got, []int64{5, 7}) {
		t.Fatalf("read back: %v", got)
	}
}
