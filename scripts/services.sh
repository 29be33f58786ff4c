#!/usr/bin/env bash
# Starts/stops the real services the aiflow tests use, each on free 127.0.0.1 ports.
#
#   scripts/services.sh up     [component...]   # start (no-op for what already runs)
#   scripts/services.sh down   [component...]   # stop what this script started
#   scripts/services.sh status [component...]
#   source .services/env                        # then run the tests
#
# Components: postgres versitygw (alias s3) kafka spark flink pushgateway airflow python
# (airflow and python are no daemons: they only export the venvs' interpreters).
#
# State: .services/<name>/ (data, log, pid, port, env). A service started from cold
# gets a fresh state dir and new free ports, so two checkouts never collide and tests
# never see data of an earlier run. .services/env is rebuilt from .services/*/env.
# Install everything first with scripts/install.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# AIFLOW_SERVICES_DIR: another state folder (scripts/k8s.sh keeps the copies it starts inside
# the cluster's network namespace apart from the checkout's own services).
# AIFLOW_SERVICES_HOST: the address every service listens on and advertises (default loopback;
# scripts/k8s.sh passes the node address so that pods reach the services).
SVC="${AIFLOW_SERVICES_DIR:-$ROOT/.services}"
HOST="${AIFLOW_SERVICES_HOST:-127.0.0.1}"
ALL_COMPONENTS=(postgres versitygw kafka spark flink pushgateway airflow python)
# Slow starters first so they overlap with the fast ones when run in parallel.
START_ORDER=(flink spark kafka postgres versitygw pushgateway airflow python)

S3_ACCESS_KEY=aiflowtest
S3_SECRET_KEY=aiflowtestsecret
# The Kafka jars' folder is named after the version pinned in install.sh (single source).
KAFKA_VERSION="$(sed -n 's/^KAFKA_VERSION=\([^ ]*\).*/\1/p' "$ROOT/scripts/install.sh")"
# Flink's distribution is kept outside the checkout by install.sh, keyed by its pinned version.
FLINK_VERSION="$(sed -n 's/^FLINK_VERSION=\([^ ]*\).*/\1/p' "$ROOT/scripts/install.sh")"
FLINK_CACHE="${AIFLOW_FLINK_CACHE:-/var/cache/aiflow/flink-$FLINK_VERSION}"

mkdir -p "$SVC"

log() { echo "$*" >&2; }

# A python for the small helpers (free port, HTTP/2 probe): any python3 will do.
PY="$(command -v python3 || true)"
[[ -n "$PY" ]] || PY="$ROOT/.venv/bin/python"

# free_port: a port the kernel considers free right now on 127.0.0.1.
free_port() {
  "$PY" -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1]); s.close()' "$HOST"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# pid_alive PID [PATTERN]: process exists (and its command line contains PATTERN).
pid_alive() {
  local pid="$1" pat="${2:-}" cmd
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ -z "$pat" ]] && return 0
  # No `| grep -q` here: with pipefail, grep quitting early makes tr die of SIGPIPE on
  # long command lines (Spark's classpath) and the check fails at random.
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *"$pat"* ]]
}

# wait_for SECONDS PID CHECK...: poll CHECK every 0.5 s until it succeeds; fail early
# when the process died. (Plain kill -0, no command-line check: right after the fork the
# child still shows our own command line until it execs.)
wait_for() {
  local secs="$1" pid="$2"; shift 2
  local deadline=$(( SECONDS + secs ))
  while (( SECONDS < deadline )); do
    if "$@"; then return 0; fi
    if ! pid_alive "$pid"; then log "process $pid exited"; return 1; fi
    sleep 0.5
  done
  log "timed out after ${secs}s"
  return 1
}

# spawn DIR CMD...: run CMD detached (own session, so `down` can stop its whole process
# group and nothing else), stdio to DIR/log so no caller's pipe is held open.
spawn() {
  local dir="$1"; shift
  setsid "$@" </dev/null >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
}

# stop_pid DIR PATTERN [GRACE]: TERM the process group started by spawn, KILL after GRACE s.
# Only when the pid still runs a command line containing PATTERN (no stray kills on pid reuse).
stop_pid() {
  local dir="$1" pat="$2" grace="${3:-30}" pid i
  pid="$(cat "$dir/pid" 2>/dev/null || true)"
  if pid_alive "$pid" "$pat"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < grace * 2; i++ )); do
      pid_alive "$pid" "$pat" || break
      sleep 0.5
    done
    if pid_alive "$pid" "$pat"; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/pid"
}

