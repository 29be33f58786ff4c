package plugin_test

import (
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aiflow-dev/aiflow/plugin"
)

type testConfig struct {
	Name    string            `json:"name" required:"true" doc:"a name"`
	Count   int               `json:"count" doc:"how many"`
	Enabled bool              `json:"enabled" doc:"on or off"`
	Ratio   float64           `json:"ratio" doc:"a ratio"`
	Tags    []string          `json:"tags" doc:"labels"`
	Labels  map[string]string `json:"labels" doc:"key to value"`
	Wait    plugin.Duration   `json:"wait" doc:"how long"`
	Token   plugin.Secret     `json:"token" doc:"a secret reference"`
	Inner   *struct {
		A string `json:"a"`
	} `json:"inner" doc:"a nested object"`
	Rest    map[string]any `json:"-" plugin:"rest"`
	private string
}

func (c *testConfig) Validate() error {
	if c.Count < 0 {
		return plugin.Errorf("count", "must not be negative")
	}
	if c.Name == "boom" {
		return plugin.OneOf("name", c.Name, "bam", "bim")
	}
	return nil
}

func newTest() plugin.Config { return &testConfig{Count: 3, Wait: plugin.Duration{Duration: 90e9}} }

func spec(kind string, role plugin.Role) plugin.Spec {
	return plugin.Spec{Kind: kind, Role: role, New: newTest}
}

func mustPanic(t *testing.T, name, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: want a panic", name)
			return
		}
		if !strings.Contains(r.(string), want) {
			t.Errorf("%s: panic %q, want it to contain %q", name, r, want)
		}
	}()
	fn()
}

func TestRegisterPanics(t *testing.T) {
	r := plugin.NewRegistry()
	r.Register(spec("x", plugin.RoleSource))
	r.Register(spec("x", plugin.RoleSink)) // same kind, other role: fine
	mustPanic(t, "empty kind", "empty kind", func() { r.Register(spec("", plugin.RoleSource)) })
	mustPanic(t, "duplicate", `Register called twice for source "x"`, func() { r.Register(spec("x", plugin.RoleSource)) })
	mustPanic(t, "nil New", "without New", func() { r.Register(plugin.Spec{Kind: "y", Role: plugin.RoleSource}) })
	mustPanic(t, "unknown role", `unknown role "filter"`, func() { r.Register(spec("y", plugin.Role("filter"))) })
	mustPanic(t, "reader duplicate", "RegisterReader called twice", func() {
		r.RegisterReader("arrow", "x", 1)
		r.RegisterReader("arrow", "x", 2)
	})
	mustPanic(t, "reader empty", "RegisterReader needs", func() { r.RegisterReader("", "x", 1) })
	mustPanic(t, "func duplicate", "RegisterFunc called twice", func() {
		plugin.RegisterFunc(r, "ns", "f", func() {})
		plugin.RegisterFunc(r, "ns", "f", func() {})
	})
}

func TestKindsSorted(t *testing.T) {
	r := plugin.NewRegistry()
	for _, k := range []string{"zeta", "alpha", "mid", "Beta"} {
		r.Register(spec(k, plugin.RoleEngine))
	}
	if got, want := r.Kinds(plugin.RoleEngine), []string{"Beta", "alpha", "mid", "zeta"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Kinds = %v, want %v", got, want)
	}
	if got := r.Kinds(plugin.RoleSource); len(got) != 0 {
		t.Errorf("Kinds(source) = %v", got)
	}
	if _, ok := r.Lookup(plugin.RoleEngine, "mid"); !ok {
		t.Error("Lookup mid failed")
	}
	if _, ok := r.Lookup(plugin.RoleSink, "mid"); ok {
		t.Error("Lookup is not per role")
	}
}

func TestWithoutAndClone(t *testing.T) {
	r := plugin.NewRegistry()
	r.Register(spec("a", plugin.RoleEngine))
	r.Register(spec("b", plugin.RoleEngine))
	r.Register(spec("a", plugin.RoleSource))
	r.RegisterReader("a", "a", "reader")
	plugin.RegisterFunc(r, "ns", "a", "impl")

	w := r.Without(plugin.RoleEngine, "a", "missing")
	if got := w.Kinds(plugin.RoleEngine); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("Without: engines %v", got)
	}
	if got := w.Kinds(plugin.RoleSource); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("Without touched another role: %v", got)
	}
	if got := r.Kinds(plugin.RoleEngine); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("Without changed the original: %v", got)
	}

	c := r.Clone()
	c.Register(spec("c", plugin.RoleEngine))
	if _, ok := r.Lookup(plugin.RoleEngine, "c"); ok {
		t.Error("Clone shares specs with the original")
	}
	if v, ok := c.Reader("a", "a"); !ok || v != "reader" {
		t.Error("Clone lost the reader")
	}
	if v, ok := plugin.Func[string](c, "ns", "a"); !ok || v != "impl" {
		t.Error("Clone lost the function")
	}
	c.RegisterReader("b", "a", "r2")
	if _, ok := r.Reader("b", "a"); ok {
		t.Error("Clone shares readers with the original")
	}
	if got := c.ReaderEngines("a"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("ReaderEngines = %v", got)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	r := plugin.NewRegistry()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r.Register(spec(string(rune('a'+i)), plugin.RoleSink))
			r.Kinds(plugin.RoleSink)
			r.Clone()
		}(i)
	}
	wg.Wait()
	if n := len(r.Kinds(plugin.RoleSink)); n != 8 {
		t.Errorf("%d kinds, want 8", n)
	}
}
