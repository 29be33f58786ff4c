// Package config reads the runner's runtime configuration from the environment
// with github.com/sethvargo/go-envconfig. Every setting has an embedded default
// so that a fresh checkout runs with no services.
package config

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/pathguard"
	"github.com/aiflow-dev/aiflow/ir"
)

// Config is the runtime configuration.
type Config struct {
	// Home holds the local metadata database, staging and the onelake table root by default.
	Home string `env:"AIFLOW_HOME, default=./.aiflow"`
	// MetadataDSN selects the metadata store: sqlite://PATH (default under Home) or postgres://….
	MetadataDSN string `env:"AIFLOW_METADATA_DSN"`
	// MetadataDSNSet says AIFLOW_METADATA_DSN was given (not the default under Home): compile
	// then records pipeline versions there.
	MetadataDSNSet bool
	// StagingURI is where node outputs are staged and committed: file://… or s3://bucket/prefix.
	StagingURI string `env:"AIFLOW_STAGING_URI"`
	// LakeRoot is where onelake tables live for the arrow engine (raw.sales_orders → LakeRoot/raw/sales_orders/).
	LakeRoot string `env:"AIFLOW_LAKE_ROOT"`
	// SparkRemote is the Spark Connect remote (sc://host:15002); spark nodes fail clearly when unset.
	SparkRemote string `env:"AIFLOW_SPARK_REMOTE"`
	// SparkClusters maps resources.cluster names to remotes: "emr-a=sc://h1:15002,emr-b=sc://h2:15002"
	// (name=remote: go-envconfig separates map keys with ":" unless told otherwise).
	SparkClusters map[string]string `env:"AIFLOW_SPARK_CLUSTERS, separator=="`
	// FlinkGateway is the Flink SQL Gateway's REST endpoint (http://host:8083); flink nodes fail
	// clearly when unset.
	FlinkGateway string `env:"AIFLOW_FLINK_GATEWAY"`
	// FlinkREST is the JobManager's REST endpoint (http://host:8081): where `stream deploy`
	// finds the retained checkpoint of a streaming job that failed for good.
	FlinkREST string `env:"AIFLOW_FLINK_REST"`
	// SparkToken is a bearer token added to the remote (as ;token=…) when the remote carries none;
	// Spark Connect uses TLS whenever a token is set.
	SparkToken string `env:"AIFLOW_SPARK_TOKEN"`
	// SparkConnectTimeout bounds how long a node waits for the Spark Connect server to answer
	// before it gives up with exit 75.
	SparkConnectTimeout time.Duration `env:"AIFLOW_SPARK_CONNECT_TIMEOUT, default=30s"`
	// S3Endpoint points the S3 client at any S3-compatible server (path-style addressing).
	S3Endpoint string `env:"AIFLOW_S3_ENDPOINT"`
	// S3Region is the AWS SDK's standard variable (us-east-1 when unset); credentials come from
	// the SDK's own chain (AWS_ACCESS_KEY_ID…, shared config, web identity, IMDS).
	S3Region string `env:"AWS_REGION"`
	// AllowedRoots confines every local path the runner opens to these folders (colon-separated,
	// internal/pathguard); none when empty.
	AllowedRoots string `env:"AIFLOW_ALLOWED_ROOTS"`
	// KafkaBrokers is the default bootstrap list for Kafka sources and sinks.
	KafkaBrokers []string `env:"AIFLOW_KAFKA_BROKERS"`
	// PushgatewayURL: push the node's metrics there at exit.
	PushgatewayURL string `env:"AIFLOW_PUSHGATEWAY_URL"`
	// MetricsAddr: serve /metrics there while the node runs.
	MetricsAddr string `env:"AIFLOW_METRICS_ADDR"`
	// OpenLineageURL: POST OpenLineage run events there (Marquez-compatible); file://… writes NDJSON.
	// Without it, the OpenLineage clients' standard variables: OPENLINEAGE_URL (the server) joined
	// with OPENLINEAGE_ENDPOINT (default api/v1/lineage). OPENLINEAGE_DISABLED=true sends nothing.
	OpenLineageURL      string `env:"AIFLOW_OPENLINEAGE_URL"`
	OpenLineageStdURL   string `env:"OPENLINEAGE_URL"`
	OpenLineageEndpoint string `env:"OPENLINEAGE_ENDPOINT"`
	OpenLineageDisabled bool   `env:"OPENLINEAGE_DISABLED"`
	// OpenLineageAPIKey is sent as "Authorization: Bearer KEY", as the OpenLineage clients do.
	OpenLineageAPIKey string `env:"OPENLINEAGE_API_KEY"`
	// OpenLineageNamespace, ParentID and RootParentID are what the compiled DAG gives the pod:
	// the namespace of the runner's jobs and the Airflow task run that started it.
	OpenLineageNamespace    string `env:"OPENLINEAGE_NAMESPACE"`
	OpenLineageParentID     string `env:"OPENLINEAGE_PARENT_ID"`
	OpenLineageRootParentID string `env:"OPENLINEAGE_ROOT_PARENT_ID"`
	// ProgressInterval is how often a running node logs a "progress" record when stderr is not a
	// terminal (pods, CI); 0 turns the records off.
	ProgressInterval time.Duration `env:"AIFLOW_PROGRESS_INTERVAL, default=10s"`
	// LogFormat is json (default) or text.
	LogFormat string `env:"AIFLOW_LOG_FORMAT, default=json"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"AIFLOW_LOG_LEVEL, default=info"`
	// Envs are the environments a pipeline may name.
	Envs []string `env:"AIFLOW_ENVS, default=dev,staging,prod"`
	// Python is the interpreter of the python engine.
	Python string `env:"AIFLOW_PYTHON, default=python3"`
	// PythonPath lists folders (colon-separated) put first on the sys.path of every Python
	// subprocess: where a team's etl_jobs/ and plugin modules live.
	PythonPath []string `env:"AIFLOW_PYTHONPATH, delimiter=:"`
	// PluginModules are Python modules (importable from AIFLOW_PYTHONPATH) whose
	// register_source / register_spark_source_reader calls add source kinds to this runner.
	PluginModules []string `env:"AIFLOW_PLUGIN_MODULES"`
	// TerminationLog is where the one-line reason of the exit goes (Kubernetes termination message).
	TerminationLog string `env:"AIFLOW_TERMINATION_LOG"`
	// TerminationLogSet says AIFLOW_TERMINATION_LOG was given: the runner then writes there even
	// where no such file exists yet (the default, /dev/termination-log, only where it exists).
	TerminationLogSet bool
	// NodeTimeout bounds one node attempt, bookkeeping included: the attempt stops its work early
	// enough to record its end and exit 75 before it (docs/deadlines.md). Set it to the task's
	// Airflow execution_timeout (default 2h, the profiles' default).
	NodeTimeout time.Duration `env:"AIFLOW_NODE_TIMEOUT, default=2h"`
	// PolicyFile is the tenant policy enforced at compile and run time (none when empty).
	PolicyFile string `env:"AIFLOW_POLICY_FILE"`
	// Team pins the team this runner may act for: a pipeline naming another team is refused, and
	// metadata queries (runs list, usage, the web UI) see only its pipelines.
	Team string `env:"AIFLOW_TEAM"`
	// SecretsDir is where Kubernetes Secret volumes are mounted: a secret reference name/key is
	// read from SecretsDir/name/key when AIFLOW_SECRET_<NAME>_<KEY> is not set.
	SecretsDir string `env:"AIFLOW_SECRETS_DIR, default=/var/run/secrets/aiflow"`
	// PodName is recorded on every attempt: AIFLOW_POD_NAME (the compiled DAG sets it from the
	// downward API), else HOSTNAME (a pod's name).
	PodName  string `env:"AIFLOW_POD_NAME"`
	Hostname string `env:"HOSTNAME"`
}

