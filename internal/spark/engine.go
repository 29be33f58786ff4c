//go:build !nospark

package spark

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/spark-connect-go/spark/sql"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/onelake"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/spark/sparkspec"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/sparkfn"
)

// Register adds the spark engine, its readers and its writer of onelake tables to r (after
// onelake.Register: it attaches to that sink).
func Register(r *plugin.Registry) {
	k := sparkspec.Kind
	k.Lint = func(r *plugin.Registry, c *sparkspec.Transform) error {
		if c.Entrypoint == "" {
			return nil
		}
		if _, err := sparkfn.Lookup(r, c.Entrypoint); err == nil {
			if len(c.Rest) > 0 {
				k := slices.Sorted(maps.Keys(c.Rest))[0]
				return plugin.Errorf(k, "unknown field %q (a Go function takes the run's variables, not params)", k)
			}
			return nil
		}
		// Not a Go function of this runner: a Python entrypoint, imported when the node runs.
		return checkPythonEntrypoint(c.Entrypoint)
	}
	plugin.RegisterEngine(r, k, Engine{})
	plugin.AttachSink(r, onelake.SinkKind, OnelakeSink{}, sparkspec.Engine)
	r.RegisterReader(sparkspec.Engine, "onelake", Reader(readOnelake))
	r.RegisterReader(sparkspec.Engine, "files", Reader(readFilesSource))
	r.RegisterReader(sparkspec.Engine, UpstreamKind, Reader(readManifest))
	// Kafka ranges (kinds onestream and kafka) are read by the runner and landed as Parquet.
	r.RegisterReader(sparkspec.Engine, "onestream", Reader(readLanded))
	r.RegisterReader(sparkspec.Engine, "kafka", Reader(readLanded))
}

var (
	_ plugin.Engine[*sparkspec.Transform, *sparkspec.Resources] = Engine{}
	_ plugin.Sink[*onelake.SinkConfig]                          = OnelakeSink{}
)

// testHook, set by tests, is called at named points of a node (a crash or a server restart
// there).
var testHook func(stage string) error

func hook(stage string) error {
	if testHook == nil {
		return nil
	}
	return testHook(stage)
}

// Engine is the spark transform runtime.
type Engine struct{}

// sessionConf is what every node's session sets before its first query.
var sessionConf = map[string]string{
	"spark.sql.parquet.outputTimestampType":    "TIMESTAMP_MICROS",
	"spark.sql.sources.partitionOverwriteMode": "dynamic",
}

// SessionFor connects the node to its cluster (see ResolveRemote and Connect) and prepares the
// session: timestamps staged as Parquet INT64 micros (readable by every engine), dynamic
// partition overwrite.
func SessionFor(ctx context.Context, env *plugin.Env) (*Session, error) {
	remote, err := ResolveRemote(env.Config, clusterOf(env), env.Log)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	s, err := Connect(ctx, Options{Remote: remote, ConnectTimeout: env.Config.SparkConnectTimeout, Log: env.Log})
	if err != nil {
		return nil, err
	}
	if err := s.SetConf(ctx, sessionConf); err != nil {
		s.Close()
		return nil, err
	}
	env.Log.Info("spark session open", "remote", s.Remote, "server_session", s.ServerSessionID(), "ms", time.Since(start).Milliseconds())
	return s, nil
}

// clusterOf is the node's resources.cluster; a sink, which has no Spark resources, runs on the
// cluster of its main input when that is a spark transform.
func clusterOf(env *plugin.Env) string {
	if c, ok := env.Node.Resources["cluster"].(string); ok && c != "" {
		return c
	}
	if len(env.InputOrder) > 0 {
		if up := env.Pipeline.Nodes[env.InputOrder[0]]; up != nil {
			if c, ok := up.Resources["cluster"].(string); ok {
				return c
			}
		}
	}
	return ""
}

