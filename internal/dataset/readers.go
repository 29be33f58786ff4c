package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// peekBytes is how much of a CSV/NDJSON file schema inference looks at, at most.
const peekBytes = 4 << 20

// csvNulls are the CSV cells read as null (as Spark: the empty cell).
var csvNulls = []string{""}

// fileStream is one open data file.
type fileStream struct {
	rr     array.RecordReader
	closer func()
	bytes  func() int64
	// rowGroups is the number of Parquet row groups read (after pruning); -1 for other formats.
	rowGroups int
}

func (s *fileStream) close() {
	if s.rr != nil {
		s.rr.Release()
	}
	if s.closer != nil {
		s.closer()
	}
}

// CheckPinned fails with fault.Data (a missing file too) when a pinned file is no longer the one
// pinned: its size or ETag changed. A reader that hands the files to another engine to read (Spark
// loads them itself) checks them this way first, as the Go readers check each file they open.
func CheckPinned(ctx context.Context, st *objstore.Store, files []FileInfo) error {
	for _, f := range files {
		got, err := st.Stat(ctx, f.URI)
		if err != nil {
			return fmt.Errorf("pinned file %s: %w", f.URI, err)
		}
		if err := checkPin(f, got); err != nil {
			return err
		}
	}
	return nil
}

// checkPin fails when the object is not the pinned one.
func checkPin(f FileInfo, got objstore.ObjectInfo) error {
	if (f.Size > 0 && got.Size != f.Size) || (f.ETag != "" && got.ETag != "" && got.ETag != f.ETag) {
		return fault.Dataf("read %s: file changed since it was listed or pinned (size %d, etag %s; now size %d, etag %s)",
			f.URI, f.Size, f.ETag, got.Size, got.ETag)
	}
	return nil
}

func (ds *Dataset) batchRows() int {
	if ds.opts.BatchRows > 0 {
		return ds.opts.BatchRows
	}
	return DefaultBatchRows
}

func (ds *Dataset) inferRows() int {
	if ds.opts.InferRows > 0 {
		return ds.opts.InferRows
	}
	return 1000
}

