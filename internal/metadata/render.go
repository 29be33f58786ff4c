package metadata

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The renderers print what the CLI shows: tables for people, JSON (--json) for scripts. JSON field
// names are the struct tags in types.go, snake_case, and are a contract like the CLI: add fields,
// do not rename them. Lists are JSON arrays, never null.

// WriteRunsTable prints runs one per line, as `runs list` shows them.
func WriteRunsTable(w io.Writer, runs []Run) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "PIPELINE\tRUN ID\tLOGICAL DATE\tSTATUS\tTEAM\tSTARTED\tDURATION")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Pipeline, r.RunID, timeOrDash(r.LogicalDate),
			r.Status, orDash(r.Team), stamp(r.StartedAt), duration(r.StartedAt, r.EndedAt))
	}
	return tw.Flush()
}

// WriteRunsJSON prints runs as a JSON array.
func WriteRunsJSON(w io.Writer, runs []Run) error {
	if runs == nil {
		runs = []Run{}
	}
	return writeJSON(w, runs)
}

// WriteRunDetail prints a run and, section by section, its attempts, commits, pins, lineage and
// check results (when there are any), as
// `runs show` shows them.
func WriteRunDetail(w io.Writer, d *RunDetail) error {
	tw := newTable(w)
	for _, kv := range [][2]string{
		{"pipeline", d.Pipeline}, {"run id", d.RunID}, {"logical date", timeOrDash(d.LogicalDate)},
		{"ir hash", d.IRHash}, {"status", string(d.Status)}, {"started", stamp(d.StartedAt)},
		{"ended", timeOrDash(d.EndedAt)}, {"duration", duration(d.StartedAt, d.EndedAt)},
		{"team", orDash(d.Team)}, {"env", orDash(d.Env)}, {"project", orDash(d.Project)},
		{"cost center", orDash(d.CostCenter)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}

	fmt.Fprintln(tw, "\nATTEMPTS")
	fmt.Fprintln(tw, "NODE\tTRY\tSTATUS\tEXIT\tSTARTED\tDURATION\tROWS IN\tROWS OUT\tBYTES IN\tBYTES OUT\tENGINE\tPOD\tERROR")
	for _, a := range d.Attempts {
		exit := "-"
		if a.ExitCode != nil {
			exit = strconv.Itoa(*a.ExitCode)
		}
		errText := "-"
		if a.ErrorClass != "" || a.ErrorMessage != "" {
			errText = oneLine(a.ErrorClass+": "+a.ErrorMessage, 80)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", a.Node, a.Try, a.Status, exit,
			stamp(a.StartedAt), duration(a.StartedAt, a.EndedAt), a.RowsIn, a.RowsOut, a.BytesIn, a.BytesOut,
			orDash(a.Engine), orDash(a.PodName), errText)
	}

	fmt.Fprintln(tw, "\nCOMMITS")
	fmt.Fprintln(tw, "NODE\tTRY\tCOMMITTED\tMANIFEST")
	for _, c := range d.Commits {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", c.Node, c.Try, stamp(c.CommittedAt), oneLine(string(c.Manifest), 100))
	}

	fmt.Fprintln(tw, "\nPINS")
	fmt.Fprintln(tw, "NODE\tTRY\tINPUT\tPIN")
	for _, p := range d.Pins {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.Node, p.Try, p.Input, oneLine(string(p.Document), 100))
	}

	fmt.Fprintln(tw, "\nLINEAGE")
	fmt.Fprintln(tw, "NODE\tTRY\tDIRECTION\tNAMESPACE\tNAME\tROWS\tBYTES")
	for _, l := range d.Lineage {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\n", l.Node, l.Try, l.Direction, l.Namespace, l.Name, l.Rows, l.Bytes)
	}

	if len(d.Checks) > 0 {
		fmt.Fprintln(tw, "\nCHECKS")
		fmt.Fprintln(tw, "NODE\tTRY\tCHECK\tSEVERITY\tSTATUS\tOBSERVED\tMESSAGE")
		for _, c := range d.Checks {
			observed := "-"
			if c.Observed != nil {
				observed = strconv.FormatFloat(*c.Observed, 'g', 6, 64)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.Node, c.Try, c.Name, c.Severity, c.Status, observed, oneLine(c.Message, 100))
		}
	}
	return tw.Flush()
}

// WriteRunDetailJSON prints a run with its attempts, pins, commits and lineage as one JSON object.
func WriteRunDetailJSON(w io.Writer, d *RunDetail) error { return writeJSON(w, d) }

// WritePipelines prints the latest version of each pipeline, as `pipelines list` shows them.
func WritePipelines(w io.Writer, ps []Pipeline) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "PIPELINE\tIR HASH\tVERSIONS\tTEAM\tENV\tPROJECT\tCOST CENTER\tLAST SEEN")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Pipeline, shortHash(p.IRHash), p.Versions,
			orDash(p.Team), orDash(p.Env), orDash(p.Project), orDash(p.CostCenter), stamp(p.LastSeen))
	}
	return tw.Flush()
}

// WritePipelinesJSON prints pipelines as a JSON array.
func WritePipelinesJSON(w io.Writer, ps []Pipeline) error {
	if ps == nil {
		ps = []Pipeline{}
	}
	return writeJSON(w, ps)
}

// WriteUsage prints usage per tenant, as `usage --by … --since …` shows it.
func WriteUsage(w io.Writer, q UsageQuery, rows []UsageRow) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "%s\tATTEMPTS\tNODE-SECONDS\tROWS IN\tROWS OUT\tBYTES IN\tBYTES OUT\n",
		strings.ToUpper(strings.ReplaceAll(string(q.By), "_", " ")))
	for _, u := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%d\t%d\t%d\n", orDash(u.Tenant), u.Attempts, u.NodeSeconds,
			u.RowsIn, u.RowsOut, u.BytesIn, u.BytesOut)
	}
	return tw.Flush()
}

// usageJSON says what the rows are grouped by and since when, so the document stands alone.
type usageJSON struct {
	By    UsageBy    `json:"by"`
	Since time.Time  `json:"since"`
	Rows  []UsageRow `json:"rows"`
}

// WriteUsageJSON prints usage as {"by": …, "since": …, "rows": [...]}.
func WriteUsageJSON(w io.Writer, q UsageQuery, rows []UsageRow) error {
	if rows == nil {
		rows = []UsageRow{}
	}
	return writeJSON(w, usageJSON{By: q.By, Since: q.Since.UTC(), Rows: rows})
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return stamp(*t)
}

// duration is how long something took, or "-" while it runs.
func duration(start time.Time, end *time.Time) string {
	if end == nil {
		return "-"
	}
	d := end.Sub(start)
	if d >= time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// oneLine keeps a table row on one line: newlines and tabs become spaces and long text is cut.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
