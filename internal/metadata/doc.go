// Package metadata is aiflow's metadata store: what every node pod records about its run, and what
// the CLI reads back (`runs list`, `runs show`, `pipelines list`, `usage`).
//
// In a pod-per-node world every node is a separate process, so the store is a real database,
// chosen by AIFLOW_METADATA_DSN:
//
//	sqlite:///abs/path/metadata.db     a file (default: sqlite://$AIFLOW_HOME/metadata.db)
//	sqlite://relative/path.db          relative to the working directory
//	postgres://user:pw@host:5432/db    PostgreSQL (postgresql:// too; pgx parameters such as
//	                                   sslmode, connect_timeout, search_path, pool_max_conns work)
//
// Open parses the DSN, connects (PostgreSQL: within connect_timeout, 5 s by default), migrates the
// schema and returns a Store. Both backends run the same SQL (sqlStore), and the conformance suite
// in storetest runs against both.
//
// What is recorded: pipeline versions (IR by hash, tenancy, first/last seen), runs, node attempts,
// input pins, commits (the exactly-once ledger, unique per pipeline, run and node) and lineage.
// Timestamps are unix microseconds, UTC, in BIGINT/INTEGER columns on both backends.
//
// Durability: a Commit is flushed to disk before it returns, with every write before it; the other
// writes are not flushed one by one (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off),
// so that a node run costs one disk flush, not four. A machine crash can lose the last attempt
// updates, never a commit the runner reported.
//
// Schema migrations are embedded (migrations/<backend>/NNNN_name.sql), applied under a lock
// (PostgreSQL advisory lock, SQLite BEGIN IMMEDIATE) so that many pods may start at once, and a
// database migrated by a newer runner is refused with a fault.Config error.
//
// A sink that writes into the store's PostgreSQL database commits in its own transaction with
// Postgres.WithCommit or Postgres.CommitTx (see Postgres).
//
// Errors are classified where they arise (package fault): unreachable or busy database →
// Temporary, malformed DSN, bad credentials, unusable file or newer schema → Config. Errors show
// the DSN with its password masked (Redact).
package metadata
