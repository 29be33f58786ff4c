package pgfault

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aiflow-dev/aiflow/fault"
)

func TestClass(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("exec: %w", &pgconn.PgError{Code: code}) }
	tests := []struct {
		name string
		err  error
		want fault.Class
	}{
		{"numeric out of range", pg("22003"), fault.Data},
		{"not null violation", pg("23502"), fault.Data},
		{"connection failure", pg("08006"), fault.Temporary},
		{"deadlock", pg("40P01"), fault.Temporary},
		{"too many connections", pg("53300"), fault.Temporary},
		{"admin shutdown", pg("57P01"), fault.Temporary},
		{"statement timeout", pg("57014"), fault.Temporary},
		{"lock not available", pg("55P03"), fault.Temporary},
		{"bad password", pg("28P01"), fault.Config},
		{"unknown database", pg("3D000"), fault.Config},
		{"unknown schema", pg("3F000"), fault.Config},
		{"no privilege", pg("42501"), fault.Config},
		{"no unique index for ON CONFLICT", pg("42P10"), fault.Config},
		{"syntax error is a bug", pg("42601"), fault.Internal},
		{"connection reset", io.ErrUnexpectedEOF, fault.Temporary},
		{"bad pooled connection", driver.ErrBadConn, fault.Temporary},
		{"deadline", context.DeadlineExceeded, fault.Temporary},
		{"anything else", errors.New("boom"), fault.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Class(tt.err); got != tt.want {
				t.Fatalf("Class(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

func TestIsUniqueViolation(t *testing.T) {
	if !IsUniqueViolation(&pgconn.PgError{Code: "23505"}) || !IsUniqueViolation(&pgconn.PgError{Code: "42P07"}) || IsUniqueViolation(&pgconn.PgError{Code: "23502"}) {
		t.Fatal("IsUniqueViolation is wrong")
	}
}
