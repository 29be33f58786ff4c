package dataset

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowdict"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// DefaultBatchRows is the number of rows per record batch when ReadOptions.BatchRows is 0.
const DefaultBatchRows = 64 << 10

// ReadOptions say what to read.
type ReadOptions struct {
	// Format of the files; empty: from the file extensions.
	Format Format
	// Columns to return, in this order (partition columns included); empty: all, partition
	// columns last.
	Columns []string
	// Partitions keeps only the Hive partitions with these values (key → value); other partition
	// folders are neither listed nor read. A value that matches nothing is fault.Data.
	Partitions map[string]string
	// Predicates prune Parquet row groups and partitions (see Predicate); they do not filter rows.
	Predicates []Predicate
	// Schema, when set, is the declared schema: CSV and NDJSON are parsed with it (no inference),
	// Parquet and IPC files must match it, and partition columns named in it get its types
	// (otherwise they are strings).
	Schema *arrow.Schema
	// PartitionTypes types partition columns (otherwise strings, or the declared Schema's type):
	// a table format that records its schema (Delta) says what its partition values are.
	PartitionTypes map[string]arrow.DataType
	// BatchRows is the number of rows per record batch (default 64Ki).
	BatchRows int
	// InferRows is how many leading rows of a CSV/NDJSON file type inference looks at (default 1000).
	InferRows int
	// Progress, when set, is called after each batch with the rows returned and the file bytes read
	// so far.
	Progress func(rows, bytes int64)
}

// FileInfo is one data file of a dataset, as pinned in a manifest.
type FileInfo struct {
	URI  string `json:"uri"`
	Size int64  `json:"size"`
	ETag string `json:"etag,omitempty"`
	// Partition holds the Hive partition values parsed from the path (nil: none).
	Partition map[string]string `json:"partition,omitempty"`
	// NullPartitions names the partition columns whose folder is NullPartition.
	NullPartitions []string `json:"null_partitions,omitempty"`
}

// Dataset is a resolved set of files with one schema, ready to stream.
type Dataset struct {
	URI    string        // what was opened (the folder or file; empty for OpenFiles)
	Format Format        // format of every file
	Files  []FileInfo    // the files that will be read, in order (pin these)
	Schema *arrow.Schema // schema of the batches Reader returns

	st        *objstore.Store
	opts      ReadOptions
	fileRef   *arrow.Schema // reference schema of the file data (all file columns)
	refURI    string        // the file fileRef came from ("declared schema" when declared)
	partKeys  []string      // partition columns in path order
	partTypes map[string]arrow.DataType
}

// Open resolves uri (one file, a folder or a Hive-partitioned folder) into a Dataset: it lists the
// files (names starting with "_" or "." are ignored, e.g. _SUCCESS, _manifest.json), applies the
// partition filter and reads the schema of the first file (or takes ReadOptions.Schema).
func Open(ctx context.Context, st *objstore.Store, uri string, opts ReadOptions) (*Dataset, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	root := strings.TrimSuffix(uri, "/")
	var files []FileInfo
	if !strings.HasSuffix(uri, "/") {
		if info, err := st.Stat(ctx, uri); err == nil {
			files = []FileInfo{{URI: info.URI, Size: info.Size, ETag: info.ETag}}
			if len(opts.Partitions) > 0 {
				return nil, fault.Configf("read %s: a partition filter needs a folder, not a file", uri)
			}
		} else if !errors.Is(err, objstore.ErrNotExist) {
			return nil, err
		}
	}
	if files == nil {
		var err error
		if files, err = listDataset(ctx, st, root+"/", opts); err != nil {
			return nil, err
		}
	}
	ds := &Dataset{URI: uri, st: st, opts: opts}
	if err := ds.resolve(ctx, files); err != nil {
		return nil, err
	}
	return ds, nil
}

// OpenFiles makes a Dataset of exactly the given files (a pin from a manifest). Reading checks that
// each file still has the pinned size and ETag (when set) and fails with fault.Data if not.
// Partition values come from FileInfo.Partition; ReadOptions.Partitions is not applied (the pin is
// already the selection).
func OpenFiles(ctx context.Context, st *objstore.Store, files []FileInfo, opts ReadOptions) (*Dataset, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fault.Dataf("read: the pinned file list is empty")
	}
	ds := &Dataset{st: st, opts: opts}
	if err := ds.resolve(ctx, append([]FileInfo(nil), files...)); err != nil {
		return nil, err
	}
	return ds, nil
}

