package objstore_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/objstore/objstoretest"
	"github.com/aiflow-dev/aiflow/internal/pathguard"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

func TestConformanceFile(t *testing.T) {
	st := objstore.New(objstore.Options{})
	objstoretest.Conformance(t, st, "file://"+t.TempDir()+"/")
}

func TestConformanceFakeS3(t *testing.T) {
	st, base := objstoretest.FakeS3(t)
	objstoretest.Conformance(t, st, base+"prefix/")
}

func TestConformanceRealS3(t *testing.T) {
	st, base := objstoretest.RealS3(t)
	objstoretest.Conformance(t, st, base)
}

func TestEndpointDownIsTemporaryAndQuick(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more: connection refused
	st := objstore.New(objstore.Options{S3Endpoint: "http://" + addr, AccessKeyID: "a", SecretAccessKey: "b"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	for name, f := range map[string]func() error{
		"stat": func() error { _, err := st.Stat(ctx, "s3://b/k"); return err },
		"list": func() error { _, err := st.List(ctx, "s3://b/"); return err },
		"put":  func() error { return st.Put(ctx, "s3://b/k", strings.NewReader("x")) },
	} {
		err := f()
		if fault.ClassOf(err) != fault.Temporary || fault.ExitCode(err) != 75 {
			t.Errorf("%s: %v: class %v, want temporary", name, err, fault.ClassOf(err))
		}
	}
	// Three operations, three attempts each with sub-second backoff: seconds, not minutes. This is
	// a generous bound to catch an unbounded retryer, not a timing assertion.
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("endpoint down took %v", d)
	}
}

func TestHungEndpointTimesOut(t *testing.T) {
	// A server that accepts connections but never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	st := objstore.New(objstore.Options{S3Endpoint: "http://" + l.Addr().String(), AccessKeyID: "a", SecretAccessKey: "b",
		ResponseTimeout: 200 * time.Millisecond, MaxAttempts: 2})
	_, err = st.Stat(context.Background(), "s3://b/k")
	if fault.ClassOf(err) != fault.Temporary {
		t.Fatalf("hung endpoint: %v (class %v), want temporary", err, fault.ClassOf(err))
	}
}

func TestBadURIIsConfig(t *testing.T) {
	st := objstore.New(objstore.Options{})
	for _, uri := range []string{"gs://b/k", "s3:///k", "s3://b/../k", "file://", "s3://b/a\x00b"} {
		_, err := st.Stat(context.Background(), uri)
		if fault.ClassOf(err) != fault.Config {
			t.Errorf("%q: %v, want config", uri, err)
		}
	}
	bad := objstore.New(objstore.Options{S3Endpoint: "not a url"})
	if _, err := bad.Stat(context.Background(), "s3://b/k"); fault.ClassOf(err) != fault.Config {
		t.Errorf("bad endpoint: %v, want config", err)
	}
}

func TestJoin(t *testing.T) {
	for _, c := range []struct{ base, rel, want string }{
		{"s3://b/p", "x/y.parquet", "s3://b/p/x/y.parquet"},
		{"s3://b/p/", "./x//y", "s3://b/p/x/y"},
		{"file:///tmp/a", "b/../c", "file:///tmp/a/c"},
		{"file:///tmp/a", "dt=1/", "file:///tmp/a/dt=1/"},
		{"s3://b/p", ".", "s3://b/p/"},
	} {
		got, err := objstore.Join(c.base, c.rel)
		if err != nil || got != c.want {
			t.Errorf("Join(%q, %q) = %q, %v; want %q", c.base, c.rel, got, err, c.want)
		}
	}
	for _, rel := range []string{"..", "../x", "a/../../x", "/etc/passwd", "a\x00b", `..\x`} {
		if got, err := objstore.Join("s3://b/p", rel); fault.ClassOf(err) != fault.Config {
			t.Errorf("Join(_, %q) = %q, %v; want config error", rel, got, err)
		}
	}
}

func TestCleanFileURIs(t *testing.T) {
	dir := t.TempDir()
	got, err := objstore.Clean("file://" + dir + "/a/./b/../c")
	if err != nil || got != "file://"+dir+"/a/c" {
		t.Errorf("Clean = %q, %v", got, err)
	}
	wd, _ := os.Getwd()
	got, _ = objstore.Clean("file://rel/x/")
	if want := "file://" + filepath.Join(wd, "rel/x") + "/"; got != want {
		t.Errorf("relative: %q, want %q", got, want)
	}
	// file://localhost/x is /x (RFC 8089; the policy check reads it so), not ./localhost/x.
	got, err = objstore.Clean("file://localhost" + dir + "/a")
	if err != nil || got != "file://"+dir+"/a" {
		t.Errorf("localhost: %q, %v; want %q", got, err, "file://"+dir+"/a")
	}
}

func TestFilePutLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	st := objstore.New(objstore.Options{})
	boom := errors.New("boom")
	err := st.Put(context.Background(), "file://"+dir+"/x", errReader{boom})
	if !errors.Is(err, boom) && err == nil {
		t.Fatalf("err = %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("left %v", ents)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// An unknown access key is configuration (exit 78), on every operation, not a missing file (65):
// versitygw answers it with 404, and a HEAD answer carries no error code at all.
func TestUnknownAccessKeyIsConfig(t *testing.T) {
	good, base := objstoretest.RealS3(t)
	ctx := context.Background()
	if err := good.Put(ctx, base+"k/one.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	bad := objstore.New(objstore.Options{S3Endpoint: testenv.Require(t, testenv.S3Endpoint), AccessKeyID: "nosuchkey", SecretAccessKey: "nosuchsecret"})
	for name, op := range map[string]func() error{
		"list":         func() error { _, err := bad.List(ctx, base+"k/"); return err },
		"stat":         func() error { _, err := bad.Stat(ctx, base+"k/one.txt"); return err },
		"stat missing": func() error { _, err := bad.Stat(ctx, base+"k/none.txt"); return err },
		"get":          func() error { _, err := bad.Get(ctx, base+"k/one.txt"); return err },
		"put":          func() error { return bad.Put(ctx, base+"k/two.txt", strings.NewReader("y")) },
	} {
		err := op()
		if c := fault.ClassOf(err); c != fault.Config {
			t.Errorf("%s with an unknown access key: class %v (%v), want config", name, c, err)
		}
	}
}

// TestGuardedFileStore: with a Guard, every operation on a path that a symlink inside the root
// leads out of fails with a configuration error and touches nothing outside; the conformance
// suite still passes inside the root.
func TestGuardedFileStore(t *testing.T) {
	dir := t.TempDir()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	for _, d := range []string{root + "/t", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{outside + "/secret", root + "/t/x"} {
		if err := os.WriteFile(f, []byte("s"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, root+"/t/link"); err != nil {
		t.Fatal(err)
	}
	g, err := pathguard.New(root)
	if err != nil {
		t.Fatal(err)
	}
	st := objstore.New(objstore.Options{Guard: g})
	ctx := context.Background()
	objstoretest.Conformance(t, st, "file://"+root+"/conf/")
	base := "file://" + root + "/t/link/"
	ops := map[string]func() error{
		"put":          func() error { return st.Put(ctx, base+"new/x", strings.NewReader("x")) },
		"putIfAbsent":  func() error { return st.PutIfAbsent(ctx, base+"y", strings.NewReader("y")) },
		"get":          func() error { _, err := st.Get(ctx, base+"secret"); return err },
		"stat":         func() error { _, err := st.Stat(ctx, base+"secret"); return err },
		"list":         func() error { _, err := st.List(ctx, base); return err },
		"listDir":      func() error { _, _, err := st.ListDir(ctx, base); return err },
		"delete":       func() error { return st.Delete(ctx, base+"secret") },
		"deletePrefix": func() error { return st.DeletePrefix(ctx, base) },
		"copyIn":       func() error { return st.Copy(ctx, base+"secret", "file://"+root+"/stolen") },
		"copyOut":      func() error { return st.Copy(ctx, "file://"+root+"/t/x", base+"z") },
		"removeTemps":  func() error { return st.RemoveTemps(ctx, base, "") },
		"confineTree":  func() error { return st.ConfineTree("file://" + root + "/t/") },
	}
	for name, op := range ops {
		if err := op(); err == nil || fault.ClassOf(err) != fault.Config || !strings.Contains(err.Error(), "outside the allowed roots") {
			t.Errorf("%s through a link out of the root: %v, want a configuration error", name, err)
		}
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("outside the root now holds %d entries, want only the secret", len(ents))
	}
}

// A local Copy is a hard link (a staged file published costs a directory entry, not its
// bytes), replaces an existing target atomically, leaves no temp name even when the target
// already is a link to the same file (a retry), and falls back to copying the bytes where no
// link can be made (another device).
func TestFileCopyLinks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := objstore.New(objstore.Options{})
	src, dst := "file://"+dir+"/stage/part-0.parquet", "file://"+dir+"/table/part-x-00000.parquet"
	if err := st.Put(ctx, src, strings.NewReader("staged")); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, dst, strings.NewReader("an older version")); err != nil {
		t.Fatal(err)
	}
	sameFile := func() bool {
		a, err1 := os.Stat(dir + "/stage/part-0.parquet")
		b, err2 := os.Stat(dir + "/table/part-x-00000.parquet")
		return err1 == nil && err2 == nil && os.SameFile(a, b)
	}
	for range 2 { // the second time, the target already is a link to the source
		if err := st.Copy(ctx, src, dst); err != nil {
			t.Fatal(err)
		}
		if !sameFile() {
			t.Fatal("the copy is not a hard link to the staged file")
		}
		if ents, _ := os.ReadDir(dir + "/table"); len(ents) != 1 {
			t.Fatalf("table folder holds %v, want the one file", ents)
		}
	}
	// The staged file removed (staging cleanup): the published one stays.
	if err := st.Delete(ctx, src); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Get(ctx, dst); err != nil || string(b) != "staged" {
		t.Fatalf("published file after the staged one was removed: %q, %v", b, err)
	}

	// No link possible: the bytes are copied.
	restore := objstore.SetHardLink(func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EXDEV} })
	defer restore()
	if err := st.Put(ctx, src, strings.NewReader("staged again")); err != nil {
		t.Fatal(err)
	}
	if err := st.Copy(ctx, src, dst); err != nil {
		t.Fatal(err)
	}
	if sameFile() {
		t.Fatal("linked although linking failed")
	}
	if b, err := st.Get(ctx, dst); err != nil || string(b) != "staged again" {
		t.Fatalf("copied file: %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(dir + "/table"); len(ents) != 1 {
		t.Fatalf("table folder holds %v after the fallback, want the one file", ents)
	}
	// A missing source is still a missing file (65), not a failed link.
	if err := st.Copy(ctx, "file://"+dir+"/stage/gone", dst); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("copy of a missing file: %v", err)
	}
}
