package delta_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/objstore/objstoretest"
)

// On the real S3 gateway (versitygw) a commit is a conditional PutObject (If-None-Match: *):
// concurrent writers each get their own version, none is lost, and a retry finds its txn.
func TestOnS3(t *testing.T) {
	st, base := objstoretest.RealS3(t)
	tbl := delta.New(st, base+"lake/orders")
	write(t, st, tbl, delta.Write{Mode: delta.Overwrite, PartitionBy: []string{"dt"}, AppID: "init"}, "init", []int64{0}, []string{"a"})
	var wg sync.WaitGroup
	for i := 1; i <= 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("w%d", i)
			write(t, st, tbl, delta.Write{Mode: delta.Append, AppID: id}, id, []int64{int64(i)}, []string{"b"})
		}(i)
	}
	wg.Wait()
	if got := readIDs(t, tbl, nil); !slices.Equal(got, []int64{0, 1, 2, 3, 4}) {
		t.Fatalf("concurrent appends on S3: %v", got)
	}
	p, _ := write(t, st, tbl, delta.Write{Mode: delta.Append, AppID: "w2"}, "w2b", []int64{99}, []string{"b"})
	if p.Decision != delta.AlreadyCommitted {
		t.Fatalf("retry of w2: decision %v", p.Decision)
	}
}

// An endpoint that ignores If-None-Match could let two writers commit one version: the commit
// is refused as a configuration error before anything is committed. The endpoint here is
// gofakes3 behind a proxy that drops the header.
func TestS3WithoutConditionalWrites(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("b"); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("If-None-Match")
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	st := objstore.New(objstore.Options{S3Endpoint: srv.URL, AccessKeyID: "test", SecretAccessKey: "test"})
	tbl := delta.New(st, "s3://b/lake/orders")
	ctx := context.Background()
	p, err := tbl.Begin(ctx, delta.Write{Mode: delta.Append, Schema: inSchema})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Commit(ctx, nil)
	if fault.ClassOf(err) != fault.Config || !strings.Contains(err.Error(), "If-None-Match") {
		t.Fatalf("commit on an endpoint without conditional writes: %v", err)
	}
	if _, err := tbl.Latest(ctx); err == nil {
		t.Fatal("a version was committed")
	}
}
