#!/usr/bin/env bash
# A PySpark entrypoint node (the seed's etl_jobs.enrich_orders:main as a spark transform) vs the
# same function called from a plain PySpark Spark Connect client script.
#
#   source .services/env && bench/pyspark/run.sh [RUNS]
#
# Both are whole processes started cold, as a pod or a cron job would be, over the same data
# (raw.sales_orders, dt = 2024-01-02, from examples/user_features/sampledata), both with the
# interpreter of .venv (pyspark-client), both letting Spark write the result as Parquet.
# "runner" is `aiflow-runner run --node enrich_orders`: IR load, SQLite ledger, Go session
# connect + probe, input temp view + row count, the Python subprocess (interpreter start,
# `import pyspark`, joining the session, main), staging written by Spark, Parquet footers,
# manifest, commit. "plain" is `python plain_client.py`: interpreter start, imports, session,
# read, main, write, stop. The difference is what aiflow adds around the same Spark work.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
remote=${AIFLOW_TEST_SPARK_REMOTE:?source .services/env first (scripts/services.sh up spark)}
py=${AIFLOW_TEST_PYTHON:-$PWD/.venv/bin/python}
example=$PWD/examples/user_features
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
go build -o "$work/aiflow-runner" ./cmd/aiflow-runner
AIFLOW_SPARK_REMOTE=$remote go run ./examples/user_features/sampledata >/dev/null
cat > "$work/bench.yaml" <<'YAML'
api_version: aiflow/v1
pipeline: {id: pyspark_bench, owner: bench, env: dev}
nodes:
  - id: orders_onelake
    source: onelake
    with: {table: raw.sales_orders, format: parquet, partitions: {dt: "{{ ds }}"}}
  - id: enrich_orders
    transform: spark
    inputs: [orders_onelake]
    with: {entrypoint: "etl_jobs.enrich_orders:main"}
YAML
cd "$work"
export AIFLOW_SPARK_REMOTE=$remote AIFLOW_PYTHON=$py AIFLOW_PYTHONPATH=$example AIFLOW_LOG_LEVEL=warn AIFLOW_LOG_FORMAT=text
ms() { echo $(( ($2 - $1) / 1000000 )); }
# One warm-up each (JIT, first query planning on the server, the OS page cache).
./aiflow-runner run --pipeline pyspark_bench --all --ir bench.yaml --run-id warm --logical-date 2024-01-02 >/dev/null 2>&1
PYTHONPATH=$example "$py" "$OLDPWD/bench/pyspark/plain_client.py" "$remote" "$work/plain" 2>/dev/null
{
  for i in $(seq 1 "$runs"); do
    ./aiflow-runner run --pipeline pyspark_bench --node orders_onelake --ir bench.yaml --run-id "r$i" --logical-date 2024-01-02 >/dev/null
    s=$(date +%s%N)
    ./aiflow-runner run --pipeline pyspark_bench --node enrich_orders --ir bench.yaml --run-id "r$i" --logical-date 2024-01-02 >/dev/null
    e=$(date +%s%N)
    echo "runner $(ms "$s" "$e")"
    s=$(date +%s%N)
    PYTHONPATH=$example "$py" "$OLDPWD/bench/pyspark/plain_client.py" "$remote" "$work/plain-$i" 2>/dev/null
    e=$(date +%s%N)
    echo "plain $(ms "$s" "$e")"
  done
} | awk '{t[$1]=t[$1] " " $2} END {for (k in t) print k ":" t[k] " ms"}' | sort
echo "(wall ms per run, whole processes; runner = aiflow-runner run --node enrich_orders with the PySpark entrypoint; plain = the same main() from a PySpark Connect client script)"
