#!/usr/bin/env bash
# make test: install what the tests need (idempotent, pinned), start the real services on loopback,
# run every test (Go, fuzz seeds, pytest, cross-language checks), stop the services.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }

step "install (skips what is already there)"
scripts/install.sh

step "start services"
trap 'scripts/k8s.sh down >/dev/null 2>&1 || true; scripts/services.sh down >/dev/null 2>&1 || true' EXIT
scripts/services.sh up
# shellcheck disable=SC1091
source .services/env

step "build"
make --no-print-directory build
export AIFLOW_TEST_RUNNER="$root/bin/aiflow-runner"

step "lint"
make --no-print-directory lint

step "go test"
go test -count=1 -timeout 40m ./...

# A separate Go module (its own go.mod, replacing aiflow with this checkout): a team's runner
# with its own sink, built through the public packages only (about a minute).
step "examples/custom-runner: a runner built outside the module"
(cd examples/custom-runner && go vet ./... && go test -count=1 ./...)

step "fuzz seeds and a short fuzz run"
FUZZTIME=${FUZZTIME:-5s} scripts/fuzz.sh

if [[ -d python/tests ]]; then
  step "pytest"
  "$AIFLOW_TEST_PYTHON" -m pytest -q python/tests
  step "Python DSL and YAML give the same IR"
  scripts/check-ir-identity.sh
fi

if [[ -x scripts/verify-static.sh ]]; then
  step "verify-static"
  scripts/verify-static.sh
fi

step "images (make image: podman/buildah, no registry)"
scripts/image.sh

step "kubernetes end to end (a single-node cluster in its own network namespace)"
t0=$SECONDS
scripts/k8s.sh up
# Inside the namespace nothing but the cluster is reachable: no module downloads there. The
# parallel scenarios run as many at once as there are cores (go test's -parallel default).
GOPROXY=off GOFLAGS=-mod=readonly scripts/k8s.sh exec go test -count=1 -timeout 30m -tags k8se2e ./internal/k8se2e/
scripts/k8s.sh down
echo "kubernetes end to end: $((SECONDS - t0))s"

step "all tests passed"
