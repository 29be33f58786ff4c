#!/usr/bin/env bash
# Benchmarks of issue #2 through the built binary (see RESULTS.md):
#   - validate + plan --json of 1,000 generated pipelines × 10 nodes (target: under 1 s),
#   - cold start of `aiflow-runner version` (target: under 20 ms), median of 50 runs.
# Uses hyperfine when installed (apt-get install -y hyperfine), else a date +%s%N loop.
#   bench/foundation/run.sh            # from the repository root
#   N=1000 RUNS=50 bench/foundation/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000}
RUNS=${RUNS:-50}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg)"
CGO_ENABLED=0 go build -ldflags='-s -w' -trimpath -o "$work/aiflow-runner" ./cmd/aiflow-runner
echo "# binary: $(du -h "$work/aiflow-runner" | cut -f1)"
go run ./bench/foundation -out "$work/specs" -n "$N"
echo "# corpus: $N pipelines, $(find "$work/specs" -name '*.yaml' | xargs cat | wc -c) bytes of YAML"
bin="$work/aiflow-runner"
"$bin" validate -q "$work/specs"

# median of a command's wall time in ms, over $2 runs, without hyperfine
median_ms() {
  local runs=$1; shift
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 ))
  done | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f ms (min %.2f, max %.2f)\n", m/1000, a[1]/1000, a[NR]/1000}'
}

if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 2 --runs 10 --export-markdown "$work/vp.md" \
    "$bin validate -q $work/specs" "$bin plan --json $work/specs" \
    "sh -c '$bin validate -q $work/specs && $bin plan --json $work/specs >/dev/null'"
  hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$work/version.json" --export-markdown "$work/version.md" "$bin version"
  cat "$work/vp.md" "$work/version.md"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print('version cold start: median %.2f ms (min %.2f, max %.2f) over %d runs' % (r['median']*1e3, r['min']*1e3, r['max']*1e3, len(r['times'])))" "$work/version.json"
else
  echo "validate + plan --json: $(median_ms 10 sh -c "$bin validate -q $work/specs && $bin plan --json $work/specs")"
  echo "version cold start: $(median_ms "$RUNS" "$bin" version)"
fi
