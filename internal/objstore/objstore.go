// Package objstore is aiflow's small blob interface over file:// and s3://.
//
// A Store is keyed by URI: every operation takes a full URI (`file:///abs/path`, `s3://bucket/key`),
// so one Store serves the staging area, sources and sinks alike. Errors are classified where they
// arise (package fault): a missing object is fault.Data wrapping fs.ErrNotExist, a bad URI or a
// denied credential is fault.Config, a refused connection, a timeout, throttling or a 5xx is
// fault.Temporary (after the SDK's bounded retries).
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/pathguard"
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	URI     string    // full URI of the object: s3://bucket/key or file:///abs/path
	Size    int64     // bytes
	ETag    string    // S3 ETag without quotes; for files a hex digest of size and mtime
	ModTime time.Time // last modification
}

// Options configure a Store. The zero value works: file:// needs nothing, s3:// uses the SDK's
// default credential chain and AWS endpoints.
type Options struct {
	// S3Endpoint is the base URL of an S3-compatible endpoint (AIFLOW_S3_ENDPOINT). When set,
	// path-style addressing is used.
	S3Endpoint string
	// Region is the S3 region (AWS_REGION, default us-east-1).
	Region string
	// AccessKeyID and SecretAccessKey, when both set, are used instead of the SDK credential chain.
	AccessKeyID, SecretAccessKey string
	// MaxAttempts bounds each S3 request's attempts, retries included (default 3).
	MaxAttempts int
	// MaxBackoff bounds the delay between two attempts (default 500ms).
	MaxBackoff time.Duration
	// ConnectTimeout bounds the TCP connect to the endpoint (default 3s), so an endpoint that is
	// down fails fast with fault.Temporary.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for response headers once a request is sent (default 20s):
	// an endpoint that accepts connections and never answers costs at most MaxAttempts of it
	// (plus backoff) per call, less when the caller's context ends first (docs/deadlines.md).
	ResponseTimeout time.Duration
	// Log, when set, gets one line per retried S3 request (what failed, which attempt), so a
	// node waiting on a slow or hung endpoint says so.
	Log *slog.Logger
	// PartSize is the multipart upload part size and the threshold above which Put uses multipart
	// (default 8 MiB, at least 5 MiB).
	PartSize int64
	// ReadAhead is the window a Reader fetches for small reads on S3 (default 1 MiB).
	ReadAhead int
	// Guard, when set, confines every local path the store opens, creates, lists or removes
	// (AIFLOW_ALLOWED_ROOTS): the path is resolved, symlinks and `..` included, before each
	// operation, so a link planted inside an allowed folder (a partition folder, a table's
	// metadata or _delta_log folder) cannot lead a write or a read outside the roots.
	Guard *pathguard.Guard
}

func (o Options) withDefaults() Options {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 500 * time.Millisecond
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 3 * time.Second
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = 20 * time.Second
	}
	if o.PartSize <= 0 {
		o.PartSize = 8 << 20
	}
	if o.PartSize < 5<<20 {
		o.PartSize = 5 << 20
	}
	if o.ReadAhead <= 0 {
		o.ReadAhead = 1 << 20
	}
	return o
}

// ErrNotExist and ErrExist are matched with errors.Is on errors from a Store.
var (
	ErrNotExist = fs.ErrNotExist
	ErrExist    = fs.ErrExist
)

// Store reads and writes objects by URI. It is safe for concurrent use.
type Store struct {
	opts Options
	file *fileDriver

	s3once sync.Once
	s3     *s3Driver
	s3err  error

	probed sync.Map // bucket → probeResult (CheckPutIfAbsent)
}

// New returns a Store. The S3 client is built on the first s3:// operation.
func New(opts Options) *Store {
	return &Store{opts: opts.withDefaults(), file: &fileDriver{guard: opts.Guard}}
}

// loc is a parsed URI.
type loc struct {
	scheme string // "file" or "s3"
	bucket string // s3 only
	key    string // s3: object key (may end with "/" for prefixes); file: absolute cleaned path
	dir    bool   // the URI ended with "/"
}

func (l loc) String() string {
	if l.scheme == "s3" {
		return "s3://" + l.bucket + "/" + l.key
	}
	s := "file://" + filepath.ToSlash(l.key)
	if l.dir && !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s
}

// parse accepts s3://bucket/key, file:///abs/path, file://localhost/abs/path, file://rel/path
// (made absolute against the working directory) and a plain path (treated as file://).
func parse(uri string) (loc, error) {
	if strings.ContainsRune(uri, 0) {
		return loc{}, fault.Configf("invalid URI %q: contains NUL", uri)
	}
	switch {
	case strings.HasPrefix(uri, "s3://"):
		rest := strings.TrimPrefix(uri, "s3://")
		bucket, key, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return loc{}, fault.Configf("invalid URI %q: no bucket", uri)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == ".." || seg == "." {
				return loc{}, fault.Configf("invalid URI %q: %q segment", uri, seg)
			}
		}
		return loc{scheme: "s3", bucket: bucket, key: key, dir: key == "" || strings.HasSuffix(key, "/")}, nil
	case strings.HasPrefix(uri, "file://localhost/"):
		// RFC 8089: the host localhost is the local machine, the path is absolute (as the
		// policy check and Spark read it), not a folder named localhost.
		return parseFile(uri, strings.TrimPrefix(uri, "file://localhost"))
	case strings.HasPrefix(uri, "file://"):
		return parseFile(uri, strings.TrimPrefix(uri, "file://"))
	case strings.Contains(uri, "://"):
		return loc{}, fault.Configf("invalid URI %q: unsupported scheme (want file:// or s3://)", uri)
	default:
		return parseFile(uri, uri)
	}
}

