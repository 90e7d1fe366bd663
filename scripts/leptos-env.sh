# Sourced by the scripts: the variables cargo-leptos sets when it compiles, so plain cargo calls
# (tests, clippy) compile Leptos exactly as cargo-leptos does and every step shares one build.
export LEPTOS_OUTPUT_NAME=threadline
export LEPTOS_SITE_ROOT=target/site
export LEPTOS_SITE_PKG_DIR=pkg
export LEPTOS_SITE_ADDR=127.0.0.1:3000
export LEPTOS_RELOAD_PORT=3001
