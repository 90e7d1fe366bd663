#!/usr/bin/env bash
# Installs what building, running and testing Threadline needs, skipping whatever is present.
# Used by `scripts/run.sh` (command 1 of the README) and `scripts/test.sh` (command 2).
#
# Why each source:
# - cargo-leptos 0.3.6: newer releases need a newer rustc than this toolchain. Built in debug mode:
#   it is a build driver, its own speed does not matter, and this saves ~15 minutes cold.
# - wasm-bindgen-cli must equal the `wasm-bindgen` version pinned in Cargo.toml.
# - wasm-opt and tailwindcss come from npm (package.json): Debian's binaryen 108 breaks hydration.
# - Chromium from apt for the browser tests; PostgreSQL 15 server binaries for the Postgres suite.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = { *version = "=\([0-9.]*\)".*/\1/p; s/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml | head -n1)
CARGO_LEPTOS_VERSION=0.3.6
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1mtools:\033[0m %s\n' "$*" >&2; }

# --browser / --postgres: also Chromium / the PostgreSQL server (tests only).
# --cargo-tools: only cargo-leptos and wasm-bindgen-cli (the two slow compiles);
# --no-cargo-tools: everything but them. scripts/test.sh runs the two halves side by side.
want_browser=0; want_postgres=0; want_cargo=1; want_rest=1
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --postgres) want_postgres=1 ;;
    --cargo-tools) want_rest=0 ;;
    --no-cargo-tools) want_cargo=0 ;;
    *) echo "tools.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

if [ "$want_rest" = 1 ] && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$want_cargo" = 1 ] && ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (debug build, ~18 min cold)"
  # No debug info either: smaller objects, faster links. Installed from outside the checkout, so
  # the project's .cargo/config.toml (its rustflags) does not apply to the tools.
  (cd / && CARGO_PROFILE_DEV_DEBUG=0 cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --debug)
fi

if [ "$want_cargo" = 1 ] && ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: the CLI's lockfile names a dependency version the registry no longer has.
  # Debug build, like cargo-leptos: it still processes the bundle in seconds.
  (cd / && CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback CARGO_PROFILE_DEV_DEBUG=0 \
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force --debug)
fi

if [ "$want_rest" = 0 ]; then exit 0; fi

if [ ! -x node_modules/.bin/tailwindcss ] || [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/@playwright/test ] \
   || [ package.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages (tailwindcss, binaryen, playwright)"
  # `npm install`, not `npm ci`: the registry lacks the lockfile's non-Linux optional packages.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund
fi

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  log "installing Chromium"
  apt_install chromium
fi

if [ "$want_postgres" = 1 ] && [ ! -x /usr/lib/postgresql/15/bin/initdb ] && [ -z "${THREADLINE_TEST_POSTGRES_URL:-}" ]; then
  log "installing the PostgreSQL server"
  apt_install postgresql
fi
