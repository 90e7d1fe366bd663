//! The read side: the sessions list and the project's agents. Every query reads materialised
//! session rows and the facet index; none scans runs.

use std::collections::HashMap;

use sqlx::any::AnyArguments;
use sqlx::{Arguments, Row};

use super::write::{FACET_AGENT, FACET_MODEL, FACET_TOOL, FACET_USER};
use super::{rfc3339, Result, Store};
use crate::model::{ListQuery, SessionPage, SessionSummary, SortKey};

const SESSION_COLUMNS: &str = "s.id, s.public_id, s.run_count, s.first_run, s.last_activity, \
    s.total_duration, s.total_cost, s.total_tokens, s.tokens_saved, s.error_count, s.kind";

/// Escapes `%`, `_` and `\` so user text matches literally inside `LIKE '%…%' ESCAPE '\'`.
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn sort_column(key: SortKey) -> &'static str {
    match key {
        SortKey::LastActivity => "s.last_activity",
        SortKey::FirstRun => "s.first_run",
        SortKey::RunCount => "s.run_count",
        SortKey::TotalDuration => "s.total_duration",
        SortKey::TotalCost => "s.total_cost",
        SortKey::TotalTokens => "s.total_tokens",
        SortKey::SessionId => "s.public_id",
    }
}

/// Builds a WHERE clause and its arguments together so placeholders always line up.
struct Filter {
    clauses: Vec<String>,
    args: AnyArguments<'static>,
    next: usize,
}

impl Filter {
    fn new() -> Filter {
        Filter {
            clauses: Vec::new(),
            args: AnyArguments::default(),
            next: 1,
        }
    }

    fn bind<T>(&mut self, value: T) -> String
    where
        T: 'static + Send + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        let _ = self.args.add(value);
        let p = format!("${}", self.next);
        self.next += 1;
        p
    }
}

impl Store {
    fn list_filter(&self, project_id: i64, q: &ListQuery) -> Filter {
        let like = self.backend.ilike();
        let mut f = Filter::new();
        let p = f.bind(project_id);
        f.clauses.push(format!("s.project_id = {p}"));
        if let Some(search) = &q.search {
            let p = f.bind(like_pattern(search));
            f.clauses
                .push(format!("s.public_id {like} {p} ESCAPE '\\'"));
        }
        if let Some(text) = &q.q {
            let p = f.bind(like_pattern(text));
            f.clauses.push(format!(
                "(s.public_id {like} {p} ESCAPE '\\' OR EXISTS (SELECT 1 FROM session_facets f \
                 WHERE f.session_id = s.id AND f.kind IN ({FACET_MODEL}, {FACET_TOOL}) \
                 AND f.value {like} {p} ESCAPE '\\'))"
            ));
        }
        for (kind, value) in [
            (FACET_AGENT, &q.agent),
            (FACET_MODEL, &q.model),
            (FACET_TOOL, &q.tool),
            (FACET_USER, &q.user),
        ] {
            if let Some(v) = value {
                let p = f.bind(v.clone());
                f.clauses.push(format!(
                    "EXISTS (SELECT 1 FROM session_facets f WHERE f.session_id = s.id \
                     AND f.kind = {kind} AND f.value = {p})"
                ));
            }
        }
        if q.errors_only {
            f.clauses.push("s.error_count > 0".into());
        }
        if let Some(start) = q.start {
            let p = f.bind(start);
            f.clauses.push(format!("s.last_activity >= {p}"));
        }
        if let Some(end) = q.end {
            let p = f.bind(end);
            f.clauses.push(format!("s.first_run <= {p}"));
        }
        f
    }

