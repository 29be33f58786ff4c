package dataset

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// WriteOptions say how to write.
type WriteOptions struct {
	// Format of the files (default Parquet).
	Format Format
	// PartitionBy splits rows into Hive folders key=value/… by these columns, which are left out of
	// the file data. Values are percent-escaped like Hive's; null and "" become NullPartition.
	PartitionBy []string
	// FilePrefix goes into the file names: part-<prefix>-<nnnnn>.<ext> (part-<nnnnn>.<ext> when
	// empty). Names are deterministic for a given input, so re-writing overwrites, never duplicates.
	FilePrefix string
	// KeepFinishedOnError leaves the files already finished when the write fails, instead of
	// deleting them. A writer whose file names are deterministic per run and node (a sink
	// publishing into a shared folder) sets it: a concurrent attempt of the same node (a zombie
	// pod and its replacement) writes the same names, so deleting "our" finished files could
	// delete the files the other attempt has just published. The names stay owned by the
	// run+node: the retry overwrites them and removes those it does not rewrite.
	KeepFinishedOnError bool
	// MaxRowsPerFile starts a new file after this many rows (0: no limit).
	MaxRowsPerFile int64
	// RowGroupRows bounds a Parquet row group (default 1Mi rows; also closed at 128 MiB).
	RowGroupRows int64
	// Compression: "zstd" (default), "snappy", "gzip", "lz4" or "none" (Parquet; IPC: zstd, lz4, none).
	Compression string
	// CompressionLevel of the Parquet codec (0: the codec's default; zstd 1 is its fastest).
	CompressionLevel int
	// MaxOpenFiles bounds the files open at once when partitioning (default 64); the least recently
	// used is closed (finished) when a new partition needs a file.
	MaxOpenFiles int
	// Interop writes Parquet the way Delta Lake and Spark expect it: timestamps as microseconds
	// (nanoseconds are truncated) and no Arrow schema in the footer (it would name the original
	// unit, and the table's own schema is the reference).
	Interop bool
	// Allocator for the writers' buffers (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Progress, when set, is called after each input batch with the rows and bytes written so far.
	Progress func(rows, bytes int64)
}

// WrittenFile describes one published file.
type WrittenFile struct {
	URI       string            `json:"uri"`
	Rows      int64             `json:"rows"`
	Bytes     int64             `json:"bytes"`
	SHA256    string            `json:"sha256"`
	Partition map[string]string `json:"partition,omitempty"`
}

const rowGroupMaxBytes = 128 << 20

// WriteFiles writes every batch of rr as files under dirURI and returns them sorted by URI. Each
// file is published atomically when complete (objstore.Put); memory stays bounded by the open
// files' buffers whatever the input size. On error the files already published by this call are
// deleted (best effort) and the error is returned: input errors keep their class, storage errors
// are classified by objstore.
func WriteFiles(ctx context.Context, st *objstore.Store, dirURI string, rr array.RecordReader, opts WriteOptions) (files []WrittenFile, err error) {
	w, err := newWriter(ctx, st, dirURI, rr.Schema(), opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			w.abort(!opts.KeepFinishedOnError)
			files = nil
		}
	}()
	for rr.Next() {
		rec := rr.RecordBatch()
		if err := w.write(rec); err != nil {
			return nil, err
		}
		if opts.Progress != nil {
			opts.Progress(w.rows, w.bytes())
		}
	}
	if err := rr.Err(); err != nil {
		return nil, fault.WrapOr(fault.Internal, err, "write %s: input", dirURI)
	}
	return w.finish()
}

type writer struct {
	ctx    context.Context
	st     *objstore.Store
	dir    string
	opts   WriteOptions
	mem    memory.Allocator
	in     *arrow.Schema
	data   *arrow.Schema // in without the partition columns
	dataIx []int         // column indices of data in in
	partIx []int         // column indices of the partition columns in in

	open    map[string]*partWriter // by partition folder ("" without PartitionBy)
	seq     map[string]int         // next file number per partition folder
	tick    int64
	done    []WrittenFile
	rows    int64
	written int64 // bytes of finished files
}

type partWriter struct {
	folder   string
	part     map[string]string
	f        *fileWriter
	lastUsed int64
}

