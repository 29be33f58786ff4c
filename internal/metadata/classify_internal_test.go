package metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aiflow-dev/aiflow/fault"
)

func TestClassifyPostgres(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want fault.Class
	}{
		{"serialization failure", &pgconn.PgError{Code: "40001"}, fault.Temporary},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, fault.Temporary},
		{"too many connections", &pgconn.PgError{Code: "53300"}, fault.Temporary},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, fault.Temporary},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, fault.Temporary},
		{"connection failure", &pgconn.PgError{Code: "08006"}, fault.Temporary},
		{"bad password", &pgconn.PgError{Code: "28P01"}, fault.Config},
		{"no such database", &pgconn.PgError{Code: "3D000"}, fault.Config},
		{"no privilege", &pgconn.PgError{Code: "42501"}, fault.Config},
		{"undefined column: a bug", &pgconn.PgError{Code: "42703"}, fault.Internal},
		{"connection lost", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), fault.Temporary},
		{"anything else", errors.New("boom"), fault.Internal},
	}
	for _, tt := range tests {
		if got := classifyPostgres(tt.err); got != tt.want {
			t.Errorf("%s: class %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestFailKeepsContextErrorsTemporary(t *testing.T) {
	s := &sqlStore{d: dialect{classify: classifyPostgres}, dsn: "postgres://u:s3cret@h/db"}
	err := s.fail(fmt.Errorf("query: %w", context.DeadlineExceeded), "list runs")
	if fault.ClassOf(err) != fault.Temporary {
		t.Errorf("class = %s, want temporary", fault.ClassOf(err))
	}
	err = s.fail(errors.New("cannot parse postgres://u:s3cret@h/db"), "connect")
	if got := err.Error(); got != "connect: cannot parse postgres://u:xxxxx@h/db" {
		t.Errorf("error = %q, want the password masked", got)
	}
}

// TestMigrationsInStep checks that both dialects have the same numbered migrations: version N
// must mean the same tables on SQLite and PostgreSQL.
func TestMigrationsInStep(t *testing.T) {
	names := func(b Backend) []string {
		ms, err := migrations(b)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	lite, pg := names(SQLiteBackend), names(PostgresBackend)
	if !reflect.DeepEqual(lite, pg) || len(lite) == 0 {
		t.Errorf("sqlite migrations %v, postgres %v: want the same, non-empty", lite, pg)
	}
	if SchemaVersion() != len(lite) {
		t.Errorf("SchemaVersion() = %d, want %d", SchemaVersion(), len(lite))
	}
}
