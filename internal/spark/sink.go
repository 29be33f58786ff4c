//go:build !nospark

package spark

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/onelake"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/spark/sparkspec"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
	"github.com/aiflow-dev/aiflow/plugin"
)

// OnelakeSink writes the main input to a onelake table on Spark (see WriteTable and
// WriteDelta): the onelake sink's runtime on the spark engine, which the arrow-side sink also
// hands over to when its input is a catalog table.
type OnelakeSink struct{}

// Publish writes the table once per run. In replay without --publish the input is staged as
// Parquet under the attempt folder instead, and the table is not touched.
func (OnelakeSink) Publish(ctx context.Context, env *plugin.Env, c *onelake.SinkConfig) (*plugin.Output, error) {
	if c.Format == "delta" && env.Publish {
		// A link out of the allowed roots in the table's folder is refused before any Spark work.
		location, err := onelake.TableDir(env.Config.LakeRoot, c.Table)
		if err != nil {
			return nil, err
		}
		if err := env.Store.ConfineTree(location); err != nil {
			return nil, err
		}
	}
	s, err := SessionFor(ctx, env)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	mainID := env.InputOrder[0]
	read := &readers.Counter{}
	df, err := readInput(ctx, s, env, mainID, read)
	if err != nil {
		return nil, s.checkLost(ctx, err)
	}
	st, err := statsOf(ctx, s, df, env.Inputs[mainID])
	if err != nil {
		return nil, s.checkLost(ctx, err)
	}
	out := &plugin.Output{RowsIn: st.Rows, BytesIn: env.Inputs[mainID].Bytes}
	if err := hook("sink-input-read"); err != nil {
		return nil, err
	}
	ref := &manifest.DatasetRef{Namespace: "onelake", Name: c.Table}
	if !env.Publish {
		m, err := Stage(ctx, s, env, df)
		if err != nil {
			return nil, s.checkLost(ctx, err)
		}
		m.Dataset = ref
		m.Details = map[string]any{"engine": sparkspec.Engine, "replay": "not published", "table": c.Table}
		out.Manifest = m
		return out, nil
	}
	tw := TableWrite{Name: c.Table, Format: c.Format, Mode: c.Mode, PartitionBy: c.PartitionBy, Commit: commitToken(env)}
	var res TableResult
	location, version := "", int64(-1)
	if c.Format == "delta" {
		// A onelake delta table is the Delta table at <lake root>/<namespace>/<table>, the one
		// the arrow engine and delta-rs read too.
		if location, err = onelake.TableDir(env.Config.LakeRoot, c.Table); err != nil {
			return nil, err
		}
		var dres DeltaResult
		dres, err = WriteDelta(ctx, s, env.Store, df, tw, location)
		res, version = dres.TableResult, dres.Version
	} else {
		res, err = WriteTableLocked(ctx, env, s, df, tw)
	}
	if err != nil {
		return nil, s.checkLost(ctx, fmt.Errorf("write table %s: %w", c.Table, err))
	}
	if err := hook("sink-written"); err != nil {
		return nil, err
	}
	m := &manifest.Manifest{Kind: manifest.KindTable, Dataset: ref, Schema: st.Schema, Rows: st.Rows,
		Table:   &manifest.Table{Name: c.Table, Format: c.Format},
		Details: map[string]any{"engine": sparkspec.Engine, "remote": s.Remote, "mode": c.Mode, "commit": commitToken(env)}}
	if dead := read.DeadLetters.Load(); dead > 0 {
		m.Details["dead_letters"] = dead
	}
	if location != "" {
		m.Table.Location = strings.TrimSuffix(location, "/")
		m.Table.Snapshot = deltaVersion(version)
		m.Details["delta_version"] = version
	}
	switch {
	case res.Skipped:
		m.Kind, m.Table, m.Rows = manifest.KindNone, nil, 0
		m.Details["skipped"] = "mode ignore and the table has data"
		env.Log.Info("mode ignore: the table has data; nothing written", "table", c.Table)
	case res.AlreadyWritten:
		m.Details["already_written"] = true
		env.Log.Info("this run already wrote the table; recording the commit only", "table", c.Table)
	default:
		env.Log.Info("wrote table", "table", c.Table, "mode", c.Mode, "created", res.Created, "rows", st.Rows, "partitions", len(res.Touched))
	}
	if len(res.Touched) > 0 {
		m.Details["touched"] = res.Touched
		if f, err := partitionFilter(res.Touched); err == nil {
			// Consumers of this output read exactly the partitions this run wrote.
			m.Table.Filter = f
		}
	}
	out.Manifest = m
	return out, nil
}

// partitionFilter renders (p1 = 'a' AND p2 = 'b') OR (…) for the touched partitions.
func partitionFilter(parts []map[string]string) (string, error) {
	var ors []string
	for _, p := range parts {
		var ands []string
		for _, k := range slices.Sorted(maps.Keys(p)) {
			c, err := sqltext.Equals(k, p[k])
			if err != nil {
				return "", err
			}
			ands = append(ands, c)
		}
		if len(ands) > 0 {
			ors = append(ors, strings.Join(ands, " AND "))
		}
	}
	if len(ors) == 1 {
		return ors[0], nil
	}
	for i := range ors {
		ors[i] = "(" + ors[i] + ")"
	}
	return strings.Join(ors, " OR "), nil
}
