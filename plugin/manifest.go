package plugin

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/readers"
)

// What a runtime returns and reads, under names a module outside aiflow can use.
type (
	// Manifest is a committed node output: what a sink returns in Output.Manifest.
	Manifest = manifest.Manifest
	// DatasetRef names a dataset for lineage (OpenLineage namespace and name).
	DatasetRef = manifest.DatasetRef
	// Counter counts the rows and bytes an input delivered (Output.RowsIn, Output.BytesIn).
	Counter = readers.Counter
)

// Manifest kinds.
const (
	// ManifestFiles lists data files a consumer reads (a transform's staged output).
	ManifestFiles = manifest.KindFiles
	// ManifestNone is a sink's output published elsewhere: nothing to read downstream.
	ManifestNone = manifest.KindNone
)

// OpenInput opens the committed output of input id (an id of env.InputOrder) as Arrow record
// batches: exactly the pinned files or offset range, whatever wrote them. The caller releases
// the reader; c (may be nil) counts what it delivered.
func (e *Env) OpenInput(ctx context.Context, id string, c *Counter) (array.RecordReader, error) {
	m, ok := e.Inputs[id]
	if !ok {
		return nil, fault.Configf("node %s has no input %q", e.Node.ID, id)
	}
	rr, _, err := readers.Reader(ctx, e.Store, e.Config, m, c, memory.DefaultAllocator)
	return rr, err
}

// ResolvePath turns a user path into the URI runtimes write to: s3:// and file:// stay, a plain
// path becomes an absolute file:// URI. A local path must lie under AIFLOW_ALLOWED_ROOTS when
// that is set (`..` and symlinks resolved; the roots of e.Store); else the error is a
// configuration error (exit 78).
func (e *Env) ResolvePath(p string) (string, error) { return readers.ResolveURI(e.Store.Guard(), p) }
