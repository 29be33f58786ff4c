#!/usr/bin/env bash
# The seed's pipeline written in the Python DSL and in YAML must give byte-identical canonical IR
# (same ir_hash), as aiflow-runner plan --json prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${AIFLOW_TEST_PYTHON:-.venv/bin/python}
runner=${AIFLOW_TEST_RUNNER:-bin/aiflow-runner}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
PYTHONPATH=python "$py" -m aiflow_sdk build examples/user_features/user_features.py --out "$out" >/dev/null
diff <("$runner" plan --json examples/user_features/pipeline.yaml) \
     <("$runner" plan --json "$out/daily_user_feature_pipeline.ir.json")
echo "Python DSL and YAML: identical canonical IR, ir_hash $("$runner" plan --json examples/user_features/pipeline.yaml | sed 's/.*"ir_hash":"\([0-9a-f]*\)".*/\1/')"
