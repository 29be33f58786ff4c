// Command mdsim simulates the metadata store's load at company scale (bench/scale/README.md):
//
//	mdsim -mode burst   -dsn D -attempts 100000 -procs 8 -conc 8 -rate 2000
//	mdsim -mode history -dsn D -days 30 -per-day 1000000
//	mdsim -mode query   -dsn D
//
// burst starts -procs writer processes (not goroutines: the runner is one process per pod) that
// run node attempts exactly as a node does (StartAttempt, RecordPins, Commit, EndAttempt) through
// the metadata package, paced to -rate node starts per second in all, and reports attempts per
// second sustained, p50/p99 latency of an attempt's bookkeeping, the most sessions seen waiting on
// a lock, and then checks every commit is there exactly once. history bulk-loads days of attempts
// (binary COPY generated here) and the usage rollups they make. query times runs list / runs show /
// usage over whatever the database holds. prune times runs prune of the history's oldest days.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/aiflow-dev/aiflow/internal/metadata"
)

func main() {
	mode := flag.String("mode", "burst", "burst, writer (one process of a burst), history, query or prune")
	// A simulation tool, not the runner: the flag defaults to the DSN its caller's environment names.
	dsn := flag.String("dsn", os.Getenv("AIFLOW_METADATA_DSN"), "metadata store DSN (postgres://...)")
	attempts := flag.Int("attempts", 100000, "burst: node attempts in all")
	procs := flag.Int("procs", 8, "burst: writer processes")
	conc := flag.Int("conc", 8, "burst: concurrent attempts per writer process")
	rate := flag.Float64("rate", 2000, "burst: node starts per second in all (0: as fast as possible)")
	first := flag.Int("first", 0, "writer: index of its first attempt")
	days := flag.Int("days", 30, "history: days")
	perDay := flag.Int("per-day", 1000000, "history: node attempts per day")
	conns := flag.Int("conns", 3, "history: streams loaded (and indexes built) at a time")
	pruneDays := flag.Int("prune-days", 1, "prune: the oldest days of the history pruned (runs prune)")
	flag.Parse()
	ctx := context.Background()
	var err error
	switch *mode {
	case "burst":
		err = burst(ctx, *dsn, *attempts, *procs, *conc, *rate)
	case "writer":
		err = writer(ctx, *dsn, *first, *attempts, *conc, *rate)
	case "history":
		err = history(ctx, *dsn, *days, *perDay, *conns)
	case "query":
		err = query(ctx, *dsn)
	case "prune":
		err = prune(ctx, *dsn, *pruneDays)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdsim:", err)
		os.Exit(1)
	}
}

// Shape of the simulated company: 10,000 pipelines of 20 nodes, 40 teams.
const (
	pipelines = 10000
	nodes     = 20
	teams     = 40
)

func attemptKey(i int) metadata.AttemptKey {
	run := i / nodes
	return metadata.AttemptKey{
		Pipeline: fmt.Sprintf("scale_p%05d", run%pipelines),
		RunID:    fmt.Sprintf("burst__%08d", run),
		Node:     fmt.Sprintf("n%02d", i%nodes),
		Try:      1,
	}
}

type writerResult struct {
	Attempts  int     `json:"attempts"`
	Errors    int     `json:"errors"`
	Committed int     `json:"committed"`
	Lat       []int64 `json:"lat_us"` // bookkeeping latency of each attempt
}

