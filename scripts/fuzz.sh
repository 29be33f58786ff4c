#!/usr/bin/env bash
# Runs every Go fuzz target for $FUZZTIME each (short in make test, longer in make fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5s}
fail=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($FUZZTIME)"
    if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/aiflow-fuzz.log 2>&1; then
      cat /tmp/aiflow-fuzz.log; fail=1
    fi
  done
done
exit $fail
