//go:build !nospark

package spark

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/spark-connect-go/spark/sql"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowops"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Text files (CSV, JSON) whose producer declared a schema (the manifest's read_schema) are read
// with that schema, never inferred: inferred, a declared timestamp comes back as text, a code
// "007" as the number 7. Spark Connect's Go client has no DataFrameReader.schema, so each path
// is read through a temporary view declared with the columns (CREATE TEMPORARY VIEW … (cols)
// USING json|csv), which is Spark's user-specified schema. Unless the node's options say
// otherwise, a value that does not parse as its declared type fails the read (mode FAILFAST,
// as the arrow engine refuses it) instead of becoming null, and zone-less timestamps are UTC.

// declaredColumns is the declared schema in the order Spark maps it: JSON by name (any order),
// CSV by position, so CSV's follows the header of the first file; enforceSchema=false then makes
// Spark check every file's header against it.
func declaredColumns(ctx context.Context, env *plugin.Env, m *manifest.Manifest, format string) ([]manifest.Field, error) {
	fs := m.ReadSchema
	if format != "csv" {
		return fs, nil
	}
	header, err := dataset.CSVHeader(ctx, env.Store, m.Files[0].URI)
	if err != nil {
		return nil, err
	}
	byName := map[string]manifest.Field{}
	for _, f := range fs {
		byName[f.Name] = f
	}
	out := make([]manifest.Field, 0, len(fs))
	for _, h := range header {
		f, ok := byName[h]
		if !ok {
			return nil, fault.Dataf("schema mismatch: CSV header of %s has column %q, which the declared schema of %s does not list (declared: %s)", m.Files[0].URI, h, m.Node, fieldNames(fs))
		}
		out = append(out, f)
		delete(byName, h)
	}
	if len(byName) > 0 {
		return nil, fault.Dataf("schema mismatch: CSV header of %s lacks the declared column(s) %s of %s", m.Files[0].URI, strings.Join(slices.Sorted(maps.Keys(byName)), ", "), m.Node)
	}
	return out, nil
}

func fieldNames(fs []manifest.Field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// loadDeclared reads path (a file or folder, Spark's URI) with the declared columns.
func loadDeclared(ctx context.Context, s *Session, format, path string, cols []manifest.Field, opts map[string]string) (sql.DataFrame, error) {
	ddl, err := columnsDDL(cols)
	if err != nil {
		return nil, err
	}
	o := map[string]string{"mode": "FAILFAST", "timeZone": "UTC"}
	if format == "csv" {
		o["enforceSchema"] = "false"
	}
	maps.Copy(o, opts)
	delete(o, "inferSchema")
	o["path"] = path
	var props []string
	for _, k := range slices.Sorted(maps.Keys(o)) {
		kq, err := sqltext.String(k)
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "option %q", k)
		}
		vq, err := sqltext.String(o[k])
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "option %s", k)
		}
		props = append(props, kq+" "+vq)
	}
	view := "aiflow_declared_" + randomHex()
	q := fmt.Sprintf("CREATE OR REPLACE TEMPORARY VIEW %s (%s) USING %s OPTIONS (%s)", view, ddl, format, strings.Join(props, ", "))
	if err := s.Exec(ctx, q); err != nil {
		return nil, err
	}
	df, err := s.Sql(ctx, "SELECT * FROM "+view)
	if err != nil {
		return nil, Classify(err, s.Remote)
	}
	return df, nil
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// columnsDDL renders `name` TYPE, … for the declared columns.
func columnsDDL(cols []manifest.Field) (string, error) {
	parts := make([]string, len(cols))
	for i, c := range cols {
		name, err := sqltext.Ident(c.Name)
		if err != nil {
			return "", fault.Wrap(fault.Config, err, "declared schema")
		}
		dt, err := arrowops.ParseType(c.Type)
		if err != nil {
			return "", fault.Wrap(fault.Config, err, "declared schema: column %s", c.Name)
		}
		st, err := SparkType(dt)
		if err != nil {
			return "", fault.Wrap(fault.Config, err, "declared schema: column %s", c.Name)
		}
		parts[i] = name + " " + st
	}
	return strings.Join(parts, ", "), nil
}

// SparkType is the Spark SQL type holding every value of an Arrow type the declared schemas
// name (unsigned integers widen to the next signed type, uint64 to DECIMAL(20,0)); a timestamp
// without a zone is TIMESTAMP_NTZ, one with a zone TIMESTAMP (an instant).
func SparkType(dt arrow.DataType) (string, error) {
	switch dt.ID() {
	case arrow.BOOL:
		return "BOOLEAN", nil
	case arrow.INT8:
		return "TINYINT", nil
	case arrow.INT16, arrow.UINT8:
		return "SMALLINT", nil
	case arrow.INT32, arrow.UINT16:
		return "INT", nil
	case arrow.INT64, arrow.UINT32:
		return "BIGINT", nil
	case arrow.UINT64:
		return "DECIMAL(20,0)", nil
	case arrow.FLOAT32:
		return "FLOAT", nil
	case arrow.FLOAT64:
		return "DOUBLE", nil
	case arrow.STRING, arrow.LARGE_STRING:
		return "STRING", nil
	case arrow.BINARY, arrow.LARGE_BINARY:
		return "BINARY", nil
	case arrow.DATE32, arrow.DATE64:
		return "DATE", nil
	case arrow.TIMESTAMP:
		if dt.(*arrow.TimestampType).TimeZone == "" {
			return "TIMESTAMP_NTZ", nil
		}
		return "TIMESTAMP", nil
	}
	return "", fmt.Errorf("type %s has no Spark SQL equivalent here", dt)
}
