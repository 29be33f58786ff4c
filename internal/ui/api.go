package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	writeJSON(w, map[string]any{"user": u, "csrf": s.csrf, "specs": s.cfg.SpecsDir != ""})
}

// version returns a recorded pipeline version's IR, parsed once per hash.
func (s *Server) version(r *http.Request, pipeline, hash string) (*ir.Pipeline, error) {
	s.mu.Lock()
	p := s.irs[hash]
	s.mu.Unlock()
	if p != nil {
		if !userOf(r).sees(p.Tenant("team")) {
			return nil, metadata.ErrNotFound
		}
		return p, nil
	}
	v, err := s.store(r).PipelineVersion(r.Context(), pipeline, hash)
	if err != nil {
		return nil, err
	}
	var q ir.Pipeline
	if err := json.Unmarshal(v.IR, &q); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.irs[hash] = &q
	s.mu.Unlock()
	return &q, nil
}

// pipelineRow is one line of the pipelines page.
type pipelineRow struct {
	metadata.Pipeline
	Schedule *string       `json:"schedule"`
	Owner    string        `json:"owner"`
	Nodes    int           `json:"nodes"`
	LastRun  *metadata.Run `json:"last_run"`
	// Mode is the pipeline's mode (batch or streaming); a streaming pipeline has no runs of
	// its nodes but a job, whose last recorded state StreamState is.
	Mode        string `json:"mode"`
	StreamState string `json:"stream_state,omitempty"`
}

func (s *Server) pipelines(w http.ResponseWriter, r *http.Request) {
	st := s.store(r)
	ps, err := st.ListPipelines(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	js, err := st.ListStreamJobs(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	q := r.URL.Query()
	out := []pipelineRow{}
	for _, p := range ps {
		if (q.Get("team") != "" && p.Team != q.Get("team")) || (q.Get("env") != "" && p.Env != q.Get("env")) ||
			(q.Get("project") != "" && p.Project != q.Get("project")) {
			continue
		}
		row := pipelineRow{Pipeline: p}
		if v, err := s.version(r, p.Pipeline, p.IRHash); err == nil {
			row.Schedule, row.Owner, row.Nodes, row.Mode = v.Schedule, v.Owner, len(v.Nodes), v.Mode()
		}
		if i := slices.IndexFunc(js, func(j metadata.StreamJob) bool { return j.Pipeline == p.Pipeline }); i >= 0 {
			row.StreamState = js[i].State
		}
		runs, err := st.ListRuns(r.Context(), metadata.RunFilter{Pipeline: p.Pipeline, Limit: 1})
		if err != nil {
			fail(w, err)
			return
		}
		if len(runs) > 0 {
			row.LastRun = &runs[0]
		}
		out = append(out, row)
	}
	writeJSON(w, out)
}

// graphNode is a node of the pipeline graph page.
type graphNode struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Plugin       string         `json:"plugin"`
	Engine       string         `json:"engine"`
	Dataset      string         `json:"dataset"`
	Inputs       []string       `json:"inputs"`
	Params       map[string]any `json:"params"`
	Resources    map[string]any `json:"resources"`
	OutputSchema map[string]any `json:"output_schema"`
}

func (s *Server) pipeline(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st := s.store(r)
	ps, err := st.ListPipelines(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	i := slices.IndexFunc(ps, func(p metadata.Pipeline) bool { return p.Pipeline == id })
	if i < 0 {
		writeErr(w, http.StatusNotFound, "no pipeline "+id)
		return
	}
	hash := ps[i].IRHash
	if h := r.URL.Query().Get("ir_hash"); h != "" {
		hash = h
	}
	p, err := s.version(r, id, hash)
	if err != nil {
		fail(w, err)
		return
	}
	nodes := []graphNode{}
	for _, nid := range p.NodeIDs() {
		n := p.Nodes[nid]
		g := graphNode{ID: nid, Type: n.Type, Plugin: n.Plugin(), Engine: n.EngineName(), Inputs: n.InputIDs,
			Params: redactParams(n.Params), Resources: n.Resources, OutputSchema: n.OutputSchema}
		if d, err := s.cfg.Registry.DecodeNode(n); err == nil {
			g.Dataset = d.Asset()
		}
		nodes = append(nodes, g)
	}
	runs, err := st.ListRuns(r.Context(), metadata.RunFilter{Pipeline: id, Limit: 30})
	if err != nil {
		fail(w, err)
		return
	}
	stream, err := s.streamOf(r, id, ps[i].IRHash, ps)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, map[string]any{"pipeline": ps[i], "ir_hash": hash, "schedule": p.Schedule, "owner": p.Owner,
		"sla_minutes": p.SLAMinutes, "tags": p.Tags, "nodes": nodes, "edges": p.Edges, "runs": runs,
		"mode": p.Mode(), "stream": stream})
}

func (s *Server) nodeAttempts(w http.ResponseWriter, r *http.Request) {
	as, err := s.store(r).NodeAttempts(r.Context(), r.PathValue("id"), r.PathValue("node"), limitOf(r, 30))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, as)
}

func limitOf(r *http.Request, def int) int {
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n <= 1000 {
		return n
	}
	return def
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := metadata.RunFilter{Pipeline: q.Get("pipeline"), Team: q.Get("team"), Status: metadata.RunStatus(q.Get("status")), Limit: limitOf(r, 100)}
	runs, err := s.store(r).ListRuns(r.Context(), f)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, runs)
}

