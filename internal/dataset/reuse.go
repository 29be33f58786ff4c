package dataset

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// ReuseOptions describe the files a sink would write; ReusableParquet checks staged files
// against them.
type ReuseOptions struct {
	// Schema the reader of the staged output would deliver (the manifest's schema): the files
	// must hold exactly these columns, in this order, with these types.
	Schema *arrow.Schema
	// Compression the sink writes ("" is zstd, as WriteFiles); every column chunk must use it.
	Compression string
	// Interop: the files must be what WriteOptions.Interop writes for Delta Lake and Spark, so
	// only types whose Parquet form those readers agree on (no nanosecond timestamps, no
	// unsigned or nested types, no dictionaries).
	Interop bool
}

// Reusable is a staged Parquet file that can be published as it is.
type Reusable struct {
	FileInfo
	Rows int64 // from its footer
}

// ReusableParquet reports whether the Parquet files can be published as they are instead of
// being decoded and encoded again into the same format: same columns and types, same
// compression, no Hive partition values in their paths. why says what differs when they
// cannot. Only the footers are read.
func ReusableParquet(ctx context.Context, st *objstore.Store, files []FileInfo, opts ReuseOptions) (out []Reusable, why string, err error) {
	want := opts.Compression
	if want == "" {
		want = "zstd"
	}
	codec, err := parquetCodec(want)
	if err != nil {
		return nil, "", err
	}
	if opts.Interop {
		for _, f := range opts.Schema.Fields() {
			if !interopType(f.Type) {
				return nil, fmt.Sprintf("column %s of type %s is written differently for Delta Lake", f.Name, f.Type), nil
			}
		}
	}
	out = make([]Reusable, len(files))
	for i, f := range files {
		if len(f.Partition) > 0 || len(f.NullPartitions) > 0 {
			return nil, "the staged files are Hive-partitioned", nil
		}
		r, why, err := reusableFile(ctx, st, f, opts.Schema, codec)
		if err != nil || why != "" {
			return nil, why, err
		}
		out[i] = r
	}
	return out, "", nil
}

func reusableFile(ctx context.Context, st *objstore.Store, f FileInfo, want *arrow.Schema, codec compress.Compression) (Reusable, string, error) {
	r, err := st.NewReader(ctx, f.URI)
	if err != nil {
		return Reusable{}, "", err
	}
	defer r.Close()
	if err := checkPin(f, r.Info()); err != nil {
		return Reusable{}, "", err
	}
	f.Size = r.Size()
	pf, err := file.NewParquetReader(r, file.WithReadProps(parquet.NewReaderProperties(memory.DefaultAllocator)))
	if err != nil {
		return Reusable{}, "", errFile(err, f.URI)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return Reusable{}, "", errFile(err, f.URI)
	}
	sc, err := fr.Schema()
	if err != nil {
		return Reusable{}, "", errFile(err, f.URI)
	}
	if sc.NumFields() != want.NumFields() {
		return Reusable{}, fmt.Sprintf("%s holds %d columns, the input %d", path.Base(f.URI), sc.NumFields(), want.NumFields()), nil
	}
	for i, fd := range want.Fields() {
		got := sc.Field(i)
		if got.Name != fd.Name || !arrow.TypeEqual(got.Type, fd.Type) {
			return Reusable{}, fmt.Sprintf("%s has column %s %s where the input has %s %s", path.Base(f.URI), got.Name, got.Type, fd.Name, fd.Type), nil
		}
	}
	md := pf.MetaData()
	for g := 0; g < md.NumRowGroups(); g++ {
		rg := md.RowGroup(g)
		for c := 0; c < rg.NumColumns(); c++ {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				return Reusable{}, "", errFile(err, f.URI)
			}
			if any(cc.Compression()) != codec {
				return Reusable{}, fmt.Sprintf("%s is compressed with %s", path.Base(f.URI), strings.ToLower(cc.Compression().String())), nil
			}
		}
	}
	return Reusable{FileInfo: f, Rows: md.NumRows}, "", nil
}

// interopType: the types whose Parquet form, as arrow-go writes it, Delta Lake and Spark read
// as the same type the table's schema names.
func interopType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.BINARY, arrow.DATE32, arrow.DECIMAL128:
		return true
	case arrow.TIMESTAMP:
		return t.(*arrow.TimestampType).Unit == arrow.Microsecond
	}
	return false
}

// CopyFiles publishes files as they are under dir, named as WriteFiles names them with
// prefix (part-<prefix>-<nnnnn>.parquet, in order): a server-side copy on S3, a hard link
// on a local disk (a byte copy across devices); nothing is decoded. Like WriteFiles with KeepFinishedOnError, a failure
// leaves the files already copied: their names belong to the caller's run and node, and its
// retry overwrites them.
func CopyFiles(ctx context.Context, st *objstore.Store, dir, prefix string, files []Reusable) ([]WrittenFile, error) {
	dir = strings.TrimSuffix(dir, "/")
	out := make([]WrittenFile, 0, len(files))
	for i, f := range files {
		name := fmt.Sprintf("part-%05d%s", i, Parquet.ext())
		if prefix != "" {
			name = fmt.Sprintf("part-%s-%05d%s", prefix, i, Parquet.ext())
		}
		dst, err := objstore.Join(dir, name)
		if err != nil {
			return nil, err
		}
		if err := st.Copy(ctx, f.URI, dst); err != nil {
			return nil, fmt.Errorf("copy %s to %s: %w", f.URI, dst, err)
		}
		out = append(out, WrittenFile{URI: dst, Rows: f.Rows, Bytes: f.Size})
	}
	return out, nil
}
