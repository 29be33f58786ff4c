package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/stdlib"
)

// The history's attempts and commits travel as binary COPY generated here, not as INSERT ...
// SELECT FROM generate_series: the server inserts a COPY's rows a thousand at a time
// (heap_multi_insert: one WAL record and one buffer lock per batch, not per row) and parses no
// text, and building the ids in Go costs less than string functions on 60M rows in SQL. The
// hourly usage rollup of the attempts is summed here as they are generated (what migration
// 0004's trigger would have added, row by row) and written once at the end.

// copyRows is a binary COPY stream (PostgreSQL's "PGCOPY" format) built in memory, flushed to w
// in chunks.
type copyRows struct {
	b []byte
	w io.Writer
}

func newCopyRows(w io.Writer) *copyRows {
	c := &copyRows{b: make([]byte, 0, 1<<20), w: w}
	c.b = append(c.b, "PGCOPY\n\xff\r\n\x00"...)
	c.b = binary.BigEndian.AppendUint32(c.b, 0) // flags
	c.b = binary.BigEndian.AppendUint32(c.b, 0) // header extension length
	return c
}

func (c *copyRows) row(fields int) error {
	if len(c.b) > 1<<20-4096 {
		if _, err := c.w.Write(c.b); err != nil {
			return err
		}
		c.b = c.b[:0]
	}
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(fields))
	return nil
}

func (c *copyRows) text(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

// runID writes hist__<day>_<run>, the run ids the history's runs have.
func (c *copyRows) runID(day, run int) {
	at := len(c.b)
	c.b = append(c.b, 0, 0, 0, 0)
	c.b = append(c.b, "hist__"...)
	c.b = strconv.AppendInt(c.b, int64(day), 10)
	c.b = append(c.b, '_')
	c.b = strconv.AppendInt(c.b, int64(run), 10)
	binary.BigEndian.PutUint32(c.b[at:], uint32(len(c.b)-at-4))
}

func (c *copyRows) int4(v int32) {
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(v))
}

func (c *copyRows) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

// jsonb is a jsonb value in binary: format version 1, then its text.
func (c *copyRows) jsonb(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)+1))
	c.b = append(c.b, 1)
	c.b = append(c.b, s...)
}

func (c *copyRows) close() error {
	c.b = binary.BigEndian.AppendUint16(c.b, 0xffff) // trailer
	_, err := c.w.Write(c.b)
	return err
}

// copyIn empties table and fills it with one binary COPY (columns cols) fed by gen, in one
// transaction on one of db's connections: a table emptied in the transaction that fills it
// writes no WAL (wal_level minimal) and takes its rows frozen (COPY FREEZE), so the index
// builds and queries after the load do not rewrite every page to set hint bits.
func copyIn(ctx context.Context, db *sql.DB, table, cols string, gen func(*copyRows) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pg := dc.(*stdlib.Conn).Conn().PgConn()
		if err := pg.Exec(ctx, `BEGIN; TRUNCATE `+table).Close(); err != nil {
			return err
		}
		pr, pw := io.Pipe()
		genErr := make(chan error, 1)
		go func() {
			c := newCopyRows(pw)
			err := gen(c)
			if err == nil {
				err = c.close()
			}
			pw.CloseWithError(err)
			genErr <- err
		}()
		_, err := pg.CopyFrom(ctx, pr, `COPY `+table+` (`+cols+`) FROM STDIN (FORMAT binary, FREEZE)`)
		pr.CloseWithError(io.ErrClosedPipe) // the generator stops if COPY failed first
		if gerr := <-genErr; err == nil && gerr != nil && gerr != io.ErrClosedPipe {
			err = gerr
		}
		if err != nil {
			pg.Exec(ctx, `ROLLBACK`).Close()
			return err
		}
		return pg.Exec(ctx, `COMMIT`).Close()
	})
}

// usageKey is one row of the hourly rollup: an hour and a tenancy (an index into tenancies).
type usageKey struct {
	bucket  int64
	tenancy int
}

type usageSum struct {
	attempts, nodeUs, rowsIn, rowsOut, bytesIn, bytesOut int64
}

// hourly sums the rollup of the attempts loaded, across the days loaded at once.
type hourly struct {
	mu        sync.Mutex
	sums      map[usageKey]*usageSum
	tenancies [][3]string // team, project, cost centre
	of        []int       // pipeline number -> index in tenancies
}

