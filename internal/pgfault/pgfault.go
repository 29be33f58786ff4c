// Package pgfault classifies PostgreSQL errors (pgx) for every package that talks to PostgreSQL:
// the metadata store and the feature store sort the same SQLSTATEs the same way.
package pgfault

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aiflow-dev/aiflow/fault"
)

// Class sorts server errors by SQLSTATE and client errors by kind:
//   - a data exception (22) or an integrity violation (23) is the rows' fault: Data;
//   - a lost or refused connection (08), a serialization failure or deadlock (40), too many
//     connections (53), a server shutting down (57P), a statement timeout (57014), a lock not
//     available (55P03), a timeout or a broken client connection may clear up: Temporary;
//   - bad credentials (28), an unknown database (3D000) or schema (3F000), a missing privilege
//     (42501), an ON CONFLICT target without a unique index (42P10) are settings to fix: Config;
//   - anything else: Internal.
//
// It looks only at err's own kind; keep a class given further down with fault.WrapOr.
func Class(err error) fault.Class {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		c := pe.Code
		switch {
		case strings.HasPrefix(c, "22"), strings.HasPrefix(c, "23"):
			return fault.Data
		case strings.HasPrefix(c, "08"), strings.HasPrefix(c, "40"), strings.HasPrefix(c, "53"),
			strings.HasPrefix(c, "57P"), c == "57014", c == "55P03":
			return fault.Temporary
		case strings.HasPrefix(c, "28"), c == "3D000", c == "3F000", c == "42501", c == "42P10":
			return fault.Config
		}
		return fault.Internal
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fault.Temporary
	}
	return fault.Internal
}

// IsUniqueViolation reports a unique violation (23505) or a relation that already exists (42P07):
// two writers creating the same row or table at once.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P07")
}
