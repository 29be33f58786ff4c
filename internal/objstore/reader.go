package objstore

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// Reader gives random and sequential access to one object. ReadAt is safe for concurrent use
// (Parquet decodes columns in parallel); Read and Seek share one offset and are not.
type Reader struct {
	ra     io.ReaderAt
	info   ObjectInfo
	off    int64
	closer func() error
	read   atomic.Int64
}

var (
	_ io.ReaderAt   = (*Reader)(nil)
	_ io.ReadSeeker = (*Reader)(nil)
	_ io.Closer     = (*Reader)(nil)
)

// Info describes the object as it was when the Reader was opened.
func (r *Reader) Info() ObjectInfo { return r.info }

// Size is the object's size in bytes.
func (r *Reader) Size() int64 { return r.info.Size }

// BytesRead is the number of bytes returned so far by Read and ReadAt.
func (r *Reader) BytesRead() int64 { return r.read.Load() }

// ReadAt implements io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("objstore: negative offset")
	}
	if off >= r.info.Size {
		return 0, io.EOF
	}
	n, err := r.ra.ReadAt(p, off)
	r.read.Add(int64(n))
	return n, err
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.off >= r.info.Size {
		return 0, io.EOF
	}
	if rem := r.info.Size - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek implements io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.info.Size
	default:
		return 0, errors.New("objstore: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("objstore: negative position")
	}
	r.off = offset
	return offset, nil
}

// Close releases the reader.
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	return c()
}

// rangeFetcher reads [off, off+len(p)) exactly (p fits in the object).
type rangeFetcher func(p []byte, off int64) error

// readAheadAt serves small reads from one cached window and large reads directly.
type readAheadAt struct {
	fetch  rangeFetcher
	size   int64
	window int

	mu    sync.Mutex
	buf   []byte
	start int64 // offset of buf[0]; buf empty when nothing is cached
}

func (c *readAheadAt) ReadAt(p []byte, off int64) (int, error) {
	n := len(p)
	var eof error
	if rem := c.size - off; int64(n) > rem {
		n, eof = int(rem), io.EOF
	}
	p = p[:n]
	if n == 0 {
		return 0, eof
	}
	if n > c.window/2 {
		if err := c.fetch(p, off); err != nil {
			return 0, err
		}
		return n, eof
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) == 0 || off < c.start || off+int64(n) > c.start+int64(len(c.buf)) {
		// Fetch a window holding [off, off+n): forward from off, shifted back near the end of the
		// object so that a footer read also brings the bytes just before it (Parquet metadata).
		start := off
		w := int64(c.window)
		if start+w > c.size {
			start = max(0, c.size-w)
		}
		w = min(w, c.size-start)
		if cap(c.buf) < int(w) {
			c.buf = make([]byte, w)
		}
		c.buf = c.buf[:w]
		if err := c.fetch(c.buf, start); err != nil {
			c.buf = c.buf[:0]
			return 0, err
		}
		c.start = start
	}
	copy(p, c.buf[off-c.start:])
	return n, eof
}
