package plugin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/ir"
)

// Secret is a reference to a secret value, never the value: `${ENV_VAR}` or
// {"secret": "name/key"} (a Kubernetes Secret key). Resolve reads it at run time.
type Secret struct {
	Env string // environment variable name
	Ref string // name/key of a Kubernetes Secret
}

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

func (s *Secret) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) == nil {
		m := envRef.FindStringSubmatch(str)
		if m == nil {
			return fmt.Errorf("a secret must be a reference (${ENV_VAR} or {secret: name/key}), not a literal value")
		}
		s.Env = m[1]
		return nil
	}
	var obj struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &obj); err != nil || obj.Secret == "" || !strings.Contains(obj.Secret, "/") {
		return fmt.Errorf("a secret must be ${ENV_VAR} or {secret: name/key}")
	}
	s.Ref = obj.Secret
	return nil
}

func (s Secret) MarshalJSON() ([]byte, error) {
	if s.Ref != "" {
		return json.Marshal(map[string]string{"secret": s.Ref})
	}
	if s.Env != "" {
		return json.Marshal("${" + s.Env + "}")
	}
	return []byte("null"), nil
}

// String is the reference, never the value.
func (s Secret) String() string {
	switch {
	case s.Ref != "":
		return "{secret: " + s.Ref + "}"
	case s.Env != "":
		return "${" + s.Env + "}"
	}
	return "unset secret"
}

// IsZero reports whether no reference is set.
func (s Secret) IsZero() bool { return s.Env == "" && s.Ref == "" }

// Resolve returns the secret's value. The value must never be logged or stored: a runtime calls
// Env.ResolveSecret, which also registers it with the redactor. A reference name/key is read
// from the environment variable AIFLOW_SECRET_<NAME>_<KEY>, else from secretsDir/name/key (where
// Kubernetes Secret volumes are mounted: AIFLOW_SECRETS_DIR, config.Config.SecretsDir).
//
// Both variables are read from the process environment, not through internal/config: their
// names are user data (the pipeline names them), and the pod's Secret env refs fill them.
func (s Secret) Resolve(secretsDir string) (string, error) {
	switch {
	case s.Env != "":
		// A variable the pipeline names (user data, filled by the pod's Secret env refs): not configuration.
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("secret ${%s}: environment variable not set", s.Env)
		}
		return v, nil
	case s.Ref != "":
		name, key, _ := strings.Cut(s.Ref, "/")
		envName := "AIFLOW_SECRET_" + strings.ToUpper(regexp.MustCompile(`[^A-Za-z0-9]`).ReplaceAllString(name+"_"+key, "_"))
		// Filled by the pod's Secret env refs, named after the reference: not configuration.
		if v, ok := os.LookupEnv(envName); ok {
			return v, nil
		}
		b, err := ir.ReadRegularFile(filepath.Join(secretsDir, filepath.Base(name), filepath.Base(key)), 1<<20)
		if err != nil {
			return "", fmt.Errorf("secret %s: not in $%s nor mounted under %s", s.Ref, envName, secretsDir)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", fmt.Errorf("secret not set")
}

// Duration is a time.Duration written as "90s", "15m", "2h".
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"90s\" or \"2h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 2h)", s)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d Duration) String() string {
	// time.Duration writes 1h0m0s; drop the zero minutes and seconds but keep 1m30s and 30s.
	s := d.Duration.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// PodResources are what the pod of a node asks Kubernetes for.
// CPU and Memory are requests; the memory limit defaults to the request (a pod over it is killed
// rather than starving its node), and there is no CPU limit unless set (a limit throttles a pod
// even when the node has idle cores).
type PodResources struct {
	CPU         string `json:"cpu" doc:"pod CPU request, a Kubernetes quantity (\"500m\", \"2\")"`
	Memory      string `json:"memory" doc:"pod memory request, a Kubernetes quantity (\"512Mi\", \"4Gi\") or Spark style (\"4g\")"`
	CPULimit    string `json:"cpu_limit" doc:"pod CPU limit (none when unset: no throttling)"`
	MemoryLimit string `json:"memory_limit" doc:"pod memory limit (the memory request when unset)"`
}

var (
	cpuRE = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?|[0-9]+m)$`)
	memRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?([KMGTP]i?|[kmgtp]|[KMGTP]B?)?$`)
)

func (r *PodResources) Validate() error {
	if r.CPU != "" && !cpuRE.MatchString(r.CPU) {
		return Errorf("cpu", "%q is not a CPU quantity (\"500m\", \"2\")", r.CPU)
	}
	if r.Memory != "" && !memRE.MatchString(r.Memory) {
		return Errorf("memory", "%q is not a memory quantity (\"512Mi\", \"4Gi\", \"4g\")", r.Memory)
	}
	if r.CPULimit != "" && !cpuRE.MatchString(r.CPULimit) {
		return Errorf("cpu_limit", "%q is not a CPU quantity (\"500m\", \"2\")", r.CPULimit)
	}
	if r.MemoryLimit != "" && !memRE.MatchString(r.MemoryLimit) {
		return Errorf("memory_limit", "%q is not a memory quantity (\"512Mi\", \"4Gi\", \"4g\")", r.MemoryLimit)
	}
	if r.CPU != "" && r.CPULimit != "" {
		if req, _ := MilliCPU(r.CPU); req > 0 {
			if lim, _ := MilliCPU(r.CPULimit); lim < req {
				return Errorf("cpu_limit", "%s is below the request %s", r.CPULimit, r.CPU)
			}
		}
	}
	if r.Memory != "" && r.MemoryLimit != "" {
		if req, _ := MemoryBytes(r.Memory); req > 0 {
			if lim, _ := MemoryBytes(r.MemoryLimit); lim < req {
				return Errorf("memory_limit", "%s is below the request %s", r.MemoryLimit, r.Memory)
			}
		}
	}
	return nil
}

// MemoryBytes parses a memory quantity ("4g", "512Mi", "1G", "1024") into bytes.
func MemoryBytes(q string) (int64, error) {
	if !memRE.MatchString(q) {
		return 0, fmt.Errorf("%q is not a memory quantity", q)
	}
	i := strings.IndexFunc(q, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := q, ""
	if i >= 0 {
		num, unit = q[:i], q[i:]
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	return int64(f * memUnits[unit]), nil
}

// memUnits are MemoryBytes' units (built once: a compile of 10,000 pipelines calls it for every
// node, and a map literal in the function allocated 430 MB).
var memUnits = map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50,
	"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15}

// MilliCPU parses a CPU quantity into millicores.
func MilliCPU(q string) (int64, error) {
	if !cpuRE.MatchString(q) {
		return 0, fmt.Errorf("%q is not a CPU quantity", q)
	}
	if m, ok := strings.CutSuffix(q, "m"); ok {
		return strconv.ParseInt(m, 10, 64)
	}
	f, err := strconv.ParseFloat(q, 64)
	return int64(f * 1000), err
}
