package delta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// Modes of a write.
const (
	Overwrite = "overwrite" // replace the partitions the new files touch (the whole table when unpartitioned)
	Append    = "append"
	Error     = "error"  // fail when the table has files
	Ignore    = "ignore" // write nothing when the table has files
)

// Decision is what a write does, decided before any data file is written.
type Decision int

const (
	// WriteFiles: write the data files, then Commit.
	WriteFiles Decision = iota
	// AlreadyCommitted: the table's txn for the write's AppID says this write is in the table.
	AlreadyCommitted
	// Skip: mode ignore and the table has files.
	Skip
)

// Write describes one write to a table.
type Write struct {
	Mode string
	// PartitionBy names the partition columns of a new table. An existing table keeps its own;
	// naming different ones is refused (fault.Data).
	PartitionBy []string
	// AppID, when set, is recorded as a txn action (version 1) in the commit: a write whose
	// AppID the table already holds is AlreadyCommitted, so a retry never writes twice.
	AppID string
	// Schema is the input's Arrow schema, partition columns included.
	Schema *arrow.Schema
	// Engine is recorded in commitInfo.engineInfo.
	Engine string
}

// Plan is a write decided against a snapshot.
type Plan struct {
	Table    *Table
	Write    Write
	Decision Decision
	// Base is the snapshot the write started from (nil: the table does not exist yet).
	Base *Snapshot
	// PartitionBy is the partitioning the data files must be written with.
	PartitionBy []string
	schema      *Schema
	newMeta     bool // the commit replaces the metadata (new table, or overwrite with a new schema)
}

