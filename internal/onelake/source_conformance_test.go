package onelake_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/onelake"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/table"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sourcetest"
)

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// appendRows commits rows to the Delta table at dir (created by the first call), the way the
// onelake sink writes: data files, then one commit.
func appendRows(t *testing.T, dir string, from, n int) {
	t.Helper()
	ctx := context.Background()
	st := objstore.New(objstore.Options{})
	tbl := delta.New(st, strings.TrimSuffix(dir, "/"))
	p, err := tbl.Begin(ctx, delta.Write{Mode: "append", Schema: schema})
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	files := writeParquet(t, st, tbl.URI(), from, n)
	sc, _ := delta.SchemaOf(schema)
	var nf []delta.NewFile
	for _, f := range files {
		stats, err := delta.FileStats(ctx, st, f.URI, sc)
		if err != nil {
			t.Fatal(err)
		}
		nf = append(nf, delta.NewFile{URI: f.URI, Size: f.Bytes, Partition: f.Partition, Stats: stats})
	}
	if _, err := p.Commit(ctx, nf); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// writeParquet writes n rows (user_id from, from+1, ...) as Parquet files into the folder dir.
func writeParquet(t *testing.T, st *objstore.Store, dir string, from, n int) []dataset.WrittenFile {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(from + i))
		b.Field(1).(*array.Float64Builder).Append(float64(i) + 0.5)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rr, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	files, err := dataset.WriteFiles(context.Background(), st, dir, rr, dataset.WriteOptions{FilePrefix: fmt.Sprintf("part-%d", from), Interop: true})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// appendVersion appends rows to the parquet table at dir the way the onelake sink (format
// parquet, mode append) publishes: data files, then the next table version.
func appendVersion(t *testing.T, dir string, from, n int) {
	t.Helper()
	ctx := context.Background()
	st := objstore.New(objstore.Options{})
	dir = strings.TrimSuffix(dir, "/")
	w := table.Writer{Pipeline: "producer", RunID: fmt.Sprintf("run-%d", from), Node: "out", Attempt: 1}
	_, cur, err := table.Plan(ctx, st, dir, "append", w)
	if err != nil {
		t.Fatal(err)
	}
	var infos []dataset.FileInfo
	rows := map[string]int64{}
	for _, f := range writeParquet(t, st, dir, from, n) {
		infos = append(infos, dataset.FileInfo{URI: f.URI, Size: f.Bytes, Partition: f.Partition})
		rows[f.URI] = f.Rows
	}
	if _, err := table.Commit(ctx, st, dir, cur, table.Version{Format: "parquet", Files: infos,
		Schema: readers.Fields(schema), Mode: "append", Writer: w}, rows); err != nil {
		t.Fatal(err)
	}
}

// TestOnelakeSourceConformance runs the source suite over a Delta table under the lake root, on
// the arrow engine: the pin is the table version it read, so a later commit is read by the next
// run only.
func TestOnelakeSourceConformance(t *testing.T) {
	lake, n := "file://"+filepath.Join(t.TempDir(), "lake"), 0
	dirOf := func(t *testing.T, table string) string {
		dir, err := onelake.TableDir(lake, table)
		if err != nil {
			t.Fatal(err)
		}
		return dir
	}
	sourcetest.Run(t, sourcetest.Target{Registry: builtin.Registry(), Kind: "onelake", Engine: "arrow",
		Configure: func(c *config.Config) { c.LakeRoot = lake },
		Params: func(t *testing.T) map[string]any {
			n++
			table := fmt.Sprintf("sourcetest.t%d", n)
			appendRows(t, dirOf(t, table), 0, sourcetest.Rows)
			return map[string]any{"table": table, "format": "delta"}
		},
		Append: func(t *testing.T, p map[string]any, rows int) {
			appendRows(t, dirOf(t, fmt.Sprint(p["table"])), 1000, rows)
		},
	})
}

// TestOnelakeParquetSourceConformance runs the source suite over format parquet on the arrow
// engine, in both shapes such a table has: a table the onelake sink publishes (the pin is the
// file list of the table version read, so a later version is read by the next run only) and a
// plain Hive folder another writer fills (the pin is the file list of the listing, with sizes
// and ETags).
func TestOnelakeParquetSourceConformance(t *testing.T) {
	for _, tc := range []struct {
		name   string
		append func(t *testing.T, dir string, from, n int)
	}{
		{"versions", appendVersion},
		{"folder", func(t *testing.T, dir string, from, n int) {
			writeParquet(t, objstore.New(objstore.Options{}), strings.TrimSuffix(dir, "/"), from, n)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lake, n := "file://"+filepath.Join(t.TempDir(), "lake"), 0
			dirOf := func(t *testing.T, table string) string {
				dir, err := onelake.TableDir(lake, table)
				if err != nil {
					t.Fatal(err)
				}
				return dir
			}
			sourcetest.Run(t, sourcetest.Target{Registry: builtin.Registry(), Kind: "onelake", Engine: "arrow",
				Configure: func(c *config.Config) { c.LakeRoot = lake },
				Params: func(t *testing.T) map[string]any {
					n++
					table := fmt.Sprintf("sourcetest.p%d", n)
					tc.append(t, dirOf(t, table), 0, sourcetest.Rows)
					return map[string]any{"table": table, "format": "parquet"}
				},
				Append: func(t *testing.T, p map[string]any, rows int) {
					tc.append(t, dirOf(t, fmt.Sprint(p["table"])), 1000, rows)
				},
			})
		})
	}
}
