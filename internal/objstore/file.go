package objstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/pathguard"
)

// tmpPrefix names the temp files of an unfinished Put; List never shows them.
const tmpPrefix = ".aiflow-tmp-"

type fileDriver struct {
	guard *pathguard.Guard // nil: nothing confined
}

// confine refuses (fault.Config) a path that leads outside the allowed roots once its existing
// symlinks are resolved. Called before every operation, not once per sink: a folder inside an
// allowed root may hold a link out. Walks below a checked folder never follow links (WalkDir
// and the regular-file filter of list), so checking the walk's root suffices there.
func (d *fileDriver) confine(l loc) error {
	return d.guard.Check(l.key)
}

var _ driver = (*fileDriver)(nil)

func fileInfo(p string, fi fs.FileInfo) ObjectInfo {
	return ObjectInfo{
		URI:     loc{scheme: "file", key: p}.String(),
		Size:    fi.Size(),
		ETag:    fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size()),
		ModTime: fi.ModTime(),
	}
}

// fileErr classifies an OS error: missing → Data/ErrNotExist, permission → Config, other I/O → Temporary.
func fileErr(err error, op, uri string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return notExist(op, uri)
	case errors.Is(err, fs.ErrExist):
		return exists(op, uri)
	case errors.Is(err, fs.ErrPermission):
		return fault.Wrap(fault.Config, err, "%s %s", op, uri)
	case errors.Is(err, syscall.EISDIR):
		return fault.Wrap(fault.Data, err, "%s %s", op, uri)
	}
	return fault.Wrap(fault.Temporary, err, "%s %s", op, uri)
}

func (d *fileDriver) list(ctx context.Context, l loc, recursive bool) ([]ObjectInfo, []string, error) {
	root, match := l.key, ""
	if !l.dir {
		// A key prefix, as on S3: walk its parent and keep paths starting with it.
		root, match = filepath.Dir(l.key), l.key
	}
	if err := d.confine(loc{scheme: "file", key: root}); err != nil {
		return nil, nil, err
	}
	var objs []ObjectInfo
	var dirs []string
	if !recursive {
		ents, err := os.ReadDir(root)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, fileErr(err, "list", l.String())
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				continue
			}
			p := filepath.Join(root, e.Name())
			if e.IsDir() {
				dirs = append(dirs, loc{scheme: "file", key: p, dir: true}.String())
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if fi.Mode().IsRegular() {
				objs = append(objs, fileInfo(p, fi))
			}
		}
		return objs, dirs, nil
	}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if e.IsDir() {
			if p != root && match != "" && !strings.HasPrefix(p+string(filepath.Separator), match) && !strings.HasPrefix(p, match) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(e.Name(), tmpPrefix) || (match != "" && !strings.HasPrefix(p, match)) {
			return nil
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		objs = append(objs, fileInfo(p, fi))
		return nil
	})
	if err != nil {
		return nil, nil, fileErr(err, "list", l.String())
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].URI < objs[j].URI })
	return objs, nil, nil
}

func (d *fileDriver) stat(ctx context.Context, l loc) (ObjectInfo, error) {
	if err := d.confine(l); err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(l.key)
	if err != nil {
		return ObjectInfo{}, fileErr(err, "stat", l.String())
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, notExist("stat", l.String()+" (not a file)")
	}
	return fileInfo(l.key, fi), nil
}

func (d *fileDriver) newReader(ctx context.Context, l loc) (*Reader, error) {
	f, info, err := d.open(l)
	if err != nil {
		return nil, err
	}
	return &Reader{ra: f, info: info, closer: f.Close}, nil
}

func (d *fileDriver) open(l loc) (*os.File, ObjectInfo, error) {
	if err := d.confine(l); err != nil {
		return nil, ObjectInfo{}, err
	}
	f, err := os.Open(l.key)
	if err != nil {
		return nil, ObjectInfo{}, fileErr(err, "open", l.String())
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, fileErr(err, "open", l.String())
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, ObjectInfo{}, notExist("open", l.String()+" (not a file)")
	}
	return f, fileInfo(l.key, fi), nil
}

func (d *fileDriver) stream(ctx context.Context, l loc) (io.ReadCloser, ObjectInfo, error) {
	f, info, err := d.open(l)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return f, info, nil
}

