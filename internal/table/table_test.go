package table

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

func publishOne(t *testing.T, st *objstore.Store, dir string, w Writer, file string) (Decision, *Version) {
	t.Helper()
	ctx := context.Background()
	d, cur, err := Plan(ctx, st, dir, "append", w)
	if err != nil {
		t.Fatal(err)
	}
	if d != Write {
		return d, cur
	}
	uri := dir + "/" + file
	if err := st.Put(ctx, uri, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	v, err := Commit(ctx, st, dir, cur, Version{Format: "parquet", Mode: "append", Writer: w,
		Files: []dataset.FileInfo{{URI: uri, Size: 1}}}, map[string]int64{uri: 1})
	if err != nil {
		t.Fatalf("publish %s: %v", w.Node, err)
	}
	return d, v
}

// A writer killed after creating v-<n> but before flipping current.json must not wedge the
// table (every later publish colliding with v-<n>), and its retry must not publish twice.
func TestVersionWithoutCurrentIsFollowed(t *testing.T) {
	for _, first := range []bool{true, false} {
		ctx := context.Background()
		st := objstore.New(objstore.Options{})
		dir := "file://" + t.TempDir() + "/t"
		if !first {
			publishOne(t, st, dir, Writer{Pipeline: "p", RunID: "r0", Node: "a"}, "part-0.parquet")
		}
		cur, err := Current(ctx, st, dir)
		if err != nil {
			t.Fatal(err)
		}
		next := int64(1)
		if cur != nil {
			next = cur.Version + 1
		}
		// The killed writer: data file and v-<next>, no current.json flip.
		killed := Writer{Pipeline: "p", RunID: "r1", Node: "a"}
		uri := dir + "/part-1.parquet"
		_ = st.Put(ctx, uri, strings.NewReader("x"))
		v := Version{Version: next, Previous: next - 1, Format: "parquet", Mode: "append", Writer: killed,
			Files: []dataset.FileInfo{{URI: uri, Size: 1}}, FileRows: map[string]int64{uri: 1}}
		if cur != nil {
			v.Files = append(cur.Files, v.Files...)
		}
		b, _ := json.Marshal(v)
		if err := st.PutIfAbsent(ctx, versionURI(dir, next), strings.NewReader(string(b))); err != nil {
			t.Fatal(err)
		}

		// Its retry recognises its own version and repairs current.json.
		d, got := publishOne(t, st, dir, killed, "part-1.parquet")
		if d != AlreadyPublished || got.Version != next {
			t.Fatalf("first=%v: retry of the killed writer: decision %v version %+v, want AlreadyPublished of v%d", first, d, got, next)
		}
		raw, err := st.Get(ctx, currentURI(dir))
		if err != nil {
			t.Fatal(err)
		}
		var c Version
		_ = json.Unmarshal(raw, &c)
		if c.Version != next {
			t.Fatalf("first=%v: current.json names v%d, want v%d", first, c.Version, next)
		}
	}
}

func TestOtherWriterPublishesPastOrphanVersion(t *testing.T) {
	ctx := context.Background()
	st := objstore.New(objstore.Options{})
	dir := "file://" + t.TempDir() + "/t"
	publishOne(t, st, dir, Writer{Pipeline: "p", RunID: "r0", Node: "a"}, "part-0.parquet")
	uri := dir + "/part-1.parquet"
	_ = st.Put(ctx, uri, strings.NewReader("x"))
	v := Version{Version: 2, Previous: 1, Format: "parquet", Mode: "append", Writer: Writer{Pipeline: "p", RunID: "r1", Node: "a"},
		Files: []dataset.FileInfo{{URI: dir + "/part-0.parquet", Size: 1}, {URI: uri, Size: 1}}}
	b, _ := json.Marshal(v)
	if err := st.PutIfAbsent(ctx, versionURI(dir, 2), strings.NewReader(string(b))); err != nil {
		t.Fatal(err)
	}
	// Another run publishes: before the fix, v-2 collided forever (a Temporary error on every try).
	_, got := publishOne(t, st, dir, Writer{Pipeline: "p", RunID: "r2", Node: "a"}, "part-2.parquet")
	if got.Version != 3 || len(got.Files) != 3 {
		t.Fatalf("got version %d with %d files, want v3 with 3 files", got.Version, len(got.Files))
	}
}
