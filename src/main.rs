//! The `threadline` binary: see `threadline --help`.

/// See Cargo.toml: the write path is allocation-heavy.
#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    threadline::server::cli::main()
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser half has no binary; cargo-leptos builds the library for it.
}
