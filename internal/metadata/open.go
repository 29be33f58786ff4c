package metadata

import (
	"context"
	"fmt"
	"time"
)

// DefaultConnectTimeout bounds connecting to PostgreSQL when the DSN sets no connect_timeout.
const DefaultConnectTimeout = 5 * time.Second

// Open opens the store a DSN names (ParseDSN), brings its schema up to date and returns it. A
// malformed DSN, or a database whose schema is newer than this binary, is a fault.Config error; a
// database that cannot be reached in time is fault.Temporary. Errors show the DSN redacted.
func Open(ctx context.Context, dsn string) (Store, error) {
	t, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	switch t.Backend {
	case SQLiteBackend:
		return openSQLite(ctx, t.Path)
	case PostgresBackend:
		return openPostgres(ctx, t.DSN)
	}
	return nil, fmt.Errorf("open metadata store: backend %q has no implementation", t.Backend)
}

// fmtOpen says which database failed to open, once, for errors from deeper down.
func fmtOpen(err error, dsn string) error {
	return fmt.Errorf("open metadata database %s: %w", Redact(dsn), err)
}
