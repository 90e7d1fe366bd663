//! The `threadline` binary: see `threadline --help`.

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    threadline::server::cli::main()
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser half has no binary; cargo-leptos builds the library for it.
}
