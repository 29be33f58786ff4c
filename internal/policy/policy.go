// Package policy is the tenant policy: per team and env, the sources, sinks and
// engines a pipeline may use, the table namespaces and path prefixes it may write, and the most
// resources a node may ask for. The same check runs at compile time (`aiflow-runner compile`,
// exit 78) and again inside the pod before a node runs, so a hand-edited DAG cannot bypass it.
//
// A policy lists what is allowed; what it does not list is denied. "*" in a list allows
// anything. A policy file:
//
//	teams:
//	  feature-platform:
//	    envs: [prod, dev]                      # optional: the envs the team may deploy to
//	    sources: [onelake, onestream]
//	    sinks: [onelake, feature_store]
//	    engines: [spark, python]
//	    write_namespaces: [feature_store, tmp] # onelake sink tables, spark output_table
//	    write_paths: ["s3://fp-bucket/", "file:///data/fp/"]  # files sink path, output_path, dead_letter
//	    write_topics: ["fp.*"]                 # Kafka sink topics, kafka:// dead letters
//	    write_feature_groups: ["public.user_*"] # feature_store sink schema.group
//	    max_resources: {cpu: "4", memory: "16Gi", executor_memory: "8g", executor_cores: 4}
//	    per_env:                               # optional: fields that differ in one env
//	      dev: {write_paths: ["file:///tmp/"]}
//	default: {…}                               # teams not listed; absent: they are denied
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// MaxFileSize bounds a policy file.
const MaxFileSize = 1 << 20

// SystemFile is a policy the platform mounts into every pod (a ConfigMap): when it exists, the
// runner enforces it whatever the environment says, so a DAG that drops AIFLOW_POLICY_FILE
// from its pod still runs under it.
var SystemFile = "/etc/aiflow/policy.yaml"

// Policy is a parsed policy file.
type Policy struct {
	Teams   map[string]*Rules `yaml:"teams"`
	Default *Rules            `yaml:"default"`
	// File is where the policy was read from (for messages).
	File string `yaml:"-"`
}

// Rules are what one team (or the default) may do. A nil list denies everything of its kind;
// ["*"] allows anything. WriteTopics and WriteFeatureGroups are the exception: absent, they do
// not restrict (policies older than them keep working); present, a name must match one entry,
// exactly or by a prefix ending in "*".
type Rules struct {
	Envs            []string `yaml:"envs"`
	Sources         []string `yaml:"sources"`
	Sinks           []string `yaml:"sinks"`
	Engines         []string `yaml:"engines"`
	WriteNamespaces []string `yaml:"write_namespaces"`
	WritePaths      []string `yaml:"write_paths"`
	// WriteTopics and WriteFeatureGroups: see Rules.
	WriteTopics        []string          `yaml:"write_topics"`
	WriteFeatureGroups []string          `yaml:"write_feature_groups"`
	MaxResources       *Resources        `yaml:"max_resources"`
	PerEnv             map[string]*Rules `yaml:"per_env"`
}

// Resources are caps; an empty field is no cap.
type Resources struct {
	CPU            string `yaml:"cpu"`
	Memory         string `yaml:"memory"`
	DriverMemory   string `yaml:"driver_memory"`
	ExecutorMemory string `yaml:"executor_memory"`
	ExecutorCores  int    `yaml:"executor_cores"`
}

// Load reads a policy file.
func Load(file string) (*Policy, error) {
	data, err := ir.ReadRegularFile(file, MaxFileSize)
	if errors.Is(err, ir.ErrTooLarge) {
		return nil, fault.Configf("policy %s: larger than %d KiB", file, MaxFileSize>>10)
	}
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "policy")
	}
	return Parse(file, data)
}

