#!/usr/bin/env bash
# Sizes of the full and the slim (-tags nospark) runner, and why grpc stays in the slim one.
# Usage: bench/image/sizes.sh   (builds with the Makefile's flags: make build build-slim)
set -euo pipefail
cd "$(dirname "$0")/../.."
make --no-print-directory build build-slim >/dev/null
for b in bin/aiflow-runner bin/aiflow-runner-slim; do
  printf '%-24s %10d bytes  %s\n' "$b" "$(stat -c %s "$b")" "$(du -h "$b" | cut -f1)"
done
for tags in "" nospark; do
  printf 'tags=%-8s packages %4d, of which spark %2d, grpc %2d\n' "${tags:-none}" \
    "$(go list -deps -tags "$tags" ./cmd/aiflow-runner | wc -l)" \
    "$(go list -deps -tags "$tags" ./cmd/aiflow-runner | grep -c /spark || true)" \
    "$(go list -deps -tags "$tags" ./cmd/aiflow-runner | grep -c grpc || true)"
done
