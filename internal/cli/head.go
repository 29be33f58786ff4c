package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
)

func init() {
	register(&command{name: "head", summary: "print the schema and first rows of a Parquet, CSV, NDJSON or Arrow IPC file or folder (a node's output, a sink's folder)",
		new: func() any { return &headCmd{} }})
}

// headCmd lets a user look at data with the runner alone: no Python, pyarrow or DuckDB needed.
type headCmd struct {
	Path string `arg:"" help:"file or folder: a path, file:// or s3:// URI (Hive partitions included)"`
	Rows int    `name:"rows" short:"n" default:"10" help:"how many rows"`
	JSON bool   `name:"json" help:"print the rows as JSON objects, one a line"`
}

func (c *headCmd) Run(e *Env) error {
	if c.Rows < 0 {
		return fault.Usagef("head: --rows must not be negative")
	}
	cfg, err := config.LoadFrom(e.Ctx, lookuper(e.Lookup))
	if err != nil {
		return err
	}
	opts, err := cfg.StoreOptions()
	if err != nil {
		return err
	}
	st := objstore.New(opts)
	uri, err := readers.ResolveURI(st.Guard(), c.Path)
	if err != nil {
		return err
	}
	ds, err := dataset.Open(e.Ctx, st, uri, dataset.ReadOptions{})
	if err != nil {
		return err
	}
	rr, err := ds.Reader(e.Ctx, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer rr.Release()
	var rows [][]string
	var objs []map[string]any
	for len(rows) < c.Rows && len(objs) < c.Rows && rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()) && len(rows) < c.Rows && len(objs) < c.Rows; i++ {
			if c.JSON {
				obj := map[string]any{}
				for j, col := range rec.Columns() {
					obj[rec.ColumnName(j)] = col.GetOneForMarshal(i)
				}
				objs = append(objs, obj)
				continue
			}
			row := make([]string, rec.NumCols())
			for j, col := range rec.Columns() {
				row[j] = cellString(col, i)
			}
			rows = append(rows, row)
		}
	}
	if err := rr.Err(); err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(e.Stdout)
		for _, o := range objs {
			if err := enc.Encode(o); err != nil {
				return err
			}
		}
		return nil
	}
	var bytes int64
	for _, f := range ds.Files {
		bytes += f.Size
	}
	fmt.Fprintf(e.Stdout, "%s: %d %s file(s), %s\n", uri, len(ds.Files), ds.Format, human(bytes))
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	var names, types []string
	for _, f := range ds.Schema.Fields() {
		names = append(names, f.Name)
		types = append(types, f.Type.String())
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	fmt.Fprintln(tw, strings.Join(types, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func cellString(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return "null"
	}
	if s, ok := col.(*array.String); ok {
		return s.Value(i)
	}
	return col.ValueStr(i)
}
