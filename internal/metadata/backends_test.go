package metadata_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// backend makes fresh, empty databases of one kind: every test gets its own, so tests do not see
// each other's rows and can run the migrations from nothing.
type backend struct {
	name string
	// newDSN returns the DSN of a fresh database (nothing created yet), removed when t ends.
	newDSN func(t testing.TB) string
	// exec runs raw SQL on the database of dsn, behind the store's back.
	exec func(t testing.TB, dsn, query string, args ...any)
}

var backends = []backend{
	{name: "sqlite", newDSN: sqliteDSN, exec: sqliteExec},
	{name: "postgres", newDSN: postgresDSN, exec: postgresExec},
}

func sqliteDSN(t testing.TB) string {
	return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "metadata.db"))
}

func sqliteExec(t testing.TB, dsn, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// postgresDSN gives each test its own schema in the test database (on the DSN's search_path), so
// tests stay apart without creating databases.
func postgresDSN(t testing.TB) string {
	t.Helper()
	base := testenv.Require(t, testenv.PostgresDSN)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "aiflow_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop test schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

func postgresExec(t testing.TB, dsn, query string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// open opens the store of dsn and closes it when t ends.
func open(t testing.TB, dsn string) metadata.Store {
	t.Helper()
	s, err := metadata.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", metadata.Redact(dsn), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
