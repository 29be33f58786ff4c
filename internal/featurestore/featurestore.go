// Package featurestore is the feature_store sink: rows upserted into a feature group table in
// PostgreSQL, keyed by entity columns, a row replacing the stored one only when its event time is
// newer, exactly once per run.
//
// Exactly once. When the feature store is the metadata store's database (same host, port and
// database), the upsert and the node's commit row are one transaction (metadata.Postgres.CommitTx):
// a crash leaves both or neither, and a retry finds the commit and does nothing. When it is
// another database, a ledger table aiflow_feature_commits(pipeline, run_id, node) in the feature
// group's schema is written first in the upsert's transaction: a retry whose upsert already
// committed (the pod died before the metadata commit) finds its ledger row, writes nothing and
// lets the lifecycle record the commit. Either way the rows of a run land once.
//
// Schema. With create: true a missing table is created from the input's Arrow schema (primary key
// on the entity keys) and new input columns are added; a change that would drop a column (the
// input lacks it) or retype one (its type does not fit the stored one) is a data error (exit 65).
package featurestore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/pgfault"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Register adds the feature_store sink to r.
func Register(r *plugin.Registry) { plugin.RegisterSink(r, SinkKind, Sink{}, "arrow") }

var _ plugin.Sink[*SinkConfig] = Sink{}

// LedgerTable is the ledger of runs upserted into a feature store that is not the metadata store.
const LedgerTable = "aiflow_feature_commits"

// Sink is the feature_store sink runtime.
type Sink struct{}

// Target is a resolved feature group table.
type Target struct {
	Schema, Table string
	Keys          []string
	EventTime     string
	Create        bool
}

func (t Target) qualified() string {
	s, _ := sqltext.PGIdent(t.Schema)
	n, _ := sqltext.PGIdent(t.Table)
	return s + "." + n
}

