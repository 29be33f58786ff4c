package contract

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkFiveChecks measures five typical checks (plus the schema) over 1M rows in batches of
// 64Ki, the shape of the pipeline benchmark's group-by output: user_id, n, amt, avg_amt.
func BenchmarkFiveChecks(b *testing.B) {
	const rows, batch = 1 << 20, 64 << 10
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "amt", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "avg_amt", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	var recs []arrow.RecordBatch
	for off := 0; off < rows; off += batch {
		bld := array.NewRecordBuilder(mem, schema)
		for i := off; i < off+batch; i++ {
			// ids 0..1M-1 in a scrambled order, as a group-by emits them
			bld.Field(0).(*array.Int64Builder).Append(int64((uint64(i) * 0x9E3779B1) % rows))
			bld.Field(1).(*array.Int64Builder).Append(int64(i%9 + 1))
			bld.Field(2).(*array.Float64Builder).Append(float64(i%1000) + 0.5)
			bld.Field(3).(*array.Float64Builder).Append(float64(i%1000)/float64(i%9+1) + 0.1)
		}
		recs = append(recs, bld.NewRecordBatch())
		bld.Release()
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	c, err := Parse(spec(b, `{"columns": [{"name": "user_id", "type": "int64", "nullable": false}, {"name": "n", "type": "int64"},
		{"name": "amt", "type": "float64"}, {"name": "avg_amt", "type": "float64"}],
		"checks": [{"row_count": {"min": 1}}, {"unique": ["user_id"]}, {"null_ratio": {"column": "avg_amt", "max": 0.01}},
		{"range": {"column": "amt", "min": 0}}, {"rows_where": "avg_amt > amt"}]}`))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		e := c.Bind(schema, mem)
		for _, r := range recs {
			if err := e.Observe(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		if bad := Blocking(e.Results(Options{})); len(bad) != 0 {
			b.Fatalf("checks failed: %+v", bad)
		}
	}
	// CPU time as well as wall time: on a shared machine the wall time says more about the
	// neighbours than about the checks.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrows/s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
