#!/usr/bin/env bash
# Installs every real service/toolchain the aiflow tests need, pinned and idempotent.
#
#   scripts/install.sh                 # all components
#   scripts/install.sh kafka spark     # only those
#
# Components: postgres pushgateway versitygw kafka spark sparkkafka delta airflow python k8s chromium flink
# Not part of "all" (only `make bench` needs it): bench
#
# Everything project-local lives in git-ignored folders of the repo:
#   .tools/            versitygw binary, Kafka jars, install markers
#   .venv-spark/       pyspark (its jars/ hold the Spark Connect server)
#   .venv-airflow/     Airflow 3 + cncf-kubernetes provider + dag-factory
#   .venv/             pyarrow/pandas/pytest/jsonschema (+ python/ editable if present)
#   .venv-bench/       DuckDB, Polars and pyarrow: what `make bench` compares the runner with
# System packages (postgres, pushgateway, and k8s's containerd, etcd, runc, CNI plugins,
# podman, buildah, mmdebstrap) come from Debian apt.
#   /var/cache/aiflow/k8s-<version>/bin   Kubernetes server binaries built from Go modules, kept
#                                         outside the checkout so that a clean clone reuses them
#   /var/cache/aiflow/flink-<version>/     a Flink distribution (lib/, opt/, bin/) assembled from
#                                         PyPI's apache-flink-libraries and Maven Central jars
#
# Each component writes .tools/markers/<name> holding its pinned version after a
# successful install; a rerun whose marker matches (and whose artifact exists) is a no-op.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ---- pinned versions -------------------------------------------------------
VERSITYGW_VERSION=v1.8.0
KAFKA_VERSION=4.1.1            # org.apache.kafka:kafka_2.13 (KRaft broker, Java 17)
MAVEN_DEP_PLUGIN=3.8.1         # maven-dependency-plugin used to copy the jars
# kafka_2.13's pom brings slf4j-api 1.7 and log4j2 but no binding between them (the binary
# distribution adds it); without it the broker logs nothing. Same log4j version as Kafka's.
LOG4J_VERSION=2.24.3
PYSPARK_VERSION=4.0.1          # spark-connect-go is generated from the Spark 4.0 protocol
AIRFLOW_VERSION=3.1.8
AIRFLOW_K8S_PROVIDER_VERSION=10.25.0
DAG_FACTORY_VERSION=1.1.0
PYARROW_VERSION=26.0.1
PANDAS_VERSION=2.3.3
PYTEST_VERSION=9.2.0
JSONSCHEMA_VERSION=4.26.0
# The lightweight Spark Connect client (no JVM jars) of PySpark entrypoints and Python Spark
# readers, in .venv beside pyarrow/pandas; its gRPC pins are the ones .venv-spark uses.
PYSPARK_CLIENT_VERSION=4.0.1
PYSPARK_CLIENT_PINS="grpcio==1.85.3 grpcio-status==1.85.3 googleapis-common-protos==1.76.0 protobuf==7.36.2"
# Spark's Kafka connector for the test Spark Connect server (spark.read.format("kafka")), from
# Maven Central: spark-sql-kafka 4.0.1 with the kafka-clients and commons-pool2 its pom names.
# spark-token-provider-kafka 4.0.1 is not served by the registry this machine reaches; 4.0.0 is
# the same code (the patch release did not touch it).
SPARK_KAFKA_JARS=(
  "org/apache/spark/spark-sql-kafka-0-10_2.13/4.0.1/spark-sql-kafka-0-10_2.13-4.0.1.jar 75ffc494b738b91fc675fe087ac57417ac408a29"
  "org/apache/spark/spark-token-provider-kafka-0-10_2.13/4.0.0/spark-token-provider-kafka-0-10_2.13-4.0.0.jar bb6fa56777661c2860cc5a9b7361fb1db7255554"
  "org/apache/kafka/kafka-clients/3.9.1/kafka-clients-3.9.1.jar 86ca079953ed5606257ff298c24666b26da6985b"
  "org/apache/commons/commons-pool2/2.12.0/commons-pool2-2.12.0.jar 458563f69fbdaebf7daadfe10dc3a22e42a7de50"
)

