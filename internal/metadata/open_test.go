package metadata_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// closedPort returns a local port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// silentPort returns a local port that accepts connections and never answers, like a database
// behind a dropped route.
func silentPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

func TestOpenUnreachable(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		timeout time.Duration // the test's own deadline: Open must give up before it
	}{
		{"closed port", fmt.Sprintf("postgres://aiflow:s3cret@127.0.0.1:%d/meta?sslmode=disable", closedPort(t)), 10 * time.Second},
		{"no answer within connect_timeout", fmt.Sprintf("postgres://aiflow:s3cret@127.0.0.1:%d/meta?sslmode=disable&connect_timeout=1", silentPort(t)), 10 * time.Second},
		{"password as a parameter", fmt.Sprintf("postgresql://127.0.0.1:%d/meta?user=aiflow&password=s3cret&sslmode=disable", closedPort(t)), 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			s, err := metadata.Open(ctx, tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if c := fault.ClassOf(err); c != fault.Temporary {
				t.Errorf("class = %s, want temporary: %v", c, err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("error does not say which database: %v", err)
			}
			t.Log(err)
			if ctx.Err() != nil {
				t.Errorf("Open gave up only at the test's deadline (%v): it must time out by itself", time.Since(start))
			}
		})
	}
}

func TestOpenMalformedDSN(t *testing.T) {
	tests := []struct{ name, dsn string }{
		{"empty", ""},
		{"no scheme", "/var/lib/aiflow/metadata.db"},
		{"unknown scheme", "mysql://aiflow:s3cret@db/meta"},
		{"sqlite without a path", "sqlite://"},
		{"sqlite with parameters", "sqlite:///tmp/metadata.db?mode=ro"},
		{"sqlite folder", "sqlite:///tmp/"},
		{"postgres bad port", "postgres://aiflow:s3cret@db:port/meta"},
		{"postgres bad sslmode", "postgres://aiflow:s3cret@db/meta?sslmode=sometimes"},
		{"postgres bad connect_timeout", "postgres://aiflow:s3cret@db/meta?connect_timeout=soon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := metadata.Open(context.Background(), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			if c := fault.ClassOf(err); c != fault.Config {
				t.Errorf("class = %s, want config: %v", c, err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestOpenSQLiteUnusable(t *testing.T) {
	// Nothing here clears up by retrying: each is a setting to fix.
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644))
	must(os.Mkdir(filepath.Join(dir, "folder.db"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "garbage.db"), bytes.Repeat([]byte("not a database "), 512), 0o644))
	tests := []struct{ name, path string }{
		{"its folder is a file", "file/metadata.db"},
		{"it is a folder", "folder.db"},
		{"it is not a database", "garbage.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := metadata.Open(context.Background(), "sqlite://"+filepath.ToSlash(filepath.Join(dir, tt.path)))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			if c := fault.ClassOf(err); c != fault.Config {
				t.Errorf("class = %s, want config: %v", c, err)
			}
		})
	}
}

func TestSchemaNewerThanBinary(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.newDSN(t)
			s, err := metadata.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			// A newer runner migrated this database one version further.
			next := metadata.SchemaVersion() + 1
			b.exec(t, dsn, `INSERT INTO aiflow_schema_migrations (version, name, applied_us) VALUES ($1, 'future.sql', 0)`, next)
			_, err = metadata.Open(context.Background(), dsn)
			if c := fault.ClassOf(err); c != fault.Config {
				t.Errorf("class = %s, want config: %v", c, err)
			}
			want := fmt.Sprintf("metadata database schema version %d is newer than this aiflow-runner (knows %d): upgrade the runner", next, metadata.SchemaVersion())
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error = %v, want it to say %q", err, want)
			}
		})
	}
}

func TestMigrationsIdempotentAndConcurrent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.newDSN(t)
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					s, err := metadata.Open(context.Background(), dsn)
					if err == nil {
						err = s.Close()
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("open #%d: %v", i+1, err)
				}
			}
			// Opening again finds the schema current and changes nothing; a row written before
			// is still there.
			ctx := context.Background()
			s := open(t, dsn)
			if err := s.StartRun(ctx, metadata.Run{Pipeline: "p", RunID: "r", IRHash: "h"}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			runs, err := open(t, dsn).ListRuns(ctx, metadata.RunFilter{})
			if err != nil || len(runs) != 1 {
				t.Errorf("after reopening: runs = %v, %v; want the one run", runs, err)
			}
		})
	}
}

// makeReadOnly makes path unwritable for this process: permissions for a user, the immutable
// attribute for root (whom permissions do not stop); undone at the end of the test.
func makeReadOnly(t *testing.T, path string, dir bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		mode := os.FileMode(0o444)
		if dir {
			mode = 0o555
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(path, 0o755) })
		return
	}
	chattr := testenv.Command(t, "chattr")
	if out, err := exec.Command(chattr, "+i", path).CombinedOutput(); err != nil {
		if testenv.CI() {
			t.Fatalf("chattr +i %s: %v %s", path, err, out)
		}
		t.Skipf("root cannot make %s read-only here (chattr +i: %v %s)", path, err, out)
	}
	t.Cleanup(func() { _ = exec.Command(chattr, "-i", path).Run() })
}

// TestSQLiteReadOnly: a metadata database the runner cannot write (the file, or its folder,
// where SQLite keeps its -wal and -shm files) is a configuration error (78) naming the file and
// saying it is read-only, not SQLite's bare "attempt to write a readonly database".
func TestSQLiteReadOnly(t *testing.T) {
	for _, what := range []string{"file", "folder"} {
		t.Run(what, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "metadata.db")
			ctx := context.Background()
			s, err := metadata.Open(ctx, "sqlite://"+path)
			if err != nil {
				t.Fatal(err)
			}
			s.Close() // checkpoints and removes -wal and -shm
			target := path
			if what == "folder" {
				target = dir
			}
			makeReadOnly(t, target, what == "folder")
			s, err = metadata.Open(ctx, "sqlite://"+path)
			if err == nil {
				defer s.Close()
				err = s.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: "p", IRHash: "h", IR: []byte(`{}`), FirstSeen: time.Now(), LastSeen: time.Now()})
			}
			if err == nil {
				t.Fatal("wrote to a read-only database")
			}
			msg := err.Error()
			if fault.ClassOf(err) != fault.Config || !strings.Contains(msg, path) || !(strings.Contains(msg, "read-only") || strings.Contains(msg, "cannot be opened")) {
				t.Errorf("got %v (class %s); want a config error naming %s and saying it is read-only", err, fault.ClassOf(err), path)
			}
		})
	}
}