// Load reads the configuration from the process environment.
func Load(ctx context.Context) (*Config, error) {
	return LoadFrom(ctx, envconfig.OsLookuper())
}

// LoadFrom reads the configuration from a lookuper (tests pass a map).
func LoadFrom(ctx context.Context, l envconfig.Lookuper) (*Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return nil, fault.Wrap(fault.Config, errors.New(variableNamed(err.Error())), "read configuration from the environment")
	}
	c.fill()
	if c.NodeTimeout < 0 {
		return nil, fault.Configf("AIFLOW_NODE_TIMEOUT=%s: want a positive duration", c.NodeTimeout)
	}
	if c.SparkConnectTimeout <= 0 {
		return nil, fault.Configf("AIFLOW_SPARK_CONNECT_TIMEOUT=%s: want a positive duration such as 30s", c.SparkConnectTimeout)
	}
	// Canonical URIs where they enter (file://localhost/, `//`, `..` folded), so that staging
	// and lake paths compare equal however they were spelt.
	for _, u := range []*string{&c.StagingURI, &c.LakeRoot} {
		clean, err := objstore.Clean(*u)
		if err != nil {
			return nil, err
		}
		*u = clean
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		return nil, fault.Configf("AIFLOW_LOG_FORMAT=%q: want json or text", c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return nil, fault.Configf("AIFLOW_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel)
	}
	return &c, nil
}

// StoreOptions are the object store options this configuration gives: the S3 endpoint and region
// (credentials come from the AWS SDK's own chain), and the guard of AIFLOW_ALLOWED_ROOTS widened
// by the runner's own local areas (staging, the lake root), which the operator configured as it
// configured the roots; no guard when no roots are set.
func (c *Config) StoreOptions() (objstore.Options, error) {
	opts := objstore.Options{S3Endpoint: c.S3Endpoint, Region: c.S3Region}
	g, err := pathguard.Parse(c.AllowedRoots)
	if g == nil || err != nil {
		return opts, err
	}
	var own []string
	for _, u := range []string{c.StagingURI, c.LakeRoot} {
		if p, ok := strings.CutPrefix(u, "file://"); ok {
			own = append(own, p)
		}
	}
	opts.Guard, err = g.With(own...)
	return opts, err
}

// variableNamed puts the variable's name where go-envconfig's message names the struct field
// ("SparkConnectTimeout: time: invalid duration" becomes "AIFLOW_SPARK_CONNECT_TIMEOUT: …"):
// the name the operator set.
func variableNamed(msg string) string {
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		if rest, ok := strings.CutPrefix(msg, f.Name+": "); ok {
			name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			return name + ": " + rest
		}
	}
	return msg
}