# Independent readers and writers of the Delta Lake tables aiflow writes (interop tests, bench/).
DELTALAKE_VERSION=1.6.6        # delta-rs
POLARS_VERSION=2.1.0

# chromium: Debian's headless browser, driven by the web UI's test (internal/ui, chromedp).
CHROMIUM_VERSION=156.0.8078.108-1~deb12u1

# bench: the engines a user would otherwise pick for the pipeline of bench/engines (make bench).
DUCKDB_VERSION=2.0.0
BENCH_POLARS_VERSION=2.1.0
BENCH_PYARROW_VERSION=26.0.1

# flink: a Flink session cluster (JobManager, TaskManager, SQL Gateway) for the flink engine.
# flink-dist is not published on Maven Central; PyPI's apache-flink-libraries wheel carries it
# with the table planner/runtime, files/csv/json formats and log4j (lib/) and BashJavaUtils
# (bin/, which sizes the JVMs from config.yaml). The SQL Gateway and the Kafka connector (the
# one built for Flink 2.2) come from Maven Central. No Parquet format jar is served for 2.2, so
# the engine stages its output as JSON. Kept outside the checkout, keyed by version.
FLINK_VERSION=2.2.1
FLINK_LIBRARIES_SHA256=74dc5546fbd9add8fbcdf1222a237e09491f9b80296241aef8676ec56f8e686e
FLINK_MAVEN_JARS=(
  "opt org/apache/flink/flink-sql-gateway/$FLINK_VERSION/flink-sql-gateway-$FLINK_VERSION.jar b7e4bde7a817df61bd35b7288aadd066d29f701a"
  "lib org/apache/flink/flink-sql-connector-kafka/5.0.0-2.2/flink-sql-connector-kafka-5.0.0-2.2.jar 7bf2ded1144cb8aece05adcaccbc81b2ac3ef339"
)
FLINK_CACHE="${AIFLOW_FLINK_CACHE:-/var/cache/aiflow/flink-$FLINK_VERSION}"

# k8s: a single-node cluster for the end-to-end tests (scripts/k8s.sh) and `make image`.
# Kubelet 1.35+ wants cgroup v2 (or failCgroupV1: false); 1.34 runs on cgroup v1 with containerd 1.6.
K8S_VERSION=v1.34.4
K8S_CACHE="${AIFLOW_K8S_CACHE:-/var/cache/aiflow/k8s-$K8S_VERSION}"
# Debian 12 packages, pinned to the versions the scripts were written against.
K8S_APT_PINS="containerd=1.6.20~ds1-1+deb12u3 etcd-server=3.4.23-4+b4 runc=1.1.5+ds1-1+deb12u1
containernetworking-plugins=1.1.1+ds1-3+b5 podman=4.3.1+ds1-8+deb12u1+b3 buildah=1.28.2+ds1-3+deb12u1+b3
mmdebstrap=1.3.5-7 iptables uidmap iproute2 openssl ca-certificates tzdata"

ALL_COMPONENTS=(postgres pushgateway versitygw kafka spark sparkkafka delta airflow python k8s chromium flink)

TOOLS="$ROOT/.tools"
MARKERS="$TOOLS/markers"
mkdir -p "$TOOLS/bin" "$MARKERS"

log() { echo "$*" >&2; }

# retry CMD...: network steps get 3 attempts with a growing pause.
retry() {
  local n=1
  until "$@"; do
    if (( n >= 3 )); then log "failed after $n attempts: $*"; return 1; fi
    log "attempt $n failed, retrying: $*"
    sleep $(( n * 5 ))
    n=$(( n + 1 ))
  done
}

# The interpreter for all venvs: a real CPython 3.11 (resolve pyenv shims to the binary).
find_python() {
  local c
  for c in "${AIFLOW_PYTHON311:-}" python3.11 /root/.pyenv/versions/3.11*/bin/python3.11 python3; do
    [[ -n "$c" ]] || continue
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
      "$c" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  # Fall back to any python3 (>=3.10 works for everything pinned here except pandas wheels may differ).
  command -v python3
}

