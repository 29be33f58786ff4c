package metadata

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
)

// runColumns reads a run with the tenancy of its pipeline version (empty if the version was never
// recorded, as when a run was started by hand); the team is the run's own copy of its version's.
const runColumns = runSelect + `
FROM aiflow_runs r` + runTenancy

const (
	runSelect = `
SELECT r.pipeline_id, r.run_id, r.logical_date_us, r.ir_hash, r.status, r.started_us, r.ended_us,
       r.team, COALESCE(p.env, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, '')`
	runTenancy = `
LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = r.pipeline_id AND p.ir_hash = r.ir_hash`
)

func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var logical, ended sql.NullInt64
	var started int64
	var status string
	err := row.Scan(&r.Pipeline, &r.RunID, &logical, &r.IRHash, &status, &started, &ended,
		&r.Team, &r.Env, &r.Project, &r.CostCenter)
	r.Status = RunStatus(status)
	r.LogicalDate = timePtr(logical)
	r.StartedAt = fromMicros(started)
	r.EndedAt = timePtr(ended)
	return r, err
}

func (s *sqlStore) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.Pipeline != "" {
		add("r.pipeline_id = $%d", f.Pipeline)
	}
	if f.RunID != "" {
		add("r.run_id = $%d", f.RunID)
	}
	if f.Status != "" {
		add("r.status = $%d", string(f.Status))
	}
	teams, anyTeam := runTeams(f)
	if !anyTeam && len(teams) == 0 {
		return []Run{}, nil
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultRunLimit
	}
	q := runColumns
	switch {
	case len(teams) == 1:
		// The newest runs of one team are the first entries of aiflow_runs_team_started.
		add("r.team = $%d", teams[0])
	case len(teams) > 1 && s.d.backend == PostgresBackend:
		// Several teams (a scoped store's): the newest `limit` of each team through the index,
		// then the newest of those; "team IN (...)" would read and sort every run of the teams.
		ph := make([]string, len(teams))
		for i, t := range teams {
			args = append(args, t)
			ph[i] = fmt.Sprintf("($%d)", len(args))
		}
		inner := append([]string{"r.team = t.team"}, conds...)
		conds = nil
		q = runSelect + `
FROM (VALUES ` + strings.Join(ph, ", ") + `) t(team)
CROSS JOIN LATERAL (
    SELECT * FROM aiflow_runs r WHERE ` + strings.Join(inner, " AND ") + fmt.Sprintf(`
    ORDER BY r.started_us DESC, r.pipeline_id, r.run_id LIMIT %d) r`, limit) + runTenancy
	case len(teams) > 1:
		conds = append(conds, teamsIn("r.team", teams, &args))
	}
	if len(conds) > 0 {
		q += "\nWHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, limit)
	q += fmt.Sprintf("\nORDER BY r.started_us DESC, r.pipeline_id, r.run_id LIMIT $%d", len(args))

	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail(err, "list runs")
	}
	defer rows.Close()
	runs := []Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, s.fail(err, "list runs")
		}
		runs = append(runs, r)
	}
	return runs, s.fail(rows.Err(), "list runs")
}

// runTeams is the set of teams a run filter admits: nil with anyTeam when it names none; the
// filter's Team when it is one of its Teams (or Teams is nil); otherwise Teams.
func runTeams(f RunFilter) (teams []string, anyTeam bool) {
	switch {
	case f.Team != "" && (f.Teams == nil || slices.Contains(f.Teams, f.Team)):
		return []string{f.Team}, false
	case f.Team != "":
		return nil, false
	case f.Teams != nil:
		return slices.Compact(slices.Sorted(slices.Values(f.Teams))), false
	}
	return nil, true
}