// fill derives the defaults that depend on Home.
func (c *Config) fill() {
	home := c.Home
	if abs, err := filepath.Abs(home); err == nil {
		home = abs
	}
	c.MetadataDSNSet = c.MetadataDSN != ""
	c.TerminationLogSet = c.TerminationLog != ""
	if !c.TerminationLogSet {
		c.TerminationLog = "/dev/termination-log"
	}
	if c.MetadataDSN == "" {
		c.MetadataDSN = "sqlite://" + filepath.Join(home, "metadata.db")
	}
	if c.StagingURI == "" {
		c.StagingURI = "file://" + filepath.Join(home, "staging")
	}
	if c.LakeRoot == "" {
		c.LakeRoot = "file://" + filepath.Join(home, "lake")
	}
	if len(c.Envs) == 0 {
		c.Envs = ir.DefaultEnvs
	}
	if c.OpenLineageURL == "" && c.OpenLineageStdURL != "" {
		ep := strings.Trim(c.OpenLineageEndpoint, "/")
		if ep == "" {
			ep = "api/v1/lineage"
		}
		c.OpenLineageURL = strings.TrimRight(c.OpenLineageStdURL, "/") + "/" + ep
	}
	if c.PodName == "" {
		c.PodName = c.Hostname
	}
	for _, v := range []*string{&c.OpenLineageNamespace, &c.OpenLineageParentID, &c.OpenLineageRootParentID} {
		*v = strings.TrimSpace(*v)
	}
	if c.OpenLineageDisabled {
		c.OpenLineageURL = ""
	}
}

