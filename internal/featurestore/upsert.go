package featurestore

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/jackc/pgx/v5"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/readers"
)

type upsertResult struct {
	rows, upserted, dead int64
}

// stageTable is the per-transaction temporary table rows are copied into.
const stageTable = "aiflow_feature_stage"

// PGType is the PostgreSQL type a column of an Arrow type is stored as.
func PGType(dt arrow.DataType) string {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.UINT8:
		return "smallint"
	case arrow.INT32, arrow.UINT16:
		return "integer"
	case arrow.INT64, arrow.UINT32:
		return "bigint"
	case arrow.UINT64, arrow.DECIMAL128, arrow.DECIMAL256:
		return "numeric"
	case arrow.FLOAT16, arrow.FLOAT32:
		return "real"
	case arrow.FLOAT64:
		return "double precision"
	case arrow.BOOL:
		return "boolean"
	case arrow.STRING, arrow.LARGE_STRING:
		return "text"
	case arrow.BINARY, arrow.LARGE_BINARY:
		return "bytea"
	case arrow.DATE32, arrow.DATE64:
		return "date"
	case arrow.TIMESTAMP:
		if dt.(*arrow.TimestampType).TimeZone != "" {
			return "timestamp with time zone"
		}
		return "timestamp without time zone"
	}
	return "jsonb"
}

// fits reports whether values of PostgreSQL type in can be stored in a column of type have
// without changing its type: the same type, or a narrower one of the same family.
func fits(in, have string) bool {
	if in == have {
		return true
	}
	rank := func(t string) (string, int) {
		switch {
		case t == "smallint":
			return "int", 1
		case t == "integer":
			return "int", 2
		case t == "bigint":
			return "int", 3
		case strings.HasPrefix(t, "numeric"):
			return "int", 4
		case t == "real":
			return "float", 1
		case t == "double precision":
			return "float", 2
		case t == "text", strings.HasPrefix(t, "character varying"):
			return "text", 1
		}
		return t, 0
	}
	fi, ri := rank(in)
	fh, rh := rank(have)
	return fi == fh && ri != 0 && ri <= rh
}

type column struct{ name, typ string }