// Parse decodes a policy strictly (a misspelt key is an error) and checks it.
func Parse(name string, data []byte) (*Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Policy
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fault.Configf("policy %s: empty file", name)
		}
		return nil, fault.Configf("policy %s: %v", name, err)
	}
	p.File = name
	var errs []string
	check := func(where string, r *Rules) {
		if r == nil {
			return
		}
		for _, pre := range r.WritePaths {
			if _, err := normalize(pre, true); err != nil {
				errs = append(errs, fmt.Sprintf("%s.write_paths: %v", where, err))
			}
		}
		if m := r.MaxResources; m != nil {
			if m.CPU != "" {
				if _, err := plugin.MilliCPU(m.CPU); err != nil {
					errs = append(errs, fmt.Sprintf("%s.max_resources.cpu: %v", where, err))
				}
			}
			for f, v := range map[string]string{"memory": m.Memory, "driver_memory": m.DriverMemory, "executor_memory": m.ExecutorMemory} {
				if v != "" {
					if _, err := plugin.MemoryBytes(v); err != nil {
						errs = append(errs, fmt.Sprintf("%s.max_resources.%s: %v", where, f, err))
					}
				}
			}
		}
		for env, sub := range r.PerEnv {
			if sub != nil && sub.PerEnv != nil {
				errs = append(errs, fmt.Sprintf("%s.per_env.%s: per_env does not nest", where, env))
			}
			if sub != nil && sub.Envs != nil {
				errs = append(errs, fmt.Sprintf("%s.per_env.%s: envs belongs to the team, not to per_env", where, env))
			}
		}
	}
	teams := make([]string, 0, len(p.Teams))
	for t := range p.Teams {
		teams = append(teams, t)
	}
	sort.Strings(teams)
	for _, t := range teams {
		if p.Teams[t] == nil {
			errs = append(errs, fmt.Sprintf("teams.%s: empty rules (use {} to deny everything explicitly)", t))
			continue
		}
		check("teams."+t, p.Teams[t])
	}
	check("default", p.Default)
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fault.Configf("policy %s: %s", name, strings.Join(errs, "; "))
	}
	return &p, nil
}

// Violation is one thing a pipeline does that its policy does not allow.
type Violation struct {
	Pipeline string
	Node     string // "" for the pipeline as a whole
	Msg      string
}

func (v Violation) String() string {
	if v.Node == "" {
		return v.Pipeline + ": " + v.Msg
	}
	return v.Pipeline + "/" + v.Node + ": " + v.Msg
}

// Options tune a check.
type Options struct {
	// Render, when set, renders a node's params before they are checked (the runner renders them
	// as the node will see them, so a template cannot smuggle a path past the check). Without it
	// (compile time) the literal part of a templated path or table name must already be allowed.
	Render func(params map[string]any) (map[string]any, error)
}

// RulesFor returns the effective rules for a team in an env, and a violation when the policy
// gives the team none.
func (pol *Policy) RulesFor(team, env string) (*Rules, string) {
	r, listed := pol.Teams[team]
	if !listed || team == "" {
		if pol.Default == nil {
			who := fmt.Sprintf("team %q", team)
			if team == "" {
				who = "a pipeline without a team"
			}
			return nil, fmt.Sprintf("%s is not in policy %s, which has no default: denied", who, pol.File)
		}
		r = pol.Default
	}
	if r.Envs != nil && !allowed(r.Envs, env) {
		return nil, fmt.Sprintf("team %q may not deploy to env %q (allowed: %s)", team, env, strings.Join(r.Envs, ", "))
	}
	eff := *r
	if o := r.PerEnv[env]; o != nil {
		ov, ev := reflect.ValueOf(o).Elem(), reflect.ValueOf(&eff).Elem()
		for i := 0; i < ov.NumField(); i++ {
			if !ov.Field(i).IsNil() {
				ev.Field(i).Set(ov.Field(i))
			}
		}
	}
	return &eff, ""
}

