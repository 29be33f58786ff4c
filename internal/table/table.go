// Package table publishes datasets so that readers see the old data or the new data, never a mix
// and never a duplicate — on file:// and on S3, where there is no rename.
//
// A table is a folder of Hive-partitioned data files plus a log of immutable versions:
//
//	<dir>/dt=2024-01-01/part-<token>-00000.parquet   data files (names deterministic per run+node)
//	<dir>/_aiflow/v-00000007.json                     version 7: the complete list of live files
//	<dir>/_aiflow/current.json                        the latest version (one object: atomic on S3)
//
// A publish writes its data files first (invisible: no version lists them), then the next version
// (a conditional create, so two concurrent publishers cannot both win), then flips current.json.
// Readers start at current.json and follow any newer version (a writer killed before the flip
// leaves one), so a publish is atomic for them: a version is immutable and complete. A version records which
// (pipeline, run, node) wrote it, so a retry after a publish that was not yet committed in the
// metadata store finds its own version and does not publish twice. Overwrite replaces only the
// partitions the run touched. Old files stay on storage until vacuumed (readers holding an older
// version keep working).
package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// Writer identifies the node run that wrote a version.
type Writer struct {
	Pipeline string `json:"pipeline"`
	RunID    string `json:"run_id"`
	Node     string `json:"node"`
	Attempt  int    `json:"attempt"`
}

func (w Writer) same(o Writer) bool {
	return w.Pipeline == o.Pipeline && w.RunID == o.RunID && w.Node == o.Node
}

// Version is one immutable state of a table.
type Version struct {
	Version     int64               `json:"version"`
	Previous    int64               `json:"previous"`
	Format      string              `json:"format"`
	PartitionBy []string            `json:"partition_by,omitempty"`
	Files       []dataset.FileInfo  `json:"files"`
	Schema      []manifest.Field    `json:"schema,omitempty"`
	Rows        int64               `json:"rows"`
	Bytes       int64               `json:"bytes"`
	Mode        string              `json:"mode"`
	Touched     []map[string]string `json:"touched,omitempty"`
	Writer      Writer              `json:"writer"`
	CreatedAt   time.Time           `json:"created_at"`
	// FileRows holds the row count of each file by URI (so overwrite can recompute Rows).
	FileRows map[string]int64 `json:"file_rows,omitempty"`
}

const metaDir = "_aiflow"

func currentURI(dir string) string { return dir + "/" + metaDir + "/current.json" }
func versionURI(dir string, v int64) string {
	return fmt.Sprintf("%s/%s/v-%08d.json", dir, metaDir, v)
}

// Current returns the latest version of the table at dir, or nil when the folder has never been
// published by aiflow.
func Current(ctx context.Context, st *objstore.Store, dir string) (*Version, error) {
	dir = strings.TrimSuffix(dir, "/")
	b, err := st.Get(ctx, currentURI(dir))
	var v Version
	switch {
	case errors.Is(err, objstore.ErrNotExist):
		// No current.json: maybe a first publish died before writing it (v-1 exists).
	case err != nil:
		return nil, fmt.Errorf("read table version of %s: %w", dir, err)
	default:
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fault.Wrap(fault.Data, err, "table %s: corrupt %s", dir, currentURI(dir))
		}
	}
	// A writer killed between creating v-<n+1> and flipping current.json leaves a complete,
	// immutable version that current.json does not name yet. It is the table's latest state:
	// follow it, or every later publish would collide with it forever (and its writer's retry
	// would publish twice).
	for {
		nb, err := st.Get(ctx, versionURI(dir, v.Version+1))
		if errors.Is(err, objstore.ErrNotExist) {
			if v.Version == 0 {
				return nil, nil // never published by aiflow
			}
			return &v, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read table version %d of %s: %w", v.Version+1, dir, err)
		}
		var next Version
		if err := json.Unmarshal(nb, &next); err != nil {
			return nil, fault.Wrap(fault.Data, err, "table %s: corrupt %s", dir, versionURI(dir, v.Version+1))
		}
		v = next
	}
}

// Decision is what a publish should do, decided before any data is written.
type Decision int

const (
	// Write: write the data and publish a new version.
	Write Decision = iota
	// AlreadyPublished: this (pipeline, run, node) published the current version already.
	AlreadyPublished
	// Skip: mode ignore and the table has data.
	Skip
)

