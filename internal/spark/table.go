//go:build !nospark

package spark

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/apache/spark-connect-go/spark/sql"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
	"github.com/aiflow-dev/aiflow/plugin"
)

// CommitProperty is the table property where a write records the run that made it
// (<pipeline>/<run_id>/<node>): a retry of that run finds it and does not write again.
const CommitProperty = "aiflow.last_commit"

// PendingProperty names a write whose staging table is complete and whose rows are being moved
// into the table: a retry that finds its own commit there repeats the move from the staging table
// (idempotent) instead of staging again from a table that may already hold its rows.
const PendingProperty = "aiflow.pending_commit"

// TableWrite describes one write of a DataFrame to a catalog table.
type TableWrite struct {
	Name   string // namespace.table (or catalog.namespace.table)
	Format string // parquet or delta, used when the table is created
	// Mode is overwrite (the partitions the data touches; the whole table when it is not
	// partitioned), append, error (fail when the table has rows) or ignore (skip when it has).
	Mode string
	// PartitionBy applies when the table is created; an existing table keeps its partitioning.
	PartitionBy []string
	// Commit identifies the write: <pipeline>/<run_id>/<node>.
	Commit string
}

// TableResult says what a write did.
type TableResult struct {
	Created bool // the table did not exist: CREATE TABLE, then the write
	Skipped bool // mode ignore and the table has rows: nothing written
	// AlreadyWritten: the table's CommitProperty names this very write (a retry after the
	// write succeeded but before the node committed): nothing written again.
	AlreadyWritten bool
	// Adopted: the table's default location held files of no table (a CREATE TABLE … AS SELECT
	// of an earlier runner that died half-way); they were removed and the location reused.
	Adopted bool
	// Touched lists the partitions written (partition column → value), at most maxTouched.
	Touched []map[string]string
}

const maxTouched = 1000

const writeView = "aiflow_write_input"

