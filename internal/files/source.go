package files

import (
	"context"
	"errors"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/table"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Manifest pins a dataset: its files with sizes and ETags, and its schema.
func Manifest(ds *dataset.Dataset, ref *manifest.DatasetRef, details map[string]any) *manifest.Manifest {
	m := &manifest.Manifest{Kind: manifest.KindFiles, Format: string(ds.Format), Files: ds.Files, Schema: readers.Fields(ds.Schema), Dataset: ref, Details: details}
	for _, f := range ds.Files {
		m.Bytes += f.Size
	}
	return m
}

// PinFolder pins a folder: through its aiflow table version when it has one (so a source never
// sees a half-published table), else by listing it.
func PinFolder(ctx context.Context, st *objstore.Store, uri string, opts dataset.ReadOptions) (*dataset.Dataset, map[string]any, error) {
	folder := strings.HasSuffix(uri, "/")
	if !folder {
		// A path without its trailing slash that is not a file is read as a folder (dataset.Open):
		// it must go through the table version too, never a listing of every version's files.
		if _, err := st.Stat(ctx, uri); errors.Is(err, objstore.ErrNotExist) {
			folder = true
		}
	}
	if folder {
		v, err := table.Current(ctx, st, uri)
		if err != nil {
			return nil, nil, err
		}
		if v != nil {
			for k, val := range opts.Partitions {
				if err := dataset.ValidatePartitionValue(k, val); err != nil {
					return nil, nil, err
				}
			}
			files := v.Select(opts.Partitions)
			if len(files) == 0 {
				if len(opts.Partitions) > 0 {
					return nil, nil, fault.Dataf("no partition %s in table version %d of %s", partString(opts.Partitions), v.Version, uri)
				}
				return nil, nil, fault.Dataf("table %s (version %d) has no files", uri, v.Version)
			}
			if opts.Format == "" {
				opts.Format = dataset.Format(v.Format)
			}
			o := opts
			o.Partitions = nil
			ds, err := dataset.OpenFiles(ctx, st, files, o)
			if err != nil {
				return nil, nil, err
			}
			return ds, map[string]any{"table_version": v.Version}, nil
		}
	}
	ds, err := dataset.Open(ctx, st, uri, opts)
	return ds, nil, err
}

func partString(p map[string]string) string {
	var parts []string
	for k, v := range p {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

type source struct{}

func (source) Pin(ctx context.Context, env *plugin.Env, cfg *SourceConfig) (*plugin.Output, error) {
	uri, err := readers.ResolveURI(env.Store.Guard(), cfg.Path)
	if err != nil {
		return nil, err
	}
	opts := dataset.ReadOptions{Format: dataset.Format(cfg.Format), Partitions: cfg.Partitions, Columns: cfg.Columns}
	if len(cfg.Schema) > 0 {
		if opts.Schema, err = readers.DeclaredSchema(cfg.Schema); err != nil {
			return nil, err
		}
	}
	ds, details, err := PinFolder(ctx, env.Store, uri, opts)
	if err != nil {
		return nil, err
	}
	m := Manifest(ds, readers.DatasetRef(uri), details)
	if opts.Schema != nil && (ds.Format == dataset.CSV || ds.Format == dataset.NDJSON) {
		m.ReadSchema = readers.Fields(opts.Schema)
	}
	if len(cfg.Columns) > 0 {
		m.Details = WithDetail(m.Details, "columns", cfg.Columns)
	}
	env.Log.Info("pinned files", "uri", uri, "files", len(ds.Files), "bytes", m.Bytes)
	return &plugin.Output{Manifest: m}, nil
}

func WithDetail(d map[string]any, k string, v any) map[string]any {
	if d == nil {
		d = map[string]any{}
	}
	d[k] = v
	return d
}