// Plan decides a publish by mode (overwrite, append, error, ignore) against the current version.
func Plan(ctx context.Context, st *objstore.Store, dir, mode string, w Writer) (Decision, *Version, error) {
	cur, err := Current(ctx, st, dir)
	if err != nil {
		return Write, nil, err
	}
	if cur != nil && cur.Writer.same(w) {
		// Make sure current.json names it: the earlier attempt may have died before flipping it.
		b, err := json.MarshalIndent(cur, "", "  ")
		if err != nil {
			return Write, nil, err
		}
		if err := st.Put(ctx, currentURI(strings.TrimSuffix(dir, "/")), strings.NewReader(string(b))); err != nil {
			return Write, nil, fmt.Errorf("publish table version %d of %s: %w", cur.Version, dir, err)
		}
		return AlreadyPublished, cur, nil
	}
	hasData := cur != nil && len(cur.Files) > 0
	if cur == nil {
		// A folder with files that aiflow did not publish still counts as data for error/ignore.
		if objs, err := st.List(ctx, strings.TrimSuffix(dir, "/")+"/"); err == nil {
			for _, o := range objs {
				if !strings.Contains(o.URI, "/"+metaDir+"/") && !strings.Contains(o.URI, "/_") {
					hasData = true
					break
				}
			}
		}
	}
	switch mode {
	case "error":
		if hasData {
			return Write, cur, fault.Dataf("table %s already has data and mode is error", dir)
		}
	case "ignore":
		if hasData {
			return Skip, cur, nil
		}
	case "overwrite", "append":
	default:
		return Write, cur, fault.Configf("unknown write mode %q", mode)
	}
	return Write, cur, nil
}

// FileToken is the deterministic part of data file names for a node run: a retry writes the same
// names, so re-publishing cannot duplicate files.
func FileToken(w Writer) string {
	h := fnv64(w.Pipeline + "\x00" + w.RunID + "\x00" + w.Node)
	return fmt.Sprintf("%016x", h)
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Commit publishes a new version holding newFiles, on top of cur (from Plan). In overwrite mode
// the files of the partitions in touched are replaced; with no partition columns the whole table
// is replaced. fileRows maps new file URIs to their row counts.
func Commit(ctx context.Context, st *objstore.Store, dir string, cur *Version, v Version, fileRows map[string]int64) (*Version, error) {
	dir = strings.TrimSuffix(dir, "/")
	v.Previous = 0
	v.FileRows = map[string]int64{}
	var keep []dataset.FileInfo
	if cur != nil {
		v.Previous = cur.Version
		for _, f := range cur.Files {
			if v.Mode == "overwrite" && touchedBy(f, v.PartitionBy, v.Touched) {
				continue
			}
			keep = append(keep, f)
			v.FileRows[f.URI] = cur.FileRows[f.URI]
		}
	}
	newSet := map[string]bool{}
	for _, f := range v.Files {
		newSet[f.URI] = true
	}
	files := make([]dataset.FileInfo, 0, len(keep)+len(v.Files))
	for _, f := range keep {
		if !newSet[f.URI] {
			files = append(files, f)
		}
	}
	files = append(files, v.Files...)
	for u, r := range fileRows {
		v.FileRows[u] = r
	}
	v.Files = files
	v.Rows, v.Bytes = 0, 0
	for _, f := range files {
		v.Rows += v.FileRows[f.URI]
		v.Bytes += f.Size
	}
	v.Version = v.Previous + 1
	v.CreatedAt = time.Now().UTC()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := st.PutIfAbsent(ctx, versionURI(dir, v.Version), strings.NewReader(string(b))); err != nil {
		if errors.Is(err, objstore.ErrExist) {
			return nil, fault.Temporaryf("table %s: version %d was published concurrently by another writer; retry", dir, v.Version)
		}
		return nil, fmt.Errorf("write table version %d of %s: %w", v.Version, dir, err)
	}
	if err := st.Put(ctx, currentURI(dir), strings.NewReader(string(b))); err != nil {
		return nil, fmt.Errorf("publish table version %d of %s: %w", v.Version, dir, err)
	}
	return &v, nil
}

// touchedBy reports whether a file lies in one of the touched partitions. Without partition
// columns every file is touched (overwrite replaces the table).
func touchedBy(f dataset.FileInfo, partitionBy []string, touched []map[string]string) bool {
	if len(partitionBy) == 0 {
		return true
	}
	for _, t := range touched {
		match := true
		for _, k := range partitionBy {
			if f.Partition[k] != t[k] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// Select returns the files of a version that match a partition filter (key → value).
func (v *Version) Select(filter map[string]string) []dataset.FileInfo {
	var out []dataset.FileInfo
	for _, f := range v.Files {
		ok := true
		for k, want := range filter {
			if f.Partition[k] != want {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, f)
		}
	}
	return out
}
