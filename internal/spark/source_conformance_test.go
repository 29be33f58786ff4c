//go:build !nospark

package spark_test

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/onelake"
	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sourcetest"
)

// TestSourceConformance runs the source suite on the spark engine for every source kind and
// format that lists it, against the test's Spark Connect server: each committed pin is read the
// way a Spark transform reads its input (the reader the spark engine registered for the kind,
// spark.ReadInput) and counted by Spark. The plugin/builtin coverage test names this test for
// every (source, spark) pair.
func TestSourceConformance(t *testing.T) {
	w := newWorkspace(t)
	s := w.session()
	read := func(t *testing.T, env *plugin.Env) (int, error) {
		ctx := context.Background()
		df, err := spark.ReadInput(ctx, s, env, env.InputOrder[0])
		if err != nil {
			return 0, err
		}
		n, err := df.Count(ctx)
		return int(n), err
	}
	for _, format := range []string{"parquet", "csv", "json"} {
		t.Run("files/"+format, func(t *testing.T) {
			dir, n := t.TempDir(), 0
			add := func(t *testing.T, folder string, rows int) {
				t.Helper()
				n++
				writeFile(t, filepath.Join(folder, fmt.Sprintf("part-%03d.%s", n, format)), format, n*100, rows)
			}
			sourcetest.Run(t, sourcetest.Target{Registry: builtin.Registry(), Kind: "files", Engine: "spark", Read: read,
				Configure: func(c *config.Config) { c.SparkRemote = w.remote },
				Params: func(t *testing.T) map[string]any {
					folder := filepath.Join(dir, fmt.Sprintf("in-%d", n))
					if err := os.MkdirAll(folder, 0o755); err != nil {
						t.Fatal(err)
					}
					add(t, folder, sourcetest.Rows)
					return map[string]any{"path": "file://" + folder + "/", "format": format}
				},
				Append: func(t *testing.T, p map[string]any, rows int) {
					add(t, strings.TrimPrefix(fmt.Sprint(p["path"]), "file://"), rows)
				},
				Rewrite: func(t *testing.T, p map[string]any) {
					folder := strings.TrimPrefix(fmt.Sprint(p["path"]), "file://")
					files, err := filepath.Glob(filepath.Join(folder, "part-*"))
					if err != nil || len(files) == 0 {
						t.Fatalf("no file to rewrite in %s: %v", folder, err)
					}
					writeFile(t, files[0], format, 500, sourcetest.Rows+2)
				},
			})
		})
	}
	t.Run("onelake/delta", func(t *testing.T) {
		lake, n := "file://"+filepath.Join(t.TempDir(), "lake"), 0
		// Each insert is one Delta commit of one Parquet file, written in Go the way the arrow
		// engine's onelake sink writes (Spark SQL inserts took over two minutes here).
		insert := func(t *testing.T, table string, from, rows int) {
			t.Helper()
			ctx := context.Background()
			dir, err := onelake.TableDir(lake, table)
			if err != nil {
				t.Fatal(err)
			}
			st := objstore.New(objstore.Options{})
			tbl := delta.New(st, strings.TrimSuffix(dir, "/"))
			plan, err := tbl.Begin(ctx, delta.Write{Mode: "append", Schema: rowSchema})
			if err != nil {
				t.Fatal(err)
			}
			uri := fmt.Sprintf("%s/part-%05d.parquet", tbl.URI(), from)
			path := strings.TrimPrefix(uri, "file://")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			writeParquetFile(t, path, from, rows)
			sc, _ := delta.SchemaOf(rowSchema)
			stats, err := delta.FileStats(ctx, st, uri, sc)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := plan.Commit(ctx, []delta.NewFile{{URI: uri, Size: fi.Size(), Stats: stats}}); err != nil {
				t.Fatal(err)
			}
		}
		sourcetest.Run(t, sourcetest.Target{Registry: builtin.Registry(), Kind: "onelake", Engine: "spark", Read: read,
			Configure: func(c *config.Config) { c.LakeRoot, c.SparkRemote = lake, w.remote },
			Params: func(t *testing.T) map[string]any {
				n++
				table := fmt.Sprintf("sourcetest.d%d", n)
				insert(t, table, 0, sourcetest.Rows)
				return map[string]any{"table": table, "format": "delta"}
			},
			Append: func(t *testing.T, p map[string]any, rows int) { insert(t, fmt.Sprint(p["table"]), 1000, rows) },
		})
	})
	t.Run("onelake/parquet", func(t *testing.T) {
		if os.Getenv("SPARK_SOURCETEST_CHILD") != "1" {
			parquetCatalogTableInChild(t)
			return
		}
		n := 0
		sqlExec(t, s, "CREATE NAMESPACE IF NOT EXISTS tmp"+w.sfx)
		sourcetest.Run(t, sourcetest.Target{Registry: builtin.Registry(), Kind: "onelake", Engine: "spark", Read: read,
			Configure: func(c *config.Config) { c.SparkRemote = w.remote },
			Params: func(t *testing.T) map[string]any {
				n++
				table := fmt.Sprintf("tmp%s.sourcetest_p%d", w.sfx, n)
				sqlExec(t, s, "CREATE TABLE "+table+" (user_id BIGINT, amount DOUBLE) USING parquet")
				sqlExec(t, s, "INSERT INTO "+table+" "+values(0, sourcetest.Rows))
				return map[string]any{"table": table, "format": "parquet"}
			},
			Append: func(t *testing.T, p map[string]any, rows int) {
				sqlExec(t, s, "INSERT INTO "+fmt.Sprint(p["table"])+" "+values(1000, rows))
			},
		})
	})
	for _, kind := range []string{"kafka", "onestream"} {
		t.Run(kind, func(t *testing.T) {
			n := 0
			sourcetest.Run(t, sourcetest.Target{Registry: builtin.Registry(), Kind: kind, Engine: "spark", Read: read,
				Configure: func(c *config.Config) { c.SparkRemote = w.remote },
				Params: func(t *testing.T) map[string]any {
					n++
					topic := fmt.Sprintf("sourcetest-%s-%d", kind, n)
					c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(c.Close)
					produceJSON(t, c.ListenAddrs(), topic, int32(n%2), 0, sourcetest.Rows)
					return map[string]any{"topic": topic, "brokers": []any{c.ListenAddrs()[0]}, "starting_offsets": "earliest",
						"value_format": "json", "schema": map[string]any{"user_id": "int64", "amount": "float64"}}
				},
				Append: func(t *testing.T, p map[string]any, rows int) {
					produceJSON(t, []string{fmt.Sprint(p["brokers"].([]any)[0])}, fmt.Sprint(p["topic"]), 1, 100, rows)
				},
			})
		})
	}
}

