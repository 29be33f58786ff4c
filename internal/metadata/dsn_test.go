package metadata_test

import (
	"testing"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
)

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn  string
		want metadata.Target
	}{
		{"sqlite:///abs/path/metadata.db", metadata.Target{Backend: metadata.SQLiteBackend, Path: "/abs/path/metadata.db"}},
		{"sqlite://relative/path.db", metadata.Target{Backend: metadata.SQLiteBackend, Path: "relative/path.db"}},
		{"sqlite://.aiflow/metadata.db", metadata.Target{Backend: metadata.SQLiteBackend, Path: ".aiflow/metadata.db"}},
		{"postgres://u:p@db:5432/meta", metadata.Target{Backend: metadata.PostgresBackend, DSN: "postgres://u:p@db:5432/meta"}},
		{"postgresql://db/meta", metadata.Target{Backend: metadata.PostgresBackend, DSN: "postgresql://db/meta"}},
	}
	for _, tt := range tests {
		got, err := metadata.ParseDSN(tt.dsn)
		if err != nil || got != tt.want {
			t.Errorf("ParseDSN(%q) = %+v, %v; want %+v", tt.dsn, got, err, tt.want)
		}
	}
	for _, dsn := range []string{"", "metadata.db", "mysql://db", "sqlite://", "sqlite://x.db?cache=shared"} {
		if _, err := metadata.ParseDSN(dsn); fault.ClassOf(err) != fault.Config {
			t.Errorf("ParseDSN(%q): err = %v, want a config error", dsn, err)
		}
	}
}

func TestDefaultDSN(t *testing.T) {
	if got, want := metadata.DefaultDSN("./.aiflow"), "sqlite://.aiflow/metadata.db"; got != want {
		t.Errorf("DefaultDSN = %q, want %q", got, want)
	}
	if got, want := metadata.DefaultDSN("/home/me/.aiflow"), "sqlite:///home/me/.aiflow/metadata.db"; got != want {
		t.Errorf("DefaultDSN = %q, want %q", got, want)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://aiflow:s3cret@db:5432/meta?sslmode=require", "postgres://aiflow:xxxxx@db:5432/meta?sslmode=require"},
		{"postgres://aiflow@db/meta", "postgres://aiflow@db/meta"},
		{"postgres://db/meta?user=aiflow&password=s3cret", "postgres://db/meta?password=xxxxx&user=aiflow"},
		{"postgres://aiflow:s3#cr/et@db/meta", "postgres://aiflow:xxxxx@db/meta"}, // unescaped: not a valid URL
		{"host=db user=aiflow password=s3cret dbname=meta", "host=db user=aiflow password=xxxxx dbname=meta"},
		{"sqlite:///var/lib/aiflow/metadata.db", "sqlite:///var/lib/aiflow/metadata.db"},
	}
	for _, tt := range tests {
		if got := metadata.Redact(tt.dsn); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
	}
}
