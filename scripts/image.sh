#!/usr/bin/env bash
# make image: the runner images built here, without a registry or a Docker engine.
#
#   scripts/image.sh [build]    build both images, check them, save them under bin/images/
#   scripts/image.sh check      only the checks, on images already built
#
# Images (podman/buildah storage, and docker-archive files in bin/images/ that scripts/k8s.sh imports
# into the test cluster's containerd):
#   localhost/aiflow-runner:dev         FROM scratch: the static runner, CA certificates, a passwd
#                                       entry for uid 65532 (nonroot), /usr/share/zoneinfo, /tmp;
#                                       what docker/Dockerfile gets from distroless.
#   localhost/aiflow-runner-python:dev  a Debian 12 root filesystem made by mmdebstrap from Debian's
#                                       packages (python3, CA certificates, tzdata), the Python
#                                       packages that docker/Dockerfile.python installs (same pins),
#                                       aiflow_sdk from python/, and the same runner.
#   localhost/pause:3.10                the cluster's sandbox image (scripts/k8s/pause).
# The Debian root filesystem with its Python packages is cached outside the checkout, keyed by
# its package list: $AIFLOW_IMAGE_CACHE (default /var/cache/aiflow/images).
#
# Checks, the same the docker/ Dockerfiles are written for: the user is 65532:65532, the image
# runs with a read-only root filesystem (only /tmp writable), with no capabilities and no
# network, and the verify-static pipeline (files → files, TZ from the embedded database) runs in
# it; the python image also imports pyarrow, pandas, aiflow_sdk and the Spark Connect client
# (pyspark-client: PySpark entrypoints) with its own interpreter, at the pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CACHE=${AIFLOW_IMAGE_CACHE:-/var/cache/aiflow/images}
OUT=$ROOT/bin/images
RUNNER_IMAGE=localhost/aiflow-runner:dev
PYTHON_IMAGE=localhost/aiflow-runner-python:dev
PAUSE_IMAGE=localhost/pause:3.10
DEBIAN_SUITE=bookworm
# Debian packages of the python image (python3 is 3.11 in bookworm, the ABI of the pinned wheels;
# libstdc++6 and libgomp1 are what the manylinux wheels of pyarrow and grpcio expect).
DEBIAN_PACKAGES="python3 ca-certificates tzdata libstdc++6 libgomp1"

log() { echo "image: $*" >&2; }
fail() { echo "image: FAILED: $*" >&2; exit 1; }

for t in podman buildah mmdebstrap; do
  command -v "$t" >/dev/null || fail "$t is missing: run scripts/install.sh k8s"
done

# podman on this kind of machine: runc with cgroupfs (no systemd), and no default ulimits (the VM
# lacks CAP_SYS_RESOURCE, so raising RLIMIT_NOFILE fails every container start).
mkdir -p "$CACHE" "$OUT"
export CONTAINERS_CONF=$CACHE/containers.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)

# python_pins: the `pip install "name==version"` pins of docker/Dockerfile.python, one a line
# (an instruction continued over several lines with a backslash is joined first).
python_pins() {
  sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba' -e '}' docker/Dockerfile.python | grep -E '^RUN pip install ' |
    grep -oE '"[A-Za-z0-9_.-]+(\[[a-z,]+\])?==[^"]+"' | tr -d '"'
}

# host_python: a CPython 3.11 with pip (the ABI of the image's Debian python3) to install wheels
# into the image's site-packages from the host.
host_python() {
  local c
  for c in "$ROOT/.venv/bin/python" python3.11 /root/.pyenv/versions/3.11*/bin/python3.11; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys, pip; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  fail "no CPython 3.11 with pip found (run scripts/install.sh python)"
}

# ---- the runner image -------------------------------------------------------------------
build_runner() {
  local ctx=$1/runner
  mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/usr/share" "$ctx/rootfs/tmp" "$ctx/home/nonroot"
  cp bin/aiflow-runner "$ctx/rootfs/usr/local/bin/aiflow-runner"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
  cp -a /usr/share/zoneinfo "$ctx/rootfs/usr/share/zoneinfo"
  chmod 1777 "$ctx/rootfs/tmp"
  # The users distroless's static image has; 65532 is the one the pods run as.
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$ctx/rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$ctx/rootfs/etc/group"
  cat >"$ctx/Containerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 home/ /home/
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    AIFLOW_HOME=/tmp/aiflow \
    AIFLOW_LOG_FORMAT=json
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/usr/local/bin/aiflow-runner"]
CMD ["version"]
EOF
  buildah bud --quiet --layers=false --label "org.opencontainers.image.revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    -f "$ctx/Containerfile" -t "$RUNNER_IMAGE" "$ctx" >/dev/null
}

