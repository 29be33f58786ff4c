#!/usr/bin/env bash
# make demo: a real pipeline on the embedded defaults, no services. Generates ~1M sample orders
# (deterministic), runs examples/quickstart end to end (files → arrow group-by → a Parquet folder
# and a Delta table), and says
# what happened in plain words.
set -euo pipefail
cd "$(dirname "$0")/.."
runner=${AIFLOW_RUNNER:-bin/aiflow-runner}
export AIFLOW_HOME=${AIFLOW_HOME:-.aiflow}
export AIFLOW_LOG_FORMAT=${AIFLOW_LOG_FORMAT:-text}
export AIFLOW_LOG_LEVEL=${AIFLOW_LOG_LEVEL:-warn}

echo "1. Sample data: 1,000,000 orders of 100,000 users (deterministic, seed 42)"
"$runner" demo-data --out .aiflow/demo/orders --rows 1000000 --users 100000

echo
echo "2. The pipeline (examples/quickstart/pipeline.yaml), validated and planned:"
"$runner" validate examples/quickstart
"$runner" plan examples/quickstart | sed -n '1,40p'

run_id="demo__$(date -u +%Y%m%dT%H%M%SZ)"
echo
echo "3. Running every node in order, as pods would, with run id $run_id:"
"$runner" run --pipeline quickstart_user_orders --all --ir examples/quickstart --run-id "$run_id"

echo
echo "4. Running it again with the same run id: every node is already committed, nothing is written."
"$runner" run --pipeline quickstart_user_orders --all --ir examples/quickstart --run-id "$run_id"

echo
echo "5. What the metadata store recorded ($AIFLOW_HOME/metadata.db):"
"$runner" runs show "$run_id" --pipeline quickstart_user_orders | sed -n '1,30p'

echo
echo "The output is a plain Parquet folder, .aiflow/demo/out/user_order_stats/ (it holds only the"
echo "published version), and the Delta Lake table demo.user_order_stats in $AIFLOW_HOME/lake/demo/"
echo "user_order_stats/, which Spark, delta-rs, Polars or DuckDB read as it is. The first rows:"
"$runner" head .aiflow/demo/out/user_order_stats/ --rows 5
echo
echo "Look further with:"
echo "  $runner head .aiflow/demo/out/user_order_stats/ --rows 20 --json"
echo "  $runner runs list"
# The Python hints only where they work.
if python3 -c 'import deltalake' 2>/dev/null; then
  echo "  python3 -c \"from deltalake import DeltaTable; print(DeltaTable('$AIFLOW_HOME/lake/demo/user_order_stats').to_pandas().head())\""
fi