func (s *sqlStore) GetRun(ctx context.Context, pipeline, runID string) (*RunDetail, error) {
	if pipeline == "" {
		p, err := s.pipelineOfRun(ctx, runID)
		if err != nil {
			return nil, err
		}
		pipeline = p
	}
	r, err := scanRun(s.db.QueryRowContext(ctx, runColumns+"\nWHERE r.pipeline_id = $1 AND r.run_id = $2", pipeline, runID))
	if err == sql.ErrNoRows {
		return nil, fault.Wrap(fault.Usage, ErrNotFound, "show run %s of pipeline %s", runID, pipeline)
	}
	if err != nil {
		return nil, s.fail(err, "show run %s of %s", runID, pipeline)
	}
	d := &RunDetail{Run: r}
	if d.Attempts, err = s.attempts(ctx, pipeline, runID); err != nil {
		return nil, err
	}
	if d.Pins, err = s.pins(ctx, pipeline, runID); err != nil {
		return nil, err
	}
	if d.Commits, err = s.commits(ctx, pipeline, runID); err != nil {
		return nil, err
	}
	if d.Lineage, err = s.lineage(ctx, pipeline, runID); err != nil {
		return nil, err
	}
	if d.Checks, err = s.checks(ctx, pipeline, runID); err != nil {
		return nil, err
	}
	return d, nil
}