    /// One page of sessions and the exact number matching. `next`/`previous` are left to the
    /// caller, which knows the URL.
    pub async fn list_sessions(&self, project_id: i64, q: &ListQuery) -> Result<SessionPage> {
        let f = self.list_filter(project_id, q);
        let where_sql = f.clauses.join(" AND ");
        let count_sql = format!("SELECT COUNT(*) FROM sessions s WHERE {where_sql}");
        let count: i64 = sqlx::query_with(&count_sql, self.list_filter(project_id, q).args)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;

        let dir = if q.sort.descending { "DESC" } else { "ASC" };
        let mut f = f;
        let limit = f.bind(q.limit);
        let offset = f.bind(q.offset);
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE {where_sql} \
             ORDER BY {} {dir}, s.public_id ASC LIMIT {limit} OFFSET {offset}",
            sort_column(q.sort.key)
        );
        let rows = sqlx::query_with(&sql, f.args).fetch_all(&self.pool).await?;
        let mut results = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for r in &rows {
            ids.push(r.try_get::<i64, _>(0)?);
            results.push(SessionSummary {
                session_id: r.try_get(1)?,
                run_count: r.try_get(2)?,
                first_run: rfc3339(r.try_get(3)?),
                last_activity: rfc3339(r.try_get(4)?),
                total_duration: r.try_get::<i64, _>(5)? as f64 / 1e6,
                total_cost: r.try_get::<i64, _>(6)? as f64 / 1e9,
                total_tokens: r.try_get(7)?,
                tokens_saved: r.try_get(8)?,
                error_count: r.try_get(9)?,
                agents: Vec::new(),
                models: Vec::new(),
                tools: Vec::new(),
                users: Vec::new(),
                grouping: r.try_get(10)?,
            });
        }
        let facets = self.facets_of(&ids).await?;
        for (summary, id) in results.iter_mut().zip(&ids) {
            if let Some(mut by_kind) = facets.get(id).cloned() {
                summary.agents = std::mem::take(&mut by_kind[FACET_AGENT as usize]);
                summary.models = std::mem::take(&mut by_kind[FACET_MODEL as usize]);
                summary.tools = std::mem::take(&mut by_kind[FACET_TOOL as usize]);
                summary.users = std::mem::take(&mut by_kind[FACET_USER as usize]);
            }
        }
        Ok(SessionPage {
            results,
            count,
            next: None,
            previous: None,
        })
    }

    /// Facet values of the given sessions, by kind, most used first.
    pub(crate) async fn facets_of(&self, ids: &[i64]) -> Result<HashMap<i64, [Vec<String>; 4]>> {
        let mut out: HashMap<i64, [Vec<String>; 4]> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let list: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT session_id, kind, value FROM session_facets WHERE session_id IN ({}) \
             ORDER BY session_id, kind, runs DESC, value",
            list.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&self.pool).await? {
            let kind: i64 = r.try_get(1)?;
            if (0..4).contains(&kind) {
                out.entry(r.try_get(0)?).or_default()[kind as usize].push(r.try_get(2)?);
            }
        }
        Ok(out)
    }

    /// The project's agent names, for the list's agent filter.
    pub async fn list_agents(&self, project_id: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT value FROM session_facets WHERE project_id = $1 AND kind = $2 ORDER BY value",
        )
        .bind(project_id)
        .bind(FACET_AGENT)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}

impl Store {
    /// How many sessions exist in all projects.
    pub async fn session_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM sessions")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }
}

const RUN_VIEW_COLUMNS: &str = "run_key, agent_name, workflow_name, started_at, completed_at, \
    duration_us, failed, error, cost_nanos, input_tokens, output_tokens, trace_id, model, models, \
    routed, tokens_saved, tools_sent, tools_forwarded, tools_called, lat_dedup, lat_compression, \
    lat_tool_routing, lat_upstream, overhead_us, request_us, user_id, input, output, attributes";

fn run_view(r: &sqlx::any::AnyRow) -> Result<crate::model::RunView> {
    let us = |v: Option<i64>| v.map(|x| x as f64 / 1000.0);
    let list = |v: Option<String>| -> Vec<String> {
        v.and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    };
    let input_tokens: i64 = r.try_get(9)?;
    let output_tokens: i64 = r.try_get(10)?;
    let overhead: Option<i64> = r.try_get(23)?;
    let request: Option<i64> = r.try_get(24)?;
    let forwarded: Option<String> = r.try_get(17)?;
    let attributes: String = r.try_get(28)?;
    Ok(crate::model::RunView {
        id: r.try_get(0)?,
        agent_name: r.try_get(1)?,
        workflow_name: r.try_get(2)?,
        started_at: rfc3339(r.try_get(3)?),
        completed_at: r.try_get::<Option<i64>, _>(4)?.map(rfc3339),
        duration: r.try_get::<Option<i64>, _>(5)?.map(|d| d as f64 / 1e6),
        status: if r.try_get::<i64, _>(6)? != 0 {
            "error"
        } else {
            "success"
        }
        .to_string(),
        error: r.try_get(7)?,
        cost: r.try_get::<i64, _>(8)? as f64 / 1e9,
        tokens: input_tokens + output_tokens,
        input_tokens,
        output_tokens,
        trace_id: r.try_get(11)?,
        model: r.try_get(12)?,
        models: list(r.try_get(13)?),
        routed: r.try_get::<Option<i64>, _>(14)?.map(|v| v != 0),
        tokens_saved: r.try_get(15)?,
        tools_sent: r.try_get(16)?,
        tools_forwarded: forwarded.map(|f| list(Some(f))),
        tools_called: list(r.try_get(18)?),
        latency_ms: crate::model::LatencyMs {
            dedup: us(r.try_get(19)?),
            compression: us(r.try_get(20)?),
            tool_routing: us(r.try_get(21)?),
            upstream: us(r.try_get(22)?),
        },
        overhead_pct: match (overhead, request) {
            (Some(o), Some(t)) => crate::sessionize::overhead_ratio(o, t).map(|x| x * 100.0),
            _ => None,
        },
        user_id: r.try_get(25)?,
        input: r.try_get(26)?,
        output: r.try_get(27)?,
        attributes: serde_json::from_str(&attributes).unwrap_or(serde_json::Value::Null),
    })
}

