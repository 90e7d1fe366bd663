//! Storage: the database behind Threadline, SQLite (default) or PostgreSQL (chosen by the URL).
//!
//! Both backends run the same SQL through sqlx's `Any` driver, written with `$1` placeholders and
//! types both understand (BIGINT/INTEGER, TEXT, JSON kept as TEXT), so one set of queries is
//! tested on both. Where they must differ — connection setup, write serialisation, text search —
//! [`Backend`] says how. Schemas live in `migrations/sqlite` and `migrations/postgres`.

pub mod keys;
pub mod read;
pub mod users;
pub mod write;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

/// The project a fresh install has, and the one the dashboard shows without a key.
/// The file of a SQLite URL: `sqlite:bench.db?mode=rwc` and `sqlite://bench.db` → `bench.db`,
/// `sqlite:///tmp/b.db` → `/tmp/b.db`; `None` for any other URL.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(rest.split('?').next().unwrap_or(rest))
}

pub const DEFAULT_PROJECT_ID: i64 = 1;

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }

    /// Case-insensitive `LIKE`: SQLite's `LIKE` already ignores ASCII case.
    pub fn ilike(self) -> &'static str {
        match self {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        }
    }
}

/// A storage failure. Callers log it and answer with a generic error: database details are
/// never sent to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// SQLite checkpoints its WAL (copies the pages into the database file) inside the commit that
/// takes the WAL past this many pages (4 KiB each: 64 MiB), instead of SQLite's default 1,000.
/// Fewer, larger checkpoints write a page changed by many commits once, and wait for `fsync`
/// less often. Measured with `threadline bench ingest` on disk, 100,000 runs: see README.
const WAL_CHECKPOINT_PAGES: u32 = 16_384;

/// After a checkpoint lets the WAL start over, its file is truncated back to this size.
const WAL_SIZE_LIMIT_BYTES: u64 = 64 << 20;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// SQLite allows one writer at a time: taking this lock first makes writers queue here
    /// instead of failing with "database is locked". PostgreSQL writers coordinate in the
    /// database instead (advisory locks), so several servers can share it.
    pub(crate) write_lock: Arc<tokio::sync::Mutex<()>>,
    /// The automatic-session inactivity gap in microseconds.
    pub(crate) gap_us: i64,
}

impl Store {
    /// Connects (creating a SQLite file if needed) and applies migrations.
    pub async fn open(url: &str, gap: Duration) -> Result<Store> {
        let backend = Backend::from_url(url).ok_or_else(|| {
            StoreError::Invalid(format!(
                "unsupported database URL `{url}`: use sqlite:PATH or postgres://…"
            ))
        })?;
        sqlx::any::install_default_drivers();
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let options: AnyConnectOptions = url.parse()?;
        // No per-statement logs: sqlx would print whole multi-row statements.
        let options = options.disable_statement_logging();
        let max = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers never block the writer. synchronous=NORMAL is durable
                        // across process crashes (kill -9); only an OS crash can lose the last
                        // commits. Page cache: 6 MiB per connection, so a full pool stays within
                        // the 200 MB server memory budget (SPEC §9) with room to spare. Measured
                        // on the 100k-session benchmark after 8 concurrent connections: 64 MiB
                        // each peaked at 422 MB, 16 MiB at 267 MB, 8 MiB at 170–196 MB over four
                        // runs, 6 MiB at 144–184 MB over three, with list p95s still ≤ 16 ms; the
                        // OS file cache holds the hot pages.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                             PRAGMA cache_size = -6144; PRAGMA temp_store = MEMORY;",
                        )
                        .await?;
                        conn.execute(
                            format!(
                                "PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {};",
                                WAL_CHECKPOINT_PAGES, WAL_SIZE_LIMIT_BYTES
                            )
                            .as_str(),
                        )
                        .await?;
                    } else {
                        // Batched lookups bind lists of ids; PostgreSQL's generic plans for them
                        // (chosen after a few executions) were measured ~7x slower than plans
                        // made for the actual values.
                        conn.execute("SET plan_cache_mode = force_custom_plan")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let store = Store {
            pool,
            backend,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            gap_us: gap.as_micros() as i64,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes every connection (on shutdown: SQLite checkpoints its WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Current time in epoch microseconds.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Epoch microseconds → RFC 3339 UTC with microseconds.
pub fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite:/tmp/b.db?mode=rwc"), Some("/tmp/b.db"));
        assert_eq!(sqlite_path("sqlite:b.db"), Some("b.db"));
        assert_eq!(sqlite_path("sqlite://b.db"), Some("b.db"));
        assert_eq!(sqlite_path("sqlite:///tmp/b.db?mode=ro"), Some("/tmp/b.db"));
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }

    /// The settings the SQLite figures in the README were measured with, on every connection.
    #[tokio::test]
    async fn sqlite_connections_get_the_measured_settings() {
        use sqlx::Row;

        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("settings.db").display());
        let store = Store::open(&url, Duration::from_secs(1800))
            .await
            .expect("open");
        let pragma = |name: &'static str| {
            let pool = store.pool.clone();
            async move {
                let row = sqlx::query(&format!("PRAGMA {name}"))
                    .fetch_one(&pool)
                    .await
                    .expect(name);
                row.try_get::<i64, _>(0)
                    .map(|v| v.to_string())
                    .or_else(|_| row.try_get::<String, _>(0))
                    .expect(name)
            }
        };
        assert_eq!(pragma("journal_mode").await, "wal");
        assert_eq!(pragma("synchronous").await, "1"); // NORMAL
        assert_eq!(
            pragma("wal_autocheckpoint").await,
            WAL_CHECKPOINT_PAGES.to_string()
        );
        assert_eq!(
            pragma("journal_size_limit").await,
            WAL_SIZE_LIMIT_BYTES.to_string()
        );
        assert_eq!(pragma("cache_size").await, "-6144");
    }
}