func (Sink) Publish(ctx context.Context, env *plugin.Env, cfg *SinkConfig) (*plugin.Output, error) {
	main := env.Inputs[env.InputOrder[0]]
	c := &readers.Counter{}
	rr, schema, err := readers.Reader(ctx, env.Store, env.Config, main, c, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("open input %s: %w", main.Node, err)
	}
	defer rr.Release()
	t := Target{Schema: cfg.Schema, Table: cfg.FeatureGroup, Keys: cfg.EntityKeys, EventTime: cfg.EventTime, Create: cfg.Create}
	if err := t.resolve(schema); err != nil {
		return nil, err
	}
	if !env.Publish {
		files, err := dataset.WriteFiles(ctx, env.Store, env.OutDir+"/data", rr, dataset.WriteOptions{Format: dataset.Parquet, FilePrefix: "rows"})
		if err != nil {
			return nil, err
		}
		return &plugin.Output{Manifest: readers.StagedManifest(files, schema), RowsIn: c.Rows.Load(), BytesIn: c.Bytes.Load()}, nil
	}
	dsn, err := env.ResolveSecret(cfg.DSN)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "feature store DSN")
	}
	pcfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// Never the DSN itself, not even masked: a masker only knows the shapes it parses, and
		// the whole value is a secret. Where it points (host, port, database) is enough.
		return nil, fault.Configf("feature store DSN (%s) is malformed: want postgres://user@host:port/db or host=… port=… dbname=…", cfg.DSN)
	}
	if pcfg.ConnectTimeout == 0 {
		pcfg.ConnectTimeout = metadata.DefaultConnectTimeout
	}
	m := &manifest.Manifest{Kind: manifest.KindNone, Schema: readers.Fields(schema),
		Dataset: &manifest.DatasetRef{Namespace: fmt.Sprintf("postgres://%s:%d", pcfg.Host, pcfg.Port), Name: pcfg.Database + "." + t.Schema + "." + t.Table},
		Details: map[string]any{"feature_group": t.Schema + "." + t.Table, "entity_keys": t.Keys, "event_time": t.EventTime}}
	out := &plugin.Output{Manifest: m}
	counts := func(res upsertResult) {
		m.Rows = res.rows
		m.Details["upserted"] = res.upserted
		if res.dead > 0 {
			m.Details["dead_letters"] = res.dead
		}
		out.RowsIn, out.BytesIn = c.Rows.Load(), c.Bytes.Load()
	}

	if pg, ok := env.Meta.(*metadata.Postgres); ok && sameDatabase(env.Config.MetadataDSN, pcfg) {
		// One transaction with the commit row: the rows and the commit land together or not at all.
		tx, err := pg.Pool().Begin(ctx)
		if err != nil {
			return nil, classify(err, "feature store: begin")
		}
		defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
		res, err := Upsert(ctx, tx, t, rr, schema, c)
		if err != nil {
			return nil, err
		}
		counts(res)
		m.Version, m.Pipeline, m.RunID, m.Node, m.Attempt, m.IRHash = manifest.Version, env.Pipeline.ID, env.RunID, env.Node.ID, env.Try, env.IRHash
		m.CreatedAt = time.Now().UTC()
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		committed, existing, err := pg.CommitTx(ctx, tx, metadata.Commit{AttemptKey: metadata.AttemptKey{Pipeline: env.Pipeline.ID, RunID: env.RunID, Node: env.Node.ID, Try: env.Try}, Manifest: b})
		if err != nil {
			return nil, err
		}
		if !committed {
			_ = tx.Rollback(ctx)
			env.Log.Warn("another attempt committed this node first; its upsert stands, this one is rolled back", "committed_try", existing.Try)
			if em, err := manifest.Unmarshal(existing.Manifest); err == nil {
				out.Manifest = em
			}
			out.AlreadyCommitted = true
			return out, nil
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, classify(err, "feature store: commit")
		}
		out.Committed = true
		env.Log.Info("upserted with the commit in one transaction", "table", t.qualified(), "rows", res.rows, "upserted", res.upserted)
		return out, nil
	}

	// Another database: the ledger row makes the upsert once per run.
	conn, err := pgx.ConnectConfig(ctx, pcfg)
	if err != nil {
		return nil, classify(err, "connect to the feature store postgres://%s:%d/%s", pcfg.Host, pcfg.Port, pcfg.Database)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, classify(err, "feature store: begin")
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	ledger := mustIdent(t.Schema) + "." + mustIdent(LedgerTable)
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+ledger+` (pipeline text NOT NULL, run_id text NOT NULL, node text NOT NULL,
		feature_group text NOT NULL, rows bigint NOT NULL DEFAULT 0, upserted bigint NOT NULL DEFAULT 0, try integer NOT NULL,
		committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (pipeline, run_id, node))`); err != nil {
		if !pgfault.IsUniqueViolation(err) { // two first writers racing to create it
			return nil, classify(err, "feature store: create %s", ledger)
		}
		return nil, fault.Wrap(fault.Temporary, err, "feature store: create %s (concurrently)", ledger)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO `+ledger+` (pipeline, run_id, node, feature_group, try) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		env.Pipeline.ID, env.RunID, env.Node.ID, t.Schema+"."+t.Table, env.Try)
	if err != nil {
		return nil, classify(err, "feature store: ledger")
	}
	if tag.RowsAffected() == 0 {
		_ = tx.Rollback(ctx)
		var res upsertResult
		var try int
		if err := conn.QueryRow(ctx, `SELECT rows, upserted, try FROM `+ledger+` WHERE pipeline = $1 AND run_id = $2 AND node = $3`,
			env.Pipeline.ID, env.RunID, env.Node.ID).Scan(&res.rows, &res.upserted, &try); err != nil {
			return nil, classify(err, "feature store: read the ledger")
		}
		counts(res)
		env.Log.Info("attempt already upserted this run's rows; recording the commit only", "table", t.qualified(), "try", try, "rows", res.rows)
		return out, nil
	}
	res, err := Upsert(ctx, tx, t, rr, schema, c)
	if err != nil {
		return nil, err
	}
	counts(res)
	if _, err := tx.Exec(ctx, `UPDATE `+ledger+` SET rows = $4, upserted = $5 WHERE pipeline = $1 AND run_id = $2 AND node = $3`,
		env.Pipeline.ID, env.RunID, env.Node.ID, res.rows, res.upserted); err != nil {
		return nil, classify(err, "feature store: ledger")
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, classify(err, "feature store: commit")
	}
	env.Log.Info("upserted", "table", t.qualified(), "rows", res.rows, "upserted", res.upserted)
	return out, nil
}