// WriteTable writes df to a table through SQL (spark-connect-go's writer has no saveAsTable or
// partitionBy). Every step can die with the server (kill -9 of the driver) and the next attempt
// of the same commit must converge to the table holding the run's rows exactly once:
//
//   - a missing table is created empty first (CREATE TABLE with the input's columns, no AS
//     SELECT), so no data ever lands in a location the catalog does not know: Spark's CREATE
//     TABLE … AS SELECT writes the files before it registers the table, and a crash in between
//     left a location every retry refused with LOCATION_ALREADY_EXISTS. Such a leftover (no table,
//     files in the table's default location) is adopted: emptied and reused (parquet);
//   - overwrite runs INSERT OVERWRITE with spark.sql.sources.partitionOverwriteMode=dynamic, so
//     only the partitions present in the data are replaced: running it again (a retry) replaces
//     the same partitions with the same rows, never duplicating them;
//   - append (and error/ignore on an empty table) on parquet cannot commit rows and a marker in
//     one step, and a plain INSERT INTO that died after its files landed but before the marker
//     was appended again by the retry. Instead the write stages the touched partitions' current
//     rows plus the new ones in a staging table owned by this commit, marks the table
//     (PendingProperty), then replaces the touched partitions from the staging table with INSERT
//     OVERWRITE (idempotent: a retry repeats it from the same staging table), then records
//     CommitProperty and drops the staging table. The cost: an append rewrites the partitions it
//     touches (the whole table when it is not partitioned); docs/spark-writes.md;
//   - append on delta uses Delta's idempotent writes (txnAppId/txnVersion recorded in the same
//     Delta commit as the rows): a repeated insert of the same commit is skipped by Delta;
//   - error and ignore look for rows first.
//
// One writer per table at a time is assumed (a concurrent append between staging and the
// overwrite would be replaced). Identifiers go through sqltext; no value of the data or the config
// reaches the SQL text unquoted.
func WriteTable(ctx context.Context, s *Session, df sql.DataFrame, w TableWrite) (TableResult, error) {
	var res TableResult
	qn, err := sqltext.QualifiedName(w.Name)
	if err != nil {
		return res, fault.Wrap(fault.Config, err, "")
	}
	nsName, tblName := splitName(w.Name)
	if w.Format == "" {
		w.Format = "parquet"
	}
	if w.Format != "parquet" && w.Format != "delta" {
		return res, fault.Configf("table %s: format %q is not parquet or delta", w.Name, w.Format)
	}
	switch w.Mode {
	case "overwrite", "append", "error", "ignore":
	default:
		return res, fault.Configf("table %s: unknown mode %q", w.Name, w.Mode)
	}
	sc, err := df.Schema(ctx)
	if err != nil {
		return res, Classify(err, s.Remote)
	}
	var cols []string
	for _, f := range sc.Fields {
		cols = append(cols, f.Name)
	}
	for _, p := range w.PartitionBy {
		if !slices.Contains(cols, p) {
			return res, fault.Dataf("partition_by column %q is not in the input (columns: %s)", p, strings.Join(cols, ", "))
		}
	}
	if err := df.CreateOrReplaceTempView(ctx, writeView); err != nil {
		return res, Classify(err, s.Remote)
	}
	if nsName != "" {
		ns, err := sqltext.QualifiedName(nsName)
		if err != nil {
			return res, fault.Wrap(fault.Config, err, "")
		}
		if err := s.Exec(ctx, "CREATE NAMESPACE IF NOT EXISTS "+ns); err != nil {
			return res, err
		}
	}
	commit, err := sqltext.String(w.Commit)
	if err != nil {
		return res, fault.Wrap(fault.Config, err, "commit")
	}
	exists, err := tableExists(ctx, s, nsName, tblName)
	if err != nil {
		return res, err
	}
	if !exists {
		if res.Adopted, err = createTable(ctx, s, qn, w); err != nil {
			return res, err
		}
		res.Created = true
		if err := hook("table-created"); err != nil {
			return res, err
		}
	}
	props, err := tableProps(ctx, s, qn)
	if err != nil {
		return res, err
	}
	stage := stagingTable(nsName, tblName, w.Commit)
	if props[CommitProperty] == w.Commit && w.Mode != "overwrite" {
		res.AlreadyWritten = true
		dropStaging(ctx, s, stage)
		return res, nil
	}
	resuming := props[PendingProperty] == w.Commit
	if err := hook("table-checked"); err != nil {
		return res, err
	}
	if (w.Mode == "error" || w.Mode == "ignore") && !resuming {
		has, err := hasRows(ctx, s, qn)
		if err != nil {
			return res, err
		}
		if has && w.Mode == "error" {
			return res, fault.Dataf("table %s already has data (mode error)", w.Name)
		}
		if has {
			res.Skipped = true
			return res, nil
		}
	}
	tcols, err := columnNames(ctx, s, w.Name)
	if err != nil {
		return res, err
	}
	selList, err := sqltext.Idents(tcols)
	if err != nil {
		return res, fault.Wrap(fault.Data, err, "columns")
	}
	parts := partitionColumns(ctx, s, qn, w.PartitionBy)
	res.Touched, err = touched(ctx, s, parts)
	if err != nil {
		return res, err
	}
	mark := []string{"ALTER TABLE " + qn + " SET TBLPROPERTIES (" + mustString(CommitProperty) + " = " + commit + ")"}
	switch {
	case w.Mode == "overwrite":
		if err := s.Exec(ctx, "INSERT OVERWRITE "+qn+" BY NAME SELECT "+selList+" FROM "+writeView); err != nil {
			return res, formatErr(err, w)
		}
	case w.Format == "delta":
		// Delta idempotent writes: the same (appId, version) is applied once, in the same Delta
		// commit as the rows.
		sum := sha256.Sum256([]byte(w.Commit))
		if err := s.Exec(ctx, "SET spark.databricks.delta.write.txnAppId=aiflow-"+hex.EncodeToString(sum[:16]),
			"SET spark.databricks.delta.write.txnVersion=1",
			"INSERT INTO "+qn+" BY NAME SELECT "+selList+" FROM "+writeView); err != nil {
			return res, formatErr(err, w)
		}
		_ = s.Exec(ctx, "RESET spark.databricks.delta.write.txnAppId", "RESET spark.databricks.delta.write.txnVersion")
	default:
		if err := stagedAppend(ctx, s, qn, stage, selList, parts, res.Touched, commit, resuming); err != nil {
			return res, formatErr(err, w)
		}
		mark = append(mark, "ALTER TABLE "+qn+" UNSET TBLPROPERTIES IF EXISTS ("+mustString(PendingProperty)+")")
	}
	if err := hook("table-written"); err != nil {
		return res, err
	}
	if err := s.Exec(ctx, mark...); err != nil {
		return res, err
	}
	dropStaging(ctx, s, stage)
	return res, nil
}

