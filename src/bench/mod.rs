//! `threadline bench`: programs that measure Threadline and print the figures of SPEC §9 with
//! how they were measured. They are run by hand (and in release builds); no test asserts on
//! timings.

mod ceiling;
mod data;
pub mod ingest;
mod report;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Ingestion throughput: native runs and OTLP spans through the real router, next to the
    /// raw insert rate of the same rows, on a fresh SQLite database (and PostgreSQL with
    /// `--postgres-url`). The global `--database-url` and `--session-gap` are not used: each
    /// backend gets a new database and the default 30-minute gap.
    Ingest(ingest::IngestArgs),
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest::run(args).await,
    }
}
