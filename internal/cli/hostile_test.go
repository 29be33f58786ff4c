package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tests of hostile input and bad luck: each names the class of failure it guards against.

// TestNonCanonicalSinkURIKeepsData: a files sink whose path is a non-canonical file:// URI (a
// localhost host, a doubled slash, a `..`) publishes data that stays, and a commit is recorded
// only for files that exist.
func TestNonCanonicalSinkURIKeepsData(t *testing.T) {
	w := newWorkspace(t)
	w.orders("in/orders", 2000)
	for name, out := range map[string]func(string) string{
		"localhost": func(p string) string { return "file://localhost" + p + "/" },
		"slashes":   func(p string) string { return "file://" + strings.Replace(p, "/out/", "/out//", 1) + "/" },
		"dotdot":    func(p string) string { return "file://" + strings.Replace(p, "/out/", "/out/x/../", 1) + "/" },
		"plain":     func(p string) string { return strings.Replace(p, "/out/", "/out/./", 1) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := w.path("out/" + name)
			spec := strings.NewReplacer("ORDERS", w.path("in/orders")+"/", "OUT", out(dir)).Replace(quickstart)
			spec = strings.Replace(spec, "id: qs,", "id: qs_"+name+",", 1)
			p := w.write("spec/"+name+".yaml", spec)
			if r := w.run("run", "--pipeline", "qs_"+name, "--all", "--ir", p, "--run-id", "r1"); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if rows := tableRows(t, dir); len(rows) == 0 {
				t.Fatal("the published version holds no rows")
			}
			ents, _ := filepath.Glob(filepath.Join(dir, "part-*"))
			if len(ents) == 0 {
				t.Fatalf("no data file left in %s", dir)
			}
			for _, e := range ents {
				if _, err := os.Stat(e); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
