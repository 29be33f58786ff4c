#!/usr/bin/env bash
# Writing and reading a ROWS-row (default 10M) Delta Lake table partitioned by dt (7 days):
# aiflow-runner (the arrow engine's onelake sink and source, internal/delta) vs delta-rs
# (deltalake.write_deltalake / DeltaTable) and Polars (DataFrame.write_delta / read_delta), side
# by side on the same demo orders. Each writer writes its own table; each reader reads the table
# aiflow wrote (so all read the same files) and counts rows per day.
#   aiflow write: `run --node lake` (the sink: reads the pinned Parquet, writes the Delta table:
#                 data files, statistics, commit), metadata and staging included
#   aiflow read:  `run --node days` (onelake source pinned, then group-by dt over every row)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-3}
runner=$PWD/bin/aiflow-runner
py=${PYTHON:-$PWD/.venv/bin/python}
others=$PWD/bench/delta/others.py
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
"$runner" demo-data --out data/orders --rows "$ROWS" --users 1000000 >/dev/null
export AIFLOW_LOG_LEVEL=warn AIFLOW_LOG_FORMAT=text AIFLOW_LAKE_ROOT="file://$work/lake"
cat > w.yaml <<YAML
api_version: aiflow/v1
pipeline: {id: dwrite, owner: bench, env: dev}
nodes:
  - {id: orders, source: files, with: {path: data/orders/, format: parquet}}
  - {id: lake, sink: onelake, inputs: [orders], with: {table: bench.orders, mode: overwrite, partition_by: [dt]}}
YAML
cat > r.yaml <<YAML
api_version: aiflow/v1
pipeline: {id: dread, owner: bench, env: dev}
nodes:
  - {id: src, source: onelake, with: {table: bench.orders, columns: [dt, amount]}}
  - id: days
    transform: arrow
    inputs: [src]
    with: {steps: [{group_by: {keys: [dt], aggs: {n: "count(*)", amt: "sum(amount)"}}}]}
YAML
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); rows $ROWS"
for i in $(seq 1 "$RUNS"); do
  "$runner" run --pipeline dwrite --node orders --ir w.yaml --run-id "w$i" >/dev/null
  /usr/bin/time -f "aiflow   write wall_s=%e peak_rss_kb=%M cpu_s=%U+%S" "$runner" run --pipeline dwrite --node lake --ir w.yaml --run-id "w$i" 2>&1 | grep wall_s
  "$runner" run --pipeline dread --node src --ir r.yaml --run-id "r$i" >/dev/null
  /usr/bin/time -f "aiflow   read  wall_s=%e peak_rss_kb=%M cpu_s=%U+%S" "$runner" run --pipeline dread --node days --ir r.yaml --run-id "r$i" 2>&1 | grep wall_s
  "$py" "$others" data/orders "$work/lake/bench/orders" "$work/other$i"
  rm -rf "$work/other$i"
done
du -sh "$work/lake/bench/orders" | awk '{print "aiflow table size: " $1}'
