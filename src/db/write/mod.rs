//! The write path. Each ingestion request is one transaction: runs are placed into sessions
//! (explicit ids, or the API key's activity chains — see `crate::sessionize`), stored, and the
//! touched sessions' aggregates brought up to date before the commit, so a 2xx always means
//! durable *and* exact.
//!
//! A batch costs a few statements, not a few per run: lookups are prefetched in bulk, the key's
//! chains are kept in memory for the transaction ([`chains`]), new runs are inserted many rows
//! per statement ([`runs`]), and session totals are applied as one multi-row update
//! ([`aggregates`]). Anything that reads runs back first flushes what is buffered.
//!
//! Aggregates are kept two ways: a brand-new run only adds to its session (deltas); a run that
//! changes or leaves a session, and any merge or split, marks the session dirty and its
//! aggregates are recomputed from its runs.

mod aggregates;
mod chains;
mod runs;
mod sessions;
mod spans;

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::Any;
use tokio::sync::OwnedMutexGuard;

use super::keys::KeyOwner;
use super::{Backend, Result, Store};
use crate::ingest::native::NativeRun;
use crate::ingest::otlp::mapping::{SpanRecord, TraceRollup};
use crate::ingest::run::RunFields;

pub const FACET_AGENT: i64 = 0;
pub const FACET_MODEL: i64 = 1;
pub const FACET_TOOL: i64 = 2;
pub const FACET_USER: i64 = 3;

/// Agents, models and tools are also bits on the session row (`agent_bits`, `model_bits`,
/// `tool_bits`; see migrations/*/0002_search.sql): a project's first 62 values of a kind get a
/// bit each, later ones share this one.
pub const FACET_SHARED_BIT: i64 = 62;

/// What the native API answers for each run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct IngestedRun {
    pub id: String,
    pub session_id: String,
}

/// What an OTLP request changed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SpanOutcome {
    pub stored: usize,
    pub duplicates: usize,
    pub traces: usize,
}

impl Store {
    /// Stores a validated native batch atomically; answers each run's id and session in order.
    pub async fn ingest_native(
        &self,
        owner: KeyOwner,
        runs: Vec<NativeRun>,
    ) -> Result<Vec<IngestedRun>> {
        let mut w = Writer::begin(self, owner).await?;
        let ids: Vec<&str> = runs.iter().filter_map(|r| r.id.as_deref()).collect();
        let traces: Vec<&str> = runs
            .iter()
            .filter_map(|r| r.fields.trace_id.as_deref())
            .collect();
        let sessions: Vec<(&str, Option<&str>)> = runs
            .iter()
            .filter_map(|r| named_session(&r.fields.session_id, &r.fields.session_source))
            .collect();
        w.prefetch_runs(false, &ids).await?;
        w.prefetch_runs(true, &traces).await?;
        w.prefetch_rollups(&traces).await?;
        // Every run naming a session lands in it: creating them up front leaves none empty.
        w.prefetch_explicit_sessions(&sessions, true).await?;
        if let (Some(lo), Some(hi)) = (
            runs.iter().filter_map(|r| r.fields.started_at).min(),
            runs.iter().filter_map(|r| r.fields.started_at).max(),
        ) {
            w.load_chains(owner.key_id, lo - w.gap(), hi + w.gap())
                .await?;
        }
        let mut keys = Vec::with_capacity(runs.len());
        for run in runs {
            keys.push(w.native_run(run).await?);
        }
        w.finish().await?;
        let sessions = w.sessions_of(&keys).await?;
        w.commit().await?;
        Ok(keys
            .into_iter()
            .map(|k| {
                let session_id = sessions.get(&k).cloned().unwrap_or_default();
                IngestedRun { id: k, session_id }
            })
            .collect())
    }

