#!/usr/bin/env bash
# The python engine's overhead: spawn the interpreter, hand it 1M rows x 10 columns as Arrow IPC
# through a FIFO, read the result back into staging. The function is the identity, so what is
# measured is the engine. Baseline: the same node on the arrow engine (identity, no steps), which
# does the same staging read and write in-process; the difference is the python engine's cost.
set -euo pipefail
cd "$(dirname "$0")/../.."
runner=$PWD/bin/aiflow-runner
py=${AIFLOW_TEST_PYTHON:-$PWD/.venv/bin/python}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$py" - "$work/in/data.parquet" <<'PY'
import sys, os, numpy as np, pyarrow as pa, pyarrow.parquet as pq
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
n = 1_000_000
rng = np.random.default_rng(7)
cols = {f"i{k}": rng.integers(0, 1 << 40, n) for k in range(5)}
cols.update({f"f{k}": rng.random(n) for k in range(4)})
cols["s0"] = pa.array(rng.integers(0, 1000, n).astype(str))
pq.write_table(pa.table(cols), sys.argv[1], compression="zstd")
PY
mkdir -p "$work/jobs"; printf 'def identity(inputs, params):\n    return inputs["src"]\n' > "$work/jobs/jobs.py"
for engine in arrow python; do
  if [[ $engine == python ]]; then with='{fn: "jobs:identity"}'; else with='{}'; fi
  cat > "$work/$engine.yaml" <<YAML
api_version: aiflow/v1
pipeline: {id: py_$engine, owner: bench, env: dev}
nodes:
  - {id: src, source: files, with: {path: $work/in/}}
  - {id: t, transform: $engine, inputs: [src], with: $with}
YAML
done
cd "$work"
export AIFLOW_PYTHON=$py AIFLOW_PYTHONPATH=$work/jobs AIFLOW_LOG_LEVEL=warn AIFLOW_LOG_FORMAT=text
for i in 1 2 3 4 5; do
  for engine in arrow python; do
    "$runner" run --pipeline "py_$engine" --node src --ir "$engine.yaml" --run-id "r$i" >/dev/null 2>&1
    s=$(date +%s%N)
    "$runner" run --pipeline "py_$engine" --node t --ir "$engine.yaml" --run-id "r$i" >/dev/null 2>&1
    e=$(date +%s%N)
    echo "$engine $(( (e - s) / 1000000 ))"
  done
done | awk '{t[$1]=t[$1] " " $2} END {for (k in t) print k ":" t[k] " ms"}'
echo "(1M rows x 10 columns; each line: 5 runs of the transform node, wall ms; python minus arrow = the engine's overhead)"
