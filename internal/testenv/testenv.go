// Package testenv gives integration tests the addresses of the real services that `make test`
// starts (scripts/services.sh writes them to .services/env and exports them). Under CI=true a
// missing service fails the test; elsewhere the test skips with a one-line reason.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Service environment variables, set by scripts/services.sh.
const (
	PostgresDSN   = "AIFLOW_TEST_PG_DSN"          // postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
	S3Endpoint    = "AIFLOW_TEST_S3_ENDPOINT"     // http://127.0.0.1:PORT (versitygw)
	S3AccessKey   = "AIFLOW_TEST_S3_ACCESS_KEY"   // root access key of the test gateway
	S3SecretKey   = "AIFLOW_TEST_S3_SECRET_KEY"   // root secret key of the test gateway
	KafkaBrokers  = "AIFLOW_TEST_KAFKA_BROKERS"   // 127.0.0.1:PORT (Apache Kafka, KRaft)
	SparkRemote   = "AIFLOW_TEST_SPARK_REMOTE"    // sc://127.0.0.1:PORT (Spark Connect)
	Pushgateway   = "AIFLOW_TEST_PUSHGATEWAY_URL" // http://127.0.0.1:PORT
	FlinkGateway  = "AIFLOW_TEST_FLINK_GATEWAY"   // http://127.0.0.1:PORT (Flink SQL Gateway REST)
	FlinkREST     = "AIFLOW_TEST_FLINK_REST"      // http://127.0.0.1:PORT (the JobManager's REST API)
	FlinkHome     = "AIFLOW_TEST_FLINK_HOME"      // folder with the cluster's config and start/stop-taskmanager.sh
	AirflowPython = "AIFLOW_TEST_AIRFLOW_PYTHON"  // python of the venv with apache-airflow and the cncf.kubernetes provider
	Python        = "AIFLOW_TEST_PYTHON"          // python with pyarrow, pandas and aiflow_sdk installed
)

// CI reports whether the tests run under CI, where a missing service is a failure.
func CI() bool { return os.Getenv("CI") == "true" }

// Require returns the value of the service variable name, or ends the test: Fatal under CI=true,
// Skip elsewhere.
func Require(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if CI() {
		t.Fatalf("%s is not set: the service this test needs was not started (run make test)", name)
	}
	t.Skipf("%s not set; run make test to start the service", name)
	return ""
}

// Command returns the path of a program the test needs (scripts/install.sh installs it), or
// ends the test like Require: Fatal under CI=true, Skip elsewhere.
func Command(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if CI() {
		t.Fatalf("%s is not installed: %v (scripts/install.sh installs it)", name, err)
	}
	t.Skipf("%s not installed (scripts/install.sh installs it): %v", name, err)
	return ""
}
