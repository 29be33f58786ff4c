package featurestore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/featurestore"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

type row struct {
	user int64
	v    string
	ts   int64 // ms
}

func batch(t *testing.T, fields []arrow.Field, rows []row) array.RecordReader {
	t.Helper()
	s := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	for _, r := range rows {
		for i, f := range fields {
			switch {
			case f.Name == "user_id":
				b.Field(i).(*array.Int64Builder).Append(r.user)
			case f.Name == "v" && f.Type.ID() == arrow.STRING:
				b.Field(i).(*array.StringBuilder).Append(r.v)
			case f.Name == "v":
				b.Field(i).(*array.Int64Builder).Append(int64(len(r.v)))
			case f.Name == "event_time":
				b.Field(i).(*array.TimestampBuilder).Append(arrow.Timestamp(r.ts))
			default:
				b.Field(i).AppendNull()
			}
		}
	}
	rec := b.NewRecordBatch()
	rr, err := array.NewRecordReader(s, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

var (
	ts     = arrow.Field{Name: "event_time", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}}
	user   = arrow.Field{Name: "user_id", Type: arrow.PrimitiveTypes.Int64}
	valStr = arrow.Field{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true}
	valInt = arrow.Field{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true}
)

func upsert(t *testing.T, conn *pgx.Conn, tgt featurestore.Target, rr array.RecordReader) error {
	t.Helper()
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if _, err := featurestore.Upsert(context.Background(), tx, tgt, rr, rr.Schema(), nil); err != nil {
		return err
	}
	return tx.Commit(context.Background())
}

func TestUpsertNewerWinsAndSchemaChanges(t *testing.T) {
	dsn := testenv.Require(t, testenv.PostgresDSN)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	table := fmt.Sprintf("fs_test_%d", time.Now().UnixNano()%1e9)
	defer conn.Exec(context.Background(), `DROP TABLE IF EXISTS public.`+table) //nolint:errcheck
	tgt := featurestore.Target{Schema: "public", Table: table, Keys: []string{"user_id"}, EventTime: "event_time"}

	if err := upsert(t, conn, tgt, batch(t, []arrow.Field{user, valStr, ts}, []row{{1, "a", 10}})); fault.ClassOf(err) != fault.Config {
		t.Fatalf("missing table without create: %v, want config", err)
	}
	tgt.Create = true
	// Two rows for user 1 in one input: the newer wins; user 2 once.
	if err := upsert(t, conn, tgt, batch(t, []arrow.Field{user, valStr, ts}, []row{{1, "old", 10}, {1, "new", 20}, {2, "x", 5}})); err != nil {
		t.Fatal(err)
	}
	// An older event does not replace; a newer one does.
	if err := upsert(t, conn, tgt, batch(t, []arrow.Field{user, valStr, ts}, []row{{1, "older", 15}, {2, "newer", 6}})); err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	rows, _ := conn.Query(context.Background(), `SELECT user_id, v FROM public.`+table)
	for rows.Next() {
		var u int64
		var v string
		_ = rows.Scan(&u, &v)
		got[u] = v
	}
	rows.Close()
	if got[1] != "new" || got[2] != "newer" || len(got) != 2 {
		t.Fatalf("rows %v, want 1:new 2:newer", got)
	}
	// Dropping a column or retyping one is refused (exit 65).
	if err := upsert(t, conn, tgt, batch(t, []arrow.Field{user, ts}, []row{{1, "", 30}})); fault.ClassOf(err) != fault.Data {
		t.Fatalf("drop: %v, want data", err)
	}
	if err := upsert(t, conn, tgt, batch(t, []arrow.Field{user, valInt, ts}, []row{{1, "abc", 30}})); fault.ClassOf(err) != fault.Data {
		t.Fatalf("retype: %v, want data", err)
	}
	// A new column is added with create: true, refused without.
	extra := arrow.Field{Name: "w", Type: arrow.BinaryTypes.String, Nullable: true}
	tgt.Create = false
	if err := upsert(t, conn, tgt, batch(t, []arrow.Field{user, valStr, ts, extra}, []row{{1, "z", 40}})); fault.ClassOf(err) != fault.Data {
		t.Fatalf("new column without create: %v, want data", err)
	}
}