// resolve fills the default keys and checks the key and event-time columns against the input.
func (t *Target) resolve(s *arrow.Schema) error {
	if len(t.Keys) == 0 {
		if s.HasField("user_id") {
			t.Keys = []string{"user_id"}
		} else if s.NumFields() > 0 {
			t.Keys = []string{s.Field(0).Name}
		}
	}
	for _, k := range append(slices.Clone(t.Keys), t.EventTime) {
		if k != "" && !s.HasField(k) {
			return fault.Dataf("feature group %s: column %q is not in the input (columns: %s)", t.Table, k, dataset.ColumnNames(s.Fields()))
		}
	}
	if len(t.Keys) == 0 {
		return fault.Dataf("feature group %s: the input has no columns", t.Table)
	}
	return nil
}

func sameDatabase(metaDSN string, fs *pgx.ConnConfig) bool {
	tgt, err := metadata.ParseDSN(metaDSN)
	if err != nil || tgt.Backend != metadata.PostgresBackend {
		return false
	}
	mc, err := pgx.ParseConfig(tgt.DSN)
	if err != nil {
		return false
	}
	return mc.Host == fs.Host && mc.Port == fs.Port && mc.Database == fs.Database
}

func mustIdent(s string) string {
	q, _ := sqltext.PGIdent(s)
	return q
}

// classify says what was being done and sorts a PostgreSQL error (pgfault.Class: bad data 65, a
// missing privilege, database or SQL object 78, a lost connection, a deadlock or a server going
// down 75), keeping a class given further down.
func classify(err error, format string, args ...any) error {
	return fault.WrapOr(pgfault.Class(err), err, format, args...)
}

// rowSource feeds COPY from a record reader.
type rowSource struct {
	ctx    context.Context
	rr     array.RecordReader
	rec    arrow.RecordBatch
	i      int
	vals   []any
	rows   int64
	err    error
	counts *readers.Counter
}

func (s *rowSource) Next() bool {
	for s.rec == nil || s.i+1 >= int(s.rec.NumRows()) {
		if !s.rr.Next() {
			s.err = s.rr.Err()
			return false
		}
		s.rec, s.i = s.rr.RecordBatch(), -1
		if s.rec.NumRows() > 0 {
			break
		}
	}
	s.i++
	s.rows++
	for c := 0; c < int(s.rec.NumCols()); c++ {
		s.vals[c] = goValue(s.rec.Column(c), s.i)
	}
	return true
}

func (s *rowSource) Values() ([]any, error) { return s.vals, nil }
func (s *rowSource) Err() error             { return s.err }

func goValue(col arrow.Array, i int) any {
	if col.IsNull(i) {
		return nil
	}
	switch a := col.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return a.Value(i)
	case *array.Int16:
		return a.Value(i)
	case *array.Int8:
		return int16(a.Value(i))
	case *array.Uint8:
		return int16(a.Value(i))
	case *array.Uint16:
		return int32(a.Value(i))
	case *array.Uint32:
		return int64(a.Value(i))
	case *array.Uint64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Float32:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Binary:
		return a.Value(i)
	case *array.Float16:
		return a.Value(i).Float32()
	case *array.LargeBinary:
		return a.Value(i)
	case *array.Date32:
		return a.Value(i).ToTime()
	case *array.Date64:
		return a.Value(i).ToTime()
	case *array.Decimal128, *array.Decimal256:
		// numeric columns (upsert.go maps decimals there) take the exact decimal text.
		var n pgtype.Numeric
		if err := n.Scan(col.ValueStr(i)); err == nil {
			return n
		}
	case *array.Timestamp:
		return a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit).UTC()
	}
	b, _ := json.Marshal(col.GetOneForMarshal(i))
	return string(b)
}