// fileSchema reads (Parquet, IPC) or infers (CSV, NDJSON) the schema of one file.
func (ds *Dataset) fileSchema(ctx context.Context, f FileInfo) (*arrow.Schema, error) {
	switch ds.Format {
	case Parquet:
		r, err := ds.st.NewReader(ctx, f.URI)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		pf, err := file.NewParquetReader(r, file.WithReadProps(parquet.NewReaderProperties(memory.DefaultAllocator)))
		if err != nil {
			return nil, errFile(err, f.URI)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			return nil, errFile(err, f.URI)
		}
		sc, err := fr.Schema()
		return withoutMeta(sc), errFile(err, f.URI)
	case IPC:
		s, err := ds.openIPC(ctx, f, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		defer s.close()
		return withoutMeta(s.rr.Schema()), nil
	case CSV, NDJSON:
		rc, _, err := ds.st.GetStream(ctx, f.URI)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		br, err := textReader(rc, f.URI)
		if err != nil {
			return nil, err
		}
		if ds.Format == CSV {
			header, rows, err := peekCSV(br, ds.inferRows(), f.URI)
			if err != nil {
				return nil, err
			}
			return inferCSV(header, rows), nil
		}
		return inferNDJSON(br, ds.inferRows(), f.URI)
	}
	return nil, fault.Configf("read %s: unknown format %q", f.URI, ds.Format)
}

func withoutMeta(sc *arrow.Schema) *arrow.Schema {
	if sc == nil {
		return nil
	}
	return arrow.NewSchema(sc.Fields(), nil)
}

// textReader wraps a CSV/NDJSON stream: gunzip for .gz, and a big buffer to peek into.
func textReader(rc io.Reader, uri string) (*bufio.Reader, error) {
	if strings.HasSuffix(strings.ToLower(uri), ".gz") {
		zr, err := gzip.NewReader(rc)
		if err != nil {
			return nil, errFile(err, uri)
		}
		rc = zr
	}
	return bufio.NewReaderSize(rc, peekBytes), nil
}

// openFile opens one file for streaming, checking it against its listing/pin and the dataset schema.
func (ds *Dataset) openFile(ctx context.Context, f FileInfo, need []string, dict map[string]bool, mem memory.Allocator) (*fileStream, error) {
	switch ds.Format {
	case Parquet:
		return ds.openParquet(ctx, f, need, dict, mem)
	case IPC:
		s, err := ds.openIPC(ctx, f, mem)
		if err != nil {
			return nil, err
		}
		if err := ds.checkSchema(f.URI, s.rr.Schema()); err != nil {
			s.close()
			return nil, err
		}
		return s, nil
	case CSV, NDJSON:
		return ds.openText(ctx, f, mem)
	}
	return nil, fault.Configf("read %s: unknown format %q", f.URI, ds.Format)
}

func (ds *Dataset) openParquet(ctx context.Context, f FileInfo, need []string, keepDict map[string]bool, mem memory.Allocator) (s *fileStream, err error) {
	r, err := ds.st.NewReader(ctx, f.URI)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := checkPin(f, r.Info()); err != nil {
		return nil, err
	}
	// Column chunks are read through a buffered stream so that a huge row group is not loaded
	// whole; decompression buffers come from the Go allocator (pooled by the Parquet reader).
	props := parquet.NewReaderProperties(memory.DefaultAllocator)
	props.BufferedStreamEnabled = true
	props.BufferSize = 4 << 20
	pf, err := file.NewParquetReader(r, file.WithReadProps(props))
	if err != nil {
		return nil, errFile(err, f.URI)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(ds.batchRows()), Parallel: true}, mem)
	if err != nil {
		return nil, errFile(err, f.URI)
	}
	sc, err := fr.Schema()
	if err != nil {
		return nil, errFile(err, f.URI)
	}
	if err := ds.checkSchema(f.URI, sc); err != nil {
		return nil, err
	}
	rowGroups := ds.pruneRowGroups(pf, sc)
	s = &fileStream{closer: func() { r.Close() }, bytes: r.BytesRead, rowGroups: len(rowGroups)}
	if len(rowGroups) == 0 {
		s.rr = emptyReader(sc)
		if len(keepDict) > 0 {
			s.rr = newDictExpander(s.rr, keepDict, mem)
		}
		return s, nil
	}
	// Leaf columns of the needed top-level fields; at least one, to count rows.
	var top []int
	for _, n := range need {
		top = append(top, sc.FieldIndices(n)...)
	}
	if len(top) == 0 {
		top = []int{0}
	}
	sort.Ints(top)
	dict := dictLeaves(pf.MetaData(), sc, top)
	if len(dict) > 0 {
		// Read those as dictionaries and expand them (dict.go): the schema is unchanged.
		props := pqarrow.ArrowReadProperties{BatchSize: int64(ds.batchRows()), Parallel: true}
		for _, leaf := range dict {
			props.SetReadDict(leaf, true)
		}
		if fr, err = pqarrow.NewFileReader(pf, props, mem); err != nil {
			return nil, errFile(err, f.URI)
		}
	}
	leaves, err := fr.Manifest.GetFieldIndices(top)
	if err != nil {
		return nil, errFile(err, f.URI)
	}
	rr, err := fr.GetRecordReader(ctx, leaves, rowGroups)
	if err != nil {
		return nil, errFile(err, f.URI)
	}
	s.rr = rr
	if len(dict) > 0 || len(keepDict) > 0 {
		// Dictionary columns expanded to plain strings, or kept (and plain ones wrapped) when
		// the reader was asked for dictionaries.
		s.rr = newDictExpander(rr, keepDict, mem)
	}
	return s, nil
}