// Transform runs Spark SQL (or a registered Go function) over the inputs, stages the result as
// Parquet written by Spark, and saves it to output_table / output_path when asked.
func (Engine) Transform(ctx context.Context, env *plugin.Env, cfg *sparkspec.Transform, _ *sparkspec.Resources) (*plugin.Output, error) {
	s, err := SessionFor(ctx, env)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	out := &plugin.Output{}
	inputs, stats, counted, err := registerInputs(ctx, s, env, out)
	if err != nil {
		return nil, s.checkLost(ctx, err)
	}
	if err := hook("inputs-registered"); err != nil {
		return nil, err
	}
	var df sql.DataFrame
	if cfg.SQL != "" {
		if df, err = s.Sql(ctx, cfg.SQL); err != nil {
			return nil, s.checkLost(ctx, fmt.Errorf("spark sql of %s: %w", env.Node.ID, Classify(err, s.Remote)))
		}
	} else if fn, lerr := sparkfn.Lookup(env.Registry, cfg.Entrypoint); lerr != nil {
		if df, err = runPythonEntrypoint(ctx, s, env, cfg); err != nil {
			return nil, s.checkLost(ctx, err)
		}
	} else {
		if df, err = fn(ctx, s.SparkSession, inputs, funcParams(env)); err != nil {
			err = Classify(err, s.Remote)
			if fault.ClassOf(err) == fault.Internal {
				// Unclassified: a bug of the function (exit 1, retried), not bad data; a
				// function says "bad data" with fault.Data (plugin.DataError).
				err = fault.Wrap(fault.Internal, err, "function %s", cfg.Entrypoint)
			}
			return nil, s.checkLost(ctx, err)
		}
		if df == nil {
			return nil, fault.Dataf("function %s returned no DataFrame", cfg.Entrypoint)
		}
	}
	m, err := Stage(ctx, s, env, df)
	if err != nil {
		return nil, s.checkLost(ctx, err)
	}
	if err := counted(); err != nil {
		return nil, s.checkLost(ctx, err)
	}
	m.Dataset = &manifest.DatasetRef{Namespace: "aiflow", Name: env.Pipeline.ID + "." + env.Node.ID}
	m.Details = map[string]any{"engine": sparkspec.Engine, "remote": s.Remote, "inputs": stats}
	var dead int64
	for _, st := range stats {
		dead += st.DeadLetters
	}
	if dead > 0 {
		// Undecodable stream records set aside (on_error: dead_letter): in the run record, as
		// the arrow engine records them.
		m.Details["dead_letters"] = dead
	}
	// Audit the staged output before output_table / output_path publish it.
	if err := env.Audit.Check(ctx, m); err != nil {
		return nil, err
	}
	if cfg.OutputTable != "" || cfg.OutputPath != "" {
		staged, err := readFiles(ctx, s, env, m, nil)
		if err != nil {
			return nil, s.checkLost(ctx, err)
		}
		if cfg.OutputTable != "" {
			res, err := WriteTableLocked(ctx, env, s, staged, TableWrite{Name: cfg.OutputTable, Format: "parquet", Mode: "overwrite", Commit: commitToken(env)})
			if err != nil {
				return nil, s.checkLost(ctx, fmt.Errorf("output_table %s: %w", cfg.OutputTable, err))
			}
			m.Details["output_table"] = cfg.OutputTable
			m.Dataset = &manifest.DatasetRef{Namespace: "onelake", Name: cfg.OutputTable}
			env.Log.Info("saved output table", "table", cfg.OutputTable, "created", res.Created)
		}
		if cfg.OutputPath != "" {
			uri, err := readers.ResolveURI(env.Store.Guard(), cfg.OutputPath)
			if err != nil {
				return nil, err
			}
			if err := env.Store.ConfineTree(uri); err != nil {
				return nil, err
			}
			if err := staged.Write().Mode("overwrite").Format(cfg.OutputFormat).Save(ctx, ClusterURI(uri)); err != nil {
				return nil, s.checkLost(ctx, fmt.Errorf("output_path %s: %w", uri, Classify(err, s.Remote)))
			}
			m.Details["output_path"] = uri
			m.Details["output_format"] = cfg.OutputFormat
			if cfg.OutputTable == "" {
				m.Dataset = readers.DatasetRef(uri)
			}
		}
	}
	env.Log.Info("spark transform staged", "rows", m.Rows, "files", len(m.Files), "bytes", m.Bytes)
	out.Manifest = m
	return out, nil
}

// commitToken names this run's write of a node: <pipeline>/<run_id>/<node>.
func commitToken(env *plugin.Env) string {
	return env.Pipeline.ID + "/" + env.RunID + "/" + env.Node.ID
}

