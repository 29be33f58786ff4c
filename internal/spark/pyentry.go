//go:build !nospark

package spark

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/apache/spark-connect-go/spark/sql"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/pyengine"
	"github.com/aiflow-dev/aiflow/internal/pyplugin"
	"github.com/aiflow-dev/aiflow/internal/spark/sparkspec"
	"github.com/aiflow-dev/aiflow/plugin"
)

// pythonTimeout bounds a PySpark entrypoint's subprocess. The function usually only builds a plan
// (the runner writes the result), but it may run actions of its own; Airflow's execution_timeout
// is the real bound.
const pythonTimeout = 24 * time.Hour

var dottedName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// checkPythonEntrypoint accepts module:function with a dotted Python module name.
func checkPythonEntrypoint(ep string) error {
	mod, fn, ok := strings.Cut(ep, ":")
	if !ok || !dottedName.MatchString(mod) || !dottedName.MatchString(fn) {
		return plugin.Errorf("entrypoint", "%q is neither a Go function registered in this runner nor a Python module:function (etl_jobs.enrich_orders:main)", ep)
	}
	return nil
}

// runPythonEntrypoint calls the node's PySpark function main(spark, inputs, params) in a Python
// subprocess (aiflow_sdk.sparkrun) that joins this node's Spark Connect session: the inputs are
// the temp views the runner registered, and the function's DataFrame comes back as a temp view,
// a plan on the server. Nothing crosses the subprocess but the request.
func runPythonEntrypoint(ctx context.Context, s *Session, env *plugin.Env, cfg *sparkspec.Transform) (sql.DataFrame, error) {
	remote, err := s.sharedRemote()
	if err != nil {
		return nil, err
	}
	view := fmt.Sprintf("aiflow_out_%s_%d", nonIdent.ReplaceAllString(env.Node.ID, "_"), env.Try)
	req := map[string]any{
		"entrypoint":     cfg.Entrypoint,
		"remote":         remote,
		"params":         env.Node.Params,
		"context":        runContext(env),
		"views":          env.InputOrder,
		"readers":        map[string]any{},
		"plugin_modules": []string{},
		"output_view":    view,
	}
	if err := pyengine.Call(ctx, env, "sparkrun", "spark entrypoint "+cfg.Entrypoint, req, pythonTimeout); err != nil {
		if fault.ClassOf(err) == fault.Data {
			return nil, fault.Wrap(fault.Data, err, "")
		}
		return nil, err
	}
	df, err := s.Sql(ctx, "SELECT * FROM "+quoteIdent(view))
	if err != nil {
		return nil, fmt.Errorf("result of %s: %w", cfg.Entrypoint, Classify(err, s.Remote))
	}
	return df, nil
}

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9_]`)

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// runContext is the seed's context of a reader or function: the run's variables.
func runContext(env *plugin.Env) map[string]any {
	c := funcParams(env)
	c["pipeline_id"] = env.Pipeline.ID
	c["node_id"] = env.Node.ID
	c["dag_id"] = env.Pipeline.ID
	c["try_number"] = env.Try
	return c
}

// sharedRemote is the remote with this session's client session id and user: a Spark Connect
// client given it joins the same server-side session (its temp views, its config).
func (s *Session) sharedRemote() (string, error) {
	id := s.conn.ids.client()
	if id == "" {
		return "", fault.Temporaryf("Spark Connect %s: the session has no id yet", s.Remote)
	}
	base, params, _ := strings.Cut(s.raw, ";")
	if !strings.Contains(strings.TrimPrefix(base, "sc://"), "/") {
		base += "/"
	}
	out := []string{base}
	for _, p := range strings.Split(params, ";") {
		k, _, _ := strings.Cut(p, "=")
		if p == "" || k == "session_id" || k == "user_id" {
			continue
		}
		out = append(out, p)
	}
	out = append(out, "session_id="+id, "user_id="+s.conn.User())
	return strings.Join(out, ";"), nil
}

// readPythonInputs runs the Python Spark readers of the inputs whose sources are Python plugins
// (aiflow_sdk.sparkrun without an entrypoint): each reader's DataFrame becomes a temp view named
// by its input node id in this session. It returns the ids it registered.
func readPythonInputs(ctx context.Context, s *Session, env *plugin.Env) (map[string]bool, error) {
	readers := map[string]any{}
	var modules []string
	for _, id := range env.InputOrder {
		m := env.Inputs[id]
		if m == nil || m.Kind != pyplugin.ManifestKind {
			continue
		}
		kind, _ := m.Details["plugin_kind"].(string)
		readers[id] = map[string]any{"kind": kind, "params": m.Details["params"]}
		for _, mod := range detailStrings(m, "modules") {
			if !slices.Contains(modules, mod) {
				modules = append(modules, mod)
			}
		}
	}
	if len(readers) == 0 {
		return nil, nil
	}
	remote, err := s.sharedRemote()
	if err != nil {
		return nil, err
	}
	req := map[string]any{"entrypoint": nil, "remote": remote, "params": env.Node.Params, "context": runContext(env),
		"readers": readers, "plugin_modules": modules}
	if err := pyengine.Call(ctx, env, "sparkrun", "python spark reader", req, pythonTimeout); err != nil {
		return nil, s.checkLost(ctx, err)
	}
	out := map[string]bool{}
	for id := range readers {
		out[id] = true
	}
	return out, nil
}

func detailStrings(m *manifest.Manifest, key string) []string {
	var out []string
	switch v := m.Details[key].(type) {
	case []string:
		out = v
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