# fresh_dir NAME: an empty state dir for a cold start.
fresh_dir() {
  local dir="$SVC/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "$dir"
}

# write_env NAME LINES...: the component's export lines, merged into .services/env.
write_env() {
  local name="$1"; shift
  printf 'export %s\n' "$@" >"$SVC/$name/env"
}

rebuild_env() {
  local c tmp="$SVC/env.tmp.$$"
  {
    echo "# generated by scripts/services.sh; use: source .services/env"
    for c in "${ALL_COMPONENTS[@]}"; do
      [[ -f "$SVC/$c/env" ]] && cat "$SVC/$c/env"
    done
  } >"$tmp"
  mv "$tmp" "$SVC/env"
}

fail_with_log() {
  local name="$1" dir="$SVC/$1"
  echo "service $name: FAILED to start; last lines of $dir/log:"
  tail -n 40 "$dir/log" 2>/dev/null | sed 's/^/    /' || true
}

up_line() { echo "service $1: up on $HOST:$2 ($3)"; }

# ---- postgres ----------------------------------------------------------------
pg_bindir() {
  local d
  if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return 0; fi
  for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }; done
  log "postgres: no initdb found (run scripts/install.sh postgres)"; return 1
}

# PostgreSQL refuses to run as root: run it as the `postgres` OS user (or a dedicated
# unprivileged user when that does not exist).
pg_user() {
  if (( EUID != 0 )); then id -un; return; fi
  if id postgres >/dev/null 2>&1; then echo postgres; return; fi
  id aiflow-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin aiflow-pg
  echo aiflow-pg
}
as_pg() {
  # cd /: the postgres user may not be allowed to read the caller's working directory.
  if (( EUID == 0 )); then (cd / && runuser -u "$(pg_user)" -- "$@"); else "$@"; fi
}

pg_datadir() { cat "$SVC/postgres/datadir" 2>/dev/null || true; }

running_postgres() {
  local d; d="$(pg_datadir)"
  [[ -n "$d" && -f "$SVC/postgres/port" ]] || return 1
  pid_alive "$(head -1 "$d/postmaster.pid" 2>/dev/null)" postgres && port_open "$(cat "$SVC/postgres/port")"
}

