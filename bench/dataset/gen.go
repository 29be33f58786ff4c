// Package benchdataset holds the dataset benchmarks (BenchmarkParquetCopy) and the generator they
// share with the copy tool that measures peak RSS (bench/dataset/copy).
package benchdataset

import (
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Schema of the generated rows: a few columns of the usual kinds.
var Schema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: arrow.PrimitiveTypes.Int64},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "customer", Type: arrow.BinaryTypes.String},
	{Name: "country", Type: arrow.BinaryTypes.String},
}, nil)

var countries = []string{"NL", "DE", "FR", "BE", "ES", "IT", "PL", "SE"}

// Rows returns a RecordReader generating n rows in batches of 64Ki, lazily (constant memory).
func Rows(mem memory.Allocator, n int64) array.RecordReader {
	g := &gen{mem: mem, n: n}
	g.refs.Store(1)
	return g
}

type gen struct {
	mem  memory.Allocator
	n    int64
	next int64
	cur  arrow.RecordBatch
	refs atomic.Int64
}

func (g *gen) Retain()                        { g.refs.Add(1) }
func (g *gen) Schema() *arrow.Schema          { return Schema }
func (g *gen) RecordBatch() arrow.RecordBatch { return g.cur }
func (g *gen) Record() arrow.RecordBatch      { return g.cur }
func (g *gen) Err() error                     { return nil }
func (g *gen) Release() {
	if g.refs.Add(-1) == 0 && g.cur != nil {
		g.cur.Release()
		g.cur = nil
	}
}

func (g *gen) Next() bool {
	if g.cur != nil {
		g.cur.Release()
		g.cur = nil
	}
	if g.next >= g.n {
		return false
	}
	m := min(g.n-g.next, 64<<10)
	b := array.NewRecordBuilder(g.mem, Schema)
	defer b.Release()
	id := b.Field(0).(*array.Int64Builder)
	ts := b.Field(1).(*array.Int64Builder)
	amt := b.Field(2).(*array.Float64Builder)
	cust := b.Field(3).(*array.StringBuilder)
	ctry := b.Field(4).(*array.StringBuilder)
	for i := g.next; i < g.next+m; i++ {
		id.Append(i)
		ts.Append(1_700_000_000_000 + i*37)
		if i%97 == 0 {
			amt.AppendNull()
		} else {
			amt.Append(float64(i%100000) * 0.01)
		}
		cust.Append(fmt.Sprintf("customer-%07d", (i*7919)%1_000_000))
		ctry.Append(countries[i%int64(len(countries))])
	}
	g.next += m
	g.cur = b.NewRecordBatch()
	return true
}
