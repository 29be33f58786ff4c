package compiler

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// task is one Airflow task: one node, or a fused linear chain of nodes run in one pod.
type task struct {
	id        string
	nodes     []string // in run order
	resources Resources
	inlets    []string // asset URIs read by sources of this task
	outlets   []string // asset URIs written by sinks of this task
	secrets   []SecretRef
	upstream  []string // task ids, in task order
	// imageKey is the profile's images key whose image the task runs in; "" for the profile's image.
	imageKey string
	// command, set for the tasks of a pipeline of a mode other than batch, is the runner's
	// command (`stream deploy`, ...) instead of `run --node ...`; runArgs adds the run's id,
	// logical date and try to it.
	command []string
	runArgs bool
}

// plan groups the nodes into tasks in topological order. decoded holds the configs check
// decoded already (by node id); a node not in it is decoded again for its asset.
func plan(p *ir.Pipeline, prof *Profile, fuse bool, reg *plugin.Registry, decoded map[string]*plugin.Decoded) ([]*task, error) {
	if p.Mode() != ir.ModeBatch {
		return modePlan(p, prof, reg, decoded)
	}
	order, err := p.TopoOrder()
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "")
	}
	downstream := map[string][]string{}
	for _, id := range order {
		for _, in := range p.Nodes[id].InputIDs {
			downstream[in] = append(downstream[in], id)
		}
	}
	var tasks []*task
	taskOf := map[string]*task{}
	for _, id := range order {
		n := p.Nodes[id]
		if fuse && len(n.InputIDs) == 1 && len(downstream[n.InputIDs[0]]) == 1 {
			t := taskOf[n.InputIDs[0]]
			t.nodes = append(t.nodes, id)
			taskOf[id] = t
			continue
		}
		t := &task{nodes: []string{id}}
		tasks = append(tasks, t)
		taskOf[id] = t
	}
	index := map[*task]int{}
	for i, t := range tasks {
		index[t] = i
		t.id = fusedID(t.nodes)
		t.resources = taskResources(p, prof, t.nodes)
		if t.imageKey, err = taskImageKey(p, prof, t); err != nil {
			return nil, err
		}
		up := map[*task]bool{}
		secrets := map[SecretRef]bool{}
		for _, id := range t.nodes {
			n := p.Nodes[id]
			for _, in := range n.InputIDs {
				if u := taskOf[in]; u != t {
					up[u] = true
				}
			}
			if uri := assetURI(reg, decoded, n); uri != "" {
				if n.Type == ir.Source {
					t.inlets = appendUnique(t.inlets, uri)
				} else if n.Type == ir.Sink {
					t.outlets = appendUnique(t.outlets, uri)
				}
			}
			for _, ref := range secretRefs(n.Params) {
				secrets[ref] = true
			}
		}
		ups := make([]*task, 0, len(up))
		for u := range up {
			ups = append(ups, u)
		}
		sort.Slice(ups, func(a, b int) bool { return index[ups[a]] < index[ups[b]] })
		for _, u := range ups {
			t.upstream = append(t.upstream, u.id)
		}
		for ref := range secrets {
			t.secrets = append(t.secrets, ref)
		}
		sort.Slice(t.secrets, func(a, b int) bool {
			x, y := t.secrets[a], t.secrets[b]
			if x.Env != y.Env {
				return x.Env < y.Env
			}
			if x.Secret != y.Secret {
				return x.Secret < y.Secret
			}
			return x.Key < y.Key
		})
		// Two references that map to one variable (a-b/c and a/b-c are both
		// AIFLOW_SECRET_A_B_C) would hand one of them the other's value.
		for i := 1; i < len(t.secrets); i++ {
			if a, b := t.secrets[i-1], t.secrets[i]; a.Env == b.Env {
				return nil, fault.Configf("pipeline %s: task %s: secret references %s/%s and %s/%s both map to the variable %s: rename one",
					p.ID, t.id, a.Secret, a.Key, b.Secret, b.Key, a.Env)
			}
		}
	}
	return tasks, nil
}

