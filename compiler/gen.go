package compiler

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/ir"
)

// Jinja expressions the tasks pass to the runner. Airflow 3 runs may have no logical date
// (manual, API and asset-triggered runs): then the run's run_after stands in, so the runner's
// {{ ds }} is the day the run was due. run_id and ti.try_number always exist.
const (
	jinjaRunID = "{{ run_id }}"
	jinjaTry   = "{{ ti.try_number }}"
	// jinjaMaxTries is the task's retries as Airflow counts them (raised when a task is
	// cleared): the pod whose try exceeds it is the last, and ends the run when it fails.
	jinjaMaxTries    = "{{ ti.max_tries }}"
	jinjaLogicalDate = "{{ (dag_run.logical_date or dag_run.run_after) | ts }}"
	// The OpenLineage provider's macros, only when its plugin is loaded where the task renders;
	// otherwise the variables are empty and the DAG still renders under StrictUndefined.
	jinjaOLParent = "{% if macros.OpenLineageProviderPlugin is defined %}" +
		"{{ macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance) }}{% endif %}"
	jinjaOLRoot = "{% if macros.OpenLineageProviderPlugin is defined %}" +
		"{{ macros.OpenLineageProviderPlugin.lineage_root_parent_id(task_instance) }}{% endif %}"
)

// gen writes one DAG file.
type gen struct {
	p     *ir.Pipeline
	prof  *Profile
	opts  Options
	hash  string
	blob  string
	tasks []*task
	b     bytes.Buffer
}

func (g *gen) line(indent int, format string, args ...any) {
	for range indent {
		g.b.WriteString("    ")
	}
	fmt.Fprintf(&g.b, format, args...)
	g.b.WriteByte('\n')
}

// kw writes `name=value,` at indent.
func (g *gen) kw(indent int, name, value string) { g.line(indent, "%s=%s,", name, value) }

