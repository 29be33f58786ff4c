package compiler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Profiles is a deployment profiles file (deploy/profiles.example.yaml; compiler/README.md):
// per env, and optionally per team, where and how the pods of a pipeline run. Settings in
// Defaults apply to every profile unless the profile sets them; maps are merged key by key.
type Profiles struct {
	APIVersion string    `yaml:"api_version"`
	Defaults   Profile   `yaml:"defaults"`
	Profiles   []Profile `yaml:"profiles"`

	// File is where the profiles were read from (for messages); empty for the built-in profile.
	File string `yaml:"-"`
	// builtin marks the built-in development profile, which matches every pipeline.
	builtin bool
}

// Match selects the pipelines a profile applies to: extra.env, and extra.team when set. A
// profile naming the team wins over one that names only the env.
type Match struct {
	Env  string `yaml:"env"`
	Team string `yaml:"team"`
}

// Profile is one deployment profile.
type Profile struct {
	Match Match `yaml:"match"`

	// Image is the runner image, pinned by digest (repo@sha256:…); a tag is accepted only for env dev.
	Image string `yaml:"image"`
	// Images overrides Image per engine: a task whose nodes run on that engine runs in that
	// image. Key "python" also covers spark transforms with a PySpark entrypoint (their Python
	// runs in the pod). Same pinning rule as Image.
	Images           map[string]string `yaml:"images"`
	ImagePullPolicy  string            `yaml:"image_pull_policy"`
	ImagePullSecrets []string          `yaml:"image_pull_secrets"`
	// Command is the container command (default ["aiflow-runner"]).
	Command        []string `yaml:"command"`
	Namespace      string   `yaml:"namespace"`
	ServiceAccount string   `yaml:"service_account"`
	// EnvVars are plain environment variables of every task (no secret values: use Secrets).
	EnvVars map[string]string `yaml:"env_vars"`
	// Secrets are Kubernetes Secret references: one key into one variable, or a whole Secret.
	Secrets         []SecretRef       `yaml:"secrets"`
	NodeSelector    map[string]string `yaml:"node_selector"`
	Tolerations     []Toleration      `yaml:"tolerations"`
	PodTemplateFile string            `yaml:"pod_template_file"`
	// Resources are the pod resources of a node that names none; SparkResources those of a
	// spark node (its work runs on the Spark cluster, the pod only drives it).
	Resources      Resources         `yaml:"resources"`
	SparkResources Resources         `yaml:"spark_resources"`
	Labels         map[string]string `yaml:"labels"`
	Annotations    map[string]string `yaml:"annotations"`

	// KubernetesPodOperator options (target kubernetes).
	// OnFinishAction: delete_pod (the operator's default), delete_succeeded_pod or keep_pod.
	OnFinishAction string `yaml:"on_finish_action"`
	// GetLogs streams the pod's output into the task log (the operator's default: true).
	GetLogs *bool `yaml:"get_logs"`
	// TerminationMessagePolicy of the runner container: File (default; the runner writes its
	// one-line reason to /dev/termination-log) or FallbackToLogsOnError.
	TerminationMessagePolicy string `yaml:"termination_message_policy"`
	// Deferrable frees the worker slot while the pod runs (needs a running triggerer).
	Deferrable *bool `yaml:"deferrable"`
	// StartupTimeout is how long a pod may stay Pending (image pull, scheduling); Go duration.
	StartupTimeout string `yaml:"startup_timeout"`

	// DAG settings.
	StartDate        string `yaml:"start_date"`        // YYYY-MM-DD, UTC (default 2024-01-01)
	Catchup          *bool  `yaml:"catchup"`           // default false
	Retries          *int   `yaml:"retries"`           // default 2
	RetryDelay       string `yaml:"retry_delay"`       // Go duration, default 5m
	ExecutionTimeout string `yaml:"execution_timeout"` // Go duration; none when unset
	DagrunTimeout    string `yaml:"dagrun_timeout"`    // Go duration; none when unset
	MaxActiveRuns    *int   `yaml:"max_active_runs"`   // Airflow's default when unset

	// Workdir is the working directory of the runner on the worker (target local only).
	Workdir string `yaml:"workdir"`
}

// SecretRef puts a Kubernetes Secret into the pod's environment: key Key of Secret Name as
// variable Env, or, without Env and Key, every key of the Secret.
type SecretRef struct {
	Env    string `yaml:"env"`
	Secret string `yaml:"secret"`
	Key    string `yaml:"key"`
}