// pruneRowGroups keeps the row groups whose column statistics do not rule out a predicate.
func (ds *Dataset) pruneRowGroups(pf *file.Reader, sc *arrow.Schema) []int {
	md := pf.MetaData()
	type colPred struct {
		p    Predicate
		leaf int
		dt   arrow.DataType
		vals []any
	}
	var cps []colPred
	for _, p := range ds.opts.Predicates {
		idx := sc.FieldIndices(p.Column)
		if len(idx) != 1 {
			continue // a partition column: pruned when listing
		}
		leaf := md.Schema.ColumnIndexByName(p.Column) // top-level primitive columns only
		if leaf < 0 {
			continue
		}
		dt := sc.Field(idx[0]).Type
		cps = append(cps, colPred{p: p, leaf: leaf, dt: dt, vals: coerceAll(p.values(), dt)})
	}
	rgs := make([]int, 0, md.NumRowGroups())
	for i := 0; i < md.NumRowGroups(); i++ {
		rg := md.RowGroup(i)
		keep := true
		for _, cp := range cps {
			cc, err := rg.ColumnChunk(cp.leaf)
			if err != nil {
				continue
			}
			st, err := cc.Statistics()
			if err != nil {
				continue
			}
			lo, hi, ok := statsBounds(st, cp.dt)
			if ok && !cp.p.mayMatch(cp.vals, lo, hi) {
				keep = false
				break
			}
		}
		if keep {
			rgs = append(rgs, i)
		}
	}
	return rgs
}

// openIPC opens an Arrow IPC file (random access) or stream, told apart by the "ARROW1" magic.
func (ds *Dataset) openIPC(ctx context.Context, f FileInfo, mem memory.Allocator) (s *fileStream, err error) {
	r, err := ds.st.NewReader(ctx, f.URI)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := checkPin(f, r.Info()); err != nil {
		return nil, err
	}
	magic := make([]byte, 6)
	if n, _ := r.ReadAt(magic, 0); n == 6 && string(magic) == "ARROW1" {
		fr, err := ipc.NewFileReader(r, ipc.WithAllocator(mem))
		if err != nil {
			return nil, errFile(err, f.URI)
		}
		rr := &ipcFileReader{fr: fr}
		rr.refs.Store(1)
		return &fileStream{rr: rr, closer: func() { fr.Close(); r.Close() }, bytes: r.BytesRead, rowGroups: -1}, nil
	}
	sr, err := ipc.NewReader(bufio.NewReaderSize(r, 1<<20), ipc.WithAllocator(mem))
	if err != nil {
		return nil, errFile(err, f.URI)
	}
	return &fileStream{rr: sr, closer: func() { r.Close() }, bytes: r.BytesRead, rowGroups: -1}, nil
}

