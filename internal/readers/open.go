package readers

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowops"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readahead"
)

// Opener opens a committed manifest of one kind as a record reader. The technology that writes a
// manifest kind registers its opener (RegisterOpener), so this package needs no client library:
// a Kafka range is opened by the kafka package, files by this one. cfg is the runner's
// configuration (the one its Main or test built, never reloaded from the process environment:
// a runner with an injected lookup must see the same settings everywhere); it may be nil for a
// caller with no runner (a tool, a unit test), and an opener that needs it then fails.
type Opener func(ctx context.Context, st *objstore.Store, cfg *config.Config, m *manifest.Manifest, c *Counter, mem memory.Allocator) (array.RecordReader, *arrow.Schema, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// RegisterOpener makes Reader open manifests of kind with fn. Like image.RegisterFormat it is
// process-wide (a manifest kind is a data format, the same in every registry) and panics on a
// duplicate, a programming error found at init.
func RegisterOpener(kind string, fn Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[kind]; dup || fn == nil {
		panic("readers: RegisterOpener twice or without a function for manifest kind " + kind)
	}
	openers[kind] = fn
}

func opener(kind string) (Opener, bool) {
	openersMu.RLock()
	defer openersMu.RUnlock()
	fn, ok := openers[kind]
	return fn, ok
}

// Counter counts what an input delivered. DeadLetters counts the records a Kafka input set aside
// as undecodable (on_error: dead_letter); consumers report it in their output manifest.
// Watch, when set, is also called with the running totals (plugin.Env.ReadProgress).
type Counter struct {
	Rows, Bytes, DeadLetters atomic.Int64
	Watch                    func(rows, bytes int64)
}

// OpenManifest opens a committed manifest for reading as Arrow record batches: exactly its pinned
// files (sizes and ETags checked), projected to the pinned columns.
func OpenManifest(ctx context.Context, st *objstore.Store, m *manifest.Manifest, c *Counter) (*dataset.Dataset, error) {
	switch m.Kind {
	case manifest.KindFiles:
	case manifest.KindTable:
		return nil, fault.Configf("input %s is a catalog table (%s): only the spark engine reads it", m.Node, m.Table.Name)
	default:
		if _, ok := opener(m.Kind); ok {
			return nil, fault.Configf("input %s is a %s manifest: open it with Reader", m.Node, m.Kind)
		}
		return nil, fault.Configf("input %s has no data to read (%s)", m.Node, m.Kind)
	}
	opts := dataset.ReadOptions{Format: dataset.Format(m.Format)}
	if len(m.ReadSchema) > 0 {
		// Text files are read with the producer's declared schema, never inferred again.
		sc, err := SchemaOf(m.ReadSchema)
		if err != nil {
			return nil, err
		}
		opts.Schema = sc
	}
	if cols, ok := m.Details["columns"].([]any); ok {
		for _, c := range cols {
			if s, ok := c.(string); ok {
				opts.Columns = append(opts.Columns, s)
			}
		}
	}
	if c != nil {
		opts.Progress = func(rows, bytes int64) {
			c.Rows.Store(rows)
			c.Bytes.Store(bytes)
			if c.Watch != nil {
				c.Watch(rows, bytes)
			}
		}
	}
	if len(m.Files) == 0 {
		return nil, nil // an empty output: see EmptyReader
	}
	// Partition columns read with the types the manifest recorded (a Delta table's schema, a
	// sink's input), not as strings.
	if len(m.Files[0].Partition) > 0 {
		for _, f := range m.Schema {
			if _, ok := m.Files[0].Partition[f.Name]; !ok {
				continue
			}
			if dt, err := arrowops.ParseType(f.Type); err == nil && partitionType(dt) {
				if opts.PartitionTypes == nil {
					opts.PartitionTypes = map[string]arrow.DataType{}
				}
				opts.PartitionTypes[f.Name] = dt
			}
		}
	}
	return dataset.OpenFiles(ctx, st, m.Files, opts)
}

// Reader opens a manifest as a record reader (cfg: see Opener); an output with no files reads as no rows of its
// recorded schema.
func Reader(ctx context.Context, st *objstore.Store, cfg *config.Config, m *manifest.Manifest, c *Counter, mem memory.Allocator) (array.RecordReader, *arrow.Schema, error) {
	return DictionaryReader(ctx, st, cfg, m, c, mem, nil)
}

// DictionaryReader is Reader with the named string columns of Parquet files streamed as
// dictionaries where the reader can (dataset.Dataset.DictionaryReader): for a consumer that
// handles dictionary columns (an arrow filter). The returned schema is the data's (plain
// strings); the reader's own Schema says which columns come as dictionaries.
func DictionaryReader(ctx context.Context, st *objstore.Store, cfg *config.Config, m *manifest.Manifest, c *Counter, mem memory.Allocator, dictCols []string) (array.RecordReader, *arrow.Schema, error) {
	if fn, ok := opener(m.Kind); ok {
		return fn(ctx, st, cfg, m, c, mem)
	}
	ds, err := OpenManifest(ctx, st, m, c)
	if err != nil {
		return nil, nil, err
	}
	if ds == nil {
		sc, err := SchemaOf(m.Schema)
		if err != nil {
			return nil, nil, err
		}
		rr, err := array.NewRecordReader(sc, nil)
		return rr, sc, err
	}
	rr, err := ds.DictionaryReader(ctx, mem, dictCols)
	if err != nil {
		return nil, nil, err
	}
	// Decode the next batches while the consumer works on this one.
	return readahead.New(ctx, rr, 1), ds.Schema, nil
}

// SchemaOf rebuilds an Arrow schema from manifest fields (for empty outputs).
func SchemaOf(fs []manifest.Field) (*arrow.Schema, error) {
	out := make([]arrow.Field, len(fs))
	for i, f := range fs {
		dt, err := arrowops.ParseType(f.Type)
		if err != nil {
			return nil, fault.Wrap(fault.Data, err, "schema field %s", f.Name)
		}
		out[i] = arrow.Field{Name: f.Name, Type: dt, Nullable: f.Nullable}
	}
	return arrow.NewSchema(out, nil), nil
}

// DeclaredSchema builds a schema from a declared column → type map, in column-name order.
func DeclaredSchema(decl map[string]string) (*arrow.Schema, error) {
	fs := make([]arrow.Field, 0, len(decl))
	for _, k := range slices.Sorted(maps.Keys(decl)) {
		dt, err := arrowops.ParseType(decl[k])
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "schema column %s", k)
		}
		fs = append(fs, arrow.Field{Name: k, Type: dt, Nullable: true})
	}
	return arrow.NewSchema(fs, nil), nil
}

// StagedManifest describes files a runtime wrote to staging (or published) as Parquet.
func StagedManifest(files []dataset.WrittenFile, schema *arrow.Schema) *manifest.Manifest {
	m := &manifest.Manifest{Kind: manifest.KindFiles, Format: string(dataset.Parquet), Schema: Fields(schema)}
	for _, f := range files {
		m.Files = append(m.Files, dataset.FileInfo{URI: f.URI, Size: f.Bytes, Partition: f.Partition})
		m.Rows += f.Rows
		m.Bytes += f.Bytes
	}
	return m
}

// partitionType reports whether partition values (strings in paths and logs) parse as dt.
func partitionType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.BOOL, arrow.DATE32,
		arrow.FLOAT32, arrow.FLOAT64, arrow.TIMESTAMP, arrow.DECIMAL128:
		return true
	}
	return false
}