# make_venv DIR: create DIR as a venv (if missing) with an up-to-date pip toolchain.
make_venv() {
  local dir="$1" py
  if [[ ! -x "$dir/bin/python" ]]; then
    py="$(find_python)"
    "$py" -m venv "$dir"
  fi
}

# pip_in DIR ARGS...: pip of that venv, quiet, using the default shared cache (~/.cache/pip).
pip_in() {
  local dir="$1"; shift
  retry "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
}

apt_updated=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if (( apt_updated == 0 )); then retry apt-get update -qq; apt_updated=1; fi
  retry apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# marker_ok NAME VERSION: the component was installed at exactly this version.
marker_ok() { [[ -f "$MARKERS/$1" && "$(cat "$MARKERS/$1")" == "$2" ]]; }
marker_set() { echo "$2" >"$MARKERS/$1"; }

# ---- components ------------------------------------------------------------
# Each has is_<name> (true when already installed; must be fast) and do_<name>.
# version_<name> prints the version that ends up installed.

pg_bindir() {
  local d
  if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return 0; fi
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }
  done
  return 1
}
is_postgres() { pg_bindir >/dev/null 2>&1 && [[ -x "$(pg_bindir)/pg_ctl" ]]; }
do_postgres() { apt_install postgresql; }
version_postgres() { "$(pg_bindir)/initdb" --version | awk '{print $3}'; }

is_pushgateway() { [[ -x /usr/bin/prometheus-pushgateway ]]; }
do_pushgateway() {
  # The package's postinst would start a system pushgateway on :9091. A policy-rc.d that
  # exits 101 forbids that; create one only for this install if the machine has none.
  local own_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local rc=0
  apt_install prometheus-pushgateway || rc=$?
  (( own_policy )) && rm -f /usr/sbin/policy-rc.d
  return $rc
}
version_pushgateway() { dpkg-query -W -f='${Version}' prometheus-pushgateway; }

is_versitygw() { [[ -x "$TOOLS/bin/versitygw" ]] && marker_ok versitygw "$VERSITYGW_VERSION"; }
do_versitygw() {
  GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod retry go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  marker_set versitygw "$VERSITYGW_VERSION"
}
version_versitygw() { echo "$VERSITYGW_VERSION"; }

KAFKA_DIR="$TOOLS/kafka-$KAFKA_VERSION"
kafka_marker() { echo "$KAFKA_VERSION/log4j-slf4j-impl-$LOG4J_VERSION"; }
is_kafka() { [[ -f "$KAFKA_DIR/libs/kafka_2.13-$KAFKA_VERSION.jar" ]] && marker_ok kafka "$(kafka_marker)"; }
do_kafka() {
  # A throwaway pom whose only job is to let Maven resolve the broker and all its
  # runtime dependencies (server, storage, raft, metadata, coordinators, log4j2 binding)
  # plus kafka-tools (topics/console producer/consumer, for debugging and tests).
  local build="$TOOLS/kafka-build"
  rm -rf "$build" "$KAFKA_DIR.tmp"
  mkdir -p "$build"
  cat >"$build/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.aiflow</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>$MAVEN_DEP_PLUGIN</version>
  </plugin></plugins></build>
</project>
EOF
  retry mvn -B -q -f "$build/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_DIR.tmp/libs" >"$build/mvn.log" 2>&1 \
    || { tail -40 "$build/mvn.log" >&2; return 1; }
  rm -rf "$KAFKA_DIR"
  mv "$KAFKA_DIR.tmp" "$KAFKA_DIR"
  rm -rf "$build"
  marker_set kafka "$(kafka_marker)"
}
version_kafka() { echo "$KAFKA_VERSION"; }

