package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/aiflow-dev/aiflow/fault"
)

// SQLite is the store of a laptop or a single machine: one database file that the pods of a run
// share through the file system (modernc.org/sqlite, pure Go, so the runner stays CGO_ENABLED=0).
type SQLite struct{ *sqlStore }

var _ Store = (*SQLite)(nil)

// sqliteBusyTimeout is how long a writer waits for another process's write lock before giving up
// with SQLITE_BUSY (a fault.Temporary). Transactions are short, so waiting long only matters when
// many pods start at once.
const sqliteBusyTimeout = "30000" // milliseconds

// sqliteParams are the connection settings: WAL so that readers never block the writer,
// synchronous=NORMAL (no flush per transaction: sqliteDurableExec flushes for the commits that need
// it), and _txlock=immediate so that every transaction takes the write
// lock when it begins: a deferred transaction that reads and then writes can fail at once with
// SQLITE_BUSY, where an immediate one waits out the busy timeout.
func sqliteParams() string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+sqliteBusyTimeout+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return q.Encode()
}

func openSQLite(ctx context.Context, path string) (*SQLite, error) {
	// A laptop needs nothing: AIFLOW_HOME is created on first use.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fault.Wrap(fault.Config, err, "open metadata database %s: create its folder", path)
	}
	db, err := sql.Open("sqlite", path+"?"+sqliteParams())
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "open metadata database %s", path)
	}
	// SQLite has one writer at a time however many connections there are; one connection per
	// process queues writers in Go instead of in SQLite's busy handler, which sleeps between
	// retries. Other processes still wait in the busy handler.
	db.SetMaxOpenConns(1)
	s := &SQLite{&sqlStore{db: db, d: dialect{
		backend: SQLiteBackend, classify: classifySQLite, durableExec: sqliteDurableExec, explain: explainSQLite,
	}, dsn: path}}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, s.fail(err, "open metadata database %s", path)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmtOpen(err, "sqlite://"+path)
	}
	return s, nil
}

// classifySQLite: a busy or locked database, a full disk or an I/O error may clear up, so they are
// Temporary; a file that cannot be opened or written, or is not a database, is the setting to fix.
func classifySQLite(err error) fault.Class {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return fault.Internal
	}
	switch se.Code() & 0xff { // the primary result code; extended codes add detail in the high bits
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_PROTOCOL:
		return fault.Temporary
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH,
		sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fault.Config
	}
	return fault.Internal
}

// explainSQLite names the file behind an error that is the operator's to fix: SQLite's own text
// ("attempt to write a readonly database") says neither which database nor what to change.
func explainSQLite(err error, path string) string {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_READONLY:
		return fmt.Sprintf("metadata database %s is read-only for this process (the file, its -wal and -shm files and its folder must be writable; or set AIFLOW_METADATA_DSN to a writable store)", path)
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		return fmt.Sprintf("metadata database %s cannot be opened or created (check the file and its folder exist and are writable, or set AIFLOW_METADATA_DSN)", path)
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fmt.Sprintf("metadata database %s is not a readable SQLite database (another file at that path, or damaged)", path)
	}
	return ""
}

// sqliteDurableExec runs one statement with synchronous=FULL: in WAL mode SQLite then flushes the
// log when the statement commits, and with it every transaction before it.
func sqliteDurableExec(ctx context.Context, db *sql.DB, query string, args ...any) (res sql.Result, err error) {
	conn, err := db.Conn(ctx) // a PRAGMA holds for one connection: keep it for the three statements
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
		return nil, err
	}
	defer func() {
		// Left at FULL the connection is only slower; still, say so.
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = NORMAL"); rerr != nil && err == nil {
			err = rerr
		}
	}()
	return conn.ExecContext(ctx, query, args...)
}