// Check returns every violation of the policy by pipeline p. Node configs are decoded through
// reg, so defaults count (a spark node that omits executor_memory asks for the default).
func (pol *Policy) Check(p *ir.Pipeline, reg *plugin.Registry, opts Options) []Violation {
	var out []Violation
	add := func(node, format string, args ...any) {
		out = append(out, Violation{Pipeline: p.ID, Node: node, Msg: fmt.Sprintf(format, args...)})
	}
	team, env := p.Tenant("team"), p.Tenant("env")
	r, denied := pol.RulesFor(team, env)
	if r == nil {
		add("", "%s", denied)
		return out
	}
	who := fmt.Sprintf("team %q", team)
	if team == "" || pol.Teams[team] == nil {
		who = "the default policy"
	}
	for _, id := range p.NodeIDs() {
		n := p.Nodes[id]
		if n == nil {
			continue
		}
		switch n.Type {
		case ir.Source:
			if !allowed(r.Sources, n.Kind()) {
				add(id, "source %q is not allowed for %s (allowed: %s)", n.Kind(), who, list(r.Sources))
			}
		case ir.Sink:
			if !allowed(r.Sinks, n.Kind()) {
				add(id, "sink %q is not allowed for %s (allowed: %s)", n.Kind(), who, list(r.Sinks))
			}
		}
		if e := n.EngineName(); e != "" && !allowed(r.Engines, e) {
			add(id, "engine %q is not allowed for %s (allowed: %s)", e, who, list(r.Engines))
		}
		node := *n
		if opts.Render != nil {
			params, err := opts.Render(n.Params)
			if err != nil {
				add(id, "render params: %v", err)
				continue
			}
			node.Params = params
		}
		dec, err := reg.DecodeNode(&node)
		if err != nil {
			add(id, "%v", err)
			continue
		}
		for _, w := range destinations(n.Type, dec) {
			var msg string
			switch w.Kind {
			case plugin.DestTable:
				msg = checkNamespace(r.WriteNamespaces, w.Value, opts.Render != nil)
			case plugin.DestPath:
				msg = checkPath(r.WritePaths, w.Value, opts.Render != nil)
			case plugin.DestTopic:
				msg = checkName(r.WriteTopics, "topic", w.Value)
			case plugin.DestFeatureGroup:
				msg = checkName(r.WriteFeatureGroups, "feature group", w.Value)
			}
			if msg != "" {
				add(id, "%s: %s for %s", w.Field, msg, who)
			}
		}
		if r.MaxResources != nil && dec.Resources != nil {
			for _, msg := range checkResources(*r.MaxResources, values(dec.Resources)) {
				add(id, "resources.%s for %s", msg, who)
			}
		}
	}
	return out
}

// destinations lists where a node writes: what its plugin reports (plugin.Kind.Destinations).
// A spec registered without the typed API reports nothing; its params are read by the
// conventional field names of the built-ins instead (a sink's table and path, any node's
// output_table, output_path and dead_letter).
func destinations(typ string, dec *plugin.Decoded) []plugin.Destination {
	if ds := dec.Destinations(); ds != nil {
		return ds
	}
	params := values(dec.Params)
	var out []plugin.Destination
	add := func(field, kind string) {
		if v := params[field]; v != "" {
			out = append(out, plugin.Destination{Kind: kind, Value: v, Field: field})
		}
	}
	if typ == ir.Sink {
		add("table", plugin.DestTable)
		add("path", plugin.DestPath)
	}
	add("output_table", plugin.DestTable)
	add("output_path", plugin.DestPath)
	if v := params["dead_letter"]; v != "" && !strings.HasPrefix(v, "kafka://") {
		add("dead_letter", plugin.DestPath)
	}
	return out
}

// checkName checks a topic or feature group against its allowed names (nil: unrestricted).
func checkName(allowedNames []string, what, name string) string {
	if allowedNames == nil {
		return ""
	}
	for _, a := range allowedNames {
		if a == "*" || a == name || (strings.HasSuffix(a, "*") && strings.HasPrefix(name, strings.TrimSuffix(a, "*"))) {
			return ""
		}
	}
	return fmt.Sprintf("%s %q is not allowed (allowed: %s)", what, name, list(allowedNames))
}

// values returns a decoded config's string and integer fields by name (embedded structs
// included), so that defaults count.
func values(cfg plugin.Config) map[string]string {
	out := map[string]string{}
	for _, f := range plugin.Fields(cfg) {
		if f.Default == "" {
			continue
		}
		var s string
		if json.Unmarshal([]byte(f.Default), &s) == nil {
			out[f.Name] = s
			continue
		}
		var n json.Number
		if json.Unmarshal([]byte(f.Default), &n) == nil {
			out[f.Name] = n.String()
		}
	}
	return out
}

func allowed(list []string, v string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, v)
}

