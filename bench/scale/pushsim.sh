#!/usr/bin/env bash
# The Pushgateway simulation in one command (bench/scale/README.md): a Pushgateway of its own
# (scripts/services.sh with a state folder of its own, never the test services' gateway), pushsim
# against it, then the gateway stopped and removed.
#
#   bench/scale/pushsim.sh [GROUPS] [RUNS]   # GROUPS (500) pipeline x node grouping keys,
#                                            # each pushed RUNS (3) times
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
SVC="$(mktemp -d /tmp/aiflow-pushsim.XXXXXX)"
export AIFLOW_SERVICES_DIR="$SVC"
stop() {
  scripts/services.sh down pushgateway >/dev/null 2>&1 || true
  rm -rf "$SVC"
}
trap stop EXIT
trap 'exit 143' INT TERM # so that stop runs when the command is interrupted
go build -o "$SVC/pushsim" ./bench/scale/pushsim &
BUILD_PID=$!
scripts/services.sh up pushgateway
wait "$BUILD_PID"
# shellcheck disable=SC1091
source "$SVC/env"
"$SVC/pushsim" -url "$AIFLOW_TEST_PUSHGATEWAY_URL" -groups "${1:-500}" -runs "${2:-3}"
