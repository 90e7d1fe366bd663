//! Session totals: deltas from brand-new runs, applied in bulk; full recomputation from runs
//! for sessions a change, merge or split touched.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::{
    parse_list, rows_per_statement, value_rows, Writer, FACET_AGENT, FACET_MODEL, FACET_SHARED_BIT,
    FACET_TOOL, FACET_USER,
};
use crate::db::read::facet_bits;
use crate::db::Result;
use crate::ingest::run::Run;

/// Totals stop here: clients send any numbers, and a sum past the column's range would turn
/// into a float on SQLite and fail on PostgreSQL.
const TOTAL_MAX: i64 = i64::MAX;

/// `column + delta` in SQL, stopping at [`TOTAL_MAX`] (neither operand is computed past it).
fn add_capped(column: &str, delta: &str) -> String {
    format!(
        "CASE WHEN {delta} <= 0 THEN {column} + {delta} \
         WHEN {column} > {TOTAL_MAX} - {delta} THEN {TOTAL_MAX} ELSE {column} + {delta} END"
    )
}

/// A sum of client numbers, stopping at [`TOTAL_MAX`] (the end of the integer range).
fn sum_capped(values: impl Iterator<Item = i64>) -> i64 {
    values.fold(0, i64::saturating_add)
}

/// Per-session sums of the runs added in this transaction.
pub(super) struct Delta {
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

impl Default for Delta {
    fn default() -> Self {
        Delta {
            runs: 0,
            first_run: i64::MAX,
            last_activity: i64::MIN,
            duration: 0,
            cost: 0,
            input_tokens: 0,
            output_tokens: 0,
            tokens_saved: 0,
            errors: 0,
            overhead_us: 0,
            request_us: 0,
            gateway_runs: 0,
            facets: HashMap::new(),
        }
    }
}

/// Distinct facet values of one run: its agent, models, tools called and user.
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

/// Columns of the bulk session update, in `VALUES` order (`column1` is the session id).
const DELTA_COLUMNS: usize = 17;
const FACET_COLUMNS: usize = 5;

impl Writer<'_> {
    pub(super) fn add_delta(&mut self, session: i64, run: &Run) {
        let d = self.deltas.entry(session).or_default();
        d.runs += 1;
        d.first_run = d.first_run.min(run.started_at);
        d.last_activity = d.last_activity.max(run.activity_at());
        let add = |sum: &mut i64, v: i64| *sum = sum_capped([*sum, v].into_iter());
        add(&mut d.duration, run.duration_us.unwrap_or(0));
        add(&mut d.cost, run.cost_nanos);
        add(&mut d.input_tokens, run.input_tokens);
        add(&mut d.output_tokens, run.output_tokens);
        add(&mut d.tokens_saved, run.tokens_saved);
        d.errors += run.failed as i64;
        if let Some((overhead, total)) = run.overhead() {
            add(&mut d.overhead_us, overhead);
            add(&mut d.request_us, total);
            d.gateway_runs += 1;
        }
        for facet in run_facets(run) {
            *d.facets.entry(facet).or_default() += 1;
        }
    }

    /// Brings every touched session's aggregates up to date.
    pub(super) async fn finish_sessions(&mut self) -> Result<()> {
        let mut dirty: Vec<i64> = self.dirty.iter().copied().collect();
        dirty.sort_unstable();
        for s in dirty {
            self.recompute(s).await?;
        }
        let mut deltas: Vec<(i64, Delta)> = self
            .deltas
            .drain()
            .filter(|(s, _)| !self.dirty.contains(s))
            .collect();
        deltas.sort_unstable_by_key(|(s, _)| *s);
        self.apply_deltas(&deltas).await
    }