// funcParams are what a Go function gets as params: the node's template variables.
func funcParams(env *plugin.Env) map[string]any {
	p := map[string]any{"run_id": env.RunID}
	if !env.Vars.LogicalDate.IsZero() {
		p["ds"] = env.Vars.LogicalDate.Format("2006-01-02")
		p["logical_date"] = env.Vars.LogicalDate.Format(time.RFC3339)
	}
	params := map[string]any{}
	for k, v := range env.Vars.Params {
		params[k] = v
	}
	p["params"] = params
	return p
}

// InputStats is what was read of one input: rows and schema, recorded in the output manifest
// (and so in the metadata store).
type InputStats struct {
	Rows   int64            `json:"rows"`
	Schema []manifest.Field `json:"schema,omitempty"`
	// DeadLetters counts the records of a Kafka range set aside as undecodable.
	DeadLetters int64 `json:"dead_letters,omitempty"`
}

// registerInputs reads every input, registers it as a temp view named by its node id, and counts
// what was read. A files input's rows are in its manifest; a catalog table's are counted by a
// Spark job that runs while the node's own query does: counted waits for those counts (call it
// once the output is staged).
func registerInputs(ctx context.Context, s *Session, env *plugin.Env, out *plugin.Output) (map[string]sql.DataFrame, map[string]InputStats, func() error, error) {
	inputs := map[string]sql.DataFrame{}
	stats := map[string]InputStats{}
	type counting struct {
		id  string
		res chan error
		st  *InputStats
	}
	var pending []counting
	counted := func() error {
		var first error
		for _, c := range pending {
			if err := <-c.res; err != nil {
				if first == nil {
					first = fmt.Errorf("count input %s: %w", c.id, err)
				}
				continue
			}
			stats[c.id] = *c.st
			out.RowsIn += c.st.Rows
		}
		pending = nil
		return first
	}
	// Inputs of Python-plugin sources are read by their Python Spark readers, which register
	// them as temp views of this session.
	pyInputs, err := readPythonInputs(ctx, s, env)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, id := range env.InputOrder {
		var df sql.DataFrame
		var err error
		read := &readers.Counter{}
		if pyInputs[id] {
			if df, err = s.Sql(ctx, "SELECT * FROM "+quoteIdent(id)); err != nil {
				return nil, nil, nil, fmt.Errorf("input %s: %w", id, Classify(err, s.Remote))
			}
		} else if df, err = readInput(ctx, s, env, id, read); err != nil {
			return nil, nil, nil, err
		} else if err := df.CreateOrReplaceTempView(ctx, id); err != nil {
			return nil, nil, nil, fmt.Errorf("register input %s as a temp view: %w", id, Classify(err, s.Remote))
		}
		m := env.Inputs[id]
		inputs[id] = df
		out.BytesIn += m.Bytes
		if m.Table != nil {
			out.Read = append(out.Read, manifest.DatasetRef{Namespace: "onelake", Name: m.Table.Name})
		}
		// A range read through Go (a Kafka input) is landed by now: its dead letters are counted.
		dead := read.DeadLetters.Load()
		if st, ok := knownStats(m); ok {
			st.DeadLetters = dead
			stats[id] = st
			out.RowsIn += st.Rows
			continue
		}
		c := counting{id: id, res: make(chan error, 1), st: &InputStats{}}
		go func() {
			st, err := statsOf(ctx, s, df, m)
			st.DeadLetters = dead
			*c.st = st
			c.res <- err
		}()
		pending = append(pending, c)
	}
	return inputs, stats, counted, nil
}

// knownStats are an input's rows and schema when its manifest knows them (files), without
// asking Spark.
func knownStats(m *manifest.Manifest) (InputStats, bool) {
	st := InputStats{Rows: m.Rows, Schema: m.Schema}
	return st, m.Kind == manifest.KindFiles && (m.Rows > 0 || len(m.Files) == 0) && len(m.Schema) > 0
}

// statsOf counts an input: a files manifest knows its rows; a table is counted by Spark (after
// its partition filter).
func statsOf(ctx context.Context, s *Session, df sql.DataFrame, m *manifest.Manifest) (InputStats, error) {
	st, ok := knownStats(m)
	if ok {
		return st, nil
	}
	n, err := df.Count(ctx)
	if err != nil {
		return st, Classify(err, s.Remote)
	}
	st.Rows = n
	if sc, err := df.Schema(ctx); err == nil {
		st.Schema = sparkFields(sc)
	}
	return st, nil
}

