//! SQLite WAL checkpoints off the write path.
//!
//! SQLite's own checkpoints run inside the commit that pushes the WAL past its threshold: that
//! ingestion request then copies every page of the WAL into the database file and waits for two
//! `fsync`s. Under sustained ingestion that was most commits' extra time on disk (measured with
//! `threadline bench ingest`, 50,000 runs on disk: 10.7k runs/s with SQLite's 1,000-page default,
//! 16.0k with no checkpoints at all, 17.9k on tmpfs where `fsync` is free). So a background task
//! checkpoints instead, PASSIVE (never waits for readers or the writer, nor makes them wait), and
//! SQLite's own threshold is raised to a backstop for when the task falls behind.

use std::time::Duration;

use sqlx::AnyPool;
use tokio::task::AbortHandle;

/// How often the background task checkpoints. A 1,000-run batch writes a few MB of WAL; at this
/// period the WAL stays within some tens of MB under full load.
const EVERY: Duration = Duration::from_millis(500);

/// SQLite still checkpoints by itself past this many WAL pages (4 KiB each, so 64 MiB).
pub(super) const BACKSTOP_PAGES: u32 = 16_384;

/// After a reset, the WAL file is truncated back to this size rather than left at its peak.
pub(super) const WAL_SIZE_LIMIT_BYTES: u64 = 64 << 20;

/// The background checkpointer of one database; stops when dropped (with the last `Store`).
pub(super) struct Checkpointer(AbortHandle);

impl Checkpointer {
    pub(super) fn spawn(pool: AnyPool) -> Checkpointer {
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if pool.is_closed() {
                    break;
                }
                // A failure here costs nothing but WAL length (SQLite's backstop still applies);
                // log it and try again next tick.
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "background WAL checkpoint failed");
                }
            }
        });
        Checkpointer(task.abort_handle())
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::db::Store;

    /// SQLite moves committed pages from the WAL into the database file only in a checkpoint;
    /// the migrations' few dozen pages are far below the backstop, so a database file that fills
    /// up while the store stays open was filled by the background task.
    #[tokio::test]
    async fn commits_reach_the_database_file_without_a_checkpointing_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("checkpoint.db");
        let store = Store::open(
            &format!("sqlite:{}", path.display()),
            Duration::from_secs(1800),
        )
        .await
        .expect("open");
        let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let wal = dir.path().join("checkpoint.db-wal");
        assert!(std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0));
        let deadline = Instant::now() + Duration::from_secs(10);
        while size() < 32 * 1024 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            size() >= 32 * 1024,
            "database file is {} bytes: the WAL was not checkpointed",
            size()
        );
        drop(store);
    }
}
