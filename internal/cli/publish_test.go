package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// publishSpec: one arrow transform feeding four sinks. The first two want exactly what the
// transform staged (zstd Parquet, no partitions); the last two do not (snappy; a partitioned
// Delta table).
const publishSpec = `api_version: aiflow/v1
pipeline: {id: pub, owner: me, team: t, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: ORDERS, format: parquet}
  - id: by_user
    transform: arrow
    inputs: [orders]
    with:
      steps:
        - filter: "status = 'paid'"
        - group_by: {keys: [user_id, dt], aggs: {n: "count(*)", amt: "sum(amount)"}}
  - id: folder
    sink: files
    inputs: [by_user]
    with: {path: OUT/folder/}
  - id: lake
    sink: onelake
    inputs: [by_user]
    with: {table: pub.by_user}
  - id: snappy
    sink: files
    inputs: [by_user]
    with: {path: OUT/snappy/, compression: snappy}
  - id: lake_by_day
    sink: onelake
    inputs: [by_user]
    with: {table: pub.by_day, partition_by: [dt]}
`

// A staged output already in the sink's format is published as it is: the folder's and the
// Delta table's data files are the files the transform staged, hard links on a local disk
// (nothing decoded, encoded or even copied), and readers see the same rows. A sink that wants another compression or a
// partitioned table still writes its own files.
func TestPublishCopiesStagedParquet(t *testing.T) {
	w := newWorkspace(t)
	w.env["AIFLOW_LAKE_ROOT"] = w.path("lake")
	w.orders("in/orders", 20000)
	spec := strings.NewReplacer("ORDERS", w.path("in/orders")+"/", "OUT", w.path("out")).Replace(publishSpec)
	p := w.write("spec/pub.yaml", spec)
	if r := w.run("run", "--pipeline", "pub", "--all", "--ir", p, "--run-id", "r1"); r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	staged := globOne(t, w.path(".aiflow/staging/pub/r1/by_user/attempt-*/*.parquet"))
	want, err := os.ReadFile(staged)
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range []string{"out/folder/part-*.parquet", "lake/pub/by_user/part-*.parquet"} {
		got, err := os.ReadFile(globOne(t, w.path(pattern)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, not the staged file (%d bytes): re-encoded instead of copied", pattern, len(got), len(want))
		}
		// On one local file system, publishing is a hard link: metadata only, no byte copied.
		a, err1 := os.Stat(staged)
		b, err2 := os.Stat(globOne(t, w.path(pattern)))
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			t.Errorf("%s: not a hard link to the staged file (%v, %v)", pattern, err1, err2)
		}
	}
	if codec := parquetCodec(t, globOne(t, w.path("out/snappy/part-*.parquet"))); codec != compress.Codecs.Snappy {
		t.Errorf("compression: snappy sink wrote %s", codec)
	}
	days, _ := filepath.Glob(w.path("lake/pub/by_day/dt=*/part-*.parquet"))
	if len(days) < 2 {
		t.Errorf("partitioned table: %d files under dt=…, want one per day: %v", len(days), days)
	}

	// Every copy holds the transform's rows.
	rows := parquetRows(t, staged)
	if rows == 0 {
		t.Fatal("the transform staged no rows")
	}
	for _, pattern := range []string{"out/folder/part-*.parquet", "lake/pub/by_user/part-*.parquet", "out/snappy/part-*.parquet", "lake/pub/by_day/dt=*/part-*.parquet"} {
		n := int64(0)
		files, _ := filepath.Glob(w.path(pattern))
		for _, f := range files {
			n += parquetRows(t, f)
		}
		if n != rows {
			t.Errorf("%s: %d rows, the transform staged %d", pattern, n, rows)
		}
	}
	lake := string(must(os.ReadFile(globOne(t, w.path("lake/pub/by_user/_delta_log/00000000000000000000.json")))))
	if !strings.Contains(lake, `\"numRecords\":`+itoa(int(rows))) {
		t.Errorf("the Delta log's add action does not count %d records:\n%s", rows, lake)
	}
}

func globOne(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		t.Fatalf("%s: %d matches, want 1: %v", pattern, len(m), m)
	}
	return m[0]
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func parquetRows(t *testing.T, path string) int64 {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	return pf.NumRows()
}

func parquetCodec(t *testing.T, path string) compress.Compression {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	cc, err := pf.MetaData().RowGroup(0).ColumnChunk(0)
	if err != nil {
		t.Fatal(err)
	}
	return cc.Compression()
}
