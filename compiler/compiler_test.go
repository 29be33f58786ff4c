package compiler

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
	_ "github.com/aiflow-dev/aiflow/plugin/builtin"
)

var update = flag.Bool("update", false, "rewrite golden files")

// corpusPaths are the pipelines of the golden and Airflow tests.
var corpusPaths = []string{"../examples", "testdata/corpus"}

// loadCorpus loads and validates the test pipelines, sorted by id.
func loadCorpus(t testing.TB) []*ir.Pipeline {
	t.Helper()
	specs, ps := ir.LoadPaths(corpusPaths)
	if len(ps) > 0 {
		t.Fatalf("load corpus: %v", ps)
	}
	seen := map[string]bool{}
	var out []*ir.Pipeline
	for _, s := range specs {
		if probs := append(s.Check(ir.CheckOptions{}), plugin.Default.Validate(s)...); len(probs) > 0 {
			t.Fatalf("corpus: %v", probs)
		}
		if !seen[s.Pipeline.ID] {
			seen[s.Pipeline.ID] = true
			out = append(out, s.Pipeline)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func testProfiles(t testing.TB) *Profiles {
	t.Helper()
	ps, err := LoadProfiles("testdata/profiles.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// goldenCase is one way of compiling the corpus; each has a folder under testdata/golden.
type goldenCase struct {
	name string
	opts func(t testing.TB) Options
}

var goldenCases = []goldenCase{
	{"kubernetes-default", func(t testing.TB) Options { return Options{Registry: plugin.Default} }},
	{"kubernetes-profiles", func(t testing.TB) Options {
		return Options{Registry: plugin.Default, Profiles: testProfiles(t)}
	}},
	{"kubernetes-fused", func(t testing.TB) Options {
		return Options{Registry: plugin.Default, Profiles: testProfiles(t), Fuse: true}
	}},
	{"local", func(t testing.TB) Options {
		return Options{Registry: plugin.Default, Profiles: testProfiles(t), Target: Local, Runner: "/opt/aiflow/bin/aiflow-runner"}
	}},
}

// compileCase compiles the corpus one way. validated compiles as `aiflow-runner compile` does
// after loading: Options.Validated gives the canonical IR validation hashed, and the nodes'
// configs are not decoded again.
func compileCase(t testing.TB, c goldenCase, validated bool) []*File {
	t.Helper()
	var files []*File
	for _, p := range loadCorpus(t) {
		opts := c.opts(t)
		if validated {
			canon, err := p.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			opts.Validated = func(q *ir.Pipeline) ([]byte, bool) { return canon, q == p }
		}
		f, err := Compile(p, opts)
		if err != nil {
			t.Fatalf("%s: compile %s: %v", c.name, p.ID, err)
		}
		files = append(files, f)
	}
	return files
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			files := compileCase(t, c, false)
			again := compileCase(t, c, true) // must not change a byte
			dir := filepath.Join("testdata", "golden", c.name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for i, f := range files {
				if !bytes.Equal(f.Data, again[i].Data) {
					t.Errorf("%s: two compilations differ (the second with Options.Validated)", f.Name)
				}
				if !bytes.HasPrefix(f.Data, []byte(Header+"\n")) {
					t.Errorf("%s: does not start with the header", f.Name)
				}
				path := filepath.Join(dir, f.Name)
				if *update {
					if err := os.WriteFile(path, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./compiler -update)", err)
				}
				if !bytes.Equal(f.Data, want) {
					t.Errorf("%s differs from %s (run go test ./compiler -update and review the diff)", f.Name, path)
				}
			}
		})
	}
}

// TestDeterministic compiles many times: map iteration order must never leak into the output.
func TestDeterministic(t *testing.T) {
	ps := loadCorpus(t)
	for _, c := range goldenCases {
		opts := c.opts(t)
		for _, p := range ps {
			first, err := Compile(p, opts)
			if err != nil {
				t.Fatal(err)
			}
			for range 20 {
				f, err := Compile(p, opts)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(f.Data, first.Data) {
					t.Fatalf("%s/%s: output changed between compilations", c.name, p.ID)
				}
			}
		}
	}
}

// TestIRTravels checks that the blob in the file is the pipeline's canonical IR.
func TestIRTravels(t *testing.T) {
	blobRE := regexp.MustCompile(`(?s)IR_B64 = \((.*?)\n\)`)
	for _, p := range loadCorpus(t) {
		f, err := Compile(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		m := blobRE.FindSubmatch(f.Data)
		if m == nil {
			t.Fatalf("%s: no IR_B64", p.ID)
		}
		var b64 strings.Builder
		for _, line := range strings.Split(string(m[1]), "\n") {
			b64.WriteString(strings.Trim(strings.TrimSpace(line), `"`))
		}
		raw, err := base64.StdEncoding.DecodeString(b64.String())
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if zr.Header.Name != "" || !zr.Header.ModTime.IsZero() {
			t.Errorf("%s: gzip header has name %q, mtime %v", p.ID, zr.Header.Name, zr.Header.ModTime)
		}
		canon, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := p.Canonical()
		if !bytes.Equal(canon, want) {
			t.Errorf("%s: IR in the DAG is not the canonical IR", p.ID)
		}
		if h := ir.HashBytes(canon); h != f.IRHash || !bytes.Contains(f.Data, []byte(`IR_HASH = "`+h+`"`)) {
			t.Errorf("%s: IR_HASH does not match the IR", p.ID)
		}
		if bytes.Contains([]byte(b64.String()), []byte("{")) {
			t.Errorf("%s: IR blob is not Jinja-inert", p.ID)
		}
	}
}

func pipelineByID(t testing.TB, id string) *ir.Pipeline {
	t.Helper()
	for _, p := range loadCorpus(t) {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("no pipeline %s in the corpus", id)
	return nil
}

// TestLabelsAreKubernetesSafe checks every pod label of the corpus, whose tenancy fields hold
// spaces, slashes and ampersands.
func TestLabelsAreKubernetesSafe(t *testing.T) {
	labelsRE := regexp.MustCompile(`labels=\{(.*)\},`)
	pairRE := regexp.MustCompile(`"([^"]*)": "([^"]*)"`)
	valueRE := regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	p := pipelineByID(t, "edge-cases_pipeline")
	f, err := Compile(p, Options{Profiles: testProfiles(t)})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, m := range labelsRE.FindAllSubmatch(f.Data, -1) {
		for _, kv := range pairRE.FindAllSubmatch(m[1], -1) {
			found++
			if v := string(kv[2]); len(v) > 63 || !valueRE.MatchString(v) {
				t.Errorf("label %s=%q is not a Kubernetes label value", kv[1], v)
			}
		}
	}
	if found == 0 {
		t.Fatal("no labels found")
	}
	for _, want := range []string{`"project": "edge_cases__quoting"`, `"cost_center": "CC_42___R_D"`, `"pipeline": "edge-cases_pipeline"`, `"node": "events-stream"`} {
		if !bytes.Contains(f.Data, []byte(want)) {
			t.Errorf("missing label %s", want)
		}
	}
}

func TestK8sMemory(t *testing.T) {
	for in, want := range map[string]string{
		"4g": "4Gi", "512m": "512Mi", "1.5g": "1.5Gi", "100k": "100Ki", "2t": "2Ti",
		"4Gi": "4Gi", "512Mi": "512Mi", "1G": "1G", "1GB": "1G", "10K": "10k", "1024": "1024",
	} {
		if got := k8sMemory(in); got != want {
			t.Errorf("k8sMemory(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResources(t *testing.T) {
	p := pipelineByID(t, "edge-cases_pipeline")
	prof, err := testProfiles(t).For(p)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := plan(p, prof, false, plugin.Default, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Resources{}
	for _, tk := range tasks {
		got[tk.id] = tk.resources
	}
	want := map[string]Resources{
		"enrich":        {CPU: "250m", Memory: "512Mi", MemoryLimit: "512Mi"},         // spark: a small pod, the cluster does the work
		"score":         {CPU: "2", Memory: "3Gi", CPULimit: "2", MemoryLimit: "3Gi"}, // its own, Spark-style 3g made a Kubernetes quantity
		"orders":        {CPU: "1", Memory: "2Gi", CPULimit: "2", MemoryLimit: "3Gi"}, // the profile's default
		"events-stream": {CPU: "1", Memory: "2Gi", CPULimit: "2", MemoryLimit: "3Gi"},
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: resources %+v, want %+v", id, got[id], w)
		}
	}
	fused, err := plan(p, prof, true, plugin.Default, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range fused {
		if tk.id == "score__features" && tk.resources != (Resources{CPU: "2", Memory: "3Gi", CPULimit: "2", MemoryLimit: "3Gi"}) {
			t.Errorf("fused score__features: resources %+v, want the largest of its nodes", tk.resources)
		}
	}
}

// TestRequestsAndLimits: requests and limits are set separately; no CPU limit unless one is
// given (no throttling), the memory limit defaults to the request.
func TestRequestsAndLimits(t *testing.T) {
	node := func(id string, in []string, res map[string]any) *ir.Node {
		n := &ir.Node{ID: id, Type: ir.Transform, Engine: new("arrow"), Params: map[string]any{}, Resources: res, InputIDs: in}
		if in == nil {
			n.Type, n.Engine, n.Params = ir.Source, nil, map[string]any{"kind": "files", "path": "x"}
		}
		return n
	}
	p := &ir.Pipeline{APIVersion: ir.APIVersion, ID: "p", Extra: map[string]any{"env": "dev"}, Nodes: map[string]*ir.Node{
		"a": node("a", nil, map[string]any{"cpu": "2", "memory": "1g", "cpu_limit": "4", "memory_limit": "3g"}),
		"b": node("b", []string{"a"}, map[string]any{"cpu": "1"}),
		"c": node("c", []string{"b"}, nil),
	}}
	prof := merge(builtinDefaults, Profile{Resources: Resources{CPU: "500m", Memory: "1Gi", CPULimit: "1", MemoryLimit: "2Gi"}})
	tasks, err := plan(p, &prof, false, plugin.Default, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Resources{
		"a": {CPU: "2", Memory: "1Gi", CPULimit: "4", MemoryLimit: "3Gi"},
		"b": {CPU: "1", Memory: "1Gi", CPULimit: "1", MemoryLimit: "2Gi"},    // the profile's limits
		"c": {CPU: "500m", Memory: "1Gi", CPULimit: "1", MemoryLimit: "2Gi"}, // the profile's everything
	}
	for _, tk := range tasks {
		if tk.resources != want[tk.id] {
			t.Errorf("%s: %+v, want %+v", tk.id, tk.resources, want[tk.id])
		}
	}
	prof = merge(builtinDefaults, Profile{})
	fused, err := plan(p, &prof, true, plugin.Default, nil)
	if err != nil {
		t.Fatal(err)
	}
	// b and c have no CPU limit: neither has the fused task.
	if w := (Resources{CPU: "2", Memory: "1Gi", MemoryLimit: "3Gi"}); fused[0].resources != w {
		t.Errorf("fused: %+v, want %+v", fused[0].resources, w)
	}
	f, err := Compile(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `container_resources=k8s.V1ResourceRequirements(requests={"cpu": "2", "memory": "1Gi"}, limits={"cpu": "4", "memory": "3Gi"}),`; !strings.Contains(string(f.Data), want) {
		t.Errorf("DAG lacks %s", want)
	}
	bad := plugin.PodResources{CPU: "2", CPULimit: "1"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "below the request") {
		t.Errorf("limit below request: %v", err)
	}
}

func TestFuse(t *testing.T) {
	cases := map[string][][]string{
		"quickstart_user_orders": {{"orders", "paid_orders_by_user"}, {"user_order_stats"}, {"user_order_stats_lake"}}, // two sinks: the chain ends at the fork
		"edge-cases_pipeline": {
			{"events-stream"}, {"orders"}, {"enrich"}, {"audit_copy"}, {"score", "features"},
		},
		"daily_user_feature_pipeline": {{"orders_onelake", "enrich_orders", "build_user_features", "user_features_onelake"}},
	}
	for id, want := range cases {
		p := pipelineByID(t, id)
		prof, _ := DefaultProfiles().For(p)
		tasks, err := plan(p, prof, true, plugin.Default, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]string
		for _, tk := range tasks {
			got = append(got, tk.nodes)
			if tk.id != strings.Join(tk.nodes, "__") {
				t.Errorf("%s: task id %q", id, tk.id)
			}
		}
		if !equalGroups(got, want) {
			t.Errorf("%s: fused groups %v, want %v", id, got, want)
		}
	}
	// Every edge between tasks survives fusion.
	p := pipelineByID(t, "edge-cases_pipeline")
	prof, _ := DefaultProfiles().For(p)
	tasks, _ := plan(p, prof, true, plugin.Default, nil)
	ups := map[string][]string{}
	for _, tk := range tasks {
		ups[tk.id] = tk.upstream
	}
	if u := strings.Join(ups["score__features"], ","); u != "enrich" {
		t.Errorf("score__features upstream %q, want enrich", u)
	}
	if u := strings.Join(ups["enrich"], ","); u != "events-stream,orders" {
		t.Errorf("enrich upstream %q", u)
	}
}

func equalGroups(a, b [][]string) bool {
	key := func(g [][]string) []string {
		var out []string
		for _, x := range g {
			out = append(out, strings.Join(x, ">"))
		}
		sort.Strings(out)
		return out
	}
	return strings.Join(key(a), " ") == strings.Join(key(b), " ")
}

func TestFusedIDTooLong(t *testing.T) {
	long := strings.Repeat("n", 127)
	id := fusedID([]string{long + "1", long + "2", long + "3"})
	if len(id) > 250 || !airflowIDRE.MatchString(id) {
		t.Errorf("fused id %q (%d chars) is not an Airflow task id", id, len(id))
	}
}

func TestAssetURIs(t *testing.T) {
	// Each plugin reports its Asset (plugin.Kind's Asset); the compiler asks the registry.
	node := func(typ, kind string, params map[string]any) *ir.Node {
		params["kind"] = kind
		return &ir.Node{ID: "n", Type: typ, Params: params}
	}
	cases := []struct {
		n    *ir.Node
		want string
	}{
		{node(ir.Sink, "files", map[string]any{"path": "s3://lake/raw/orders/dt={{ ds }}/"}), "s3://lake/raw/orders"},
		{node(ir.Sink, "files", map[string]any{"path": "s3://lake/raw/orders/"}), "s3://lake/raw/orders"},
		{node(ir.Sink, "files", map[string]any{"path": "/data/x/"}), "file:///data/x"},
		{node(ir.Sink, "files", map[string]any{"path": "file:///data/x"}), "file:///data/x"},
		{node(ir.Sink, "files", map[string]any{"path": "data/x/"}), "x-aiflow-files:data/x"},
		{node(ir.Sink, "onelake", map[string]any{"table": "raw.sales_orders"}), "x-onelake://raw.sales_orders"},
		{node(ir.Source, "onestream", map[string]any{"topic": "user.events"}), "x-onestream://user.events"},
		{node(ir.Sink, "kafka", map[string]any{"topic": "t"}), "x-kafka://t"},
		{node(ir.Sink, "feature_store", map[string]any{"feature_group": "g"}), "x-feature-store://public/g"},
		{node(ir.Sink, "custom", map[string]any{"x": "y"}), ""},
	}
	for _, c := range cases {
		if got := assetURI(plugin.Default, nil, c.n); got != c.want {
			t.Errorf("assetURI(%v) = %q, want %q", c.n.Params, got, c.want)
		}
	}
}

// TestSecretEnvAgreesWithRunner: the pod gets a Secret reference's value in the variable the
// runner reads it from.
func TestSecretEnvAgreesWithRunner(t *testing.T) {
	name := SecretEnv("feature-store-db", "dsn.url")
	t.Setenv(name, "postgres://example")
	got, err := plugin.Secret{Ref: "feature-store-db/dsn.url"}.Resolve(t.TempDir())
	if err != nil || got != "postgres://example" {
		t.Fatalf("runner resolved %q, %v from %s", got, err, name)
	}
}

func TestInvalidPipelineNotCompiled(t *testing.T) {
	p := pipelineByID(t, "quickstart_user_orders")
	cyc := *p
	cyc.Nodes = map[string]*ir.Node{}
	for k, n := range p.Nodes {
		c := *n
		cyc.Nodes[k] = &c
	}
	cyc.Nodes["orders"].Type = ir.Transform
	cyc.Nodes["orders"].Engine = new("arrow")
	cyc.Nodes["orders"].InputIDs = []string{"user_order_stats"}
	_, err := Compile(&cyc, Options{})
	if fault.ClassOf(err) != fault.Config || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: got %v (class %v), want a config error naming the cycle", err, fault.ClassOf(err))
	}

	bad := *p
	bad.Nodes = map[string]*ir.Node{"has space": {ID: "has space", Type: ir.Source, Params: map[string]any{"kind": "files", "path": "x"}}}
	_, err = Compile(&bad, Options{})
	if fault.ClassOf(err) != fault.Config || !strings.Contains(err.Error(), `node "has space" is not a valid Airflow task id`) {
		t.Errorf("bad node id: got %v", err)
	}

	cfg := *p
	cfg.Nodes = map[string]*ir.Node{}
	for k, n := range p.Nodes {
		c := *n
		cfg.Nodes[k] = &c
	}
	cfg.Nodes["user_order_stats"].Params = map[string]any{"kind": "files", "path": "x", "partiton_by": []any{"dt"}}
	_, err = Compile(&cfg, Options{Registry: plugin.Default})
	if fault.ClassOf(err) != fault.Config || !strings.Contains(err.Error(), "partiton_by") {
		t.Errorf("bad plugin config: got %v", err)
	}
	if _, err := Compile(p, Options{Target: "nomad"}); fault.ClassOf(err) != fault.Usage {
		t.Errorf("unknown target: got %v", err)
	}
}

func TestProfileSelection(t *testing.T) {
	ps := testProfiles(t)
	p := pipelineByID(t, "daily_user_feature_pipeline") // prod, team feature-platform: env profile
	prof, err := ps.For(p)
	if err != nil {
		t.Fatal(err)
	}
	if prof.Namespace != "aiflow-prod" || *prof.Retries != 3 || prof.EnvVars["AIFLOW_LOG_FORMAT"] != "json" ||
		prof.EnvVars["AIFLOW_SPARK_CLUSTERS"] == "" || prof.ImagePullPolicy != "IfNotPresent" || prof.RetryDelay != "2m" {
		t.Errorf("env profile merged with defaults: %+v", prof)
	}
	e := pipelineByID(t, "edge-cases_pipeline") // prod, team data-platform: team profile wins
	prof, err = ps.For(e)
	if err != nil {
		t.Fatal(err)
	}
	if prof.Namespace != "data-platform" || prof.Labels["billing"] != "data-platform" || prof.Command[0] != "aiflow-runner" {
		t.Errorf("team profile: %+v", prof)
	}
	q := pipelineByID(t, "quickstart_user_orders")
	only, err := ParseProfiles("only-prod.yaml", []byte("api_version: aiflow/v1\nprofiles:\n  - match: {env: prod}\n    image: r/x@sha256:"+strings.Repeat("a", 64)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = only.For(q)
	if fault.ClassOf(err) != fault.Config || !strings.Contains(err.Error(), `no deployment profile for env "dev", team "demo" in only-prod.yaml (have: env prod)`) {
		t.Errorf("missing profile: %v", err)
	}
	if _, err := Compile(q, Options{Profiles: only}); fault.ClassOf(err) != fault.Config {
		t.Errorf("compile with a missing profile: %v", err)
	}
	// The built-in profile compiles every env.
	if _, err := DefaultProfiles().For(p); err != nil {
		t.Errorf("built-in profile: %v", err)
	}
}

func TestProfileErrors(t *testing.T) {
	const head = "api_version: aiflow/v1\nprofiles:\n"
	digest := "@sha256:" + strings.Repeat("0", 64)
	cases := []struct{ name, doc, want string }{
		{"empty", "", "empty profiles file"},
		{"unknown field", head + "  - match: {env: dev}\n    imagee: x\n", "field imagee not found"},
		{"no profiles", "api_version: aiflow/v1\n", "no profiles"},
		{"api version", "api_version: v2\nprofiles:\n  - match: {env: dev}\n", `"v2" is not supported`},
		{"no env", head + "  - image: x\n", "match.env is required"},
		{"duplicate", head + "  - match: {env: dev}\n  - match: {env: dev}\n", "same match"},
		{"unpinned prod image", head + "  - match: {env: prod}\n    image: r/x:latest\n", "not pinned by digest"},
		{"bad namespace", head + "  - match: {env: dev}\n    namespace: Bad_NS\n", "not a Kubernetes name"},
		{"secret value in env", head + "  - match: {env: dev}\n    env_vars: {DSN: \"${DSN}\"}\n", "list it under secrets"},
		{"compiler env", head + "  - match: {env: dev}\n    env_vars: {AIFLOW_IR_B64: x}\n", "set by the compiler"},
		{"secret half", head + "  - match: {env: dev}\n    secrets: [{env: X, secret: s}]\n", "give env and key together"},
		{"bad resources", head + "  - match: {env: dev}\n    resources: {cpu: lots}\n", "not a CPU quantity"},
		{"bad duration", head + "  - match: {env: dev}\n    retry_delay: soon\n", "retry_delay"},
		{"bad date", head + "  - match: {env: dev}\n    start_date: 2024/01/01\n", "start_date"},
		{"bad toleration", head + "  - match: {env: dev}\n    tolerations: [{key: k, operator: Maybe}]\n", "operator"},
		{"bad label", head + "  - match: {env: dev}\n    labels: {team: \"a b\"}\n", "not a label value"},
		{"defaults match", "api_version: aiflow/v1\ndefaults: {match: {env: dev}}\nprofiles:\n  - match: {env: dev}\n", "defaults cannot have a match"},
		{"pinned ok", head + "  - match: {env: prod}\n    image: r/x" + digest + "\n", ""},
		{"unpinned engine image", head + "  - match: {env: prod}\n    images: {python: r/py:latest}\n", "images: python: image \"r/py:latest\" is not pinned"},
		{"bad engine key", head + "  - match: {env: dev}\n    images: {Py Thon: x}\n", "not an engine name"},
		{"empty engine image", head + "  - match: {env: dev}\n    images: {python: \"\"}\n", "empty image"},
		{"bad on_finish_action", head + "  - match: {env: dev}\n    on_finish_action: keep\n", "on_finish_action"},
		{"bad termination policy", head + "  - match: {env: dev}\n    termination_message_policy: Logs\n", "termination_message_policy"},
		{"bad startup timeout", head + "  - match: {env: dev}\n    startup_timeout: 10ms\n", "startup_timeout"},
		{"kpo options ok", head + "  - match: {env: dev}\n    on_finish_action: keep_pod\n    get_logs: false\n    termination_message_policy: FallbackToLogsOnError\n    deferrable: true\n    startup_timeout: 2m\n    images: {python: r/py:dev}\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseProfiles("p.yaml", []byte(c.doc))
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Class != fault.Config {
				t.Errorf("error class %v, want config", fault.ClassOf(err))
			}
		})
	}
}

// TestExampleProfiles keeps deploy/profiles.example.yaml valid.
func TestExampleProfiles(t *testing.T) {
	ps, err := LoadProfiles("../deploy/profiles.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range loadCorpus(t) {
		if p.ID == "edge-cases_pipeline" {
			continue
		}
		if _, err := Compile(p, Options{Profiles: ps, Registry: plugin.Default}); err != nil {
			t.Errorf("%s with the example profiles: %v", p.ID, err)
		}
	}
}

func TestNoHeavyTopLevelImports(t *testing.T) {
	importRE := regexp.MustCompile(`(?m)^(?:from (\S+) import|import (\S+))`)
	allowed := map[string]bool{"datetime": true, "airflow.sdk": true, "kubernetes.client": true,
		"aiflow_sdk.airflow": true, "airflow.providers.cncf.kubernetes.secret": true}
	for _, c := range goldenCases {
		for _, f := range compileCase(t, c, false) {
			for _, m := range importRE.FindAllSubmatch(f.Data, -1) {
				mod := string(m[1]) + string(m[2])
				if !allowed[mod] {
					t.Errorf("%s/%s imports %s", c.name, f.Name, mod)
				}
			}
		}
	}
}

func TestLongTagRejected(t *testing.T) {
	p := *pipelineByID(t, "quickstart_user_orders")
	p.Tags = []string{strings.Repeat("x", 101)}
	_, err := Compile(&p, Options{})
	if fault.ClassOf(err) != fault.Config || !strings.Contains(err.Error(), "longer than the 100 characters") {
		t.Errorf("got %v", err)
	}
}

func TestCompileAllKeepsOrder(t *testing.T) {
	ps := loadCorpus(t)
	files, err := CompileAll(ps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		one, _ := Compile(p, Options{})
		if files[i].Pipeline != p.ID || !bytes.Equal(files[i].Data, one.Data) {
			t.Errorf("file %d is %s, want %s", i, files[i].Pipeline, p.ID)
		}
	}
	bad := *ps[0]
	bad.Nodes = map[string]*ir.Node{}
	if _, err := CompileAll([]*ir.Pipeline{ps[1], &bad}, Options{}); fault.ClassOf(err) != fault.Config {
		t.Errorf("CompileAll with an invalid pipeline: %v", err)
	}
}

// TestCompileEachWindows: more pipelines than one window, an invalid one in the second window:
// the files before it are emitted in order, none after it, and the error names it.
func TestCompileEachWindows(t *testing.T) {
	base := loadCorpus(t)[0]
	var ps []*ir.Pipeline
	for i := range 2*compileWindow + 5 {
		p := *base
		p.ID = fmt.Sprintf("p%03d", i)
		ps = append(ps, &p)
	}
	var emitted []string
	emit := func(f *File) error { emitted = append(emitted, f.Pipeline); return nil }
	if err := CompileEach(ps, Options{}, emit); err != nil {
		t.Fatal(err)
	}
	for i, id := range emitted {
		if id != ps[i].ID {
			t.Fatalf("file %d is %s, want %s", i, id, ps[i].ID)
		}
	}
	if len(emitted) != len(ps) {
		t.Fatalf("emitted %d files, want %d", len(emitted), len(ps))
	}
	bad := *base
	bad.ID = "p070"
	bad.Tags = []string{strings.Repeat("x", 101)}
	ps[70] = &bad
	emitted = nil
	err := CompileEach(ps, Options{}, emit)
	if fault.ClassOf(err) != fault.Config || !strings.Contains(err.Error(), "longer than the 100 characters") {
		t.Fatalf("got %v", err)
	}
	if len(emitted) != 70 || emitted[69] != "p069" {
		t.Errorf("emitted %d files (last %v), want the 70 before the invalid one", len(emitted), emitted[len(emitted)-1:])
	}
	stop := errors.New("disk full")
	if err := CompileEach(ps[:3], Options{}, func(*File) error { return stop }); err != stop {
		t.Errorf("an emit error is returned as is: got %v", err)
	}
}

// TestSecretRefsCollide: two Secret references whose variables coincide would give one of them
// the other's value, and their order in the DAG would depend on map iteration.
func TestSecretRefsCollide(t *testing.T) {
	p := pipelineByID(t, "quickstart_user_orders")
	prof, _ := DefaultProfiles().For(p)
	q := *p
	q.Nodes = map[string]*ir.Node{}
	for id, n := range p.Nodes {
		c := *n
		q.Nodes[id] = &c
	}
	var src *ir.Node
	for _, id := range q.NodeIDs() {
		if q.Nodes[id].Type == ir.Source {
			src = q.Nodes[id]
			break
		}
	}
	src.Params = map[string]any{}
	for k, v := range p.Nodes[src.ID].Params {
		src.Params[k] = v
	}
	src.Params["x_a"] = map[string]any{"secret": "a-b/c"}
	src.Params["x_b"] = map[string]any{"secret": "a/b-c"}
	if _, err := plan(&q, prof, false, plugin.Default, nil); err == nil || !strings.Contains(err.Error(), "AIFLOW_SECRET_A_B_C") {
		t.Fatalf("plan: err = %v, want a collision on AIFLOW_SECRET_A_B_C", err)
	}
	delete(src.Params, "x_b")
	src.Params["x_c"] = map[string]any{"secret": "a/d"}
	for range 20 {
		tasks, err := plan(&q, prof, false, plugin.Default, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tasks {
			for i := 1; i < len(tk.secrets); i++ {
				if tk.secrets[i-1].Env >= tk.secrets[i].Env {
					t.Fatalf("secrets not in order: %+v", tk.secrets)
				}
			}
		}
	}
}

// TestAirflowNative: pipeline params become Airflow Params passed to every task with --param,
// the pipeline's description is the DAG's, timeouts appear only when a profile sets them (an
// SLA is not one), and pods carry the app.kubernetes.io labels.
func TestAirflowNative(t *testing.T) {
	p := pipelineByID(t, "edge-cases_pipeline")
	f, err := Compile(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dag := string(f.Data)
	for _, want := range []string{
		"from airflow.sdk import DAG, Asset, Param\n",
		`    description="Edge cases: \"quotes\", {{ braces }} and ünïcødé",` + "\n",
		`        "min_amount": Param(10, type="integer"),` + "\n",
		`        "note": Param(None, type=["null", "string"]),` + "\n",
		`            "--param", "region={{ params[\"region\"] }}",` + "\n",
		`            "--param", "dry_run={{ params[\"dry_run\"] | tojson }}",` + "\n",
		`"app.kubernetes.io/instance": "edge-cases_pipeline"`,
		`"app.kubernetes.io/component": "orders"`,
		`"app.kubernetes.io/managed-by": "aiflow"`,
		"| SLA | 90 min (not enforced",
	} {
		if !strings.Contains(dag, want) {
			t.Errorf("DAG lacks %q", want)
		}
	}
	for _, not := range []string{"dagrun_timeout=", `"execution_timeout":`} {
		if strings.Contains(dag, not) {
			t.Errorf("DAG has %s, which no profile set", not)
		}
	}
	profs, err := ParseProfiles("p.yaml", []byte("api_version: aiflow/v1\ndefaults: {execution_timeout: 45m, dagrun_timeout: 3h}\nprofiles:\n  - match: {env: prod}\n    image: r@sha256:"+strings.Repeat("a", 64)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, err = Compile(p, Options{Profiles: profs})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"    dagrun_timeout=timedelta(hours=3),\n", `        "execution_timeout": timedelta(minutes=45),` + "\n"} {
		if !strings.Contains(string(f.Data), want) {
			t.Errorf("DAG lacks %q", want)
		}
	}
}

// TestPluginModulesTakePythonImage: the runner imports a pipeline's Python plugin modules before
// any of its nodes runs, so every task of such a pipeline runs in the profile's python image.
func TestPluginModulesTakePythonImage(t *testing.T) {
	prof, err := ParseProfiles("py.yaml", []byte("api_version: aiflow/v1\nprofiles:\n  - match: {env: dev}\n    image: r/runner:dev\n    images: {python: r/py:dev}\n"))
	if err != nil {
		t.Fatal(err)
	}
	q := pipelineByID(t, "quickstart_user_orders")
	f, err := Compile(q, Options{Profiles: prof})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(f.Data), `IMAGES["python"]`) {
		t.Fatalf("quickstart without plugin modules uses the python image:\n%s", f.Data)
	}
	withMods := *q
	withMods.Extra = maps.Clone(q.Extra)
	withMods.Extra["plugin_modules"] = []any{"team_plugins"}
	f, err = Compile(&withMods, Options{Profiles: prof})
	if err != nil {
		t.Fatal(err)
	}
	if n, want := strings.Count(string(f.Data), `image=IMAGES["python"]`), len(q.Nodes); n != want {
		t.Errorf("%d tasks in the python image, want %d:\n%s", n, want, f.Data)
	}
}

// TestNodeTimeoutFromExecutionTimeout: the tasks' AIFLOW_NODE_TIMEOUT comes from the profile's
// execution_timeout less the time Airflow spends before and after the runner (the pod's start),
// so the runner ends the attempt and records it before Airflow kills it; a profile that sets
// the variable itself must stay within that.
func TestNodeTimeoutFromExecutionTimeout(t *testing.T) {
	p := pipelineByID(t, "edge-cases_pipeline")
	image := "    image: r@sha256:" + strings.Repeat("a", 64) + "\n"
	for _, c := range []struct {
		name, profile string
		target        Target
		want, err     string
	}{
		{"none without execution_timeout", "defaults: {}\n", Kubernetes, "", ""},
		{"pod start and 30s", "defaults: {execution_timeout: 2h}\n", Kubernetes, "1h57m30s", ""},
		{"the profile's startup_timeout", "defaults: {execution_timeout: 1h, startup_timeout: 10m}\n", Kubernetes, "49m30s", ""},
		{"at most a quarter", "defaults: {execution_timeout: 2m}\n", Kubernetes, "1m30s", ""},
		{"local: 30s", "defaults: {execution_timeout: 2h}\n", Local, "1h59m30s", ""},
		{"env_vars within", "defaults: {execution_timeout: 2h, env_vars: {AIFLOW_NODE_TIMEOUT: 90m}}\n", Kubernetes, "90m", ""},
		{"env_vars beyond", "defaults: {execution_timeout: 2h, env_vars: {AIFLOW_NODE_TIMEOUT: 2h}}\n", Kubernetes, "", "AIFLOW_NODE_TIMEOUT=2h: want a duration of at most 1h57m30s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			profs, err := ParseProfiles("p.yaml", []byte("api_version: aiflow/v1\n"+c.profile+"profiles:\n  - match: {env: prod}\n"+image))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Compile(p, Options{Profiles: profs, Target: c.target})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if m := regexp.MustCompile(`"AIFLOW_NODE_TIMEOUT": "([^"]*)"`).FindStringSubmatch(string(f.Data)); m != nil {
				got = m[1]
			}
			if got != c.want {
				t.Errorf("AIFLOW_NODE_TIMEOUT %q, want %q", got, c.want)
			}
		})
	}
}

// TestIRTooLargeRefused: a pipeline whose IR cannot travel into its tasks (AIFLOW_IR_B64=<IR>
// over the kernel's limit for one environment string, so exec fails with E2BIG in every pod) is
// refused at compile, whatever makes it large; one just under the limit compiles. CheckIRSize,
// which validate calls, agrees with Compile on each.
func TestIRTooLargeRefused(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	// noise is n characters that gzip cannot shrink much (random letters and digits).
	noise := func(n int) string {
		const abc = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		b := make([]byte, n)
		for i := range b {
			b[i] = abc[rnd.IntN(len(abc))]
		}
		return string(b)
	}
	withSteps := func(steps ...any) *ir.Pipeline {
		p := *pipelineByID(t, "quickstart_user_orders")
		p.Nodes = maps.Clone(p.Nodes)
		n := *p.Nodes["paid_orders_by_user"]
		n.Params = maps.Clone(n.Params)
		n.Params["steps"] = steps
		p.Nodes[n.ID] = &n
		return &p
	}
	manySteps := func(k int) *ir.Pipeline {
		steps := make([]any, k)
		for i := range steps {
			steps[i] = map[string]any{"filter": fmt.Sprintf("amount > %d OR user_id = '%s'", rnd.IntN(1<<30), noise(24))}
		}
		return withSteps(steps...)
	}
	literal := func(n int) *ir.Pipeline {
		return withSteps(map[string]any{"filter": "status = '" + noise(n) + "'"})
	}
	cases := []struct {
		name string
		p    *ir.Pipeline
		ok   bool
	}{
		{"small literal", literal(60_000), true},
		{"huge literal", literal(200_000), false},
		{"few steps", manySteps(500), true},
		{"many steps", manySteps(6_000), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.p, Options{Registry: plugin.Default})
			canon, cerr := c.p.Canonical()
			if cerr != nil {
				t.Fatal(cerr)
			}
			verr := CheckIRSize(canon)
			if c.ok {
				if err != nil || verr != nil {
					t.Fatalf("compile: %v; CheckIRSize: %v", err, verr)
				}
				return
			}
			for _, e := range []error{err, verr} {
				if fault.ClassOf(e) != fault.Config || !strings.Contains(fmt.Sprint(e), "E2BIG") {
					t.Errorf("got %v (class %v), want a config error saying the tasks could not start", e, fault.ClassOf(e))
				}
			}
		})
	}
}

// TestCheckIRSizeBound: CheckIRSize skips encoding only an IR that fits even when gzip cannot
// shrink it, so around the limit it says what encoding and measuring would.
func TestCheckIRSizeBound(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{90_000, 97_000, 97_500, 98_000, 98_200, 98_400, 100_000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		blob, err := EncodeIR(b)
		if err != nil {
			t.Fatal(err)
		}
		fits := len(IREnv)+1+len(blob)+1 <= MaxEnvString
		if got := CheckIRSize(b) == nil; got != fits {
			t.Errorf("%d random bytes (%d encoded): CheckIRSize says fits=%v, encoding says %v", n, len(blob), got, fits)
		}
	}
}

// TestStreamingPlan: a streaming pipeline compiles to the tasks its mode gives, not one per
// node: stream_deploy (every node but the loaded sinks: their sources' and kafka sinks' assets),
// stream_health after it, and a load task per onelake sink after the deploy, with the run's id
// and try.
func TestStreamingPlan(t *testing.T) {
	specs, ps := ir.Parse("s.yaml", []byte(`api_version: aiflow/v1
pipeline: {id: s, env: dev, mode: streaming}
nodes:
  - id: in
    source: kafka
    with: {topic: orders, schema: {id: int64}}
  - id: agg
    transform: flink
    inputs: [in]
    with: {sql: "SELECT id FROM in"}
  - id: out
    sink: kafka
    inputs: [agg]
    with: {topic: ids}
  - id: lake
    sink: onelake
    inputs: [agg]
    with: {table: sales.ids, mode: append}
`), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	p := specs[0].Pipeline
	if ps := append(specs[0].Check(ir.CheckOptions{}), plugin.Default.Validate(specs[0])...); len(ps) > 0 {
		t.Fatal(ps)
	}
	prof, err := testProfiles(t).For(p)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := plan(p, prof, true, plugin.Default, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range tasks {
		got = append(got, fmt.Sprintf("%s %q nodes=%v up=%v run=%t in=%v out=%v", tk.id, tk.command, tk.nodes, tk.upstream, tk.runArgs, tk.inlets, tk.outlets))
	}
	want := []string{
		`stream_deploy ["stream" "deploy"] nodes=[agg in out] up=[] run=false in=[x-kafka://orders] out=[x-kafka://ids]`,
		`stream_health ["stream" "health"] nodes=[] up=[stream_deploy] run=false in=[] out=[]`,
		`load_lake ["stream-load" "--sink" "lake"] nodes=[lake] up=[stream_deploy] run=true in=[] out=[x-onelake://sales.ids]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tasks\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
