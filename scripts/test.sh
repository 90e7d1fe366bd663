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
# cargo-leptos and wasm-bindgen-cli are long compiles needed only by the browser tests: on a fresh
# machine they build in the background while the checks and tests below compile and run (the
# compilers' single-threaded stretches leave a core free), and are awaited before the browser step.
scripts/tools.sh --browser --postgres --no-cargo-tools
tools_log=$(mktemp /tmp/threadline-tools.XXXXXX)
setsid scripts/tools.sh --cargo-tools >"$tools_log" 2>&1 &
tools_pid=$!
pg_dir=""
# On any exit: stop the background install first (its own process group, cargo install with it;
# setsid keeps Ctrl-C from reaching it), then the throwaway PostgreSQL.
cleanup() {
  if [ -n "$tools_pid" ]; then kill -- "-$tools_pid" 2>/dev/null || true; fi
  rm -f "$tools_log"
  if [ -n "$pg_dir" ]; then scripts/pg.sh stop "$pg_dir" || true; fi
}
trap cleanup EXIT

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (server)"
cargo clippy --features ssr --all-targets -- -D warnings
step "clippy (browser)"
cargo clippy --lib --no-default-features --features hydrate --target wasm32-unknown-unknown -- -D warnings

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
if ! wait "$tools_pid"; then
  cat "$tools_log" >&2
  echo "installing cargo-leptos / wasm-bindgen-cli failed" >&2
  exit 1
fi
tools_pid=""
tail -n 3 "$tools_log"
e2e_dir=$(mktemp -d /tmp/threadline-e2e.XXXXXX)
export THREADLINE_DATABASE_URL="sqlite:$e2e_dir/e2e.db"
cargo leptos build --split
./target/debug/threadline demo --sessions 300 --quiet
cargo leptos end-to-end --split
rm -rf "$e2e_dir"
echo
echo "all checks passed"