// writer runs attempts [first, first+n) with conc goroutines, paced at rate starts/s.
func writer(ctx context.Context, dsn string, first, n, conc int, rate float64) error {
	st, err := metadata.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	var res writerResult
	var mu sync.Mutex
	var next atomic.Int64
	t0 := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1)) - 1
				if j >= n {
					return
				}
				if rate > 0 { // pace: attempt j starts no earlier than j/rate after t0
					if d := time.Until(t0.Add(time.Duration(float64(j) / rate * float64(time.Second)))); d > 0 {
						time.Sleep(d)
					}
				}
				start := time.Now()
				ok, err := oneAttempt(ctx, st, first+j)
				lat := time.Since(start).Microseconds()
				mu.Lock()
				res.Attempts++
				res.Lat = append(res.Lat, lat)
				if err != nil {
					res.Errors++
					if res.Errors <= 3 {
						fmt.Fprintln(os.Stderr, "attempt:", err)
					}
				}
				if ok {
					res.Committed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// oneAttempt is a node's bookkeeping: start, pins, commit, end. One in fifty also commits a
// second time, as a retried pod that lost the race would: it must be refused.
func oneAttempt(ctx context.Context, st metadata.Store, i int) (bool, error) {
	k := attemptKey(i)
	hash := fmt.Sprintf("h%05d", i/nodes%pipelines)
	a := metadata.Attempt{AttemptKey: k, AttemptID: strconv.Itoa(i), IRHash: hash, Engine: "arrow", PodName: "pod-" + strconv.Itoa(i)}
	if err := st.StartAttempt(ctx, a); err != nil {
		return false, err
	}
	pin := json.RawMessage(fmt.Sprintf(`{"kind":"files","files":[{"path":"s3://lake/raw/p/%d.parquet","size":1048576,"etag":"%x"}]}`, i, i))
	if err := st.RecordPins(ctx, k, map[string]json.RawMessage{"src": pin}); err != nil {
		return false, err
	}
	manifest := json.RawMessage(fmt.Sprintf(`{"files":[{"path":"s3://lake/out/%d.parquet","rows":1000,"bytes":65536}]}`, i))
	ok, _, err := st.Commit(ctx, metadata.Commit{AttemptKey: k, Manifest: manifest})
	if err != nil {
		return false, err
	}
	if i%50 == 0 {
		again, _, err := st.Commit(ctx, metadata.Commit{AttemptKey: k, Manifest: manifest})
		if err != nil {
			return ok, err
		}
		if again {
			return ok, fmt.Errorf("attempt %d committed twice", i)
		}
	}
	a.Status, a.ExitCode = metadata.AttemptSucceeded, new(int)
	a.RowsIn, a.RowsOut, a.BytesIn, a.BytesOut = 1000, 1000, 1<<20, 1<<16
	return ok, st.EndAttempt(ctx, a)
}

func burst(ctx context.Context, dsn string, n, procs, conc int, rate float64) error {
	st, err := metadata.Open(ctx, dsn) // migrates once, before the writers race to
	if err != nil {
		return err
	}
	for p := range pipelines {
		v := metadata.PipelineVersion{Pipeline: fmt.Sprintf("scale_p%05d", p), IRHash: fmt.Sprintf("h%05d", p),
			IR:      json.RawMessage(fmt.Sprintf(`{"api_version":"aiflow/v1","id":"scale_p%05d","nodes":{}}`, p)),
			Tenancy: metadata.Tenancy{Team: fmt.Sprintf("team-%02d", p%teams), Project: fmt.Sprintf("project-%02d", p%25), CostCenter: fmt.Sprintf("cc-%02d", p%12)}}
		if err := st.RecordPipeline(ctx, v); err != nil {
			return err
		}
	}
	st.Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var before int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM aiflow_commits WHERE run_id LIKE 'burst__%'`).Scan(&before); err != nil {
		return err
	}
	if before > 0 {
		return fmt.Errorf("the database already holds %d burst commits: use a fresh database", before)
	}
	self, _ := os.Executable()
	var cmds []*exec.Cmd
	var outs []*bufio.Reader
	per := n / procs
	t0 := time.Now()
	for p := range procs {
		cnt := per
		if p == procs-1 {
			cnt = n - per*(procs-1)
		}
		cmd := exec.Command(self, "-mode", "writer", "-dsn", dsn, "-first", strconv.Itoa(p*per), "-attempts", strconv.Itoa(cnt),
			"-conc", strconv.Itoa(conc), "-rate", strconv.FormatFloat(rate/float64(procs), 'f', -1, 64))
		cmd.Stderr = os.Stderr
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
		outs = append(outs, bufio.NewReaderSize(out, 1<<20))
	}
	// Sessions waiting on a lock, sampled while the writers run.
	stop := make(chan struct{})
	var maxWait, samples, waitSum int
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var w int
			if db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'`).Scan(&w) == nil {
				maxWait = max(maxWait, w)
				waitSum += w
				samples++
			}
		}
	}()
	var all writerResult
	for i, cmd := range cmds {
		var r writerResult
		if err := json.NewDecoder(outs[i]).Decode(&r); err != nil {
			return fmt.Errorf("writer %d: %w", i, err)
		}
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("writer %d: %w", i, err)
		}
		all.Attempts += r.Attempts
		all.Errors += r.Errors
		all.Committed += r.Committed
		all.Lat = append(all.Lat, r.Lat...)
	}
	wall := time.Since(t0)
	close(stop)
	sampler.Wait()
	var commits, distinct, ended int
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT (pipeline_id, run_id, node_id)) FROM aiflow_commits WHERE run_id LIKE 'burst__%'`).Scan(&commits, &distinct); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM aiflow_node_attempts WHERE run_id LIKE 'burst__%' AND ended_us IS NOT NULL`).Scan(&ended); err != nil {
		return err
	}
	slices.Sort(all.Lat)
	pct := func(p float64) float64 {
		if len(all.Lat) == 0 {
			return 0
		}
		return float64(all.Lat[int(p*float64(len(all.Lat)-1))]) / 1000
	}
	avgWait := 0.0
	if samples > 0 {
		avgWait = float64(waitSum) / float64(samples)
	}
	fmt.Printf("attempts %d in %.1f s: %.0f attempts/s (target rate %.0f/s), %d errors\n", all.Attempts, wall.Seconds(), float64(all.Attempts)/wall.Seconds(), rate, all.Errors)
	fmt.Printf("bookkeeping per attempt (start, pins, commit, end): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", pct(0.5), pct(0.99), pct(1))
	fmt.Printf("sessions waiting on a lock: max %d, mean %.2f (%d samples)\n", maxWait, avgWait, samples)
	fmt.Printf("commits: %d rows, %d distinct, %d committed by the writers, %d attempts ended\n", commits, distinct, all.Committed, ended)
	if commits != n || distinct != n || all.Committed != n || ended != n || all.Errors > 0 {
		return fmt.Errorf("lost or duplicate commits: want %d of each", n)
	}
	return nil
}

