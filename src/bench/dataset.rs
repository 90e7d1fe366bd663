//! The SPEC §9 read-side dataset: `N` sessions of about 10 runs and 50 spans each (100,000
//! sessions make about 1,000,000 runs and 5,000,000 spans), written by the demo generator
//! through the ingestion functions (`Store::ingest_native` and `Store::ingest_spans`, the code
//! the HTTP endpoints call), plus one long session for the session-detail figure. A database
//! that already holds sessions is reused as it is, so the slow build happens once.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde_json::{json, Map};

use super::ingest::count;
use super::report::thousands;
use crate::db::{now_us, Store};
use crate::ingest::native::NativeRun;
use crate::ingest::run::RunFields;

/// The long session added to a built dataset (demo sessions have at most 25 runs).
pub const LONG_SESSION_ID: &str = "bench-long-session";
pub const LONG_SESSION_RUNS: usize = 300;

/// What the dataset holds and where it came from.
pub struct DatasetInfo {
    pub sessions: i64,
    pub runs: i64,
    pub spans: i64,
    /// SQLite: the database file and its write-ahead log.
    pub bytes_on_disk: Option<u64>,
    pub origin: Origin,
}

pub enum Origin {
    Built(Build),
    /// Used as it was, except for the long session when the dataset predates it.
    Reused {
        added_long_session: bool,
    },
}

/// How the build went.
pub struct Build {
    pub seconds: f64,
    pub runs: usize,
    pub spans: usize,
}

impl DatasetInfo {
    /// `100,000 sessions, 1,012,345 runs, 5,061,234 spans, 3.1 GB on disk`.
    pub fn summary(&self) -> String {
        format!(
            "{} sessions, {} runs, {} spans{}",
            thousands(self.sessions.max(0) as u64),
            thousands(self.runs.max(0) as u64),
            thousands(self.spans.max(0) as u64),
            self.bytes_on_disk
                .map(|b| format!(", {:.2} GB on disk", b as f64 / 1e9))
                .unwrap_or_default()
        )
    }

    /// How it came to be, for the printout.
    pub fn origin(&self) -> String {
        match &self.origin {
            Origin::Reused {
                added_long_session: false,
            } => "reused as it was".to_string(),
            Origin::Reused {
                added_long_session: true,
            } => format!(
                "reused, with the {LONG_SESSION_RUNS}-run session the detail is measured on \
                 added (missing)"
            ),
            Origin::Built(b) => format!(
                "built in {:.0} s through the ingestion functions ({} runs/s with {} spans/s, \
                 batches of up to 1,000 runs and 5,000 spans, one writer)",
                b.seconds,
                thousands((b.runs as f64 / b.seconds.max(1e-9)).round() as u64),
                thousands((b.spans as f64 / b.seconds.max(1e-9)).round() as u64),
            ),
        }
    }
}

/// Builds the dataset into an empty store, or leaves a store that holds sessions as it is.
pub async fn build_or_reuse(
    store: &Store,
    sessions: usize,
    seed: u64,
    sqlite_file: Option<&Path>,
) -> anyhow::Result<DatasetInfo> {
    let origin = if store.session_count().await? == 0 {
        eprintln!(
            "building the dataset: {} sessions…",
            thousands(sessions as u64)
        );
        let started = Instant::now();
        let options = crate::demo::DemoOptions {
            sessions,
            seed,
            progress: true,
        };
        let stats = crate::demo::generate(store, &options)
            .await
            .context("building the dataset")?;
        let long = add_long_session(store).await?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("dataset built in {seconds:.0} s");
        Origin::Built(Build {
            seconds,
            runs: stats.runs + long,
            spans: stats.spans,
        })
    } else {
        eprintln!("reusing the dataset already in the database");
        // A dataset built before the long session existed would leave the detail measured on
        // some 50-run session; its runs have fixed ids, so adding them again changes nothing.
        let long_runs = count(
            store,
            "SELECT COUNT(*) FROM runs WHERE run_key LIKE 'bench-long-run-%'",
        )
        .await?;
        let added_long_session = long_runs < LONG_SESSION_RUNS as i64;
        if added_long_session {
            add_long_session(store).await?;
        }
        Origin::Reused { added_long_session }
    };
    Ok(DatasetInfo {
        sessions: count(store, "SELECT COUNT(*) FROM sessions").await?,
        runs: count(store, "SELECT COUNT(*) FROM runs").await?,
        spans: count(store, "SELECT COUNT(*) FROM spans").await?,
        bytes_on_disk: sqlite_file.map(file_with_wal_bytes),
        origin,
    })
}

fn file_with_wal_bytes(path: &Path) -> u64 {
    let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path.to_path_buf()) + size(PathBuf::from(wal))
}

/// One explicit session of [`LONG_SESSION_RUNS`] runs, a turn every 20 s ending an hour ago,
/// through the native ingestion function. Returns the runs written.
async fn add_long_session(store: &Store) -> anyhow::Result<usize> {
    let owner = store.internal_key("bench-long-session").await?;
    let end = now_us() - 3_600_000_000;
    let tools = ["kb_lookup", "lookup_order", "create_ticket"];
    let runs: Vec<NativeRun> = (0..LONG_SESSION_RUNS)
        .map(|i| {
            let started = end - (LONG_SESSION_RUNS - i) as i64 * 20_000_000;
            let mut attributes = Map::new();
            attributes.insert("environment".into(), json!("production"));
            let called: Vec<String> = tools.iter().take(i % 4).map(|t| t.to_string()).collect();
            NativeRun {
                id: Some(format!("bench-long-run-{i:04}")),
                fields: RunFields {
                    session_id: Some(LONG_SESSION_ID.to_string()),
                    session_source: Some("session_id".to_string()),
                    user_id: Some("user_001".to_string()),
                    agent_name: Some("support-agent".to_string()),
                    workflow_name: Some("customer-support".to_string()),
                    started_at: Some(started),
                    duration_us: Some(1_500_000 + (i as i64 % 7) * 400_000),
                    failed: Some(i % 50 == 49),
                    error: (i % 50 == 49).then(|| "upstream timeout after 30s".to_string()),
                    model: Some("gpt-4o-mini".to_string()),
                    models: vec!["gpt-4o-mini".to_string()],
                    input_tokens: Some(1_200 + i as i64),
                    output_tokens: Some(180),
                    cost_nanos: Some(288_000),
                    tools_sent: Some(14),
                    tools_forwarded: Some(tools.iter().map(|t| t.to_string()).collect()),
                    tools_called: Some(called),
                    latency_us: [Some(400), Some(3_100), Some(5_200), Some(1_400_000)],
                    input: Some("Where is my order #4411?".to_string()),
                    output: Some("Here is what I found, with sources.".to_string()),
                    attributes: Some(attributes),
                    ..Default::default()
                },
            }
        })
        .collect();
    let written = runs.len();
    for batch in runs.chunks(100) {
        store.ingest_native(owner, batch.to_vec()).await?;
    }
    Ok(written)
}
