#!/usr/bin/env bash
# What the npm scripts run: bootstrap (installs whatever is missing), then
#   start  build every worker, migrate the local D1, run the whole platform on 127.0.0.1
#   test   fmt and clippy (host and wasm32), unit tests, build, integration tests
#   build  build every worker (incremental) and print the wasm sizes
#   bench  build, then measure hot paths against a no-op route on the same runtime
set -euo pipefail
# shellcheck source=scripts/bootstrap.sh
. "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$TOLLGATE_ROOT"

phase() { printf '\n== %s\n' "$*" >&2; }

case "${1:-}" in
  build)
    bash scripts/build.sh
    ;;
  start)
    bash scripts/build.sh
    exec node scripts/start.mjs
    ;;
  bench)
    bash scripts/build.sh
    exec node scripts/bench.mjs
    ;;
  test)
    phase "cargo fmt --check"
    cargo fmt --all --check
    phase "clippy (host)"
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    phase "clippy (wasm32)"
    cargo clippy --workspace --all-targets --target wasm32-unknown-unknown --quiet -- -D warnings
    phase "unit tests (native)"
    cargo test --workspace --quiet
    phase "build"
    bash scripts/build.sh
    phase "integration tests (local workerd, real D1/KV/R2)"
    # One file at a time: each starts its own stack, and the box has two cores.
    node --test --test-concurrency=1 --test-reporter=spec 'tests/*.test.mjs'
    ;;
  *)
    echo "usage: scripts/run.sh start|test|build|bench" >&2
    exit 2
    ;;
esac
