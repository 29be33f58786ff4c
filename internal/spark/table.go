//go:build !nospark

package spark

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/spark-connect-go/spark/sql"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
)

// CommitProperty is the table property where a write records the run that made it
// (<pipeline>/<run_id>/<node>): a retry of that run finds it and does not append again.
const CommitProperty = "aiflow.last_commit"

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
	Created bool // the table did not exist: CREATE TABLE … AS SELECT
	Skipped bool // mode ignore and the table has rows: nothing written
	// AlreadyWritten: the table's CommitProperty names this very write (a retry after the
	// write succeeded but before the node committed): nothing written again.
	AlreadyWritten bool
	// Touched lists the partitions written (partition column → value), at most maxTouched.
	Touched []map[string]string
}

const maxTouched = 1000

const writeView = "aiflow_write_input"

// WriteTable writes df to a table through SQL (spark-connect-go's writer has no saveAsTable or
// partitionBy):
//
//   - a missing table is created with CREATE TABLE … USING <format> PARTITIONED BY (…)
//     TBLPROPERTIES (aiflow.last_commit=…) AS SELECT, so creation and data land in one statement;
//   - overwrite runs INSERT OVERWRITE with spark.sql.sources.partitionOverwriteMode=dynamic, so
//     only the partitions present in the data are replaced: running it again (a retry) replaces
//     the same partitions with the same rows, never duplicating them;
//   - append runs INSERT INTO, then records the write in the table's aiflow.last_commit
//     property; a retry that finds its own commit there skips the insert. On delta tables the
//     insert itself is idempotent (Delta's txnAppId/txnVersion), so even a crash between the
//     insert and the property update cannot append twice; on parquet tables that window (one
//     round trip) remains;
//   - error and ignore look for rows first.
//
// Identifiers go through sqltext; no value of the data or the config reaches the SQL text
// unquoted.
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
		// Data columns first, then the partition columns, the order Spark stores them in.
		var sel []string
		for _, c := range cols {
			if !slices.Contains(w.PartitionBy, c) {
				sel = append(sel, c)
			}
		}
		sel = append(sel, w.PartitionBy...)
		selList, err := sqltext.Idents(sel)
		if err != nil {
			return res, fault.Wrap(fault.Data, err, "columns")
		}
		q := "CREATE TABLE " + qn + " USING " + w.Format
		if len(w.PartitionBy) > 0 {
			pl, err := sqltext.Idents(w.PartitionBy)
			if err != nil {
				return res, fault.Wrap(fault.Config, err, "partition_by")
			}
			q += " PARTITIONED BY (" + pl + ")"
		}
		q += " TBLPROPERTIES (" + mustString(CommitProperty) + " = " + commit + ") AS SELECT " + selList + " FROM " + writeView
		err = s.Exec(ctx, q)
		if err == nil {
			res.Created = true
			res.Touched, err = touched(ctx, s, w.PartitionBy)
			return res, err
		}
		if !strings.Contains(err.Error(), "TABLE_OR_VIEW_ALREADY_EXISTS") {
			return res, formatErr(err, w)
		}
		// Created meanwhile by someone else: write into it below.
	}
	last, err := lastCommit(ctx, s, qn)
	if err != nil {
		return res, err
	}
	if last == w.Commit && w.Mode != "overwrite" {
		res.AlreadyWritten = true
		return res, nil
	}
	switch w.Mode {
	case "error", "ignore":
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
	case "overwrite", "append":
	default:
		return res, fault.Configf("table %s: unknown mode %q", w.Name, w.Mode)
	}
	// Insert the table's columns by name, in the table's order.
	tdf, err := s.Table(w.Name)
	if err != nil {
		return res, Classify(err, s.Remote)
	}
	tsc, err := tdf.Schema(ctx)
	if err != nil {
		return res, Classify(err, s.Remote)
	}
	var tcols []string
	for _, f := range tsc.Fields {
		tcols = append(tcols, f.Name)
	}
	selList, err := sqltext.Idents(tcols)
	if err != nil {
		return res, fault.Wrap(fault.Data, err, "columns")
	}
	verb := "INSERT INTO "
	if w.Mode == "overwrite" {
		verb = "INSERT OVERWRITE "
	}
	var stmts []string
	if w.Format == "delta" && w.Mode != "overwrite" {
		// Delta idempotent writes: the same (appId, version) is applied once.
		sum := sha256.Sum256([]byte(w.Commit))
		stmts = append(stmts, "SET spark.databricks.delta.write.txnAppId=aiflow-"+hex.EncodeToString(sum[:16]), "SET spark.databricks.delta.write.txnVersion=1")
	}
	stmts = append(stmts, verb+qn+" BY NAME SELECT "+selList+" FROM "+writeView)
	if err := s.Exec(ctx, stmts...); err != nil {
		return res, formatErr(err, w)
	}
	if len(stmts) > 1 {
		_ = s.Exec(ctx, "RESET spark.databricks.delta.write.txnAppId", "RESET spark.databricks.delta.write.txnVersion")
	}
	if err := s.Exec(ctx, "ALTER TABLE "+qn+" SET TBLPROPERTIES ("+mustString(CommitProperty)+" = "+commit+")"); err != nil {
		return res, err
	}
	res.Touched, err = touched(ctx, s, partitionColumns(ctx, s, qn, w.PartitionBy))
	return res, err
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

func lastCommit(ctx context.Context, s *Session, qn string) (string, error) {
	rows, err := collect(ctx, s, "SHOW TBLPROPERTIES "+qn+" ("+mustString(CommitProperty)+")")
	if err != nil {
		return "", err
	}
	for _, r := range rows {
		if k, _ := r.Value("key").(string); k == CommitProperty {
			v, _ := r.Value("value").(string)
			return v, nil
		}
	}
	return "", nil
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
