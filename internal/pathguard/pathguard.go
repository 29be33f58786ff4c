// Package pathguard confines the local files a runner reads and writes to configured roots.
// When AIFLOW_ALLOWED_ROOTS is set (colon-separated absolute folders), every local path a node
// names must lie under one of them after `..` is resolved and symlinks are followed, so neither
// `../../etc/passwd` nor a symlink planted in a data folder reaches outside. Unset, nothing is
// confined (a laptop, the quickstart).
package pathguard

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
)

// RootsEnv names the variable that lists the allowed roots.
const RootsEnv = "AIFLOW_ALLOWED_ROOTS"

// Guard holds the allowed roots, each absolute, clean and with its symlinks resolved.
type Guard struct {
	roots []string
}

// New returns a guard for roots. Each must be absolute; a root that does not exist yet is kept
// as written (its symlinks cannot be resolved).
func New(roots ...string) (*Guard, error) {
	g := &Guard{}
	for _, r := range roots {
		if r == "" {
			continue
		}
		if !filepath.IsAbs(r) {
			return nil, fault.Configf("%s: root %q is not an absolute path", RootsEnv, r)
		}
		real, err := resolve(filepath.Clean(r))
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "%s: root %q", RootsEnv, r)
		}
		g.roots = append(g.roots, real)
	}
	return g, nil
}

// Parse returns the guard a value of AIFLOW_ALLOWED_ROOTS describes (internal/config reads it),
// or nil when it is empty.
func Parse(v string) (*Guard, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	return New(filepath.SplitList(v)...)
}

// With returns a guard that also allows extra (absolute folders; empty ones are ignored). The
// runner adds its own local areas (staging, the lake root), which the operator configured as
// it configured the roots. A nil guard stays nil: nothing is confined.
func (g *Guard) With(extra ...string) (*Guard, error) {
	if g == nil {
		return nil, nil
	}
	more, err := New(extra...)
	if err != nil {
		return nil, err
	}
	return &Guard{roots: append(append([]string(nil), g.roots...), more.roots...)}, nil
}

// Roots returns the resolved roots.
func (g *Guard) Roots() []string { return append([]string(nil), g.roots...) }

// Check returns a configuration error unless path (absolute) lies under a root once cleaned and
// with every existing symlink along it resolved. A nil guard allows everything.
func (g *Guard) Check(path string) error {
	if g == nil {
		return nil
	}
	if !filepath.IsAbs(path) {
		return fault.Configf("path %q: not absolute", path)
	}
	// Not cleaned first: /root/link/.. is where link points to's parent, not /root.
	real, err := resolve(path)
	if err != nil {
		return fault.Wrap(fault.Config, err, "path %q", path)
	}
	for _, r := range g.roots {
		if Within(r, real) {
			return nil
		}
	}
	shown := path
	if real != filepath.Clean(path) {
		shown = fmt.Sprintf("%s (really %s)", path, real)
	}
	return fault.Configf("path %s is outside the allowed roots %s (%s)", shown, strings.Join(g.roots, ":"), RootsEnv)
}

// CheckTree checks dir as Check does, then every symlink found below it (existing ones; a
// folder that does not exist yet passes): for a folder handed whole to another process (a
// Spark server lists and writes it itself), which would follow a link planted inside.
func (g *Guard) CheckTree(dir string) error {
	if g == nil {
		return nil
	}
	if err := g.Check(dir); err != nil {
		return err
	}
	real, err := resolve(dir)
	if err != nil {
		return fault.Wrap(fault.Config, err, "path %q", dir)
	}
	err = filepath.WalkDir(real, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return g.Check(p)
		}
		return nil
	})
	var fe *fault.Error
	switch {
	case err == nil, errors.As(err, &fe):
		return err
	case errors.Is(err, fs.ErrPermission):
		return fault.Wrap(fault.Config, err, "check the links under %s", dir)
	}
	return fault.Wrap(fault.Temporary, err, "check the links under %s", dir)
}

// CheckTreeURI is CheckTree for a file:// URI; other URIs pass.
func (g *Guard) CheckTreeURI(uri string) error {
	p, ok := strings.CutPrefix(uri, "file://")
	if g == nil || !ok {
		return nil
	}
	return g.CheckTree(p)
}

// CheckURI checks a file:// URI (or a plain absolute path); s3:// and other URIs are not local
// and pass.
func (g *Guard) CheckURI(uri string) error {
	if g == nil {
		return nil
	}
	p, ok := strings.CutPrefix(uri, "file://")
	if !ok {
		if strings.Contains(uri, "://") {
			return nil
		}
		p = uri
	}
	return g.Check(p)
}

// Within reports whether p is root or lies under it; both must be clean absolute paths.
func Within(root, p string) bool {
	if root == p {
		return true
	}
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// resolve follows the symlinks of the longest existing ancestor of p and appends the rest,
// cleaned: a file a sink is about to create does not exist yet, but the folder it lands in may
// be a link. EvalSymlinks resolves `..` after the link it follows, as the kernel does.
func resolve(p string) (string, error) {
	var rest []string
	cur := p
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			parts := append([]string{real}, rest...)
			return filepath.Clean(filepath.Join(parts...)), nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) && !isNotDir(err) {
			return "", err
		}
		// Split off the last element without cleaning (filepath.Dir would collapse link/..).
		cur = strings.TrimRight(cur, string(filepath.Separator))
		i := strings.LastIndexByte(cur, filepath.Separator)
		if i < 0 || cur == "" {
			return filepath.Clean(p), nil
		}
		rest = append([]string{cur[i+1:]}, rest...)
		cur = cur[:i+1]
	}
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}