func (d *fileDriver) put(ctx context.Context, l loc, r io.Reader, ifAbsent bool) (err error) {
	uri := l.String()
	dir := filepath.Dir(l.key)
	// Before MkdirAll, which would create folders through a link that leads out.
	if err := d.confine(l); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fileErr(err, "put", uri)
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(l.key)+"-*")
	if err != nil {
		return fileErr(err, "put", uri)
	}
	defer func() {
		tmp.Close()           // no-op after the explicit Close
		os.Remove(tmp.Name()) // no-op after Rename; drops the temp name after Link or a failure
	}()
	if _, err := io.Copy(tmp, ctxReader{ctx, r}); err != nil {
		if fault.Classified(err) {
			return fmt.Errorf("put %s: %w", uri, err)
		}
		return fileErr(err, "put", uri)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fileErr(err, "put", uri)
	}
	if err := tmp.Sync(); err != nil {
		return fileErr(err, "put", uri)
	}
	if err := tmp.Close(); err != nil {
		return fileErr(err, "put", uri)
	}
	if ifAbsent {
		// link(2) fails with EEXIST when the target exists: an atomic create of complete content.
		if err := os.Link(tmp.Name(), l.key); err != nil {
			return tempGone(err, uri)
		}
	} else if err := os.Rename(tmp.Name(), l.key); err != nil {
		return tempGone(err, uri)
	}
	syncDir(dir)
	return nil
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

func (d *fileDriver) delete(ctx context.Context, l loc) error {
	if err := d.confine(l); err != nil {
		return err
	}
	err := os.Remove(l.key)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fileErr(err, "delete", l.String())
}

func (d *fileDriver) deleteAll(ctx context.Context, l loc, objs []ObjectInfo) error {
	dirs := map[string]bool{}
	for _, o := range objs {
		ol, _ := parse(o.URI)
		if err := d.delete(ctx, ol); err != nil {
			return err
		}
		for p := filepath.Dir(ol.key); strings.HasPrefix(p, l.key) && len(p) >= len(filepath.Dir(l.key)); p = filepath.Dir(p) {
			dirs[p] = true
		}
	}
	// Remove the folders left empty, deepest first; os.Remove fails on a non-empty folder.
	ds := make([]string, 0, len(dirs))
	for p := range dirs {
		ds = append(ds, p)
	}
	sort.Slice(ds, func(i, j int) bool { return len(ds[i]) > len(ds[j]) })
	for _, p := range ds {
		os.Remove(p)
	}
	return nil
}

// copy publishes src under dst. On one file system it is a hard link, so a published file
// costs a directory entry, not a rewrite of its bytes (S3's server-side copy, locally): the
// files copied are immutable once published (every writer here replaces a file by renaming a
// new one over it, never by rewriting it in place), so sharing the inode is safe. Where a link
// cannot be made (another device, a file system without hard links, a file another user owns
// under fs.protected_hardlinks) the bytes are copied.
func (d *fileDriver) copy(ctx context.Context, src, dst loc) error {
	if err := d.confine(src); err != nil {
		return err
	}
	if err := d.confine(dst); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fault.Wrap(fault.Temporary, err, "copy %s", src)
	}
	if linked, err := d.link(src, dst); linked || err != nil {
		return err
	}
	f, _, err := d.open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return d.put(ctx, dst, f, false)
}

// hardLink is os.Link; tests replace it to take the copy fallback.
var hardLink = os.Link

// link makes dst a hard link to src: linked under a temp name beside dst, then renamed over
// it, so an existing dst is replaced atomically as Put replaces it. linked is false, with no
// error, when the copy has to be made instead (src not a regular file, or no link possible);
// the copy reports what is wrong with src.
func (d *fileDriver) link(src, dst loc) (linked bool, err error) {
	fi, err := os.Lstat(src.key)
	if err != nil || !fi.Mode().IsRegular() {
		return false, nil
	}
	dir := filepath.Dir(dst.key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fileErr(err, "copy to", dst.String())
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, tmpPrefix+filepath.Base(dst.key)+"-"+hex.EncodeToString(rnd[:]))
	if err := hardLink(src.key, tmp); err != nil {
		return false, nil
	}
	// Removed in every case: rename(2) leaves both names when dst already is a link to the
	// same file (a retry publishing the same staged file again).
	defer os.Remove(tmp)
	if err := os.Rename(tmp, dst.key); err != nil {
		return true, tempGone(err, dst.String())
	}
	syncDir(dir)
	return true, nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// tempGone classifies a failed link or rename of a complete temp file. The temp file or its
// folder can only vanish under us when another process removed it: a concurrent attempt of the
// same node cleaning what it took for a killed attempt's leftovers (RemoveTemps), or an
// overwrite removing the folder. That is a race with a live writer, not bad data: temporary, so
// the retry finds the winner's commit instead of failing for good.
func tempGone(err error, uri string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fault.Wrap(fault.Temporary, err, "put %s: the temp file was removed by a concurrent writer", uri)
	}
	return fileErr(err, "put", uri)
}
