#!/usr/bin/env bash
# make demo: a real pipeline on the embedded defaults, no services. Generates ~1M sample orders
# (deterministic), runs examples/quickstart end to end (files → arrow group-by → files), and says
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
echo "The output is a Parquet table under .aiflow/demo/out/user_order_stats/ (readers go through"
echo "its _aiflow/current.json). Look at it with, for example:"
echo "  python3 -c \"import pyarrow.parquet as pq, json; v=json.load(open('.aiflow/demo/out/user_order_stats/_aiflow/current.json')); print(pq.read_table([f['uri'][7:] for f in v['files']][0]).slice(0,5))\""
echo "  $runner runs list"