// parquetCatalogTableInChild runs the suite on a onelake parquet catalog table (the spark
// engine's format parquet) in a child process of this test binary and checks its verdict: three
// properties hold, and consumers-read-the-pin cannot, by design. Spark keeps no versions of a
// parquet table, so the source pins it by name and partition filter and a consumer reads the
// catalog's state at its own read: rows appended after the pin are read too (docs/plugins.md).
func parquetCatalogTableInChild(t *testing.T) {
	cmd := osexec.Command(os.Args[0], "-test.run=^TestSourceConformance$/^onelake$/^parquet$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "SPARK_SOURCETEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a parquet catalog table on spark, which keeps no versions: if Spark now pins it, "+
			"run it here directly and update docs/plugins.md\n%s", out)
	}
	for _, want := range []string{
		"--- PASS: TestSourceConformance/onelake/parquet/RetryIsNoOp",
		"--- FAIL: TestSourceConformance/onelake/parquet/ConsumersReadThePin",
		"reads 8 rows, want 5",
		"--- PASS: TestSourceConformance/onelake/parquet/KilledBeforeCommit",
		"--- PASS: TestSourceConformance/onelake/parquet/ConcurrentAttemptsCommitOnce",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the child run lacks %q:\n%s", want, out)
		}
	}
}

// values is a VALUES clause of rows (user_id from, from+1, ...; amount i + 0.5).
func values(from, rows int) string {
	vs := make([]string, rows)
	for i := range vs {
		vs[i] = fmt.Sprintf("(%d, %d.5)", from+i, i)
	}
	return "VALUES " + strings.Join(vs, ", ")
}

func sqlExec(t *testing.T, s *spark.Session, q string) {
	t.Helper()
	if err := s.Exec(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// writeFile writes rows (user_id from, from+1, ...) as one file of the format at path.
func writeFile(t *testing.T, path, format string, from, rows int) {
	t.Helper()
	var b strings.Builder
	switch format {
	case "csv":
		b.WriteString("user_id,amount\n")
		for i := range rows {
			fmt.Fprintf(&b, "%d,%d.5\n", from+i, i)
		}
	case "json":
		for i := range rows {
			fmt.Fprintf(&b, "{\"user_id\": %d, \"amount\": %d.5}\n", from+i, i)
		}
	case "parquet":
		writeParquetFile(t, path, from, rows)
		return
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func produceJSON(t *testing.T, brokers []string, topic string, partition int32, from, rows int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range rows {
		v := fmt.Sprintf(`{"user_id": %d, "amount": %d.5}`, from+i, i)
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// rowSchema is the schema of the rows every source of TestSourceConformance holds.
var rowSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

func writeParquetFile(t *testing.T, path string, from, rows int) {
	t.Helper()
	sc := rowSchema
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i := range rows {
		b.Field(0).(*array.Int64Builder).Append(int64(from + i))
		b.Field(1).(*array.Float64Builder).Append(float64(i) + 0.5)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