// openText opens a CSV or NDJSON file and parses it with the dataset's reference schema (CSV
// columns are matched by header name, in any order).
func (ds *Dataset) openText(ctx context.Context, f FileInfo, mem memory.Allocator) (*fileStream, error) {
	rc, info, err := ds.st.GetStream(ctx, f.URI)
	if err != nil {
		return nil, err
	}
	if err := checkPin(f, info); err != nil {
		rc.Close()
		return nil, err
	}
	cr := &countingReader{r: rc}
	br, err := textReader(cr, f.URI)
	if err != nil {
		rc.Close()
		return nil, err
	}
	s := &fileStream{closer: func() { rc.Close() }, bytes: cr.n.Load, rowGroups: -1}
	if ds.Format == NDJSON {
		lines := &ndjsonLines{br: br}
		s.rr = ndjsonReader{array.NewJSONReader(lines, ds.fileRef, array.WithChunk(ds.batchRows()), array.WithAllocator(mem)), lines}
		return s, nil
	}
	header, _, err := peekCSV(br, 0, f.URI)
	if err != nil {
		s.close()
		return nil, err
	}
	fields := make([]arrow.Field, len(header))
	var hs []arrow.Field
	for i, h := range header {
		hs = append(hs, arrow.Field{Name: h, Type: arrow.BinaryTypes.String})
		idx := ds.fileRef.FieldIndices(h)
		if len(idx) != 1 {
			fields = nil
			break
		}
		fields[i] = ds.fileRef.Field(idx[0])
	}
	if fields == nil || len(header) != ds.fileRef.NumFields() {
		s.close()
		return nil, fault.Dataf("schema mismatch: CSV header of %s does not have the columns of %s\n  %s: %s\n  %s: header %s",
			f.URI, ds.refURI, ds.refURI, schemaString(ds.fileRef), f.URI, ColumnNames(hs))
	}
	s.rr = arrowcsv.NewReader(br, arrow.NewSchema(fields, nil),
		arrowcsv.WithHeader(true), arrowcsv.WithChunk(ds.batchRows()), arrowcsv.WithAllocator(mem),
		arrowcsv.WithNullReader(true, csvNulls...))
	return s, nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// peekCSV parses the header and up to n rows from the buffered head of a CSV file, without
// consuming it.
func peekCSV(br *bufio.Reader, n int, uri string) (header []string, rows [][]string, err error) {
	head, perr := br.Peek(peekBytes)
	if perr != nil && !errors.Is(perr, io.EOF) && !errors.Is(perr, bufio.ErrBufferFull) {
		return nil, nil, errFile(perr, uri)
	}
	cr := csv.NewReader(bytes.NewReader(head))
	cr.FieldsPerRecord = -1
	header, err = cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fault.Dataf("read %s: empty CSV file (no header)", uri)
		}
		return nil, nil, fault.Wrap(fault.Data, err, "read %s: CSV header", uri)
	}
	for len(rows) < n {
		rec, err := cr.Read()
		if err != nil {
			break // the end of the file, or a record cut at the end of the peeked bytes
		}
		if len(rec) == len(header) {
			rows = append(rows, rec)
		}
	}
	return header, rows, nil
}