// fusedID names the task of a chain: the node ids joined by "__", shortened with a hash when
// longer than an Airflow task id may be.
func fusedID(nodes []string) string {
	id := strings.Join(nodes, "__")
	if len(id) <= 250 {
		return id
	}
	first, last := nodes[0], nodes[len(nodes)-1]
	if len(first) > 100 {
		first = first[:100]
	}
	if len(last) > 100 {
		last = last[:100]
	}
	return fmt.Sprintf("%s__%s__%s", first, ir.HashBytes([]byte(id))[:12], last)
}

// ImageKey is the profile images key of a node: its engine, except that a spark transform with a
// PySpark entrypoint runs Python in its pod and so takes the "python" image.
func ImageKey(n *ir.Node) string {
	e := n.EngineName()
	if e == "spark" {
		if ep, _ := n.Params["entrypoint"].(string); ep != "" {
			return "python"
		}
	}
	return e
}

// namesPluginModules tells whether the pipeline names Python plugin modules (plugin_modules).
func namesPluginModules(p *ir.Pipeline) bool {
	l, _ := p.Extra["plugin_modules"].([]any)
	return len(l) > 0
}

// taskImageKey picks the images key of a task: the one of its nodes that the profile maps to an
// image. A fused task whose nodes want two different images cannot run in one pod.
func taskImageKey(p *ir.Pipeline, prof *Profile, t *task) (string, error) {
	key := ""
	for _, id := range t.nodes {
		k := ImageKey(p.Nodes[id])
		if namesPluginModules(p) {
			// The runner imports the pipeline's Python plugin modules before any node runs.
			k = "python"
		}
		if k == "" || prof.Images[k] == "" || k == key {
			continue
		}
		if key != "" && prof.Images[key] != prof.Images[k] {
			return "", fault.Configf("pipeline %s: task %s fuses nodes that run in different images (%s: %s, %s: %s): compile without fusing them",
				p.ID, t.id, key, prof.Images[key], k, prof.Images[k])
		}
		key = k
	}
	return key, nil
}

// taskResources are the pod resources of a task: for each node its own requests and limits, else
// the profile's (spark_resources for spark nodes); a fused task takes the largest of its nodes,
// and no CPU limit when one of its nodes has none.
func taskResources(p *ir.Pipeline, prof *Profile, nodes []string) Resources {
	var out Resources
	best := map[string]int64{"cpu": -1, "memory": -1, "cpu_limit": -1, "memory_limit": -1}
	unlimitedCPU := false
	take := func(key, q string, dst *string, parse func(string) (int64, error)) {
		if v, err := parse(q); err == nil && v > best[key] {
			best[key], *dst = v, q
		}
	}
	for _, id := range nodes {
		n := p.Nodes[id]
		def := prof.Resources
		if n.EngineName() == "spark" {
			def = prof.SparkResources
		}
		get := func(key, fallback string) string {
			if v, _ := n.Resources[key].(string); v != "" {
				return v
			}
			return fallback
		}
		cpu, mem := get("cpu", def.CPU), get("memory", def.Memory)
		cpuLim, memLim := get("cpu_limit", def.CPULimit), get("memory_limit", def.MemoryLimit)
		if memLim == "" {
			memLim = mem
		}
		take("cpu", cpu, &out.CPU, plugin.MilliCPU)
		take("memory", mem, &out.Memory, plugin.MemoryBytes)
		take("memory_limit", memLim, &out.MemoryLimit, plugin.MemoryBytes)
		if cpuLim == "" {
			unlimitedCPU = true
		} else {
			take("cpu_limit", cpuLim, &out.CPULimit, plugin.MilliCPU)
		}
	}
	if unlimitedCPU {
		out.CPULimit = ""
	} else if best["cpu_limit"] < best["cpu"] {
		out.CPULimit = out.CPU
	}
	if best["memory_limit"] < best["memory"] {
		out.MemoryLimit = out.Memory
	}
	out.Memory = k8sMemory(out.Memory)
	out.MemoryLimit = k8sMemory(out.MemoryLimit)
	return out
}

var k8sMemUnits = map[string]string{
	"": "", "k": "Ki", "m": "Mi", "g": "Gi", "t": "Ti", "p": "Pi",
	"K": "k", "M": "M", "G": "G", "T": "T", "P": "P",
	"KB": "k", "MB": "M", "GB": "G", "TB": "T", "PB": "P",
	"Ki": "Ki", "Mi": "Mi", "Gi": "Gi", "Ti": "Ti", "Pi": "Pi",
}

var memSplitRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$`)

// k8sMemory turns a memory quantity as aiflow accepts it (Spark style "4g", "512m", or "1GB")
// into a Kubernetes quantity ("4Gi", "512Mi", "1G"). Kubernetes reads "m" as milli, so Spark's
// lowercase units must not pass through.
func k8sMemory(q string) string {
	m := memSplitRE.FindStringSubmatch(q)
	if m == nil {
		return q
	}
	unit, ok := k8sMemUnits[m[2]]
	if !ok {
		return q
	}
	return m[1] + unit
}

// assetURI is the Airflow Asset a source reads or a sink writes, as its plugin reports it from its
// decoded config (plugin.Kind's Asset: templated tails cut off, custom stores under x- schemes);
// "" without a registry or for kinds that report none.
func assetURI(reg *plugin.Registry, decoded map[string]*plugin.Decoded, n *ir.Node) string {
	if reg == nil || (n.Type != ir.Source && n.Type != ir.Sink) {
		return ""
	}
	if d := decoded[n.ID]; d != nil {
		return d.Asset()
	}
	d, err := reg.DecodeNode(n)
	if err != nil {
		return "" // check refused the pipeline already when it had a registry
	}
	return d.Asset()
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

var secretEnvRE = regexp.MustCompile(`[^A-Za-z0-9]`)

// SecretEnv is the variable a pod reads the Kubernetes Secret reference name/key from; it must
// agree with plugin.Secret.Resolve (AIFLOW_SECRET_<NAME>_<KEY>, non-alphanumerics as _).
func SecretEnv(name, key string) string {
	return "AIFLOW_SECRET_" + strings.ToUpper(secretEnvRE.ReplaceAllString(name+"_"+key, "_"))
}

// secretRefs finds the {"secret": "name/key"} references in params, so that the pod gets those
// Secret keys in its environment.
func secretRefs(v any) []SecretRef {
	var out []SecretRef
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ir.IsSecretRef(x) {
				name, key, _ := strings.Cut(x["secret"].(string), "/")
				out = append(out, SecretRef{Env: SecretEnv(name, key), Secret: name, Key: key})
				return
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// modePlan is the DAG of a pipeline of a mode other than batch: the tasks its mode's plugin
// gives (a streaming pipeline: deploy its job, check its health), not one task per node.
func modePlan(p *ir.Pipeline, prof *Profile, reg *plugin.Registry, decoded map[string]*plugin.Decoded) ([]*task, error) {
	if reg == nil {
		reg = plugin.Default
	}
	mts, ok := reg.ModeTasks(p)
	if !ok {
		return nil, fault.Configf("pipeline %s: no plugin of this runner compiles %s pipelines", p.ID, p.Mode())
	}
	var tasks []*task
	for _, mt := range mts {
		t := &task{id: mt.ID, nodes: mt.Nodes, command: mt.Command, runArgs: mt.RunArgs, upstream: mt.Upstream}
		if len(t.nodes) == 0 {
			t.resources = prof.Resources
			if t.resources.MemoryLimit == "" {
				t.resources.MemoryLimit = t.resources.Memory
			}
		} else {
			t.resources = taskResources(p, prof, t.nodes)
		}
		var err error
		if t.imageKey, err = taskImageKey(p, prof, t); err != nil {
			return nil, err
		}
		secrets := map[SecretRef]bool{}
		for _, id := range t.nodes {
			n := p.Nodes[id]
			if uri := assetURI(reg, decoded, n); uri != "" {
				if n.Type == ir.Source {
					t.inlets = appendUnique(t.inlets, uri)
				} else if n.Type == ir.Sink {
					t.outlets = appendUnique(t.outlets, uri)
				}
			}
			for _, ref := range secretRefs(n.Params) {
				secrets[ref] = true
			}
		}
		for ref := range secrets {
			t.secrets = append(t.secrets, ref)
		}
		sort.Slice(t.secrets, func(a, b int) bool {
			x, y := t.secrets[a], t.secrets[b]
			return x.Env < y.Env || x.Env == y.Env && (x.Secret < y.Secret || x.Secret == y.Secret && x.Key < y.Key)
		})
		tasks = append(tasks, t)
	}
	return tasks, nil
}