up_postgres() {
  local bin dir base data pglog port user sock
  bin="$(pg_bindir)" || return 1
  down_postgres
  dir="$(fresh_dir postgres)"
  user="$(pg_user)" || return 1
  base="$dir"
  # The repo may sit under a folder the postgres user cannot enter (e.g. /root): then keep
  # the cluster and its server log in a private /tmp dir (removed by `down`), and link the
  # log into the state dir.
  if (( EUID == 0 )) && ! { chown "$user" "$dir" && as_pg test -w "$dir"; } 2>/dev/null; then
    base="$(mktemp -d /tmp/aiflow-pg.XXXXXX)"
    chown "$user" "$base"
  fi
  data="$base/data"
  pglog="$base/log"
  mkdir -p "$data"
  : >"$pglog"
  (( EUID == 0 )) && chown "$user" "$data" "$pglog"
  [[ "$base" != "$dir" ]] && ln -sfn "$pglog" "$dir/log"
  echo "$data" >"$dir/datadir"
  port="$(free_port)" || return 1
  echo "$port" >"$dir/port"
  as_pg "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 --no-locale >>"$pglog" 2>&1 || return 1
  # Listening on another address than loopback (the pods of scripts/k8s.sh connect from their
  # own addresses, all inside the cluster's network namespace): let them in.
  [[ $HOST == 127.0.0.1 ]] || echo "host all all 0.0.0.0/0 trust" >>"$data/pg_hba.conf"
  # Unix socket in the data dir unless its path would be too long for sun_path (107 bytes).
  sock="$data"; (( ${#data} > 80 )) && sock=""
  # fsync=off: throwaway test cluster, durability is not needed and CI disks are slow.
  # AIFLOW_PG_OPTIONS: more server settings (-c name=value ...), e.g. bench/scale/mdsim.sh's bulk
  # load settings for its own cluster.
  as_pg "$bin/pg_ctl" -D "$data" -l "$pglog" -w -t 60 \
    -o "-p $port -k '$sock' -c listen_addresses=$HOST -c fsync=off -c max_connections=200 ${AIFLOW_PG_OPTIONS:-}" \
    start >/dev/null 2>&1 || return 1
  head -1 "$data/postmaster.pid" >"$dir/pid"
  "$bin/pg_isready" -q -h $HOST -p "$port" -t 30 || return 1
  write_env postgres "AIFLOW_TEST_PG_DSN='postgres://postgres@$HOST:$port/postgres?sslmode=disable'"
}

down_postgres() {
  local d; d="$(pg_datadir)"
  if [[ -n "$d" && -f "$d/postmaster.pid" ]]; then
    as_pg "$(pg_bindir)/pg_ctl" -D "$d" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
  stop_pid "$SVC/postgres" postgres 5
  # A /tmp fallback cluster is ours alone; remove it with the state dir.
  if [[ "$d" == /tmp/aiflow-pg.*/data ]]; then rm -rf "$(dirname "$d")"; fi
  rm -f "$SVC/postgres/env"
}

# ---- versitygw (S3) ------------------------------------------------------------
running_versitygw() {
  [[ -f "$SVC/versitygw/port" ]] && pid_alive "$(cat "$SVC/versitygw/pid" 2>/dev/null)" versitygw \
    && port_open "$(cat "$SVC/versitygw/port")"
}

s3_answers() { curl -s -o /dev/null "http://$HOST:$1/"; }

up_versitygw() {
  local bin="$ROOT/.tools/bin/versitygw" dir port meta=()
  [[ -x "$bin" ]] || { log "versitygw: $bin missing (run scripts/install.sh versitygw)"; return 1; }
  down_versitygw
  dir="$(fresh_dir versitygw)"
  mkdir -p "$dir/data"
  # The posix backend keeps object metadata in xattrs; on a filesystem without user
  # xattrs, use a sidecar directory instead.
  if ! "$PY" -c 'import os,sys; p=sys.argv[1]+"/.x"; open(p,"w").close(); os.setxattr(p,"user.t",b"1"); os.remove(p)' "$dir" 2>/dev/null; then
    mkdir -p "$dir/meta"; meta=(--sidecar "$dir/meta")
  fi
  port="$(free_port)"
  echo "$port" >"$dir/port"
  ROOT_ACCESS_KEY="$S3_ACCESS_KEY" ROOT_SECRET_KEY="$S3_SECRET_KEY" \
    spawn "$dir" "$bin" --port "$HOST:$port" --quiet posix "${meta[@]}" "$dir/data"
  wait_for 30 "$(cat "$dir/pid")" s3_answers "$port" || return 1
  write_env versitygw \
    "AIFLOW_TEST_S3_ENDPOINT=http://$HOST:$port" \
    "AIFLOW_TEST_S3_ACCESS_KEY=$S3_ACCESS_KEY" \
    "AIFLOW_TEST_S3_SECRET_KEY=$S3_SECRET_KEY" \
    "AIFLOW_TEST_S3_REGION=us-east-1"
}

down_versitygw() { stop_pid "$SVC/versitygw" versitygw 10; rm -f "$SVC/versitygw/env"; }

# ---- kafka -------------------------------------------------------------------------
# .services/kafka holds server.properties, log4j2.properties, start.sh and stop.sh, so a
# test can restart the broker (same ports, same data) through $AIFLOW_TEST_KAFKA_HOME.
running_kafka() {
  [[ -f "$SVC/kafka/port" ]] && pid_alive "$(cat "$SVC/kafka/pid" 2>/dev/null)" kafka.Kafka \
    && port_open "$(cat "$SVC/kafka/port")"
}

up_kafka() {
  local libs="$ROOT/.tools/kafka-$KAFKA_VERSION/libs" dir port cport cluster_id
  [[ -d "$libs" ]] || { log "kafka: $libs missing (run scripts/install.sh kafka)"; return 1; }
  down_kafka
  dir="$(fresh_dir kafka)"
  port="$(free_port)"; cport="$(free_port)"
  while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
  echo "$port" >"$dir/port"
  cat >"$dir/server.properties" <<EOF
# KRaft single node: broker and controller in one JVM.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://$HOST:$port,CONTROLLER://$HOST:$cport
advertised.listeners=PLAINTEXT://$HOST:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
# Dynamic quorum (KIP-853): formatted with --standalone below.
controller.quorum.bootstrap.servers=$HOST:$cport
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
  cat >"$dir/log4j2.properties" <<'EOF'
# Everything to stdout, which start.sh appends to the log file.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
  cat >"$dir/start.sh" <<EOF
#!/usr/bin/env bash
# Starts this broker in the background and waits until it serves requests (120 s max).
set -euo pipefail
cd "$dir"
pid=\$(cat pid 2>/dev/null || true)
if [[ -n "\$pid" ]] && kill -0 "\$pid" 2>/dev/null; then echo "kafka already running (pid \$pid)"; exit 0; fi
start_line=\$(( \$(wc -l <log 2>/dev/null || echo 0) + 1 ))
setsid java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \\
  -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dkafka.logs.dir="$dir" \\
  -cp "$libs/*" kafka.Kafka "$dir/server.properties" </dev/null >>log 2>&1 &
echo \$! >pid
for _ in \$(seq 240); do
  # Ready once the listener accepts and the server logged that it finished starting.
  if (exec 3<>/dev/tcp/$HOST/$port) 2>/dev/null && tail -n +\$start_line log | grep -q 'Kafka Server started'; then exit 0; fi
  kill -0 "\$(cat pid)" 2>/dev/null || { echo "kafka exited; see $dir/log" >&2; exit 1; }
  sleep 0.5
done
echo "kafka did not start within 120s; see $dir/log" >&2
exit 1
EOF
  cat >"$dir/stop.sh" <<EOF
#!/usr/bin/env bash
# Stops this broker (TERM = controlled shutdown, KILL after 30 s).
cd "$dir"
pid=\$(cat pid 2>/dev/null || true)
alive() { [[ -n "\$pid" ]] && [[ "\$(tr '\\0' ' ' <"/proc/\$pid/cmdline" 2>/dev/null)" == *kafka.Kafka* ]]; }
if alive; then
  kill -TERM "\$pid"
  for _ in \$(seq 60); do alive || break; sleep 0.5; done
  alive && kill -KILL "\$pid"
  for _ in \$(seq 20); do alive || break; sleep 0.25; done
fi
rm -f pid
EOF
  chmod +x "$dir/start.sh" "$dir/stop.sh"
  # Cluster id: 16 random bytes, base64url without padding (what `random-uuid` prints).
  cluster_id="$("$PY" -c 'import base64,uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
  java -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$libs/*" kafka.tools.StorageTool \
    format -t "$cluster_id" -c "$dir/server.properties" --standalone >>"$dir/log" 2>&1 || return 1
  "$dir/start.sh" >>"$dir/log" 2>&1 || return 1
  write_env kafka "AIFLOW_TEST_KAFKA_BROKERS=$HOST:$port" "AIFLOW_TEST_KAFKA_HOME=$dir"
}

down_kafka() {
  [[ -x "$SVC/kafka/stop.sh" ]] && "$SVC/kafka/stop.sh" >/dev/null 2>&1
  stop_pid "$SVC/kafka" kafka.Kafka 5
  rm -f "$SVC/kafka/env"
}

# ---- spark connect --------------------------------------------------------------------
running_spark() {
  [[ -f "$SVC/spark/port" ]] && pid_alive "$(cat "$SVC/spark/pid" 2>/dev/null)" SparkConnectServer \
    && port_open "$(cat "$SVC/spark/port")"
}

# h2_answers PORT: the port speaks HTTP/2 (gRPC): after the client preface and an empty
# SETTINGS frame the server must answer with a SETTINGS frame (type 4). A plain open port
# is not enough: Spark opens it before the service is bound.
h2_answers() {
  "$PY" - "$1" "$HOST" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection((sys.argv[2], int(sys.argv[1])), timeout=5)
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
hdr = b""
while len(hdr) < 9:
    chunk = s.recv(9 - len(hdr))
    if not chunk:
        sys.exit(1)
    hdr += chunk
sys.exit(0 if hdr[3] == 4 else 1)
EOF
}

spark_ready() { port_open "$1" && grep -q 'Spark Connect server started' "$2/log" && h2_answers "$1"; }

up_spark() {
  local venv="$ROOT/.venv-spark" spark_home dir port jar extra=() jars=()
  [[ -x "$venv/bin/python" ]] || { log "spark: $venv missing (run scripts/install.sh spark)"; return 1; }
  spark_home="$("$venv/bin/python" -c 'import os,pyspark; print(os.path.dirname(pyspark.__file__))')" || return 1
  down_spark
  dir="$(fresh_dir spark)"
  mkdir -p "$dir/warehouse" "$dir/derby" "$dir/tmp"
  port="$(free_port)"
  echo "$port" >"$dir/port"
  # Extra jars (e.g. Delta Lake from scripts/install-delta.sh) go on the server classpath;
  # with Delta present, make it the session catalog.
  for jar in "$ROOT"/.tools/spark-extra-jars/*.jar; do [[ -f "$jar" ]] && jars+=("$jar"); done
  # AIFLOW_SERVICES_SPARK_CONF: more key=value settings, space-separated (scripts/k8s.sh: the
  # umask of the files the server writes into a folder the runner pods share with it).
  local conf
  for conf in ${AIFLOW_SERVICES_SPARK_CONF:-}; do extra+=(--conf "$conf"); done
  if (( ${#jars[@]} )); then
    extra+=(--jars "$(IFS=,; echo "${jars[*]}")")
    if [[ " ${jars[*]##*/} " == *" delta-spark_"* ]]; then
      extra+=(--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
              --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog)
    fi
  fi
  # UI off (it would grab 4040+), everything bound to loopback, all scratch under $dir. The
  # catalog is a Hive metastore on embedded Derby under $dir/derby (like a production metastore,
  # tables survive a restart of the server; a cold `up` still starts from a fresh $dir).
  SPARK_HOME="$spark_home" SPARK_LOCAL_IP=$HOST SPARK_LOG_DIR="$dir" \
  PYSPARK_PYTHON="$venv/bin/python" \
    spawn "$dir" "$spark_home/bin/spark-submit" \
      --class org.apache.spark.sql.connect.service.SparkConnectServer \
      --name aiflow-test-spark-connect \
      --master 'local[2]' \
      --driver-memory 2g \
      --driver-java-options "-Dderby.system.home=$dir/derby -Djava.io.tmpdir=$dir/tmp" \
      --conf spark.connect.grpc.binding.address=$HOST \
      --conf "spark.connect.grpc.binding.port=$port" \
      --conf spark.driver.host=$HOST \
      --conf spark.driver.bindAddress=$HOST \
      --conf spark.ui.enabled=false \
      --conf "spark.sql.warehouse.dir=$dir/warehouse" \
      --conf spark.sql.catalogImplementation=hive \
      --conf "spark.local.dir=$dir/tmp" \
      --conf spark.sql.shuffle.partitions=4 \
      "${extra[@]}" \
      spark-internal
  # Usually 5-20 s; allow 180 s for a machine busy compiling in parallel.
  wait_for 180 "$(cat "$dir/pid")" spark_ready "$port" "$dir" || return 1
  write_env spark "AIFLOW_TEST_SPARK_REMOTE=sc://$HOST:$port"
}

down_spark() { stop_pid "$SVC/spark" SparkConnectServer 30; rm -f "$SVC/spark/env"; }

# ---- flink ------------------------------------------------------------------------------
# A session cluster: one JobManager, one TaskManager (2 slots, 1.25 GiB), and the SQL Gateway
# the flink engine talks to, all on loopback. No Flink shell scripts (the PyPI distribution has
# none): the JVMs are sized by Flink's own BashJavaUtils from config.yaml, as bin/*.sh would.
# .services/flink holds conf/, start-taskmanager.sh and stop-taskmanager.sh (a test kills and
# restarts the TaskManager through $AIFLOW_TEST_FLINK_HOME), checkpoints/ and savepoints/.
running_flink() {
  local d="$SVC/flink"
  [[ -f "$d/port" ]] && pid_alive "$(cat "$d/pid" 2>/dev/null)" StandaloneSessionClusterEntrypoint \
    && pid_alive "$(cat "$d/gateway.pid" 2>/dev/null)" SqlGateway \
    && port_open "$(cat "$d/port")" && port_open "$(cat "$d/gateway.port")"
}

# flink_ready REST GATEWAY: a TaskManager registered with the JobManager and the gateway answers.
flink_ready() {
  curl -sf "http://$HOST:$1/taskmanagers" 2>/dev/null | grep -q '"id"' \
    && curl -sf -o /dev/null "http://$HOST:$2/v1/info"
}

up_flink() {
  local home="$FLINK_CACHE" dir rest gw jm_rpc blob tm_rpc tm_data p jm=() tm=() pids
  [[ -f "$home/lib/flink-dist-$FLINK_VERSION.jar" ]] || { log "flink: $home missing (run scripts/install.sh flink)"; return 1; }
  down_flink
  dir="$(fresh_dir flink)"
  mkdir -p "$dir/conf" "$dir/checkpoints" "$dir/savepoints" "$dir/tmp" "$dir/web"
  rest="$(free_port)"
  # Distinct ports for every listener (free_port may hand out the same port twice in a row).
  local used=" $rest "
  for v in gw jm_rpc blob tm_rpc tm_data; do
    p="$(free_port)"; while [[ "$used" == *" $p "* ]]; do p="$(free_port)"; done
    used+="$p "; printf -v "$v" '%s' "$p"
  done
  echo "$rest" >"$dir/port"
  echo "$gw" >"$dir/gateway.port"
  cat >"$dir/conf/config.yaml" <<EOF
jobmanager:
  rpc: {address: $HOST, port: $jm_rpc}
  bind-host: $HOST
  memory: {process: {size: 768m}}
taskmanager:
  host: $HOST
  bind-host: $HOST
  rpc: {port: $tm_rpc}
  data: {port: $tm_data}
  numberOfTaskSlots: 2
  memory:
    process: {size: 1280m}
    managed: {fraction: 0.25}
rest: {address: $HOST, bind-address: $HOST, port: $rest}
blob: {server: {port: $blob}}
parallelism: {default: 1}
# A lost TaskManager is noticed within 20 s (default 50 s), and the job restarts from its
# last checkpoint.
heartbeat: {interval: 2000, timeout: 20000}
io: {tmp: {dirs: $dir/tmp}}
web: {tmpdir: $dir/web}
execution:
  checkpointing:
    dir: file://$dir/checkpoints
    savepoint-dir: file://$dir/savepoints
  target: remote
sql-gateway:
  endpoint:
    rest: {address: $HOST, bind-address: $HOST, port: $gw}
EOF
  cat >"$dir/conf/log4j.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{HH:mm:ss,SSS} %-5p %c{1} - %m%n
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
EOF
  # BashJavaUtils prints the JVM options and the derived memory settings (-D ...) on two lines.
  local bju=(java -cp "$home/bin/bash-java-utils.jar:$home/lib/*" org.apache.flink.runtime.util.bash.BashJavaUtils)
  mapfile -t jm < <("${bju[@]}" GET_JM_RESOURCE_PARAMS --configDir "$dir/conf" 2>>"$dir/log" | sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p')
  mapfile -t tm < <("${bju[@]}" GET_TM_RESOURCE_PARAMS --configDir "$dir/conf" 2>>"$dir/log" | sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p')
  (( ${#jm[@]} == 2 && ${#tm[@]} == 2 )) || { log "flink: BashJavaUtils gave no JVM settings"; return 1; }
  local common="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Djava.io.tmpdir=$dir/tmp -Dlog4j.configurationFile=$dir/conf/log4j.properties"
  cat >"$dir/start-taskmanager.sh" <<EOF
#!/usr/bin/env bash
# Starts this cluster's TaskManager in the background (a test restarts it after killing it).
cd "$dir"
pid=\$(cat taskmanager.pid 2>/dev/null || true)
if [[ -n "\$pid" ]] && kill -0 "\$pid" 2>/dev/null; then echo "taskmanager already running (pid \$pid)"; exit 0; fi
setsid java ${tm[0]} $common -cp "$home/lib/*" org.apache.flink.runtime.taskexecutor.TaskManagerRunner \\
  --configDir "$dir/conf" ${tm[1]} </dev/null >>taskmanager.log 2>&1 &
echo \$! >taskmanager.pid
EOF
  cat >"$dir/stop-taskmanager.sh" <<EOF
#!/usr/bin/env bash
# Kills this cluster's TaskManager at once (SIGKILL: a lost machine, not a clean shutdown).
cd "$dir"
pid=\$(cat taskmanager.pid 2>/dev/null || true)
if [[ -n "\$pid" ]] && [[ "\$(tr '\\0' ' ' <"/proc/\$pid/cmdline" 2>/dev/null)" == *TaskManagerRunner* ]]; then
  kill -KILL "\$pid"
  for _ in \$(seq 40); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.25; done
fi
rm -f taskmanager.pid
EOF
  chmod +x "$dir/start-taskmanager.sh" "$dir/stop-taskmanager.sh"
  # shellcheck disable=SC2086
  setsid java ${jm[0]} $common -cp "$home/lib/*" org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
    --configDir "$dir/conf" ${jm[1]} </dev/null >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  "$dir/start-taskmanager.sh" >>"$dir/log" 2>&1 || return 1
  # shellcheck disable=SC2086
  FLINK_CONF_DIR="$dir/conf" setsid java -Xmx384m $common \
    -cp "$home/lib/*:$home/opt/flink-sql-gateway-$FLINK_VERSION.jar" org.apache.flink.table.gateway.SqlGateway \
    </dev/null >>"$dir/gateway.log" 2>&1 &
  echo $! >"$dir/gateway.pid"
  # Usually 15-40 s; allow 240 s on a machine busy with other JVMs.
  wait_for 240 "$(cat "$dir/pid")" flink_ready "$rest" "$gw" || return 1
  write_env flink "AIFLOW_TEST_FLINK_REST=http://$HOST:$rest" "AIFLOW_TEST_FLINK_GATEWAY=http://$HOST:$gw" \
    "AIFLOW_TEST_FLINK_HOME=$dir"
}

down_flink() {
  local d="$SVC/flink"
  stop_flink_pid "$d" gateway.pid SqlGateway
  stop_flink_pid "$d" taskmanager.pid TaskManagerRunner
  stop_pid "$d" StandaloneSessionClusterEntrypoint 20
  rm -f "$d/env"
}

# stop_flink_pid DIR PIDFILE PATTERN: like stop_pid for the cluster's other processes.
stop_flink_pid() {
  local d="$1" f="$2" pat="$3" pid i
  pid="$(cat "$d/$f" 2>/dev/null || true)"
  if pid_alive "$pid" "$pat"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 40; i++ )); do pid_alive "$pid" "$pat" || break; sleep 0.5; done
    pid_alive "$pid" "$pat" && { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$d/$f"
}

# ---- pushgateway -----------------------------------------------------------------------
running_pushgateway() {
  [[ -f "$SVC/pushgateway/port" ]] && pid_alive "$(cat "$SVC/pushgateway/pid" 2>/dev/null)" pushgateway \
    && port_open "$(cat "$SVC/pushgateway/port")"
}

pushgateway_ready() { curl -sf -o /dev/null "http://$HOST:$1/-/ready"; }

up_pushgateway() {
  local bin=/usr/bin/prometheus-pushgateway dir port
  [[ -x "$bin" ]] || bin="$(command -v prometheus-pushgateway || true)"
  [[ -x "$bin" ]] || { log "pushgateway: not installed (run scripts/install.sh pushgateway)"; return 1; }
  down_pushgateway
  dir="$(fresh_dir pushgateway)"
  port="$(free_port)"
  echo "$port" >"$dir/port"
  # Debian's build persists to /var/lib/prometheus/pushgateway.data by default, which every
  # instance on the machine would share: keep metrics in memory only.
  spawn "$dir" "$bin" --web.listen-address="$HOST:$port" --persistence.file=""
  wait_for 30 "$(cat "$dir/pid")" pushgateway_ready "$port" || return 1
  write_env pushgateway "AIFLOW_TEST_PUSHGATEWAY_URL=http://$HOST:$port"
}

down_pushgateway() { stop_pid "$SVC/pushgateway" pushgateway 10; rm -f "$SVC/pushgateway/env"; }

# ---- venv paths (no daemons) ---------------------------------------------------------------
running_airflow() { [[ -f "$SVC/airflow/env" && -x "$ROOT/.venv-airflow/bin/python" ]]; }
up_airflow() {
  [[ -x "$ROOT/.venv-airflow/bin/python" ]] || { log "airflow: .venv-airflow missing (run scripts/install.sh airflow)"; return 1; }
  mkdir -p "$SVC/airflow"
  write_env airflow "AIFLOW_TEST_AIRFLOW_PYTHON=$ROOT/.venv-airflow/bin/python"
}
down_airflow() { rm -f "$SVC/airflow/env"; }

running_python() { [[ -f "$SVC/python/env" && -x "$ROOT/.venv/bin/python" ]]; }
up_python() {
  [[ -x "$ROOT/.venv/bin/python" ]] || { log "python: .venv missing (run scripts/install.sh python)"; return 1; }
  mkdir -p "$SVC/python"
  write_env python "AIFLOW_TEST_PYTHON=$ROOT/.venv/bin/python"
}
down_python() { rm -f "$SVC/python/env"; }

# ---- commands ---------------------------------------------------------------------------
port_of() { cat "$SVC/$1/port" 2>/dev/null || echo -; }

up_one() {
  local name="$1" start=$SECONDS
  if "running_$name"; then
    case "$name" in
      airflow|python) echo "service $name: ok (already set)";;
      *) up_line "$name" "$(port_of "$name")" "already running";;
    esac
    return 0
  fi
  mkdir -p "$SVC/$name"
  # 9>&-: the daemons must not inherit the lock fd (they would hold the lock forever).
  # up_<name> runs in an `if`, where errexit is off: each step checks itself (|| return 1).
  if ! "up_$name" 9>&- >"$SVC/.up-$name.err" 2>&1; then
    mkdir -p "$SVC/$name"
    cat "$SVC/.up-$name.err" >>"$SVC/$name/log" 2>/dev/null || true
    rm -f "$SVC/.up-$name.err"
    fail_with_log "$name"
    # Stop what may have started (a half-up service must not linger); state stays for a look.
    "down_$name" >/dev/null 2>&1 9>&- || true
    return 1
  fi
  rm -f "$SVC/.up-$name.err"
  case "$name" in
    airflow|python) echo "service $name: ok (path exported)";;
    *) up_line "$name" "$(port_of "$name")" "$(( SECONDS - start ))s";;
  esac
}

cmd_up() {
  local comps=("$@") c rc=0 pid done_pid
  declare -A names=()
  for c in "${START_ORDER[@]}"; do
    [[ " ${comps[*]} " == *" $c "* ]] || continue
    up_one "$c" >"$SVC/.up-$c.out" 2>&1 &
    names[$!]="$c"
  done
  # Report each service as soon as it is up (bash >= 5.1 for wait -n -p).
  while (( ${#names[@]} )); do
    done_pid=""
    if wait -n -p done_pid "${!names[@]}"; then :; else rc=1; fi
    [[ -n "$done_pid" ]] || break
    cat "$SVC/.up-${names[$done_pid]}.out"
    rm -f "$SVC/.up-${names[$done_pid]}.out"
    unset "names[$done_pid]"
  done
  rebuild_env
  if (( rc )); then log "services.sh up: some services failed (see above)"; fi
  return $rc
}

cmd_down() {
  local c
  for c in "$@"; do
    "down_$c" || true
    echo "service $c: down"
  done
  rebuild_env
}

cmd_status() {
  local c rc=0
  for c in "$@"; do
    if "running_$c"; then
      case "$c" in
        airflow|python) echo "service $c: ok ($(sed 's/^export //' "$SVC/$c/env"))";;
        *) echo "service $c: up on $HOST:$(port_of "$c") (pid $(cat "$SVC/$c/pid" 2>/dev/null))";;
      esac
    else
      echo "service $c: down"; rc=3
    fi
  done
  return $rc
}

main() {
  local cmd="${1:-}"; shift || true
  local comps=() c
  for c in "$@"; do
    [[ "$c" == s3 ]] && c=versitygw
    declare -F "up_$c" >/dev/null || { log "unknown component: $c (known: ${ALL_COMPONENTS[*]})"; exit 2; }
    comps+=("$c")
  done
  (( ${#comps[@]} )) || comps=("${ALL_COMPONENTS[@]}")
  # One services.sh at a time per checkout (parallel `up`s would race on the state dirs).
  exec 9>"$SVC/.lock"
  flock 9
  case "$cmd" in
    up) cmd_up "${comps[@]}";;
    down) cmd_down "${comps[@]}";;
    status) cmd_status "${comps[@]}";;
    *) log "usage: $0 up|down|status [${ALL_COMPONENTS[*]}]"; exit 2;;
  esac
}

main "$@"