# The PySpark Connect client (bench/spark's baseline) needs these beside pyspark; pinned.
SPARK_CLIENT_PINS="grpcio==1.85.3 grpcio-status==1.85.3 googleapis-common-protos==1.76.0 protobuf==7.36.2 pandas==3.1.1 numpy==2.4.6 pyarrow==26.0.1"
is_spark() { [[ -x .venv-spark/bin/python ]] && marker_ok spark "$PYSPARK_VERSION+client"; }
do_spark() {
  make_venv .venv-spark
  # pyspark is an sdist (~300 MB, includes jars/); pip builds its wheel once and caches it.
  pip_in .venv-spark "pyspark==$PYSPARK_VERSION"
  # shellcheck disable=SC2086
  pip_in .venv-spark $SPARK_CLIENT_PINS
  .venv-spark/bin/python - <<'EOF'
import os, glob, pyspark
jars = os.path.join(os.path.dirname(pyspark.__file__), "jars")
assert glob.glob(os.path.join(jars, "spark-connect_*.jar")), "no Spark Connect server jar in " + jars
EOF
  marker_set spark "$PYSPARK_VERSION+client"
}
version_spark() { echo "pyspark $PYSPARK_VERSION"; }

# Jars land in .tools/spark-extra-jars/, which scripts/services.sh puts on the server's classpath.
SPARK_EXTRA="$TOOLS/spark-extra-jars"
sparkkafka_marker() { printf '%s\n' "${SPARK_KAFKA_JARS[@]}" | md5sum | cut -c1-12; }
is_sparkkafka() {
  marker_ok sparkkafka "$(sparkkafka_marker)" || return 1
  local e; for e in "${SPARK_KAFKA_JARS[@]}"; do [[ -f "$SPARK_EXTRA/$(basename "${e% *}")" ]] || return 1; done
}
do_sparkkafka() {
  local maven="${AIFLOW_MAVEN_MIRROR:-https://repo1.maven.org/maven2}" e path sum name
  mkdir -p "$SPARK_EXTRA"
  for e in "${SPARK_KAFKA_JARS[@]}"; do
    path="${e% *}" sum="${e#* }" name="$(basename "${e% *}")"
    if [[ -f "$SPARK_EXTRA/$name" ]] && echo "$sum  $SPARK_EXTRA/$name" | sha1sum -c --quiet - 2>/dev/null; then
      continue
    fi
    retry curl -fsSL -o "$SPARK_EXTRA/$name.part" "$maven/$path"
    echo "$sum  $SPARK_EXTRA/$name.part" | sha1sum -c --quiet - \
      || { log "sparkkafka: checksum mismatch for $name"; rm -f "$SPARK_EXTRA/$name.part"; return 1; }
    mv "$SPARK_EXTRA/$name.part" "$SPARK_EXTRA/$name"
  done
  marker_set sparkkafka "$(sparkkafka_marker)"
}
version_sparkkafka() { echo "spark-sql-kafka-0-10 4.0.1"; }

# Delta Lake jars for the test Spark Connect server (scripts/services.sh puts them on its
# classpath and configures the session extension and catalog when they are there).
DELTA_SPARK_VERSION="$(sed -n 's/^DELTA_VERSION=//p' "$ROOT/scripts/install-delta.sh")"
is_delta() { marker_ok delta "$DELTA_SPARK_VERSION" && ls "$SPARK_EXTRA"/delta-spark_*-"$DELTA_SPARK_VERSION".jar >/dev/null 2>&1; }
do_delta() { "$ROOT/scripts/install-delta.sh" && marker_set delta "$DELTA_SPARK_VERSION"; }
version_delta() { echo "delta-spark $DELTA_SPARK_VERSION"; }

airflow_marker() { echo "$AIRFLOW_VERSION/$AIRFLOW_K8S_PROVIDER_VERSION/$DAG_FACTORY_VERSION"; }
is_airflow() { [[ -x .venv-airflow/bin/python ]] && marker_ok airflow "$(airflow_marker)"; }
do_airflow() {
  make_venv .venv-airflow
  # Airflow's official constraints file lives on a host this machine can't reach, so the
  # full resolved set is pinned below (airflow_constraints) and used as pip constraints.
  local cons="$TOOLS/airflow-constraints.txt"
  airflow_constraints >"$cons"
  pip_in .venv-airflow -c "$cons" \
    "apache-airflow==$AIRFLOW_VERSION" \
    "apache-airflow-providers-cncf-kubernetes==$AIRFLOW_K8S_PROVIDER_VERSION" \
    "dag-factory==$DAG_FACTORY_VERSION"
  # Importing airflow/dagfactory logs a lot; show it only when the check fails.
  AIRFLOW_HOME="$TOOLS/airflow-home-check" .venv-airflow/bin/python -c \
    "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator; from airflow.sdk import DAG, Asset; import dagfactory" \
    >"$TOOLS/airflow-check.log" 2>&1 \
    || { tail -30 "$TOOLS/airflow-check.log" >&2; log "airflow import check failed"; return 1; }
  rm -rf "$TOOLS/airflow-home-check"
  marker_set airflow "$(airflow_marker)"
}
version_airflow() { echo "apache-airflow $AIRFLOW_VERSION, cncf-kubernetes $AIRFLOW_K8S_PROVIDER_VERSION, dag-factory $DAG_FACTORY_VERSION"; }