// loaded are the tables history fills; their keys and indexes are dropped for the load and built
// again after it (a sorted build instead of 30M random inserts into each index).
var loaded = []string{"aiflow_runs", "aiflow_node_attempts", "aiflow_commits"}

// history loads days x perDay attempts ending now (one run per 20 attempts, 2% failed), with one
// commit per succeeded attempt: the runs, the attempts and the commits as three streams side by
// side (-conns of them at most), the attempts and commits each one binary COPY into its emptied
// table. Before the load it drops the loaded tables' keys and indexes and turns the usage trigger
// off (the load sums the attempts' hourly rollup itself); after it, it builds the keys and
// indexes again, -conns at a time, writes the hourly rollup and the daily one from it. The schema
// is the same afterwards (a check compares the key and index definitions), and the hourly rollup
// of a day is checked against its attempts summed by tenancy.
func history(ctx context.Context, dsn string, days, perDay, conns int) error {
	t0 := time.Now()
	st, err := metadata.Open(ctx, dsn) // creates or migrates the schema
	if err != nil {
		return err
	}
	st.Close()
	// Sessions whose index builds and rollup aggregate sort in memory, not in temporary files
	// (pgx sends parameters it does not know to the server as the session's settings).
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := sql.Open("pgx", dsn+sep+"maintenance_work_mem=512MB&work_mem=256MB&synchronous_commit=off")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(conns)
	exec := func(q string, args ...any) error {
		t := time.Now()
		_, err := db.ExecContext(ctx, q, args...)
		fmt.Fprintf(os.Stderr, "  %6.1fs %.70s\n", time.Since(t).Seconds(), strings.Join(strings.Fields(q), " "))
		if err != nil {
			return fmt.Errorf("%.70s: %w", q, err)
		}
		return nil
	}
	var old int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM aiflow_node_attempts UNION ALL SELECT 1 FROM aiflow_commits LIMIT 1) x`).Scan(&old); err != nil {
		return err
	}
	if old > 0 {
		// The load empties the attempts and commits tables (in the transaction that fills them:
		// no WAL, rows frozen), so it refuses any it would lose.
		return fmt.Errorf("the database already holds node attempts or commits: use a fresh database")
	}
	if err := exec(`INSERT INTO aiflow_pipeline_versions (pipeline_id, ir_hash, ir_json, team, project, cost_center, first_seen_us, last_seen_us)
