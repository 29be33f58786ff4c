#!/usr/bin/env bash
# Issue 22: the cost of a typical set of five checks (plus the declared schema) on the 10M-row
# pipeline of bench/pipeline: Parquet → filter + group-by (arrow) → Parquet sink. The checks run
# on the transform's output (~1M groups) while it streams to staging. Runs alternate without and
# with the contract; each prints the transform node's duration (result.json) and the process's
# CPU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-3}
runner=$PWD/bin/aiflow-runner
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
"$runner" demo-data --out data/orders --rows "$ROWS" --users 1000000 >/dev/null
spec() { # $1: pipeline id, $2: contract lines (or nothing)
  cat <<YAML
api_version: aiflow/v1
pipeline: {id: $1, owner: bench, env: dev}
nodes:
  - {id: orders, source: files, with: {path: data/orders/, format: parquet, columns: [user_id, amount, status]}}
  - id: agg
    transform: arrow
    inputs: [orders]
    with:
      steps:
        - filter: "status = 'paid' AND amount > 0"
        - group_by: {keys: [user_id], aggs: {n: "count(*)", amt: "sum(amount)", avg_amt: "avg(amount)"}}
$2
  - {id: out, sink: files, inputs: [agg], with: {path: out/$1/}}
YAML
}
spec plain "" > plain.yaml
spec checked '    output_schema:
      columns:
        - {name: user_id, type: int64, nullable: false}
        - {name: n, type: int64}
        - {name: amt, type: float64}
        - {name: avg_amt, type: float64}
    checks:
      - {row_count: {min: 1}}
      - {unique: [user_id]}
      - {null_ratio: {column: avg_amt, max: 0.01}}
      - {range: {column: amt, min: 0}}
      - {rows_where: "avg_amt > amt"}' > checked.yaml
export AIFLOW_LOG_LEVEL=warn AIFLOW_LOG_FORMAT=text
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$RUNS"); do
  for p in plain checked; do
    "$runner" run --pipeline "$p" --node orders --ir "$p.yaml" --run-id "r$i" >/dev/null 2>&1
    /usr/bin/time -o cpu.txt -f "%U %S" "$runner" run --pipeline "$p" --node agg --ir "$p.yaml" --run-id "r$i" >/dev/null 2>&1
    cpu=$(awk '{print $1 + $2}' cpu.txt)
    ms=$(grep -o '"duration_ms": [0-9]*' .aiflow/staging/"$p/r$i"/agg/attempt-1-*/result.json | grep -o '[0-9]*$')
    echo "$p run $i: agg node ${ms} ms wall, ${cpu} s CPU"
  done
done
"$runner" runs show r1 --pipeline checked | sed -n '/CHECKS/,$p' | grep -v '^$' || true
