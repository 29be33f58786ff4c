package delta

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// LogDir is the folder of the transaction log inside a table.
const LogDir = "_delta_log"

// ErrNoTable is returned (wrapped, fault.Data) when a folder has no Delta log.
var ErrNoTable = errors.New("not a delta table")

// Table is a Delta table at a folder URI (file:// or s3://).
type Table struct {
	st  *objstore.Store
	uri string // no trailing slash
}

// New returns the table at uri.
func New(st *objstore.Store, uri string) *Table {
	return &Table{st: st, uri: strings.TrimSuffix(uri, "/")}
}

// URI is the table folder, without a trailing slash.
func (t *Table) URI() string { return t.uri }

func (t *Table) logURI(name string) string { return t.uri + "/" + LogDir + "/" + name }

// CommitName is the log file of version v: 20 zero-padded digits.
func CommitName(v int64) string { return fmt.Sprintf("%020d.json", v) }

var (
	commitRE     = regexp.MustCompile(`^(\d{20})\.json$`)
	checkpointRE = regexp.MustCompile(`^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet$`)
	uuidCkptRE   = regexp.MustCompile(`^(\d{20})\.checkpoint\.[0-9a-fA-F-]{36}\.(json|parquet)$`)
)

// logListing is what the log folder holds.
type logListing struct {
	commits     map[int64]string   // version → URI
	checkpoints map[int64][]string // version → URIs of a complete checkpoint (all parts)
	latest      int64              // -1: empty
}

func (t *Table) list(ctx context.Context) (*logListing, error) {
	objs, err := t.st.List(ctx, t.uri+"/"+LogDir+"/")
	if err != nil {
		return nil, fmt.Errorf("list delta log of %s: %w", t.uri, err)
	}
	l := &logListing{commits: map[int64]string{}, checkpoints: map[int64][]string{}, latest: -1}
	parts := map[int64]map[string][]string{} // version → "n" parts key → URIs
	for _, o := range objs {
		name := path.Base(o.URI)
		if m := commitRE.FindStringSubmatch(name); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			l.commits[v] = o.URI
			l.latest = max(l.latest, v)
			continue
		}
		if m := checkpointRE.FindStringSubmatch(name); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			key := "1"
			if m[3] != "" {
				key = m[3]
			}
			if parts[v] == nil {
				parts[v] = map[string][]string{}
			}
			parts[v][key] = append(parts[v][key], o.URI)
			continue
		}
		if m := uuidCkptRE.FindStringSubmatch(name); m != nil {
			// A v2 checkpoint: read as a single-part checkpoint; its protocol names the
			// v2Checkpoint feature, which CheckRead refuses before any file is trusted.
			v, _ := strconv.ParseInt(m[1], 10, 64)
			if parts[v] == nil {
				parts[v] = map[string][]string{}
			}
			parts[v]["uuid"] = []string{o.URI}
		}
	}
	for v, byN := range parts {
		for key, uris := range byN {
			n := 1
			if key != "1" && key != "uuid" {
				n, _ = strconv.Atoi(key)
			}
			if len(uris) == n { // a multi-part checkpoint counts only when every part is there
				sort.Strings(uris)
				l.checkpoints[v] = uris
				l.latest = max(l.latest, v)
				break
			}
		}
	}
	return l, nil
}

// Snapshot is the state of a table at one version.
type Snapshot struct {
	Table    *Table
	Version  int64
	Protocol Protocol
	Metadata Metadata
	Schema   *Schema
	// Txns holds the latest version of each application id.
	Txns  map[string]Txn
	files map[string]*Add // by absolute file URI
}

// Latest reads the newest snapshot. A folder without a log gives an error wrapping ErrNoTable.
func (t *Table) Latest(ctx context.Context) (*Snapshot, error) { return t.At(ctx, -1) }

// At reads the snapshot at version (-1: the newest).
func (t *Table) At(ctx context.Context, version int64) (*Snapshot, error) {
	l, err := t.list(ctx)
	if err != nil {
		return nil, err
	}
	if l.latest < 0 {
		return nil, &fault.Error{Class: fault.Data, Msg: "read " + t.uri + ": no " + LogDir + "/ commits", Err: ErrNoTable}
	}
	if version < 0 {
		version = l.latest
	}
	if version > l.latest {
		return nil, fault.Dataf("delta table %s: version %d does not exist (latest is %d)", t.uri, version, l.latest)
	}
	s := &Snapshot{Table: t, Version: version, Txns: map[string]Txn{}, files: map[string]*Add{}}
	start := int64(0)
	var ckpt int64 = -1
	for v := range l.checkpoints {
		if v <= version && v > ckpt {
			ckpt = v
		}
	}
	if ckpt >= 0 {
		for _, uri := range l.checkpoints[ckpt] {
			if err := t.readCheckpoint(ctx, uri, s); err != nil {
				return nil, err
			}
		}
		start = ckpt + 1
	}
	for v := start; v <= version; v++ {
		uri, ok := l.commits[v]
		if !ok {
			return nil, fault.Dataf("delta table %s: commit %s is missing from the log (needed for version %d)", t.uri, CommitName(v), version)
		}
		actions, err := t.readCommit(ctx, uri)
		if err != nil {
			return nil, err
		}
		for _, a := range actions {
			s.apply(a)
		}
	}
	if s.Metadata.SchemaString == "" {
		return nil, fault.Dataf("delta table %s: no metaData action up to version %d", t.uri, version)
	}
	if s.Protocol.MinReaderVersion == 0 {
		return nil, fault.Dataf("delta table %s: no protocol action up to version %d", t.uri, version)
	}
	if s.Schema, err = ParseSchema(s.Metadata.SchemaString); err != nil {
		return nil, fmt.Errorf("delta table %s: %w", t.uri, err)
	}
	return s, nil
}