impl Store {
    /// Resolves a public session id (or an absorbed one) to the session's row id.
    pub async fn resolve_session(&self, project_id: i64, public_id: &str) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT id FROM sessions WHERE project_id = $1 AND public_id = $2 \
             UNION ALL SELECT session_id FROM session_aliases WHERE project_id = $1 AND alias = $2",
        )
        .bind(project_id)
        .bind(public_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// A session's aggregates and one page of its runs in time order; `None` when unknown.
    pub async fn session_detail(
        &self,
        project_id: i64,
        public_id: &str,
        runs_limit: i64,
        runs_offset: i64,
    ) -> Result<Option<crate::model::SessionDetail>> {
        let Some(id) = self.resolve_session(project_id, public_id).await? else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT s.public_id, s.kind, s.grouped_by, k.name, s.run_count, s.first_run, \
               s.last_activity, s.total_duration, s.total_cost, s.total_tokens, s.input_tokens, \
               s.output_tokens, s.tokens_saved, s.error_count, s.gateway_runs, s.overhead_us, \
               s.request_us \
             FROM sessions s LEFT JOIN api_keys k ON k.id = s.api_key_id WHERE s.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut facets = self.facets_of(&[id]).await?.remove(&id).unwrap_or_default();
        let overhead: i64 = row.try_get(15)?;
        let request: i64 = row.try_get(16)?;
        let aggregates = crate::model::SessionAggregates {
            run_count: row.try_get(4)?,
            first_run: rfc3339(row.try_get(5)?),
            last_activity: rfc3339(row.try_get(6)?),
            total_duration: row.try_get::<i64, _>(7)? as f64 / 1e6,
            total_cost: row.try_get::<i64, _>(8)? as f64 / 1e9,
            total_tokens: row.try_get(9)?,
            input_tokens: row.try_get(10)?,
            output_tokens: row.try_get(11)?,
            tokens_saved: row.try_get(12)?,
            error_count: row.try_get(13)?,
            agents: std::mem::take(&mut facets[FACET_AGENT as usize]),
            models: std::mem::take(&mut facets[FACET_MODEL as usize]),
            tools: std::mem::take(&mut facets[FACET_TOOL as usize]),
            users: std::mem::take(&mut facets[FACET_USER as usize]),
            gateway_runs: row.try_get(14)?,
            avg_overhead_pct: crate::sessionize::overhead_ratio(overhead, request)
                .map(|x| x * 100.0),
        };
        let sql = format!(
            "SELECT {RUN_VIEW_COLUMNS} FROM runs WHERE session_id = $1 \
             ORDER BY started_at, run_key LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql)
            .bind(id)
            .bind(runs_limit)
            .bind(runs_offset)
            .fetch_all(&self.pool)
            .await?;
        let runs = rows.iter().map(run_view).collect::<Result<Vec<_>>>()?;
        Ok(Some(crate::model::SessionDetail {
            session_id: row.try_get(0)?,
            grouping: row.try_get(1)?,
            grouped_by: row.try_get(2)?,
            api_key: row.try_get(3)?,
            aggregates,
            runs,
            runs_offset,
            runs_limit,
        }))
    }
}

impl Store {
    /// A trace's run and spans; `None` when neither is stored.
    pub async fn trace_detail(
        &self,
        project_id: i64,
        trace_id: &str,
    ) -> Result<Option<crate::model::TraceDetail>> {
        let sql = format!(
            "SELECT {RUN_VIEW_COLUMNS}, (SELECT public_id FROM sessions s WHERE s.id = runs.session_id) \
             FROM runs WHERE project_id = $1 AND trace_id = $2 ORDER BY id LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(project_id)
            .bind(trace_id)
            .fetch_optional(&self.pool)
            .await?;
        let (run, session_id) = match &row {
            Some(r) => (Some(run_view(r)?), r.try_get::<Option<String>, _>(29)?),
            None => (None, None),
        };
        let rows = sqlx::query(
            "SELECT span_id, parent_span_id, name, kind, category, start_ns, end_ns, status_code, \
               status_message, attributes, resource, events \
             FROM spans WHERE project_id = $1 AND trace_id = $2 ORDER BY start_ns, span_id",
        )
        .bind(project_id)
        .bind(trace_id)
        .fetch_all(&self.pool)
        .await?;
        if run.is_none() && rows.is_empty() {
            return Ok(None);
        }
        let json = |text: String| serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        let ns_time = |ns: i64| rfc3339(ns.div_euclid(1000));
        let spans = rows
            .iter()
            .map(|r| {
                let start_ns: i64 = r.try_get(5)?;
                let end_ns: i64 = r.try_get(6)?;
                Ok(crate::model::SpanView {
                    span_id: r.try_get(0)?,
                    parent_span_id: r.try_get(1)?,
                    name: r.try_get(2)?,
                    kind: r.try_get(3)?,
                    category: r.try_get(4)?,
                    start_ns,
                    end_ns,
                    start: ns_time(start_ns),
                    end: ns_time(end_ns),
                    status: r.try_get(7)?,
                    status_message: r.try_get(8)?,
                    attributes: json(r.try_get(9)?),
                    resource: json(r.try_get(10)?),
                    events: json(r.try_get(11)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(crate::model::TraceDetail {
            trace_id: trace_id.to_string(),
            session_id,
            run,
            spans,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