func newWriter(ctx context.Context, st *objstore.Store, dir string, in *arrow.Schema, opts WriteOptions) (*writer, error) {
	if opts.Format == "" {
		opts.Format = Parquet
	}
	f, err := ParseFormat(string(opts.Format))
	if err != nil {
		return nil, err
	}
	opts.Format = f
	if opts.MaxOpenFiles <= 0 {
		opts.MaxOpenFiles = 64
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = 1 << 20
	}
	if opts.Compression == "" {
		opts.Compression = "zstd"
	}
	if _, err := parquetCodec(opts.Compression); err != nil {
		return nil, err
	}
	if strings.ContainsAny(opts.FilePrefix, "/\\\x00") || strings.HasPrefix(opts.FilePrefix, ".") {
		return nil, fault.Configf("write %s: invalid file prefix %q", dir, opts.FilePrefix)
	}
	if _, err := objstore.Join(dir, "x"); err != nil {
		return nil, err
	}
	w := &writer{ctx: ctx, st: st, dir: strings.TrimSuffix(dir, "/"), opts: opts, mem: opts.Allocator, in: in,
		open: map[string]*partWriter{}, seq: map[string]int{}}
	if w.mem == nil {
		w.mem = memory.DefaultAllocator
	}
	isPart := map[string]bool{}
	for _, k := range opts.PartitionBy {
		if err := validatePartitionKey(k); err != nil {
			return nil, err
		}
		idx := in.FieldIndices(k)
		if len(idx) != 1 {
			return nil, fault.Configf("write %s: partition column %s is not in the data (columns: %s)", dir, k, ColumnNames(in.Fields()))
		}
		if isPart[k] {
			return nil, fault.Configf("write %s: partition column %s given twice", dir, k)
		}
		if !partitionable(in.Field(idx[0]).Type) {
			return nil, fault.Configf("write %s: cannot partition by %s of type %s", dir, k, in.Field(idx[0]).Type)
		}
		isPart[k] = true
		w.partIx = append(w.partIx, idx[0])
	}
	var fields []arrow.Field
	for i, f := range in.Fields() {
		if !isPart[f.Name] {
			fields = append(fields, f)
			w.dataIx = append(w.dataIx, i)
		}
	}
	if len(fields) == 0 {
		return nil, fault.Configf("write %s: no columns left besides the partition columns", dir)
	}
	md := in.Metadata()
	w.data = arrow.NewSchema(fields, &md)
	return w, nil
}

func partitionable(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.BOOL, arrow.DATE32:
		return true
	}
	return false
}

// partitionValue renders row i of a partition column as Hive writes it.
func partitionValue(a arrow.Array, i int) (string, bool) {
	if a.IsNull(i) {
		return "", true
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i), false
	case *array.LargeString:
		return a.Value(i), false
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10), false
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10), false
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10), false
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10), false
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10), false
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10), false
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10), false
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10), false
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i)), false
	case *array.Date32:
		return a.Value(i).FormattedString(), false
	}
	return a.ValueStr(i), false
}

func (w *writer) bytes() int64 {
	n := w.written
	for _, p := range w.open {
		n += p.f.count.n
	}
	return n
}

func (w *writer) write(rec arrow.RecordBatch) error {
	if !rec.Schema().Equal(w.in) {
		return fault.Dataf("write %s: batch schema %s differs from the stream's %s", w.dir, schemaString(rec.Schema()), schemaString(w.in))
	}
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	w.rows += int64(n)
	if len(w.partIx) == 0 {
		return w.writeTo("", nil, rec)
	}
	// Group the rows by partition folder, in order of first appearance (deterministic names).
	type group struct {
		part map[string]string
		idx  []int32
	}
	groups := map[string]*group{}
	var order []string
	segs := make([]string, len(w.partIx))
	var prev string
	var prevG *group
	for i := 0; i < n; i++ {
		for j, c := range w.partIx {
			v, null := partitionValue(rec.Column(c), i)
			segs[j] = partitionSegment(w.in.Field(c).Name, v, null)
		}
		folder := strings.Join(segs, "/")
		g := prevG
		if folder != prev || g == nil {
			g = groups[folder]
			if g == nil {
				g = &group{part: map[string]string{}}
				for _, c := range w.partIx {
					v, _ := partitionValue(rec.Column(c), i)
					g.part[w.in.Field(c).Name] = v
				}
				groups[folder] = g
				order = append(order, folder)
			}
			prev, prevG = folder, g
		}
		g.idx = append(g.idx, int32(i))
	}
	for _, folder := range order {
		g := groups[folder]
		sub, err := w.take(rec, g.idx)
		if err != nil {
			return err
		}
		err = w.writeTo(folder, g.part, sub)
		sub.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// take selects rows of rec (a zero-copy slice when they are contiguous).
func (w *writer) take(rec arrow.RecordBatch, idx []int32) (arrow.RecordBatch, error) {
	first, last := int64(idx[0]), int64(idx[len(idx)-1])
	if last-first+1 == int64(len(idx)) {
		return rec.NewSlice(first, last+1), nil
	}
	b := array.NewInt32Builder(w.mem)
	b.AppendValues(idx, nil)
	ia := b.NewInt32Array()
	b.Release()
	defer ia.Release()
	ctx := compute.WithAllocator(w.ctx, w.mem)
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range rec.Columns() {
		if w.isPartCol(i) {
			continue // dropped anyway: keep a slice of the right length
		}
		t, err := compute.TakeArray(ctx, c, ia)
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "write %s: take rows", w.dir)
		}
		cols[i] = t
	}
	for i := range cols {
		if cols[i] == nil {
			cols[i] = array.NewSlice(rec.Column(i), 0, int64(len(idx)))
		}
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(idx))), nil
}

