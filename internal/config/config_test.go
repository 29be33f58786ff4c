package config_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
)

func load(t *testing.T, env map[string]string) (*config.Config, error) {
	t.Helper()
	return config.LoadFrom(context.Background(), envconfig.MapLookuper(env))
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	home, _ := filepath.Abs(".aiflow")
	if c.Home != "./.aiflow" || c.LogFormat != "json" || c.LogLevel != "info" || c.Python != "python3" ||
		c.TerminationLog != "/dev/termination-log" || !reflect.DeepEqual(c.Envs, []string{"dev", "staging", "prod"}) {
		t.Errorf("defaults: %+v", c)
	}
	if c.MetadataDSN != "sqlite://"+filepath.Join(home, "metadata.db") || c.StagingURI != "file://"+filepath.Join(home, "staging") ||
		c.LakeRoot != "file://"+filepath.Join(home, "lake") {
		t.Errorf("derived defaults: %q %q %q", c.MetadataDSN, c.StagingURI, c.LakeRoot)
	}
	if c.SparkRemote != "" || c.KafkaBrokers != nil || c.S3Endpoint != "" {
		t.Errorf("unset settings are set: %+v", c)
	}
}

func TestOverrides(t *testing.T) {
	c, err := load(t, map[string]string{
		"AIFLOW_HOME":           "/var/aiflow",
		"AIFLOW_METADATA_DSN":   "postgres://db/aiflow",
		"AIFLOW_STAGING_URI":    "s3://bucket/staging",
		"AIFLOW_SPARK_CLUSTERS": "emr-a=sc://h1:15002,emr-b=sc://h2:15002",
		"AIFLOW_KAFKA_BROKERS":  "k1:9092,k2:9092",
		"AIFLOW_ENVS":           "qa,prod",
		"AIFLOW_LOG_FORMAT":     "text",
		"AIFLOW_LOG_LEVEL":      "DEBUG",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.MetadataDSN != "postgres://db/aiflow" || c.StagingURI != "s3://bucket/staging" || c.LakeRoot != "file:///var/aiflow/lake" {
		t.Errorf("overrides: %+v", c)
	}
	if !reflect.DeepEqual(c.SparkClusters, map[string]string{"emr-a": "sc://h1:15002", "emr-b": "sc://h2:15002"}) {
		t.Errorf("clusters: %v", c.SparkClusters)
	}
	if !reflect.DeepEqual(c.KafkaBrokers, []string{"k1:9092", "k2:9092"}) || !reflect.DeepEqual(c.Envs, []string{"qa", "prod"}) {
		t.Errorf("lists: %v %v", c.KafkaBrokers, c.Envs)
	}
}

// TestOpenLineageStandardVariables: the OpenLineage clients' variables configure lineage when
// AIFLOW_OPENLINEAGE_URL is unset.
func TestOpenLineageStandardVariables(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OPENLINEAGE_URL": "http://marquez:5000"}, "http://marquez:5000/api/v1/lineage"},
		{map[string]string{"OPENLINEAGE_URL": "https://ol.example.com/", "OPENLINEAGE_ENDPOINT": "/v2/events"}, "https://ol.example.com/v2/events"},
		{map[string]string{"OPENLINEAGE_URL": "http://a", "AIFLOW_OPENLINEAGE_URL": "file:///tmp/ol.ndjson"}, "file:///tmp/ol.ndjson"},
		{map[string]string{"OPENLINEAGE_URL": "http://a", "OPENLINEAGE_DISABLED": "true"}, ""},
	} {
		c, err := load(t, tt.env)
		if err != nil {
			t.Fatal(err)
		}
		if c.OpenLineageURL != tt.want {
			t.Errorf("%v: OpenLineageURL %q, want %q", tt.env, c.OpenLineageURL, tt.want)
		}
	}
	c, _ := load(t, map[string]string{"OPENLINEAGE_API_KEY": "k"})
	if c.OpenLineageAPIKey != "k" {
		t.Errorf("api key %q", c.OpenLineageAPIKey)
	}
}

// TestSettingsRead: every setting a runtime needs comes from the lookuper (never from the process
// environment behind the caller's back), typed and with its default.
func TestSettingsRead(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SparkConnectTimeout != 30*time.Second || c.SecretsDir != "/var/run/secrets/aiflow" || c.PodName != "" ||
		c.PythonPath != nil || c.AllowedRoots != "" || c.S3Region != "" || c.SparkToken != "" {
		t.Errorf("defaults: %+v", c)
	}
	c, err = load(t, map[string]string{
		"AIFLOW_SPARK_TOKEN": "tok", "AIFLOW_SPARK_CONNECT_TIMEOUT": "2s", "AWS_REGION": "eu-west-1",
		"AIFLOW_ALLOWED_ROOTS": "/a:/b", "AIFLOW_PYTHONPATH": "/jobs:/mods", "AIFLOW_SECRETS_DIR": "/s",
		"HOSTNAME": "pod-h", "OPENLINEAGE_NAMESPACE": " ns ", "OPENLINEAGE_PARENT_ID": "p", "OPENLINEAGE_ROOT_PARENT_ID": "r",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.SparkToken != "tok" || c.SparkConnectTimeout != 2*time.Second || c.S3Region != "eu-west-1" ||
		c.AllowedRoots != "/a:/b" || !reflect.DeepEqual(c.PythonPath, []string{"/jobs", "/mods"}) || c.SecretsDir != "/s" ||
		c.PodName != "pod-h" || c.OpenLineageNamespace != "ns" || c.OpenLineageParentID != "p" || c.OpenLineageRootParentID != "r" {
		t.Errorf("settings: %+v", c)
	}
	if c, _ := load(t, map[string]string{"HOSTNAME": "pod-h", "AIFLOW_POD_NAME": "pod-a"}); c.PodName != "pod-a" {
		t.Errorf("AIFLOW_POD_NAME before HOSTNAME: %q", c.PodName)
	}
}

func TestInvalidSettings(t *testing.T) {
	for _, env := range []string{"AIFLOW_SPARK_CONNECT_TIMEOUT=0s", "AIFLOW_SPARK_CONNECT_TIMEOUT=soon"} {
		k, v, _ := strings.Cut(env, "=")
		if _, err := load(t, map[string]string{k: v}); fault.ClassOf(err) != fault.Config || !strings.Contains(err.Error(), k) {
			t.Errorf("%s: %v, want a configuration error naming it", env, err)
		}
	}
	for env, want := range map[string]string{
		"AIFLOW_LOG_FORMAT":     `AIFLOW_LOG_FORMAT="xml": want json or text`,
		"AIFLOW_LOG_LEVEL":      `AIFLOW_LOG_LEVEL="xml": want debug, info, warn or error`,
		"AIFLOW_SPARK_CLUSTERS": "read configuration from the environment",
	} {
		_, err := load(t, map[string]string{env: "xml"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=xml: %v, want %q", env, err, want)
		}
		if fault.ClassOf(err) != fault.Config {
			t.Errorf("%s=xml: class %v, want config (exit 78)", env, fault.ClassOf(err))
		}
	}
}

// TestDocListsEveryVariable: every variable Config reads is in --help.
func TestDocListsEveryVariable(t *testing.T) {
	documented := map[string]bool{}
	for _, kv := range config.Doc {
		documented[kv[0]] = kv[1] != ""
	}
	ct := reflect.TypeFor[config.Config]()
	for i := range ct.NumField() {
		tag := ct.Field(i).Tag.Get("env")
		if tag == "" {
			continue
		}
		if v, _, _ := strings.Cut(tag, ","); !documented[v] {
			t.Errorf("%s (Config.%s) is not in config.Doc", v, ct.Field(i).Name)
		}
	}
}

// TestReadmeTableListsEveryVariable: the README's configuration table lists every variable of
// config.Doc (what --help prints) with its embedded default, and names no variable the runner
// does not read.
func TestReadmeTableListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no ## Configuration section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	rows := map[string]string{} // variable → its table row
	for _, line := range strings.Split(sec, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		for _, v := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[1], -1) {
			rows[v[1]] = line
		}
	}
	documented := map[string]bool{}
	for _, kv := range config.Doc {
		documented[kv[0]] = true
		if _, ok := rows[kv[0]]; !ok {
			t.Errorf("%s (config.Doc: %s) is not in README.md's configuration table", kv[0], kv[1])
		}
	}
	for v := range rows {
		if !documented[v] && v != "AWS_*" {
			t.Errorf("README.md's configuration table lists %s, which config.Doc does not", v)
		}
	}
	ct := reflect.TypeFor[config.Config]()
	for i := range ct.NumField() {
		name, opts, _ := strings.Cut(ct.Field(i).Tag.Get("env"), ",")
		_, def, ok := strings.Cut(opts, "default=")
		if !ok {
			continue
		}
		if row, listed := rows[name]; listed && !strings.Contains(row, "`"+def+"`") && !strings.Contains(row, "`"+strings.ReplaceAll(def, ",", ", ")+"`") {
			t.Errorf("README.md's row of %s does not give its default `%s`: %s", name, def, row)
		}
	}
}
