#!/usr/bin/env bash
# A source written in Python (register_arrow_source_reader) read by an arrow node, vs the same
# reader's batches grouped by pyarrow in a plain script.
#
#   bench/pyplugin/run.sh [RUNS] [ROWS]
#
# "runner" is `aiflow-runner run --all` of source -> arrow group-by -> files sink: IR load, the
# plugin module described once (a Python process importing it), the source pinned, the reader run
# in `python -m aiflow_sdk.pluginrun` and streamed as Arrow IPC through a pipe into the Go
# group-by, Parquet staged, published and committed (SQLite ledger). "plain" is `python plain.py`:
# the same generator, pyarrow's group_by, one Parquet file. Both whole processes, started cold.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
rows=${2:-2000000}
py=${AIFLOW_TEST_PYTHON:-$PWD/.venv/bin/python}
here=$PWD/bench/pyplugin
sdk=$PWD/python
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
go build -o "$work/aiflow-runner" ./cmd/aiflow-runner
cat > "$work/bench.yaml" <<YAML
api_version: aiflow/v1
pipeline: {id: pyplugin_bench, owner: bench, env: dev, plugin_modules: [bench_plugins]}
nodes:
  - {id: orders, source: bench_orders, with: {rows: $rows}}
  - id: per_user
    transform: arrow
    inputs: [orders]
    with: {steps: [{group_by: {keys: [user_id], aggs: {amount_sum: "sum(amount)", orders: "count(order_id)"}}}]}
  - {id: out, sink: files, inputs: [per_user], with: {path: $work/out/}}
YAML
cd "$work"
export AIFLOW_HOME=$work/home AIFLOW_PYTHON=$py AIFLOW_PYTHONPATH=$here AIFLOW_LOG_LEVEL=warn AIFLOW_LOG_FORMAT=text
ms() { echo $(( ($2 - $1) / 1000000 )); }
./aiflow-runner run --pipeline pyplugin_bench --all --ir bench.yaml --run-id warm >/dev/null 2>&1
PYTHONPATH=$here:$sdk "$py" "$here/plain.py" "$rows" "$work/plain.parquet"
{
  for i in $(seq 1 "$runs"); do
    s=$(date +%s%N)
    ./aiflow-runner run --pipeline pyplugin_bench --all --ir bench.yaml --run-id "r$i" >/dev/null 2>&1
    e=$(date +%s%N)
    echo "runner $(ms "$s" "$e")"
    s=$(date +%s%N)
    PYTHONPATH=$here:$sdk "$py" "$here/plain.py" "$rows" "$work/plain-$i.parquet"
    e=$(date +%s%N)
    echo "plain $(ms "$s" "$e")"
  done
} | awk '{t[$1]=t[$1] " " $2} END {for (k in t) print k ":" t[k] " ms"}' | sort
echo "(wall ms per run, whole processes, $rows rows; runner = run --all of Python source -> arrow group-by -> files sink; plain = the same reader and group-by in pyarrow)"
