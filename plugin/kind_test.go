package plugin_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

type tableSink struct {
	Table string `json:"table" required:"true" doc:"table"`
	Mode  string `json:"mode" doc:"mode"`
}

func (c *tableSink) Validate() error { return plugin.OneOf("mode", c.Mode, "append", "overwrite") }

// recordingSink remembers the config it was handed and which engine's runtime it is.
type recordingSink struct {
	engine string
	got    **tableSink
	seen   *string
}

func (s recordingSink) Publish(_ context.Context, _ *plugin.Env, c *tableSink) (*plugin.Output, error) {
	*s.got, *s.seen = c, s.engine
	return &plugin.Output{}, nil
}

var tableKind = plugin.Kind[*tableSink]{Kind: "table_sink", Summary: "test", Engines: []string{"arrow", "spark"},
	New: func() *tableSink { return &tableSink{Mode: "append"} },
	Destinations: func(c *tableSink) []plugin.Destination {
		return []plugin.Destination{{Kind: plugin.DestTable, Value: c.Table, Field: "table"}}
	},
	Asset: func(c *tableSink) string { return "x-test://" + c.Table },
	Lint: func(_ *plugin.Registry, c *tableSink) error {
		if strings.HasPrefix(c.Table, "forbidden.") {
			return plugin.Errorf("table", "forbidden namespace")
		}
		return nil
	}}

func sinkNode(params map[string]any, engine string) *ir.Node {
	p := map[string]any{"kind": "table_sink"}
	for k, v := range params {
		p[k] = v
	}
	n := &ir.Node{ID: "out", Type: ir.Sink, Params: p}
	if engine != "" {
		n.Engine = &engine
	}
	return n
}

// TestTypedSink: the runtime gets the decoded config as its own type, with defaults, per engine;
// facts (destinations, asset) and lint come from the same typed value.
func TestTypedSink(t *testing.T) {
	var got *tableSink
	var seen string
	r := plugin.NewRegistry()
	plugin.RegisterSink(r, tableKind, recordingSink{engine: "arrow", got: &got, seen: &seen}, "arrow")

	d, err := r.DecodeNode(sinkNode(map[string]any{"table": "fs.t"}, ""))
	if err != nil {
		t.Fatal(err)
	}
	run, ok := d.Runtime("arrow")
	if !ok {
		t.Fatal("no arrow runtime")
	}
	if _, err := run(context.Background(), &plugin.Env{}); err != nil {
		t.Fatal(err)
	}
	if want := (&tableSink{Table: "fs.t", Mode: "append"}); !reflect.DeepEqual(got, want) || seen != "arrow" {
		t.Errorf("runtime got %+v on %q, want %+v on arrow", got, seen, want)
	}
	if _, ok := d.Runtime("spark"); ok {
		t.Error("a spark runtime before one was attached")
	}
	if want := []plugin.Destination{{Kind: plugin.DestTable, Value: "fs.t", Field: "table"}}; !reflect.DeepEqual(d.Destinations(), want) {
		t.Errorf("Destinations = %v", d.Destinations())
	}
	if d.Asset() != "x-test://fs.t" {
		t.Errorf("Asset = %q", d.Asset())
	}
	if _, err := r.DecodeNode(sinkNode(map[string]any{"table": "forbidden.t"}, "")); err == nil || !strings.Contains(err.Error(), "forbidden namespace") {
		t.Errorf("lint not applied: %v", err)
	}

	// Another package attaches the spark runtime to a clone: the original keeps only arrow.
	c := r.Clone()
	c.Register(spec("spark", plugin.RoleEngine)) // the engine a node names must exist
	plugin.AttachSink(c, tableKind, recordingSink{engine: "spark", got: &got, seen: &seen}, "spark")
	if got, want := c.RuntimeEngines(plugin.RoleSink, "table_sink"), []string{"arrow", "spark"}; !reflect.DeepEqual(got, want) {
		t.Errorf("clone engines %v, want %v", got, want)
	}
	if got := r.RuntimeEngines(plugin.RoleSink, "table_sink"); !reflect.DeepEqual(got, []string{"arrow"}) {
		t.Errorf("attaching to a clone changed the original: %v", got)
	}
	d, err = c.DecodeNode(sinkNode(map[string]any{"table": "fs.u", "mode": "overwrite"}, "spark"))
	if err != nil {
		t.Fatal(err)
	}
	run, _ = d.Runtime("spark")
	if _, err := run(context.Background(), &plugin.Env{}); err != nil {
		t.Fatal(err)
	}
	if got.Table != "fs.u" || got.Mode != "overwrite" || seen != "spark" {
		t.Errorf("spark runtime got %+v on %q", got, seen)
	}
}

type otherConfig struct{}

func (*otherConfig) Validate() error { return nil }

type otherSink struct{}

func (otherSink) Publish(context.Context, *plugin.Env, *otherConfig) (*plugin.Output, error) {
	return nil, nil
}

func TestAttachPanics(t *testing.T) {
	r := plugin.NewRegistry()
	other := plugin.Kind[*otherConfig]{Kind: "table_sink", New: func() *otherConfig { return &otherConfig{} }}
	mustPanic(t, "unregistered", "not registered", func() { plugin.AttachSink(r, other, otherSink{}, "arrow") })
	plugin.RegisterSink[*tableSink](r, tableKind, nil)
	mustPanic(t, "other config type", "config type differs", func() { plugin.AttachSink(r, other, otherSink{}, "arrow") })
	var got *tableSink
	var seen string
	plugin.AttachSink(r, tableKind, recordingSink{got: &got, seen: &seen}, "arrow")
	mustPanic(t, "duplicate engine", `two sink runtimes for engine "arrow"`, func() {
		plugin.AttachSink(r, tableKind, recordingSink{got: &got, seen: &seen}, "arrow")
	})
}
