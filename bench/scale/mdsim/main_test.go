package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// freshSchema gives the test a schema of its own in the test database (on the DSN's
// search_path): history empties and refills the store's tables and drops and rebuilds their keys.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := testenv.Require(t, testenv.PostgresDSN)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "mdsim_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	exec := func(q string) {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatalf("connect to test postgres: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	t.Cleanup(func() { exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// TestHistorySmall runs the history load at a small size, then the queries and the prune, as
// mdsim.sh history does at 30M attempts: the COPY streams' rows, the rollup summed while
// generating (history checks a day of it against the attempts), keys and indexes built back
// the same, and a second load refused.
func TestHistorySmall(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	const days, perDay = 3, 2000 // 100 runs a day, 2 of them failed at their last node
	if err := history(ctx, dsn, days, perDay, 3); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int64 {
		t.Helper()
		var n int64
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	for q, want := range map[string]int64{
		`SELECT count(*) FROM aiflow_runs`:                                  days * perDay / nodes,
		`SELECT count(*) FROM aiflow_node_attempts`:                         days * perDay,
		`SELECT count(*) FROM aiflow_node_attempts WHERE status = 'failed'`: days * 2,
		`SELECT count(*) FROM aiflow_commits`:                               days*perDay - days*2,
		`SELECT sum(attempts) FROM aiflow_usage_hourly`:                     days * perDay,
		`SELECT sum(attempts) FROM aiflow_usage_daily`:                      days * perDay,
	} {
		if got := count(q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	if err := query(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	if err := prune(ctx, dsn, 1); err != nil {
		t.Fatal(err)
	}
	if got := count(`SELECT count(*) FROM aiflow_node_attempts`); got >= days*perDay || got < (days-2)*perDay {
		t.Errorf("%d attempts after pruning the oldest day, want about %d", got, (days-1)*perDay)
	}
	if err := history(ctx, dsn, 1, perDay, 3); err == nil || !strings.Contains(err.Error(), "fresh database") {
		t.Errorf("a second history into the same store: %v, want it refused", err)
	}
}
