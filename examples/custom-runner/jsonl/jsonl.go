// Package jsonl is a custom aiflow sink: it writes a node's main input as JSON lines, one file
// per run, <path>/<run_id>.jsonl. The file name is deterministic per run and the file is
// replaced as a whole, so a retried attempt overwrites what a failed one wrote instead of
// duplicating it: exactly once without a ledger of its own.
package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Config is the sink's params (`with:` of the node).
type Config struct {
	Path string `json:"path" required:"true" doc:"folder the run's file is written to (file://, s3:// or a local path)"`
}

// Validate checks the decoded config as a whole.
func (c *Config) Validate() error {
	if strings.Contains(c.Path, "://") && !strings.HasPrefix(c.Path, "file://") && !strings.HasPrefix(c.Path, "s3://") {
		return plugin.Errorf("path", "%q: only file:// and s3:// are supported", c.Path)
	}
	return nil
}

// Kind declares the sink: its docs, defaults and the facts aiflow needs without running it
// (where it writes, for tenant policy; its Airflow Asset, for the compiler).
var Kind = plugin.Kind[*Config]{Kind: "jsonl", Engines: []string{"arrow"},
	Summary: "JSON lines, one file per run: <path>/<run_id>.jsonl",
	New:     func() *Config { return &Config{} },
	Destinations: func(c *Config) []plugin.Destination {
		return []plugin.Destination{{Kind: plugin.DestPath, Value: c.Path, Field: "path"}}
	},
	Asset: func(c *Config) string { return plugin.PathAsset(c.Path) },
}

// Register adds the sink to r.
func Register(r *plugin.Registry) { plugin.RegisterSink(r, Kind, Sink{}, "arrow") }

// Sink is the runtime; it gets the node's decoded *Config.
type Sink struct{}

// Publish writes the main input to the run's file.
func (Sink) Publish(ctx context.Context, env *plugin.Env, c *Config) (*plugin.Output, error) {
	dir, err := env.ResolvePath(c.Path)
	if err != nil {
		return nil, err
	}
	dir = strings.TrimSuffix(dir, "/")
	if !env.Publish {
		// replay without --publish: the same file, under this attempt's staging folder only.
		dir = env.OutDir + "/data"
	}
	counter := &plugin.Counter{}
	rr, err := env.OpenInput(ctx, env.InputOrder[0], counter)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	var buf bytes.Buffer
	var rows int64
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make(map[string]any, rec.NumCols())
			for j, col := range rec.Columns() {
				row[rec.ColumnName(j)] = col.GetOneForMarshal(i)
			}
			line, err := json.Marshal(row)
			if err != nil {
				return nil, fault.Wrap(fault.Data, err, "row %d", rows)
			}
			buf.Write(append(line, '\n'))
			rows++
		}
	}
	if err := rr.Err(); err != nil {
		return nil, err
	}
	uri, size := dir+"/"+env.RunID+".jsonl", int64(buf.Len())
	// One PUT of the whole file: atomic on S3 and a rename on local disks.
	if err := env.Store.Put(ctx, uri, &buf); err != nil {
		return nil, err
	}
	env.Log.Info("wrote JSON lines", "uri", uri, "rows", rows)
	return &plugin.Output{
		Manifest: &plugin.Manifest{Kind: plugin.ManifestNone, Rows: rows, Bytes: size,
			Dataset: &plugin.DatasetRef{Namespace: "jsonl", Name: uri}},
		RowsIn: counter.Rows.Load(), BytesIn: counter.Bytes.Load(),
	}, nil
}