# The project's own Python SDK, when it has packaging metadata (python/ or python/aiflow_sdk/).
sdk_dir() {
  local d
  for d in python python/aiflow_sdk; do
    [[ -f "$d/pyproject.toml" ]] && { echo "$d"; return 0; }
  done
  return 0
}
python_marker() {
  local m="$PYARROW_VERSION/$PANDAS_VERSION/$PYTEST_VERSION/$JSONSCHEMA_VERSION/pyspark-client-$PYSPARK_CLIENT_VERSION/deltalake-$DELTALAKE_VERSION/polars-$POLARS_VERSION" d
  d="$(sdk_dir)"
  # Editable install: code changes need no reinstall, but changed packaging metadata does.
  [[ -n "$d" ]] && m="$m/sdk:$d:$(md5sum <"$d/pyproject.toml" | cut -c1-12)"
  echo "$m"
}
is_python() { [[ -x .venv/bin/python ]] && marker_ok python "$(python_marker)"; }
do_python() {
  make_venv .venv
  pip_in .venv "pyarrow==$PYARROW_VERSION" "pandas==$PANDAS_VERSION" \
    "pytest==$PYTEST_VERSION" "jsonschema==$JSONSCHEMA_VERSION" \
    "deltalake==$DELTALAKE_VERSION" "polars==$POLARS_VERSION"
  # shellcheck disable=SC2086
  pip_in .venv "pyspark-client==$PYSPARK_CLIENT_VERSION" $PYSPARK_CLIENT_PINS
  local d; d="$(sdk_dir)"
  if [[ -n "$d" ]]; then
    pip_in .venv -e "$d/"
  fi
  marker_set python "$(python_marker)"
}
version_python() { echo "pyarrow $PYARROW_VERSION, pandas $PANDAS_VERSION, pytest $PYTEST_VERSION, jsonschema $JSONSCHEMA_VERSION, pyspark-client $PYSPARK_CLIENT_VERSION, deltalake $DELTALAKE_VERSION, polars $POLARS_VERSION"; }

# chromium: the browser the web UI's test drives (no download of a browser build of its own).
# Debian replaces security updates in place, so the pin is the version the test was run with.
is_chromium() { command -v chromium >/dev/null 2>&1 && [[ "$(dpkg-query -W -f='${Version}' chromium 2>/dev/null)" == "$CHROMIUM_VERSION" ]]; }
do_chromium() { apt_install "chromium=$CHROMIUM_VERSION" "chromium-common=$CHROMIUM_VERSION" fonts-dejavu-core; }
version_chromium() { dpkg-query -W -f='chromium ${Version}' chromium; }

bench_marker() { echo "duckdb-$DUCKDB_VERSION/polars-$BENCH_POLARS_VERSION/pyarrow-$BENCH_PYARROW_VERSION"; }
is_bench() { [[ -x .venv-bench/bin/python ]] && marker_ok bench "$(bench_marker)"; }
do_bench() {
  make_venv .venv-bench
  pip_in .venv-bench "duckdb==$DUCKDB_VERSION" "polars==$BENCH_POLARS_VERSION" "pyarrow==$BENCH_PYARROW_VERSION"
  .venv-bench/bin/python -c 'import duckdb, polars, pyarrow; print(duckdb.__version__, polars.__version__, pyarrow.__version__)' >/dev/null
  marker_set bench "$(bench_marker)"
}
version_bench() { echo "duckdb $DUCKDB_VERSION, polars $BENCH_POLARS_VERSION, pyarrow $BENCH_PYARROW_VERSION"; }

