#!/usr/bin/env bash
# Command 2 of the README: every check and test, on a fresh machine too.
#   formatting, clippy (server and browser halves), unit + integration tests on SQLite and on a
#   real PostgreSQL (a throwaway cluster unless THREADLINE_TEST_POSTGRES_URL is set), then the
#   browser tests in Chromium against a real server.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "tools"
scripts/tools.sh --browser --postgres

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (server)"
cargo clippy --features ssr --all-targets -- -D warnings
step "clippy (browser)"
cargo clippy --lib --no-default-features --features hydrate --target wasm32-unknown-unknown -- -D warnings

pg_dir=""
cleanup() { if [ -n "$pg_dir" ]; then scripts/pg.sh stop "$pg_dir"; fi; }
trap cleanup EXIT
if [ -z "${THREADLINE_TEST_POSTGRES_URL:-}" ]; then
  step "starting a throwaway PostgreSQL"
  pg_dir=$(mktemp -d /tmp/threadline-pg.XXXXXX)
  THREADLINE_TEST_POSTGRES_URL=$(scripts/pg.sh start "$pg_dir")
  export THREADLINE_TEST_POSTGRES_URL
  echo "PostgreSQL at $THREADLINE_TEST_POSTGRES_URL"
fi
export THREADLINE_REQUIRE_POSTGRES=1

step "unit and integration tests (SQLite and PostgreSQL)"
cargo test --features ssr

step "browser tests (Chromium)"
e2e_dir=$(mktemp -d /tmp/threadline-e2e.XXXXXX)
export THREADLINE_DATABASE_URL="sqlite:$e2e_dir/e2e.db"
cargo leptos build
./target/debug/threadline demo --sessions 300 --quiet
cargo leptos end-to-end
rm -rf "$e2e_dir"
echo
echo "all checks passed"
