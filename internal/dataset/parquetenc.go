package dataset

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parallelColumns turns on parquetColumnsEnc for flat schemas; tests turn it off to compare
// its files with pqarrow.FileWriter's.
var parallelColumns = true

// parquetColumnsEnc writes the same Parquet file as pqarrow.FileWriter.WriteBuffered (a
// buffered row group, closed at MaxRowGroupLength rows or rowGroupMaxBytes), but encodes the
// columns of each batch concurrently, one goroutine per column, at most GOMAXPROCS at once.
// pqarrow.FileWriter encodes them one after the other on the caller's goroutine, so the write
// of a transform's output (dictionary attempts, page encoding, zstd) ran on one core while the
// other waited. The column writers of a buffered row group are independent until the row
// group is closed (each compresses its pages into its own buffer); closing it, which copies
// the buffers into the file in column order, stays on the caller's goroutine.
//
// Only flat schemas (no list, struct, map, union, dictionary or extension columns) take this
// path: there a column is one Parquet leaf whose definition level is 1 for a value and 0 for a
// null, which is all the level building pqarrow would do.
type parquetColumnsEnc struct {
	wr       *file.Writer
	rgw      file.BufferedRowGroupWriter
	rgRows   int64
	maxRows  int64
	nullable []bool
	ctxs     []context.Context // one arrow write context per column: each holds scratch buffers
	defs     [][]int16         // definition levels, reused per column
}

// flatParquetSchema: every column is a single Parquet leaf that pqarrow.WriteArrowToColumn
// writes from the array itself.
func flatParquetSchema(sc *arrow.Schema) bool {
	for _, f := range sc.Fields() {
		switch f.Type.ID() {
		case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
			arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
			arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
			arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY, arrow.FIXED_SIZE_BINARY,
			arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64,
			arrow.DECIMAL128, arrow.DECIMAL256:
		default:
			return false
		}
	}
	return true
}

// newParquetColumnsEnc sets up the file as pqarrow.NewFileWriter does: the Parquet schema
// from pqarrow.ToParquet, the Arrow schema's metadata, and, with storeSchema, the serialized
// Arrow schema under ARROW:schema (for a flat schema, pqarrow's normalization changes nothing).
func newParquetColumnsEnc(sc *arrow.Schema, out io.Writer, props *parquet.WriterProperties, aprops pqarrow.ArrowWriterProperties, storeSchema bool) (*parquetColumnsEnc, error) {
	pqschema, err := pqarrow.ToParquet(sc, props, aprops)
	if err != nil {
		return nil, err
	}
	meta := make(metadata.KeyValueMetadata, 0)
	md := sc.Metadata()
	for i := 0; i < md.Len(); i++ {
		meta.Append(md.Keys()[i], md.Values()[i])
	}
	if storeSchema {
		meta.Append("ARROW:schema", base64.StdEncoding.EncodeToString(flight.SerializeSchema(sc, props.Allocator())))
	}
	wr, err := file.NewParquetWriterWithError(out, pqschema.Root(), file.WithWriterProps(props), file.WithWriteMetadata(meta))
	if err != nil {
		return nil, err
	}
	e := &parquetColumnsEnc{wr: wr, maxRows: props.MaxRowGroupLength(), nullable: make([]bool, sc.NumFields()),
		ctxs: make([]context.Context, sc.NumFields()), defs: make([][]int16, sc.NumFields())}
	for i, f := range sc.Fields() {
		e.nullable[i] = f.Nullable
		e.ctxs[i] = pqarrow.NewArrowWriteContext(context.Background(), &aprops)
	}
	return e, nil
}

func (e *parquetColumnsEnc) write(rec arrow.RecordBatch) error {
	for off := int64(0); off < rec.NumRows(); {
		if e.rgw == nil || e.rgRows >= e.maxRows {
			rgw, err := e.wr.AppendBufferedRowGroupChecked() // closes the previous one
			if err != nil {
				return err
			}
			e.rgw, e.rgRows = rgw, 0
		}
		n := min(rec.NumRows()-off, e.maxRows-e.rgRows)
		if err := e.writeColumns(rec, off, n); err != nil {
			return err
		}
		e.rgRows += n
		off += n
	}
	if e.rgw != nil && e.rgw.TotalBytesWritten() >= rowGroupMaxBytes {
		e.rgRows = e.maxRows // the next batch starts a new row group
	}
	return nil
}

// writeColumns writes rows [off, off+n) of every column of rec into the current row group.
func (e *parquetColumnsEnc) writeColumns(rec arrow.RecordBatch, off, n int64) error {
	cols := int(rec.NumCols())
	errs := make([]error, cols)
	workers := min(cols, runtime.GOMAXPROCS(0))
	next := make(chan int, cols)
	for i := range cols {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = e.writeColumn(i, rec.Column(i), off, n)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("column %s: %w", rec.Schema().Field(i).Name, err)
		}
	}
	return nil
}

func (e *parquetColumnsEnc) writeColumn(i int, col arrow.Array, off, n int64) (err error) {
	// A panic on a worker goroutine would end the process; on the caller's goroutine, where
	// pqarrow.FileWriter runs it, the node would have failed as a bug. Keep it that way.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic encoding the column: %v", r)
		}
	}()
	cw, err := e.rgw.Column(i)
	if err != nil {
		return err
	}
	if off != 0 || n != int64(col.Len()) {
		col = array.NewSlice(col, off, off+n)
		defer col.Release()
	}
	var defs []int16
	if e.nullable[i] {
		if cap(e.defs[i]) < col.Len() {
			e.defs[i] = make([]int16, col.Len())
		}
		defs = e.defs[i][:col.Len()]
		if col.NullN() == 0 {
			for j := range defs {
				defs[j] = 1
			}
		} else {
			for j := range defs {
				if col.IsValid(j) {
					defs[j] = 1
				} else {
					defs[j] = 0
				}
			}
		}
	}
	return pqarrow.WriteArrowToColumn(e.ctxs[i], cw, col, defs, nil, e.nullable[i])
}

func (e *parquetColumnsEnc) close() error {
	// file.Writer.Close closes the open row group, then writes the footer.
	return e.wr.Close()
}