    /// Stores spans (each once) and brings their traces' runs up to date, atomically.
    pub async fn ingest_spans(&self, owner: KeyOwner, spans: &[SpanRecord]) -> Result<SpanOutcome> {
        // A span repeated inside one request counts once, like one sent again later.
        let mut seen = HashSet::new();
        let unique: Vec<&SpanRecord> = spans
            .iter()
            .filter(|s| seen.insert((&s.trace_id, &s.span_id)))
            .collect();
        let mut w = Writer::begin(self, owner).await?;
        let new_spans = w.insert_spans(&unique).await?;
        let mut by_trace: BTreeMap<&str, TraceRollup> = BTreeMap::new();
        for span in unique
            .iter()
            .filter(|s| new_spans.contains(&(s.trace_id.as_str(), s.span_id.as_str())))
        {
            by_trace
                .entry(span.trace_id.as_str())
                .or_default()
                .merge(&TraceRollup::from_span(span));
        }
        let traces: Vec<&str> = by_trace.keys().copied().collect();
        w.prefetch_rollups(&traces).await?;
        w.prefetch_runs(true, &traces).await?;
        let mut updated = Vec::with_capacity(by_trace.len());
        for (trace_id, partial) in &by_trace {
            let before = w.rollups.get(*trace_id).cloned().flatten();
            let mut rollup = before.clone().unwrap_or_default();
            rollup.merge(partial);
            updated.push((trace_id.to_string(), before, rollup));
        }
        w.store_rollups(
            updated
                .iter()
                .map(|(t, _, r)| (t.clone(), r.clone()))
                .collect(),
        )
        .await?;
        let mut changed = Vec::with_capacity(updated.len());
        for (trace_id, before, rollup) in &updated {
            changed.extend(w.trace_run(trace_id, before.as_ref(), rollup).await?);
        }
        // Every changed run naming a session lands in it: creating them up front, in bulk,
        // leaves none empty.
        let sessions: Vec<(&str, Option<&str>)> = changed
            .iter()
            .filter_map(|t| named_session(&t.run.session_id, &t.run.session_source))
            .collect();
        w.prefetch_explicit_sessions(&sessions, true).await?;
        for run in changed {
            w.store_trace_run(run).await?;
        }
        w.finish().await?;
        w.commit().await?;
        Ok(SpanOutcome {
            stored: new_spans.len(),
            duplicates: spans.len() - new_spans.len(),
            traces: by_trace.len(),
        })
    }
}

/// A run as found in the database (or written earlier in this transaction).
///
/// `session_id` can go stale when a merge or split moves runs in SQL; it is only used to mark
/// the session a run leaves as dirty, and the sessions a merge or split touches are dirty anyway.
#[derive(Clone)]
struct StoredRun {
    id: i64,
    run_key: String,
    session_id: i64,
    api_key_id: i64,
    started_at: i64,
    native: Option<RunFields>,
}

/// One ingestion transaction and everything it has learnt so far.
struct Writer<'s> {
    store: &'s Store,
    tx: sqlx::Transaction<'static, Any>,
    _guard: Option<OwnedMutexGuard<()>>,
    owner: KeyOwner,
    explicit_cache: HashMap<String, i64>,
    /// Runs looked up (or written) in this transaction, by run key and by trace id; `None`
    /// means known to be absent.
    runs_by_key: HashMap<String, Option<StoredRun>>,
    runs_by_trace: HashMap<String, Option<StoredRun>>,
    rollups: HashMap<String, Option<TraceRollup>>,
    /// New runs not inserted yet.
    pending: Vec<runs::PendingRun>,
    chains: chains::ChainCache,
    deltas: HashMap<i64, aggregates::Delta>,
    dirty: HashSet<i64>,
    /// Bits of the facet values met in this transaction (`facet_values`), by (kind, value).
    facet_bits: HashMap<(i64, String), i64>,
    /// A merge or split moved runs between sessions in SQL (cached `session_id`s may be stale).
    sessions_moved: bool,
}

