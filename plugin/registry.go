// Package plugin is aiflow's plugin contract: sources, sinks, engines and per-engine source
// readers, each described by a typed config that knows its kind, fills its defaults, decodes
// strictly and validates itself, and bound by one call (RegisterSource, RegisterSink,
// RegisterEngine) to the typed runtime that runs it. A registry is a value, so a team that builds
// its own runner (package runner), a test, or a tenant policy can have its own plugin set;
// Default holds the built-ins (see plugin/builtin) and whatever a program registers at init.
// docs/plugins.md is the plugin author's guide.
package plugin

import (
	"fmt"
	"sort"
	"sync"

	"github.com/aiflow-dev/aiflow/ir"
)

// Role is what a plugin does in a pipeline.
type Role string

const (
	RoleSource Role = "source"
	RoleSink   Role = "sink"
	RoleEngine Role = "engine"
)

// Roles lists the roles in display order.
var Roles = []Role{RoleSource, RoleEngine, RoleSink}

// Config is a plugin's typed configuration: the params of a node (for engines: of a transform).
// Decode fills a fresh config from Spec.New, so defaults are whatever New sets.
type Config interface {
	// Validate checks the decoded config as a whole (required fields, enums, combinations).
	Validate() error
}

// Spec describes one plugin kind.
type Spec struct {
	Kind    string
	Role    Role
	Summary string
	// Engines lists the engines that can read (sources) or write (sinks) this kind; empty for
	// engines. Informational; runtimes register what they really support.
	Engines []string
	// New returns a config with its defaults set.
	New func() Config
	// NewResources returns the resources config of an engine (nil: only pod resources).
	NewResources func() Config
	// Open, when true, lets params carry keys the config does not declare; they are collected in
	// the config's `plugin:"rest"` field (the python engine hands them to the user's function).
	// A key within a typo's distance of a declared field is still an error.
	Open bool
	// CheckInput, set for an engine, refuses at validate an input node the engine cannot read
	// (a kind, or a kind's params, its runtime would refuse with 78): the problem is found
	// before the pipeline is deployed, not when the node runs.
	CheckInput func(p *ir.Pipeline, up *ir.Node) error

	// binder is the typed side set by RegisterSource/RegisterSink/RegisterEngine: decoding into
	// the kind's own config type, and its runtimes by engine. nil for a spec registered alone.
	binder binder
}

// Registry holds plugin specs and the runtimes bound to them. Safe for concurrent use, but
// runtimes are attached at init, before nodes run.
type Registry struct {
	mu      sync.RWMutex
	specs   map[Role]map[string]*Spec
	readers map[[2]string]any // (engine, source kind) → engine-specific reader
	funcs   map[string]any    // namespace/name → a named function (see RegisterFunc)
	modes   map[string]Mode
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		specs:   map[Role]map[string]*Spec{RoleSource: {}, RoleSink: {}, RoleEngine: {}},
		readers: map[[2]string]any{},
		funcs:   map[string]any{},
		modes:   map[string]Mode{},
	}
}

// Default is the process-wide registry. Importing plugin/builtin fills it with the built-ins.
var Default = NewRegistry()

// Register adds a spec. Like database/sql.Register it panics on an empty kind, a nil New, an
// unknown role or a duplicate: those are programming errors, found at init.
func (r *Registry) Register(s Spec) {
	if s.Kind == "" {
		panic("plugin: Register with an empty kind")
	}
	if s.New == nil {
		panic("plugin: Register " + string(s.Role) + " " + s.Kind + " without New")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.specs[s.Role]
	if !ok {
		panic(fmt.Sprintf("plugin: Register %s: unknown role %q", s.Kind, s.Role))
	}
	if _, dup := m[s.Kind]; dup {
		panic(fmt.Sprintf("plugin: Register called twice for %s %q", s.Role, s.Kind))
	}
	spec := s
	m[s.Kind] = &spec
}

// Lookup returns the spec of a kind.
func (r *Registry) Lookup(role Role, kind string) (*Spec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.specs[role][kind]
	return s, ok
}

// Kinds returns the kinds of a role, sorted.
func (r *Registry) Kinds(role Role) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.specs[role]))
	for k := range r.specs[role] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Without returns a copy of the registry lacking the named kinds of a role (a tenant policy that
// forbids an engine, a test that needs a smaller set).
func (r *Registry) Without(role Role, kinds ...string) *Registry {
	c := r.Clone()
	for _, k := range kinds {
		delete(c.specs[role], k)
	}
	return c
}

// Clone returns an independent copy.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := NewRegistry()
	for role, m := range r.specs {
		for k, s := range m {
			spec := *s
			if s.binder != nil {
				// Runtimes attached to the copy must not appear in the original.
				spec.binder = s.binder.clone()
			}
			c.specs[role][k] = &spec
		}
	}
	for k, v := range r.readers {
		c.readers[k] = v
	}
	for k, v := range r.funcs {
		c.funcs[k] = v
	}
	for k, v := range r.modes {
		c.modes[k] = v
	}
	return c
}

// RegisterReader attaches an engine's reader for a source kind (the seed's
// register_spark_source_reader, for every engine). The reader's type is the engine's business.
// It panics on a duplicate.
func (r *Registry) RegisterReader(engine, kind string, reader any) {
	if engine == "" || kind == "" || reader == nil {
		panic("plugin: RegisterReader needs an engine, a kind and a reader")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := [2]string{engine, kind}
	if _, dup := r.readers[key]; dup {
		panic(fmt.Sprintf("plugin: RegisterReader called twice for engine %q, source %q", engine, kind))
	}
	r.readers[key] = reader
}

// Reader returns the reader an engine registered for a source kind.
func (r *Registry) Reader(engine, kind string) (any, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.readers[[2]string{engine, kind}]
	return v, ok
}

// ReaderEngines lists the engines that registered a reader for kind, sorted.
func (r *Registry) ReaderEngines(kind string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for k := range r.readers {
		if k[1] == kind {
			out = append(out, k[0])
		}
	}
	sort.Strings(out)
	return out
}

// RegisterFunc registers a named function of type F under namespace (a transform's registered
// Go function: arrow functions, sparkfn). It panics on an empty name, a nil function or a
// duplicate.
func RegisterFunc[F any](r *Registry, namespace, name string, fn F) {
	if name == "" || any(fn) == nil {
		panic("plugin: RegisterFunc needs a name and a function")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := namespace + "/" + name
	if _, dup := r.funcs[key]; dup {
		panic(fmt.Sprintf("plugin: RegisterFunc called twice for %s %q", namespace, name))
	}
	r.funcs[key] = fn
}

// Func returns the function registered under namespace and name, if it has type F.
func Func[F any](r *Registry, namespace, name string) (F, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn, ok := r.funcs[namespace+"/"+name].(F)
	return fn, ok
}
