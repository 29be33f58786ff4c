package arrowops

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const (
	benchRows  = 10_000_000
	benchBatch = 64 << 10
	benchUsers = 1_000_000
)

var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	{Name: "status", Type: arrow.BinaryTypes.String},
}, nil)

var (
	benchOnce sync.Once
	benchRecs []arrow.RecordBatch
)

// benchData is 10M rows in 64k-row batches: user_id uniform over 1M ids, amount uniform in
// [0, 1000), status one of 4 values.
func benchData() []arrow.RecordBatch {
	benchOnce.Do(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		statuses := []string{"paid", "open", "refunded", "cancelled"}
		b := array.NewRecordBuilder(memory.DefaultAllocator, benchSchema)
		defer b.Release()
		for done := 0; done < benchRows; done += benchBatch {
			n := min(benchBatch, benchRows-done)
			uid := b.Field(0).(*array.Int64Builder)
			amt := b.Field(1).(*array.Float64Builder)
			st := b.Field(2).(*array.StringBuilder)
			uid.Reserve(n)
			amt.Reserve(n)
			st.Reserve(n)
			for range n {
				uid.UnsafeAppend(rng.Int64N(benchUsers))
				amt.UnsafeAppend(rng.Float64() * 1000)
				st.Append(statuses[rng.IntN(len(statuses))])
			}
			benchRecs = append(benchRecs, b.NewRecordBatch())
		}
	})
	return benchRecs
}

func BenchmarkFilterGroupBy(b *testing.B) {
	recs := benchData()
	steps, err := DecodeSteps([]byte(`[{"filter": "status = 'paid'"}, {"group_by": {"keys": ["user_id"], "aggs": {"n": "count(*)", "s": "sum(amount)"}}}]`))
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(steps, map[string]*arrow.Schema{"orders": benchSchema}, "orders")
	if err != nil {
		b.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	groups := 0
	for range b.N {
		in, err := array.NewRecordReader(benchSchema, recs)
		if err != nil {
			b.Fatal(err)
		}
		out, err := p.Run(context.Background(), map[string]array.RecordReader{"orders": in}, mem)
		if err != nil {
			b.Fatal(err)
		}
		groups = 0
		for out.Next() {
			groups += int(out.RecordBatch().NumRows())
		}
		if err := out.Err(); err != nil {
			b.Fatal(err)
		}
		out.Release()
		in.Release()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	if groups < benchUsers*9/10 {
		b.Fatalf("got %d groups", groups)
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// cpuTime is the process's user+system CPU time in ns: on a shared machine wall time says
// little, CPU time says what the work costs.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkGroupBy is the group_by of BenchmarkFilterGroupBy alone (10M rows, 1M groups,
// count/sum/avg), aggregated on one goroutine (p=1) and in partitions on every core.
func BenchmarkGroupBy(b *testing.B) {
	recs := benchData()
	steps, err := DecodeSteps([]byte(`[{"group_by": {"keys": ["user_id"], "aggs": {"n": "count(*)", "s": "sum(amount)", "a": "avg(amount)"}}}]`))
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(steps, map[string]*arrow.Schema{"orders": benchSchema}, "orders")
	if err != nil {
		b.Fatal(err)
	}
	for _, par := range []int{1, groupByParallelism()} {
		b.Run(fmt.Sprintf("p=%d", par), func(b *testing.B) {
			old := groupByParallelism
			groupByParallelism = func() int { return par }
			defer func() { groupByParallelism = old }()
			mem := memory.NewGoAllocator()
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				in, err := array.NewRecordReader(benchSchema, recs)
				if err != nil {
					b.Fatal(err)
				}
				out, err := p.Run(context.Background(), map[string]array.RecordReader{"orders": in}, mem)
				if err != nil {
					b.Fatal(err)
				}
				groups := 0
				for out.Next() {
					groups += int(out.RecordBatch().NumRows())
				}
				if err := out.Err(); err != nil {
					b.Fatal(err)
				}
				out.Release()
				in.Release()
				if groups < benchUsers*9/10 {
					b.Fatalf("got %d groups", groups)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}