# ---- the python image ---------------------------------------------------------------------
# python_rootfs: path of the cached Debian root filesystem (tar) with the pinned Python packages.
python_rootfs() {
  local pins key tar py
  pins=$(python_pins)
  [[ -n $pins ]] || fail "no pip pins found in docker/Dockerfile.python"
  key=$(printf '%s\n' "$DEBIAN_SUITE" "$DEBIAN_PACKAGES" "$pins" "$(dpkg-query -W -f='${Version}' mmdebstrap)" | sha256sum | cut -c1-16)
  tar=$CACHE/python-rootfs-$key.tar
  if [[ -f $tar ]]; then echo "$tar"; return 0; fi
  log "making the Debian $DEBIAN_SUITE root filesystem for the python image (cached as $tar)"
  py=$(host_python)
  local dir; dir=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  # (Called as $(python_rootfs): errexit does not reach in here, so every step says || fail.)
  # shellcheck disable=SC2086
  mmdebstrap --quiet --mode=root --variant=essential --include="$(tr ' ' ',' <<<"$DEBIAN_PACKAGES")" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$DEBIAN_SUITE" "$dir/rootfs" >&2 || { rm -rf "$dir"; fail "mmdebstrap $DEBIAN_SUITE"; }
  # Wheels for CPython 3.11 on glibc 2.36: the host's 3.11 resolves and installs them into the
  # image's /usr/local/lib/python3.11/dist-packages (on Debian python3's path); nothing runs pip
  # inside the image. pyspark-client is published as a source archive only: pure Python, so
  # building it on the host gives the same files.
  # shellcheck disable=SC2086
  "$py" -m pip install --quiet --disable-pip-version-check --no-compile --only-binary=:all: --no-binary=pyspark-client \
    --target "$dir/rootfs/usr/local/lib/python3.11/dist-packages" $pins >&2 || { rm -rf "$dir"; fail "pip install $pins"; }
  rm -rf "$dir/rootfs/usr/local/lib/python3.11/dist-packages/bin"
  printf '%s\n' 'nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin' >>"$dir/rootfs/etc/passwd"
  printf '%s\n' 'nonroot:x:65532:' >>"$dir/rootfs/etc/group"
  mkdir -p "$dir/rootfs/app"
  tar -C "$dir/rootfs" --numeric-owner -cf "$dir/rootfs.tar" . || { rm -rf "$dir"; fail "tar the root filesystem"; }
  mv "$dir/rootfs.tar" "$tar"
  rm -rf "$dir"
  echo "$tar"
}