func parseFile(uri, p string) (loc, error) {
	if p == "" {
		return loc{}, fault.Configf("invalid URI %q: empty path", uri)
	}
	dir := strings.HasSuffix(p, "/")
	abs, err := filepath.Abs(filepath.FromSlash(p))
	if err != nil {
		return loc{}, fault.Wrap(fault.Config, err, "invalid URI %q", uri)
	}
	return loc{scheme: "file", key: abs, dir: dir}, nil
}

// Clean returns the canonical form of a URI: file paths absolute and cleaned, a trailing "/" kept.
func Clean(uri string) (string, error) {
	l, err := parse(uri)
	if err != nil {
		return "", err
	}
	return l.String(), nil
}

// Join appends the relative path rel to base. rel must be relative and must not escape base with
// ".." (fault.Config); it is cleaned. A trailing "/" on rel is kept.
func Join(base, rel string) (string, error) {
	if strings.ContainsRune(rel, 0) || strings.ContainsRune(base, 0) {
		return "", fault.Configf("invalid path %q: contains NUL", rel)
	}
	r := strings.ReplaceAll(rel, "\\", "/")
	if strings.HasPrefix(r, "/") {
		return "", fault.Configf("invalid relative path %q: absolute", rel)
	}
	c := path.Clean(r)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fault.Configf("invalid relative path %q: escapes %s", rel, base)
	}
	if c == "." {
		c = ""
	}
	if c != "" && strings.HasSuffix(rel, "/") {
		c += "/"
	}
	b := base
	if !strings.HasSuffix(b, "/") {
		b += "/"
	}
	if _, err := parse(b); err != nil {
		return "", err
	}
	return b + c, nil
}

// driver is one storage backend.
type driver interface {
	list(ctx context.Context, l loc, recursive bool) (objs []ObjectInfo, dirs []string, err error)
	stat(ctx context.Context, l loc) (ObjectInfo, error)
	newReader(ctx context.Context, l loc) (*Reader, error)
	stream(ctx context.Context, l loc) (io.ReadCloser, ObjectInfo, error)
	put(ctx context.Context, l loc, r io.Reader, ifAbsent bool) error
	delete(ctx context.Context, l loc) error
	deleteAll(ctx context.Context, l loc, objs []ObjectInfo) error
	copy(ctx context.Context, src, dst loc) error
}

func (s *Store) driver(uri string) (driver, loc, error) {
	l, err := parse(uri)
	if err != nil {
		return nil, l, err
	}
	if l.scheme == "file" {
		return s.file, l, nil
	}
	s.s3once.Do(func() { s.s3, s.s3err = newS3Driver(s.opts) })
	if s.s3err != nil {
		return nil, l, s.s3err
	}
	return s.s3, l, nil
}

// List returns every object whose URI starts with prefix, recursively, sorted by URI. A prefix
// naming a folder should end with "/" (otherwise "a/b" also matches "a/bc"). A prefix that matches
// nothing gives an empty list, not an error.
func (s *Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	d, l, err := s.driver(prefix)
	if err != nil {
		return nil, err
	}
	objs, _, err := d.list(ctx, l, true)
	return objs, err
}

// ListDir lists one level under the folder dir: the URIs of its subfolders (ending in "/") and its
// objects, both sorted. dir is treated as a folder whether or not it ends with "/".
func (s *Store) ListDir(ctx context.Context, dir string) (dirs []string, objs []ObjectInfo, err error) {
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	d, l, err := s.driver(dir)
	if err != nil {
		return nil, nil, err
	}
	objs, dirs, err = d.list(ctx, l, false)
	return dirs, objs, err
}

// Stat describes one object; a missing object is fault.Data wrapping ErrNotExist.
func (s *Store) Stat(ctx context.Context, uri string) (ObjectInfo, error) {
	d, l, err := s.driver(uri)
	if err != nil {
		return ObjectInfo{}, err
	}
	return d.stat(ctx, l)
}

// NewReader opens an object for random access (io.ReaderAt, io.ReadSeeker): on S3 every ReadAt is
// a ranged GET pinned to the ETag seen at open (a concurrent overwrite fails the read with
// fault.Data instead of mixing two versions); small reads go through a read-ahead window.
func (s *Store) NewReader(ctx context.Context, uri string) (*Reader, error) {
	d, l, err := s.driver(uri)
	if err != nil {
		return nil, err
	}
	return d.newReader(ctx, l)
}

