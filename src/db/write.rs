//! The write path. Each ingestion request is one transaction: runs are placed into sessions
//! (explicit ids, or the API key's activity chains — see `crate::sessionize`), stored, and the
//! touched sessions' aggregates brought up to date before the commit, so a 2xx always means
//! durable *and* exact.
//!
//! Aggregates are kept two ways: a brand-new run only adds to its session (cheap deltas); any run
//! that changes or leaves a session, and any merge or split, marks the session dirty and its
//! aggregates are recomputed from its runs. Both run inside the same transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, Row};
use tokio::sync::OwnedMutexGuard;

use super::keys::KeyOwner;
use super::{Backend, Result, Store};
use crate::ingest::native::NativeRun;
use crate::ingest::otlp::mapping::{SpanRecord, TraceRollup};
use crate::ingest::run::{Run, RunFields};
use crate::sessionize::{self, Chain, InsertPlan, RemovePlan};

pub const FACET_AGENT: i64 = 0;
pub const FACET_MODEL: i64 = 1;
pub const FACET_TOOL: i64 = 2;
pub const FACET_USER: i64 = 3;

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
        let traces: Vec<&str> = runs.iter().filter_map(|r| r.fields.trace_id.as_deref()).collect();
        w.prefetch_runs(false, &ids).await?;
        w.prefetch_runs(true, &traces).await?;
        w.prefetch_rollups(&traces).await?;
        let mut keys = Vec::with_capacity(runs.len());
        for run in runs {
            keys.push(w.native_run(run).await?);
        }
        w.finish_sessions().await?;
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
        let unique: Vec<&SpanRecord> =
            spans.iter().filter(|s| seen.insert((&s.trace_id, &s.span_id))).collect();
        let mut w = Writer::begin(self, owner).await?;
        let new_spans = w.insert_spans(&unique).await?;
        let mut by_trace: BTreeMap<&str, TraceRollup> = BTreeMap::new();
        for span in unique.iter().filter(|s| new_spans.contains(&(s.trace_id.as_str(), s.span_id.as_str()))) {
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
        w.store_rollups(updated.iter().map(|(t, _, r)| (t.clone(), r.clone())).collect()).await?;
        for (trace_id, before, rollup) in &updated {
            w.trace_updated(trace_id, before.as_ref(), rollup).await?;
        }
        w.finish_sessions().await?;
        w.commit().await?;
        Ok(SpanOutcome {
            stored: new_spans.len(),
            duplicates: spans.len() - new_spans.len(),
            traces: by_trace.len(),
        })
    }
}

/// A run as found in the database before an update.
#[derive(Clone)]
struct StoredRun {
    id: i64,
    run_key: String,
    session_id: i64,
    api_key_id: i64,
    started_at: i64,
    native: Option<RunFields>,
}

/// Per-session sums of runs added in this transaction.
#[derive(Default)]
struct Delta {
    runs: i64,
    first_run: i64,
    last_activity: i64,
    duration: i64,
    cost: i64,
    input_tokens: i64,
    output_tokens: i64,
    tokens_saved: i64,
    errors: i64,
    overhead_us: i64,
    request_us: i64,
    gateway_runs: i64,
    facets: HashMap<(i64, String), i64>,
}

struct Writer<'s> {
    store: &'s Store,
    tx: sqlx::Transaction<'static, Any>,
    _guard: Option<OwnedMutexGuard<()>>,
    owner: KeyOwner,
    explicit_cache: HashMap<String, i64>,
    /// Runs looked up (or written) in this transaction, by run key and by trace id; `None`
    /// means known to be absent. Filled in bulk up front so a batch costs a few queries, not a
    /// few per run.
    runs_by_key: HashMap<String, Option<StoredRun>>,
    runs_by_trace: HashMap<String, Option<StoredRun>>,
    rollups: HashMap<String, Option<TraceRollup>>,
    deltas: HashMap<i64, Delta>,
    dirty: HashSet<i64>,
}

