//go:build !nospark

package spark

import (
	"context"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/spark-connect-go/spark/sql"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/spark/sparkspec"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// UpstreamKind is the reader key of the committed output of an upstream aiflow node (a
// transform's staged Parquet, a sink's table): any manifest.
const UpstreamKind = "aiflow"

// Input is one pinned input of a node, handed to a Reader.
type Input struct {
	// ID is the input node's id; Node its IR (params not rendered).
	ID       string
	Node     *ir.Node
	Manifest *manifest.Manifest
	// Counter, when set, counts what a reader that reads the input through Go delivered (rows,
	// bytes, records set aside as dead letters), for the node's output manifest.
	Counter *readers.Counter
}

// Reader turns a pinned input into a DataFrame on the node's session (the seed's
// register_spark_source_reader). Register one with
// plugin.Registry.RegisterReader(sparkspec.Engine, kind, spark.Reader(...)).
type Reader func(ctx context.Context, s *Session, env *plugin.Env, in Input) (sql.DataFrame, error)

// ReadInput reads an input with the reader registered for its source kind, or, for the output of
// a transform or sink, with the upstream reader.
func ReadInput(ctx context.Context, s *Session, env *plugin.Env, id string) (sql.DataFrame, error) {
	return readInput(ctx, s, env, id, nil)
}

// readInput is ReadInput counting what a reader reading through Go delivered in c (may be nil).
func readInput(ctx context.Context, s *Session, env *plugin.Env, id string, c *readers.Counter) (sql.DataFrame, error) {
	n := env.Pipeline.Nodes[id]
	m := env.Inputs[id]
	if n == nil || m == nil {
		return nil, fault.New(fault.Internal, "input %s has no node or manifest", id)
	}
	kind := UpstreamKind
	if n.Type == ir.Source {
		kind = n.Kind()
	}
	v, ok := env.Registry.Reader(sparkspec.Engine, kind)
	if !ok {
		return nil, fault.Configf("input %s: the spark engine has no reader for %s sources (readers: %s)", id, kind, strings.Join(readerKinds(env), ", "))
	}
	r, ok := v.(Reader)
	if !ok {
		return nil, fault.New(fault.Internal, "spark reader for %s is a %T", kind, v)
	}
	df, err := r(ctx, s, env, Input{ID: id, Node: n, Manifest: m, Counter: c})
	if err != nil {
		return nil, fmt.Errorf("read input %s: %w", id, err)
	}
	return df, nil
}

func readerKinds(env *plugin.Env) []string {
	var out []string
	for _, k := range append(env.Registry.Kinds("source"), UpstreamKind) {
		if _, ok := env.Registry.Reader(sparkspec.Engine, k); ok {
			out = append(out, k)
		}
	}
	return out
}

// readManifest reads any committed output: a catalog table or files.
func readManifest(ctx context.Context, s *Session, env *plugin.Env, in Input) (sql.DataFrame, error) {
	switch in.Manifest.Kind {
	case manifest.KindTable:
		if t := in.Manifest.Table; t != nil && t.Location != "" {
			if err := env.Store.ConfineTree(t.Location); err != nil {
				return nil, err
			}
		}
		return readTable(ctx, s, in.Manifest)
	case manifest.KindFiles:
		return readFiles(ctx, s, env, in.Manifest, nil)
	case manifest.KindKafka:
		return readLanded(ctx, s, env, in)
	}
	return nil, fault.Configf("%s has no data to read (%s output)", in.ID, in.Manifest.Kind)
}

// readLanded reads an input whose data only the runner can open (a Kafka offset range: the
// server has no Kafka client, and the range's records must be decoded, and undecodable ones set
// aside, exactly as the arrow engine does) by landing it once as Parquet in the attempt's staging
// folder, which the server then reads like any staged output. Reading the range once also keeps
// a dead letter from being sent twice.
func readLanded(ctx context.Context, s *Session, env *plugin.Env, in Input) (sql.DataFrame, error) {
	switch in.Manifest.Kind {
	case manifest.KindFiles, manifest.KindTable:
		return readManifest(ctx, s, env, in)
	}
	c := in.Counter
	if c == nil {
		c = &readers.Counter{}
	}
	c.Watch = env.ReadProgress(in.ID)
	rr, sc, err := readers.Reader(ctx, env.Store, env.Config, in.Manifest, c, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("open input %s: %w", in.ID, err)
	}
	defer rr.Release()
	dir := env.OutDir + "/_inputs/" + in.ID
	if err := env.Store.ConfineTree(dir); err != nil {
		return nil, err
	}
	files, err := dataset.WriteFiles(ctx, env.Store, dir, rr, dataset.WriteOptions{Format: dataset.Parquet, FilePrefix: "part", CompressionLevel: 1, Interop: true})
	if err != nil {
		return nil, fmt.Errorf("land input %s as Parquet: %w", in.ID, err)
	}
	m := readers.StagedManifest(files, sc)
	m.Node = in.ID
	if dead := c.DeadLetters.Load(); dead > 0 {
		env.Log.Warn("records sent to the dead-letter destination", "input", in.ID, "dead_letters", dead)
	}
	return readFiles(ctx, s, env, m, nil)
}

// readOnelake reads a onelake source: the pinned catalog table (or, when the source pinned files,
// those files).
func readOnelake(ctx context.Context, s *Session, env *plugin.Env, in Input) (sql.DataFrame, error) {
	return readManifest(ctx, s, env, in)
}

// readFilesSource reads a files source with its format options.
func readFilesSource(ctx context.Context, s *Session, env *plugin.Env, in Input) (sql.DataFrame, error) {
	if in.Manifest.Kind != manifest.KindFiles {
		return readManifest(ctx, s, env, in)
	}
	opts := map[string]string{}
	if o, ok := in.Node.Params["options"].(map[string]any); ok {
		for k, v := range o {
			opts[k] = fmt.Sprint(v)
		}
	}
	return readFiles(ctx, s, env, in.Manifest, opts)
}

// TableQuery renders the SELECT that reads a pinned table: its columns, its snapshot (delta
// VERSION / TIMESTAMP AS OF) and its partition filter (already quoted by the source node through
// sqltext).
func TableQuery(t *manifest.Table, columns []string) (string, error) {
	qn, err := sqltext.QualifiedName(t.Name)
	if err != nil {
		return "", fault.Wrap(fault.Config, err, "")
	}
	cols := "*"
	if len(columns) > 0 {
		qs := make([]string, len(columns))
		for i, c := range columns {
			if qs[i], err = sqltext.Ident(c); err != nil {
				return "", fault.Wrap(fault.Config, err, "columns")
			}
		}
		cols = strings.Join(qs, ", ")
	}
	from := qn
	if t.Location != "" && t.Format == "delta" {
		// A onelake delta table: by its location, the table every engine shares.
		if from, err = DeltaPath(t.Location); err != nil {
			return "", err
		}
	}
	q := "SELECT " + cols + " FROM " + from
	if t.Snapshot != "" {
		if t.Format != "delta" {
			return "", fault.Configf("table %s: snapshot needs format delta", t.Name)
		}
		if versionRE.MatchString(t.Snapshot) {
			q += " VERSION AS OF " + t.Snapshot
		} else {
			lit, err := sqltext.String(t.Snapshot)
			if err != nil {
				return "", fault.Wrap(fault.Config, err, "snapshot")
			}
			q += " TIMESTAMP AS OF " + lit
		}
	}
	if t.Filter != "" {
		q += " WHERE " + t.Filter
	}
	return q, nil
}

var versionRE = regexp.MustCompile(`^[0-9]{1,18}$`)

func readTable(ctx context.Context, s *Session, m *manifest.Manifest) (sql.DataFrame, error) {
	if m.Table == nil {
		return nil, fault.Dataf("table manifest of %s has no table", m.Node)
	}
	q, err := TableQuery(m.Table, stringList(m.Details["columns"]))
	if err != nil {
		return nil, err
	}
	df, err := s.Sql(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", m.Table.Name, Classify(err, s.Remote))
	}
	return df, nil
}

func stringList(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// ClusterURI turns an aiflow URI into one the cluster reads: s3:// becomes s3a:// (Hadoop's S3
// file system); file:// stays (a local test server shares the runner's file system).
func ClusterURI(uri string) string {
	if rest, ok := strings.CutPrefix(uri, "s3://"); ok {
		return "s3a://" + rest
	}
	return uri
}

// readFiles reads exactly the pinned files. When they are all the data files of one folder (a
// stage written by Spark, say), the folder is read in one relation; otherwise each file is read
// and the results are unioned. Hive partition columns come from the paths (basePath).
func readFiles(ctx context.Context, s *Session, env *plugin.Env, m *manifest.Manifest, opts map[string]string) (sql.DataFrame, error) {
	format := m.Format
	if format == "ndjson" {
		format = "json" // aiflow's name of JSON lines; Spark's json source reads them
	}
	switch format {
	case "parquet", "csv", "json", "orc":
	case "", "ipc":
		return nil, fault.Configf("%s: the spark engine cannot read %q files (use parquet, csv or json)", m.Node, format)
	default:
		return nil, fault.Configf("%s: unknown file format %q", m.Node, format)
	}
	declared := len(m.ReadSchema) > 0 && (format == "csv" || format == "json")
	if format == "csv" {
		if _, ok := opts["header"]; !ok {
			opts = withOpt(opts, "header", "true")
		}
		if _, ok := opts["inferSchema"]; !ok && !declared {
			opts = withOpt(opts, "inferSchema", "true")
		}
	}
	if len(m.Files) == 0 {
		return emptyFrame(ctx, s, m)
	}
	root := baseOf(m.Files[0])
	partitioned := len(m.Files[0].Partition) > 0
	// The server reads the folder (or the files) itself and follows any link in it.
	if err := env.Store.ConfineTree(root); err != nil {
		return nil, err
	}
	// The server reads the files by name: one rewritten since the pin (other rows under the same
	// name) must fail the read (65), as the Go readers fail it, not be read as if pinned.
	if err := dataset.CheckPinned(ctx, env.Store, m.Files); err != nil {
		return nil, fmt.Errorf("input %s: %w", m.Node, err)
	}
	var cols []manifest.Field
	if declared {
		var err error
		if cols, err = declaredColumns(ctx, env, m, format); err != nil {
			return nil, err
		}
	}
	load := func(p string) (sql.DataFrame, error) {
		if declared {
			o := opts
			if partitioned {
				o = withOpt(o, "basePath", ClusterURI(root))
			}
			return loadDeclared(ctx, s, format, ClusterURI(p), cols, o)
		}
		r := s.Read().Format(format)
		if partitioned {
			r = r.Option("basePath", ClusterURI(root))
		}
		for _, k := range slices.Sorted(maps.Keys(opts)) {
			r = r.Option(k, opts[k])
		}
		return r.Load(ClusterURI(p))
	}
	var df sql.DataFrame
	if wholeFolder(ctx, env, root, m.Files) {
		d, err := load(root)
		if err != nil {
			return nil, Classify(err, s.Remote)
		}
		df = d
	} else {
		for _, f := range m.Files {
			d, err := load(f.URI)
			if err != nil {
				return nil, Classify(err, s.Remote)
			}
			if df == nil {
				df = d
			} else {
				df = df.UnionAll(ctx, d)
			}
		}
	}
	if cols := stringList(m.Details["columns"]); len(cols) > 0 {
		qs := make([]string, len(cols))
		for i, c := range cols {
			q, err := sqltext.Ident(c)
			if err != nil {
				return nil, fault.Wrap(fault.Config, err, "columns")
			}
			qs[i] = q
		}
		d, err := df.SelectExpr(ctx, qs...)
		if err != nil {
			return nil, Classify(err, s.Remote)
		}
		df = d
	}
	// Analyse now, so a missing or unreadable file fails here, naming the input.
	if _, err := df.Schema(ctx); err != nil {
		return nil, fmt.Errorf("files of %s under %s: %w", m.Node, root, Classify(err, s.Remote))
	}
	return df, nil
}

func withOpt(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// baseOf is the folder above a file's Hive partition folders.
func baseOf(f dataset.FileInfo) string {
	dir := f.URI[:strings.LastIndex(f.URI, "/")]
	for range len(f.Partition) + len(f.NullPartitions) {
		if i := strings.LastIndex(dir, "/"); i > 0 && strings.Contains(dir[i:], "=") {
			dir = dir[:i]
		}
	}
	return dir
}

// wholeFolder reports whether the files are exactly the data files under root (names starting
// with _ or . are not data, as for Spark).
func wholeFolder(ctx context.Context, env *plugin.Env, root string, files []dataset.FileInfo) bool {
	objs, err := env.Store.List(ctx, root+"/")
	if err != nil {
		return false
	}
	want := map[string]bool{}
	for _, f := range files {
		if baseOf(f) != root {
			return false
		}
		want[f.URI] = true
	}
	n := 0
	for _, o := range objs {
		rel := strings.TrimPrefix(o.URI, root+"/")
		if hidden(rel) {
			continue
		}
		if !want[o.URI] {
			return false
		}
		n++
	}
	return n == len(want)
}

func hidden(rel string) bool {
	for _, seg := range strings.Split(rel, "/") {
		if strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return path.Ext(rel) == ".crc"
}

// emptyFrame is an output with no files: no rows of the recorded schema.
func emptyFrame(ctx context.Context, s *Session, m *manifest.Manifest) (sql.DataFrame, error) {
	sc, err := readers.SchemaOf(m.Schema)
	if err != nil {
		return nil, err
	}
	tbl := array.NewTableFromRecords(sc, nil)
	defer tbl.Release()
	df, err := s.CreateDataFrameFromArrow(ctx, tbl)
	if err != nil {
		return nil, Classify(err, s.Remote)
	}
	return df, nil
}