    /// Makes sure every agent, model and tool among `facets` has its bit (`facet_values`),
    /// numbering values the project has not had before.
    async fn learn_facet_bits<'a>(
        &mut self,
        facets: impl Iterator<Item = &'a (i64, String)>,
    ) -> Result<()> {
        let mut unknown: Vec<&(i64, String)> = facets
            .filter(|f| (FACET_AGENT..=FACET_TOOL).contains(&f.0))
            .filter(|f| !self.facet_bits.contains_key(*f))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_unstable();
        unknown.dedup();
        let project = self.owner.project_id;
        let values: Vec<(i64, &str)> = unknown.iter().map(|(k, v)| (*k, v.as_str())).collect();
        facet_bits(&mut self.tx, project, &values, &mut self.facet_bits).await?;
        let new: Vec<(i64, String)> = unknown
            .into_iter()
            .filter(|f| !self.facet_bits.contains_key(*f))
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        // Writers of a project take turns (see `Writer::begin`), so the numbering is stable.
        let mut used: HashMap<i64, i64> = HashMap::new();
        for r in sqlx::query(
            "SELECT kind, COUNT(*) FROM facet_values WHERE project_id = $1 GROUP BY kind",
        )
        .bind(project)
        .fetch_all(&mut *self.tx)
        .await?
        {
            used.insert(r.try_get(0)?, r.try_get(1)?);
        }
        for chunk in new.chunks(rows_per_statement(4)) {
            let sql = format!(
                "INSERT INTO facet_values (project_id, kind, value, bit) VALUES {}",
                value_rows(self.store.backend, chunk.len(), 4)
            );
            let mut q = sqlx::query(&sql);
            for (kind, value) in chunk {
                let n = used.entry(*kind).or_default();
                let bit = (*n).min(FACET_SHARED_BIT);
                *n += 1;
                q = q.bind(project).bind(*kind).bind(value.clone()).bind(bit);
                self.facet_bits.insert((*kind, value.clone()), bit);
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// The agent, model and tool bits of a set of facet values (learnt beforehand), indexed
    /// by kind; users have no bits and are not in `facet_bits`.
    fn facet_bits_of<'a>(&self, facets: impl Iterator<Item = &'a (i64, String)>) -> [i64; 3] {
        let mut bits = [0i64; 3];
        for f in facets {
            if let Some(bit) = self.facet_bits.get(f) {
                bits[f.0 as usize] |= 1 << bit;
            }
        }
        bits
    }

    /// Adds the deltas to their sessions and their facet counts, many rows per statement.
    async fn apply_deltas(&mut self, deltas: &[(i64, Delta)]) -> Result<()> {
        self.learn_facet_bits(deltas.iter().flat_map(|(_, d)| d.facets.keys()))
            .await?;
        for chunk in deltas.chunks(rows_per_statement(DELTA_COLUMNS)) {
            // `VALUES` columns are named column1… in both SQLite and PostgreSQL.
            let sql = format!(
                "UPDATE sessions SET \
                   first_run = CASE WHEN run_count = 0 OR v.column2 < first_run \
                               THEN v.column2 ELSE first_run END, \
                   last_activity = CASE WHEN run_count = 0 OR v.column3 > last_activity \
                                   THEN v.column3 ELSE last_activity END, \
                   run_count = run_count + v.column4, total_duration = {}, total_cost = {}, \
                   input_tokens = {}, output_tokens = {}, total_tokens = {}, tokens_saved = {}, \
                   error_count = error_count + v.column10, overhead_us = {}, request_us = {}, \
                   gateway_runs = gateway_runs + v.column13, agent_bits = agent_bits | v.column14, \
                   model_bits = model_bits | v.column15, tool_bits = tool_bits | v.column16 \
                 FROM (VALUES {}) AS v WHERE sessions.id = v.column1",
                add_capped("total_duration", "v.column5"),
                add_capped("total_cost", "v.column6"),
                add_capped("input_tokens", "v.column7"),
                add_capped("output_tokens", "v.column8"),
                add_capped("total_tokens", "v.column17"),
                add_capped("tokens_saved", "v.column9"),
                add_capped("overhead_us", "v.column11"),
                add_capped("request_us", "v.column12"),
                value_rows(self.store.backend, chunk.len(), DELTA_COLUMNS)
            );
            let mut q = sqlx::query(&sql);
            for (s, d) in chunk {
                let [agents, models, tools] = self.facet_bits_of(d.facets.keys());
                q = q
                    .bind(*s)
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
                    .bind(agents)
                    .bind(models)
                    .bind(tools)
                    .bind(sum_capped([d.input_tokens, d.output_tokens].into_iter()));
            }
            q.execute(&mut *self.tx).await?;
        }
        let facets: Vec<(i64, &(i64, String), i64)> = deltas
            .iter()
            .flat_map(|(s, d)| d.facets.iter().map(move |(f, n)| (*s, f, *n)))
            .collect();
        self.upsert_facets(&facets, true).await
    }

    /// Writes facet counts: added to the stored ones, or replacing them.
    async fn upsert_facets(
        &mut self,
        facets: &[(i64, &(i64, String), i64)],
        add: bool,
    ) -> Result<()> {
        for chunk in facets.chunks(rows_per_statement(FACET_COLUMNS)) {
            let sql =
                format!(
                "INSERT INTO session_facets (session_id, kind, value, runs, project_id) VALUES {} \
                 ON CONFLICT (session_id, kind, value) DO UPDATE SET runs = {}",
                value_rows(self.store.backend, chunk.len(), FACET_COLUMNS),
                if add { "session_facets.runs + excluded.runs" } else { "excluded.runs" }
            );
            let mut q = sqlx::query(&sql);
            for (s, (kind, value), runs) in chunk {
                q = q
                    .bind(*s)
                    .bind(*kind)
                    .bind(value.clone())
                    .bind(*runs)
                    .bind(self.owner.project_id);
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Recomputes a session's aggregates and facets from its runs; deletes it when empty.
    async fn recompute(&mut self, s: i64) -> Result<()> {
        // Summed here rather than with SQL's SUM, which fails past the integer range (both
        // databases): totals stop at `TOTAL_MAX` instead.
        let rows = sqlx::query(
            "SELECT agent_name, user_id, models, tools_called, started_at, \
               COALESCE(completed_at, started_at), COALESCE(duration_us, 0), cost_nanos, \
               input_tokens, output_tokens, tokens_saved, failed, COALESCE(overhead_us, 0), \
               request_us \
             FROM runs WHERE session_id = $1",
        )
        .bind(s)
        .fetch_all(&mut *self.tx)
        .await?;
        let count = rows.len() as i64;
        if count == 0 {
            let tx = &mut *self.tx;
            for sql in [
                "DELETE FROM session_facets WHERE session_id = $1",
                "DELETE FROM session_aliases WHERE session_id = $1",
                "UPDATE chains SET auto_session_id = NULL WHERE auto_session_id = $1",
                "DELETE FROM sessions WHERE id = $1",
            ] {
                sqlx::query(sql).bind(s).execute(&mut *tx).await?;
            }
            self.forget_auto(s);
            self.explicit_cache.retain(|_, id| *id != s);
            return Ok(());
        }
        // Columns 4… of each run: started, last activity, duration, cost, input, output, saved,
        // failed, overhead, request time (NULL outside the gateway).
        let mut numbers: Vec<[i64; 9]> = Vec::with_capacity(rows.len());
        let mut request: Vec<Option<i64>> = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut n = [0i64; 9];
            for (k, v) in n.iter_mut().enumerate() {
                *v = r.try_get(4 + k)?;
            }
            numbers.push(n);
            request.push(r.try_get(13)?);
        }
        let column = |k: usize| numbers.iter().map(move |n| n[k]);
        let first_run = column(0).min().unwrap_or(0);
        let last_activity = column(1).max().unwrap_or(0);
        let (input, output) = (sum_capped(column(4)), sum_capped(column(5)));
        let errors: i64 = column(7).sum();
        let requests = request.iter().flatten().copied();
        let gateway_runs = request.iter().flatten().count() as i64;

        let mut counts: HashMap<(i64, String), i64> = HashMap::new();
        for r in rows {
            let mut bump = |k: i64, v: String| *counts.entry((k, v)).or_default() += 1;
            bump(FACET_AGENT, r.try_get(0)?);
            if let Some(u) = r.try_get::<Option<String>, _>(1)? {
                bump(FACET_USER, u);
            }
            let mut seen = HashSet::new();
            for m in parse_list(r.try_get(2)?) {
                if seen.insert((FACET_MODEL, m.clone())) {
                    bump(FACET_MODEL, m);
                }
            }
            for t in parse_list(r.try_get(3)?) {
                if seen.insert((FACET_TOOL, t.clone())) {
                    bump(FACET_TOOL, t);
                }
            }
        }
        self.learn_facet_bits(counts.keys()).await?;
        let [agents, models, tools] = self.facet_bits_of(counts.keys());

        sqlx::query(
            "UPDATE sessions SET run_count = $2, first_run = $3, last_activity = $4, \
               total_duration = $5, total_cost = $6, input_tokens = $7, output_tokens = $8, \
               total_tokens = $9, tokens_saved = $10, error_count = $11, overhead_us = $12, \
               request_us = $13, gateway_runs = $14, agent_bits = $15, model_bits = $16, \
               tool_bits = $17 WHERE id = $1",
        )
        .bind(s)
        .bind(count)
        .bind(first_run)
        .bind(last_activity)
        .bind(sum_capped(column(2)))
        .bind(sum_capped(column(3)))
        .bind(input)
        .bind(output)
        .bind(sum_capped([input, output].into_iter()))
        .bind(sum_capped(column(6)))
        .bind(errors)
        .bind(sum_capped(column(8)))
        .bind(sum_capped(requests))
        .bind(gateway_runs)
        .bind(agents)
        .bind(models)
        .bind(tools)
        .execute(&mut *self.tx)
        .await?;

        sqlx::query("DELETE FROM session_facets WHERE session_id = $1")
            .bind(s)
            .execute(&mut *self.tx)
            .await?;
        let facets: Vec<(i64, &(i64, String), i64)> =
            counts.iter().map(|(f, n)| (s, f, *n)).collect();
        self.upsert_facets(&facets, false).await
    }
}
