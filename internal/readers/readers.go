// Package readers holds the built-in source runtimes that pin files (files, and onelake on the
// arrow engine) and the one way every Go-side consumer opens a committed manifest as Arrow
// record batches.
package readers

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/node"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/pathguard"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
	"github.com/aiflow-dev/aiflow/internal/table"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
)

func init() { Register(plugin.Default) }

// Register attaches the source runtimes to r.
func Register(r *plugin.Registry) {
	r.RegisterRuntime(plugin.RoleSource, "files", filesSource{})
	r.RegisterRuntime(plugin.RoleSource, "onelake", onelakeSource{})
}

var (
	_ node.SourceRuntime = filesSource{}
	_ node.SourceRuntime = onelakeSource{}
)

// ResolveURI turns a user path into a URI: s3:// and file:// stay, a plain path becomes an
// absolute file:// URI (relative to the working directory). A trailing slash is kept.
//
// With AIFLOW_ALLOWED_ROOTS set, a local path must lie under one of those roots, `..` and
// symlinks resolved (internal/pathguard); else the error is a configuration error (exit 78).
func ResolveURI(p string) (string, error) {
	uri, err := resolveURI(p)
	if err != nil {
		return "", err
	}
	g, err := pathguard.FromEnv()
	if err != nil {
		return "", err
	}
	if err := g.CheckURI(uri); err != nil {
		return "", err
	}
	return uri, nil
}

func resolveURI(p string) (string, error) {
	if strings.HasPrefix(p, "s3://") || strings.HasPrefix(p, "file://") {
		return p, nil
	}
	if strings.Contains(p, "://") {
		return "", fault.Configf("path %q: only file:// and s3:// are supported", p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fault.Wrap(fault.Config, err, "path %q", p)
	}
	if strings.HasSuffix(p, "/") {
		abs += "/"
	}
	return "file://" + abs, nil
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

// filesManifest pins a dataset: its files with sizes and ETags, and its schema.
func filesManifest(ds *dataset.Dataset, ref *manifest.DatasetRef, details map[string]any) *manifest.Manifest {
	m := &manifest.Manifest{Kind: manifest.KindFiles, Format: string(ds.Format), Files: ds.Files, Schema: Fields(ds.Schema), Dataset: ref, Details: details}
	for _, f := range ds.Files {
		m.Bytes += f.Size
	}
	return m
}

// pinFolder pins a folder: through its aiflow table version when it has one (so a source never
// sees a half-published table), else by listing it.
func pinFolder(ctx context.Context, st *objstore.Store, uri string, opts dataset.ReadOptions) (*dataset.Dataset, map[string]any, error) {
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

type filesSource struct{}

func (filesSource) Pin(ctx context.Context, env *node.Env) (*node.Output, error) {
	cfg := env.Decoded.Params.(*builtin.FilesSource)
	uri, err := ResolveURI(cfg.Path)
	if err != nil {
		return nil, err
	}
	opts := dataset.ReadOptions{Format: dataset.Format(cfg.Format), Partitions: cfg.Partitions, Columns: cfg.Columns}
	if len(cfg.Schema) > 0 {
		if opts.Schema, err = DeclaredSchema(cfg.Schema); err != nil {
			return nil, err
		}
	}
	ds, details, err := pinFolder(ctx, env.Store, uri, opts)
	if err != nil {
		return nil, err
	}
	m := filesManifest(ds, DatasetRef(uri), details)
	if len(cfg.Columns) > 0 {
		m.Details = withDetail(m.Details, "columns", cfg.Columns)
	}
	env.Log.Info("pinned files", "uri", uri, "files", len(ds.Files), "bytes", m.Bytes)
	return &node.Output{Manifest: m}, nil
}

func withDetail(d map[string]any, k string, v any) map[string]any {
	if d == nil {
		d = map[string]any{}
	}
	d[k] = v
	return d
}

// TableDir maps a onelake table name to its folder under the lake root:
// raw.sales_orders → <root>/raw/sales_orders/.
func TableDir(root, name string) (string, error) {
	if _, err := sqltext.QualifiedName(name); err != nil {
		return "", fault.Wrap(fault.Config, err, "")
	}
	root, err := ResolveURI(root)
	if err != nil {
		return "", err
	}
	// Checked again as a whole: a symlinked namespace folder under the root must not lead out.
	return ResolveURI(strings.TrimSuffix(root, "/") + "/" + strings.ReplaceAll(name, ".", "/") + "/")
}

type onelakeSource struct{}

func (onelakeSource) Pin(ctx context.Context, env *node.Env) (*node.Output, error) {
	cfg := env.Decoded.Params.(*builtin.OnelakeSource)
	if cfg.Format == "delta" || env.Node.EngineName() == builtin.Spark || consumedBySpark(env) {
		return pinTable(env, cfg)
	}
	dir, err := TableDir(env.Config.LakeRoot, cfg.Table)
	if err != nil {
		return nil, err
	}
	ds, details, err := pinFolder(ctx, env.Store, dir, dataset.ReadOptions{Format: dataset.Parquet, Partitions: cfg.Partitions, Columns: cfg.Columns})
	if err != nil {
		return nil, err
	}
	m := filesManifest(ds, &manifest.DatasetRef{Namespace: "onelake", Name: cfg.Table}, details)
	env.Log.Info("pinned onelake table", "table", cfg.Table, "dir", dir, "files", len(ds.Files), "bytes", m.Bytes)
	return &node.Output{Manifest: m}, nil
}

// consumedBySpark reports whether any consumer of the source runs on Spark: then the source pins
// a catalog table that Spark reads itself.
func consumedBySpark(env *node.Env) bool {
	for _, id := range env.Pipeline.Downstream(env.Node.ID) {
		if env.Pipeline.Nodes[id].EngineName() == builtin.Spark {
			return true
		}
	}
	return false
}

// pinTable pins a catalog table for the Spark engine: the table, its format and the partition
// filter as safely quoted SQL.
func pinTable(env *node.Env, cfg *builtin.OnelakeSource) (*node.Output, error) {
	var conds []string
	for _, k := range slices.Sorted(maps.Keys(cfg.Partitions)) {
		c, err := sqltext.Equals(k, cfg.Partitions[k])
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "partition %s", k)
		}
		conds = append(conds, c)
	}
	m := &manifest.Manifest{Kind: manifest.KindTable, Table: &manifest.Table{Name: cfg.Table, Format: cfg.Format, Snapshot: cfg.Snapshot, Filter: strings.Join(conds, " AND ")},
		Dataset: &manifest.DatasetRef{Namespace: "onelake", Name: cfg.Table}}
	if len(cfg.Columns) > 0 {
		m.Details = map[string]any{"columns": cfg.Columns}
	}
	if cfg.Format == "delta" && env.Node.EngineName() != builtin.Spark && !consumedBySpark(env) {
		return nil, fault.Configf("onelake table %s has format delta, which only the spark engine reads: give its consumer engine spark, or use format parquet on the arrow engine", cfg.Table)
	}
	return &node.Output{Manifest: m}, nil
}