SELECT 'scale_p' || lpad(p::text, 5, '0'), 'h' || lpad(p::text, 5, '0'), '{}', 'team-' || lpad((p % 40)::text, 2, '0'),
       'project-' || lpad((p % 25)::text, 2, '0'), 'cc-' || lpad((p % 12)::text, 2, '0'), 0, 0
FROM generate_series(0, 9999) p ON CONFLICT DO NOTHING`); err != nil {
		return err
	}
	drops, before, builds, err := keysAndIndexes(ctx, db)
	if err != nil {
		return err
	}
	for _, q := range append(drops, `ALTER TABLE aiflow_node_attempts DISABLE TRIGGER aiflow_usage_track`) {
		if err := exec(q); err != nil {
			return err
		}
	}
	h, err := newHourly(ctx, db)
	if err != nil {
		return err
	}
	const dayUs = int64(86400e6)
	now := time.Now().UnixMicro()
	runsPerDay := perDay / nodes
	step := dayUs / int64(runsPerDay)
	var ds []day // oldest first
	for d := days; d >= 1; d-- {
		ds = append(ds, day{d: d, day0: now - int64(d)*dayUs})
	}
	// Three streams side by side: the runs (a statement a day), the attempts and the commits
	// (one COPY each).
	loadRuns := func() error {
		for _, dy := range ds {
			if err := exec(`INSERT INTO aiflow_runs (pipeline_id, run_id, ir_hash, status, started_us, ended_us, team)
SELECT 'scale_p' || lpad((r % 10000)::text, 5, '0'), 'hist__' || $1::int || '_' || r, 'h' || lpad((r % 10000)::text, 5, '0'),
       CASE WHEN r % 50 = 7 THEN 'failed' ELSE 'succeeded' END, $2::bigint + r * $3::bigint, $2::bigint + r * $3::bigint + 600000000,
       'team-' || lpad((r % 40)::text, 2, '0')
FROM generate_series(0, $4::int - 1) r`, dy.d, dy.day0, step, runsPerDay); err != nil {
				return err
			}
		}
		return nil
	}
	loads := []func() error{
		func() error { return copyAttempts(ctx, db, h, ds, runsPerDay, step) },
		func() error { return copyCommits(ctx, db, ds, runsPerDay, step) },
		loadRuns,
	}
	if err := parallel(min(conns, len(loads)), len(loads), func(i int) error { return loads[i]() }); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loaded %d days in %.0fs; building keys and indexes\n", days, time.Since(t0).Seconds())
	if err := parallel(conns, len(builds), func(i int) error { return exec(builds[i]) }); err != nil {
		return err
	}
	if err := h.write(ctx, db); err != nil {
		return err
	}
	for _, q := range []string{
		`ALTER TABLE aiflow_node_attempts ENABLE TRIGGER aiflow_usage_track`,
		`DELETE FROM aiflow_usage_daily`, rebuildDaily, `ANALYZE aiflow_runs, aiflow_node_attempts, aiflow_commits, aiflow_usage_hourly, aiflow_usage_daily`,
	} {
		if err := exec(q); err != nil {
			return err
		}
	}
	if _, after, _, err := keysAndIndexes(ctx, db); err != nil || !slices.Equal(after, before) {
		return fmt.Errorf("keys and indexes after the load differ from before: %v (%v)", after, err)
	}
	if err := checkHourly(ctx, db, now-int64(days/2)*dayUs); err != nil {
		return err
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM aiflow_node_attempts`).Scan(&n); err != nil {
		return err
	}
	fmt.Printf("history: %d days of %d attempts loaded in %.0f s; %d attempts in the store\n", days, perDay, time.Since(t0).Seconds(), n)
	return nil
}