// Toleration is a Kubernetes pod toleration.
type Toleration struct {
	Key               string `yaml:"key"`
	Operator          string `yaml:"operator"`
	Value             string `yaml:"value"`
	Effect            string `yaml:"effect"`
	TolerationSeconds *int64 `yaml:"toleration_seconds"`
}

// Resources are pod resources: CPU and memory requests, and their limits. Without a memory
// limit the request is the limit; without a CPU limit there is none.
type Resources struct {
	CPU         string `yaml:"cpu"`
	Memory      string `yaml:"memory"`
	CPULimit    string `yaml:"cpu_limit"`
	MemoryLimit string `yaml:"memory_limit"`
}

// DefaultProfiles is the built-in development profile used without a profiles file: image
// aiflow-runner:dev in namespace default, for every pipeline whatever its env.
func DefaultProfiles() *Profiles {
	return &Profiles{APIVersion: ir.APIVersion, builtin: true,
		Profiles: []Profile{{Match: Match{Env: "dev"}, Image: "aiflow-runner:dev", Namespace: "default"}}}
}

// LoadProfiles reads a profiles file.
func LoadProfiles(path string) (*Profiles, error) {
	data, err := ir.ReadRegularFile(path, ir.MaxSpecSize)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "read profiles")
	}
	return ParseProfiles(path, data)
}

// ParseProfiles decodes a profiles document strictly (an unknown or misspelt key is an error) and
// checks it.
func ParseProfiles(name string, data []byte) (*Profiles, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var ps Profiles
	if err := dec.Decode(&ps); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fault.Configf("%s: empty profiles file", name)
		}
		return nil, fault.Configf("%s: %v", name, err)
	}
	ps.File = name
	if err := ps.check(); err != nil {
		return nil, err
	}
	return &ps, nil
}

var (
	digestRE    = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	k8sNameRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	engineKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	labelKeyRE  = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
)