build_python() {
  local ctx=$1/python base py key
  base=$(python_rootfs) || exit 1
  py=$(host_python) || exit 1
  # The root filesystem as a base image of its own, kept in podman's storage under its cache key:
  # a rebuild then only adds the small layers on top.
  key=$(basename "$base" .tar)
  key=${key#python-rootfs-}
  if ! podman image exists "localhost/aiflow-python-base:$key"; then
    podman import --quiet "$base" "localhost/aiflow-python-base:$key" >/dev/null
  fi
  mkdir -p "$ctx/sdk" "$ctx/bin" "$ctx/home/nonroot"
  # From a copy: building the wheel leaves build/ beside the sources.
  cp -r python "$ctx/sdk-src"
  rm -rf "$ctx/sdk-src/tests"
  "$py" -m pip install --quiet --disable-pip-version-check --no-compile --no-deps --target "$ctx/sdk" "$ctx/sdk-src" >&2
  rm -rf "$ctx/sdk/bin"
  cp bin/aiflow-runner "$ctx/bin/aiflow-runner"
  cat >"$ctx/Containerfile" <<EOF
FROM localhost/aiflow-python-base:$key
COPY sdk/ /usr/local/lib/python3.11/dist-packages/
COPY bin/aiflow-runner /usr/local/bin/aiflow-runner
COPY --chown=65532:65532 home/ /home/
ENV PATH=/usr/local/bin:/usr/bin:/bin \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    AIFLOW_HOME=/tmp/aiflow \\
    AIFLOW_LOG_FORMAT=json \\
    AIFLOW_PYTHON=/usr/bin/python3 \\
    AIFLOW_PYTHONPATH=/app
WORKDIR /app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/aiflow-runner"]
CMD ["version"]
EOF
  buildah bud --quiet --layers=false -f "$ctx/Containerfile" -t "$PYTHON_IMAGE" "$ctx" >/dev/null
}

build_pause() {
  local ctx=$1/pause
  mkdir -p "$ctx"
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$ctx/pause" ./scripts/k8s/pause
  printf '%s\n' 'FROM scratch' 'COPY pause /pause' 'USER 65535:65535' 'ENTRYPOINT ["/pause"]' >"$ctx/Containerfile"
  buildah bud --quiet --layers=false -f "$ctx/Containerfile" -t "$PAUSE_IMAGE" "$ctx" >/dev/null
}

save() { # image file
  rm -f "$OUT/$2"
  podman save --quiet --format docker-archive -o "$OUT/$2" "$1"
}

# ---- checks ----------------------------------------------------------------------------
# run_ro IMAGE [PODMAN OPTIONS...] -- ARGS...: the image as a restricted pod runs it: read-only
# root, /tmp a tmpfs, no capabilities, no network, no new privileges.
run_ro() {
  local img=$1 opts=()
  shift
  while (($#)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  "${PODMAN[@]}" run --rm --network none --read-only --tmpfs /tmp:rw,mode=1777 --cap-drop ALL \
    --security-opt no-new-privileges "${opts[@]}" "$img" "$@" 2>&1
}

# release: the one version of the runner and aiflow_sdk (python/pyproject.toml; make build stamps it).
release() { sed -n 's/^version = "\(.*\)"$/\1/p' python/pyproject.toml; }

check_image() {
  local img=$1 user out work
  user=$(podman image inspect --format '{{.Config.User}}' "$img")
  [[ $user == 65532:65532 ]] || fail "$img: user is '$user', want 65532:65532 (non-root)"
  out=$(run_ro "$img" -- version) || fail "$img: aiflow-runner version failed: $out"
  [[ $out == "aiflow-runner $(release) "* ]] || fail "$img: '$out' is not release $(release) (python/pyproject.toml)"
  # The verify-static pipeline inside the image: the input is mounted read-only, the output
  # folder is the only writable mount besides /tmp.
  work=$(mktemp -d)
  mkdir -p "$work/in" "$work/out"
  chmod 0777 "$work/out"
  cat >"$work/in/orders.csv" <<'EOF'
order_id,user_id,amount,dt
1,10,9.5,2024-05-01
2,11,20.25,2024-05-01
3,10,3.0,2024-05-02
EOF
  cat >"$work/in/spec.yaml" <<'EOF'
api_version: aiflow/v1
pipeline: {id: static_check, owner: platform, team: platform, env: dev}
nodes:
  - id: orders
    source: files
    with: {path: /in/orders.csv, format: csv}
  - id: out
    sink: files
    inputs: [orders]
    with: {path: /out/orders/, format: csv, partition_by: [dt]}
EOF
  out=$(run_ro "$img" -v "$work/in:/in:ro" -v "$work/out:/out:rw" -e TZ=Europe/Berlin -e AIFLOW_LOG_FORMAT=text -- \
    run --pipeline static_check --all --ir /in/spec.yaml --run-id static --logical-date 2024-05-02) || {
    rm -rf "$work"; fail "$img: the files→files pipeline failed: $out"; }
  grep -Eq 'time=[0-9T:.-]+\+0[12]:00' <<<"$out" || { rm -rf "$work"; fail "$img: log times are not in TZ=Europe/Berlin: $out"; }
  local rows
  rows=$(find "$work/out/orders" -path '*/dt=*/part-*' -type f -exec cat {} + | grep -c '^[0-9]' || true)
  [[ -f $work/out/orders/_aiflow/current.json && $rows -eq 3 ]] || { rm -rf "$work"; fail "$img: want 3 rows published under /out/orders, found $rows"; }
  rm -rf "$work"
  log "$img: ok (user 65532:65532, read-only root, no capabilities, files → files pipeline)"
}

check_python() {
  local out
  out=$(run_ro "$PYTHON_IMAGE" --entrypoint /usr/bin/python3 -- -c \
    'import pyarrow, pandas, aiflow_sdk, sys; from pyspark.sql.connect.session import SparkSession; import pyspark; print(sys.version.split()[0], pyarrow.__version__, pandas.__version__, pyspark.__version__)') ||
    fail "$PYTHON_IMAGE: python imports failed: $out"
  local sdk
  sdk=$(run_ro "$PYTHON_IMAGE" --entrypoint /usr/bin/python3 -- -c 'import aiflow_sdk; print(aiflow_sdk.__version__)') ||
    fail "$PYTHON_IMAGE: aiflow_sdk does not import: $sdk"
  [[ $sdk == "$(release)" ]] || fail "$PYTHON_IMAGE: aiflow_sdk is $sdk, the runner release $(release)"
  local p name ver
  for p in $(python_pins); do
    name=${p%%==*}; ver=${p#*==}
    [[ $name == pyspark-client ]] && name=pyspark
    [[ $name == pyarrow || $name == pandas || $name == pyspark ]] || continue
    run_ro "$PYTHON_IMAGE" --entrypoint /usr/bin/python3 -- -c "import $name, sys; sys.exit($name.__version__ != '$ver')" >/dev/null ||
      fail "$PYTHON_IMAGE: $name is not $ver"
  done
  log "$PYTHON_IMAGE: ok (python $out)"
}

check_all() {
  check_image "$RUNNER_IMAGE"
  check_image "$PYTHON_IMAGE"
  check_python
}

cmd=${1:-build}
case $cmd in
build)
  [[ -x bin/aiflow-runner ]] || fail "bin/aiflow-runner missing: make image builds it first (make build)"
  start=$SECONDS
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  build_runner "$ctx"
  build_pause "$ctx"
  build_python "$ctx"
  check_all
  save "$RUNNER_IMAGE" aiflow-runner.tar
  save "$PYTHON_IMAGE" aiflow-runner-python.tar
  save "$PAUSE_IMAGE" pause.tar
  # Earlier builds of the same tags are left untagged: drop them.
  podman image prune --force >/dev/null 2>&1 || true
  log "built $RUNNER_IMAGE $PYTHON_IMAGE $PAUSE_IMAGE in $((SECONDS - start))s; archives in bin/images/"
  ;;
check) check_all ;;
*) echo "usage: $0 [build|check]" >&2; exit 2 ;;
esac
