#!/usr/bin/env bash
# A spark node's runner overhead vs the same SQL from a PySpark Spark Connect client.
#
#   source .services/env && bench/spark/run.sh [RUNS]
#   BASELINE_RUNNER=/tmp/old-runner bench/spark/run.sh 5   # also time another build, interleaved
#
# Both sides run the example's enrich_orders SQL over raw.sales_orders (dt = 2024-01-02, created
# by examples/user_features/sampledata) on the test server and let Spark write the result as
# Parquet. "runner" is the whole `aiflow-runner run --node enrich_orders` process: start, IR load,
# SQLite ledger, session connect and settings, input registration and row count, SQL, staged write,
# Parquet footers, manifest, commit. "pyspark" is session create + sql + write + stop inside an
# already started Python (interpreter start and `import pyspark` excluded: shown once as
# "pyspark-process"). The difference is what aiflow adds around the same Spark work.
#
# On a loaded machine wall times are mostly waiting for a core, so the runner's own share is
# also measured inside the process: "runner-in-spark" is the wall time with a Spark Connect call
# in flight (the runner's "spark calls" log line), "runner-own" the rest of the process's wall
# time (start, IR, ledger, connect, footers, manifest, commit), "runner-cpu" the process's
# user+system CPU time, "runner-execute-plan" the ExecutePlan calls (queries, commands, jobs).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
remote=${AIFLOW_TEST_SPARK_REMOTE:?source .services/env first (scripts/services.sh up spark)}
py=$PWD/.venv-spark/bin/python
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
go build -o "$work/aiflow-runner" ./cmd/aiflow-runner
# A Spark catalog table (the Delta default is a path table, not raw.sales_orders in the catalog).
AIFLOW_SPARK_REMOTE=$remote go run ./examples/user_features/sampledata --format parquet >/dev/null
cat > "$work/bench.yaml" <<'YAML'
api_version: aiflow/v1
pipeline: {id: spark_bench, owner: bench, env: dev}
nodes:
  - id: orders_onelake
    source: onelake
    with: {table: raw.sales_orders, format: parquet, partitions: {dt: "{{ ds }}"}}
  - id: enrich_orders
    transform: spark
    inputs: [orders_onelake]
    with:
      sql: >-
        SELECT user_id, dt, count(*) AS order_cnt_30d, sum(amount) AS order_amt_30d
        FROM orders_onelake GROUP BY user_id, dt
YAML
cd "$work"
export AIFLOW_SPARK_REMOTE=$remote AIFLOW_LOG_LEVEL=warn AIFLOW_LOG_FORMAT=text
# One warm-up each (JIT, first query planning on the server).
./aiflow-runner run --pipeline spark_bench --all --ir bench.yaml --run-id warm --logical-date 2024-01-02 >/dev/null 2>&1
"$py" "$OLDPWD/bench/spark/pyspark_connect.py" "$remote" "$work/py" 1 >/dev/null
{
  for i in $(seq 1 "$runs"); do
    ./aiflow-runner run --pipeline spark_bench --node orders_onelake --ir bench.yaml --run-id "r$i" --logical-date 2024-01-02 >/dev/null
    s=$(date +%s%N)
    AIFLOW_LOG_LEVEL=info AIFLOW_LOG_FORMAT=json /usr/bin/time -f '%U %S' -o cpu.txt \
      ./aiflow-runner run --pipeline spark_bench --node enrich_orders --ir bench.yaml --run-id "r$i" --logical-date 2024-01-02 >log.json 2>&1
    e=$(date +%s%N)
    wall=$(( (e - s) / 1000000 ))
    echo "runner $wall"
    echo "runner-cpu $(awk '{printf "%d", ($1 + $2) * 1000}' cpu.txt)"
    calls=$(grep '"spark calls"' log.json)
    in_spark=$(sed -E 's/.*"in_spark_ms":([0-9]+).*/\1/' <<<"$calls")
    echo "runner-in-spark $in_spark"
    echo "runner-own $(( wall - in_spark ))"
    echo "runner-execute-plan $(sed -E 's/.*"execute_plan":([0-9]+).*/\1/' <<<"$calls")"
    if [[ -n ${BASELINE_RUNNER:-} ]]; then
      "$BASELINE_RUNNER" run --pipeline spark_bench --node orders_onelake --ir bench.yaml --run-id "b$i" --logical-date 2024-01-02 >/dev/null
      s=$(date +%s%N)
      /usr/bin/time -f '%U %S' -o cpu.txt \
        "$BASELINE_RUNNER" run --pipeline spark_bench --node enrich_orders --ir bench.yaml --run-id "b$i" --logical-date 2024-01-02 >/dev/null
      e=$(date +%s%N)
      echo "baseline $(( (e - s) / 1000000 ))"
      echo "baseline-cpu $(awk '{printf "%d", ($1 + $2) * 1000}' cpu.txt)"
    fi
    "$py" "$OLDPWD/bench/spark/pyspark_connect.py" "$remote" "$work/py" 1
  done
  s=$(date +%s%N)
  "$py" "$OLDPWD/bench/spark/pyspark_connect.py" "$remote" "$work/py" 1 >/dev/null
  e=$(date +%s%N)
  echo "pyspark-process $(( (e - s) / 1000000 ))"
} | awk '{t[$1]=t[$1] " " $2} END {for (k in t) print k ":" t[k] " ms"}' | sort
echo "(each line: wall ms per run, rounds interleaved; runner = whole aiflow-runner process for the spark node; baseline = the same with BASELINE_RUNNER; pyspark = session+sql+write+stop in a running interpreter; pyspark-process = one whole python process)"
