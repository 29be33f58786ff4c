// Package objstoretest gives tests an in-process S3 (gofakes3), the real test gateway that
// `make test` starts (versitygw), and the conformance suite every objstore backend passes.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// FakeS3 starts an in-process S3 server with one bucket and returns a Store that talks to it
// (path-style, static credentials) and the bucket's URI, s3://<bucket>/.
func FakeS3(t testing.TB) (*objstore.Store, string) {
	t.Helper()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	const bucket = "aiflow-test"
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	st := objstore.New(objstore.Options{S3Endpoint: srv.URL, AccessKeyID: "test", SecretAccessKey: "test"})
	return st, "s3://" + bucket + "/"
}

var bucketSeq atomic.Int64

// RealS3 returns a Store for the S3 gateway of `make test` (AIFLOW_TEST_S3_*) and a fresh bucket
// on it, s3://<bucket>/, removed at the end of the test. Without the gateway the test skips, or
// fails under CI=true (testenv.Require).
func RealS3(t testing.TB) (*objstore.Store, string) {
	t.Helper()
	ep := testenv.Require(t, testenv.S3Endpoint)
	opts := objstore.Options{
		S3Endpoint:      ep,
		AccessKeyID:     testenv.Require(t, testenv.S3AccessKey),
		SecretAccessKey: testenv.Require(t, testenv.S3SecretKey),
	}
	st := objstore.New(opts)
	c := s3.New(s3.Options{
		BaseEndpoint: aws.String(ep), UsePathStyle: true, Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: opts.AccessKeyID, SecretAccessKey: opts.SecretAccessKey}, nil
		}),
	})
	var rnd [4]byte
	rand.Read(rnd[:])
	bucket := fmt.Sprintf("aiflow-test-%x-%d", rnd, bucketSeq.Add(1))
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s on %s: %v", bucket, ep, err)
	}
	t.Cleanup(func() {
		if err := st.DeletePrefix(ctx, "s3://"+bucket+"/"); err != nil {
			t.Logf("cleanup: %v", err)
		}
		c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	return st, "s3://" + bucket + "/"
}

// Conformance runs the behaviour every backend must share under base (a folder URI ending in "/",
// empty at the start).
func Conformance(t *testing.T, st *objstore.Store, base string) {
	ctx := context.Background()
	u := func(rel string) string {
		t.Helper()
		s, err := objstore.Join(base, rel)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mustPut := func(uri, body string) {
		t.Helper()
		if err := st.Put(ctx, uri, strings.NewReader(body)); err != nil {
			t.Fatalf("put %s: %v", uri, err)
		}
	}

	t.Run("PutGetStat", func(t *testing.T) {
		mustPut(u("a/one.txt"), "hello")
		b, err := st.Get(ctx, u("a/one.txt"))
		if err != nil || string(b) != "hello" {
			t.Fatalf("get = %q, %v", b, err)
		}
		info, err := st.Stat(ctx, u("a/one.txt"))
		if err != nil || info.Size != 5 || info.ETag == "" || info.URI != u("a/one.txt") || info.ModTime.IsZero() {
			t.Fatalf("stat = %+v, %v", info, err)
		}
		mustPut(u("a/one.txt"), "hello, world")
		info2, _ := st.Stat(ctx, u("a/one.txt"))
		if info2.Size != 12 || info2.ETag == info.ETag {
			t.Fatalf("overwrite: stat %+v, before %+v", info2, info)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		for name, f := range map[string]func() error{
			"stat":   func() error { _, err := st.Stat(ctx, u("nope/x")); return err },
			"get":    func() error { _, err := st.Get(ctx, u("nope/x")); return err },
			"reader": func() error { _, err := st.NewReader(ctx, u("nope/x")); return err },
		} {
			err := f()
			if !errors.Is(err, objstore.ErrNotExist) || fault.ClassOf(err) != fault.Data || !strings.Contains(err.Error(), "nope/x") {
				t.Errorf("%s: err = %v (class %v), want Data naming nope/x wrapping ErrNotExist", name, err, fault.ClassOf(err))
			}
		}
		if err := st.Delete(ctx, u("nope/x")); err != nil {
			t.Errorf("delete missing: %v", err)
		}
		objs, err := st.List(ctx, u("nope/"))
		if err != nil || len(objs) != 0 {
			t.Errorf("list missing = %v, %v", objs, err)
		}
	})

	t.Run("ListSortedRecursive", func(t *testing.T) {
		for _, k := range []string{"l/b/2", "l/a", "l/b/1", "l/c/d/e", "lx"} {
			mustPut(u(k), k)
		}
		objs, err := st.List(ctx, u("l/"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, strings.TrimPrefix(o.URI, base))
			if o.Size != int64(len(strings.TrimPrefix(o.URI, base))) {
				t.Errorf("%s: size %d", o.URI, o.Size)
			}
		}
		if want := "l/a l/b/1 l/b/2 l/c/d/e"; strings.Join(got, " ") != want {
			t.Errorf("list = %v, want %s", got, want)
		}
		objs, _ = st.List(ctx, u("l"))
		if len(objs) != 5 {
			t.Errorf("list of key prefix %q: %d objects, want 5", u("l"), len(objs))
		}
		dirs, files, err := st.ListDir(ctx, u("l"))
		if err != nil || len(files) != 1 || files[0].URI != u("l/a") ||
			strings.Join(dirs, " ") != u("l/b/")+" "+u("l/c/") {
			t.Errorf("listdir = %v %v %v", dirs, files, err)
		}
	})

	t.Run("RangedReader", func(t *testing.T) {
		data := make([]byte, 3<<20+123)
		rand.Read(data)
		if err := st.Put(ctx, u("r/blob"), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		r, err := st.NewReader(ctx, u("r/blob"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Size() != int64(len(data)) {
			t.Fatalf("size %d", r.Size())
		}
		for _, c := range []struct{ off, n int64 }{{0, 10}, {len64(data) - 8, 8}, {len64(data) - 100, 92}, {1 << 20, 2 << 20}, {5, 1}, {len64(data) - 1, 1}} {
			p := make([]byte, c.n)
			n, err := r.ReadAt(p, c.off)
			if (err != nil && err != io.EOF) || int64(n) != c.n || !bytes.Equal(p, data[c.off:c.off+c.n]) {
				t.Errorf("ReadAt(%d, %d) = %d, %v", c.n, c.off, n, err)
			}
		}
		p := make([]byte, 100)
		n, err := r.ReadAt(p, len64(data)-50)
		if n != 50 || err != io.EOF || !bytes.Equal(p[:50], data[len(data)-50:]) {
			t.Errorf("ReadAt past end = %d, %v", n, err)
		}
		if _, err := r.Seek(10, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(all, data[10:]) {
			t.Errorf("sequential read: %d bytes, %v", len(all), err)
		}
	})

	t.Run("BigPut", func(t *testing.T) {
		// Above the 8 MiB part size: multipart on S3.
		data := make([]byte, 17<<20+5)
		rand.Read(data)
		if err := st.Put(ctx, u("big/blob"), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		b, err := st.Get(ctx, u("big/blob"))
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("get big: %d bytes, %v", len(b), err)
		}
	})

	t.Run("FailedPutPublishesNothing", func(t *testing.T) {
		boom := fault.Dataf("boom")
		for _, size := range []int{10, 9 << 20} {
			r := io.MultiReader(bytes.NewReader(make([]byte, size)), errReader{boom})
			err := st.Put(ctx, u("fail/x"), r)
			if !errors.Is(err, boom) {
				t.Errorf("size %d: err = %v, want boom", size, err)
			}
			if _, err := st.Stat(ctx, u("fail/x")); !errors.Is(err, objstore.ErrNotExist) {
				t.Errorf("size %d: object visible after failed put: %v", size, err)
			}
		}
		objs, _ := st.List(ctx, u("fail/"))
		if len(objs) != 0 {
			t.Errorf("leftovers: %v", objs)
		}
	})

	t.Run("PutIfAbsent", func(t *testing.T) {
		if err := st.PutIfAbsent(ctx, u("once/m.json"), strings.NewReader("1")); err != nil {
			t.Fatal(err)
		}
		err := st.PutIfAbsent(ctx, u("once/m.json"), strings.NewReader("2"))
		if !errors.Is(err, objstore.ErrExist) {
			t.Fatalf("second PutIfAbsent: %v, want ErrExist", err)
		}
		if b, _ := st.Get(ctx, u("once/m.json")); string(b) != "1" {
			t.Fatalf("content %q after refused put", b)
		}
	})

	t.Run("CopyDelete", func(t *testing.T) {
		mustPut(u("c/src"), "copy me")
		if err := st.Copy(ctx, u("c/src"), u("c/sub dir/dst+1")); err != nil {
			t.Fatal(err)
		}
		if b, err := st.Get(ctx, u("c/sub dir/dst+1")); err != nil || string(b) != "copy me" {
			t.Fatalf("copy = %q, %v", b, err)
		}
		if err := st.Delete(ctx, u("c/src")); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Stat(ctx, u("c/src")); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("after delete: %v", err)
		}
		for i := range 5 {
			mustPut(u(fmt.Sprintf("c/many/%d/x", i)), "x")
		}
		if err := st.DeletePrefix(ctx, u("c/")); err != nil {
			t.Fatal(err)
		}
		if objs, err := st.List(ctx, u("c/")); err != nil || len(objs) != 0 {
			t.Fatalf("after DeletePrefix: %v, %v", objs, err)
		}
	})
}

func len64(b []byte) int64 { return int64(len(b)) }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