func checkOptions(opts ReadOptions) error {
	if opts.Format != "" {
		if _, err := ParseFormat(string(opts.Format)); err != nil {
			return err
		}
	}
	for k, v := range opts.Partitions {
		if err := ValidatePartitionValue(k, v); err != nil {
			return err
		}
	}
	for _, p := range opts.Predicates {
		if err := p.validate(); err != nil {
			return err
		}
	}
	return nil
}

// ignored reports whether a file name is metadata, not data (_SUCCESS, _manifest.json, .crc files).
func ignored(name string) bool {
	return strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".")
}

// listDataset lists the data files under root (ending in "/"). With a partition filter it walks
// the folder tree level by level and descends only into matching key=value folders; the rest is
// listed recursively in one go.
func listDataset(ctx context.Context, st *objstore.Store, root string, opts ReadOptions) ([]FileInfo, error) {
	var objs []objstore.ObjectInfo
	matched := map[string]bool{}
	var walk func(dir string, pending int) error
	walk = func(dir string, pending int) error {
		if pending == 0 {
			o, err := st.List(ctx, dir)
			objs = append(objs, o...)
			return err
		}
		dirs, o, err := st.ListDir(ctx, dir)
		if err != nil {
			return err
		}
		objs = append(objs, o...)
		for _, d := range dirs {
			name := path.Base(strings.TrimSuffix(d, "/"))
			if ignored(name) {
				continue
			}
			k, _, ok := strings.Cut(name, "=")
			want, filtered := opts.Partitions[k]
			if !ok || !filtered {
				if err := walk(d, pending); err != nil {
					return err
				}
				continue
			}
			_, vals, nulls, err := parsePartitions(name + "/x")
			if err != nil {
				return err
			}
			if nulls[k] || vals[k] != want {
				continue
			}
			matched[k] = true
			if err := walk(d, pending-1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, len(opts.Partitions)); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(opts.Partitions))
	for k := range opts.Partitions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !matched[k] {
			return nil, fault.Dataf("no partition %s=%s under %s", k, opts.Partitions[k], root)
		}
	}
	var files []FileInfo
	for _, o := range objs {
		rel := strings.TrimPrefix(o.URI, root)
		skip := false
		for _, seg := range strings.Split(rel, "/") {
			if ignored(seg) {
				skip = true
			}
		}
		if skip {
			continue
		}
		_, vals, nulls, err := parsePartitions(rel)
		if err != nil {
			return nil, err
		}
		for k, want := range opts.Partitions {
			if nulls[k] || vals[k] != want {
				skip = true // a file above the filtered partition level
			}
		}
		if skip {
			continue
		}
		fi := FileInfo{URI: o.URI, Size: o.Size, ETag: o.ETag, Partition: vals}
		for k := range nulls {
			fi.NullPartitions = append(fi.NullPartitions, k)
		}
		sort.Strings(fi.NullPartitions)
		files = append(files, fi)
	}
	if len(files) == 0 {
		if len(opts.Partitions) > 0 {
			return nil, fault.Dataf("no data files in partition %v under %s", opts.Partitions, root)
		}
		return nil, fault.Wrap(fault.Data, objstore.ErrNotExist, "read %s: no data files", strings.TrimSuffix(root, "/"))
	}
	sort.Slice(files, func(i, j int) bool { return files[i].URI < files[j].URI })
	return files, nil
}