// checkHourly compares the hourly rollup of the 24 hours from the hour at `at` with the
// attempts of those hours summed by tenancy, as migration 0004's trigger sums them: the load
// summed them itself, and must agree.
func checkHourly(ctx context.Context, db *sql.DB, at int64) error {
	lo := at - at%3600000000
	hi := lo + 24*3600000000
	var diff int
	err := db.QueryRowContext(ctx, `WITH r AS (
  SELECT team, project, cost_center, sum(attempts) a, sum(node_us) u, sum(rows_in) ri, sum(rows_out) ro, sum(bytes_in) bi, sum(bytes_out) bo
  FROM aiflow_usage_hourly WHERE bucket_us >= $1 AND bucket_us < $2 GROUP BY 1, 2, 3),
s AS (
  SELECT COALESCE(p.team, '') team, COALESCE(p.project, '') project, COALESCE(p.cost_center, '') cost_center, count(*) a,
         sum(n.ended_us - n.started_us) u, sum(n.rows_in) ri, sum(n.rows_out) ro, sum(n.bytes_in) bi, sum(n.bytes_out) bo
  FROM aiflow_node_attempts n LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = n.pipeline_id AND p.ir_hash = n.ir_hash
  WHERE n.started_us >= $1 AND n.started_us < $2 AND n.ended_us IS NOT NULL GROUP BY 1, 2, 3)
SELECT count(*) FROM ((TABLE r EXCEPT TABLE s) UNION ALL (TABLE s EXCEPT TABLE r)) d`, lo, hi).Scan(&diff)
	if err != nil {
		return fmt.Errorf("check the hourly rollup: %w", err)
	}
	if diff > 0 {
		return fmt.Errorf("the hourly rollup differs from the attempts of the 24 hours from %s in %d rows", time.UnixMicro(lo).UTC(), diff)
	}
	return nil
}

// keysAndIndexes returns the statements that drop the loaded tables' primary keys, unique
// constraints and indexes, their definitions (sorted, so two reads compare), and the statements
// that create each again. A key is built as a unique index and then made the constraint (USING
// INDEX): ADD CONSTRAINT would build it under a lock that keeps the table's other index builds
// waiting; CREATE INDEX lets them run side by side.
func keysAndIndexes(ctx context.Context, db *sql.DB) (drops, defs, builds []string, err error) {
	rows, err := db.QueryContext(ctx, `
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)),
       pg_get_indexdef(c.conindid) || '; ' || format('ALTER TABLE %s ADD CONSTRAINT %I %s USING INDEX %I', c.conrelid::regclass,
           c.conname, CASE c.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, c.conindid::regclass)
FROM pg_constraint c WHERE c.conrelid = ANY($1::regclass[]) AND c.contype IN ('p', 'u')
UNION ALL
SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid), pg_get_indexdef(i.indexrelid)
FROM pg_index i WHERE i.indrelid = ANY($1::regclass[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 2`, loaded)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var d, def, b string
		if err := rows.Scan(&d, &def, &b); err != nil {
			return nil, nil, nil, err
		}
		drops, defs, builds = append(drops, d), append(defs, def), append(builds, b)
	}
	return drops, defs, builds, rows.Err()
}

// parallel runs fn(0..n-1) on at most conns goroutines and returns the first error.
func parallel(conns, n int, fn func(int) error) error {
	var next atomic.Int64
	errs := make(chan error, conns)
	for range conns {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					errs <- nil
					return
				}
				if err := fn(i); err != nil {
					next.Store(int64(n)) // the others stop after their current step
					errs <- err
					return
				}
			}
		}()
	}
	var first error
	for range conns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// rebuildDaily is the daily rollup summed from the hourly one, as migration 0004's trigger keeps
// it (an hour lies within one UTC day).
const rebuildDaily = `INSERT INTO aiflow_usage_daily
SELECT bucket_us - bucket_us % 86400000000, team, project, cost_center,
       SUM(attempts), SUM(node_us), SUM(rows_in), SUM(rows_out), SUM(bytes_in), SUM(bytes_out)
FROM aiflow_usage_hourly GROUP BY 1, 2, 3, 4`

