package benchdataset

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

const benchRows = 10_000_000

var (
	genOnce sync.Once
	genDir  string
	genErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if genDir != "" {
		os.RemoveAll(genDir)
	}
	os.Exit(code)
}

// input generates the 10M-row Parquet dataset once per process.
func input(b *testing.B, st *objstore.Store) string {
	genOnce.Do(func() {
		genDir, genErr = os.MkdirTemp("", "aiflow-bench-")
		if genErr != nil {
			return
		}
		rr := Rows(memory.DefaultAllocator, benchRows)
		defer rr.Release()
		_, genErr = dataset.WriteFiles(context.Background(), st, "file://"+genDir+"/in", rr, dataset.WriteOptions{})
	})
	if genErr != nil {
		b.Fatal(genErr)
	}
	return "file://" + genDir + "/in"
}

// BenchmarkParquetCopy copies 10M rows Parquet → Parquet through the streaming reader and writer.
func BenchmarkParquetCopy(b *testing.B) {
	ctx := context.Background()
	st := objstore.New(objstore.Options{})
	src := input(b, st)
	b.ResetTimer()
	var rows int64
	for i := 0; b.Loop(); i++ {
		dst := "file://" + b.TempDir() + "/out"
		ds, err := dataset.Open(ctx, st, src, dataset.ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rr, err := ds.Reader(ctx, memory.DefaultAllocator)
		if err != nil {
			b.Fatal(err)
		}
		files, err := dataset.WriteFiles(ctx, st, dst, rr, dataset.WriteOptions{})
		rr.Release()
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range files {
			rows += f.Rows
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