func (w *writer) isPartCol(i int) bool {
	for _, p := range w.partIx {
		if p == i {
			return true
		}
	}
	return false
}

// writeTo writes rec (full input schema) to the open file of a partition folder, rolling files at
// MaxRowsPerFile.
func (w *writer) writeTo(folder string, part map[string]string, rec arrow.RecordBatch) error {
	data := rec
	if len(w.partIx) > 0 {
		cols := make([]arrow.Array, len(w.dataIx))
		for i, j := range w.dataIx {
			cols[i] = rec.Column(j)
		}
		data = array.NewRecordBatch(w.data, cols, rec.NumRows())
		defer data.Release()
	}
	for off := int64(0); off < data.NumRows(); {
		p, err := w.writerFor(folder, part)
		if err != nil {
			return err
		}
		n := data.NumRows() - off
		if m := w.opts.MaxRowsPerFile; m > 0 {
			n = min(n, m-p.f.rows)
		}
		chunk := data
		if off != 0 || n != data.NumRows() {
			chunk = data.NewSlice(off, off+n)
		}
		err = p.f.write(chunk)
		if chunk != data {
			chunk.Release()
		}
		if err != nil {
			return err
		}
		off += n
		if m := w.opts.MaxRowsPerFile; m > 0 && p.f.rows >= m {
			if err := w.closePart(folder); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writer) writerFor(folder string, part map[string]string) (*partWriter, error) {
	w.tick++
	if p := w.open[folder]; p != nil {
		p.lastUsed = w.tick
		return p, nil
	}
	if len(w.open) >= w.opts.MaxOpenFiles {
		// Finish the least recently used file; the partition gets a new file if it comes back.
		var lru string
		var t int64 = -1
		for k, p := range w.open {
			if t < 0 || p.lastUsed < t {
				lru, t = k, p.lastUsed
			}
		}
		if err := w.closePart(lru); err != nil {
			return nil, err
		}
	}
	n := w.seq[folder]
	w.seq[folder] = n + 1
	name := fmt.Sprintf("part-%05d%s", n, w.opts.Format.ext())
	if w.opts.FilePrefix != "" {
		name = fmt.Sprintf("part-%s-%05d%s", w.opts.FilePrefix, n, w.opts.Format.ext())
	}
	rel := name
	if folder != "" {
		rel = folder + "/" + name
	}
	uri, err := objstore.Join(w.dir, rel)
	if err != nil {
		return nil, err
	}
	f, err := w.newFile(uri)
	if err != nil {
		return nil, err
	}
	p := &partWriter{folder: folder, part: part, f: f, lastUsed: w.tick}
	w.open[folder] = p
	return p, nil
}

func (w *writer) closePart(folder string) error {
	p := w.open[folder]
	delete(w.open, folder)
	wf, err := p.f.close()
	if err != nil {
		return err
	}
	fileWritten(w.ctx, wf.URI)
	wf.Partition = p.part
	w.done = append(w.done, wf)
	w.written += wf.Bytes
	return nil
}

func (w *writer) finish() ([]WrittenFile, error) {
	folders := make([]string, 0, len(w.open))
	for k := range w.open {
		folders = append(folders, k)
	}
	sort.Strings(folders)
	for _, k := range folders {
		if err := w.closePart(k); err != nil {
			return nil, err
		}
	}
	sort.Slice(w.done, func(i, j int) bool { return w.done[i].URI < w.done[j].URI })
	return w.done, nil
}

// abort drops the open files (never published) and, when deleteFinished, the finished ones.
func (w *writer) abort(deleteFinished bool) {
	for k, p := range w.open {
		p.f.abort()
		delete(w.open, k)
	}
	if deleteFinished {
		ctx := context.WithoutCancel(w.ctx)
		for _, f := range w.done {
			w.st.Delete(ctx, f.URI)
		}
	}
	w.done = nil
}

// fileWriter encodes batches into one object, streamed to objstore.Put through a pipe.
type fileWriter struct {
	uri   string
	pw    *io.PipeWriter
	done  chan error
	sum   hash.Hash
	count *countWriter
	enc   encoder
	rows  int64
}

type encoder interface {
	write(arrow.RecordBatch) error
	close() error
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (w *writer) newFile(uri string) (*fileWriter, error) {
	pr, pw := io.Pipe()
	f := &fileWriter{uri: uri, pw: pw, done: make(chan error, 1), sum: sha256.New()}
	go func() {
		err := w.st.Put(w.ctx, uri, pr)
		if err != nil {
			pr.CloseWithError(err) // the encoder's next write fails with Put's error
		} else {
			pr.Close()
		}
		f.done <- err
	}()
	f.count = &countWriter{w: io.MultiWriter(pw, f.sum)}
	enc, err := w.newEncoder(f.count)
	if err != nil {
		f.abort()
		return nil, err
	}
	f.enc = enc
	return f, nil
}

func (f *fileWriter) write(rec arrow.RecordBatch) error {
	if err := f.enc.write(rec); err != nil {
		return f.fail(err)
	}
	f.rows += rec.NumRows()
	return nil
}

// fail reports the upload's error when the pipe broke because of it.
func (f *fileWriter) fail(err error) error {
	f.pw.CloseWithError(err)
	perr := <-f.done
	f.done <- perr
	// A cancelled write (SIGTERM) is an interruption whichever side noticed it first: classified
	// before anything wraps it as a bug.
	if fault.IsCancel(perr) {
		return perr
	}
	if fault.IsCancel(err) {
		return fault.Wrap(fault.Temporary, err, "write %s", f.uri)
	}
	if fault.Classified(perr) && !fault.Classified(err) {
		return perr
	}
	if fault.Classified(err) {
		return err
	}
	return fault.Wrap(fault.Internal, err, "write %s", f.uri)
}

func (f *fileWriter) close() (WrittenFile, error) {
	if err := f.enc.close(); err != nil {
		return WrittenFile{}, f.fail(err)
	}
	f.pw.Close()
	err := <-f.done
	f.done <- err
	if err != nil {
		return WrittenFile{}, err
	}
	return WrittenFile{URI: f.uri, Rows: f.rows, Bytes: f.count.n, SHA256: hex.EncodeToString(f.sum.Sum(nil))}, nil
}

func (f *fileWriter) abort() {
	f.pw.CloseWithError(errors.New("write aborted"))
	<-f.done
}

func parquetCodec(name string) (compress.Compression, error) {
	switch strings.ToLower(name) {
	case "zstd":
		return compress.Codecs.Zstd, nil
	case "snappy":
		return compress.Codecs.Snappy, nil
	case "gzip":
		return compress.Codecs.Gzip, nil
	case "lz4":
		return compress.Codecs.Lz4Raw, nil
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, fault.Configf("unknown compression %q (want zstd, snappy, gzip, lz4 or none)", name)
}

func (w *writer) newEncoder(out io.Writer) (encoder, error) {
	switch w.opts.Format {
	case Parquet:
		codec, _ := parquetCodec(w.opts.Compression)
		popts := []parquet.WriterProperty{
			parquet.WithCompression(codec),
			parquet.WithStats(true),
			parquet.WithCompressionLevel(w.level()),
			parquet.WithMaxRowGroupLength(w.opts.RowGroupRows),
			parquet.WithAllocator(w.mem),
		}
		aopts := []pqarrow.WriterOption{pqarrow.WithStoreSchema(), pqarrow.WithAllocator(w.mem)}
		if w.opts.Interop {
			aopts = []pqarrow.WriterOption{pqarrow.WithAllocator(w.mem),
				pqarrow.WithCoerceTimestamps(arrow.Microsecond), pqarrow.WithTruncatedTimestamps(true)}
		}
		aprops := pqarrow.NewArrowWriterProperties(aopts...)
		// Every column starts dictionary-encoded; one whose first page shows the dictionary
		// does not pay (keys, sums, timestamps: mostly distinct values) falls back to plain
		// there, instead of hashing values until the dictionary page is full and then
		// writing a dictionary nobody needs (a third of the encode time of a group-by's
		// output, and a larger file). Low-cardinality columns keep their dictionary.
		if sc, err := pqarrow.ToParquet(w.data, parquet.NewWriterProperties(popts...), aprops); err == nil {
			for i := 0; i < sc.NumColumns(); i++ {
				popts = append(popts, parquet.WithDictionaryCostFallbackPath(sc.Column(i).ColumnPath(), true))
			}
		}
		props := parquet.NewWriterProperties(popts...)
		if parallelColumns && flatParquetSchema(w.data) {
			enc, err := newParquetColumnsEnc(w.data, out, props, aprops, !w.opts.Interop)
			if err != nil {
				return nil, fault.Wrap(fault.Config, err, "write %s: parquet schema", w.dir)
			}
			return enc, nil
		}
		fw, err := pqarrow.NewFileWriter(w.data, out, props, aprops)
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "write %s: parquet schema", w.dir)
		}
		return &parquetEnc{fw: fw}, nil
	case CSV:
		bw := bufio.NewWriterSize(out, 1<<20)
		cw := arrowcsv.NewWriter(bw, w.data, arrowcsv.WithHeader(true), arrowcsv.WithNullWriter(""))
		return &csvEnc{cw: cw, bw: bw}, nil
	case NDJSON:
		return &jsonEnc{bw: bufio.NewWriterSize(out, 1<<20)}, nil
	case IPC:
		opts := []ipc.Option{ipc.WithSchema(w.data), ipc.WithAllocator(w.mem)}
		switch strings.ToLower(w.opts.Compression) {
		case "zstd":
			opts = append(opts, ipc.WithZstd())
		case "lz4":
			opts = append(opts, ipc.WithLZ4())
		}
		iw, err := ipc.NewFileWriter(out, opts...)
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "write %s: ipc", w.dir)
		}
		return &ipcEnc{iw: iw}, nil
	}
	return nil, fault.Configf("write %s: unknown format %q", w.dir, w.opts.Format)
}