// query times the CLI's questions through the metadata package, 7 times each; it prints the
// median and the slowest.
func query(ctx context.Context, dsn string) error {
	st, err := metadata.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.ListRuns(ctx, metadata.RunFilter{Limit: 1})
	if err != nil || len(runs) == 0 {
		return fmt.Errorf("no runs in the store (run -mode history first): %v", err)
	}
	since := time.Now().Add(-30 * 24 * time.Hour) // mid-hour: the store sums that hour's attempts
	sinceHour := since.Truncate(time.Hour)        // the CLI's default window starts on the hour
	cases := []struct {
		name string
		fn   func() (int, error)
	}{
		{"runs list (newest 50)", func() (int, error) { r, err := st.ListRuns(ctx, metadata.RunFilter{}); return len(r), err }},
		{"runs list --pipeline", func() (int, error) {
			r, err := st.ListRuns(ctx, metadata.RunFilter{Pipeline: "scale_p00042"})
			return len(r), err
		}},
		{"runs list --status failed", func() (int, error) {
			r, err := st.ListRuns(ctx, metadata.RunFilter{Status: metadata.RunFailed})
			return len(r), err
		}},
		{"runs list with team filter", func() (int, error) {
			r, err := st.ListRuns(ctx, metadata.RunFilter{Team: "team-07"})
			return len(r), err
		}},
		{"runs show", func() (int, error) {
			d, err := st.GetRun(ctx, runs[0].Pipeline, runs[0].RunID)
			if err != nil {
				return 0, err
			}
			return len(d.Attempts), nil
		}},
		{"usage --by team --since 30d", func() (int, error) {
			u, err := st.Usage(ctx, metadata.UsageQuery{By: metadata.ByTeam, Since: since})
			return len(u), err
		}},
		{"usage --by team (CLI default: 30 days from the hour)", func() (int, error) {
			u, err := st.Usage(ctx, metadata.UsageQuery{By: metadata.ByTeam, Since: sinceHour})
			return len(u), err
		}},
		{"usage --by cost_center --since 30d", func() (int, error) {
			u, err := st.Usage(ctx, metadata.UsageQuery{By: metadata.ByCostCenter, Since: since})
			return len(u), err
		}},
	}
	for _, c := range cases {
		var ds []time.Duration
		var n int
		for range 7 {
			t0 := time.Now()
			if n, err = c.fn(); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		fmt.Printf("%-36s median %7.1f ms  max %7.1f ms  (%d rows)\n", c.name, float64(ds[3].Microseconds())/1000, float64(ds[6].Microseconds())/1000, n)
	}
	return nil
}

// prune times `runs prune` of the history's oldest days (Store.Prune, default batches) and checks
// that usage over the whole history and the fleet counters (the rollups' totals) did not change.
func prune(ctx context.Context, dsn string, days int) error {
	st, err := metadata.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	var oldest int64
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(min(started_us), 0) FROM aiflow_runs`).Scan(&oldest); err != nil || oldest == 0 {
		return fmt.Errorf("no runs in the store (run -mode history first): %v", err)
	}
	before := time.UnixMicro(oldest).Add(time.Duration(days) * 24 * time.Hour)
	q := metadata.UsageQuery{By: metadata.ByTeam, Since: time.UnixMicro(oldest).Add(-time.Hour)}
	u0, err := st.Usage(ctx, q)
	if err != nil {
		return err
	}
	t0 := time.Now()
	batches := 0
	res, err := st.(metadata.Pruner).Prune(ctx, before, 0, func(metadata.PruneResult) { batches++ })
	if err != nil {
		return err
	}
	d := time.Since(t0)
	u1, err := st.Usage(ctx, q)
	if err != nil {
		return err
	}
	if !slices.Equal(u0, u1) {
		return fmt.Errorf("usage changed with the prune: %v, then %v", u0, u1)
	}
	rows := res.Runs + res.Attempts + res.Pins + res.Commits + res.Lineage + res.Checks
	fmt.Printf("prune of the oldest %d days: %d runs, %d attempts, %d commits in %d batches, %.1f s (%.0f attempts/s, %.0f rows/s); usage unchanged\n",
		days, res.Runs, res.Attempts, res.Commits, batches, d.Seconds(), float64(res.Attempts)/d.Seconds(), float64(rows)/d.Seconds())
	return nil
}
