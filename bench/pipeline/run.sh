#!/usr/bin/env bash
# Issue 4's figures, side by side in one run:
#  1. Parquet → filter + group-by → Parquet on ROWS (default 10M) orders: aiflow-runner run --all
#     (three nodes, metadata and staging included) vs pyarrow doing the same in one script.
#  2. Cold start: `run` of a trivial node (tiny CSV → CSV, SQLite, local staging), median of 30.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-10000000}
runner=$PWD/bin/aiflow-runner
py=${PYTHON:-$PWD/.venv/bin/python}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
"$runner" demo-data --out data/orders --rows "$ROWS" --users 1000000 >/dev/null
cat > p.yaml <<YAML
api_version: aiflow/v1
pipeline: {id: bench, owner: bench, env: dev}
nodes:
  - {id: orders, source: files, with: {path: data/orders/, format: parquet, columns: [user_id, amount, status]}}
  - id: agg
    transform: arrow
    inputs: [orders]
    with:
      steps:
        - filter: "status = 'paid' AND amount > 0"
        - group_by: {keys: [user_id], aggs: {n: "count(*)", amt: "sum(amount)", avg_amt: "avg(amount)"}}
  - {id: out, sink: files, inputs: [agg], with: {path: out/agg/}}
YAML
export AIFLOW_LOG_LEVEL=warn AIFLOW_LOG_FORMAT=text
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 1 2 3; do
  /usr/bin/time -f "aiflow   wall_s=%e peak_rss_mb=%M cpu_s=%U+%S" "$runner" run --pipeline bench --all --ir p.yaml --run-id "b$i" 2>&1 | grep -E "wall_s|agg " | sed 's/peak_rss_mb=\([0-9]*\)/peak_rss_kb=\1/'
  "$py" "$OLDPWD/bench/pipeline/pyarrow_pipeline.py" data/orders "pa-$i.parquet"
done

cat > copy.yaml <<YAML
api_version: aiflow/v1
pipeline: {id: copy, owner: bench, env: dev}
nodes:
  - {id: orders, source: files, with: {path: data/orders/, format: parquet}}
  - {id: out, sink: files, inputs: [orders], with: {path: out/copy/}}
YAML
"$runner" run --pipeline copy --node orders --ir copy.yaml --run-id c >/dev/null 2>&1
/usr/bin/time -f "copy     wall_s=%e peak_rss_kb=%M cpu_s=%U+%S (streaming Parquet -> Parquet sink of $ROWS rows)" \
  "$runner" run --pipeline copy --node out --ir copy.yaml --run-id c 2>&1 | grep wall_s

printf 'user_id,amount\n1,2.5\n2,3.5\n' > tiny.csv
cat > tiny.yaml <<YAML
api_version: aiflow/v1
pipeline: {id: tiny, owner: bench, env: dev}
nodes:
  - {id: src, source: files, with: {path: tiny.csv, format: csv}}
YAML
times=()
for i in $(seq 1 30); do
  s=$(date +%s%N); "$runner" run --pipeline tiny --node src --ir tiny.yaml --run-id "c$i" >/dev/null 2>&1; e=$(date +%s%N)
  times+=($(( (e - s) / 1000000 )))
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "cold start: run of a trivial node, median of " NR ": " a[int((NR+1)/2)] " ms (min " a[1] ", max " a[NR] ")"}'
times=()
for i in $(seq 1 30); do
  s=$(date +%s%N); "$runner" version >/dev/null; e=$(date +%s%N)
  times+=($(( (e - s) / 1000000 )))
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "cold start: version, median of " NR ": " a[int((NR+1)/2)] " ms"}'