// createTable creates the table empty, with the input's columns. A table that appeared meanwhile
// is fine (IF NOT EXISTS). It reports whether it adopted a leftover location.
func createTable(ctx context.Context, s *Session, qn string, w TableWrite) (bool, error) {
	// Data columns first, then the partition columns, the order Spark stores them in.
	defs, err := columnDefs(ctx, s, writeView)
	if err != nil {
		return false, err
	}
	var body, tail []string
	for _, d := range defs {
		if slices.Contains(w.PartitionBy, d.name) {
			continue
		}
		body = append(body, d.sql)
	}
	for _, p := range w.PartitionBy {
		for _, d := range defs {
			if d.name == p {
				tail = append(tail, d.sql)
			}
		}
	}
	q := "CREATE TABLE IF NOT EXISTS " + qn + " (" + strings.Join(append(body, tail...), ", ") + ") USING " + w.Format
	if len(w.PartitionBy) > 0 {
		pl, err := sqltext.Idents(w.PartitionBy)
		if err != nil {
			return false, fault.Wrap(fault.Config, err, "partition_by")
		}
		q += " PARTITIONED BY (" + pl + ")"
	}
	err = s.Exec(ctx, q)
	if err == nil {
		return false, nil
	}
	if strings.Contains(err.Error(), "TABLE_OR_VIEW_ALREADY_EXISTS") {
		// IF NOT EXISTS is not atomic in Spark's catalog: a writer that created the table
		// between this one's check and its create makes the create fail. That writer is another
		// attempt of this commit (or another writer of the table, which this sink assumes
		// away): retrying later finds its commit marker, or the table to write into.
		return false, fault.Wrap(fault.Temporary, err, "table %s was created by another writer at the same moment", w.Name)
	}
	loc := leftoverLocation(err)
	if loc == "" || w.Format != "parquet" {
		return false, formatErr(err, w)
	}
	// Files in the default location of a table the catalog does not know belong to no table:
	// no reader can see them. Reuse the location as the table's and empty it (a static INSERT
	// OVERWRITE of no rows deletes everything under it, unregistered partitions included).
	lit, err := sqltext.String(loc)
	if err != nil {
		return false, fault.Wrap(fault.Data, err, "location")
	}
	sel, err := sqltext.Idents(append(namesOf(defs, w.PartitionBy), w.PartitionBy...))
	if err != nil {
		return false, fault.Wrap(fault.Data, err, "columns")
	}
	if err := s.Exec(ctx, q+" LOCATION "+lit,
		"SET spark.sql.sources.partitionOverwriteMode=static",
		"INSERT OVERWRITE "+qn+" SELECT "+sel+" FROM "+writeView+" WHERE false",
		"SET spark.sql.sources.partitionOverwriteMode=dynamic"); err != nil {
		return false, formatErr(err, w)
	}
	return true, nil
}