/// Distinct facet values of one run.
fn run_facets(run: &Run) -> Vec<(i64, String)> {
    let mut out = vec![(FACET_AGENT, run.agent_name.clone())];
    let mut seen = HashSet::new();
    for m in &run.models {
        if seen.insert((FACET_MODEL, m.as_str())) {
            out.push((FACET_MODEL, m.clone()));
        }
    }
    for t in &run.tools_called {
        if seen.insert((FACET_TOOL, t.as_str())) {
            out.push((FACET_TOOL, t.clone()));
        }
    }
    if let Some(u) = &run.user_id {
        out.push((FACET_USER, u.clone()));
    }
    out
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

fn parse_list(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// `($1, $2, …)` for `n` values starting at placeholder `from`.
fn placeholders(from: usize, n: usize) -> String {
    let list: Vec<String> = (from..from + n).map(|i| format!("${i}")).collect();
    format!("({})", list.join(", "))
}

const RUN_COLUMNS: &str = "session_source, user_id, agent_name, workflow_name, started_at, \
    completed_at, duration_us, failed, error, model, models, routed, input_tokens, output_tokens, \
    tokens_saved, cost_nanos, tools_sent, tools_forwarded, tools_called, lat_dedup, \
    lat_compression, lat_tool_routing, lat_upstream, overhead_us, request_us, trace_id, input, \
    output, attributes, native, explicit";
const RUN_COLUMN_COUNT: usize = 31;

/// Binds the [`RUN_COLUMNS`] values of a run, in order.
fn bind_run(args: &mut AnyArguments<'_>, run: &Run, native: Option<&str>) -> Result<()> {
    let overhead = run.overhead();
    let e = |r: std::result::Result<(), sqlx::error::BoxDynError>| {
        r.map_err(|e| super::StoreError::Invalid(e.to_string()))
    };
    e(args.add(run.session_source.clone()))?;
    e(args.add(run.user_id.clone()))?;
    e(args.add(run.agent_name.clone()))?;
    e(args.add(run.workflow_name.clone()))?;
    e(args.add(run.started_at))?;
    e(args.add(run.completed_at))?;
    e(args.add(run.duration_us))?;
    e(args.add(run.failed as i64))?;
    e(args.add(run.error.clone()))?;
    e(args.add(run.model.clone()))?;
    e(args.add(json_list(&run.models)))?;
    e(args.add(run.routed.map(|r| r as i64)))?;
    e(args.add(run.input_tokens))?;
    e(args.add(run.output_tokens))?;
    e(args.add(run.tokens_saved))?;
    e(args.add(run.cost_nanos))?;
    e(args.add(run.tools_sent))?;
    e(args.add(run.tools_forwarded.as_deref().map(json_list)))?;
    e(args.add(json_list(&run.tools_called)))?;
    for phase in run.latency_us {
        e(args.add(phase))?;
    }
    e(args.add(overhead.map(|o| o.0)))?;
    e(args.add(overhead.map(|o| o.1)))?;
    e(args.add(run.trace_id.clone()))?;
    e(args.add(run.input.clone()))?;
    e(args.add(run.output.clone()))?;
    e(args.add(serde_json::Value::Object(run.attributes.clone()).to_string()))?;
    e(args.add(native.map(str::to_string)))?;
    e(args.add(run.session_id.is_some() as i64))?;
    Ok(())
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
            deltas: HashMap::new(),
            dirty: HashSet::new(),
        })
    }

    async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    fn gap(&self) -> i64 {
        self.store.gap_us
    }

    // ---- runs -------------------------------------------------------------------------------

    const STORED_RUN_COLUMNS: &'static str =
        "id, run_key, session_id, api_key_id, started_at, native, trace_id";

    fn stored_run(row: &sqlx::any::AnyRow) -> Result<(StoredRun, Option<String>)> {
        let native: Option<String> = row.try_get(5)?;
        Ok((
            StoredRun {
                id: row.try_get(0)?,
                run_key: row.try_get(1)?,
                session_id: row.try_get(2)?,
                api_key_id: row.try_get(3)?,
                started_at: row.try_get(4)?,
                native: native.map(|n| serde_json::from_str(&n)).transpose()?,
            },
            row.try_get(6)?,
        ))
    }

    /// Loads the runs with these run keys (or trace ids) into the cache in a few queries.
    async fn prefetch_runs(&mut self, by_trace: bool, values: &[&str]) -> Result<()> {
        let cache = if by_trace { &self.runs_by_trace } else { &self.runs_by_key };
        let mut wanted: Vec<&str> = values.iter().copied().filter(|v| !cache.contains_key(*v)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let column = if by_trace { "trace_id" } else { "run_key" };
        for chunk in wanted.chunks(500) {
            let sql = format!(
                "SELECT {} FROM runs WHERE project_id = $1 AND {column} IN {} ORDER BY id",
                Self::STORED_RUN_COLUMNS,
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(self.owner.project_id);
            for v in chunk {
                q = q.bind(v.to_string());
            }
            let rows = q.fetch_all(&mut *self.tx).await?;
            let cache = if by_trace { &mut self.runs_by_trace } else { &mut self.runs_by_key };
            for v in chunk {
                cache.insert(v.to_string(), None);
            }
            for row in &rows {
                let (run, trace) = Self::stored_run(row)?;
                let k = if by_trace { trace.unwrap_or_default() } else { run.run_key.clone() };
                // The oldest row wins if a trace id was ever given to two runs.
                if cache.get(&k).is_some_and(Option::is_none) {
                    cache.insert(k, Some(run));
                }
            }
        }
        Ok(())
    }

    async fn find_run(&mut self, by_trace: bool, value: &str) -> Result<Option<StoredRun>> {
        self.prefetch_runs(by_trace, &[value]).await?;
        let cache = if by_trace { &self.runs_by_trace } else { &self.runs_by_key };
        Ok(cache.get(value).cloned().flatten())
    }

    /// Loads the rollups of these traces into the cache.
    async fn prefetch_rollups(&mut self, traces: &[&str]) -> Result<()> {
        let wanted: Vec<&str> = traces.iter().copied().filter(|t| !self.rollups.contains_key(*t)).collect();
        for chunk in wanted.chunks(500) {
            let sql = format!(
                "SELECT trace_id, rollup FROM trace_rollups WHERE project_id = $1 AND trace_id IN {}",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(self.owner.project_id);
            for t in chunk {
                q = q.bind(t.to_string());
            }
            let rows = q.fetch_all(&mut *self.tx).await?;
            for t in chunk {
                self.rollups.insert(t.to_string(), None);
            }
            for row in rows {
                let trace: String = row.try_get(0)?;
                let rollup: TraceRollup = serde_json::from_str(&row.try_get::<String, _>(1)?)?;
                self.rollups.insert(trace, Some(rollup));
            }
        }
        Ok(())
    }

    async fn load_rollup(&mut self, trace_id: &str) -> Result<Option<TraceRollup>> {
        self.prefetch_rollups(&[trace_id]).await?;
        Ok(self.rollups.get(trace_id).cloned().flatten())
    }

    /// Writes rollups in multi-row statements and keeps the cache in step.
    async fn store_rollups(&mut self, rollups: Vec<(String, TraceRollup)>) -> Result<()> {
        for chunk in rollups.chunks(300) {
            let values: Vec<String> = (0..chunk.len()).map(|i| placeholders(i * 3 + 1, 3)).collect();
            let sql = format!(
                "INSERT INTO trace_rollups (project_id, trace_id, rollup) VALUES {} \
                 ON CONFLICT (project_id, trace_id) DO UPDATE SET rollup = excluded.rollup",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (trace, rollup) in chunk {
                q = q.bind(self.owner.project_id).bind(trace.clone()).bind(serde_json::to_string(rollup)?);
            }
            q.execute(&mut *self.tx).await?;
        }
        for (trace, rollup) in rollups {
            self.rollups.insert(trace, Some(rollup));
        }
        Ok(())
    }

    /// Stores one native run; returns its run key.
    async fn native_run(&mut self, run: NativeRun) -> Result<String> {
        let mut existing = match &run.id {
            Some(id) => self.find_run(false, id).await?,
            None => None,
        };
        let rollup = match &run.fields.trace_id {
            Some(t) => {
                if existing.is_none() {
                    existing = self.find_run(true, t).await?;
                }
                self.load_rollup(t).await?.map(|r| r.to_fields())
            }
            None => None,
        };
        let effective = match &rollup {
            Some(spans) => run.fields.overlay(spans),
            None => run.fields.clone(),
        };
        let resolved = effective
            .resolve()
            .ok_or_else(|| super::StoreError::Invalid("run has no start time".into()))?;
        let key = run
            .id
            .clone()
            .or_else(|| existing.as_ref().map(|e| e.run_key.clone()))
            .unwrap_or_else(|| format!("run_{}", &sessionize::new_auto_session_id()[5..]));
        let native = serde_json::to_string(&run.fields)?;
        self.place_and_store(existing, &key, &resolved, Some(&native)).await?;
        Ok(key)
    }

    /// New spans of `trace_id` arrived: fold them into the trace's rollup and its run.
    async fn trace_updated(
        &mut self,
        trace_id: &str,
        before: Option<&TraceRollup>,
        rollup: &TraceRollup,
    ) -> Result<()> {
        let existing = self.find_run(true, trace_id).await?;
        let native = existing.as_ref().and_then(|e| e.native.clone());
        let effective = |spans: Option<&TraceRollup>| -> Option<Run> {
            let from_spans = spans.map(TraceRollup::to_fields).unwrap_or_default();
            match &native {
                Some(n) => n.overlay(&from_spans),
                None => from_spans,
            }
            .resolve()
        };
        let Some(run) = effective(Some(rollup)) else { return Ok(()) };
        // Spans often add nothing a native run did not already say: then the stored run, its
        // chain and its session are already right.
        if existing.is_some() && effective(before).as_ref() == Some(&run) {
            return Ok(());
        }

        let key = existing.as_ref().map(|e| e.run_key.clone()).unwrap_or_else(|| trace_id.to_string());
        let native = native.as_ref().map(serde_json::to_string).transpose()?;
        self.place_and_store(existing, &key, &run, native.as_deref()).await
    }

    /// Puts a run into its chain and session and writes its row.
    async fn place_and_store(
        &mut self,
        existing: Option<StoredRun>,
        run_key: &str,
        run: &Run,
        native: Option<&str>,
    ) -> Result<()> {
        match existing {
            None => {
                let key_id = self.owner.key_id;
                let chain = self.chain_insert(key_id, run.started_at).await?;
                let session = self.session_for(run, chain, key_id).await?;
                let cols = RUN_COLUMNS;
                let sql = format!(
                    "INSERT INTO runs (project_id, run_key, session_id, api_key_id, {cols}) \
                     VALUES {} RETURNING id",
                    placeholders(1, 4 + RUN_COLUMN_COUNT)
                );
                let mut args = AnyArguments::default();
                let _ = args.add(self.owner.project_id);
                let _ = args.add(run_key.to_string());
                let _ = args.add(session);
                let _ = args.add(key_id);
                bind_run(&mut args, run, native)?;
                let id: i64 = sqlx::query_with(&sql, args).fetch_one(&mut *self.tx).await?.try_get(0)?;
                self.add_delta(session, run);
                self.remember(StoredRun {
                    id,
                    run_key: run_key.to_string(),
                    session_id: session,
                    api_key_id: key_id,
                    started_at: run.started_at,
                    native: native.map(serde_json::from_str).transpose()?,
                }, run.trace_id.as_deref());
            }
            Some(old) => {
                // Write the new fields first so chain maintenance sees the run where it now is.
                let sets: Vec<String> = RUN_COLUMNS
                    .split(',')
                    .enumerate()
                    .map(|(i, c)| format!("{} = ${}", c.trim(), i + 2))
                    .collect();
                let sql = format!(
                    "UPDATE runs SET run_key = ${}, {} WHERE id = $1",
                    RUN_COLUMN_COUNT + 2,
                    sets.join(", ")
                );
                let mut args = AnyArguments::default();
                let _ = args.add(old.id);
                bind_run(&mut args, run, native)?;
                let _ = args.add(run_key.to_string());
                sqlx::query_with(&sql, args).execute(&mut *self.tx).await?;
                if old.started_at != run.started_at {
                    // Add the new point before removing the old one, so a run that moves a
                    // little keeps its chain (and its automatic session) throughout.
                    self.chain_insert(old.api_key_id, run.started_at).await?;
                    self.chain_remove_point(old.api_key_id, old.started_at).await?;
                }
                let chain = self.chain_at(old.api_key_id, run.started_at).await?;
                let session = self.session_for(run, chain, old.api_key_id).await?;
                sqlx::query("UPDATE runs SET session_id = $1 WHERE id = $2")
                    .bind(session)
                    .bind(old.id)
                    .execute(&mut *self.tx)
                    .await?;
                self.dirty.insert(old.session_id);
                self.dirty.insert(session);
                let old_key = old.run_key.clone();
                self.runs_by_key.remove(&old_key);
                self.remember(StoredRun {
                    run_key: run_key.to_string(),
                    session_id: session,
                    started_at: run.started_at,
                    native: native.map(serde_json::from_str).transpose()?,
                    ..old
                }, run.trace_id.as_deref());
            }
        }
        Ok(())
    }

    /// Records a run as it now is, so later runs of the same transaction find it.
    fn remember(&mut self, run: StoredRun, trace_id: Option<&str>) {
        if let Some(t) = trace_id {
            self.runs_by_trace.insert(t.to_string(), Some(run.clone()));
        }
        self.runs_by_key.insert(run.run_key.clone(), Some(run));
    }

    fn add_delta(&mut self, session: i64, run: &Run) {
        let d = self.deltas.entry(session).or_insert_with(|| Delta {
            first_run: i64::MAX,
            last_activity: i64::MIN,
            ..Default::default()
        });
        d.runs += 1;
        d.first_run = d.first_run.min(run.started_at);
        d.last_activity = d.last_activity.max(run.activity_at());
        d.duration += run.duration_us.unwrap_or(0);
        d.cost += run.cost_nanos;
        d.input_tokens += run.input_tokens;
        d.output_tokens += run.output_tokens;
        d.tokens_saved += run.tokens_saved;
        d.errors += run.failed as i64;
        if let Some((overhead, total)) = run.overhead() {
            d.overhead_us += overhead;
            d.request_us += total;
            d.gateway_runs += 1;
        }
        for facet in run_facets(run) {
            *d.facets.entry(facet).or_default() += 1;
        }
    }

    // ---- sessions ---------------------------------------------------------------------------

    async fn session_for(&mut self, run: &Run, chain: i64, key_id: i64) -> Result<i64> {
        match &run.session_id {
            Some(id) => self.explicit_session(id, run.session_source.as_deref()).await,
            None => self.auto_session(chain, key_id).await,
        }
    }

    async fn explicit_session(&mut self, public_id: &str, source: Option<&str>) -> Result<i64> {
        if let Some(id) = self.explicit_cache.get(public_id) {
            return Ok(*id);
        }
        let project = self.owner.project_id;
        let alias = sqlx::query("SELECT session_id FROM session_aliases WHERE project_id = $1 AND alias = $2")
            .bind(project)
            .bind(public_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        let id = if let Some(row) = alias {
            row.try_get(0)?
        } else if let Some(row) = sqlx::query("SELECT id FROM sessions WHERE project_id = $1 AND public_id = $2")
            .bind(project)
            .bind(public_id)
            .fetch_optional(&mut *self.tx)
            .await?
        {
            row.try_get(0)?
        } else {
            let row = sqlx::query(
                "INSERT INTO sessions (project_id, public_id, kind, grouped_by) \
                 VALUES ($1, $2, 'explicit', $3) RETURNING id",
            )
            .bind(project)
            .bind(public_id)
            .bind(source.map(str::to_string))
            .fetch_one(&mut *self.tx)
            .await?;
            row.try_get(0)?
        };
        self.explicit_cache.insert(public_id.to_string(), id);
        Ok(id)
    }

    async fn auto_session(&mut self, chain: i64, key_id: i64) -> Result<i64> {
        let row = sqlx::query("SELECT auto_session_id FROM chains WHERE id = $1")
            .bind(chain)
            .fetch_one(&mut *self.tx)
            .await?;
        if let Some(id) = row.try_get::<Option<i64>, _>(0)? {
            return Ok(id);
        }
        let id = self.new_auto_session(key_id).await?;
        sqlx::query("UPDATE chains SET auto_session_id = $1 WHERE id = $2")
            .bind(id)
            .bind(chain)
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    async fn new_auto_session(&mut self, key_id: i64) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO sessions (project_id, public_id, kind, api_key_id) \
             VALUES ($1, $2, 'automatic', $3) RETURNING id",
        )
        .bind(self.owner.project_id)
        .bind(sessionize::new_auto_session_id())
        .bind(key_id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Moves every run of `from` into `into`; `from`'s id becomes an alias of `into`.
    async fn merge_session(&mut self, from: i64, into: i64) -> Result<()> {
        let tx = &mut *self.tx;
        sqlx::query("UPDATE runs SET session_id = $1 WHERE session_id = $2").bind(into).bind(from).execute(&mut *tx).await?;
        sqlx::query("UPDATE session_aliases SET session_id = $1 WHERE session_id = $2").bind(into).bind(from).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO session_aliases (project_id, alias, session_id) \
             SELECT project_id, public_id, $1 FROM sessions WHERE id = $2",
        )
        .bind(into)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM session_facets WHERE session_id = $1").bind(from).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM sessions WHERE id = $1").bind(from).execute(&mut *tx).await?;
        self.deltas.remove(&from);
        self.dirty.remove(&from);
        self.dirty.insert(into);
        Ok(())
    }

    // ---- chains -----------------------------------------------------------------------------

    /// Adds a run starting at `t` to the key's chains; returns the chain it now belongs to.
    async fn chain_insert(&mut self, key_id: i64, t: i64) -> Result<i64> {
        let gap = self.gap();
        let rows = sqlx::query(
            "SELECT id, first_start, last_start, auto_session_id FROM chains \
             WHERE api_key_id = $1 AND last_start >= $2 AND first_start <= $3",
        )
        .bind(key_id)
        .bind(t - gap)
        .bind(t + gap)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut nearby = Vec::with_capacity(rows.len());
        let mut autos: HashMap<i64, Option<i64>> = HashMap::new();
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            nearby.push(Chain { id, first_start: r.try_get(1)?, last_start: r.try_get(2)? });
            autos.insert(id, r.try_get(3)?);
        }
        match sessionize::plan_insert(t, &nearby, gap) {
            InsertPlan::NewChain => {
                let row = sqlx::query(
                    "INSERT INTO chains (project_id, api_key_id, first_start, last_start) \
                     VALUES ($1, $2, $3, $3) RETURNING id",
                )
                .bind(self.owner.project_id)
                .bind(key_id)
                .bind(t)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(row.try_get(0)?)
            }
            InsertPlan::Join { survivor, absorbed, first_start, last_start } => {
                sqlx::query("UPDATE chains SET first_start = $1, last_start = $2 WHERE id = $3")
                    .bind(first_start)
                    .bind(last_start)
                    .bind(survivor)
                    .execute(&mut *self.tx)
                    .await?;
                if absorbed.is_empty() {
                    return Ok(survivor);
                }
                let sessions: Vec<i64> = std::iter::once(survivor)
                    .chain(absorbed.iter().copied())
                    .filter_map(|c| autos.get(&c).copied().flatten())
                    .collect();
                let keeper = self.earliest_session(&sessions).await?;
                for s in &sessions {
                    if Some(*s) != keeper {
                        self.merge_session(*s, keeper.unwrap_or(*s)).await?;
                    }
                }
                sqlx::query("UPDATE chains SET auto_session_id = $1 WHERE id = $2")
                    .bind(keeper)
                    .bind(survivor)
                    .execute(&mut *self.tx)
                    .await?;
                let sql = format!("DELETE FROM chains WHERE id IN {}", placeholders(1, absorbed.len()));
                let mut q = sqlx::query(&sql);
                for a in &absorbed {
                    q = q.bind(*a);
                }
                q.execute(&mut *self.tx).await?;
                Ok(survivor)
            }
        }
    }

    /// The chain holding a run of `key_id` that starts at `t`. Chains are disjoint intervals of
    /// start times, so the start alone says which; runs need not store it (merging chains would
    /// otherwise rewrite every run of the absorbed ones).
    async fn chain_at(&mut self, key_id: i64, t: i64) -> Result<i64> {
        let row = sqlx::query(
            "SELECT id FROM chains WHERE api_key_id = $1 AND first_start <= $2 AND last_start >= $2",
        )
        .bind(key_id)
        .bind(t)
        .fetch_optional(&mut *self.tx)
        .await?;
        match row {
            Some(r) => Ok(r.try_get(0)?),
            None => Err(super::StoreError::Corrupt(format!("no activity chain of key {key_id} holds {t}"))),
        }
    }

    /// Of several sessions, the one whose first run is earliest (ties: lowest id).
    async fn earliest_session(&mut self, sessions: &[i64]) -> Result<Option<i64>> {
        if sessions.len() < 2 {
            return Ok(sessions.first().copied());
        }
        let sql = format!(
            "SELECT session_id, MIN(started_at) FROM runs WHERE session_id IN {} GROUP BY session_id",
            placeholders(1, sessions.len())
        );
        let mut q = sqlx::query(&sql);
        for s in sessions {
            q = q.bind(*s);
        }
        let rows = q.fetch_all(&mut *self.tx).await?;
        let mut best: Option<(i64, i64)> = None;
        for r in rows {
            let cand = (r.try_get::<i64, _>(1)?, r.try_get::<i64, _>(0)?);
            if best.is_none_or(|b| cand < b) {
                best = Some(cand);
            }
        }
        Ok(best.map(|b| b.1).or(sessions.first().copied()))
    }

    /// A run that started at `t` has moved away: shrink, split or delete the chain that held it.
    async fn chain_remove_point(&mut self, key_id: i64, t: i64) -> Result<()> {
        let gap = self.gap();
        let row = sqlx::query(
            "SELECT id, first_start, last_start, auto_session_id FROM chains \
             WHERE api_key_id = $1 AND first_start <= $2 AND last_start >= $2",
        )
        .bind(key_id)
        .bind(t)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else { return Ok(()) };
        let chain = Chain { id: row.try_get(0)?, first_start: row.try_get(1)?, last_start: row.try_get(2)? };
        let auto: Option<i64> = row.try_get(3)?;
        let pred = sqlx::query(
            "SELECT MAX(started_at) FROM runs WHERE api_key_id = $1 AND started_at <= $2 AND started_at >= $3",
        )
        .bind(key_id)
        .bind(t)
        .bind(t - gap)
        .fetch_one(&mut *self.tx)
        .await?
        .try_get::<Option<i64>, _>(0)?;
        let succ = sqlx::query(
            "SELECT MIN(started_at) FROM runs WHERE api_key_id = $1 AND started_at >= $2 AND started_at <= $3",
        )
        .bind(key_id)
        .bind(t)
        .bind(t + gap)
        .fetch_one(&mut *self.tx)
        .await?
        .try_get::<Option<i64>, _>(0)?;
        match sessionize::plan_remove(t, &chain, pred, succ, gap) {
            RemovePlan::Keep => {}
            RemovePlan::Delete => {
                sqlx::query("DELETE FROM chains WHERE id = $1").bind(chain.id).execute(&mut *self.tx).await?;
                if let Some(s) = auto {
                    self.dirty.insert(s);
                }
            }
            RemovePlan::Shrink { first_start, last_start } => {
                sqlx::query("UPDATE chains SET first_start = $1, last_start = $2 WHERE id = $3")
                    .bind(first_start)
                    .bind(last_start)
                    .bind(chain.id)
                    .execute(&mut *self.tx)
                    .await?;
            }
            RemovePlan::Split { last_start, at } => {
                sqlx::query("UPDATE chains SET last_start = $1 WHERE id = $2")
                    .bind(last_start)
                    .bind(chain.id)
                    .execute(&mut *self.tx)
                    .await?;
                let later: i64 = sqlx::query(
                    "INSERT INTO chains (project_id, api_key_id, first_start, last_start) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(self.owner.project_id)
                .bind(key_id)
                .bind(at)
                .bind(chain.last_start)
                .fetch_one(&mut *self.tx)
                .await?
                .try_get(0)?;
                if let Some(s) = auto {
                    self.split_session(s, chain.id, later, at, key_id).await?;
                }
            }
        }
        Ok(())
    }

    /// The automatic session `s` of a chain that split at `at`: its later runs follow the later
    /// chain. The earlier part keeps the id; a later-only session simply changes chains.
    async fn split_session(&mut self, s: i64, earlier: i64, later: i64, at: i64, key_id: i64) -> Result<()> {
        let count = |before: bool| {
            let op = if before { "<" } else { ">=" };
            format!("SELECT COUNT(*) FROM runs WHERE session_id = $1 AND started_at {op} $2")
        };
        let n_before: i64 = sqlx::query(&count(true)).bind(s).bind(at).fetch_one(&mut *self.tx).await?.try_get(0)?;
        let n_after: i64 = sqlx::query(&count(false)).bind(s).bind(at).fetch_one(&mut *self.tx).await?.try_get(0)?;
        match (n_before > 0, n_after > 0) {
            (true, true) => {
                let s2 = self.new_auto_session(key_id).await?;
                sqlx::query("UPDATE runs SET session_id = $1 WHERE session_id = $2 AND started_at >= $3")
                    .bind(s2)
                    .bind(s)
                    .bind(at)
                    .execute(&mut *self.tx)
                    .await?;
                sqlx::query("UPDATE chains SET auto_session_id = $1 WHERE id = $2")
                    .bind(s2)
                    .bind(later)
                    .execute(&mut *self.tx)
                    .await?;
                self.deltas.remove(&s);
                self.dirty.insert(s);
                self.dirty.insert(s2);
            }
            (false, true) => {
                sqlx::query("UPDATE chains SET auto_session_id = NULL WHERE id = $1").bind(earlier).execute(&mut *self.tx).await?;
                sqlx::query("UPDATE chains SET auto_session_id = $1 WHERE id = $2").bind(s).bind(later).execute(&mut *self.tx).await?;
            }
            _ => {}
        }
        Ok(())
    }

    // ---- aggregates -------------------------------------------------------------------------

    /// Brings every touched session's aggregates up to date.
    async fn finish_sessions(&mut self) -> Result<()> {
        let mut dirty: Vec<i64> = self.dirty.iter().copied().collect();
        dirty.sort_unstable();
        for s in dirty {
            self.recompute(s).await?;
        }
        let mut deltas: Vec<(i64, Delta)> =
            self.deltas.drain().filter(|(s, _)| !self.dirty.contains(s)).collect();
        deltas.sort_unstable_by_key(|(s, _)| *s);
        for (s, d) in deltas {
            self.apply_delta(s, &d).await?;
        }
        Ok(())
    }

    async fn apply_delta(&mut self, s: i64, d: &Delta) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET \
               first_run = CASE WHEN run_count = 0 OR $2 < first_run THEN $2 ELSE first_run END, \
               last_activity = CASE WHEN run_count = 0 OR $3 > last_activity THEN $3 ELSE last_activity END, \
               run_count = run_count + $4, total_duration = total_duration + $5, \
               total_cost = total_cost + $6, input_tokens = input_tokens + $7, \
               output_tokens = output_tokens + $8, total_tokens = total_tokens + $7 + $8, \
               tokens_saved = tokens_saved + $9, error_count = error_count + $10, \
               overhead_us = overhead_us + $11, request_us = request_us + $12, \
               gateway_runs = gateway_runs + $13 \
             WHERE id = $1",
        )
        .bind(s)
        .bind(d.first_run)
        .bind(d.last_activity)
        .bind(d.runs)
        .bind(d.duration)
        .bind(d.cost)
        .bind(d.input_tokens)
        .bind(d.output_tokens)
        .bind(d.tokens_saved)
        .bind(d.errors)
        .bind(d.overhead_us)
        .bind(d.request_us)
        .bind(d.gateway_runs)
        .execute(&mut *self.tx)
        .await?;
        let facets: Vec<(&(i64, String), &i64)> = d.facets.iter().collect();
        self.upsert_facets(s, &facets, true).await
    }

    async fn upsert_facets(&mut self, s: i64, facets: &[(&(i64, String), &i64)], add: bool) -> Result<()> {
        for chunk in facets.chunks(200) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 5;
                    format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5)
                })
                .collect();
            let sql = format!(
                "INSERT INTO session_facets (session_id, kind, value, runs, project_id) VALUES {} \
                 ON CONFLICT (session_id, kind, value) DO UPDATE SET runs = {}",
                values.join(", "),
                if add { "session_facets.runs + excluded.runs" } else { "excluded.runs" }
            );
            let mut q = sqlx::query(&sql);
            for ((kind, value), runs) in chunk {
                q = q.bind(s).bind(*kind).bind(value.clone()).bind(**runs).bind(self.owner.project_id);
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Recomputes a session's aggregates and facets from its runs; deletes it when empty.
    async fn recompute(&mut self, s: i64) -> Result<()> {
        let row = sqlx::query(
            "SELECT COUNT(*), MIN(started_at), MAX(COALESCE(completed_at, started_at)), \
               CAST(SUM(COALESCE(duration_us, 0)) AS BIGINT), CAST(SUM(cost_nanos) AS BIGINT), \
               CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT), \
               CAST(SUM(tokens_saved) AS BIGINT), CAST(SUM(failed) AS BIGINT), \
               CAST(SUM(COALESCE(overhead_us, 0)) AS BIGINT), CAST(SUM(COALESCE(request_us, 0)) AS BIGINT), \
               CAST(SUM(CASE WHEN request_us IS NULL THEN 0 ELSE 1 END) AS BIGINT) \
             FROM runs WHERE session_id = $1",
        )
        .bind(s)
        .fetch_one(&mut *self.tx)
        .await?;
        let count: i64 = row.try_get(0)?;
        if count == 0 {
            let tx = &mut *self.tx;
            sqlx::query("DELETE FROM session_facets WHERE session_id = $1").bind(s).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM session_aliases WHERE session_id = $1").bind(s).execute(&mut *tx).await?;
            sqlx::query("UPDATE chains SET auto_session_id = NULL WHERE auto_session_id = $1").bind(s).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE id = $1").bind(s).execute(&mut *tx).await?;
            return Ok(());
        }
        let get = |i: usize| -> Result<i64> { Ok(row.try_get::<Option<i64>, _>(i)?.unwrap_or(0)) };
        let (input, output) = (get(5)?, get(6)?);
        sqlx::query(
            "UPDATE sessions SET run_count = $2, first_run = $3, last_activity = $4, \
               total_duration = $5, total_cost = $6, input_tokens = $7, output_tokens = $8, \
               total_tokens = $9, tokens_saved = $10, error_count = $11, overhead_us = $12, \
               request_us = $13, gateway_runs = $14 WHERE id = $1",
        )
        .bind(s)
        .bind(count)
        .bind(get(1)?)
        .bind(get(2)?)
        .bind(get(3)?)
        .bind(get(4)?)
        .bind(input)
        .bind(output)
        .bind(input + output)
        .bind(get(7)?)
        .bind(get(8)?)
        .bind(get(9)?)
        .bind(get(10)?)
        .bind(get(11)?)
        .execute(&mut *self.tx)
        .await?;

        let rows = sqlx::query("SELECT agent_name, user_id, models, tools_called FROM runs WHERE session_id = $1")
            .bind(s)
            .fetch_all(&mut *self.tx)
            .await?;
        let mut counts: HashMap<(i64, String), i64> = HashMap::new();
        for r in rows {
            let mut bump = |k: i64, v: String| *counts.entry((k, v)).or_default() += 1;
            bump(FACET_AGENT, r.try_get(0)?);
            if let Some(u) = r.try_get::<Option<String>, _>(1)? {
                bump(FACET_USER, u);
            }
            let models = parse_list(r.try_get(2)?);
            let tools = parse_list(r.try_get(3)?);
            let mut seen = HashSet::new();
            for m in models {
                if seen.insert((FACET_MODEL, m.clone())) {
                    bump(FACET_MODEL, m);
                }
            }
            for t in tools {
                if seen.insert((FACET_TOOL, t.clone())) {
                    bump(FACET_TOOL, t);
                }
            }
        }
        sqlx::query("DELETE FROM session_facets WHERE session_id = $1").bind(s).execute(&mut *self.tx).await?;
        let facets: Vec<(&(i64, String), &i64)> = counts.iter().collect();
        self.upsert_facets(s, &facets, false).await
    }

    // ---- spans ------------------------------------------------------------------------------

    /// Inserts spans not stored yet; returns the (trace, span) ids that were new.
    async fn insert_spans<'a>(&mut self, spans: &[&'a SpanRecord]) -> Result<HashSet<(&'a str, &'a str)>> {
        const COLS: usize = 15;
        let mut new = HashSet::new();
        for chunk in spans.chunks(500) {
            let index: HashMap<(&str, &str), &'a SpanRecord> =
                chunk.iter().map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), *s)).collect();
            let values: Vec<String> = (0..chunk.len()).map(|i| placeholders(i * COLS + 1, COLS)).collect();
            let sql = format!(
                "INSERT INTO spans (project_id, trace_id, span_id, parent_span_id, name, kind, \
                 category, start_ns, end_ns, status_code, status_message, attributes, resource, \
                 scope, events) VALUES {} ON CONFLICT (project_id, trace_id, span_id) DO NOTHING \
                 RETURNING trace_id, span_id",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q
                    .bind(self.owner.project_id)
                    .bind(s.trace_id.clone())
                    .bind(s.span_id.clone())
                    .bind(s.parent_span_id.clone())
                    .bind(s.name.clone())
                    .bind(s.kind.clone())
                    .bind(s.category.clone())
                    .bind(s.start_ns)
                    .bind(s.end_ns)
                    .bind(s.status_code.clone())
                    .bind(s.status_message.clone())
                    .bind(serde_json::Value::Object(s.attributes.clone()).to_string())
                    .bind(serde_json::Value::Object(s.resource.clone()).to_string())
                    .bind(s.scope.clone())
                    .bind(serde_json::Value::Array(s.events.clone()).to_string());
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                let (t, sp): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                if let Some(s) = index.get(&(t.as_str(), sp.as_str())) {
                    new.insert((s.trace_id.as_str(), s.span_id.as_str()));
                }
            }
        }
        Ok(new)
    }

    /// The public session id of each run key (after every merge in this transaction).
    async fn sessions_of(&mut self, keys: &[String]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT r.run_key, s.public_id FROM runs r JOIN sessions s ON s.id = r.session_id \
                 WHERE r.project_id = $1 AND r.run_key IN {}",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(self.owner.project_id);
            for k in chunk {
                q = q.bind(k.clone());
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                out.insert(row.try_get(0)?, row.try_get(1)?);
            }
        }
        Ok(out)
    }
}
