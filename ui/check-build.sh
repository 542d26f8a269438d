#!/usr/bin/env bash
# Rebuild the usage dashboard from source with the locked dependencies (npm ci) and fail if the page
# committed in the package differs from the rebuild: the shipped HTML must be what ui/ builds.
# Usage: bash ui/check-build.sh   (from anywhere; needs Node 20+ and npm, reaches the npm registry)
set -euo pipefail

UI="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd -- "$UI/.." && pwd)"
PAGE="server/kushrouter_mcp/face/ui/usage-dashboard.html"

cd "$UI"
timeout 600 npm ci --no-audit --no-fund --no-progress
npm run --silent typecheck
npm run --silent build

cd "$ROOT"
if ! git ls-files --error-unmatch -- "$PAGE" >/dev/null 2>&1; then
    echo "check-build: $PAGE is not committed; run: (cd ui && npm ci && npm run build) && git add $PAGE" >&2
    exit 1
fi
if git diff --quiet -- "$PAGE"; then
    echo "check-build: $PAGE matches the rebuild ($(wc -c <"$PAGE") bytes)"
    exit 0
fi
committed=$(git cat-file -s "HEAD:$PAGE" 2>/dev/null || git show ":$PAGE" | wc -c)
rebuilt=$(wc -c <"$PAGE")
changed="$(cmp -l <(git show "HEAD:$PAGE") "$PAGE" 2>/dev/null | wc -l) bytes differ at equal offsets"
echo "check-build: $PAGE differs from the rebuild: committed $committed bytes, rebuilt $rebuilt bytes ($changed)." >&2
echo "check-build: the sources in ui/ changed without a rebuild; run: (cd ui && npm ci && npm run build) and commit $PAGE" >&2
git --no-pager diff --stat -- "$PAGE" >&2
exit 1
