// Package readers is how every Go-side consumer opens a committed manifest as Arrow record
// batches (Reader; the technology that writes a manifest kind registers its Opener), plus the
// helpers runtimes share: user paths to URIs, lineage dataset names, manifest fields.
package readers

import (
	"net/url"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/pathguard"
)

// ResolveURI turns a user path into a URI: s3:// and file:// stay, a plain path becomes an
// absolute file:// URI (relative to the working directory). A trailing slash is kept.
//
// With a guard (AIFLOW_ALLOWED_ROOTS: the store's, objstore.Store.Guard), a local path must lie
// under one of its roots, `..` and symlinks resolved (internal/pathguard); else the error is a
// configuration error (exit 78). A nil guard confines nothing.
func ResolveURI(g *pathguard.Guard, p string) (string, error) {
	uri, err := resolveURI(p)
	if err != nil {
		return "", err
	}
	if err := g.CheckURI(uri); err != nil {
		return "", err
	}
	return uri, nil
}

func resolveURI(p string) (string, error) {
	if strings.Contains(p, "://") && !strings.HasPrefix(p, "s3://") && !strings.HasPrefix(p, "file://") {
		return "", fault.Configf("path %q: only file:// and s3:// are supported", p)
	}
	// One canonical spelling from here on (file://localhost/, `//`, `.` and `..` folded): every
	// later comparison of URIs — a sink's orphan cleanup, a table's file list, the policy's
	// prefixes — sees the same string for the same file.
	return objstore.Clean(p)
}

// DatasetRef names a URI the OpenLineage way: namespace scheme://authority, name the path.
func DatasetRef(uri string) *manifest.DatasetRef {
	u, err := url.Parse(uri)
	if err != nil {
		return &manifest.DatasetRef{Namespace: "file", Name: uri}
	}
	ns := u.Scheme + "://" + u.Host
	if u.Scheme == "file" {
		ns = "file"
	}
	return &manifest.DatasetRef{Namespace: ns, Name: strings.TrimSuffix(u.Path, "/")}
}

// Fields turns an Arrow schema into manifest fields.
func Fields(s *arrow.Schema) []manifest.Field {
	out := make([]manifest.Field, len(s.Fields()))
	for i, f := range s.Fields() {
		out[i] = manifest.Field{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable}
	}
	return out
}
