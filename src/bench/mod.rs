//! `threadline bench`: programs that measure Threadline and print the figures of SPEC §9 with
//! how they were measured. They are run by hand (and in release builds); no test asserts on
//! timings.
//!
//! `all` prints every §9 figure in one table; `ingest` and `queries` are its two halves, `ingest`
//! with more detail about the write path.

mod ceiling;
mod data;
mod dataset;
mod figures;
mod http_client;
pub mod ingest;
mod machine;
mod queries;
mod report;
mod server_process;
mod stats;
pub mod suite;
mod wasm;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Every SPEC §9 figure in one table: ingestion (as `ingest`, without its ceiling) and the
    /// read side (as `queries`) on SQLite, and on PostgreSQL with `--postgres-url`; the
    /// WebAssembly bundle size. The global `--database-url` is not used (see `--reuse`).
    All(suite::AllArgs),
    /// Ingestion throughput: native runs and OTLP spans through the real router, next to the
    /// raw insert rate of the same rows, on a fresh SQLite database (and PostgreSQL with
    /// `--postgres-url`). The global `--database-url` and `--session-gap` are not used: each
    /// backend gets a new database and the default 30-minute gap.
    Ingest(ingest::IngestArgs),
    /// The read side of SPEC §9 on its dataset (built, or reused with `--reuse`): every
    /// sessions-list query shape, session detail and both pages, timed in process and over
    /// loopback HTTP against a `threadline serve` child, the server's memory, the bundle size.
    Queries(suite::QueriesArgs),
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::All(args) => suite::run_all(args).await,
        BenchCommand::Ingest(args) => ingest::run(args).await,
        BenchCommand::Queries(args) => suite::run_queries(args).await,
    }
}
