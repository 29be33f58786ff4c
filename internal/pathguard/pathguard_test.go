package pathguard_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/pathguard"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	outside := filepath.Join(dir, "secret")
	for _, d := range []string{root + "/in", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "passwd"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink planted inside the root that points out of it, and one that stays inside.
	if err := os.Symlink(outside, filepath.Join(root, "in", "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "in"), filepath.Join(root, "alias")); err != nil {
		t.Fatal(err)
	}
	g, err := pathguard.New(root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		ok   bool
	}{
		{root, true},
		{root + "/in/orders.csv", true},
		{root + "/out/new/part-0.parquet", true}, // does not exist yet
		{root + "/in/../out/x", true},
		{root + "/alias/orders.csv", true}, // a link that stays inside
		{root + "/../secret/passwd", false},
		{root + "/in/../../secret/passwd", false},
		{root + "/in/escape/passwd", false},        // symlink escape
		{root + "/in/escape/new/file", false},      // through the link, to a file not yet there
		{root + "/in/escape/../in/orders", false},  // .. after the link is the link target's parent
		{root + "/new/../../secret/passwd", false}, // .. past a folder that does not exist yet
		{root + "x/file", false},                   // a sibling sharing the name's prefix
		{"/etc/passwd", false},
		{"relative/path", false},
	}
	for _, tt := range tests {
		err := g.Check(tt.path)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%s) = %v, want ok=%t", tt.path, err, tt.ok)
		}
		if err != nil && fault.ClassOf(err) != fault.Config {
			t.Errorf("Check(%s): error class %v, want config (exit 78)", tt.path, fault.ClassOf(err))
		}
	}
	if err := g.CheckURI("file://" + root + "/in/escape/passwd"); err == nil {
		t.Error("CheckURI: a file:// URI through a symlink escape must fail")
	}
	if err := g.CheckURI("s3://bucket/anything/../x"); err != nil {
		t.Errorf("CheckURI(s3://…) = %v: object store URIs are not local paths", err)
	}
}

// TestCheckTree: a folder handed whole to another process (Spark) is refused when a link below
// it leads out; links that stay inside and folders not there yet pass.
func TestCheckTree(t *testing.T) {
	dir := t.TempDir()
	root, outside := filepath.Join(dir, "data"), filepath.Join(dir, "secret")
	for _, d := range []string{root + "/t/_delta_log", root + "/clean/a=1", root + "/inner/b=2", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, root+"/t/_delta_log/log"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root+"/clean/a=1", root+"/inner/b=3"); err != nil {
		t.Fatal(err)
	}
	g, err := pathguard.New(root)
	if err != nil {
		t.Fatal(err)
	}
	for p, ok := range map[string]bool{root + "/t": false, root + "/t/_delta_log": false, root + "/clean": true,
		root + "/inner": true, root + "/not/yet": true, outside: false} {
		err := g.CheckTree(p)
		if (err == nil) != ok {
			t.Errorf("CheckTree(%s) = %v, want ok=%t", p, err, ok)
		}
		if err != nil && fault.ClassOf(err) != fault.Config {
			t.Errorf("CheckTree(%s): class %v, want config", p, fault.ClassOf(err))
		}
	}
	if err := g.CheckTreeURI("file://" + root + "/t/"); err == nil {
		t.Error("CheckTreeURI: a link below the folder leads out")
	}
}

func TestParse(t *testing.T) {
	if g, err := pathguard.Parse(" "); g != nil || err != nil {
		t.Fatalf("unset: %v %v", g, err)
	}
	var nilGuard *pathguard.Guard
	if err := nilGuard.Check("/anything"); err != nil {
		t.Fatalf("a nil guard allows everything: %v", err)
	}
	a, b := t.TempDir(), t.TempDir()
	g, err := pathguard.Parse(a + string(filepath.ListSeparator) + b)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Roots()) != 2 || g.Check(filepath.Join(b, "x")) != nil || g.Check(filepath.Dir(a)) == nil {
		t.Fatalf("roots %v", g.Roots())
	}
	if _, err := pathguard.Parse("relative"); err == nil {
		t.Fatal("a relative root must be refused")
	}
}

func TestWithin(t *testing.T) {
	for _, tt := range []struct {
		root, p string
		want    bool
	}{
		{"/a", "/a", true}, {"/a", "/a/b", true}, {"/a", "/ab", false}, {"/a", "/", false}, {"/", "/x", true}, {"/a/b", "/a", false},
		{"/a", "/a/..b", true}, // a name that starts with two dots is not a parent reference
	} {
		if got := pathguard.Within(tt.root, tt.p); got != tt.want {
			t.Errorf("Within(%s, %s) = %t", tt.root, tt.p, got)
		}
	}
}