// newHourly reads each simulated pipeline's tenancy from its recorded version, as the trigger
// joins it.
func newHourly(ctx context.Context, db *sql.DB) (*hourly, error) {
	h := &hourly{sums: map[usageKey]*usageSum{}, of: make([]int, pipelines)}
	rows, err := db.QueryContext(ctx, `SELECT pipeline_id, team, project, cost_center FROM aiflow_pipeline_versions
WHERE pipeline_id LIKE 'scale\_p%' AND ir_hash = 'h' || substr(pipeline_id, 8)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	index := map[[3]string]int{}
	seen := 0
	for rows.Next() {
		var id string
		var t [3]string
		if err := rows.Scan(&id, &t[0], &t[1], &t[2]); err != nil {
			return nil, err
		}
		p, err := strconv.Atoi(id[len("scale_p"):])
		if err != nil || p >= pipelines {
			continue
		}
		i, ok := index[t]
		if !ok {
			i = len(h.tenancies)
			index[t] = i
			h.tenancies = append(h.tenancies, t)
		}
		h.of[p] = i
		seen++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if seen != pipelines {
		return nil, fmt.Errorf("%d of the %d simulated pipelines have a version", seen, pipelines)
	}
	return h, nil
}

func (h *hourly) add(local map[usageKey]*usageSum) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, s := range local {
		t := h.sums[k]
		if t == nil {
			t = &usageSum{}
			h.sums[k] = t
		}
		t.attempts += s.attempts
		t.nodeUs += s.nodeUs
		t.rowsIn += s.rowsIn
		t.rowsOut += s.rowsOut
		t.bytesIn += s.bytesIn
		t.bytesOut += s.bytesOut
	}
}

// write adds the sums to aiflow_usage_hourly (rows already there for an hour are added to, as
// the trigger does).
func (h *hourly) write(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TEMP TABLE mdsim_hourly (LIKE aiflow_usage_hourly)`); err != nil {
		return err
	}
	err = conn.Raw(func(dc any) error {
		pr, pw := io.Pipe()
		go func() {
			c := newCopyRows(pw)
			for k, s := range h.sums {
				if err := c.row(10); err != nil {
					pw.CloseWithError(err)
					return
				}
				t := h.tenancies[k.tenancy]
				c.int8(k.bucket)
				c.text(t[0])
				c.text(t[1])
				c.text(t[2])
				for _, v := range []int64{s.attempts, s.nodeUs, s.rowsIn, s.rowsOut, s.bytesIn, s.bytesOut} {
					c.int8(v)
				}
			}
			pw.CloseWithError(c.close())
		}()
		_, err := dc.(*stdlib.Conn).Conn().PgConn().CopyFrom(ctx, pr, `COPY mdsim_hourly FROM STDIN (FORMAT binary)`)
		pr.CloseWithError(io.ErrClosedPipe)
		return err
	})
	if err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `INSERT INTO aiflow_usage_hourly SELECT * FROM mdsim_hourly
ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET
    attempts = aiflow_usage_hourly.attempts + excluded.attempts, node_us = aiflow_usage_hourly.node_us + excluded.node_us,
    rows_in = aiflow_usage_hourly.rows_in + excluded.rows_in, rows_out = aiflow_usage_hourly.rows_out + excluded.rows_out,
    bytes_in = aiflow_usage_hourly.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_hourly.bytes_out + excluded.bytes_out`)
	if err == nil {
		_, err = conn.ExecContext(ctx, `DROP TABLE mdsim_hourly`)
	}
	return err
}

// Names of the simulated pipelines, their IR hashes and node ids, built once.
var pipelineIDs, irHashes, nodeIDs = func() (ps, hs, ns []string) {
	for p := range pipelines {
		ps = append(ps, fmt.Sprintf("scale_p%05d", p))
		hs = append(hs, fmt.Sprintf("h%05d", p))
	}
	for n := range nodes {
		ns = append(ns, fmt.Sprintf("n%02d", n))
	}
	return ps, hs, ns
}()

const (
	attemptColumns = `pipeline_id, run_id, node_id, try, attempt_id, ir_hash, status, exit_code, started_us, ended_us,
rows_in, rows_out, bytes_in, bytes_out, engine, pod_name`
	commitManifest = `{"files":[{"path":"s3://lake/out/x.parquet","rows":1000}]}`
)

// day is one simulated day: its number (days before now) and when it starts.
type day struct {
	d    int
	day0 int64
}

// copyAttempts loads the days' attempts (the rows the SQL of earlier versions inserted: run r of
// a day starts at day0 + r*step, its node n n seconds later and takes 30 s; one run in fifty
// fails at its last node), oldest first, and adds them to h.
func copyAttempts(ctx context.Context, db *sql.DB, h *hourly, ds []day, runs int, step int64) error {
	local := map[usageKey]*usageSum{}
	err := copyIn(ctx, db, "aiflow_node_attempts", attemptColumns, func(c *copyRows) error {
		for _, dy := range ds {
			for r := range runs {
				p := r % pipelines
				start := dy.day0 + int64(r)*step
				for n := range nodes {
					if err := c.row(16); err != nil {
						return err
					}
					c.text(pipelineIDs[p])
					c.runID(dy.d, r)
					c.text(nodeIDs[n])
					c.int4(1)
					c.text("a")
					c.text(irHashes[p])
					status, exit := "succeeded", int32(0)
					if r%50 == 7 && n == nodes-1 {
						status, exit = "failed", 65
					}
					c.text(status)
					c.int4(exit)
					s := start + int64(n)*1000000
					c.int8(s)
					c.int8(s + 30000000)
					c.int8(1000)
					c.int8(1000)
					c.int8(1048576)
					c.int8(65536)
					c.text("arrow")
					c.text("pod")
					k := usageKey{bucket: s - s%3600000000, tenancy: h.of[p]}
					u := local[k]
					if u == nil {
						u = &usageSum{}
						local[k] = u
					}
					u.attempts++
					u.nodeUs += 30000000
					u.rowsIn += 1000
					u.rowsOut += 1000
					u.bytesIn += 1048576
					u.bytesOut += 65536
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("COPY attempts: %w", err)
	}
	h.add(local)
	return nil
}

// copyCommits loads the commits of the days' attempts: one per succeeded attempt.
func copyCommits(ctx context.Context, db *sql.DB, ds []day, runs int, step int64) error {
	err := copyIn(ctx, db, "aiflow_commits", "pipeline_id, run_id, node_id, try, manifest_json, committed_us", func(c *copyRows) error {
		for _, dy := range ds {
			for r := range runs {
				p := r % pipelines
				start := dy.day0 + int64(r)*step
				for n := range nodes {
					if r%50 == 7 && n == nodes-1 {
						continue
					}
					if err := c.row(6); err != nil {
						return err
					}
					c.text(pipelineIDs[p])
					c.runID(dy.d, r)
					c.text(nodeIDs[n])
					c.int4(1)
					c.jsonb(commitManifest)
					c.int8(start + int64(n)*1000000 + 30000000)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("COPY commits: %w", err)
	}
	return nil
}