func (g *gen) file() ([]byte, error) {
	// Sized once for what a file holds (the IR blob, then about a kilobyte per task) instead of
	// doubling as it grows: 10,000 files of ~27 KB allocated 680 MB in growth alone.
	g.b.Grow(len(g.blob) + 1536*len(g.tasks) + 4096)
	p, prof := g.p, g.prof
	k8s := g.opts.Target == Kubernetes
	hasSecrets := k8s && (len(prof.Secrets) > 0 || g.anyTaskSecrets())

	g.line(0, "%s", Header)
	g.line(0, "# Pipeline %s, ir_hash %s, target %s%s.", p.ID, g.hash, g.opts.Target, map[bool]string{true: ", fused", false: ""}[g.opts.Fuse])
	g.line(0, "# Change the pipeline spec and run `aiflow-runner compile` again; `compile --check` finds stale files.")
	g.line(0, "from datetime import datetime, timedelta, timezone")
	g.line(0, "")
	if hasSecrets {
		g.line(0, "from airflow.providers.cncf.kubernetes.secret import Secret")
	}
	if len(p.PipelineParams()) > 0 {
		g.line(0, "from airflow.sdk import DAG, Asset, Param")
	} else {
		g.line(0, "from airflow.sdk import DAG, Asset")
	}
	op := "AiflowLocalOperator"
	if k8s {
		g.line(0, "from kubernetes.client import models as k8s")
		op = "AiflowPodOperator"
	}
	g.line(0, "")
	g.line(0, "from aiflow_sdk.airflow import %s", op)
	g.line(0, "")
	g.line(0, "PIPELINE = %s", PyStr(p.ID))
	g.line(0, "IR_HASH = %s", PyStr(g.hash))
	g.line(0, "# The pipeline's canonical IR (gzip, base64: Jinja-inert). The runner checks it against IR_HASH.")
	g.line(0, "IR_B64 = (")
	for i := 0; i < len(g.blob); i += 76 {
		g.line(1, "%s", PyStr(g.blob[i:min(i+76, len(g.blob))]))
	}
	g.line(0, ")")
	if k8s {
		g.line(0, "IMAGE = %s", PyStr(prof.Image))
		if keys := g.imageKeys(); len(keys) > 0 {
			g.line(0, "# Images of the tasks whose engine the profile maps to its own image.")
			g.line(0, "IMAGES = {")
			for _, k := range keys {
				g.line(1, "%s: %s,", PyStr(k), PyStr(prof.Images[k]))
			}
			g.line(0, "}")
		}
		g.line(0, "NAMESPACE = %s", PyStr(prof.Namespace))
	} else {
		g.line(0, "RUNNER = %s", PyStr(g.opts.Runner))
	}
	g.line(0, "LOGICAL_DATE = %s", PyStr(jinjaLogicalDate))
	g.line(0, "ENV = {")
	g.line(1, "%s: IR_B64,", PyStr("AIFLOW_IR_B64"))
	env := maps.Clone(prof.EnvVars)
	if t, ok, err := nodeTimeout(prof, k8s); err != nil {
		return nil, err
	} else if ok {
		if env == nil {
			env = map[string]string{}
		}
		if set, ok := env[nodeTimeoutEnv]; !ok {
			env[nodeTimeoutEnv] = t.String()
		} else if d, err := time.ParseDuration(set); err != nil || d <= 0 || d > t {
			return nil, fmt.Errorf("profile env_vars: %s=%s: want a duration of at most %s (execution_timeout %s less the pod's start), or leave it out: the runner must end the attempt before Airflow kills it", nodeTimeoutEnv, set, t, prof.ExecutionTimeout)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		g.line(1, "%s: %s,", PyStr(k), PyStr(env[k]))
	}
	g.line(1, "%s: %s,", PyStr("OPENLINEAGE_PARENT_ID"), PyStr(jinjaOLParent))
	g.line(1, "%s: %s,", PyStr("OPENLINEAGE_ROOT_PARENT_ID"), PyStr(jinjaOLRoot))
	g.line(0, "}")
	g.docMD()
	g.line(0, "")
	if err := g.dag(); err != nil {
		return nil, err
	}
	return g.b.Bytes(), nil
}

// imageKeys are the images keys the tasks use, sorted.
func (g *gen) imageKeys() []string {
	seen := map[string]bool{}
	for _, t := range g.tasks {
		if t.imageKey != "" {
			seen[t.imageKey] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

func (g *gen) anyTaskSecrets() bool {
	for _, t := range g.tasks {
		if len(t.secrets) > 0 {
			return true
		}
	}
	return false
}

func (g *gen) dag() error {
	p, prof := g.p, g.prof
	start, err := time.Parse("2006-01-02", prof.StartDate)
	if err != nil {
		return fmt.Errorf("profile start_date %q: %v", prof.StartDate, err)
	}
	retryDelay, err := time.ParseDuration(prof.RetryDelay)
	if err != nil {
		return fmt.Errorf("profile retry_delay: %v", err)
	}
	g.line(0, "with DAG(")
	g.kw(1, "dag_id", "PIPELINE")
	if d, _ := p.Extra["description"].(string); strings.TrimSpace(d) != "" {
		g.kw(1, "description", PyStr(d))
	} else {
		g.kw(1, "description", PyStr(fmt.Sprintf("aiflow pipeline %s (ir_hash %s)", p.ID, g.hash[:12])))
	}
	if p.Schedule == nil {
		g.kw(1, "schedule", "None")
	} else {
		g.kw(1, "schedule", PyStr(*p.Schedule))
	}
	g.kw(1, "start_date", fmt.Sprintf("datetime(%d, %d, %d, tzinfo=timezone.utc)", start.Year(), int(start.Month()), start.Day()))
	streaming := p.Mode() != ir.ModeBatch
	// A streaming DAG's runs redeploy and check one long-running job: a missed one is not worth
	// running late, and two at once would race each other's deploys and loads.
	g.kw(1, "catchup", pyBool(*prof.Catchup && !streaming))
	switch {
	case streaming || p.Schedule != nil && *p.Schedule == "@continuous":
		g.kw(1, "max_active_runs", "1")
	case prof.MaxActiveRuns != nil:
		g.kw(1, "max_active_runs", fmt.Sprint(*prof.MaxActiveRuns))
	}
	// Timeouts only when the profile sets them. sla_minutes is not one: an SLA is an expectation,
	// not a reason to kill a run, and Airflow 3 has no SLAs (its Deadline Alerts, experimental in
	// 3.1, break `airflow dags test`), so the SLA is shown in doc_md only.
	if prof.DagrunTimeout != "" {
		d, err := time.ParseDuration(prof.DagrunTimeout)
		if err != nil {
			return fmt.Errorf("profile dagrun_timeout: %v", err)
		}
		g.kw(1, "dagrun_timeout", pyTimedelta(d))
	}
	if err := g.params(); err != nil {
		return err
	}
	owner := p.Owner
	if owner == "" {
		owner = "airflow"
	}
	g.line(1, "default_args={")
	g.line(2, "%s: %s,", PyStr("owner"), PyStr(owner))
	g.line(2, "%s: %d,", PyStr("retries"), *prof.Retries)
	g.line(2, "%s: %s,", PyStr("retry_delay"), pyTimedelta(retryDelay))
	if prof.ExecutionTimeout != "" {
		timeout, err := time.ParseDuration(prof.ExecutionTimeout)
		if err != nil {
			return fmt.Errorf("profile execution_timeout: %v", err)
		}
		g.line(2, "%s: %s,", PyStr("execution_timeout"), pyTimedelta(timeout))
	}
	g.line(1, "},")
	tags, _ := PyValue(ir.TenancyTags(p.Tags, p.Extra))
	g.kw(1, "tags", tags)
	g.kw(1, "doc_md", "DOC_MD")
	g.line(0, ") as dag:")
	g.line(1, "t = {}")
	for _, t := range g.tasks {
		if err := g.task(t); err != nil {
			return err
		}
	}
	first := true
	for _, t := range g.tasks {
		for _, u := range t.upstream {
			if first {
				g.line(0, "")
				first = false
			}
			g.line(1, "t[%s] >> t[%s]", PyStr(u), PyStr(t.id))
		}
	}
	return nil
}

func (g *gen) task(t *task) error {
	p, prof := g.p, g.prof
	k8s := g.opts.Target == Kubernetes
	g.line(0, "")
	op := "AiflowLocalOperator"
	if k8s {
		op = "AiflowPodOperator"
	}
	g.line(1, "t[%s] = %s(", PyStr(t.id), op)
	g.kw(2, "task_id", PyStr(t.id))
	if k8s {
		if t.imageKey != "" {
			g.kw(2, "image", "IMAGES["+PyStr(t.imageKey)+"]")
		} else {
			g.kw(2, "image", "IMAGE")
		}
		if prof.ImagePullPolicy != "" {
			g.kw(2, "image_pull_policy", PyStr(prof.ImagePullPolicy))
		}
		if len(prof.ImagePullSecrets) > 0 {
			refs := make([]string, len(prof.ImagePullSecrets))
			for i, s := range prof.ImagePullSecrets {
				refs[i] = "k8s.V1LocalObjectReference(name=" + PyStr(s) + ")"
			}
			g.kw(2, "image_pull_secrets", "["+strings.Join(refs, ", ")+"]")
		}
		g.kw(2, "namespace", "NAMESPACE")
		if prof.ServiceAccount != "" {
			g.kw(2, "service_account_name", PyStr(prof.ServiceAccount))
		}
		cmds, _ := PyValue(prof.Command)
		g.kw(2, "cmds", cmds)
	} else {
		g.kw(2, "runner", "RUNNER")
		if prof.Workdir != "" {
			g.kw(2, "cwd", PyStr(prof.Workdir))
		}
	}
	g.line(2, "arguments=[")
	if t.command != nil {
		args := make([]string, len(t.command))
		for i, a := range t.command {
			args[i] = PyStr(a)
		}
		g.line(3, `%s, "--pipeline", PIPELINE, "--ir-hash", IR_HASH,`, strings.Join(args, ", "))
		if t.runArgs {
			g.line(3, `"--run-id", %s,`, PyStr(jinjaRunID))
			g.line(3, `"--logical-date", LOGICAL_DATE,`)
			g.line(3, `"--try", %s,`, PyStr(jinjaTry))
			g.line(3, `"--max-tries", %s,`, PyStr(jinjaMaxTries))
		}
	} else {
		g.line(3, `"run", "--pipeline", PIPELINE,`)
		for _, n := range t.nodes {
			g.line(3, `"--node", %s,`, PyStr(n))
		}
		g.line(3, `"--ir-hash", IR_HASH,`)
		g.line(3, `"--run-id", %s,`, PyStr(jinjaRunID))
		g.line(3, `"--logical-date", LOGICAL_DATE,`)
		g.line(3, `"--try", %s,`, PyStr(jinjaTry))
		g.line(3, `"--max-tries", %s,`, PyStr(jinjaMaxTries))
		for _, k := range slices.Sorted(maps.Keys(p.PipelineParams())) {
			g.line(3, `"--param", %s,`, PyStr(k+"="+jinjaParam(k, p.PipelineParams()[k])))
		}
	}
	g.line(2, "],")
	g.kw(2, "env_vars", "dict(ENV)")
	if k8s {
		var secrets []string
		for _, s := range append(append([]SecretRef(nil), prof.Secrets...), t.secrets...) {
			if s.Env == "" {
				secrets = append(secrets, fmt.Sprintf("Secret(%s, None, %s)", PyStr("env"), PyStr(s.Secret)))
			} else {
				secrets = append(secrets, fmt.Sprintf("Secret(%s, %s, %s, %s)", PyStr("env"), PyStr(s.Env), PyStr(s.Secret), PyStr(s.Key)))
			}
		}
		if len(secrets) > 0 {
			g.line(2, "secrets=[")
			for _, s := range secrets {
				g.line(3, "%s,", s)
			}
			g.line(2, "],")
		}
		quantities := func(cpu, mem string) string {
			m := map[string]string{}
			if cpu != "" {
				m["cpu"] = cpu
			}
			if mem != "" {
				m["memory"] = mem
			}
			v, _ := PyValue(m)
			return v
		}
		rv := quantities(t.resources.CPU, t.resources.Memory)
		lv := quantities(t.resources.CPULimit, t.resources.MemoryLimit)
		g.kw(2, "container_resources", fmt.Sprintf("k8s.V1ResourceRequirements(requests=%s, limits=%s)", rv, lv))
		labels := map[string]string{}
		for k, v := range prof.Labels {
			labels[k] = v
		}
		labels["pipeline"] = ir.LabelValue(p.ID)
		labels["node"] = ir.LabelValue(t.id)
		// The recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels).
		labels["app.kubernetes.io/name"] = "aiflow-runner"
		labels["app.kubernetes.io/instance"] = ir.LabelValue(p.ID)
		labels["app.kubernetes.io/component"] = ir.LabelValue(t.id)
		labels["app.kubernetes.io/part-of"] = ir.LabelValue(cmp.Or(p.Tenant("project"), p.ID))
		labels["app.kubernetes.io/managed-by"] = "aiflow"
		for _, k := range ir.TenancyKeys {
			if v := ir.LabelValue(p.Tenant(k)); v != "" {
				labels[k] = v
			} else {
				delete(labels, k)
			}
		}
		labv, _ := PyValue(labels)
		g.kw(2, "labels", labv)
		ann := map[string]string{}
		for k, v := range prof.Annotations {
			ann[k] = v
		}
		ann["aiflow.dev/ir-hash"] = g.hash
		ann["aiflow.dev/nodes"] = strings.Join(t.nodes, ",")
		av, _ := PyValue(ann)
		g.kw(2, "annotations", av)
		if len(prof.NodeSelector) > 0 {
			nv, _ := PyValue(prof.NodeSelector)
			g.kw(2, "node_selector", nv)
		}
		if len(prof.Tolerations) > 0 {
			g.line(2, "tolerations=[")
			for _, tol := range prof.Tolerations {
				g.line(3, "%s,", pyToleration(tol))
			}
			g.line(2, "],")
		}
		if prof.PodTemplateFile != "" {
			g.kw(2, "pod_template_file", PyStr(prof.PodTemplateFile))
		}
		g.kw(2, "do_xcom_push", "False")
		if prof.OnFinishAction != "" {
			g.kw(2, "on_finish_action", PyStr(prof.OnFinishAction))
		}
		if prof.GetLogs != nil {
			g.kw(2, "get_logs", pyBool(*prof.GetLogs))
		}
		if prof.TerminationMessagePolicy != "" {
			g.kw(2, "termination_message_policy", PyStr(prof.TerminationMessagePolicy))
		}
		if prof.Deferrable != nil {
			g.kw(2, "deferrable", pyBool(*prof.Deferrable))
		}
		if prof.StartupTimeout != "" {
			d, _ := time.ParseDuration(prof.StartupTimeout)
			g.kw(2, "startup_timeout_seconds", fmt.Sprint(int(d/time.Second)))
		}
	}
	if len(t.inlets) > 0 {
		g.kw(2, "inlets", pyAssets(t.inlets))
	}
	if len(t.outlets) > 0 {
		g.kw(2, "outlets", pyAssets(t.outlets))
	}
	g.line(1, ")")
	return nil
}

// params writes the pipeline's params as Airflow Params: the UI's trigger form and
// dag_run.conf can override them, and every task passes their values to the runner (--param).
func (g *gen) params() error {
	declared := g.p.PipelineParams()
	if len(declared) == 0 {
		return nil
	}
	g.line(1, "params={")
	for _, k := range slices.Sorted(maps.Keys(declared)) {
		v := declared[k]
		def, err := PyValue(v)
		if err != nil {
			return fmt.Errorf("param %s: %v", k, err)
		}
		typ := `"string"`
		switch x := v.(type) {
		case nil:
			typ = `["null", "string"]`
		case bool:
			typ = `"boolean"`
		case json.Number:
			typ = `"number"`
			if _, err := x.Int64(); err == nil {
				typ = `"integer"`
			}
		case float64:
			typ = `"number"`
		case int, int64:
			typ = `"integer"`
		}
		g.line(2, "%s: Param(%s, type=%s),", PyStr(k), def, typ)
	}
	g.line(1, "},")
	return nil
}

// jinjaParam renders a param for --param as the runner reads it: strings as they are, other
// values as JSON (the runner's form of a non-string default), null as empty.
func jinjaParam(name string, v any) string {
	ref := "params[" + jinjaStr(name) + "]"
	switch v.(type) {
	case string:
		return "{{ " + ref + " }}"
	case nil:
		return "{{ '' if " + ref + " is none else " + ref + " }}"
	}
	return "{{ " + ref + " | tojson }}"
}

// jinjaStr quotes s as a Jinja string literal.
func jinjaStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func pyAssets(uris []string) string {
	parts := make([]string, len(uris))
	for i, u := range uris {
		parts[i] = "Asset(uri=" + PyStr(u) + ")"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func pyToleration(t Toleration) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+PyStr(v))
		}
	}
	add("key", t.Key)
	add("operator", t.Operator)
	add("value", t.Value)
	add("effect", t.Effect)
	if t.TolerationSeconds != nil {
		parts = append(parts, fmt.Sprintf("toleration_seconds=%d", *t.TolerationSeconds))
	}
	return "k8s.V1Toleration(" + strings.Join(parts, ", ") + ")"
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// pyTimedelta writes d in the largest whole unit.
func pyTimedelta(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("timedelta(hours=%d)", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("timedelta(minutes=%d)", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("timedelta(seconds=%d)", d/time.Second)
	}
	return fmt.Sprintf("timedelta(microseconds=%d)", d/time.Microsecond)
}

// mdCell escapes text for a Markdown table cell.
var mdCell = strings.NewReplacer("|", `\|`, "\n", " ", "`", "'")

// docMD writes DOC_MD: the pipeline as the Airflow UI shows it.
func (g *gen) docMD() {
	p := g.p
	cell := func(s string) string {
		if s == "" {
			return "—"
		}
		return mdCell.Replace(s)
	}
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	add("### %s", cell(p.ID))
	add("")
	add("Generated by `aiflow-runner compile` from the pipeline's IR (ir_hash `%s`). Edit the pipeline spec, not this DAG.", g.hash)
	add("")
	add("| | |")
	add("|---|---|")
	add("| owner | %s |", cell(p.Owner))
	sched := "none (manual or API runs only)"
	if p.Schedule != nil {
		sched = "`" + cell(*p.Schedule) + "`"
	}
	add("| schedule | %s |", sched)
	for _, k := range ir.TenancyKeys {
		add("| %s | %s |", k, cell(p.Tenant(k)))
	}
	if p.SLAMinutes > 0 {
		add("| SLA | %d min (not enforced: a profile's dagrun_timeout stops late runs) |", p.SLAMinutes)
	}
	add("")
	add("| task | node | type | plugin | inputs |")
	add("|---|---|---|---|---|")
	for _, t := range g.tasks {
		for _, id := range t.nodes {
			n := p.Nodes[id]
			what := n.Plugin()
			add("| %s | %s | %s | %s | %s |", cell(t.id), cell(id), cell(n.Type), cell(what), cell(strings.Join(n.InputIDs, ", ")))
		}
	}
	g.line(0, "DOC_MD = (")
	for i, l := range lines {
		if i < len(lines)-1 {
			l += "\n"
		}
		g.line(1, "%s", PyStr(l))
	}
	g.line(0, ")")
}

// nodeTimeoutEnv bounds one node attempt in the runner (docs/deadlines.md).
const nodeTimeoutEnv = "AIFLOW_NODE_TIMEOUT"

// kpoStartupTimeout is the KubernetesPodOperator's default startup_timeout_seconds.
const kpoStartupTimeout = 120 * time.Second

// nodeTimeout is the AIFLOW_NODE_TIMEOUT the tasks get from the profile's execution_timeout
// (ok false when the profile sets none). Airflow's clock starts before the runner's: it includes
// starting the pod (up to startup_timeout) or the process, and fetching the logs after it. The
// runner stops that much earlier, so that it ends the attempt itself (exit 75 after recording
// it) instead of Airflow killing it: margin = the startup allowance plus 30 s, at most a quarter
// of the timeout.
func nodeTimeout(prof *Profile, k8s bool) (time.Duration, bool, error) {
	if prof.ExecutionTimeout == "" {
		return 0, false, nil
	}
	exec, err := time.ParseDuration(prof.ExecutionTimeout)
	if err != nil {
		return 0, false, fmt.Errorf("profile execution_timeout: %v", err)
	}
	margin := 30 * time.Second
	if k8s {
		startup := kpoStartupTimeout
		if prof.StartupTimeout != "" {
			if startup, err = time.ParseDuration(prof.StartupTimeout); err != nil {
				return 0, false, fmt.Errorf("profile startup_timeout: %v", err)
			}
		}
		margin += startup
	}
	margin = min(margin, exec/4)
	return exec - margin, true, nil
}
