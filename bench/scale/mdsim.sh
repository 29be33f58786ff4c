#!/usr/bin/env bash
# The metadata store and fleet metrics simulations in one command each (bench/scale/README.md).
# Each starts a PostgreSQL of its own (scripts/services.sh with a state folder of its own, never
# the test services), runs, and stops it (KEEP=1 leaves it running, its DSN printed):
#
#   bench/scale/mdsim.sh history [DAYS]  # DAYS (30) x 1M node attempts, the CLI's queries timed,
#                                        # the fleet /metrics endpoint scraped over that history,
#                                        # then `runs prune` of its oldest day timed
#   bench/scale/mdsim.sh burst [N]       # N (100000) attempts in bursts of 2,000 starts/s from 4
#                                        # writer processes, then every commit checked once
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
mode="${1:-history}"
SVC="$(mktemp -d /tmp/aiflow-scale.XXXXXX)"
export AIFLOW_SERVICES_DIR="$SVC"
stop() {
  [[ -n "${FLEET_PID:-}" ]] && kill "$FLEET_PID" 2>/dev/null || true
  if [[ "${KEEP:-}" != 1 ]]; then
    scripts/services.sh down postgres >/dev/null 2>&1 || true
    rm -rf "$SVC"
  fi
}
trap stop EXIT
trap 'exit 143' INT TERM # so that stop runs when the command is interrupted
# history: a cluster for bulk loads: no WAL beyond crash recovery (wal_level minimal: index builds
# and the COPY into a table emptied in its transaction write none), fewer checkpoints, a larger
# buffer pool. The queries timed read the same tables either way. burst, which times the
# writes of node runs, gets the server's defaults.
if [[ "$mode" == history ]]; then
  export AIFLOW_PG_OPTIONS="-c wal_level=minimal -c max_wal_senders=0 -c full_page_writes=off -c max_wal_size=4GB -c checkpoint_timeout=30min -c shared_buffers=512MB"
fi
t0=$SECONDS
# Both binaries built (side by side) while the cluster starts.
go build -o "$SVC/" ./bench/scale/mdsim ./cmd/aiflow-runner &
BUILD_PID=$!
scripts/services.sh up postgres
wait "$BUILD_PID"
# shellcheck disable=SC1091
source "$SVC/env"
DSN="$AIFLOW_TEST_PG_DSN"
[[ "${KEEP:-}" == 1 ]] && echo "PostgreSQL: $DSN (state $SVC; stop with AIFLOW_SERVICES_DIR=$SVC scripts/services.sh down postgres)"
echo "cluster up and binaries built: $((SECONDS - t0)) s"

case "$mode" in
history)
  "$SVC/mdsim" -mode history -dsn "$DSN" -days "${2:-30}" -conns 4
  "$SVC/mdsim" -mode query -dsn "$DSN"
  # The fleet endpoint over that history: series and scrape time (it reads the store every 10 s
  # at most: the second scrape, 11 s after the first, is a fresh read too).
  AIFLOW_METADATA_DSN="$DSN" "$SVC/aiflow-runner" metrics serve --addr 127.0.0.1:0 >"$SVC/fleet.out" 2>&1 &
  FLEET_PID=$!
  for _ in $(seq 50); do grep -q http "$SVC/fleet.out" 2>/dev/null && break; sleep 0.2; done
  url="$(grep -o 'http://[^ ]*' "$SVC/fleet.out")"
  for i in 1 2; do
    [[ $i == 1 ]] || sleep 11
    curl -sf -o "$SVC/metrics.txt" -w "fleet scrape $i: %{time_total} s, %{size_download} bytes\n" "$url"
  done
  echo "fleet series: $(grep -vc '^#' "$SVC/metrics.txt") ($(grep '^aiflow_fleet_read_seconds' "$SVC/metrics.txt"))"
  # Retention over that history: `runs prune` of its oldest day (a daily prune's work), usage
  # checked unchanged.
  "$SVC/mdsim" -mode prune -dsn "$DSN" -prune-days 1
  echo "history mode: $((SECONDS - t0)) s in all (the cluster's removal follows)"
  ;;
burst)
  "$SVC/mdsim" -mode burst -dsn "$DSN" -attempts "${2:-100000}" -procs 4 -conc 8 -rate 2000
  ;;
*)
  echo "usage: bench/scale/mdsim.sh history [DAYS] | burst [N]" >&2
  exit 64
  ;;
esac