// namesOf are the defs' names except skip.
func namesOf(defs []columnDef, skip []string) []string {
	var out []string
	for _, d := range defs {
		if !slices.Contains(skip, d.name) {
			out = append(out, d.name)
		}
	}
	return out
}

var leftoverRE = regexp.MustCompile(`LOCATION_ALREADY_EXISTS[\s\S]*?location '([^']+)'`)

// leftoverLocation is the location Spark names in a LOCATION_ALREADY_EXISTS error, or "".
func leftoverLocation(err error) string {
	if m := leftoverRE.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

// stagedAppend appends on parquet so that a retry converges (see WriteTable). resuming: the
// staging table is complete and the table is marked; only the move remains.
func stagedAppend(ctx context.Context, s *Session, qn, stage, selList string, parts []string, touched []map[string]string, commit string, resuming bool) error {
	if resuming {
		exists, err := tableExistsQN(ctx, s, stage)
		if err != nil {
			return err
		}
		if !exists {
			return fault.Configf("table %s is marked with a pending write of this run (%s), but its staging table %s is gone: check the table's rows and remove the property %s before retrying", qn, commit, stage, PendingProperty)
		}
	} else {
		defs, err := columnDefs(ctx, s, qn)
		if err != nil {
			return err
		}
		ddl := make([]string, len(defs))
		for i, d := range defs {
			ddl[i] = d.sql
		}
		// The touched partitions' rows as they are now, and the new rows. A filter that selects
		// more partitions than touched is safe (they are rewritten with the rows they had);
		// fewer is not, so any doubt selects the whole table.
		where := ""
		if len(parts) > 0 && len(touched) > 0 && len(touched) < maxTouched && complete(touched, parts) {
			if f, err := partitionFilter(touched); err == nil {
				where = " WHERE " + f
			}
		}
		if err := s.Exec(ctx,
			"CREATE TABLE IF NOT EXISTS "+stage+" ("+strings.Join(ddl, ", ")+") USING parquet",
			"INSERT OVERWRITE "+stage+" SELECT "+selList+" FROM "+qn+where+" UNION ALL SELECT "+selList+" FROM "+writeView); err != nil {
			return err
		}
		if err := hook("staged"); err != nil {
			return err
		}
		if err := s.Exec(ctx, "ALTER TABLE "+qn+" SET TBLPROPERTIES ("+mustString(PendingProperty)+" = "+commit+")"); err != nil {
			return err
		}
		if err := hook("pending"); err != nil {
			return err
		}
	}
	// Dynamic partition overwrite: exactly the partitions in the staging table are replaced.
	return s.Exec(ctx, "INSERT OVERWRITE "+qn+" SELECT "+selList+" FROM "+stage)
}

// complete: every touched partition names a value for every partition column (a NULL value is
// left out of touched, and a filter without it would select too little).
func complete(touched []map[string]string, parts []string) bool {
	for _, t := range touched {
		if len(t) != len(parts) {
			return false
		}
	}
	return true
}

// stagingTable is the qualified name of the staging table of one commit on one table.
func stagingTable(ns, table, commit string) string {
	sum := sha256.Sum256([]byte(commit))
	name := table + "__aiflow_stage_" + hex.EncodeToString(sum[:8])
	if ns != "" {
		name = ns + "." + name
	}
	q, err := sqltext.QualifiedName(name)
	if err != nil {
		return name
	}
	return q
}

// dropStaging removes a commit's staging table; best effort: a leftover is garbage, never data.
func dropStaging(ctx context.Context, s *Session, stage string) {
	_ = s.Exec(ctx, "DROP TABLE IF EXISTS "+stage)
}

type columnDef struct{ name, sql string }

// typeRE is what a column type from DESCRIBE may contain to be pasted into DDL: type names,
// parameters and nesting, struct fields with plain names. Anything else (a quote, a backtick, a
// semicolon) is refused rather than trusted.
var typeRE = regexp.MustCompile(`^[A-Za-z0-9_<>:,() ]+$`)

// columnDefs lists a relation's columns as DDL (`name` type), from DESCRIBE.
func columnDefs(ctx context.Context, s *Session, relation string) ([]columnDef, error) {
	rows, err := collect(ctx, s, "DESCRIBE "+relation)
	if err != nil {
		return nil, err
	}
	var out []columnDef
	for _, r := range rows {
		name, _ := r.Value("col_name").(string)
		typ, _ := r.Value("data_type").(string)
		if name == "" || strings.HasPrefix(name, "#") {
			break // "# Partition Information" repeats the partition columns
		}
		if !typeRE.MatchString(typ) {
			return nil, fault.Dataf("column %q has type %q, which cannot be written into CREATE TABLE safely", name, typ)
		}
		q, err := sqltext.Ident(name)
		if err != nil {
			return nil, fault.Wrap(fault.Data, err, "column")
		}
		out = append(out, columnDef{name: name, sql: q + " " + typ})
	}
	return out, nil
}

// columnNames are the table's columns in the table's order.
func columnNames(ctx context.Context, s *Session, name string) ([]string, error) {
	tdf, err := s.Table(name)
	if err != nil {
		return nil, Classify(err, s.Remote)
	}
	tsc, err := tdf.Schema(ctx)
	if err != nil {
		return nil, Classify(err, s.Remote)
	}
	var out []string
	for _, f := range tsc.Fields {
		out = append(out, f.Name)
	}
	return out, nil
}

// formatErr explains a delta table on a server without Delta Lake.
func formatErr(err error, w TableWrite) error {
	if w.Format == "delta" && strings.Contains(err.Error(), "DATA_SOURCE_NOT_FOUND") {
		return fault.Wrap(fault.Config, err, "table %s: format delta needs Delta Lake on the Spark server (io.delta:delta-spark and its session extension)", w.Name)
	}
	return err
}

func mustString(s string) string {
	q, err := sqltext.String(s)
	if err != nil {
		panic(err)
	}
	return q
}

func splitName(name string) (ns, table string) {
	i := strings.LastIndex(name, ".")
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

func tableExists(ctx context.Context, s *Session, ns, table string) (bool, error) {
	q := "SHOW TABLES"
	if ns != "" {
		qns, err := sqltext.QualifiedName(ns)
		if err != nil {
			return false, fault.Wrap(fault.Config, err, "")
		}
		q += " IN " + qns
	}
	pat, err := sqltext.String(table)
	if err != nil {
		return false, fault.Wrap(fault.Config, err, "")
	}
	rows, err := collect(ctx, s, q+" LIKE "+pat)
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		if n, ok := r.Value("tableName").(string); ok && strings.EqualFold(n, table) {
			if tmp, _ := r.Value("isTemporary").(bool); !tmp {
				return true, nil
			}
		}
	}
	return false, nil
}

// tableProps are the table's aiflow properties (CommitProperty, PendingProperty).
func tableProps(ctx context.Context, s *Session, qn string) (map[string]string, error) {
	rows, err := collect(ctx, s, "SHOW TBLPROPERTIES "+qn)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range rows {
		k, _ := r.Value("key").(string)
		if k == CommitProperty || k == PendingProperty {
			v, _ := r.Value("value").(string)
			out[k] = v
		}
	}
	return out, nil
}

// tableExistsQN is tableExists for a quoted qualified name.
func tableExistsQN(ctx context.Context, s *Session, qn string) (bool, error) {
	_, err := collect(ctx, s, "DESCRIBE "+qn)
	if err == nil {
		return true, nil
	}
	if strings.Contains(err.Error(), "TABLE_OR_VIEW_NOT_FOUND") {
		return false, nil
	}
	return false, err
}

func hasRows(ctx context.Context, s *Session, qn string) (bool, error) {
	rows, err := collect(ctx, s, "SELECT 1 FROM "+qn+" LIMIT 1")
	return len(rows) > 0, err
}

// partitionColumns are the table's partition columns (an existing table keeps its own).
func partitionColumns(ctx context.Context, s *Session, qn string, fallback []string) []string {
	rows, err := collect(ctx, s, "SHOW PARTITIONS "+qn+" LIMIT 1")
	if err != nil || len(rows) == 0 {
		if err != nil && strings.Contains(err.Error(), "not partitioned") {
			return nil
		}
		return fallback
	}
	var out []string
	v, _ := rows[0].At(0).(string)
	for _, kv := range strings.Split(v, "/") {
		if k, _, ok := strings.Cut(kv, "="); ok {
			out = append(out, k)
		}
	}
	return out
}

// touched lists the distinct partition values of the written data.
func touched(ctx context.Context, s *Session, partitionBy []string) ([]map[string]string, error) {
	if len(partitionBy) == 0 {
		return nil, nil
	}
	pl, err := sqltext.Idents(partitionBy)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "partition_by")
	}
	casts := make([]string, len(partitionBy))
	for i, p := range partitionBy {
		q, _ := sqltext.Ident(p)
		casts[i] = "CAST(" + q + " AS STRING) AS " + q
	}
	rows, err := collect(ctx, s, fmt.Sprintf("SELECT DISTINCT %s FROM %s ORDER BY %s LIMIT %d", strings.Join(casts, ", "), writeView, pl, maxTouched))
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		p := map[string]string{}
		for i, k := range partitionBy {
			if v := r.At(i); v != nil {
				p[k] = fmt.Sprint(v)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func collect(ctx context.Context, s *Session, q string) ([]rowValue, error) {
	df, err := s.Sql(ctx, q)
	if err != nil {
		return nil, Classify(err, s.Remote)
	}
	rows, err := df.Collect(ctx)
	if err != nil {
		return nil, Classify(err, s.Remote)
	}
	out := make([]rowValue, len(rows))
	for i, r := range rows {
		out[i] = r
	}
	return out, nil
}

type rowValue interface {
	At(int) any
	Value(string) any
}

// WriteTableLocked is WriteTable under the table's lock in the metadata store, for parquet
// tables: a catalog parquet table has no transaction log that would refuse a second writer's
// commit, so two attempts of one run (a zombie task beside its retry) could both find no
// commit, both stage the table's rows plus their own, and append twice; two runs appending at
// once could each replace the other's rows. The lock makes the check of the table's last commit,
// the staging and the move one critical section; the second attempt then finds the first's
// commit and writes nothing. Delta tables need no lock: Delta's own commit protocol and its
// idempotent-write ids refuse the loser. Without a metadata store (a direct call in tests) the
// write is not locked.
func WriteTableLocked(ctx context.Context, env *plugin.Env, s *Session, df sql.DataFrame, w TableWrite) (TableResult, error) {
	if env.Meta == nil || (w.Format != "" && w.Format != "parquet") {
		return WriteTable(ctx, s, df, w)
	}
	held, release, err := env.HoldLock(ctx, tableLockName(w.Name))
	if err != nil {
		return TableResult{}, err
	}
	defer release()
	res, err := WriteTable(held, s, df, w)
	if err != nil && held.Err() != nil && ctx.Err() == nil {
		// The lock was lost mid-write: say so rather than "context canceled".
		return res, fault.Wrap(fault.Temporary, context.Cause(held), "write table %s", w.Name)
	}
	return res, err
}

// tableLockName names a catalog table's lock: Spark's names are case-insensitive, and a name
// without a namespace is in the default one.
func tableLockName(table string) string {
	ns, t := splitName(strings.ToLower(table))
	if ns == "" {
		ns = "default"
	}
	return "spark-table:" + ns + "." + strings.Trim(t, "`")
}