func (s *Snapshot) apply(a Action) {
	switch {
	case a.Add != nil:
		s.files[s.Table.FileURI(a.Add.Path)] = a.Add
	case a.Remove != nil:
		delete(s.files, s.Table.FileURI(a.Remove.Path))
	case a.MetaData != nil:
		s.Metadata = *a.MetaData
	case a.Protocol != nil:
		s.Protocol = *a.Protocol
	case a.Txn != nil:
		s.Txns[a.Txn.AppID] = *a.Txn
	}
}

// readCommit reads one commit file: newline-delimited JSON actions.
func (t *Table) readCommit(ctx context.Context, uri string) ([]Action, error) {
	b, err := t.st.Get(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("read delta log: %w", err)
	}
	return parseActions(b, uri)
}

func parseActions(b []byte, uri string) ([]Action, error) {
	var out []Action
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 256<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var a Action
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, fault.Wrap(fault.Data, err, "read %s line %d: corrupt delta action", uri, n)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fault.Wrap(fault.Data, err, "read %s", uri)
	}
	return out, nil
}

// readCheckpoint applies the actions of one checkpoint part (Parquet, or JSON for a v2
// checkpoint). Arrow renders each struct row as JSON, which decodes into the same action types
// as a commit line.
func (t *Table) readCheckpoint(ctx context.Context, uri string, s *Snapshot) error {
	if strings.HasSuffix(uri, ".json") {
		actions, err := t.readCommit(ctx, uri)
		if err != nil {
			return err
		}
		for _, a := range actions {
			s.apply(a)
		}
		return nil
	}
	r, err := t.st.NewReader(ctx, uri)
	if err != nil {
		return fmt.Errorf("read delta checkpoint: %w", err)
	}
	defer r.Close()
	pf, err := file.NewParquetReader(r, file.WithReadProps(parquet.NewReaderProperties(memory.DefaultAllocator)))
	if err != nil {
		return checkpointErr(err, uri)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return checkpointErr(err, uri)
	}
	// The whole checkpoint at once: a checkpoint is a summary of the log, small next to the data.
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return checkpointErr(err, uri)
	}
	defer tbl.Release()
	for c := 0; c < int(tbl.NumCols()); c++ {
		col := tbl.Column(c)
		for _, chunk := range col.Data().Chunks() {
			if err := applyCheckpointColumn(col.Name(), chunk, s, uri); err != nil {
				return err
			}
		}
	}
	return nil
}

func applyCheckpointColumn(name string, arr arrow.Array, s *Snapshot, uri string) error {
	col, ok := arr.(*array.Struct)
	if !ok {
		return nil
	}
	for i := 0; i < col.Len(); i++ {
		if col.IsNull(i) {
			continue
		}
		b, err := json.Marshal(col.GetOneForMarshal(i))
		if err != nil {
			return fault.Wrap(fault.Data, err, "read %s: %s row %d", uri, name, i)
		}
		var a Action
		var target any
		switch name {
		case "protocol":
			a.Protocol = &Protocol{}
			target = a.Protocol
		case "metaData":
			a.MetaData = &Metadata{}
			target = a.MetaData
		case "txn":
			a.Txn = &Txn{}
			target = a.Txn
		case "add":
			a.Add = &Add{}
			target = a.Add
		default:
			continue
		}
		if err := json.Unmarshal(b, target); err != nil {
			return fault.Wrap(fault.Data, err, "read %s: corrupt %s action in row %d", uri, name, i)
		}
		// A row of another action type may read as a struct of nulls rather than a null
		// struct (required children of a nullable struct): skip those.
		if (a.Add != nil && a.Add.Path == "") || (a.MetaData != nil && a.MetaData.ID == "" && a.MetaData.SchemaString == "") ||
			(a.Protocol != nil && a.Protocol.MinReaderVersion == 0) || (a.Txn != nil && a.Txn.AppID == "") {
			continue
		}
		s.apply(a)
	}
	return nil
}

func checkpointErr(err error, uri string) error {
	if fault.Classified(err) {
		return fmt.Errorf("read delta checkpoint %s: %w", uri, err)
	}
	return fault.Wrap(fault.Data, err, "read %s: corrupt delta checkpoint", uri)
}

// FileURI resolves an add/remove path: a relative RFC 2396 URI is decoded and joined to the
// table folder; an absolute one (s3://, s3a://, file:) is used as it is.
func (t *Table) FileURI(p string) string {
	if u, err := url.Parse(p); err == nil && u.Scheme != "" {
		switch u.Scheme {
		case "s3a", "s3n":
			return "s3://" + strings.TrimPrefix(p, u.Scheme+"://")
		case "file":
			return "file://" + u.Path
		}
		return p
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		dec = p
	}
	return t.uri + "/" + strings.TrimPrefix(dec, "/")
}

// RelPath is the add-action path of a file written under the table folder: relative, each
// segment URI-escaped (a Hive-escaped partition folder `k=a%3Ab` becomes `k=a%253Ab`).
func (t *Table) RelPath(fileURI string) (string, error) {
	rel, ok := strings.CutPrefix(fileURI, t.uri+"/")
	if !ok {
		return "", fault.New(fault.Internal, "delta: file %s is not under the table %s", fileURI, t.uri)
	}
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/"), nil
}

// Files returns the live files, sorted by path.
func (s *Snapshot) Files() []*Add {
	out := make([]*Add, 0, len(s.files))
	for _, a := range s.files {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// NumFiles is the number of live files.
func (s *Snapshot) NumFiles() int { return len(s.files) }