// Doc lists the variables for --help.
var Doc = [][2]string{
	{"AIFLOW_HOME", "local state: metadata.db, staging/, lake/ (default ./.aiflow)"},
	{"AIFLOW_METADATA_DSN", "metadata store: sqlite://PATH (default $AIFLOW_HOME/metadata.db) or postgres://…"},
	{"AIFLOW_STAGING_URI", "node outputs: file://… (default $AIFLOW_HOME/staging) or s3://bucket/prefix"},
	{"AIFLOW_LAKE_ROOT", "onelake table root for the arrow engine (default $AIFLOW_HOME/lake)"},
	{"AIFLOW_SPARK_REMOTE", "Spark Connect remote sc://host:15002 (unset: spark nodes fail clearly)"},
	{"AIFLOW_SPARK_CLUSTERS", "resources.cluster to remote: name=sc://…,name2=sc://…"},
	{"AIFLOW_SPARK_TOKEN", "Spark Connect bearer token (turns on TLS)"},
	{"AIFLOW_SPARK_CONNECT_TIMEOUT", "how long to try reaching Spark Connect before exit 75 (default 30s)"},
	{"AIFLOW_FLINK_GATEWAY", "Flink SQL Gateway REST endpoint http://host:8083 (unset: flink nodes fail clearly)"},
	{"AIFLOW_FLINK_REST", "Flink JobManager REST endpoint http://host:8081 (unset: a failed streaming job restarts only with stream deploy --restart)"},
	{"AIFLOW_S3_ENDPOINT", "any S3-compatible endpoint (AWS_* variables for credentials and region)"},
	{"AWS_REGION", "the S3 region (default us-east-1)"},
	{"AIFLOW_KAFKA_BROKERS", "default Kafka bootstrap brokers host:port,…"},
	{"AIFLOW_PUSHGATEWAY_URL", "push node metrics there at exit"},
	{"AIFLOW_METRICS_ADDR", "serve /metrics there while running"},
	{"AIFLOW_OPENLINEAGE_URL", "OpenLineage endpoint (http://…) or file://… for NDJSON events"},
	{"OPENLINEAGE_URL", "OpenLineage server, the clients' standard variable (used when AIFLOW_OPENLINEAGE_URL is unset)"},
	{"OPENLINEAGE_ENDPOINT", "path under OPENLINEAGE_URL (default api/v1/lineage)"},
	{"OPENLINEAGE_API_KEY", "sent as Authorization: Bearer KEY"},
	{"OPENLINEAGE_NAMESPACE", "namespace of the runner's jobs (default aiflow)"},
	{"OPENLINEAGE_PARENT_ID", "the Airflow task run that started this node, set by the compiled DAG"},
	{"OPENLINEAGE_ROOT_PARENT_ID", "the Airflow DAG run of that task, set by the compiled DAG"},
	{"OPENLINEAGE_DISABLED", "true: send no lineage"},
	{"AIFLOW_LOG_FORMAT", "json (default) or text"},
	{"AIFLOW_PROGRESS_INTERVAL", "how often a running node logs a progress record when not on a terminal (default 10s; 0: never)"},
	{"AIFLOW_LOG_LEVEL", "debug, info (default), warn, error"},
	{"AIFLOW_ENVS", "allowed pipeline envs (default dev,staging,prod)"},
	{"AIFLOW_PYTHON", "interpreter of the python engine (default python3)"},
	{"AIFLOW_PLUGIN_MODULES", "Python modules whose register_* calls add plugin kinds to this runner (comma-separated)"},
	{"AIFLOW_TERMINATION_LOG", "where the one-line reason of the exit goes (default /dev/termination-log)"},
	{"AIFLOW_NODE_TIMEOUT", "bound of one node attempt, bookkeeping included; exit 75 before it (default 2h)"},
	{"AIFLOW_POLICY_FILE", "tenant policy file, enforced at compile and run time (/etc/aiflow/policy.yaml always, when present)"},
	{"AIFLOW_TEAM", "the team this runner may act for; a pipeline naming another team is refused"},
	{"AIFLOW_ALLOWED_ROOTS", "confine local paths to these folders (colon-separated; .. and symlinks resolved)"},
	{"AIFLOW_PYTHONPATH", "folders prepended to the python engine's sys.path (where etl_jobs/… live)"},
	{"AIFLOW_SECRETS_DIR", "where Kubernetes Secret volumes are mounted (default /var/run/secrets/aiflow)"},
	{"AIFLOW_POD_NAME", "the pod's name recorded on every attempt (default $HOSTNAME)"},
	{"HOSTNAME", "the pod's name when AIFLOW_POD_NAME is unset (Kubernetes sets it)"},
}
