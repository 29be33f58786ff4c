package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/pgfault"
)

// Postgres is the production store: a pgx pool shared by the queries (through database/sql, so
// that both backends run the same code) and by sinks that commit in their own transaction.
//
// Committing inside the caller's transaction: a sink that writes into the same PostgreSQL database
// (feature_store upserts rows) makes its rows and the node's commit one transaction, so a crash
// leaves both or neither:
//
//	committed, existing, err := pg.WithCommit(ctx, c, func(ctx context.Context, tx pgx.Tx) error {
//		return upsertRows(ctx, tx, batch) // runs only if this call inserted the commit row
//	})
//
// WithCommit inserts the commit row first, so a racing attempt blocks on it and then finds it,
// and the loser never writes a row. CommitTx is the same insert for a transaction the caller runs
// itself; insert the commit before the data and roll back when it returns committed=false.
type Postgres struct {
	*sqlStore
	pool *pgxpool.Pool
}

var _ Store = (*Postgres)(nil)

// migrationLockKey names the advisory lock taken while migrating (any fixed int64 unique to aiflow).
const migrationLockKey = 0x616966_6c6f77 // "aiflow"

func openPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fault.Wrap(fault.Config, scrub(err, dsn), "metadata DSN %s is malformed", Redact(dsn))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "aiflow-runner"
	}
	if cfg.ConnConfig.RuntimeParams["synchronous_commit"] == "" {
		// Relaxed writes (dialect.durableExec); ledger commits turn it back on per transaction.
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fault.Wrap(fault.Config, scrub(err, dsn), "metadata DSN %s", Redact(dsn))
	}
	// The pool connects lazily; ping now so that an unreachable database fails here, within the
	// connect timeout, with the address in the message.
	pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout)
	err = pool.Ping(pingCtx)
	cancel()
	if err != nil {
		pool.Close()
		class := classifyPostgres(err)
		if class == fault.Internal { // whatever else breaks a connection attempt is worth a retry
			class = fault.Temporary
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fault.Wrap(class, scrub(err, dsn), "connect to metadata database %s: no answer within %s", Redact(dsn), cfg.ConnConfig.ConnectTimeout)
		}
		return nil, fault.Wrap(class, scrub(err, dsn), "connect to metadata database %s", Redact(dsn))
	}
	db := stdlib.OpenDBFromPool(pool)
	p := &Postgres{
		sqlStore: &sqlStore{db: db, dsn: dsn, d: dialect{
			backend:       PostgresBackend,
			migrationLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey),
			classify:      classifyPostgres,
			durableExec:   postgresDurableExec,
		}},
		pool: pool,
	}
	if err := p.migrate(ctx); err != nil {
		p.Close()
		return nil, fmtOpen(err, dsn)
	}
	return p, nil
}

// Close closes the pool; nothing may use Pool afterwards.
func (p *Postgres) Close() error {
	err := p.db.Close()
	p.pool.Close()
	return err
}

// Pool is the store's connection pool, for sinks that commit in their own transaction. Its sessions
// run with synchronous_commit=off (unless the DSN sets it): writes are flushed by the next durable
// commit, which CommitTx makes of the transaction it joins.
func (p *Postgres) Pool() *pgxpool.Pool { return p.pool }

// CommitTx is Commit inside the caller's transaction, which must be on the store's database (and
// see its tables on its search_path) at isolation READ COMMITTED, the default: under REPEATABLE
// READ a commit by a concurrent attempt is a serialization error instead of committed=false. The
// commit is durable, and visible to others, only when the caller commits tx; if it returns
// committed=false, the caller must roll tx back.
func (p *Postgres) CommitTx(ctx context.Context, tx pgx.Tx, c Commit) (committed bool, existing *Commit, err error) {
	args, err := commitArgs(c)
	if err != nil {
		return false, nil, fmt.Errorf("commit %s of run %s: %w", c.AttemptKey, c.RunID, err)
	}
	if _, err := tx.Exec(ctx, durableCommit); err != nil {
		return false, nil, p.fail(err, "commit %s of run %s", c.AttemptKey, c.RunID)
	}
	tag, err := tx.Exec(ctx, insertCommit, args...)
	if err != nil {
		return false, nil, p.fail(err, "commit %s of run %s", c.AttemptKey, c.RunID)
	}
	if tag.RowsAffected() == 1 {
		return true, nil, nil
	}
	existing, err = scanCommit(tx.QueryRow(ctx, selectCommit, c.Pipeline, c.RunID, c.Node), c.Pipeline, c.RunID, c.Node)
	if err != nil {
		return false, nil, p.fail(err, "commit %s of run %s: read the existing commit", c.AttemptKey, c.RunID)
	}
	return false, existing, nil
}

// WithCommit begins a transaction on the pool, inserts the commit row, runs publish in the same
// transaction if the insert won, and commits. If the node was already committed it rolls back
// without calling publish and returns committed=false with the existing commit. If publish fails,
// nothing is committed and its error is returned.
func (p *Postgres) WithCommit(ctx context.Context, c Commit, publish func(ctx context.Context, tx pgx.Tx) error) (committed bool, existing *Commit, err error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return false, nil, p.fail(err, "commit %s of run %s: begin", c.AttemptKey, c.RunID)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	committed, existing, err = p.CommitTx(ctx, tx, c)
	if err != nil || !committed {
		return committed, existing, err
	}
	if err := publish(ctx, tx); err != nil {
		return false, nil, fmt.Errorf("commit %s of run %s: publish: %w", c.AttemptKey, c.RunID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, nil, p.fail(err, "commit %s of run %s", c.AttemptKey, c.RunID)
	}
	return true, nil, nil
}

// durableCommit makes the transaction it runs in wait for its log flush on commit: the pool's
// sessions default to synchronous_commit=off for the relaxed writes.
const durableCommit = "SET LOCAL synchronous_commit = on"

func postgresDurableExec(ctx context.Context, db *sql.DB, query string, args ...any) (sql.Result, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, durableCommit); err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return res, tx.Commit()
}

// classifyPostgres sorts errors as every PostgreSQL client of aiflow does (pgfault.Class), except
// that the metadata store writes only rows aiflow builds itself: a data exception or an integrity
// violation there is aiflow's bug (1, retried), not the user's data.
func classifyPostgres(err error) fault.Class {
	if c := pgfault.Class(err); c != fault.Data {
		return c
	}
	return fault.Internal
}
