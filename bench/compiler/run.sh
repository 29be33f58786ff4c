#!/usr/bin/env bash
# Compiler benchmarks (results: bench/compiler/RESULTS.md).
#   1. go test -bench BenchmarkCompile1000x10 ./compiler   (1,000 pipelines x 10 nodes)
#   2. parse time in Airflow of a generated DAG vs dag-factory loading the equivalent YAML
#      (bench/compiler/parse_bench.py), for examples/user_features and bench/compiler/ten_nodes.yaml.
# Needs the Airflow venv with dag-factory (scripts/install.sh airflow): AIRFLOW_PYTHON overrides it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PY="${AIRFLOW_PYTHON:-${AIFLOW_TEST_AIRFLOW_PYTHON:-$ROOT/.venv-airflow/bin/python}}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== go benchmark"
go test ./compiler -run '^$' -bench 'BenchmarkCompile1000x10' -benchtime "${BENCHTIME:-5x}" -count "${COUNT:-3}"

echo "== parse time: generated DAG vs dag-factory YAML"
go build -o "$WORK/aiflow-runner" ./cmd/aiflow-runner
"$WORK/aiflow-runner" compile examples/user_features bench/compiler/ten_nodes.yaml --out "$WORK/dags" -q
export AIRFLOW_HOME="$WORK/airflow-home" PYTHONPATH="$ROOT/python" AIRFLOW__CORE__LOAD_EXAMPLES=False
mkdir -p "$AIRFLOW_HOME"
for f in daily_user_feature_pipeline bench_ten_nodes; do
  mkdir -p "$WORK/one-$f"
  cp "$WORK/dags/$f.py" "$WORK/one-$f/"
  "$PY" bench/compiler/parse_bench.py "$WORK/one-$f" "$WORK/one-$f/$f.py" "${REPEAT:-20}"
done