// pipelineOfRun finds the one pipeline that has a run with this id. Airflow reuses run ids across
// DAGs (scheduled__2024-06-01T03:00:00+00:00), so more than one is a usage error.
func (s *sqlStore) pipelineOfRun(ctx context.Context, runID string) (string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pipeline_id FROM aiflow_runs WHERE run_id = $1 ORDER BY pipeline_id`, runID)
	if err != nil {
		return "", s.fail(err, "find run %s", runID)
	}
	defer rows.Close()
	var ps []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return "", s.fail(err, "find run %s", runID)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return "", s.fail(err, "find run %s", runID)
	}
	switch len(ps) {
	case 0:
		return "", fault.Wrap(fault.Usage, ErrNotFound, "show run %s", runID)
	case 1:
		return ps[0], nil
	}
	return "", fault.Usagef("show run %s: it is a run of pipelines %s: name one with --pipeline", runID, strings.Join(ps, ", "))
}

// each runs a query and calls scan for every row, wrapping errors with what was being done.
func (s *sqlStore) each(ctx context.Context, doing, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return s.fail(err, "%s", doing)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.fail(err, "%s", doing)
		}
	}
	return s.fail(rows.Err(), "%s", doing)
}

const attemptColumns = `
SELECT pipeline_id, run_id, node_id, try, ir_hash, status, exit_code, error_class, error_message,
       started_us, ended_us, rows_in, rows_out, bytes_in, bytes_out, engine, pod_name, host, attempt_id
FROM aiflow_node_attempts`

func (s *sqlStore) attempts(ctx context.Context, pipeline, runID string) ([]Attempt, error) {
	return s.scanAttempts(ctx, "read attempts of run "+runID, attemptColumns+`
WHERE pipeline_id = $1 AND run_id = $2 ORDER BY started_us, node_id, try, attempt_id`, []any{pipeline, runID})
}

func (s *sqlStore) NodeAttempts(ctx context.Context, pipeline, node string, limit int) ([]Attempt, error) {
	if limit <= 0 {
		limit = DefaultRunLimit
	}
	return s.scanAttempts(ctx, "read attempts of node "+node+" of "+pipeline, attemptColumns+`
WHERE pipeline_id = $1 AND node_id = $2 ORDER BY started_us DESC, run_id, try, attempt_id LIMIT $3`,
		[]any{pipeline, node, limit})
}

func (s *sqlStore) scanAttempts(ctx context.Context, doing, q string, args []any) ([]Attempt, error) {
	out := []Attempt{}
	err := s.each(ctx, doing, q, args,
		func(rows *sql.Rows) error {
			var a Attempt
			var status string
			var exit, ended sql.NullInt64
			var started int64
			if err := rows.Scan(&a.Pipeline, &a.RunID, &a.Node, &a.Try, &a.IRHash, &status, &exit,
				&a.ErrorClass, &a.ErrorMessage, &started, &ended, &a.RowsIn, &a.RowsOut, &a.BytesIn,
				&a.BytesOut, &a.Engine, &a.PodName, &a.Host, &a.AttemptID); err != nil {
				return err
			}
			a.Status = AttemptStatus(status)
			if exit.Valid {
				code := int(exit.Int64)
				a.ExitCode = &code
			}
			a.StartedAt = fromMicros(started)
			a.EndedAt = timePtr(ended)
			out = append(out, a)
			return nil
		})
	return out, err
}

func (s *sqlStore) pins(ctx context.Context, pipeline, runID string) ([]Pin, error) {
	out := []Pin{}
	err := s.each(ctx, "read pins of run "+runID, `
SELECT node_id, try, input_id, pin_json, recorded_us FROM aiflow_input_pins
WHERE pipeline_id = $1 AND run_id = $2 ORDER BY node_id, try, input_id`, []any{pipeline, runID},
		func(rows *sql.Rows) error {
			p := Pin{AttemptKey: AttemptKey{Pipeline: pipeline, RunID: runID}}
			var doc string
			var at int64
			if err := rows.Scan(&p.Node, &p.Try, &p.Input, &doc, &at); err != nil {
				return err
			}
			p.Document = rawJSON(doc)
			p.RecordedAt = fromMicros(at)
			out = append(out, p)
			return nil
		})
	return out, err
}

func (s *sqlStore) commits(ctx context.Context, pipeline, runID string) ([]Commit, error) {
	out := []Commit{}
	err := s.each(ctx, "read commits of run "+runID, `
SELECT node_id, try, manifest_json, committed_us FROM aiflow_commits
WHERE pipeline_id = $1 AND run_id = $2 ORDER BY committed_us, node_id`, []any{pipeline, runID},
		func(rows *sql.Rows) error {
			c := Commit{AttemptKey: AttemptKey{Pipeline: pipeline, RunID: runID}}
			var manifest string
			var at int64
			if err := rows.Scan(&c.Node, &c.Try, &manifest, &at); err != nil {
				return err
			}
			c.Manifest = rawJSON(manifest)
			c.CommittedAt = fromMicros(at)
			out = append(out, c)
			return nil
		})
	return out, err
}

func (s *sqlStore) lineage(ctx context.Context, pipeline, runID string) ([]Lineage, error) {
	out := []Lineage{}
	err := s.each(ctx, "read lineage of run "+runID, `
SELECT node_id, try, direction, namespace, name, row_count, byte_count, schema_json, recorded_us
FROM aiflow_lineage WHERE pipeline_id = $1 AND run_id = $2
ORDER BY node_id, try, direction, namespace, name`, []any{pipeline, runID},
		func(rows *sql.Rows) error {
			l := Lineage{AttemptKey: AttemptKey{Pipeline: pipeline, RunID: runID}}
			var dir string
			var schema sql.NullString
			var at int64
			if err := rows.Scan(&l.Node, &l.Try, &dir, &l.Namespace, &l.Name, &l.Rows, &l.Bytes, &schema, &at); err != nil {
				return err
			}
			l.Direction = Direction(dir)
			if schema.Valid {
				l.Schema = rawJSON(schema.String)
			}
			l.RecordedAt = fromMicros(at)
			out = append(out, l)
			return nil
		})
	return out, err
}

func (s *sqlStore) checks(ctx context.Context, pipeline, runID string) ([]CheckResult, error) {
	out := []CheckResult{}
	err := s.each(ctx, "read check results of run "+runID, `
SELECT node_id, try, name, kind, severity, status, observed, message, recorded_us
FROM aiflow_check_results WHERE pipeline_id = $1 AND run_id = $2
ORDER BY node_id, try, recorded_us, name`, []any{pipeline, runID},
		func(rows *sql.Rows) error {
			c := CheckResult{AttemptKey: AttemptKey{Pipeline: pipeline, RunID: runID}}
			var observed sql.NullFloat64
			var at int64
			if err := rows.Scan(&c.Node, &c.Try, &c.Name, &c.Kind, &c.Severity, &c.Status, &observed, &c.Message, &at); err != nil {
				return err
			}
			if observed.Valid {
				v := observed.Float64
				c.Observed = &v
			}
			c.RecordedAt = fromMicros(at)
			out = append(out, c)
			return nil
		})
	return out, err
}

func (s *sqlStore) PipelineVersion(ctx context.Context, pipeline, irHash string) (*PipelineVersion, error) {
	v := PipelineVersion{Pipeline: pipeline, IRHash: irHash}
	var ir string
	var first, last int64
	err := s.db.QueryRowContext(ctx, `
SELECT ir_json, team, env, project, cost_center, first_seen_us, last_seen_us
FROM aiflow_pipeline_versions WHERE pipeline_id = $1 AND ir_hash = $2`, pipeline, irHash).
		Scan(&ir, &v.Team, &v.Env, &v.Project, &v.CostCenter, &first, &last)
	if err == sql.ErrNoRows {
		return nil, fault.Wrap(fault.Config, ErrNotFound, "pipeline %s version %s", pipeline, irHash)
	}
	if err != nil {
		return nil, s.fail(err, "read pipeline %s version %s", pipeline, irHash)
	}
	v.IR = json.RawMessage(ir) // text, byte for byte: its hash is irHash
	v.FirstSeen, v.LastSeen = fromMicros(first), fromMicros(last)
	return &v, nil
}

func (s *sqlStore) ListPipelines(ctx context.Context) ([]Pipeline, error) {
	// Versions are few per pipeline; picking the latest in Go keeps the SQL portable and settles
	// ties (two versions seen in the same microsecond) by hash.
	out := []Pipeline{}
	err := s.each(ctx, "list pipelines", `
SELECT pipeline_id, ir_hash, team, env, project, cost_center, first_seen_us, last_seen_us
FROM aiflow_pipeline_versions ORDER BY pipeline_id, last_seen_us DESC, ir_hash`, nil,
		func(rows *sql.Rows) error {
			var v PipelineVersion
			var first, last int64
			if err := rows.Scan(&v.Pipeline, &v.IRHash, &v.Team, &v.Env, &v.Project, &v.CostCenter, &first, &last); err != nil {
				return err
			}
			v.FirstSeen, v.LastSeen = fromMicros(first), fromMicros(last)
			if n := len(out); n > 0 && out[n-1].Pipeline == v.Pipeline {
				out[n-1].Versions++
				if v.FirstSeen.Before(out[n-1].FirstSeen) {
					out[n-1].FirstSeen = v.FirstSeen // first seen of the pipeline, not the version
				}
				return nil
			}
			out = append(out, Pipeline{PipelineVersion: v, Versions: 1})
			return nil
		})
	return out, err
}

// usageColumns maps UsageBy to its column: the only way a caller's word reaches the SQL text.
var usageColumns = map[UsageBy]string{ByTeam: "p.team", ByProject: "p.project", ByCostCenter: "p.cost_center"}

// Rollup bucket sizes of aiflow_usage_hourly and aiflow_usage_daily (migration 0004), in µs.
const (
	hourUs = int64(time.Hour / time.Microsecond)
	dayUs  = 24 * hourUs
)

// ceilTo rounds a non-negative µs timestamp up to a multiple of size.
func ceilTo(us, size int64) int64 { return (us + size - 1) / size * size }

func (s *sqlStore) Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	col, ok := usageColumns[q.By]
	if !ok {
		return nil, fault.Usagef("usage by %q: want team, project or cost_center", q.By)
	}
	// Attempts carry their own ir_hash, so an attempt is billed to the tenancy of the IR it ran.
	// Running attempts have no duration yet and are left out. Whole UTC days since q.Since come
	// from the daily rollup, whole hours before the first of them from the hourly one, and only
	// the part of an hour at q.Since from the attempts themselves: a 30-day question reads about
	// 30 x tenancies rollup rows and at most an hour of attempts, whatever the history's size.
	since := max(micros(q.Since), 0)
	hour, day := ceilTo(since, hourUs), ceilTo(since, dayUs)
	// The attempts read one by one are [since, hour), plus; or, when q.Since is in the first half
	// of its hour, that whole hour is taken from the rollup and [hour start, since) read, minus:
	// at most half an hour of attempts either way (~21,000 at a million a day).
	hourFrom, rawFrom, rawTo, sign := hour, since, hour, int64(1)
	if start := hour - hourUs; since != hour && since-start < hourUs/2 {
		hourFrom, rawFrom, rawTo, sign = start, start, since, -1
	}
	bare := strings.TrimPrefix(col, "p.")
	args := []any{rawFrom, hourFrom, day, rawTo, sign}
	rollTeams, rawTeams := "", ""
	if q.Teams != nil {
		rollTeams = " AND " + teamsIn("team", q.Teams, &args)
		rawTeams = " AND " + teamsIn("p.team", q.Teams, &args)
	}
	out := []UsageRow{}
	err := s.each(ctx, "sum usage by "+string(q.By), `
SELECT tenant, CAST(SUM(n) AS BIGINT), CAST(SUM(us) AS BIGINT),
       CAST(SUM(rows_in) AS BIGINT), CAST(SUM(rows_out) AS BIGINT),
       CAST(SUM(bytes_in) AS BIGINT), CAST(SUM(bytes_out) AS BIGINT)
FROM (
    SELECT `+bare+` AS tenant, attempts AS n, node_us AS us, rows_in, rows_out, bytes_in, bytes_out
    FROM aiflow_usage_daily WHERE bucket_us >= $3`+rollTeams+`
    UNION ALL
    SELECT `+bare+`, attempts, node_us, rows_in, rows_out, bytes_in, bytes_out
    FROM aiflow_usage_hourly WHERE bucket_us >= $2 AND bucket_us < $3`+rollTeams+`
    UNION ALL
    SELECT COALESCE(`+col+`, ''), CAST($5 AS BIGINT), $5 * (a.ended_us - a.started_us), $5 * a.rows_in, $5 * a.rows_out,
           $5 * a.bytes_in, $5 * a.bytes_out
    FROM aiflow_node_attempts a
    LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = a.pipeline_id AND p.ir_hash = a.ir_hash
    WHERE a.started_us >= $1 AND a.started_us < $4 AND a.ended_us IS NOT NULL`+rawTeams+`
) u
GROUP BY tenant
HAVING SUM(n) > 0
ORDER BY 3 DESC, 1`, args,
		func(rows *sql.Rows) error {
			var u UsageRow
			var us int64
			if err := rows.Scan(&u.Tenant, &u.Attempts, &us, &u.RowsIn, &u.RowsOut, &u.BytesIn, &u.BytesOut); err != nil {
				return err
			}
			u.NodeSeconds = float64(us) / 1e6
			out = append(out, u)
			return nil
		})
	return out, err
}

func (s *sqlStore) Activity(ctx context.Context, q ActivityQuery) (Activity, error) {
	// Attempts since q.Since through the index on started_us (an hour is ~42,000 attempts at a
	// million a day), each with its version's team; running runs through (status, started).
	args := []any{max(micros(q.Since), 0)}
	attemptTeams, runTeams := "", ""
	if q.Teams != nil {
		attemptTeams = " AND " + teamsIn("COALESCE(p.team, '')", q.Teams, &args)
	}
	act := Activity{Attempts: []TeamCount{}, Running: []TeamCount{}}
	scan := func(into *[]TeamCount) func(*sql.Rows) error {
		return func(rows *sql.Rows) error {
			var c TeamCount
			if err := rows.Scan(&c.Team, &c.Status, &c.N); err != nil {
				return err
			}
			*into = append(*into, c)
			return nil
		}
	}
	if err := s.each(ctx, "count attempts by team and status", `
SELECT COALESCE(p.team, ''), a.status, COUNT(*)
FROM aiflow_node_attempts a
LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = a.pipeline_id AND p.ir_hash = a.ir_hash
WHERE a.started_us >= $1`+attemptTeams+`
GROUP BY 1, 2 ORDER BY 1, 2`, args, scan(&act.Attempts)); err != nil {
		return Activity{}, err
	}
	var rargs []any
	if q.Teams != nil {
		runTeams = " AND " + teamsIn("r.team", q.Teams, &rargs)
	}
	err := s.each(ctx, "count running runs by team", `
SELECT r.team, r.status, COUNT(*) FROM aiflow_runs r WHERE r.status = 'running'`+runTeams+`
GROUP BY 1, 2 ORDER BY 1`, rargs, scan(&act.Running))
	return act, err
}

// teamsIn is the condition "col is one of teams", its values appended to args as placeholders
// (never spliced into the SQL). No team matches nothing.
func teamsIn(col string, teams []string, args *[]any) string {
	if len(teams) == 0 {
		return "1 = 0"
	}
	ph := make([]string, len(teams))
	for i, t := range teams {
		*args = append(*args, t)
		ph[i] = fmt.Sprintf("$%d", len(*args))
	}
	return col + " IN (" + strings.Join(ph, ", ") + ")"
}

func (s *sqlStore) LineageEdges(ctx context.Context, q LineageQuery) ([]LineageEdge, error) {
	n := q.RunsPerPipeline
	if n <= 0 {
		n = DefaultLineageRuns
	}
	var ids []string
	// The recorded pipelines (a run started by hand of a pipeline never recorded has no tenant and
	// no place in the graph); a team's only, when the query names teams.
	var vargs []any
	vcond := ""
	if q.Teams != nil {
		vcond = " WHERE " + teamsIn("team", q.Teams, &vargs)
	}
	if err := s.each(ctx, "list pipelines", `SELECT DISTINCT pipeline_id FROM aiflow_pipeline_versions`+vcond+` ORDER BY pipeline_id`, vargs,
		func(rows *sql.Rows) error {
			var id string
			ids = append(ids, id)
			return rows.Scan(&ids[len(ids)-1])
		}); err != nil {
		return nil, err
	}
	// One query per pipeline: its latest runs (index aiflow_runs_pipeline_started), their lineage
	// rows (primary key prefix pipeline_id, run_id), and the team of each run's version. A lineage
	// row has no ir_hash: its run's version says whose it is.
	out := []LineageEdge{}
	for _, id := range ids {
		args := []any{id, micros(q.Since), n}
		teamCond := ""
		if q.Teams != nil {
			teamCond = "\nWHERE " + teamsIn("COALESCE(p.team, '')", q.Teams, &args)
		}
		err := s.each(ctx, "read lineage edges of "+id, `
SELECT l.pipeline_id, l.node_id, l.direction, l.namespace, l.name, COALESCE(MAX(p.team), ''),
       COUNT(DISTINCT l.run_id), MAX(l.recorded_us)
FROM (SELECT pipeline_id, run_id, ir_hash FROM aiflow_runs
      WHERE pipeline_id = $1 AND started_us >= $2 ORDER BY started_us DESC LIMIT $3) r
JOIN aiflow_lineage l ON l.pipeline_id = r.pipeline_id AND l.run_id = r.run_id
LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = r.pipeline_id AND p.ir_hash = r.ir_hash`+teamCond+`
GROUP BY l.pipeline_id, l.node_id, l.direction, l.namespace, l.name`, args,
			func(rows *sql.Rows) error {
				var e LineageEdge
				var dir string
				var last int64
				if err := rows.Scan(&e.Pipeline, &e.Node, &dir, &e.Namespace, &e.Name, &e.Team, &e.Runs, &last); err != nil {
					return err
				}
				e.Direction, e.Last = Direction(dir), fromMicros(last)
				out = append(out, e)
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Pipeline, b.Pipeline),
			cmp.Compare(a.Node, b.Node), cmp.Compare(a.Direction, b.Direction)) < 0
	})
	return out, nil
}