// Begin reads the newest snapshot and decides the write (see Decision). It checks the protocol,
// the mode and the schema before any data is written.
func (t *Table) Begin(ctx context.Context, w Write) (*Plan, error) {
	switch w.Mode {
	case Overwrite, Append, Error, Ignore:
	default:
		return nil, fault.Configf("delta table %s: unknown write mode %q", t.uri, w.Mode)
	}
	sc, err := SchemaOf(w.Schema)
	if err != nil {
		return nil, fmt.Errorf("delta table %s: %w", t.uri, err)
	}
	for _, k := range w.PartitionBy {
		f, ok := sc.Field(k)
		if !ok {
			return nil, fault.Dataf("delta table %s: partition column %q is not in the input", t.uri, k)
		}
		if f.Type.Kind != "" {
			return nil, fault.Dataf("delta table %s: partition column %s is a %s; partition by a primitive column", t.uri, k, f.Type)
		}
	}
	base, err := t.Latest(ctx)
	if errors.Is(err, ErrNoTable) {
		base, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := &Plan{Table: t, Write: w, Base: base, schema: sc, PartitionBy: w.PartitionBy}
	if err := p.decide(); err != nil {
		return nil, err
	}
	return p, nil
}

// decide sets the decision against p.Base (also after a conflicting commit moved the table).
func (p *Plan) decide() error {
	base, w := p.Base, p.Write
	p.Decision, p.newMeta = WriteFiles, base == nil
	if base == nil {
		return nil
	}
	if err := base.CheckWrite(w.Mode == Overwrite); err != nil {
		return err
	}
	if w.AppID != "" {
		if txn, ok := base.Txns[w.AppID]; ok && txn.Version >= 1 {
			p.Decision = AlreadyCommitted
			return nil
		}
	}
	if base.NumFiles() > 0 {
		switch w.Mode {
		case Error:
			return fault.Dataf("delta table %s already has data (version %d) and mode is error", p.Table.uri, base.Version)
		case Ignore:
			p.Decision = Skip
			return nil
		}
	}
	tableParts := base.Metadata.PartitionColumns
	if len(w.PartitionBy) > 0 && !slices.EqualFunc(w.PartitionBy, tableParts, strings.EqualFold) {
		return fault.Dataf("delta table %s is partitioned by [%s], not [%s]: a table keeps its partitioning (drop partition_by to use the table's)",
			p.Table.uri, strings.Join(tableParts, ", "), strings.Join(w.PartitionBy, ", "))
	}
	p.PartitionBy = tableParts
	if ok, why := sameColumns(base.Schema, p.schema); !ok {
		if w.Mode == Overwrite && len(tableParts) == 0 {
			// An overwrite of a whole table may replace its schema, as Spark's overwriteSchema.
			p.newMeta = true
			return nil
		}
		return fault.Dataf("delta table %s: the input does not match the table's schema (%s): table %s, input %s",
			p.Table.uri, why, typeList(base.Schema), typeList(p.schema))
	}
	for _, k := range tableParts {
		if _, ok := p.schema.Field(k); !ok {
			return fault.Dataf("delta table %s: partition column %s is not in the input", p.Table.uri, k)
		}
	}
	return nil
}

func typeList(s *Schema) string {
	parts := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		parts[i] = f.Name + " " + f.Type.String()
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// NewFile is a data file written under the table folder for a Plan.
type NewFile struct {
	URI  string
	Size int64
	// Partition holds the partition values; "" is null (as in Delta).
	Partition map[string]string
	// Stats is the statistics JSON (FileStats); empty: none.
	Stats string
}

// Result says what a Commit did.
type Result struct {
	Version int64
	// AlreadyCommitted: a concurrent or earlier attempt with the same AppID committed first.
	AlreadyCommitted bool
	// Skipped: mode ignore found data that a concurrent writer committed meanwhile.
	Skipped bool
	Added   []*Add
	Removed int
}

// maxCommitTries bounds the retries after losing the race for a version to another writer.
const maxCommitTries = 20

// Commit creates the next log entry holding files (put-if-absent: exactly one writer gets each
// version). When another writer took the version, it re-reads the log and decides again against
// the new snapshot: its txn may now say the write is done, the mode may now find data, and an
// overwrite recomputes the files it removes, so commits stay serial.
func (p *Plan) Commit(ctx context.Context, files []NewFile) (*Result, error) {
	if p.Decision != WriteFiles {
		return nil, fault.New(fault.Internal, "delta: commit of a plan that writes nothing")
	}
	if err := p.Table.st.CheckPutIfAbsent(ctx, p.Table.uri+"/"+LogDir+"/"); err != nil {
		return nil, fmt.Errorf("delta table %s: %w", p.Table.uri, err)
	}
	now := time.Now().UnixMilli()
	adds := make([]*Add, 0, len(files))
	for _, f := range files {
		rel, err := p.Table.RelPath(f.URI)
		if err != nil {
			return nil, err
		}
		a := &Add{Path: rel, PartitionValues: NullableStringMap{}, Size: f.Size, ModificationTime: now, DataChange: true, Stats: f.Stats}
		for _, k := range p.PartitionBy {
			if v, ok := f.Partition[k]; ok && v != "" {
				a.PartitionValues[k] = &v
			} else {
				a.PartitionValues[k] = nil
			}
		}
		adds = append(adds, a)
	}
	for try := 1; ; try++ {
		actions, removed := p.actions(adds, now)
		version := int64(0)
		if p.Base != nil {
			version = p.Base.Version + 1
		}
		body, err := encodeActions(actions)
		if err != nil {
			return nil, err
		}
		err = p.Table.st.PutIfAbsent(ctx, p.Table.logURI(CommitName(version)), bytes.NewReader(body))
		if err == nil {
			return &Result{Version: version, Added: adds, Removed: removed}, nil
		}
		if !errors.Is(err, objstore.ErrExist) {
			return nil, fmt.Errorf("commit version %d of delta table %s: %w", version, p.Table.uri, err)
		}
		if try >= maxCommitTries {
			return nil, fault.Temporaryf("delta table %s: lost the race for a new version %d times to concurrent writers; retry", p.Table.uri, try)
		}
		// Another writer committed this version: decide again on top of it.
		if p.Base, err = p.Table.Latest(ctx); err != nil {
			return nil, err
		}
		if err := p.decide(); err != nil {
			return nil, err
		}
		switch p.Decision {
		case AlreadyCommitted:
			return &Result{Version: p.Base.Version, AlreadyCommitted: true}, nil
		case Skip:
			return &Result{Version: p.Base.Version, Skipped: true}, nil
		}
		if len(adds) > 0 && !sameSet(p.PartitionBy, partitionKeys(adds)) {
			return nil, fault.Temporaryf("delta table %s was re-created with other partition columns while writing; retry", p.Table.uri)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

func partitionKeys(adds []*Add) []string {
	if len(adds) == 0 {
		return nil
	}
	var ks []string
	for k := range adds[0].PartitionValues {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// actions builds the commit on top of p.Base.
func (p *Plan) actions(adds []*Add, now int64) ([]Action, int) {
	var out []Action
	w := p.Write
	engine := w.Engine
	if engine == "" {
		engine = "aiflow"
	}
	op := "WRITE"
	if p.Base == nil {
		op = "CREATE TABLE AS SELECT"
	}
	mode := "Append"
	if w.Mode == Overwrite {
		mode = "Overwrite"
	}
	out = append(out, Action{CommitInfo: map[string]any{
		"timestamp": now, "operation": op, "engineInfo": engine,
		"operationParameters": map[string]any{"mode": mode, "partitionBy": jsonList(p.PartitionBy)},
		"isBlindAppend":       w.Mode == Append && !p.newMeta,
	}})
	if p.Base == nil {
		out = append(out, Action{Protocol: protocolFor(p.schema)})
	}
	if p.newMeta {
		m := Metadata{ID: uuid.NewString(), Format: Format{Provider: "parquet", Options: StringMap{}},
			SchemaString: p.schema.String(), PartitionColumns: p.PartitionBy, Configuration: StringMap{}, CreatedTime: &now}
		if p.PartitionBy == nil {
			m.PartitionColumns = []string{}
		}
		if p.Base != nil {
			// The same table with a new schema keeps its id and settings.
			m.ID, m.Configuration, m.CreatedTime = p.Base.Metadata.ID, p.Base.Metadata.Configuration, p.Base.Metadata.CreatedTime
			m.Name, m.Description = p.Base.Metadata.Name, p.Base.Metadata.Description
		}
		out = append(out, Action{MetaData: &m})
	}
	if w.AppID != "" {
		out = append(out, Action{Txn: &Txn{AppID: w.AppID, Version: 1, LastUpdated: &now}})
	}
	removed := 0
	if p.Base != nil && w.Mode == Overwrite {
		touched := map[string]bool{}
		for _, a := range adds {
			touched[partitionKey(p.PartitionBy, a.PartitionValues)] = true
		}
		for _, f := range p.Base.Files() {
			if len(p.PartitionBy) > 0 && !touched[partitionKey(p.PartitionBy, f.PartitionValues)] {
				continue
			}
			out = append(out, Action{Remove: &Remove{Path: f.Path, DeletionTimestamp: now, DataChange: true,
				ExtendedFileMetadata: true, PartitionValues: f.PartitionValues, Size: f.Size, DeletionVector: f.DeletionVector}})
			removed++
		}
	}
	for _, a := range adds {
		out = append(out, Action{Add: a})
	}
	return out, removed
}

// partitionKey identifies a partition: its values in column order, null ("" too) told apart.
func partitionKey(cols []string, vals NullableStringMap) string {
	var b strings.Builder
	for _, c := range cols {
		v := lookupFold(vals, c)
		if v == nil || *v == "" {
			b.WriteString("\x00N")
		} else {
			b.WriteString("\x00V" + *v)
		}
	}
	return b.String()
}

func lookupFold(m NullableStringMap, k string) *string {
	if v, ok := m[k]; ok {
		return v
	}
	for _, mk := range slices.Sorted(maps.Keys(m)) {
		if strings.EqualFold(mk, k) {
			return m[mk]
		}
	}
	return nil
}

func jsonList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// protocolFor is the least protocol a new table with this schema needs: (1, 2), or table
// features (3, 7) with timestampNtz when a column is a timestamp without time zone.
func protocolFor(s *Schema) *Protocol {
	if usesNTZ(s.Fields) {
		return &Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"timestampNtz"}, WriterFeatures: []string{"timestampNtz"}}
	}
	return &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}
}

func usesNTZ(fs []Field) bool {
	for _, f := range fs {
		if typeUsesNTZ(f.Type) {
			return true
		}
	}
	return false
}

func typeUsesNTZ(t DataType) bool {
	switch t.Kind {
	case "":
		return t.Primitive == "timestamp_ntz"
	case "array":
		return typeUsesNTZ(*t.ElementType)
	case "map":
		return typeUsesNTZ(*t.KeyType) || typeUsesNTZ(*t.ValueType)
	}
	return usesNTZ(t.Fields)
}

// CommitActions reads the actions of the commit at version (to report what an earlier attempt
// published).
func (t *Table) CommitActions(ctx context.Context, version int64) ([]Action, error) {
	return t.readCommit(ctx, t.logURI(CommitName(version)))
}

// FindTxn returns the newest version whose commit holds a txn action for appID, scanning the log
// backwards from the snapshot's version (-1 when no commit file holds it any more).
func (s *Snapshot) FindTxn(ctx context.Context, appID string) (int64, []Action, error) {
	for v := s.Version; v >= 0; v-- {
		actions, err := s.Table.CommitActions(ctx, v)
		if errors.Is(err, objstore.ErrNotExist) {
			return -1, nil, nil // cleaned up: only a checkpoint remembers it
		}
		if err != nil {
			return -1, nil, err
		}
		for _, a := range actions {
			if a.Txn != nil && a.Txn.AppID == appID {
				return v, actions, nil
			}
		}
	}
	return -1, nil, nil
}

// AppID is the txn application id of a write identified by commit (<pipeline>/<run_id>/<node>).
// The arrow engine's writer and the Spark engine (spark.databricks.delta.write.txnAppId) derive
// it the same way, so a retry is recognised whichever engine made the first attempt.
func AppID(commit string) string {
	sum := sha256.Sum256([]byte(commit))
	return "aiflow-" + hex.EncodeToString(sum[:16])
}
