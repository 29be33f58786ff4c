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
	files, err := dataset.WriteFiles(ctx, st, tbl.URI(), rr, dataset.WriteOptions{FilePrefix: fmt.Sprintf("part-%d", from), Interop: true})
	if err != nil {
		t.Fatal(err)
	}
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
