package readahead

import (
	"context"
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestNew(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	var recs []arrow.RecordBatch
	for i := 0; i < 10; i++ {
		b := array.NewRecordBuilder(mem, sc)
		b.Field(0).(*array.Int64Builder).AppendValues([]int64{int64(i), int64(i)}, nil)
		recs = append(recs, b.NewRecordBatch())
		b.Release()
	}
	release := func() {
		for _, r := range recs {
			r.Release()
		}
	}
	defer release()

	t.Run("all batches in order", func(t *testing.T) {
		rr, _ := array.NewRecordReader(sc, recs)
		p := New(context.Background(), rr, 2)
		defer p.Release()
		var got []int64
		for p.Next() {
			got = append(got, p.RecordBatch().Column(0).(*array.Int64).Value(0))
		}
		if p.Err() != nil || len(got) != 10 || got[9] != 9 {
			t.Fatalf("got %v, err %v", got, p.Err())
		}
	})
	t.Run("release early frees what was read ahead", func(t *testing.T) {
		rr, _ := array.NewRecordReader(sc, recs)
		p := New(context.Background(), rr, 3)
		p.Next()
		p.Release()
	})
	t.Run("the source error comes through", func(t *testing.T) {
		p := New(context.Background(), &failing{sc: sc}, 2)
		defer p.Release()
		for p.Next() {
		}
		if !errors.Is(p.Err(), errBoom) {
			t.Fatalf("Err = %v", p.Err())
		}
	})
}

var errBoom = errors.New("boom")

type failing struct{ sc *arrow.Schema }

func (f *failing) Schema() *arrow.Schema          { return f.sc }
func (f *failing) Next() bool                     { return false }
func (f *failing) RecordBatch() arrow.RecordBatch { return nil }
func (f *failing) Record() arrow.RecordBatch      { return nil }
func (f *failing) Err() error                     { return errBoom }
func (f *failing) Retain()                        {}
func (f *failing) Release()                       {}
