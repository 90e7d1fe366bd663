#!/usr/bin/env bash
# Command 1 of the README: build what is missing and serve the dashboard on 127.0.0.1:3000,
# with an embedded SQLite file (./threadline.db) holding demo data on a first start.
# Extra arguments go to `threadline serve` (see `./target/release/threadline serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/tools.sh
# Release build: the server and the size-optimised WebAssembly bundle, styles and assets.
cargo leptos build --release --split
exec ./target/release/threadline serve --demo-if-empty "${THREADLINE_DEMO_SESSIONS:-2000}" "$@"