// inferCSV types each column from sample rows: int64, else float64, else bool, else string.
func inferCSV(header []string, rows [][]string) *arrow.Schema {
	fields := make([]arrow.Field, len(header))
	for c, name := range header {
		isInt, isFloat, isBool, seen := true, true, true, false
		for _, row := range rows {
			v := row[c]
			if v == "" {
				continue
			}
			seen = true
			if isInt {
				if _, err := strconv.ParseInt(v, 10, 64); err != nil {
					isInt = false
				}
			}
			if isFloat {
				if _, err := strconv.ParseFloat(v, 64); err != nil || strings.ContainsAny(v, "nNiI") && !strings.ContainsAny(v, "eE") {
					isFloat = false
				}
			}
			if isBool {
				l := strings.ToLower(v)
				if l != "true" && l != "false" {
					isBool = false
				}
			}
		}
		var dt arrow.DataType = arrow.BinaryTypes.String
		switch {
		case !seen:
		case isInt:
			dt = arrow.PrimitiveTypes.Int64
		case isFloat:
			dt = arrow.PrimitiveTypes.Float64
		case isBool:
			dt = arrow.FixedWidthTypes.Boolean
		}
		fields[c] = arrow.Field{Name: name, Type: dt, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// ndjsonLines passes an NDJSON text on to arrow's JSON reader one line at a time, each checked
// first: arrow's reader accepts some malformed objects (a missing comma) and reports a cut-short
// last line without saying where. A line that is not one JSON object fails the read with its
// line number and byte offset (in the decompressed text for .gz), fault.Data.
type ndjsonLines struct {
	br      *bufio.Reader
	line    int
	off     int64
	pending []byte
	long    []byte
	err     error
}

func (l *ndjsonLines) Read(p []byte) (int, error) {
	for len(l.pending) == 0 {
		if l.err != nil {
			return 0, l.err
		}
		line, err := l.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			l.long = append(l.long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = l.br.ReadSlice('\n')
				l.long = append(l.long, line...)
			}
			line = l.long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			l.err = err
			return 0, err
		}
		if len(line) > 0 {
			l.line++
			start := l.off
			l.off += int64(len(line))
			if lerr := checkNDJSONLine(line, l.line, start, err != nil); lerr != nil {
				l.err = lerr
				return 0, lerr
			}
		}
		if err != nil {
			l.err = io.EOF
		}
		l.pending = line
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

// ndjsonReader is arrow's JSON reader over ndjsonLines. That reader's decoder takes any error of
// its input for the end of the input, so the failure of a line is reported here.
type ndjsonReader struct {
	array.RecordReader
	lines *ndjsonLines
}

func (r ndjsonReader) Err() error {
	if err := r.RecordReader.Err(); err != nil {
		return err
	}
	if err := r.lines.err; err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// checkNDJSONLine returns nil for a blank line or one JSON object, else fault.Data saying which
// line, where, and what is wrong with it; last is a line the file ends in without a newline.
func checkNDJSONLine(line []byte, n int, offset int64, last bool) error {
	text := bytes.TrimSpace(line)
	if len(text) == 0 || (text[0] == '{' && json.Valid(text)) {
		return nil
	}
	var why string
	switch {
	case last && text[0] == '{':
		why = "the last line is cut short (an unfinished object, no newline): the file looks truncated"
	case text[0] != '{':
		why = "not a JSON object"
	default:
		var v any
		why = "invalid JSON"
		if err := json.Unmarshal(text, &v); err != nil {
			why += ": " + err.Error()
		}
	}
	return fault.Dataf("NDJSON line %d (byte offset %d): %s", n, offset, why)
}

// inferNDJSON types the fields of the first n objects: numbers are int64 (float64 once a fraction
// appears), nested objects are structs and arrays lists; a field with values of two kinds is
// fault.Data (declare a schema).
func inferNDJSON(br *bufio.Reader, n int, uri string) (*arrow.Schema, error) {
	head, perr := br.Peek(peekBytes)
	if perr != nil && !errors.Is(perr, io.EOF) && !errors.Is(perr, bufio.ErrBufferFull) {
		return nil, errFile(perr, uri)
	}
	dec := json.NewDecoder(bytes.NewReader(head))
	dec.UseNumber()
	var order []string
	types := map[string]arrow.DataType{}
	for i := 0; i < n; i++ {
		tok, err := dec.Token()
		if err != nil {
			if i == 0 && errors.Is(err, io.EOF) {
				return nil, fault.Dataf("read %s: empty NDJSON file", uri)
			}
			if i == 0 {
				return nil, fault.Wrap(fault.Data, err, "read %s: NDJSON line 1", uri)
			}
			break
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return nil, fault.Dataf("read %s: NDJSON line %d is not an object", uri, i+1)
		}
		truncated := false
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				truncated = true
				break
			}
			k, _ := kt.(string)
			var v any
			if err := dec.Decode(&v); err != nil {
				truncated = true
				break
			}
			t, ok := types[k]
			if !ok {
				order = append(order, k)
			}
			m, err := mergeJSON(t, jsonType(v))
			if err != nil {
				return nil, fault.Dataf("read %s: NDJSON field %s: %v; declare a schema", uri, k, err)
			}
			types[k] = m
		}
		if truncated {
			break
		}
		if _, err := dec.Token(); err != nil { // the closing '}'
			break
		}
	}
	if len(order) == 0 {
		return nil, fault.Dataf("read %s: no fields in the first NDJSON lines", uri)
	}
	fields := make([]arrow.Field, len(order))
	for i, k := range order {
		fields[i] = arrow.Field{Name: k, Type: finishJSON(types[k]), Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}

// jsonType is the Arrow type of one decoded JSON value (nil for null).
func jsonType(v any) arrow.DataType {
	switch v := v.(type) {
	case nil:
		return nil
	case bool:
		return arrow.FixedWidthTypes.Boolean
	case json.Number:
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return arrow.PrimitiveTypes.Int64
		}
		return arrow.PrimitiveTypes.Float64
	case string:
		return arrow.BinaryTypes.String
	case []any:
		var elem arrow.DataType
		for _, e := range v {
			m, err := mergeJSON(elem, jsonType(e))
			if err != nil {
				return arrow.BinaryTypes.String // conflicting elements: reported by mergeJSON on the field
			}
			elem = m
		}
		return arrow.ListOf(finishJSON(elem))
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fields := make([]arrow.Field, len(keys))
		for i, k := range keys {
			fields[i] = arrow.Field{Name: k, Type: finishJSON(jsonType(v[k])), Nullable: true}
		}
		return arrow.StructOf(fields...)
	}
	return arrow.BinaryTypes.String
}

func finishJSON(t arrow.DataType) arrow.DataType {
	if t == nil {
		return arrow.BinaryTypes.String
	}
	return t
}

func mergeJSON(a, b arrow.DataType) (arrow.DataType, error) {
	switch {
	case a == nil:
		return b, nil
	case b == nil:
		return a, nil
	case arrow.TypeEqual(a, b):
		return a, nil
	case a.ID() == arrow.INT64 && b.ID() == arrow.FLOAT64, a.ID() == arrow.FLOAT64 && b.ID() == arrow.INT64:
		return arrow.PrimitiveTypes.Float64, nil
	case a.ID() == arrow.LIST && b.ID() == arrow.LIST:
		e, err := mergeJSON(a.(*arrow.ListType).Elem(), b.(*arrow.ListType).Elem())
		if err != nil {
			return nil, err
		}
		return arrow.ListOf(e), nil
	case a.ID() == arrow.STRUCT && b.ID() == arrow.STRUCT:
		sa, sb := a.(*arrow.StructType), b.(*arrow.StructType)
		byName := map[string]arrow.DataType{}
		var order []string
		for _, f := range append(append([]arrow.Field(nil), sa.Fields()...), sb.Fields()...) {
			t, ok := byName[f.Name]
			if !ok {
				order = append(order, f.Name)
			}
			m, err := mergeJSON(t, f.Type)
			if err != nil {
				return nil, err
			}
			byName[f.Name] = m
		}
		sort.Strings(order)
		fields := make([]arrow.Field, len(order))
		for i, n := range order {
			fields[i] = arrow.Field{Name: n, Type: byName[n], Nullable: true}
		}
		return arrow.StructOf(fields...), nil
	}
	return nil, fmt.Errorf("values of types %s and %s", a, b)
}

// ipcFileReader streams the record batches of an IPC file.
type ipcFileReader struct {
	fr   *ipc.FileReader
	i    int
	cur  arrow.RecordBatch
	err  error
	refs atomic.Int64
}

func (r *ipcFileReader) Retain()                        { r.refs.Add(1) }
func (r *ipcFileReader) Schema() *arrow.Schema          { return r.fr.Schema() }
func (r *ipcFileReader) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *ipcFileReader) Record() arrow.RecordBatch      { return r.cur }
func (r *ipcFileReader) Err() error                     { return r.err }
func (r *ipcFileReader) Release() {
	if r.refs.Add(-1) == 0 && r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}

func (r *ipcFileReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err != nil || r.i >= r.fr.NumRecords() {
		return false
	}
	r.cur, r.err = r.fr.RecordBatchAt(r.i)
	r.i++
	return r.err == nil
}

// emptyReader is a RecordReader with a schema and no batches.
func emptyReader(sc *arrow.Schema) array.RecordReader {
	rr, _ := array.NewRecordReader(sc, nil)
	return rr
}