// replay is the command that replays one node of a run.
type replay struct {
	Node    string `json:"node"`
	Command string `json:"command"`
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	pipeline, runID := r.PathValue("pipeline"), r.PathValue("run")
	st := s.store(r)
	d, err := st.GetRun(r.Context(), pipeline, runID)
	if errors.Is(err, metadata.ErrNotFound) {
		unknownRun(w, r, st, pipeline, runID)
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	var nodes []string
	for _, a := range d.Attempts {
		if !slices.Contains(nodes, a.Node) {
			nodes = append(nodes, a.Node)
		}
	}
	rs := []replay{}
	for _, n := range nodes {
		rs = append(rs, replay{Node: n, Command: "aiflow-runner replay --pipeline " + shellQuote(d.Pipeline) +
			" --run-id " + shellQuote(d.RunID) + " --node " + shellQuote(n)})
	}
	writeJSON(w, map[string]any{"run": d, "replay": rs})
}

// unknownRun answers a run id the store does not hold (for this user: another team's run is
// unknown too) with what was probably meant, as the CLI suggests it (metadata.SuggestRunFor,
// through the user's scoped store), and the pipeline's latest runs: a 404 the run page turns
// into a page saying so, with links, instead of a bare "not found".
func unknownRun(w http.ResponseWriter, r *http.Request, st metadata.Store, pipeline, runID string) {
	sg := metadata.SuggestRunFor(r.Context(), st, pipeline, runID)
	// The latest runs of the pipeline meant: the one named, or the one suggested instead.
	of := pipeline
	if sg.Pipeline != "" {
		of = sg.Pipeline
	}
	recent, err := st.ListRuns(r.Context(), metadata.RunFilter{Pipeline: of, Limit: 5})
	if err != nil {
		recent = nil // a courtesy, like the suggestion: the answer stays "unknown run"
	}
	if recent == nil {
		recent = []metadata.Run{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	json.NewEncoder(w).Encode(map[string]any{
		"error":       fmt.Sprintf("run %s of pipeline %s is not recorded%s", runID, pipeline, sg.Text),
		"unknown_run": map[string]any{"pipeline": pipeline, "run_id": runID, "suggestion": sg, "recent_of": of, "recent": recent},
	})
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_.:+@/=-]+$`)

// shellQuote quotes s for a POSIX shell (run ids hold '+' and ':', Airflow's scheduled__<date>).
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func daysOf(r *http.Request) time.Time {
	days := 30
	if n, err := strconv.Atoi(r.URL.Query().Get("days")); err == nil && n > 0 && n <= 3660 {
		days = n
	}
	return time.Now().UTC().AddDate(0, 0, -days)
}

func (s *Server) lineage(w http.ResponseWriter, r *http.Request) {
	es, err := s.store(r).LineageEdges(r.Context(), metadata.LineageQuery{Since: daysOf(r)})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, es)
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request) {
	by := metadata.UsageBy(r.URL.Query().Get("by"))
	if by == "" {
		by = metadata.ByTeam
	}
	rows, err := s.store(r).Usage(r.Context(), metadata.UsageQuery{By: by, Since: daysOf(r)})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, map[string]any{"by": by, "rows": rows})
}

// pluginDoc is a plugin kind as the authoring forms see it.
type pluginDoc struct {
	Role      string     `json:"role"`
	Kind      string     `json:"kind"`
	Summary   string     `json:"summary"`
	Engines   []string   `json:"engines"`
	Open      bool       `json:"open"`
	Params    []fieldDoc `json:"params"`
	Resources []fieldDoc `json:"resources"`
}

type fieldDoc struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Default  string `json:"default"`
	Required bool   `json:"required"`
	Doc      string `json:"doc"`
}

func fieldDocs(cfg plugin.Config) []fieldDoc {
	out := []fieldDoc{}
	for _, f := range plugin.Fields(cfg) {
		out = append(out, fieldDoc{Name: f.Name, Type: f.Type, Default: f.Default, Required: f.Required, Doc: f.Doc})
	}
	return out
}

func (s *Server) plugins(w http.ResponseWriter, r *http.Request) {
	reg := s.cfg.Registry
	out := []pluginDoc{}
	for _, role := range plugin.Roles {
		for _, kind := range reg.Kinds(role) {
			sp, _ := reg.Lookup(role, kind)
			d := pluginDoc{Role: string(role), Kind: kind, Summary: sp.Summary, Engines: sp.Engines, Open: sp.Open,
				Params: fieldDocs(sp.New())}
			if role == plugin.RoleEngine && sp.NewResources != nil {
				d.Resources = fieldDocs(sp.NewResources())
			} else {
				d.Resources = fieldDocs(&plugin.PodResources{})
			}
			out = append(out, d)
		}
	}
	writeJSON(w, out)
}

// secretKey matches param names that hold credentials: their values are shown only when they
// are references (${ENV}, {"secret": "name/key"}); validation refuses literals there, and the
// UI does not rely on it.
var secretKey = regexp.MustCompile(`(?i)(password|passwd|passphrase|pwd|secret|token|api_?key|access_?key|private_?key|credential)`)

// userinfo finds a password in a URL's userinfo.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*:)([^/?#@\s]+)@`)

// redact returns v with every secret value that is not a reference replaced by "(redacted)".
func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			switch {
			case ir.IsSecretRef(e):
				out[k] = e // a reference names where the secret is, not what it is
			case secretKey.MatchString(k) && e != nil:
				out[k] = "(redacted)"
			default:
				out[k] = redact(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redact(e)
		}
		return out
	case string:
		return userinfo.ReplaceAllString(x, "${1}(redacted)@")
	}
	return v
}

// redactParams is redact of a node's params, never nil.
func redactParams(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return redact(m).(map[string]any)
}