# k8s: Debian's container runtime and image tools, then kube-apiserver, -controller-manager,
# -scheduler, kubelet and kubectl built from the Go modules of Kubernetes $K8S_VERSION
# (scripts/k8s/build holds the go.mod/go.sum that pin every module). About 5 minutes on 2 cores
# from empty Go caches; the 5 binaries (~400 MB) are kept in $K8S_CACHE/bin, keyed by version.
K8S_BINS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"
k8s_marker() { echo "$K8S_VERSION/$(cat scripts/k8s/build/go.sum scripts/k8s/build/go.mod | md5sum | cut -c1-12)"; }
k8s_apt_ok() {
  local p
  for p in $K8S_APT_PINS; do
    [[ $p == *=* ]] || { dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || return 1; continue; }
    [[ "$(dpkg-query -W -f='${Version}' "${p%%=*}" 2>/dev/null)" == "${p#*=}" ]] || return 1
  done
}
is_k8s() {
  local b
  k8s_apt_ok || return 1
  for b in $K8S_BINS; do [[ -x "$K8S_CACHE/bin/$b" ]] || return 1; done
  [[ -f "$K8S_CACHE/marker" && "$(cat "$K8S_CACHE/marker")" == "$(k8s_marker)" ]]
}
do_k8s() {
  # shellcheck disable=SC2086
  k8s_apt_ok || apt_install $K8S_APT_PINS
  local b ok=1 v=$K8S_VERSION minor
  for b in $K8S_BINS; do [[ -x "$K8S_CACHE/bin/$b" ]] || ok=0; done
  if (( ok )) && [[ -f "$K8S_CACHE/marker" && "$(cat "$K8S_CACHE/marker")" == "$(k8s_marker)" ]]; then return 0; fi
  mkdir -p "$K8S_CACHE/src"
  cp scripts/k8s/build/go.mod scripts/k8s/build/go.sum scripts/k8s/build/tools.go "$K8S_CACHE/src/"
  minor=${v#v1.}; minor=${minor%%.*}
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  done
  ld="$ld -X k8s.io/component-base/version.gitTreeState=clean"
  rm -rf "$K8S_CACHE/bin.tmp"
  mkdir -p "$K8S_CACHE/bin.tmp"
  local pkgs=()
  for b in $K8S_BINS; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  (cd "$K8S_CACHE/src" && retry go mod download && \
    CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$K8S_CACHE/bin.tmp/" "${pkgs[@]}") || return 1
  rm -rf "$K8S_CACHE/bin"
  mv "$K8S_CACHE/bin.tmp" "$K8S_CACHE/bin"
  k8s_marker >"$K8S_CACHE/marker"
}
version_k8s() { echo "kubernetes $K8S_VERSION ($K8S_CACHE/bin), containerd $(dpkg-query -W -f='${Version}' containerd)"; }

# flink: the wheel's jars into $FLINK_CACHE/{lib,opt,bin}, then the Maven jars, checksummed.
flink_marker() { printf '%s\n' "$FLINK_VERSION" "$FLINK_LIBRARIES_SHA256" "${FLINK_MAVEN_JARS[@]}" | md5sum | cut -c1-12; }
is_flink() {
  [[ -f "$FLINK_CACHE/marker" && "$(cat "$FLINK_CACHE/marker")" == "$(flink_marker)" ]] || return 1
  [[ -f "$FLINK_CACHE/lib/flink-dist-$FLINK_VERSION.jar" && -f "$FLINK_CACHE/bin/bash-java-utils.jar" ]] || return 1
  local e rest; for e in "${FLINK_MAVEN_JARS[@]}"; do rest="${e#* }"; [[ -f "$FLINK_CACHE/${e%% *}/$(basename "${rest% *}")" ]] || return 1; done
}
do_flink() {
  local maven="${AIFLOW_MAVEN_MIRROR:-https://repo1.maven.org/maven2}" tmp e dir rest path sum name py
  mkdir -p "$(dirname "$FLINK_CACHE")"
  tmp="$(mktemp -d "$(dirname "$FLINK_CACHE")/.flink-build.XXXXXX")"
  # The wheel (~310 MB) through pip, checked against the pinned hash (pip's cache keeps it).
  echo "apache-flink-libraries==$FLINK_VERSION --hash=sha256:$FLINK_LIBRARIES_SHA256" >"$tmp/req.txt"
  py="$(find_python)"
  retry "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
    --require-hashes -r "$tmp/req.txt" -d "$tmp/dl" || { rm -rf "$tmp"; return 1; }
  (cd "$tmp" && unzip -q dl/apache_flink_libraries-"$FLINK_VERSION"-*.whl 'pyflink/lib/*' 'pyflink/bin/*') \
    || { rm -rf "$tmp"; return 1; }
  mkdir -p "$tmp/home/opt"
  mv "$tmp/pyflink/lib" "$tmp/home/lib"
  mv "$tmp/pyflink/bin" "$tmp/home/bin"
  for e in "${FLINK_MAVEN_JARS[@]}"; do
    dir="${e%% *}" rest="${e#* }"; path="${rest% *}" sum="${rest#* }" name="$(basename "$path")"
    retry curl -fsSL -o "$tmp/home/$dir/$name" "$maven/$path" || { rm -rf "$tmp"; return 1; }
    echo "$sum  $tmp/home/$dir/$name" | sha1sum -c --quiet - \
      || { log "flink: checksum mismatch for $name"; rm -rf "$tmp"; return 1; }
  done
  [[ -f "$tmp/home/lib/flink-dist-$FLINK_VERSION.jar" ]] || { log "flink: no flink-dist jar in the wheel"; rm -rf "$tmp"; return 1; }
  rm -rf "$FLINK_CACHE"
  mv "$tmp/home" "$FLINK_CACHE"
  rm -rf "$tmp"
  flink_marker >"$FLINK_CACHE/marker"
}
version_flink() { echo "flink $FLINK_VERSION ($FLINK_CACHE), flink-sql-connector-kafka 5.0.0-2.2"; }

# ---- Airflow constraints ---------------------------------------------------
# `pip freeze` of a clean install of the three pins above on CPython 3.11 (Debian 12),
# checked with the import check, `airflow db migrate` (SQLite) and `airflow dags test`.
# Regenerate after changing a pin: install without -c, then `.venv-airflow/bin/pip freeze`.
airflow_constraints() {
  cat <<'EOF'
a2wsgi==1.10.10
aiofiles==25.1.0
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
aiosmtplib==5.1.3
aiosqlite==0.21.0
alembic==1.20.1
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
apache-airflow==3.1.8
apache-airflow-core==3.1.8
apache-airflow-providers-cncf-kubernetes==10.25.0
apache-airflow-providers-common-compat==1.23.0
apache-airflow-providers-common-io==1.11.0
apache-airflow-providers-common-sql==2.4.0
apache-airflow-providers-smtp==3.2.0
apache-airflow-providers-standard==1.21.0
apache-airflow-task-sdk==1.1.8
argcomplete==3.7.2
asgiref==3.13.0
attrs==26.1.0
babel==2.18.0
cadwyn==5.4.6
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
click==8.5.1
colorlog==6.12.0
cron_descriptor==2.2.1
croniter==7.0.0
cryptography==50.0.2
dag-factory==1.1.0
Deprecated==1.3.1
dill==0.4.1
dnspython==2.9.2
durationpy==0.11
email-validator==2.4.0
fastapi==0.117.1
fastapi-cli==0.0.34
frozenlist==1.8.0
fsspec==2026.9.0
googleapis-common-protos==1.76.0
greenback==1.3.0
greenlet==3.5.6
grpcio==1.85.3
h11==0.16.0
httpcore==1.0.9
httptools==0.9.0
httpx==0.28.1
idna==3.20
importlib_metadata==10.2.0
itsdangerous==2.2.0
Jinja2==3.1.6
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
kubernetes==36.0.3
kubernetes_asyncio==36.1.0
lazy-importer==0.1.0
lazy-object-proxy==1.13.0
libcst==1.9.0
linkify-it-py==2.2.0
lockfile==0.12.2
Mako==1.4.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
methodtools==0.4.7
more-itertools==11.2.1
msgspec==0.22.0
multidict==7.2.1
natsort==8.4.0
oauthlib==4.0.1
opentelemetry-api==1.45.2
opentelemetry-exporter-http-transport==0.66b2
opentelemetry-exporter-otlp==1.45.2
opentelemetry-exporter-otlp-common==0.66b2
opentelemetry-exporter-otlp-proto-common==1.45.2
opentelemetry-exporter-otlp-proto-grpc==1.45.2
opentelemetry-exporter-otlp-proto-http==1.45.2
opentelemetry-proto==1.45.2
opentelemetry-sdk==1.45.2
opentelemetry-semantic-conventions==0.66b2
outcome==1.3.0.post0
packaging==26.4
pathspec==1.1.1
pendulum==3.3.0
pluggy==1.7.0
propcache==0.5.4
protobuf==7.36.2
psutil==7.2.2
pycparser==3.12
pydantic==2.14.4
pydantic_core==2.50.5
Pygments==2.21.0
pygtrie==2.6.2
PyJWT==2.15.1
python-daemon==3.1.2
python-dateutil==4.0.0
python-dotenv==1.2.4
python-multipart==0.0.34
python-slugify==9.2.0
PyYAML==6.0.4
referencing==0.37.0
requests==2.34.2
requests-oauthlib==2.0.0
rich==15.0.0
rich-argparse==1.8.0
rich-toolkit==0.20.6
rpds-py==2026.9.1
setproctitle==1.3.8
shellingham==1.5.4
six==1.17.0
sniffio==1.3.1
SQLAlchemy==2.1.9
SQLAlchemy-JSONField==1.0.3
SQLAlchemy-Utils==0.43.0
sqlparse==0.6.1
starlette==0.48.0
structlog==26.1.0
svcs==26.2.0
tabulate==0.10.0
tenacity==9.2.1
termcolor==3.3.0
text-unidecode==1.3
typer==0.29.2
typing-inspection==0.4.5
typing_extensions==4.16.0
tzdata==2026.6
universal_pathlib==0.2.6
urllib3==2.8.0
uuid6==2025.0.1
uvicorn==0.54.0
uvloop==0.23.0
watchfiles==1.3.0
websocket-client==1.9.2
websockets==17.4
wirerope==1.0.0
wrapt==2.5.2
yarl==1.25.1
zipp==4.1.2
EOF
}

# ---- main ------------------------------------------------------------------
install_one() {
  local name="$1" start secs
  if "is_$name"; then
    echo "install $name: ok (already there)"
    return 0
  fi
  start=$SECONDS
  if ! "do_$name"; then
    echo "install $name: FAILED" >&2
    return 1
  fi
  secs=$(( SECONDS - start ))
  echo "install $name: installed $("version_$name") in ${secs}s"
}

main() {
  local comps=("$@") c rc=0 bg_pid="" bg_out="$TOOLS/.install-versitygw.out"
  (( ${#comps[@]} )) || comps=("${ALL_COMPONENTS[@]}")
  for c in "${comps[@]}"; do
    if ! declare -F "do_$c" >/dev/null; then
      log "unknown component: $c (known: ${ALL_COMPONENTS[*]} bench)"
      exit 2
    fi
  done
  for c in "${comps[@]}"; do
    # Compiling versitygw from a cold Go cache takes minutes of CPU while the other
    # components mostly wait on downloads: overlap it with them.
    if [[ "$c" == versitygw ]] && (( ${#comps[@]} > 1 )) && ! is_versitygw; then
      install_one versitygw >"$bg_out" 2>&1 &
      bg_pid=$!
      continue
    fi
    if ! install_one "$c"; then rc=1; break; fi
  done
  if [[ -n "$bg_pid" ]]; then
    wait "$bg_pid" || rc=1
    cat "$bg_out"
    rm -f "$bg_out"
  fi
  return $rc
}

main "$@"
