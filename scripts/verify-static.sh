#!/usr/bin/env bash
# make verify-static: the runner binary alone is enough. It runs `aiflow-runner version` and a
# files(csv) → files(csv) pipeline inside an empty chroot that holds only the binary, the CA
# certificates and the tiny input: no libc, no /usr/share/zoneinfo, no shell. This is what the
# distroless image (docker/Dockerfile) ships, so no Docker engine is needed to prove it.
#
#   scripts/verify-static.sh [BINARY]     (default bin/aiflow-runner; make verify-static builds it)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-bin/aiflow-runner}
fail() { echo "verify-static: $*" >&2; exit 1; }

[[ -x $bin ]] || fail "$bin not found: run make build first"
command -v file >/dev/null || fail "the 'file' command is missing (apt-get install file)"
desc=$(file -L "$bin")
[[ $desc == *"statically linked"* ]] || fail "$bin is not statically linked: $desc"

chroot_bin=$(command -v chroot || true)
[[ -n $chroot_bin ]] || fail "chroot(8) is not installed (coreutils); it is needed to run the binary in an empty root"
if [[ $(id -u) -ne 0 ]]; then
  fail "chroot needs root (running as uid $(id -u)); run make verify-static as root or in a container with CAP_SYS_CHROOT"
fi

certs=""
for c in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
  if [[ -f $c ]]; then certs=$c; break; fi
done
[[ -n $certs ]] || fail "no CA certificate bundle found on this host (install ca-certificates)"

root=$(mktemp -d "${TMPDIR:-/tmp}/aiflow-chroot.XXXXXX")
trap 'rm -rf "$root"' EXIT

# The whole root: the binary, the CA bundle, the data, an empty /tmp. Nothing else.
mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/data"
chmod 1777 "$root/tmp"
cp "$bin" "$root/aiflow-runner"
cp "$certs" "$root/etc/ssl/certs/ca-certificates.crt"
cat >"$root/data/orders.csv" <<'EOF'
order_id,user_id,amount,dt
1,10,9.5,2024-05-01
2,11,20.25,2024-05-01
3,10,3.0,2024-05-02
EOF
cat >"$root/spec.yaml" <<'EOF'
api_version: aiflow/v1
pipeline: {id: static_check, owner: platform, team: platform, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: /data/orders.csv, format: csv}
  - id: out
    sink: files
    inputs: [orders]
    with: {path: /out/orders/, format: csv, partition_by: [dt]}
EOF

listing=$(cd "$root" && find . -mindepth 1 | sort | tr '\n' ' ')
echo "chroot root $root: $listing"

# A clean environment: nothing from the host leaks in (no PATH, no HOME, no TZ).
in_root() { env -i AIFLOW_HOME=/tmp/aiflow AIFLOW_LOG_FORMAT=text TZ=Europe/Berlin "$chroot_bin" "$root" /aiflow-runner "$@"; }

echo "==> aiflow-runner version (in the chroot)"
in_root version || fail "aiflow-runner version failed inside the chroot"

echo "==> aiflow-runner run --all (in the chroot)"
out=$(in_root run --pipeline static_check --all --ir /spec.yaml --run-id static --logical-date 2024-05-02 2>&1) || {
  echo "$out"; fail "the files→files pipeline failed inside the chroot"
}
echo "$out"
# No /usr/share/zoneinfo in the root: TZ=Europe/Berlin works only with the embedded database.
grep -Eq 'time=[0-9T:.-]+\+0[12]:00' <<<"$out" ||
  fail "log times are not in TZ=Europe/Berlin: is time/tzdata embedded (cmd/aiflow-runner/main.go)?"

[[ -f $root/out/orders/_aiflow/current.json ]] || fail "no published table version under /out/orders/_aiflow/current.json"
parts=$(find "$root/out/orders" -path '*/dt=*/part-*' -type f | wc -l)
[[ $parts -ge 2 ]] || fail "want a file per dt partition under /out/orders, found $parts"
rows=$(find "$root/out/orders" -path '*/dt=*/part-*' -type f -exec cat {} + | grep -c '^[0-9]' || true)
[[ $rows -eq 3 ]] || fail "want 3 rows published, found $rows"
[[ -f $root/tmp/aiflow/metadata.db ]] || fail "no metadata database under /tmp/aiflow"

echo "==> run show (in the chroot)"
in_root runs show static >/dev/null || fail "aiflow-runner runs show failed inside the chroot"

echo "verify-static: ok ($bin, $(du -h "$bin" | cut -f1), runs alone in an empty root)"