impl<'s> Writer<'s> {
    async fn begin(store: &'s Store, owner: KeyOwner) -> Result<Writer<'s>> {
        let guard = match store.backend {
            Backend::Sqlite => Some(store.write_lock.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        let mut tx = store.pool.begin().await?;
        if store.backend == Backend::Postgres {
            // Grouping reads and rewrites a project's chains and sessions: one writer per
            // project at a time keeps several servers on one database exact.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(owner.project_id)
                .execute(&mut *tx)
                .await?;
        }
        Ok(Writer {
            store,
            tx,
            _guard: guard,
            owner,
            explicit_cache: HashMap::new(),
            runs_by_key: HashMap::new(),
            runs_by_trace: HashMap::new(),
            rollups: HashMap::new(),
            pending: Vec::new(),
            chains: chains::ChainCache::default(),
            deltas: HashMap::new(),
            dirty: HashSet::new(),
            facet_bits: HashMap::new(),
            sessions_moved: false,
        })
    }

    fn gap(&self) -> i64 {
        self.store.gap_us
    }

    /// Writes out everything buffered, then brings every touched session up to date.
    async fn finish(&mut self) -> Result<()> {
        self.flush_runs().await?;
        self.flush_chains().await?;
        self.finish_sessions().await
    }

    async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Values bound per statement with numbered (`$N`) placeholders. SQLite looks each numbered
/// parameter up by name, a cost that grows with the square of their count (measured: 30-row
/// inserts beat 250-row ones twice over), so `IN` lists stay near this size.
pub(crate) const MAX_BINDS: usize = 1000;

/// Values bound per multi-row statement, whose placeholders [`value_rows`] writes positionally
/// on SQLite (no lookup), so they can be larger.
const MAX_ROW_BINDS: usize = 8000;

/// Rows of `cols` values that fit in one multi-row statement.
const fn rows_per_statement(cols: usize) -> usize {
    MAX_ROW_BINDS / cols
}

/// The explicit session a run names and what named it, as
/// [`Writer::prefetch_explicit_sessions`] takes them; `None` for a run grouped automatically.
fn named_session<'a>(
    session_id: &'a Option<String>,
    source: &'a Option<String>,
) -> Option<(&'a str, Option<&'a str>)> {
    session_id.as_deref().map(|id| (id, source.as_deref()))
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

fn parse_list(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// `sql` with its `$1, $2, …` written as bare `?` on SQLite, where numbered parameters are
/// looked up by name at a cost that grows with the square of their count (see [`MAX_BINDS`];
/// the batched lookups bind up to 500 keys). Only for statements whose numbers appear once
/// each and in order; any other text is returned as is.
fn positional(backend: Backend, sql: String) -> String {
    if backend != Backend::Sqlite {
        return sql;
    }
    let mut out = String::with_capacity(sql.len());
    let mut next = 1;
    let mut rest = sql.as_str();
    while let Some(at) = rest.find('$') {
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if rest[at + 1..at + 1 + digits].parse() != Ok(next) {
            return sql;
        }
        out.push_str(&rest[..at]);
        out.push('?');
        rest = &rest[at + 1 + digits..];
        next += 1;
    }
    out.push_str(rest);
    out
}

/// `($1, $2, …)` for `n` values starting at placeholder `from`.
fn placeholders(from: usize, n: usize) -> String {
    let list: Vec<String> = (from..from + n).map(|i| format!("${i}")).collect();
    format!("({})", list.join(", "))
}

/// `($1, …), ($k, …), …` for `rows` rows of `cols` values: the whole parameter list of a
/// statement, so on SQLite it can be written with positional `?` (see [`MAX_BINDS`]).
fn value_rows(backend: Backend, rows: usize, cols: usize) -> String {
    match backend {
        Backend::Sqlite => {
            let row = format!("({})", vec!["?"; cols].join(", "));
            vec![row; rows].join(", ")
        }
        Backend::Postgres => (0..rows)
            .map(|r| placeholders(r * cols + 1, cols))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_in_order_become_positional_on_sqlite() {
        let sql = format!("SELECT 1 WHERE a = $1 AND b IN {}", placeholders(2, 11));
        let want = "SELECT 1 WHERE a = ? AND b IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
        assert_eq!(positional(Backend::Sqlite, sql.clone()), want);
        assert_eq!(positional(Backend::Postgres, sql.clone()), sql);
        // Out of order, repeated or not numbered: left alone (bare `?` would bind wrongly).
        for sql in [
            "a = $2 AND b = $1",
            "a = $1 OR b = $1",
            "a = $x",
            "a = $1 AND b = $3",
        ] {
            assert_eq!(positional(Backend::Sqlite, sql.to_string()), sql);
        }
    }
}