func list(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// checkNamespace checks a namespace.table name.
func checkNamespace(allowedNS []string, table string, rendered bool) string {
	ns, _, ok := strings.Cut(table, ".")
	if !ok {
		return fmt.Sprintf("table %q has no namespace (namespace.table)", table)
	}
	if strings.Contains(ns, "{{") {
		if rendered {
			return fmt.Sprintf("table %q: unrendered template in the namespace", table)
		}
		return fmt.Sprintf("table %q: the namespace must not be a template under a policy", table)
	}
	if !allowed(allowedNS, ns) {
		return fmt.Sprintf("namespace %q (table %s) is not allowed (allowed: %s)", ns, table, list(allowedNS))
	}
	return ""
}

// checkPath checks a write path against the allowed prefixes. Both sides are normalized first
// (a plain path becomes file://<absolute>, . and .. are resolved lexically, // collapsed), so
// `..` cannot climb out of a prefix; an s3:// path with a .. segment is refused outright (S3 keys
// are not paths, but some clients and endpoints normalize them). At compile time the part before
// the first template must already reach past the end of an allowed prefix.
func checkPath(prefixes []string, p string, rendered bool) string {
	lit := p
	if i := strings.Index(p, "{{"); i >= 0 {
		if rendered {
			return fmt.Sprintf("path %q: unrendered template", p)
		}
		// Only the literal head is known: a prefix must end inside it, at a folder boundary
		// (s3://bucket{{ x }} has no known bucket: normalize refuses it).
		lit = p[:i]
		if j := strings.LastIndex(lit, "/"); j >= 0 {
			lit = lit[:j+1]
		}
	}
	norm, err := normalize(lit, false)
	if err != nil {
		if lit != p {
			return fmt.Sprintf("path %q is not allowed: its literal head %v", p, err)
		}
		return err.Error()
	}
	for _, pre := range prefixes {
		if pre == "*" {
			return ""
		}
		np, err := normalize(pre, true)
		if err != nil {
			continue
		}
		if within(np, norm) {
			return ""
		}
	}
	return fmt.Sprintf("path %s is outside the allowed write paths (%s)", shown(p, norm), list(prefixes))
}

func shown(orig, norm string) string {
	if strings.TrimSuffix(orig, "/") == norm {
		return strconv.Quote(orig)
	}
	return fmt.Sprintf("%q (%s)", orig, norm)
}

// within reports whether path p is at or under prefix pre (both normalized, folder-wise).
func within(pre, p string) bool {
	pre = strings.TrimSuffix(pre, "/") + "/"
	return strings.HasPrefix(strings.TrimSuffix(p, "/")+"/", pre)
}

// normalize turns a path or URI into scheme://authority/clean/path. prefix says it comes from
// the policy (it must be absolute).
func normalize(p string, prefix bool) (string, error) {
	scheme, rest, ok := strings.Cut(p, "://")
	if !ok {
		if prefix && !filepath.IsAbs(p) {
			return "", fmt.Errorf("write path %q: want an absolute path, file:// or s3:// URI", p)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("path %q: %v", p, err)
		}
		return "file://" + filepath.ToSlash(abs), nil
	}
	switch scheme {
	case "file", "s3":
	default:
		return "", fmt.Errorf("path %q: only file:// and s3:// are supported", p)
	}
	host, pth, _ := strings.Cut(rest, "/")
	if scheme == "file" && host != "" && host != "localhost" {
		return "", fmt.Errorf("path %q: file:// URIs name no host", p)
	}
	if scheme == "s3" {
		if host == "" {
			return "", fmt.Errorf("path %q: no bucket", p)
		}
		for _, seg := range strings.Split(pth, "/") {
			if seg == ".." || seg == "." {
				return "", fmt.Errorf("path %q: a %q segment in an s3:// path is not allowed", p, seg)
			}
		}
	}
	clean := path.Clean("/" + pth)
	if scheme == "file" {
		host = ""
	}
	return scheme + "://" + host + clean, nil
}

// checkResources compares a node's resources with the caps.
func checkResources(max Resources, got map[string]string) []string {
	var out []string
	if max.CPU != "" && got["cpu"] != "" {
		capv, _ := plugin.MilliCPU(max.CPU)
		if v, err := plugin.MilliCPU(got["cpu"]); err == nil && v > capv {
			out = append(out, fmt.Sprintf("cpu %s is over the cap %s", got["cpu"], max.CPU))
		}
	}
	for _, f := range []struct{ name, cap string }{{"memory", max.Memory}, {"driver_memory", max.DriverMemory}, {"executor_memory", max.ExecutorMemory}} {
		if f.cap == "" || got[f.name] == "" {
			continue
		}
		capv, _ := plugin.MemoryBytes(f.cap)
		if v, err := plugin.MemoryBytes(got[f.name]); err == nil && v > capv {
			out = append(out, fmt.Sprintf("%s %s is over the cap %s", f.name, got[f.name], f.cap))
		}
	}
	if max.ExecutorCores > 0 && got["executor_cores"] != "" {
		if v, err := strconv.Atoi(got["executor_cores"]); err == nil && v > max.ExecutorCores {
			out = append(out, fmt.Sprintf("executor_cores %d is over the cap %d", v, max.ExecutorCores))
		}
	}
	return out
}
