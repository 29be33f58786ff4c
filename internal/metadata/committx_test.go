package metadata_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// TestPostgresCommitInSinkTransaction is the feature_store case: the sink's rows and the node's
// commit are one PostgreSQL transaction, so they appear together or not at all.
func TestPostgresCommitInSinkTransaction(t *testing.T) {
	ctx := context.Background()
	dsn := postgresDSN(t)
	pg, ok := open(t, dsn).(*metadata.Postgres)
	if !ok {
		t.Fatal("a postgres DSN did not open a *metadata.Postgres")
	}
	postgresExec(t, dsn, `CREATE TABLE user_features (user_id BIGINT PRIMARY KEY, order_cnt BIGINT NOT NULL)`)
	rows := func() int {
		var n int
		if err := pg.Pool().QueryRow(ctx, `SELECT count(*) FROM user_features`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	upsert := func(ids ...int) func(context.Context, pgx.Tx) error {
		return func(ctx context.Context, tx pgx.Tx) error {
			for _, id := range ids {
				if _, err := tx.Exec(ctx, `INSERT INTO user_features VALUES ($1, 1)
ON CONFLICT (user_id) DO UPDATE SET order_cnt = excluded.order_cnt`, id); err != nil {
					return err
				}
			}
			return nil
		}
	}
	commit := func(node string, try int) metadata.Commit {
		return metadata.Commit{AttemptKey: metadata.AttemptKey{Pipeline: "p", RunID: "r", Node: node, Try: try}, Manifest: json.RawMessage(`{"rows":2}`)}
	}

	// A publish that fails leaves neither rows nor a commit.
	boom := errors.New("boom")
	_, _, err := pg.WithCommit(ctx, commit("sink", 1), func(ctx context.Context, tx pgx.Tx) error {
		if err := upsert(1, 2)(ctx, tx); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithCommit with a failing publish: %v, want boom", err)
	}
	if c, _ := pg.LookupCommit(ctx, "p", "r", "sink"); c != nil || rows() != 0 {
		t.Fatalf("after a failed publish: commit %+v, %d rows; want neither", c, rows())
	}

	// The next attempt publishes and commits together.
	committed, _, err := pg.WithCommit(ctx, commit("sink", 2), upsert(1, 2))
	if err != nil || !committed || rows() != 2 {
		t.Fatalf("WithCommit: committed=%v, %v, %d rows; want committed with 2 rows", committed, err, rows())
	}

	// A retry after the commit does not publish at all.
	called := false
	committed, existing, err := pg.WithCommit(ctx, commit("sink", 3), func(context.Context, pgx.Tx) error { called = true; return nil })
	if err != nil || committed || existing == nil || existing.Try != 2 || called {
		t.Fatalf("retry: committed=%v existing=%+v err=%v publish called=%v; want the try 2 commit, no publish", committed, existing, err, called)
	}

	// CommitTx in a transaction the caller rolls back commits nothing.
	tx, err := pg.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	committed, _, err = pg.CommitTx(ctx, tx, commit("other_sink", 1))
	if err != nil || !committed {
		t.Fatalf("CommitTx: %v, %v", committed, err)
	}
	tx.Rollback(ctx)
	if c, err := pg.LookupCommit(ctx, "p", "r", "other_sink"); err != nil || c != nil {
		t.Errorf("after rollback: commit %+v, %v; want none", c, err)
	}
}
