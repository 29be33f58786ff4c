package config_test

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

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

func TestInvalidSettings(t *testing.T) {
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

func TestDocListsEveryVariable(t *testing.T) {
	documented := map[string]bool{}
	for _, kv := range config.Doc {
		documented[kv[0]] = kv[1] != ""
	}
	for _, v := range []string{"AIFLOW_HOME", "AIFLOW_METADATA_DSN", "AIFLOW_STAGING_URI", "AIFLOW_SPARK_REMOTE", "AIFLOW_S3_ENDPOINT",
		"AIFLOW_KAFKA_BROKERS", "AIFLOW_PUSHGATEWAY_URL", "AIFLOW_METRICS_ADDR", "AIFLOW_OPENLINEAGE_URL", "AIFLOW_LOG_FORMAT", "AIFLOW_ENVS"} {
		if !documented[v] {
			t.Errorf("%s is not in config.Doc", v)
		}
	}
}