// Stage writes df as Parquet into the attempt's staging folder (Spark writes it, nothing goes
// through the client) and describes the files: sizes from the store, rows from the Parquet
// footers, the schema as Arrow reads it, so a downstream arrow or python node reads them like
// any staged output.
func Stage(ctx context.Context, s *Session, env *plugin.Env, df sql.DataFrame) (*manifest.Manifest, error) {
	dir := env.OutDir + "/data"
	if err := env.Store.ConfineTree(dir); err != nil {
		return nil, err
	}
	if err := df.Write().Mode("overwrite").Format("parquet").Save(ctx, ClusterURI(dir)); err != nil {
		return nil, fmt.Errorf("stage %s: %w", env.Node.ID, Classify(err, s.Remote))
	}
	return StagedManifest(ctx, env.Store, dir, func() ([]manifest.Field, error) {
		sc, err := df.Schema(ctx)
		if err != nil {
			return nil, Classify(err, s.Remote)
		}
		return sparkFields(sc), nil
	})
}

// StagedManifest lists the Parquet files Spark wrote under dir (not _SUCCESS, not .crc) and
// describes them. schema is called only when Spark wrote no data file.
func StagedManifest(ctx context.Context, st *objstore.Store, dir string, schema func() ([]manifest.Field, error)) (*manifest.Manifest, error) {
	objs, err := st.List(ctx, dir+"/")
	if err != nil {
		return nil, fmt.Errorf("list staged output %s: %w", dir, err)
	}
	m := &manifest.Manifest{Kind: manifest.KindFiles, Format: string(dataset.Parquet)}
	var files []dataset.FileInfo
	for _, o := range objs {
		rel := strings.TrimPrefix(o.URI, dir+"/")
		if hidden(rel) || !strings.HasSuffix(rel, ".parquet") {
			continue
		}
		files = append(files, dataset.FileInfo{URI: o.URI, Size: o.Size, ETag: o.ETag})
	}
	if len(files) == 0 {
		if m.Schema, err = schema(); err != nil {
			return nil, err
		}
		return m, nil
	}
	ds, err := dataset.OpenFiles(ctx, st, files, dataset.ReadOptions{Format: dataset.Parquet})
	if err != nil {
		return nil, fmt.Errorf("read staged output %s: %w", dir, err)
	}
	m.Files = ds.Files
	m.Schema = readers.Fields(ds.Schema)
	for _, f := range files {
		n, err := parquetRows(ctx, st, f.URI)
		if err != nil {
			return nil, err
		}
		m.Rows += n
		m.Bytes += f.Size
	}
	return m, nil
}

// parquetRows reads a Parquet file's row count from its footer.
func parquetRows(ctx context.Context, st *objstore.Store, uri string) (int64, error) {
	r, err := st.NewReader(ctx, uri)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return 0, fault.Wrap(fault.Data, err, "parquet footer of %s", uri)
	}
	defer pf.Close()
	return pf.NumRows(), nil
}

// sparkFields turns a Spark schema into manifest fields with Arrow type names.
func sparkFields(sc interface{ ToArrowType() arrow.DataType }) []manifest.Field {
	st, ok := sc.ToArrowType().(*arrow.StructType)
	if !ok {
		return nil
	}
	return readers.Fields(arrow.NewSchema(st.Fields(), nil))
}

// checkLost turns an error into a temporary one when the server lost the session meanwhile (a
// restart between two calls makes Spark report the node's temp views as missing: that is not the
// user's error).
func (s *Session) checkLost(ctx context.Context, err error) error {
	if err == nil || fault.ClassOf(err) == fault.Temporary {
		return err
	}
	before := s.ServerSessionID()
	if before == "" {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	perr := s.probe(pctx)
	if perr == nil && s.ServerSessionID() == before {
		return err
	}
	if perr != nil && fault.ClassOf(Classify(perr, s.Remote)) != fault.Temporary {
		return err
	}
	return fault.Wrap(fault.Temporary, err, "Spark Connect %s lost the session during the node (server restarted?)", s.Remote)
}