// GetStream opens an object for one sequential read (one GET on S3).
func (s *Store) GetStream(ctx context.Context, uri string) (io.ReadCloser, ObjectInfo, error) {
	d, l, err := s.driver(uri)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return d.stream(ctx, l)
}

// Get reads a whole object into memory; meant for small objects such as manifests.
func (s *Store) Get(ctx context.Context, uri string) ([]byte, error) {
	rc, _, err := s.GetStream(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, classifyRead(err, uri)
	}
	return b, nil
}

// Put writes r to uri atomically: readers see the old object or the whole new one, never a part.
// file://: a temp file in the same folder, fsync, rename. s3://: one PutObject, or a multipart
// upload for objects above Options.PartSize (aborted if r fails). If r returns an error, nothing
// is published.
func (s *Store) Put(ctx context.Context, uri string, r io.Reader) error {
	d, l, err := s.driver(uri)
	if err != nil {
		return err
	}
	if l.dir {
		return fault.Configf("put %s: URI names a folder", uri)
	}
	return d.put(ctx, l, r, false)
}

// PutIfAbsent is Put that fails with fault.Data wrapping ErrExist when uri already exists.
// file:// is atomic (link(2) of the synced temp file). s3:// sends If-None-Match: * (AWS, versitygw,
// MinIO honour it) and first checks with a HEAD, so a backend that ignores the header still rejects
// an object that existed before the call; only a race between two writers then goes undetected.
func (s *Store) PutIfAbsent(ctx context.Context, uri string, r io.Reader) error {
	d, l, err := s.driver(uri)
	if err != nil {
		return err
	}
	if l.dir {
		return fault.Configf("put %s: URI names a folder", uri)
	}
	return d.put(ctx, l, r, true)
}

// Delete removes one object. Deleting a missing object is not an error.
func (s *Store) Delete(ctx context.Context, uri string) error {
	d, l, err := s.driver(uri)
	if err != nil {
		return err
	}
	return d.delete(ctx, l)
}

// DeletePrefix removes every object List(prefix) returns (and, on file://, the folders left empty).
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	d, l, err := s.driver(prefix)
	if err != nil {
		return err
	}
	objs, _, err := d.list(ctx, l, true)
	if err != nil {
		return err
	}
	return d.deleteAll(ctx, l, objs)
}

// RemoveTemps removes, under the folder dir, the temp files of unfinished Puts whose object
// name starts with namePrefix: what a process killed in the middle of a Put (SIGKILL, OOM)
// leaves behind on file://, invisible to List but filling the folder. S3 has no such files (an
// unfinished upload never becomes an object). The caller names a prefix only it writes (a node
// run's file token), so no live writer of another node loses its temp file.
func (s *Store) RemoveTemps(ctx context.Context, dir, namePrefix string) error {
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	_, l, err := s.driver(dir)
	if err != nil || l.scheme != "file" {
		return err
	}
	if err := s.file.confine(l); err != nil {
		return err
	}
	err = filepath.WalkDir(l.key, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), tmpPrefix+namePrefix) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	return fileErr(err, "remove temp files under", dir)
}

// Guard is the confinement of the store's local paths (Options.Guard); nil confines nothing.
func (s *Store) Guard() *pathguard.Guard { return s.opts.Guard }

// ConfineTree checks a local folder this process hands whole to another one (a Spark server
// lists, reads and writes it itself, following any link it meets): the folder and every
// symlink below it must stay within the store's Guard. s3:// and an unguarded store pass.
func (s *Store) ConfineTree(uri string) error {
	if s == nil {
		return nil
	}
	l, err := parse(uri)
	if err != nil || l.scheme != "file" {
		return err
	}
	return s.file.guard.CheckTree(l.key)
}

// Copy copies src to dst. Within one S3 endpoint it is a server-side CopyObject (objects up to
// 5 GiB); across schemes it streams through this process.
func (s *Store) Copy(ctx context.Context, src, dst string) error {
	sd, sl, err := s.driver(src)
	if err != nil {
		return err
	}
	dd, dl, err := s.driver(dst)
	if err != nil {
		return err
	}
	if dl.dir {
		return fault.Configf("copy to %s: URI names a folder", dst)
	}
	if sl.scheme == dl.scheme {
		return sd.copy(ctx, sl, dl)
	}
	rc, _, err := sd.stream(ctx, sl)
	if err != nil {
		return err
	}
	defer rc.Close()
	return dd.put(ctx, dl, rc, false)
}

func notExist(op, uri string) error {
	return &fault.Error{Class: fault.Data, Msg: fmt.Sprintf("%s %s", op, uri), Err: fs.ErrNotExist}
}

func exists(op, uri string) error {
	return &fault.Error{Class: fault.Data, Msg: fmt.Sprintf("%s %s", op, uri), Err: fs.ErrExist}
}

// classifyRead classifies an error from reading an object's body.
func classifyRead(err error, uri string) error {
	return fault.WrapOr(fault.Temporary, err, "read %s", uri)
}
