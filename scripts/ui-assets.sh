#!/usr/bin/env bash
# Rebuilds the web UI's vendored front-end libraries (internal/ui/assets/vendor/) from npm, at the
# versions internal/ui/web/package-lock.json pins. The result is committed, so `make build` and a
# fresh checkout need no npm; run this only to change a library's version:
#   edit internal/ui/web/package.json, then scripts/ui-assets.sh (it rewrites the lock file too).
set -euo pipefail
cd "$(dirname "$0")/.."
web=internal/ui/web
out=internal/ui/assets/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$web/package.json" "$tmp/"
[[ -f "$web/package-lock.json" ]] && cp "$web/package-lock.json" "$tmp/"
# npm install (not ci) so that a changed package.json updates the lock; unchanged, it installs the lock.
(cd "$tmp" && npm install --ignore-scripts --no-audit --no-fund --save-exact >/dev/null)
cp "$tmp/package-lock.json" "$web/package-lock.json"
dagre="$tmp/node_modules/@dagrejs/dagre"
# dagre's ES module build is self-contained (graphlib is bundled in it).
cp "$dagre/dist/dagre.esm.js" "$out/dagre.esm.js"
cat "$dagre/LICENSE" "$dagre/dist/dagre.esm.js.LEGAL.txt" >"$out/dagre.LICENSE.txt" 2>/dev/null || cp "$dagre/LICENSE" "$out/dagre.LICENSE.txt"
sed -i '/sourceMappingURL=/d' "$out/dagre.esm.js"
echo "vendored @dagrejs/dagre $(node -p "require('$dagre/package.json').version") into $out"