func (w *writer) level() int {
	if w.opts.CompressionLevel == 0 {
		return compress.DefaultCompressionLevel
	}
	return w.opts.CompressionLevel
}

type parquetEnc struct{ fw *pqarrow.FileWriter }

func (e *parquetEnc) write(rec arrow.RecordBatch) error {
	if err := e.fw.WriteBuffered(rec); err != nil {
		return err
	}
	if e.fw.RowGroupTotalBytesWritten() >= rowGroupMaxBytes {
		e.fw.NewBufferedRowGroup()
	}
	return nil
}
func (e *parquetEnc) close() error { return e.fw.Close() }

type csvEnc struct {
	cw *arrowcsv.Writer
	bw *bufio.Writer
}

func (e *csvEnc) write(rec arrow.RecordBatch) error { return e.cw.Write(rec) }
func (e *csvEnc) close() error {
	e.cw.Flush()
	if err := e.cw.Error(); err != nil {
		return err
	}
	return e.bw.Flush()
}

type jsonEnc struct{ bw *bufio.Writer }

func (e *jsonEnc) write(rec arrow.RecordBatch) error { return array.RecordToJSON(rec, e.bw) }
func (e *jsonEnc) close() error                      { return e.bw.Flush() }

type ipcEnc struct{ iw *ipc.FileWriter }

func (e *ipcEnc) write(rec arrow.RecordBatch) error { return e.iw.Write(rec) }
func (e *ipcEnc) close() error                      { return e.iw.Close() }

// fileWritten is called after each data file is complete. It does nothing, except in a runner
// built with the aiflow_testhooks tag, where tests use it to stop a write at a known point
// (testhooks.go) instead of racing a timer.
var fileWritten = func(ctx context.Context, uri string) {}
