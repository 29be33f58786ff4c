//go:build !nospark

package spark

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/spark-connect-go/spark/sql"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
)

// DeltaPath is the SQL identifier of the Delta table at location (delta.`s3a://…`): onelake
// delta tables are addressed by their location under the lake root, never through the catalog,
// so that the arrow engine, delta-rs and Spark read and write one and the same table.
func DeltaPath(location string) (string, error) {
	q, err := sqltext.Ident(ClusterURI(strings.TrimSuffix(location, "/")))
	if err != nil {
		return "", fault.Wrap(fault.Config, err, "delta location")
	}
	return "delta." + q, nil
}

// DeltaResult is a TableResult plus the Delta version the table had after the write.
type DeltaResult struct {
	TableResult
	Version int64
}

// WriteDelta writes df to the Delta table at location through Spark SQL with Delta Lake on the
// server. The runner reads the table's log itself (internal/delta) to decide: a table whose txn
// holds this write's app id (the same id the arrow engine uses) was written by an earlier attempt
// and is not written again; error and ignore look at its files; an existing table keeps its
// partitioning. The write itself carries Delta's idempotent-write settings
// (spark.databricks.delta.write.txnAppId/txnVersion), so the rows and the txn land in one Delta
// commit: a retry after a crash anywhere either finds the txn or writes for the first time.
//
// A new table is created empty first (CREATE TABLE … AS SELECT … WHERE false: the schema and the
// partitioning in version 0) and then written like an existing one, so the rows always come
// with the txn.
func WriteDelta(ctx context.Context, s *Session, st *objstore.Store, df sql.DataFrame, w TableWrite, location string) (DeltaResult, error) {
	var res DeltaResult
	target, err := DeltaPath(location)
	if err != nil {
		return res, err
	}
	if err := st.ConfineTree(location); err != nil {
		return res, err
	}
	appID := delta.AppID(w.Commit)
	tbl := delta.New(st, location)
	snap, err := tbl.Latest(ctx)
	exists := true
	if errors.Is(err, delta.ErrNoTable) {
		exists, err = false, nil
	}
	if err != nil {
		return res, err
	}
	sc, err := df.Schema(ctx)
	if err != nil {
		return res, Classify(err, s.Remote)
	}
	var cols []string
	for _, f := range sc.Fields {
		cols = append(cols, f.Name)
	}
	partitionBy := w.PartitionBy
	if exists {
		if txn, ok := snap.Txns[appID]; ok && txn.Version >= 1 {
			res.AlreadyWritten, res.Version = true, snap.Version
			return res, nil
		}
		if snap.NumFiles() > 0 {
			switch w.Mode {
			case "error":
				return res, fault.Dataf("delta table %s already has data (version %d) and mode is error", location, snap.Version)
			case "ignore":
				res.Skipped, res.Version = true, snap.Version
				return res, nil
			}
		}
		tp := snap.Metadata.PartitionColumns
		if len(partitionBy) > 0 && !slices.EqualFunc(partitionBy, tp, strings.EqualFold) {
			return res, fault.Dataf("delta table %s is partitioned by [%s], not [%s]: a table keeps its partitioning (drop partition_by to use the table's)",
				location, strings.Join(tp, ", "), strings.Join(partitionBy, ", "))
		}
		partitionBy = tp
	}
	for _, p := range partitionBy {
		if !slices.Contains(cols, p) {
			return res, fault.Dataf("partition_by column %q is not in the input (columns: %s)", p, strings.Join(cols, ", "))
		}
	}
	if err := df.CreateOrReplaceTempView(ctx, writeView); err != nil {
		return res, Classify(err, s.Remote)
	}
	selList, err := sqltext.Idents(cols)
	if err != nil {
		return res, fault.Wrap(fault.Data, err, "columns")
	}
	if !exists {
		q := "CREATE TABLE IF NOT EXISTS " + target + " USING delta"
		if len(partitionBy) > 0 {
			pl, err := sqltext.Idents(partitionBy)
			if err != nil {
				return res, fault.Wrap(fault.Config, err, "partition_by")
			}
			q += " PARTITIONED BY (" + pl + ")"
		}
		if err := s.Exec(ctx, q+" AS SELECT "+selList+" FROM "+writeView+" WHERE false"); err != nil {
			return res, formatErr(err, w)
		}
		res.Created = true
	}
	verb := "INSERT INTO "
	stmts := []string{"SET spark.databricks.delta.write.txnAppId=" + appID, "SET spark.databricks.delta.write.txnVersion=1"}
	if w.Mode == "overwrite" {
		// Only the partitions present in the data are replaced (replaceWhere of the touched
		// partitions); an unpartitioned table is replaced whole.
		verb = "INSERT OVERWRITE "
		stmts = append(stmts, "SET spark.sql.sources.partitionOverwriteMode=dynamic")
	}
	stmts = append(stmts, verb+target+" BY NAME SELECT "+selList+" FROM "+writeView)
	err = s.Exec(ctx, stmts...)
	_ = s.Exec(ctx, "RESET spark.databricks.delta.write.txnAppId", "RESET spark.databricks.delta.write.txnVersion", "RESET spark.sql.sources.partitionOverwriteMode")
	if err != nil {
		return res, formatErr(err, w)
	}
	after, err := tbl.Latest(ctx)
	if err != nil {
		return res, err
	}
	res.Version = after.Version
	res.Touched, err = touched(ctx, s, partitionBy)
	return res, err
}

// deltaVersion renders a version for manifest.Table.Snapshot (VERSION AS OF).
func deltaVersion(v int64) string { return strconv.FormatInt(v, 10) }
