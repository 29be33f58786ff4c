#!/usr/bin/env bash
# make bench: every benchmark of bench/README.md, side by side with what a user would otherwise
# run (DuckDB, Polars, pyarrow, a PySpark Connect client, dag-factory). Services the comparisons need are started
# as in make test. Figures go to stdout; bench/README.md records them with the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }

scripts/install.sh
scripts/install.sh bench
trap 'scripts/services.sh down >/dev/null 2>&1 || true' EXIT
scripts/services.sh up
# shellcheck disable=SC1091
source .services/env
make --no-print-directory build

step "engines: Parquet -> filter + group-by -> Parquet, aiflow run --all vs Polars, DuckDB, pyarrow (ROWS=${ROWS:-10000000})"
bench/engines/run.sh
step "foundation: validate + plan of 1,000 pipelines x 10 nodes; version cold start"
go test ./bench/foundation/ -run '^$' -bench . -benchtime 3x
step "arrow engine: filter + group-by over 10M rows (Go) vs pyarrow"
go test ./internal/arrowops/ -run '^$' -bench BenchmarkFilterGroupBy -benchtime 3x
"$AIFLOW_TEST_PYTHON" bench/arrowops/pyarrow_filter_groupby.py
step "pipeline: Parquet -> filter + group-by -> Parquet on 10M rows (runner) vs pyarrow; cold start of run"
bench/pipeline/run.sh
step "data contracts: five checks on the 10M-row pipeline's transform (streamed) and on 1M rows in memory"
bench/contract/run.sh
go test ./internal/contract/ -run '^$' -bench BenchmarkFiveChecks -benchtime 5x
step "dataset: streaming Parquet copy of 10M rows (rows/s, peak RSS)"
go test ./bench/dataset/ -run '^$' -bench . -benchtime 1x
step "metadata: overhead per node run, SQLite and PostgreSQL"
go test ./internal/metadata/ -run '^$' -bench BenchmarkNodeRun -benchtime 500x
step "web UI: each page's requests over a store of 10,000 runs (target < 200 ms)"
go test ./bench/ui/ -run '^$' -bench . -benchtime 50x
step "observability: overhead per node run"
go test ./bench/observability/ -run '^$' -bench NodeRunOverhead -benchtime 1x
step "flink: a streaming Kafka -> Flink SQL -> Kafka job, records/s and end-to-end latency"
go test ./bench/flink/ -run '^$' -bench . -benchtime 1x
step "compiler: 1,000 x 10 and DAG parse time vs dag-factory"
bench/compiler/run.sh
for extra in bench/spark/run.sh bench/pyspark/run.sh bench/pyplugin/run.sh bench/kafka/run.sh bench/python/run.sh; do
  if [[ -x $extra ]]; then step "$extra"; "$extra"; fi
done
