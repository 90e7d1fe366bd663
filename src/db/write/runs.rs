//! Runs: finding them (bulk, cached), deciding their fields from native and span sources,
//! placing them in a chain and a session, and writing their rows (new runs many per statement).

use std::collections::HashMap;

use sqlx::any::AnyArguments;
use sqlx::{Arguments, Row};

use super::{
    json_list, placeholders, positional, rows_per_statement, value_rows, StoredRun, Writer,
    MAX_BINDS,
};
use crate::db::{Result, StoreError};
use crate::ingest::native::NativeRun;
use crate::ingest::otlp::mapping::TraceRollup;
use crate::ingest::run::{Run, RunFields};
use crate::sessionize;

const RUN_COLUMNS: &str = "session_source, user_id, agent_name, workflow_name, started_at, \
    completed_at, duration_us, failed, error, model, models, routed, input_tokens, output_tokens, \
    tokens_saved, cost_nanos, tools_sent, tools_forwarded, tools_called, lat_dedup, \
    lat_compression, lat_tool_routing, lat_upstream, overhead_us, request_us, trace_id, input, \
    output, attributes, native, explicit";
const RUN_COLUMN_COUNT: usize = 31;
/// project_id, run_key, session_id, api_key_id before the [`RUN_COLUMNS`].
const INSERT_COLUMN_COUNT: usize = 4 + RUN_COLUMN_COUNT;
const INSERT_ROWS: usize = rows_per_statement(INSERT_COLUMN_COUNT);

const STORED_RUN_COLUMNS: &str =
    "id, run_key, session_id, api_key_id, started_at, native, trace_id";
/// The id of a run that is buffered, not inserted yet.
const UNSAVED: i64 = -1;

/// A new run waiting for the next multi-row INSERT.
pub(super) struct PendingRun {
    run_key: String,
    session: i64,
    key_id: i64,
    run: Run,
    native: Option<String>,
}

/// A trace's run as its spans so far make it ([`Writer::trace_run`]).
pub(super) struct TraceRun {
    existing: Option<StoredRun>,
    key: String,
    pub(super) run: Run,
    native: Option<RunFields>,
}

