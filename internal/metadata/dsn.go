package metadata

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
)

// Backend names a store implementation.
type Backend string

const (
	SQLiteBackend   Backend = "sqlite"
	PostgresBackend Backend = "postgres"
)

// Target is a parsed AIFLOW_METADATA_DSN.
type Target struct {
	Backend Backend
	// Path is the SQLite database file (absolute or relative to the working directory).
	Path string
	// DSN is the PostgreSQL connection string, as given.
	DSN string
}

// DefaultDSN is the DSN used when AIFLOW_METADATA_DSN is unset: a SQLite file
// in AIFLOW_HOME, so that a laptop needs no service.
func DefaultDSN(home string) string {
	return "sqlite://" + filepath.ToSlash(filepath.Join(home, "metadata.db"))
}

// ParseDSN picks the backend of a DSN: sqlite:///abs/path.db, sqlite://relative/path.db,
// postgres://… or postgresql://…. Anything else is a fault.Config error.
func ParseDSN(dsn string) (Target, error) {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return Target{}, fault.Configf("metadata DSN %q: want sqlite:///path/metadata.db or postgres://user@host/db", Redact(dsn))
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		switch {
		case rest == "":
			return Target{}, fault.Configf("metadata DSN %q: no database file after sqlite://", dsn)
		case strings.ContainsAny(rest, "?#"):
			// Connection settings are the store's to choose (WAL, busy timeout); refusing them keeps a
			// typo from being silently ignored.
			return Target{}, fault.Configf("metadata DSN %q: a sqlite DSN takes no parameters", dsn)
		case strings.HasSuffix(rest, "/"):
			return Target{}, fault.Configf("metadata DSN %q: names a folder, not a database file", dsn)
		}
		return Target{Backend: SQLiteBackend, Path: filepath.FromSlash(rest)}, nil
	case "postgres", "postgresql":
		// The rest is checked by pgx when the pool config is parsed (Open), where its errors are
		// classified too.
		return Target{Backend: PostgresBackend, DSN: dsn}, nil
	}
	return Target{}, fault.Configf("metadata DSN %q: unsupported scheme %q (want sqlite or postgres)", Redact(dsn), scheme)
}

const mask = "xxxxx"

var (
	// userinfoPassword and paramPassword find passwords in DSNs that net/url cannot parse (a '#' or
	// '/' in an unescaped password), so that even a malformed DSN never reaches a log in clear.
	userinfoPassword = regexp.MustCompile(`(://[^:/@]*:)[^@]*@`)
	paramPassword    = regexp.MustCompile(`((?:^|[?&\s])(?:ssl)?password=)('[^']*'|[^&\s]*)`)
)

// Redact returns the DSN with its password (in the userinfo or a password= parameter) masked, for
// error messages and logs.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Opaque == "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), mask)
		}
		q := u.Query()
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, mask)
				u.RawQuery = q.Encode()
			}
		}
		// url.String escapes the mask's userinfo position as-is; the result parses back.
		return u.String()
	}
	s := userinfoPassword.ReplaceAllString(dsn, "${1}"+mask+"@")
	return paramPassword.ReplaceAllString(s, "${1}"+mask)
}

// passwords returns the passwords a DSN carries, to scrub them from driver messages that might quote
// the DSN (belt and braces: pgx redacts too, on a best-effort basis).
func passwords(dsn string) []string {
	var out []string
	if u, err := url.Parse(dsn); err == nil {
		if p, has := u.User.Password(); has && p != "" {
			out = append(out, p)
		}
		for _, k := range []string{"password", "sslpassword"} {
			if p := u.Query().Get(k); p != "" {
				out = append(out, p)
			}
		}
	}
	if m := userinfoPassword.FindStringSubmatch(dsn); m != nil {
		if p := strings.TrimSuffix(strings.TrimPrefix(m[0], m[1]), "@"); p != "" {
			out = append(out, p)
		}
	}
	for _, m := range paramPassword.FindAllStringSubmatch(dsn, -1) {
		if p := strings.Trim(m[2], "'"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// scrubbed is err whose message has the DSN's passwords masked.
type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// scrub masks the DSN's passwords in err's message, keeping err in the chain for errors.Is/As.
func scrub(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, p := range passwords(dsn) {
		if strings.Contains(msg, p) {
			msg = strings.ReplaceAll(msg, p, mask)
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}
