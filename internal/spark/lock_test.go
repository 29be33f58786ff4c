//go:build !nospark

package spark_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/spark"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Two attempts of one run appending to an existing parquet catalog table at once (a zombie task
// beside its retry), in the interleaving that doubled the rows before the table lock: the second
// attempt reads the table's last commit before the first records it, then stages after the
// first's move, so its staging table holds the first attempt's rows plus its own. The hooks force
// that order when nothing prevents it; with the lock the second attempt only starts once the first
// is done, finds its commit and writes nothing. The table then holds its old rows and the run's
// once.
func TestConcurrentAppendsToOneTableWriteOnce(t *testing.T) {
	w := newWorkspace(t)
	ctx := context.Background()
	meta, err := metadata.Open(ctx, "sqlite://"+filepath.Join(w.dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	table := "tmp" + w.sfx + ".events"
	s0 := w.session()
	if err := s0.Exec(ctx, "CREATE NAMESPACE IF NOT EXISTS tmp"+w.sfx); err != nil {
		t.Fatal(err)
	}
	env := func(try int) *plugin.Env {
		return &plugin.Env{Pipeline: &ir.Pipeline{ID: "locks"}, Node: &ir.Node{ID: "out"}, RunID: "r1", Try: try,
			Meta: meta, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	write := func(s *spark.Session, try int, run string) (spark.TableResult, error) {
		df, err := s.Sql(ctx, "SELECT id, 'x' AS v FROM range(5)")
		if err != nil {
			return spark.TableResult{}, err
		}
		e := env(try)
		e.RunID = run
		return spark.WriteTableLocked(ctx, e, s, df, spark.TableWrite{Name: table, Format: "parquet", Mode: "append", Commit: "locks/" + run + "/out"})
	}
	if _, err := write(s0, 1, "r0"); err != nil { // an earlier run's 5 rows
		t.Fatal(err)
	}

	var mu sync.Mutex
	checked, firstWritten, secondChecked := 0, make(chan struct{}), make(chan struct{})
	sessions := []*spark.Session{w.session(), w.session()}
	moved := false
	restore := spark.SetHook(func(stage string) error {
		mu.Lock()
		defer mu.Unlock()
		switch stage {
		case "table-checked":
			checked++
			if checked == 2 {
				close(secondChecked)
				mu.Unlock()
				// Stage only after the first attempt moved its rows into the table.
				select {
				case <-firstWritten:
				case <-time.After(20 * time.Second):
				}
				mu.Lock()
			}
		case "table-written":
			if !moved {
				moved = true
				close(firstWritten)
				mu.Unlock()
				// Record the commit only after the second attempt read the table's last commit,
				// if anything let it get that far.
				select {
				case <-secondChecked:
				case <-time.After(3 * time.Second):
				}
				mu.Lock()
			}
		}
		return nil
	})
	defer restore()
	var wg sync.WaitGroup
	res := make([]spark.TableResult, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { res[i], errs[i] = write(sessions[i], i+1, "r1") })
	}
	wg.Wait()
	restore()
	written := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("attempt %d: %v (class %v)", i+1, err, fault.ClassOf(err))
		}
		if !res[i].AlreadyWritten {
			written++
		}
	}
	if written != 1 {
		t.Errorf("%d attempts wrote the table, want 1 (the other finds the commit)", written)
	}
	if n := count(t, s0, "SELECT count(*) FROM "+table); n != 10 {
		t.Fatalf("the table holds %d rows, want the earlier run's 5 and this run's 5", n)
	}
}

func TestTableLockName(t *testing.T) {
	for _, tt := range []struct{ table, want string }{
		{"events", "spark-table:default.events"},
		{"Sales.Orders", "spark-table:sales.orders"},
		{"default.events", "spark-table:default.events"},
		{"cat.ns.t", "spark-table:cat.ns.t"},
	} {
		if got := spark.TableLockName(tt.table); got != tt.want {
			t.Errorf("TableLockName(%q) = %q, want %q", tt.table, got, tt.want)
		}
	}
}
