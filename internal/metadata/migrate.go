package metadata

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
)

// Migrations are numbered .sql files per dialect (migrations/<backend>/NNNN_name.sql), applied in
// order, each once. The two folders move in step: version N means the same tables on both.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the backend's migrations in version order. They are compiled in, so a gap or a
// bad name is a bug in this package, reported when the store opens.
func migrations(b Backend) ([]migration, error) {
	dir := path.Join("migrations", string(b))
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations %s: %w", dir, err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("embedded migration %s/%s: want NNNN_name.sql", dir, e.Name())
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read embedded migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("embedded migrations %s: %s should be version %d", dir, m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this binary knows (the same on both backends).
func SchemaVersion() int {
	ms, err := migrations(SQLiteBackend)
	if err != nil {
		return 0
	}
	return len(ms)
}

const createVersionTable = `CREATE TABLE IF NOT EXISTS aiflow_schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_us BIGINT  NOT NULL
)`

// migrate brings the schema up to this binary's version in one transaction. Many pods start at
// once, so the transaction first takes the dialect's migration lock (PostgreSQL: an advisory
// transaction lock; SQLite: the transaction is BEGIN IMMEDIATE, the database's write lock) and only
// then reads the version: whoever comes second finds the work done. DDL is transactional on both
// backends, so a pod killed mid-migration leaves the previous version intact.
func (s *sqlStore) migrate(ctx context.Context) error {
	ms, err := migrations(s.d.backend)
	if err != nil {
		return err
	}
	known := len(ms)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(err, "migrate metadata schema: begin")
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if s.d.migrationLock != "" {
		if _, err := tx.ExecContext(ctx, s.d.migrationLock); err != nil {
			return s.fail(err, "migrate metadata schema: take migration lock")
		}
	}
	if _, err := tx.ExecContext(ctx, createVersionTable); err != nil {
		return s.fail(err, "migrate metadata schema: create version table")
	}
	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return s.fail(err, "migrate metadata schema: read version")
	}
	if current > known {
		return fault.Configf("metadata database schema version %d is newer than this aiflow-runner (knows %d): upgrade the runner", current, known)
	}
	if current == known {
		return nil // the rollback releases the lock; nothing was written
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return s.fail(err, "migrate metadata schema to version %d (%s)", m.version, m.name)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO aiflow_schema_migrations (version, name, applied_us) VALUES ($1, $2, $3)`,
			m.version, m.name, micros(time.Now())); err != nil {
			return s.fail(err, "migrate metadata schema: record version %d", m.version)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(err, "migrate metadata schema to version %d: commit", known)
	}
	return nil
}

func schemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var v int
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM aiflow_schema_migrations`).Scan(&v)
	return v, err
}