// resolve fixes the format, the partition columns and the schemas, and prunes partitions with the
// predicates.
func (ds *Dataset) resolve(ctx context.Context, files []FileInfo) error {
	// Format: declared, or from the extensions (all files must agree).
	ds.Format = ds.opts.Format
	if f, err := ParseFormat(string(ds.Format)); err == nil {
		ds.Format = f
	}
	if ds.Format == "" {
		for _, f := range files {
			ff, ok := FormatOf(f.URI)
			if !ok {
				return fault.Dataf("read %s: cannot tell the format from the file name; set format", f.URI)
			}
			if ds.Format != "" && ff != ds.Format {
				return fault.Dataf("read %s: files of two formats, %s (%s) and %s (%s); set format", ds.URI, ds.Format, files[0].URI, ff, f.URI)
			}
			ds.Format = ff
		}
	}

	// Partition columns: the same keys, in the same order, in every file's path.
	var keys []string
	for i, f := range files {
		fk := partitionKeysOf(f)
		if i == 0 {
			keys = fk
		} else if strings.Join(fk, "/") != strings.Join(keys, "/") {
			return fault.Dataf("read %s: partition columns differ: %v in %s, %v in %s", ds.URI, keys, files[0].URI, fk, f.URI)
		}
	}
	ds.partKeys = keys
	ds.partTypes = map[string]arrow.DataType{}
	for _, k := range keys {
		ds.partTypes[k] = arrow.BinaryTypes.String
		if dt, ok := ds.opts.PartitionTypes[k]; ok {
			ds.partTypes[k] = dt
		} else if ds.opts.Schema != nil {
			if idx := ds.opts.Schema.FieldIndices(k); len(idx) > 0 {
				ds.partTypes[k] = ds.opts.Schema.Field(idx[0]).Type
			}
		}
	}

	// Prune partitions with predicates on partition columns.
	kept := files[:0]
	for _, f := range files {
		keep := true
		for _, p := range ds.opts.Predicates {
			dt, isPart := ds.partTypes[p.Column]
			if !isPart || f.Partition == nil || isNullPartition(f, p.Column) {
				continue
			}
			v, err := parsePartitionValue(f.Partition[p.Column], dt)
			if err != nil {
				return fault.Wrap(fault.Data, err, "read %s: partition %s=%s", f.URI, p.Column, f.Partition[p.Column])
			}
			cv, ok := coerce(scalarValue(v), dt)
			if !ok {
				continue
			}
			if !p.mayMatch(coerceAll(p.values(), dt), cv, cv) {
				keep = false
				break
			}
		}
		if keep {
			kept = append(kept, f)
		}
	}
	ds.Files = kept

	// Reference schema of the file data.
	if ds.opts.Schema != nil {
		var fields []arrow.Field
		for _, f := range ds.opts.Schema.Fields() {
			if _, isPart := ds.partTypes[f.Name]; !isPart {
				fields = append(fields, f)
			}
		}
		ds.fileRef, ds.refURI = arrow.NewSchema(fields, nil), "declared schema"
	} else if len(files) > 0 {
		sc, err := ds.fileSchema(ctx, files[0])
		if err != nil {
			return err
		}
		ds.fileRef, ds.refURI = sc, files[0].URI
	}
	return ds.outputSchema()
}

func coerceAll(vals []any, dt arrow.DataType) []any {
	out := make([]any, 0, len(vals))
	for _, v := range vals {
		if c, ok := coerce(v, dt); ok {
			out = append(out, c)
		} else {
			out = append(out, v)
		}
	}
	return out
}