func (ps *Profiles) check() error {
	var errs []string
	add := func(where, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s: %s: %s", ps.File, where, fmt.Sprintf(format, args...)))
	}
	if ps.APIVersion != ir.APIVersion {
		add("api_version", "%q is not supported (want %q)", ps.APIVersion, ir.APIVersion)
	}
	if ps.Defaults.Match != (Match{}) {
		add("defaults", "defaults cannot have a match")
	}
	if len(ps.Profiles) == 0 {
		add("profiles", "no profiles")
	}
	seen := map[Match]bool{}
	for i := range ps.Profiles {
		p := ps.Profiles[i]
		where := fmt.Sprintf("profiles[%d]", i)
		if p.Match.Env == "" {
			add(where, "match.env is required")
		} else {
			where = fmt.Sprintf("profiles[%d] (env %s", i, p.Match.Env)
			if p.Match.Team != "" {
				where += ", team " + p.Match.Team
			}
			where += ")"
		}
		if seen[p.Match] {
			add(where, "a second profile with the same match")
		}
		seen[p.Match] = true
		env, team := &ps.Profiles[i], (*Profile)(nil)
		if p.Match.Team != "" {
			env, team = ps.find(Match{Env: p.Match.Env}), &ps.Profiles[i]
			if env == nil {
				add(where, "a team profile needs a profile for its env alone (match: {env: %s})", p.Match.Env)
				continue
			}
		}
		m := ps.layered(env, team)
		for _, e := range m.check() {
			add(where, "%s", e)
		}
	}
	if len(errs) > 0 {
		return fault.Configf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// check returns the problems of a merged profile that do not depend on the target.
func (p *Profile) check() []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if p.Image != "" && !digestRE.MatchString(p.Image) && p.Match.Env != "dev" {
		add("image %q is not pinned by digest (repo@sha256:…); only env dev may use a tag", p.Image)
	}
	for _, e := range slices.Sorted(maps.Keys(p.Images)) {
		img := p.Images[e]
		switch {
		case !engineKeyRE.MatchString(e):
			add("images: %q is not an engine name", e)
		case img == "":
			add("images: %s: empty image", e)
		case !digestRE.MatchString(img) && p.Match.Env != "dev":
			add("images: %s: image %q is not pinned by digest (repo@sha256:…); only env dev may use a tag", e, img)
		}
	}
	switch p.OnFinishAction {
	case "", "delete_pod", "delete_succeeded_pod", "keep_pod":
	default:
		add("on_finish_action %q is not delete_pod, delete_succeeded_pod or keep_pod", p.OnFinishAction)
	}
	switch p.TerminationMessagePolicy {
	case "", "File", "FallbackToLogsOnError":
	default:
		add("termination_message_policy %q is not File or FallbackToLogsOnError", p.TerminationMessagePolicy)
	}
	if p.StartupTimeout != "" {
		if v, err := time.ParseDuration(p.StartupTimeout); err != nil || v < time.Second {
			add("startup_timeout %q: want a duration of at least 1s such as 2m", p.StartupTimeout)
		}
	}
	if p.Namespace != "" && !k8sNameRE.MatchString(p.Namespace) {
		add("namespace %q is not a Kubernetes name", p.Namespace)
	}
	if p.ServiceAccount != "" && !k8sNameRE.MatchString(p.ServiceAccount) {
		add("service_account %q is not a Kubernetes name", p.ServiceAccount)
	}
	switch p.ImagePullPolicy {
	case "", "Always", "IfNotPresent", "Never":
	default:
		add("image_pull_policy %q is not Always, IfNotPresent or Never", p.ImagePullPolicy)
	}
	for _, k := range slices.Sorted(maps.Keys(p.EnvVars)) {
		if !envNameRE.MatchString(k) {
			add("env_vars: %q is not an environment variable name", k)
		}
		if k == "AIFLOW_IR_B64" || strings.HasPrefix(k, "OPENLINEAGE_") {
			add("env_vars: %s is set by the compiler", k)
		}
		if ir.IsSecretRef(p.EnvVars[k]) {
			add("env_vars: %s is a secret reference: list it under secrets", k)
		}
	}
	for i, s := range p.Secrets {
		switch {
		case !k8sNameRE.MatchString(s.Secret):
			add("secrets[%d]: secret %q is not a Kubernetes Secret name", i, s.Secret)
		case (s.Env == "") != (s.Key == ""):
			add("secrets[%d]: give env and key together (one key as one variable), or neither (the whole Secret)", i)
		case s.Env != "" && !envNameRE.MatchString(s.Env):
			add("secrets[%d]: %q is not an environment variable name", i, s.Env)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.NodeSelector)) {
		if !labelKeyRE.MatchString(k) {
			add("node_selector: %q is not a label key", k)
		}
	}
	for i, t := range p.Tolerations {
		switch t.Operator {
		case "", "Equal", "Exists":
		default:
			add("tolerations[%d]: operator %q is not Equal or Exists", i, t.Operator)
		}
		switch t.Effect {
		case "", "NoSchedule", "PreferNoSchedule", "NoExecute":
		default:
			add("tolerations[%d]: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", i, t.Effect)
		}
	}
	for _, r := range []struct {
		name string
		r    Resources
	}{{"resources", p.Resources}, {"spark_resources", p.SparkResources}} {
		pr := plugin.PodResources{CPU: r.r.CPU, Memory: r.r.Memory, CPULimit: r.r.CPULimit, MemoryLimit: r.r.MemoryLimit}
		if err := pr.Validate(); err != nil {
			add("%s: %v", r.name, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Labels)) {
		if !labelKeyRE.MatchString(k) {
			add("labels: %q is not a label key", k)
		}
		if v := p.Labels[k]; ir.LabelValue(v) != v {
			add("labels: %s: %q is not a label value", k, v)
		}
	}
	if p.StartDate != "" {
		if _, err := time.Parse("2006-01-02", p.StartDate); err != nil {
			add("start_date %q: want YYYY-MM-DD", p.StartDate)
		}
	}
	for name, d := range map[string]string{"retry_delay": p.RetryDelay, "execution_timeout": p.ExecutionTimeout, "dagrun_timeout": p.DagrunTimeout} {
		if d == "" {
			continue
		}
		if v, err := time.ParseDuration(d); err != nil || v <= 0 {
			add("%s %q: want a positive duration such as 5m or 2h", name, d)
		}
	}
	if p.Retries != nil && *p.Retries < 0 {
		add("retries must not be negative")
	}
	if p.MaxActiveRuns != nil && *p.MaxActiveRuns < 1 {
		add("max_active_runs must be at least 1")
	}
	sort.Strings(errs)
	return errs
}

// For returns the profile of a pipeline: the built-in defaults, overlaid with the file's
// defaults, the profile matching its env, then the profile matching its env and team, if any.
// No profile for its env is an error.
func (ps *Profiles) For(p *ir.Pipeline) (*Profile, error) {
	if ps.builtin {
		m := merge(builtinDefaults, ps.Profiles[0])
		return &m, nil
	}
	env, team := p.Tenant("env"), p.Tenant("team")
	base := ps.find(Match{Env: env})
	if base == nil {
		var have []string
		for _, q := range ps.Profiles {
			h := "env " + q.Match.Env
			if q.Match.Team != "" {
				h += " team " + q.Match.Team
			}
			have = append(have, h)
		}
		who := fmt.Sprintf("env %q", env)
		if team != "" {
			who += fmt.Sprintf(", team %q", team)
		}
		return nil, fault.Configf("pipeline %s: no deployment profile for %s in %s (have: %s)", p.ID, who, ps.File, strings.Join(have, "; "))
	}
	var over *Profile
	if team != "" {
		over = ps.find(Match{Env: env, Team: team})
	}
	m := ps.layered(base, over)
	return &m, nil
}

func (ps *Profiles) find(m Match) *Profile {
	if m.Env == "" {
		return nil
	}
	for i := range ps.Profiles {
		if ps.Profiles[i].Match == m {
			return &ps.Profiles[i]
		}
	}
	return nil
}

// layered merges builtin defaults < file defaults < env profile < team profile (team may be nil).
func (ps *Profiles) layered(env, team *Profile) Profile {
	m := merge(ps.Defaults, *env)
	if team != nil {
		m = merge(m, *team)
	}
	return merge(builtinDefaults, m)
}

// builtinDefaults fill what neither a profile nor the file's defaults set.
var builtinDefaults = Profile{
	Command:        []string{"aiflow-runner"},
	Namespace:      "default",
	Resources:      Resources{CPU: "500m", Memory: "1Gi"},
	SparkResources: Resources{CPU: "250m", Memory: "512Mi"},
	StartDate:      "2024-01-01",
	Catchup:        new(false),
	Retries:        new(2),
	RetryDelay:     "5m",
}

// merge returns over laid on base: scalars and lists of over win when set, maps merge by key.
func merge(base, over Profile) Profile {
	out := over
	str := func(dst *string, b string) {
		if *dst == "" {
			*dst = b
		}
	}
	str(&out.Image, base.Image)
	str(&out.ImagePullPolicy, base.ImagePullPolicy)
	str(&out.Namespace, base.Namespace)
	str(&out.ServiceAccount, base.ServiceAccount)
	str(&out.PodTemplateFile, base.PodTemplateFile)
	str(&out.Resources.CPU, base.Resources.CPU)
	str(&out.Resources.Memory, base.Resources.Memory)
	str(&out.SparkResources.CPU, base.SparkResources.CPU)
	str(&out.SparkResources.Memory, base.SparkResources.Memory)
	str(&out.Resources.CPULimit, base.Resources.CPULimit)
	str(&out.Resources.MemoryLimit, base.Resources.MemoryLimit)
	str(&out.SparkResources.CPULimit, base.SparkResources.CPULimit)
	str(&out.SparkResources.MemoryLimit, base.SparkResources.MemoryLimit)
	str(&out.StartDate, base.StartDate)
	str(&out.RetryDelay, base.RetryDelay)
	str(&out.ExecutionTimeout, base.ExecutionTimeout)
	str(&out.DagrunTimeout, base.DagrunTimeout)
	str(&out.Workdir, base.Workdir)
	str(&out.OnFinishAction, base.OnFinishAction)
	str(&out.TerminationMessagePolicy, base.TerminationMessagePolicy)
	str(&out.StartupTimeout, base.StartupTimeout)
	if out.GetLogs == nil {
		out.GetLogs = base.GetLogs
	}
	if out.Deferrable == nil {
		out.Deferrable = base.Deferrable
	}
	if out.ImagePullSecrets == nil {
		out.ImagePullSecrets = base.ImagePullSecrets
	}
	if out.Command == nil {
		out.Command = base.Command
	}
	if out.Secrets == nil {
		out.Secrets = base.Secrets
	}
	if out.Tolerations == nil {
		out.Tolerations = base.Tolerations
	}
	if out.Catchup == nil {
		out.Catchup = base.Catchup
	}
	if out.Retries == nil {
		out.Retries = base.Retries
	}
	if out.MaxActiveRuns == nil {
		out.MaxActiveRuns = base.MaxActiveRuns
	}
	out.EnvVars = mergeMap(base.EnvVars, over.EnvVars)
	out.Images = mergeMap(base.Images, over.Images)
	out.NodeSelector = mergeMap(base.NodeSelector, over.NodeSelector)
	out.Labels = mergeMap(base.Labels, over.Labels)
	out.Annotations = mergeMap(base.Annotations, over.Annotations)
	return out
}

func mergeMap(base, over map[string]string) map[string]string {
	if len(base) == 0 {
		return over
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}