/// Binds the [`RUN_COLUMNS`] values of a run, in order.
fn bind_run(args: &mut AnyArguments<'_>, run: &Run, native: Option<&str>) -> Result<()> {
    let overhead = run.overhead();
    let e = |r: std::result::Result<(), sqlx::error::BoxDynError>| {
        r.map_err(|e| StoreError::Invalid(e.to_string()))
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
    e(args.add(serde_json::to_string(&run.attributes)?))?;
    e(args.add(native.map(str::to_string)))?;
    e(args.add(run.session_id.is_some() as i64))?;
    Ok(())
}

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

impl Writer<'_> {
    /// Loads the runs with these run keys (or trace ids) into the cache in a few queries.
    pub(super) async fn prefetch_runs(&mut self, by_trace: bool, values: &[&str]) -> Result<()> {
        let cache = if by_trace {
            &self.runs_by_trace
        } else {
            &self.runs_by_key
        };
        let mut wanted: Vec<&str> = values
            .iter()
            .copied()
            .filter(|v| !cache.contains_key(*v))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let column = if by_trace { "trace_id" } else { "run_key" };
        for chunk in wanted.chunks(MAX_BINDS / 2) {
            let sql = positional(
                self.store.backend,
                format!(
                    "SELECT {STORED_RUN_COLUMNS} FROM runs WHERE project_id = $1 AND {column} IN {} \
                     ORDER BY id",
                    placeholders(2, chunk.len())
                ),
            );
            let mut q = sqlx::query(&sql).bind(self.owner.project_id);
            for v in chunk {
                q = q.bind(v.to_string());
            }
            let rows = q.fetch_all(&mut *self.tx).await?;
            let cache = if by_trace {
                &mut self.runs_by_trace
            } else {
                &mut self.runs_by_key
            };
            for v in chunk {
                cache.insert(v.to_string(), None);
            }
            for row in &rows {
                let (run, trace) = stored_run(row)?;
                let k = if by_trace {
                    trace.unwrap_or_default()
                } else {
                    run.run_key.clone()
                };
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
        let cache = if by_trace {
            &self.runs_by_trace
        } else {
            &self.runs_by_key
        };
        Ok(cache.get(value).cloned().flatten())
    }

    /// Stores one native run; returns its run key.
    pub(super) async fn native_run(&mut self, run: NativeRun) -> Result<String> {
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
        let resolved = match &rollup {
            Some(spans) => run.fields.overlay(spans).resolve(),
            None => run.fields.resolve(),
        }
        .ok_or_else(|| StoreError::Invalid("run has no start time".into()))?;
        let key = run
            .id
            .clone()
            .or_else(|| existing.as_ref().map(|e| e.run_key.clone()))
            .unwrap_or_else(|| format!("run_{}", &sessionize::new_auto_session_id()[5..]));
        self.place_and_store(existing, &key, &resolved, Some(run.fields))
            .await?;
        Ok(key)
    }

    /// What new spans of a trace (`before` → `rollup`) make of its run, to be stored with
    /// [`Self::store_trace_run`]: `None` while the trace has no start time, or when the spans
    /// add nothing a native run did not already say (the stored run, its chain and its
    /// session are already right).
    pub(super) async fn trace_run(
        &mut self,
        trace_id: &str,
        before: Option<&TraceRollup>,
        rollup: &TraceRollup,
    ) -> Result<Option<TraceRun>> {
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
        let Some(run) = effective(Some(rollup)) else {
            return Ok(None);
        };
        if existing.is_some() && effective(before).as_ref() == Some(&run) {
            return Ok(None);
        }
        let key = existing
            .as_ref()
            .map(|e| e.run_key.clone())
            .unwrap_or_else(|| trace_id.to_string());
        Ok(Some(TraceRun {
            existing,
            key,
            run,
            native,
        }))
    }

    pub(super) async fn store_trace_run(&mut self, t: TraceRun) -> Result<()> {
        self.place_and_store(t.existing, &t.key, &t.run, t.native)
            .await
    }

    /// Puts a run into its chain and session and writes (or buffers) its row. `native` is
    /// what the native API said of the run, kept to merge spans that arrive later.
    async fn place_and_store(
        &mut self,
        existing: Option<StoredRun>,
        run_key: &str,
        run: &Run,
        native: Option<RunFields>,
    ) -> Result<()> {
        let native_json = native.as_ref().map(serde_json::to_string).transpose()?;
        let Some(mut old) = existing else {
            let key_id = self.owner.key_id;
            let chain = self.chain_insert(key_id, run.started_at).await?;
            let session = self.session_for(run, chain, key_id).await?;
            self.add_delta(session, run);
            self.pending.push(PendingRun {
                run_key: run_key.to_string(),
                session,
                key_id,
                run: run.clone(),
                native: native_json,
            });
            let stored = StoredRun {
                id: UNSAVED,
                run_key: run_key.to_string(),
                session_id: session,
                api_key_id: key_id,
                started_at: run.started_at,
                native,
            };
            self.remember(stored, run.trace_id.as_deref());
            return Ok(());
        };
        if old.id == UNSAVED {
            // The same run twice in one batch: write the first copy, then update it.
            self.flush_runs().await?;
            old = self.find_run(false, &old.run_key).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("run `{}` vanished after insert", old.run_key))
            })?;
        }
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
        bind_run(&mut args, run, native_json.as_deref())?;
        let _ = args.add(run_key.to_string());
        sqlx::query_with(&sql, args).execute(&mut *self.tx).await?;
        if old.started_at != run.started_at {
            // Add the new point before removing the old one, so a run that moves a little
            // keeps its chain (and its automatic session) throughout.
            self.chain_insert(old.api_key_id, run.started_at).await?;
            self.chain_remove_point(old.api_key_id, old.started_at)
                .await?;
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
        self.runs_by_key.remove(&old.run_key);
        let stored = StoredRun {
            run_key: run_key.to_string(),
            session_id: session,
            started_at: run.started_at,
            native,
            ..old
        };
        self.remember(stored, run.trace_id.as_deref());
        Ok(())
    }

    /// Records a run as it now is, so later runs of the same transaction find it.
    fn remember(&mut self, run: StoredRun, trace_id: Option<&str>) {
        if let Some(t) = trace_id {
            self.runs_by_trace.insert(t.to_string(), Some(run.clone()));
        }
        self.runs_by_key.insert(run.run_key.clone(), Some(run));
    }

    /// Inserts the buffered new runs, many rows per statement, and learns their ids.
    pub(super) async fn flush_runs(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(pending.len());
        for chunk in pending.chunks(INSERT_ROWS) {
            let sql = format!(
                "INSERT INTO runs (project_id, run_key, session_id, api_key_id, {RUN_COLUMNS}) \
                 VALUES {} RETURNING id, run_key",
                value_rows(self.store.backend, chunk.len(), INSERT_COLUMN_COUNT)
            );
            let mut args = AnyArguments::default();
            for p in chunk {
                let _ = args.add(self.owner.project_id);
                let _ = args.add(p.run_key.clone());
                let _ = args.add(p.session);
                let _ = args.add(p.key_id);
                bind_run(&mut args, &p.run, p.native.as_deref())?;
            }
            for row in sqlx::query_with(&sql, args)
                .fetch_all(&mut *self.tx)
                .await?
            {
                ids.insert(row.try_get(1)?, row.try_get(0)?);
            }
        }
        for cache in [&mut self.runs_by_key, &mut self.runs_by_trace] {
            for stored in cache.values_mut().flatten() {
                if stored.id == UNSAVED {
                    if let Some(id) = ids.get(&stored.run_key) {
                        stored.id = *id;
                    }
                }
            }
        }
        Ok(())
    }

    /// The public session id of each run key (after every merge in this transaction).
    pub(super) async fn sessions_of(&mut self, keys: &[String]) -> Result<HashMap<String, String>> {
        if let Some(out) = self.sessions_of_cached(keys).await? {
            return Ok(out);
        }
        let mut out = HashMap::new();
        for chunk in keys.chunks(MAX_BINDS / 2) {
            let sql = positional(
                self.store.backend,
                format!(
                    "SELECT r.run_key, s.public_id FROM runs r JOIN sessions s ON s.id = r.session_id \
                     WHERE r.project_id = $1 AND r.run_key IN {}",
                    placeholders(2, chunk.len())
                ),
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

    /// [`Self::sessions_of`] from the runs this transaction placed, reading only the public
    /// ids of their (few) sessions; `None` when a merge or split moved runs in SQL, which the
    /// cached session of a run does not follow.
    async fn sessions_of_cached(
        &mut self,
        keys: &[String],
    ) -> Result<Option<HashMap<String, String>>> {
        if self.sessions_moved {
            return Ok(None);
        }
        let mut session_of = HashMap::with_capacity(keys.len());
        for key in keys {
            match self.runs_by_key.get(key) {
                Some(Some(run)) => session_of.insert(key.as_str(), run.session_id),
                _ => return Ok(None),
            };
        }
        let mut sessions: Vec<i64> = session_of.values().copied().collect();
        sessions.sort_unstable();
        sessions.dedup();
        let mut public = HashMap::with_capacity(sessions.len());
        for chunk in sessions.chunks(MAX_BINDS) {
            let sql = positional(
                self.store.backend,
                format!(
                    "SELECT id, public_id FROM sessions WHERE id IN {}",
                    placeholders(1, chunk.len())
                ),
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                public.insert(row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?);
            }
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (key, session) in session_of {
            let Some(id) = public.get(&session) else {
                return Ok(None);
            };
            out.insert(key.to_string(), id.clone());
        }
        Ok(Some(out))
    }
}