func partitionKeysOf(f FileInfo) []string {
	keys := make([]string, 0, len(f.Partition))
	if f.Partition == nil {
		return keys
	}
	// Path order for listed files; sorted for pinned files whose URI has no key=value folders.
	if pk, _, _, err := parsePartitions(f.URI); err == nil && len(pk) >= len(f.Partition) {
		for _, k := range pk {
			if _, ok := f.Partition[k]; ok {
				keys = append(keys, k)
			}
		}
		if len(keys) == len(f.Partition) {
			return keys
		}
		keys = keys[:0]
	}
	for k := range f.Partition {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isNullPartition(f FileInfo, k string) bool {
	for _, n := range f.NullPartitions {
		if n == k {
			return true
		}
	}
	return false
}

func parsePartitionValue(v string, dt arrow.DataType) (scalar.Scalar, error) {
	return scalar.ParseScalar(dt, v)
}

// scalarValue turns a parsed partition scalar into a value coerce understands.
func scalarValue(s scalar.Scalar) any {
	switch s := s.(type) {
	case *scalar.String:
		return s.String()
	case *scalar.Int8:
		return int64(s.Value)
	case *scalar.Int16:
		return int64(s.Value)
	case *scalar.Int32:
		return int64(s.Value)
	case *scalar.Int64:
		return s.Value
	case *scalar.Float32:
		return float64(s.Value)
	case *scalar.Float64:
		return s.Value
	case *scalar.Boolean:
		return s.Value
	case *scalar.Date32:
		return s.Value.ToTime()
	case *scalar.Timestamp:
		return s.Value.ToTime(s.Type.(*arrow.TimestampType).Unit)
	}
	return s.String()
}

// outputSchema builds ds.Schema from the file reference schema, the partition columns and the
// requested columns.
func (ds *Dataset) outputSchema() error {
	byName := map[string]arrow.Field{}
	var all []arrow.Field
	for _, f := range ds.fileRef.Fields() {
		if _, dup := ds.partTypes[f.Name]; dup {
			return fault.Dataf("read %s: column %s is both in the files and a partition folder", ds.URI, f.Name)
		}
		byName[f.Name] = f
		all = append(all, f)
	}
	for _, k := range ds.partKeys {
		f := arrow.Field{Name: k, Type: ds.partTypes[k], Nullable: true}
		byName[k] = f
		all = append(all, f)
	}
	for _, p := range ds.opts.Predicates {
		if _, ok := byName[p.Column]; !ok {
			return fault.Configf("read %s: predicate on unknown column %s (columns: %s)", ds.URI, p.Column, ColumnNames(all))
		}
	}
	if len(ds.opts.Columns) == 0 {
		ds.Schema = arrow.NewSchema(all, nil)
		return nil
	}
	var sel []arrow.Field
	seen := map[string]bool{}
	for _, c := range ds.opts.Columns {
		f, ok := byName[c]
		if !ok {
			return fault.Configf("read %s: no column %s (columns: %s)", ds.URI, c, ColumnNames(all))
		}
		if seen[c] {
			return fault.Configf("read %s: column %s requested twice", ds.URI, c)
		}
		seen[c] = true
		sel = append(sel, f)
	}
	ds.Schema = arrow.NewSchema(sel, nil)
	return nil
}

// ColumnNames lists the field names for messages: "a, b, c".
func ColumnNames(fs []arrow.Field) string {
	n := make([]string, len(fs))
	for i, f := range fs {
		n[i] = f.Name
	}
	return strings.Join(n, ", ")
}

// checkSchema compares a file's schema with the reference: the same field names and types, in any
// order (nullability and metadata are not compared).
func (ds *Dataset) checkSchema(uri string, sc *arrow.Schema) error {
	if sameFields(ds.fileRef, sc) {
		return nil
	}
	return fault.Dataf("schema mismatch: %s\n  %s: %s\n  %s: %s",
		fieldDiff(ds.fileRef, sc), ds.refURI, schemaString(ds.fileRef), uri, schemaString(sc))
}

func sameFields(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for _, f := range a.Fields() {
		idx := b.FieldIndices(f.Name)
		if len(idx) != 1 || !arrow.TypeEqual(f.Type, b.Field(idx[0]).Type) {
			return false
		}
	}
	return true
}

func fieldDiff(a, b *arrow.Schema) string {
	var d []string
	for _, f := range a.Fields() {
		idx := b.FieldIndices(f.Name)
		switch {
		case len(idx) == 0:
			d = append(d, "column "+f.Name+" missing")
		case !arrow.TypeEqual(f.Type, b.Field(idx[0]).Type):
			d = append(d, fmt.Sprintf("column %s is %s, not %s", f.Name, b.Field(idx[0]).Type, f.Type))
		}
	}
	for _, f := range b.Fields() {
		if len(a.FieldIndices(f.Name)) == 0 {
			d = append(d, "extra column "+f.Name)
		}
	}
	if len(d) == 0 {
		return "duplicate column names"
	}
	return strings.Join(d, ", ")
}

func schemaString(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = f.Name + ": " + f.Type.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Reader streams the dataset's batches, file after file: at most one file is open at a time and
// batches are released by the consumer (array.RecordReader semantics). Release the reader when
// done; Err reports the first failure, classified (fault.Data naming the file for corrupt data).
func (ds *Dataset) Reader(ctx context.Context, mem memory.Allocator) (array.RecordReader, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	r := &multiReader{ctx: ctx, ds: ds, mem: mem, schema: ds.Schema}
	r.refs.Store(1)
	return r, nil
}

// DictionaryReader is Reader with the named string columns of a Parquet dataset streamed as
// dictionary<int32, string> (arrowdict.Type) instead of plain strings: the form a filter can
// compare once per dictionary value (internal/arrowdict). Its Schema says which columns are
// dictionaries; columns that are not strings, partition columns and other formats stay plain.
func (ds *Dataset) DictionaryReader(ctx context.Context, mem memory.Allocator, cols []string) (array.RecordReader, error) {
	rr, err := ds.Reader(ctx, mem)
	if err != nil || ds.Format != Parquet {
		return rr, err
	}
	r := rr.(*multiReader)
	fields := ds.Schema.Fields()
	for i, f := range fields {
		if _, isPart := ds.partTypes[f.Name]; isPart || f.Type.ID() != arrow.STRING || !slices.Contains(cols, f.Name) {
			continue
		}
		if r.dict == nil {
			r.dict = map[string]bool{}
		}
		r.dict[f.Name] = true
		fields[i].Type = arrowdict.Type
	}
	if r.dict != nil {
		md := ds.Schema.Metadata()
		r.schema = arrow.NewSchema(fields, &md)
	}
	return r, nil
}

// errFile classifies an error from reading a data file: an error that already has a class (a
// Temporary S3 failure inside the Parquet reader, a cancelled context) keeps it; anything else is
// corrupt or unreadable data, fault.Data naming the file.
func errFile(err error, uri string) error {
	if err == nil {
		return nil
	}
	if fault.Classified(err) {
		return fmt.Errorf("read %s: %w", uri, err)
	}
	return fault.Wrap(fault.Data, err, "read %s: corrupt or unreadable %s", uri, "data")
}