// Upsert brings the table's schema in line with the input (or refuses), copies the input into a
// temporary table and upserts it, one row per key, newer event time winning, all inside tx.
func Upsert(ctx context.Context, tx pgx.Tx, t Target, rr array.RecordReader, schema *arrow.Schema, c *readers.Counter) (upsertResult, error) {
	var res upsertResult
	tbl := t.qualified()
	// Writers of one feature group take turns: schema changes and upserts never interleave.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, tbl); err != nil {
		return res, classify(err, "feature store: lock %s", tbl)
	}
	cols, err := tableColumns(ctx, tx, tbl)
	if err != nil {
		return res, err
	}
	if err := reconcile(ctx, tx, t, tbl, cols, schema); err != nil {
		return res, err
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+stageTable+` (LIKE `+tbl+` INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
		return res, classify(err, "feature store: staging table")
	}
	names := make([]string, schema.NumFields())
	quoted := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i], quoted[i] = f.Name, mustIdent(f.Name)
	}
	src := &rowSource{ctx: ctx, rr: rr, vals: make([]any, len(names))}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{stageTable}, names, src)
	if err != nil {
		return res, classify(err, "feature store: copy rows into %s", tbl)
	}
	res.rows = n
	if c != nil {
		res.dead = c.DeadLetters.Load()
	}
	keys := make([]string, len(t.Keys))
	for i, k := range t.Keys {
		keys[i] = mustIdent(k)
	}
	order := strings.Join(keys, ", ")
	if t.EventTime != "" {
		order += ", " + mustIdent(t.EventTime) + " DESC NULLS LAST"
	}
	var sets []string
	for _, q := range quoted {
		if !contains(keys, q) {
			sets = append(sets, q+" = EXCLUDED."+q)
		}
	}
	q := `INSERT INTO ` + tbl + ` AS t (` + strings.Join(quoted, ", ") + `) SELECT DISTINCT ON (` + strings.Join(keys, ", ") + `) ` +
		strings.Join(quoted, ", ") + ` FROM ` + stageTable + ` ORDER BY ` + order + ` ON CONFLICT (` + strings.Join(keys, ", ") + `) `
	if len(sets) == 0 {
		q += `DO NOTHING`
	} else {
		q += `DO UPDATE SET ` + strings.Join(sets, ", ")
		if t.EventTime != "" {
			et := mustIdent(t.EventTime)
			q += ` WHERE t.` + et + ` IS NULL OR EXCLUDED.` + et + ` > t.` + et
		}
	}
	tag, err := tx.Exec(ctx, q)
	if err != nil {
		return res, classify(err, "feature store: upsert into %s", tbl)
	}
	res.upserted = tag.RowsAffected()
	return res, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// tableColumns lists a table's columns with their types; nil when the table does not exist.
func tableColumns(ctx context.Context, tx pgx.Tx, tbl string) ([]column, error) {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, tbl).Scan(&exists); err != nil {
		return nil, classify(err, "feature store: look up %s", tbl)
	}
	if !exists {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, tbl)
	if err != nil {
		return nil, classify(err, "feature store: columns of %s", tbl)
	}
	defer rows.Close()
	out := []column{}
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, classify(err, "feature store: columns of %s", tbl)
		}
		out = append(out, c)
	}
	return out, classify(rows.Err(), "feature store: columns of %s", tbl)
}

// reconcile creates the table, adds new columns (create: true), or refuses a schema change that
// would drop or retype a column.
func reconcile(ctx context.Context, tx pgx.Tx, t Target, tbl string, cols []column, schema *arrow.Schema) error {
	if cols == nil {
		if !t.Create {
			return fault.Configf("feature group table %s does not exist (set create: true to create it from the input schema)", tbl)
		}
		var defs []string
		for _, f := range schema.Fields() {
			d := mustIdent(f.Name) + " " + PGType(f.Type)
			if contains(t.Keys, f.Name) {
				d += " NOT NULL"
			}
			defs = append(defs, d)
		}
		keys := make([]string, len(t.Keys))
		for i, k := range t.Keys {
			keys[i] = mustIdent(k)
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(keys, ", ")+")")
		if _, err := tx.Exec(ctx, `CREATE TABLE `+tbl+` (`+strings.Join(defs, ", ")+`)`); err != nil {
			return classify(err, "feature store: create %s", tbl)
		}
		return nil
	}
	have := map[string]string{}
	for _, c := range cols {
		have[c.name] = c.typ
	}
	var problems []string
	for _, c := range cols {
		if !schema.HasField(c.name) {
			problems = append(problems, fmt.Sprintf("column %s (%s) is missing from the input: writing would drop it", c.name, c.typ))
		}
	}
	var add []arrow.Field
	for _, f := range schema.Fields() {
		typ, ok := have[f.Name]
		if !ok {
			add = append(add, f)
			continue
		}
		if in := PGType(f.Type); !fits(in, typ) {
			problems = append(problems, fmt.Sprintf("column %s is %s in the table but %s (%s) in the input: writing would retype it", f.Name, typ, in, f.Type))
		}
	}
	if len(add) > 0 && !t.Create {
		for _, f := range add {
			problems = append(problems, fmt.Sprintf("column %s is new (set create: true to add it)", f.Name))
		}
	}
	if len(problems) > 0 {
		return fault.Dataf("feature group %s: schema change refused: %s", tbl, strings.Join(problems, "; "))
	}
	for _, f := range add {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+tbl+` ADD COLUMN `+mustIdent(f.Name)+` `+PGType(f.Type)); err != nil {
			return classify(err, "feature store: add column %s to %s", f.Name, tbl)
		}
	}
	return checkKey(ctx, tx, tbl, t.Keys)
}

// checkKey makes sure a unique index covers exactly the entity keys (ON CONFLICT needs it).
func checkKey(ctx context.Context, tx pgx.Tx, tbl string, keys []string) error {
	rows, err := tx.Query(ctx, `SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL GROUP BY i.indexrelid`, tbl)
	if err != nil {
		return classify(err, "feature store: indexes of %s", tbl)
	}
	defer rows.Close()
	want := append([]string(nil), keys...)
	sortStrings(want)
	for rows.Next() {
		var got []string
		if err := rows.Scan(&got); err != nil {
			return classify(err, "feature store: indexes of %s", tbl)
		}
		sortStrings(got)
		if strings.Join(got, "\x00") == strings.Join(want, "\x00") {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return classify(err, "feature store: indexes of %s", tbl)
	}
	return fault.Configf("feature group %s has no primary key or unique index on the entity keys (%s)", tbl, strings.Join(keys, ", "))
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
