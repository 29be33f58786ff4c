package plugin

import (
	"context"
	"fmt"
	"slices"

	"github.com/aiflow-dev/aiflow/ir"
)

// Typed registration: one call binds a kind's spec (docs, fields, defaults, lint) to its typed
// runtime, in the technology's own package:
//
//	var SinkKind = plugin.Kind[*SinkConfig]{Kind: "my_sink", Summary: "...", Engines: []string{"arrow"},
//		New: func() *SinkConfig { return &SinkConfig{Mode: "append"} }}
//
//	func Register(r *plugin.Registry) { plugin.RegisterSink(r, SinkKind, sink{}, "arrow") }
//
// The runner decodes a node's params into a fresh *SinkConfig and hands that very value to
// sink.Publish: nothing on the way is an interface to assert.

// RunFunc runs one node attempt; its config is already bound (see Decoded.Runtime).
type RunFunc func(ctx context.Context, env *Env) (*Output, error)

// Source pins what a source's consumers will read: a source copies nothing.
type Source[C Config] interface {
	Pin(ctx context.Context, env *Env, cfg C) (*Output, error)
}

// Sink publishes the node's main input (env.InputOrder[0]) to its destination once per run.
// A retry of a committed node never reaches it; a retry after a failed attempt must not publish
// twice (docs/plugins.md: the sink conformance suite checks it).
type Sink[C Config] interface {
	Publish(ctx context.Context, env *Env, cfg C) (*Output, error)
}

// Engine is a transform: it reads the input manifests and stages its output under env.OutDir.
type Engine[C, R Config] interface {
	Transform(ctx context.Context, env *Env, cfg C, res R) (*Output, error)
}

// Destination is one place a node writes, as tenant policy sees it.
type Destination struct {
	// Kind is what Value names: DestTable (namespace.table), DestPath (a file:// or s3:// URI or
	// a local path), DestTopic (a Kafka topic) or DestFeatureGroup (schema.group).
	Kind  string
	Value string
	// Field is the param it comes from, for messages.
	Field string
}

// Destination kinds.
const (
	DestTable        = "table"
	DestPath         = "path"
	DestTopic        = "topic"
	DestFeatureGroup = "feature_group"
)

// Kind describes a source or sink kind with its typed config C (a pointer to a struct with
// `json`, `doc` and `required` tags; see Fields).
type Kind[C Config] struct {
	Kind    string
	Summary string
	// Engines lists the engines that read (sources) or write (sinks) this kind; a runtime must be
	// registered for each (the built-ins are checked by a test).
	Engines []string
	// New returns a config with its defaults set.
	New func() C
	// Open lets params carry undeclared keys (see Spec.Open).
	Open bool
	// Lint, when set, checks a decoded config beyond its Validate, with the registry at hand
	// (validate time and again before the node runs).
	Lint func(r *Registry, cfg C) error
	// Destinations lists where a node of this kind writes, for tenant policy: every sink must
	// report them; a source that writes (dead letters) too.
	Destinations func(cfg C) []Destination
	// Asset is the Airflow Asset URI the node reads (source) or writes (sink), "" for none; the
	// compiler makes it the task's inlet or outlet. Templates are still unrendered.
	Asset func(cfg C) string
}

// EngineKind describes an engine with its typed config C and resources R.
type EngineKind[C, R Config] struct {
	Kind    string
	Summary string
	New     func() C
	// NewResources returns the resources config with its defaults (a *PodResources when the
	// engine needs nothing beyond the pod's).
	NewResources func() R
	Open         bool
	Lint         func(r *Registry, cfg C) error
	// Destinations lists what a transform writes besides its staged output (a Spark
	// output_table, say).
	Destinations func(cfg C) []Destination
	// CheckInput refuses at validate an input node the engine cannot read (see Spec.CheckInput).
	CheckInput func(p *ir.Pipeline, up *ir.Node) error
}

// RegisterSource registers a source kind and its runtime for the given engines (nil rt: the
// spec alone, for a runner built without the runtime). It panics on a duplicate kind, like
// database/sql.Register: a programming error found at init.
func RegisterSource[C Config](r *Registry, k Kind[C], rt Source[C], engines ...string) {
	b := newBinder[C, *PodResources](RoleSource, k.New, newPodResources, k.Lint, k.Destinations, k.Asset)
	r.Register(Spec{Kind: k.Kind, Role: RoleSource, Summary: k.Summary, Engines: k.Engines, Open: k.Open,
		New: func() Config { return k.New() }, binder: b})
	if rt != nil {
		AttachSource(r, k, rt, engines...)
	}
}

// RegisterSink registers a sink kind and its runtime for the given engines (nil rt: the spec
// alone).
func RegisterSink[C Config](r *Registry, k Kind[C], rt Sink[C], engines ...string) {
	b := newBinder[C, *PodResources](RoleSink, k.New, newPodResources, k.Lint, k.Destinations, k.Asset)
	r.Register(Spec{Kind: k.Kind, Role: RoleSink, Summary: k.Summary, Engines: k.Engines, Open: k.Open,
		New: func() Config { return k.New() }, binder: b})
	if rt != nil {
		AttachSink(r, k, rt, engines...)
	}
}

// RegisterEngine registers an engine and its runtime (nil rt: the spec alone).
func RegisterEngine[C, R Config](r *Registry, k EngineKind[C, R], rt Engine[C, R]) {
	b := newBinder[C, R](RoleEngine, k.New, k.NewResources, k.Lint, k.Destinations, nil)
	r.Register(Spec{Kind: k.Kind, Role: RoleEngine, Summary: k.Summary, Open: k.Open, CheckInput: k.CheckInput,
		New: func() Config { return k.New() }, NewResources: func() Config { return k.NewResources() }, binder: b})
	if rt != nil {
		b.attach(k.Kind, func(c C, res R) RunFunc {
			return func(ctx context.Context, env *Env) (*Output, error) { return rt.Transform(ctx, env, c, res) }
		})
	}
}

