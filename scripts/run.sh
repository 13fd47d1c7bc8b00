#!/usr/bin/env bash
# What the npm scripts run: bootstrap (installs whatever is missing), then
#   start  build every worker, migrate the local D1, run the whole platform on 127.0.0.1
#   test   lint, unit, build, integration: the whole gate (CI runs the four as separate steps)
#   lint   fmt and clippy (host and wasm32)
#   unit   the native unit tests, the console's (vitest), the SDK's (node:test), the example apps' type check
#   integration  the integration tests (after build), deploy bundle dry-runs included
#   build  build every worker (incremental) and print the wasm sizes
#   screenshots  build, then photograph every console page of a seeded demo into docs/console/
#   bench  build, then measure hot paths against a no-op route on the same runtime
#   deploy build, migrate and deploy an environment (scripts/deploy.mjs: --env staging|production)
#   example saas|store  run an example app against a running stack (scripts/examples.mjs)
set -euo pipefail
# Test-only tools (schemathesis) and the browser are installed only for the commands that use them.
case "${1:-}" in test | integration) export TOLLGATE_TEST_TOOLS=1 TOLLGATE_BROWSER=1 ;; bench | screenshots) export TOLLGATE_BROWSER=1 ;; esac
# shellcheck source=scripts/bootstrap.sh
. "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$TOLLGATE_ROOT"

phase() { printf '\n== %s\n' "$*" >&2; }

lint() {
  phase "cargo fmt --check"
  cargo fmt --all --check
  phase "clippy (host)"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
  phase "clippy (wasm32)"
  cargo clippy --workspace --all-targets --target wasm32-unknown-unknown --quiet -- -D warnings
}
unit() {
  phase "unit tests (native)"
  cargo test --workspace --quiet
  phase "console unit tests (vitest)"
  node scripts/console.mjs --types-only
  npx vitest run --root console
  phase "sdk unit tests (node:test)"
  node scripts/sdk.mjs --no-size
  node --test --test-reporter=spec 'sdk/test/*.test.mjs'
  phase "example apps type check (tsc)"
  node scripts/examples.mjs check
}
build() {
  phase "build"
  bash scripts/build.sh
}
integration() {
  phase "integration tests (local workerd, real D1/KV/R2)"
  # One file at a time: each starts its own stack, and the box has two cores.
  node --test --test-concurrency=1 --test-reporter=spec 'tests/*.test.mjs'
  phase "the api and platform suites again, through the one origin (the gateway)"
  TOLLGATE_VIA_GATEWAY=1 node --test --test-concurrency=1 --test-reporter=spec tests/api.test.mjs tests/platform.test.mjs
}

case "${1:-}" in
  lint | unit | build | integration)
    "$1"
    ;;
  test)
    lint
    unit
    build
    integration
    ;;
  start)
    bash scripts/build.sh
    exec node scripts/start.mjs
    ;;
  bench)
    bash scripts/build.sh
    exec node scripts/bench.mjs
    ;;
  screenshots)
    bash scripts/build.sh
    exec node scripts/screenshots.mjs
    ;;
  deploy)
    shift
    exec node scripts/deploy.mjs "$@"
    ;;
  example)
    shift
    exec node scripts/examples.mjs "$@"
    ;;
  *)
    echo "usage: scripts/run.sh start|test|lint|unit|build|integration|bench|screenshots|deploy|example" >&2
    exit 2
    ;;
esac
