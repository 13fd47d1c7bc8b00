#!/usr/bin/env bash
# Builds every worker with `worker-build --release`, skipping a worker whose output is newer
# than all of its inputs, then prints each worker's wasm size (raw and gzip -9).
# Whenever it builds the platform (which serves them as its static assets) it then builds the
# developer console (scripts/console.mjs: types from the contract, tsc, vite, the first-load
# JS budget), so a deploy ships the console of its own commit, and the SDK (scripts/sdk.mjs:
# tsc to sdk/dist, the clients' min+gz sizes).
# Usage: scripts/build.sh [worker…]   (default: all eight, the console and the SDK)
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$TOLLGATE_ROOT"

WORKERS=(platform catalog api billing webhooks meter stripe-sandbox gateway)
CONSOLE=1
if [ $# -gt 0 ]; then
  WORKERS=("$@")
  CONSOLE=0
  for w in "$@"; do [ "$w" = platform ] && CONSOLE=1; done
fi

stale() {
  local out=workers/$1/build/index_bg.wasm
  [ -f "$out" ] || return 0
  [ -n "$(find Cargo.toml Cargo.lock src crates "workers/$1/Cargo.toml" "workers/$1/src" -newer "$out" -print -quit)" ]
}

for w in "${WORKERS[@]}"; do
  if stale "$w"; then
    printf '[build] %s\n' "$w" >&2
    (cd "workers/$w" && worker-build --release >/dev/null 2>build.log) || {
      cat "workers/$w/build.log" >&2
      exit 1
    }
    rm -f "workers/$w/build.log"
  else
    printf '[build] %s is up to date\n' "$w" >&2
  fi
done

printf '%-16s %12s %12s\n' worker "wasm bytes" "gzip -9" >&2
for w in "${WORKERS[@]}"; do
  wasm=workers/$w/build/index_bg.wasm
  printf '%-16s %12d %12d\n' "$w" "$(wc -c <"$wasm")" "$(gzip -9 -c "$wasm" | wc -c)" >&2
done

if [ "$CONSOLE" = 1 ]; then
  printf '[build] console\n' >&2
  node scripts/console.mjs
  printf '[build] sdk\n' >&2
  node scripts/sdk.mjs
fi