// AttachSource adds a runtime for more engines to a source kind registered elsewhere.
func AttachSource[C Config](r *Registry, k Kind[C], rt Source[C], engines ...string) {
	b := binderOf[C, *PodResources](r, RoleSource, k.Kind)
	for _, e := range engines {
		b.attach(e, func(c C, _ *PodResources) RunFunc {
			return func(ctx context.Context, env *Env) (*Output, error) { return rt.Pin(ctx, env, c) }
		})
	}
}

// AttachSink adds a runtime for more engines to a sink kind registered elsewhere (the spark
// engine's writer of onelake tables, say).
func AttachSink[C Config](r *Registry, k Kind[C], rt Sink[C], engines ...string) {
	b := binderOf[C, *PodResources](r, RoleSink, k.Kind)
	for _, e := range engines {
		b.attach(e, func(c C, _ *PodResources) RunFunc {
			return func(ctx context.Context, env *Env) (*Output, error) { return rt.Publish(ctx, env, c) }
		})
	}
}

func newPodResources() *PodResources { return &PodResources{} }

// binder is the typed side of a Spec: it decodes params into the kind's own config type and
// keeps the runtimes that take that type.
type binder interface {
	decode(s *Spec, params, resources map[string]any) (*Decoded, []FieldError, []FieldError)
	engines() []string
	clone() binder
}

type typedBinder[C, R Config] struct {
	role     Role
	newC     func() C
	newR     func() R
	lint     func(*Registry, C) error
	dest     func(C) []Destination
	asset    func(C) string
	runtimes map[string]func(C, R) RunFunc
}

func newBinder[C, R Config](role Role, newC func() C, newR func() R, lint func(*Registry, C) error, dest func(C) []Destination, asset func(C) string) *typedBinder[C, R] {
	if newC == nil || newR == nil {
		panic(fmt.Sprintf("plugin: a %s kind needs New (and an engine NewResources)", role))
	}
	return &typedBinder[C, R]{role: role, newC: newC, newR: newR, lint: lint, dest: dest, asset: asset, runtimes: map[string]func(C, R) RunFunc{}}
}

// binderOf finds the typed binder of a registered kind. The one type assertion of the
// registration path happens here, at init, and panics on a mismatch (a runtime written for
// another config type).
func binderOf[C, R Config](r *Registry, role Role, kind string) *typedBinder[C, R] {
	s, ok := r.Lookup(role, kind)
	if !ok {
		panic(fmt.Sprintf("plugin: attach a runtime to %s %q, which is not registered", role, kind))
	}
	b, ok := s.binder.(*typedBinder[C, R])
	if !ok {
		panic(fmt.Sprintf("plugin: attach a runtime to %s %q: its config type differs from the registered one", role, kind))
	}
	return b
}

func (b *typedBinder[C, R]) attach(engine string, mk func(C, R) RunFunc) {
	if engine == "" {
		panic("plugin: attach a runtime without an engine")
	}
	if _, dup := b.runtimes[engine]; dup {
		panic(fmt.Sprintf("plugin: two %s runtimes for engine %q", b.role, engine))
	}
	b.runtimes[engine] = mk
}

func (b *typedBinder[C, R]) engines() []string {
	out := make([]string, 0, len(b.runtimes))
	for e := range b.runtimes {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

func (b *typedBinder[C, R]) clone() binder {
	c := *b
	c.runtimes = make(map[string]func(C, R) RunFunc, len(b.runtimes))
	for k, v := range b.runtimes {
		c.runtimes[k] = v
	}
	return &c
}

func (b *typedBinder[C, R]) decode(s *Spec, params, resources map[string]any) (*Decoded, []FieldError, []FieldError) {
	cfg, res := b.newC(), b.newR()
	perrs := decodeInto(cfg, params, s.Open, s.Role != RoleEngine)
	rerrs := decodeInto(res, resources, false, false)
	d := &Decoded{Spec: s, Params: cfg, Resources: res}
	if b.lint != nil {
		d.lint = func(r *Registry) error { return b.lint(r, cfg) }
	}
	if b.dest != nil {
		d.destinations = func() []Destination { return b.dest(cfg) }
	}
	if b.asset != nil {
		d.asset = func() string { return b.asset(cfg) }
	}
	d.runtime = func(engine string) (RunFunc, bool) {
		mk, ok := b.runtimes[engine]
		if !ok {
			return nil, false
		}
		return mk(cfg, res), true
	}
	return d, perrs, rerrs
}

// Runtime returns the node's runtime on engine, bound to this decoded config; false when this
// runner has none (built without it).
func (d *Decoded) Runtime(engine string) (RunFunc, bool) {
	if d == nil || d.runtime == nil {
		return nil, false
	}
	return d.runtime(engine)
}

// Destinations lists where the node writes (nil when its kind reports none).
func (d *Decoded) Destinations() []Destination {
	if d == nil || d.destinations == nil {
		return nil
	}
	return d.destinations()
}

// Asset is the Airflow Asset URI of the node ("" for none).
func (d *Decoded) Asset() string {
	if d == nil || d.asset == nil {
		return ""
	}
	return d.asset()
}

// RuntimeEngines lists the engines a kind has a runtime for in this registry, sorted.
func (r *Registry) RuntimeEngines(role Role, kind string) []string {
	s, ok := r.Lookup(role, kind)
	if !ok || s.binder == nil {
		return nil
	}
	return s.binder.engines()
}
