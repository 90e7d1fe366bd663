//! The ceiling: how fast the database takes the same rows with no Threadline logic at all —
//! plain multi-row `INSERT`s of `runs` and `spans` rows in one transaction each, through the
//! store's own connection pool, into the same tables (under a project of their own).
//!
//! The column lists are read from the live schema, so the ceiling follows schema changes: known
//! columns get the values Threadline would store, unknown nullable or defaulted ones are left
//! out, unknown required ones get a zero or an empty string.

use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::any::AnyArguments;
use sqlx::{Arguments, Row};

use super::data::{attrs_json, scope, Dataset, Run, Span};
use crate::db::{Backend, Store};

/// Bound parameters per statement. Measured on both backends (2-core machine, release build):
/// 1,000–4,000 parameters per statement insert fastest; 30,000 is slower on PostgreSQL, and on
/// SQLite much slower with numbered `$N` placeholders (see [`insert_sql`]).
pub const PARAMS_PER_STATEMENT: usize = 2_000;

/// Rows per multi-row INSERT for a table of `columns` columns.
fn rows_per_statement(columns: usize) -> usize {
    (PARAMS_PER_STATEMENT / columns.max(1)).max(1)
}

/// A value for one column.
enum Val {
    Int(Option<i64>),
    Text(Option<String>),
    Real(Option<f64>),
}

#[derive(Clone, Copy, PartialEq)]
enum ColType {
    Int,
    Text,
    Real,
}

struct Column {
    name: String,
    ty: ColType,
}

/// Rows inserted, and how long it took (including building the statements' arguments).
pub struct CeilingResult {
    pub rows: usize,
    pub elapsed: Duration,
    pub statements: usize,
    pub timed_out: bool,
}

/// Inserts every run of `native` as a `runs` row and every span of `otlp` as a `spans` row.
pub async fn measure(
    store: &Store,
    native: &Dataset,
    otlp: &Dataset,
    deadline: Instant,
) -> anyhow::Result<(CeilingResult, CeilingResult)> {
    let project_id = store.ensure_project("bench-ceiling").await?;
    let run_cols = columns(store, "runs").await?;
    let runs = insert_all(
        store,
        "runs",
        &run_cols,
        &native.runs,
        deadline,
        |run, col| run_value(run, col, project_id),
    )
    .await
    .context("ceiling: inserting runs rows")?;

    let span_cols = columns(store, "spans").await?;
    // Spans are derived from their runs again (they are not kept in memory).
    let spans: Vec<(usize, Span)> = otlp
        .runs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.spans().into_iter().map(move |s| (i, s)))
        .collect();
    let spans = insert_all(
        store,
        "spans",
        &span_cols,
        &spans,
        deadline,
        |(i, span), col| span_value(&otlp.runs[*i], span, col, project_id),
    )
    .await
    .context("ceiling: inserting spans rows")?;
    Ok((runs, spans))
}

async fn columns(store: &Store, table: &str) -> anyhow::Result<Vec<Column>> {
    // (name, declared type, required without default, generated id: SQLite's INTEGER PRIMARY
    // KEY or a PostgreSQL sequence)
    let sql = match store.backend() {
        Backend::Sqlite => format!(
            "SELECT name, type, CAST(\"notnull\" = 1 AND dflt_value IS NULL AS BIGINT), \
             CAST(pk = 1 AND UPPER(type) = 'INTEGER' AND \
               (SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE pk > 0) = 1 AS BIGINT) \
             FROM pragma_table_info('{table}') ORDER BY cid"
        ),
        Backend::Postgres => format!(
            "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT), \
             CAST(CASE WHEN is_nullable = 'NO' AND column_default IS NULL THEN 1 ELSE 0 END AS BIGINT), \
             CAST(CASE WHEN column_default LIKE 'nextval(%' THEN 1 ELSE 0 END AS BIGINT) \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    };
    let rows = sqlx::query(&sql).fetch_all(&store.pool).await?;
    let mut out = Vec::new();
    for row in rows {
        let name: String = row.try_get(0)?;
        let declared: String = row.try_get(1)?;
        let required: i64 = row.try_get(2)?;
        let auto_id: i64 = row.try_get(3)?;
        let declared = declared.to_ascii_lowercase();
        let ty = if declared.contains("int") {
            ColType::Int
        } else if ["real", "double", "float", "numeric"]
            .iter()
            .any(|t| declared.contains(t))
        {
            ColType::Real
        } else {
            ColType::Text
        };
        let known = KNOWN_RUN_COLUMNS.contains(&name.as_str())
            || KNOWN_SPAN_COLUMNS.contains(&name.as_str());
        if auto_id == 1 || (!known && required == 0) {
            continue;
        }
        out.push(Column { name, ty });
    }
    anyhow::ensure!(!out.is_empty(), "table `{table}` not found");
    Ok(out)
}

const KNOWN_RUN_COLUMNS: [&str; 35] = [
    "project_id",
    "run_key",
    "session_id",
    "api_key_id",
    "explicit",
    "session_source",
    "user_id",
    "agent_name",
    "workflow_name",
    "started_at",
    "completed_at",
    "duration_us",
    "failed",
    "error",
    "model",
    "models",
    "routed",
    "input_tokens",
    "output_tokens",
    "tokens_saved",
    "cost_nanos",
    "tools_sent",
    "tools_forwarded",
    "tools_called",
    "lat_dedup",
    "lat_compression",
    "lat_tool_routing",
    "lat_upstream",
    "overhead_us",
    "request_us",
    "trace_id",
    "input",
    "output",
    "attributes",
    "native",
];

const KNOWN_SPAN_COLUMNS: [&str; 15] = [
    "project_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "category",
    "start_ns",
    "end_ns",
    "status_code",
    "status_message",
    "attributes",
    "resource",
    "scope",
    "events",
];

fn text(s: impl Into<String>) -> Val {
    Val::Text(Some(s.into()))
}

fn int(i: i64) -> Val {
    Val::Int(Some(i))
}

fn list(items: &[&str]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// The value Threadline stores in `col` for `run` (`None`: not a column the benchmark knows).
fn run_value(run: &Run, col: &Column, project_id: i64) -> Option<Val> {
    let g = run.gateway.as_ref();
    let lat = |i: usize| Val::Int(g.map(|g| g.latency_us[i]));
    Some(match col.name.as_str() {
        "project_id" => int(project_id),
        "run_key" => text(run.id.clone()),
        // Session rows are not written here: a sequence number stands in for the session's id.
        "session_id" => int(1_000_000 + run.session_no as i64),
        "api_key_id" => int(1_000 + run.key as i64),
        "explicit" => int(i64::from(run.session_id.is_some())),
        "session_source" => Val::Text(run.session_id.as_ref().map(|_| "session_id".into())),
        "user_id" => Val::Text(run.user_id.clone()),
        "agent_name" => text(run.agent_name()),
        "workflow_name" => text(run.workflow_name()),
        "started_at" => int(run.started_us),
        "completed_at" => int(run.started_us + run.duration_us),
        "duration_us" => int(run.duration_us),
        "failed" => int(i64::from(run.error.is_some())),
        "error" => Val::Text(run.error.map(str::to_string)),
        "model" => text(run.model),
        "models" => text(list(&[run.model])),
        "routed" => Val::Int(g.map(|g| i64::from(g.routed))),
        "input_tokens" => int(run.input_tokens),
        "output_tokens" => int(run.output_tokens),
        "tokens_saved" => int(g.map_or(0, |g| g.tokens_saved)),
        "cost_nanos" => int(run.cost_nanos),
        "tools_sent" => Val::Int(g.map(|g| g.tools_sent)),
        "tools_forwarded" => Val::Text(g.map(|g| list(&g.tools_forwarded))),
        "tools_called" => text(list(&run.tools_called)),
        "lat_dedup" => lat(0),
        "lat_compression" => lat(1),
        "lat_tool_routing" => lat(2),
        "lat_upstream" => lat(3),
        "overhead_us" => Val::Int(g.map(|g| g.latency_us[..3].iter().sum())),
        "request_us" => Val::Int(g.map(|_| run.duration_us)),
        "trace_id" => text(run.trace_hex()),
        "input" => text(run.input),
        "output" => Val::Text(run.output.map(str::to_string)),
        "attributes" => text(serde_json::Value::Object(run.attributes()).to_string()),
        // The fields the native client sent, kept for combining with spans later.
        "native" => text(run.native_json().to_string()),
        _ => return None,
    })
}

fn span_value(run: &Run, span: &Span, col: &Column, project_id: i64) -> Option<Val> {
    Some(match col.name.as_str() {
        "project_id" => int(project_id),
        "trace_id" => text(hex::encode(span.trace_id)),
        "span_id" => text(hex::encode(span.span_id)),
        "parent_span_id" => Val::Text(span.parent.map(hex::encode)),
        "name" => text(span.name.clone()),
        "kind" => text(span.kind_name()),
        "category" => text(span.category),
        "start_ns" => int(span.start_ns),
        "end_ns" => int(span.end_ns),
        "status_code" => text(if span.error.is_some() {
            "error"
        } else {
            "unset"
        }),
        "status_message" => Val::Text(span.error.map(str::to_string)),
        "attributes" => text(attrs_json(&span.attrs)),
        "resource" => text(attrs_json(&run.resource())),
        "scope" => text(scope()),
        "events" => text("[]"),
        _ => return None,
    })
}

fn default_for(col: &Column) -> Val {
    match col.ty {
        ColType::Int => int(0),
        ColType::Real => Val::Real(Some(0.0)),
        ColType::Text => text(""),
    }
}

fn bind(args: &mut AnyArguments<'_>, v: Val) -> anyhow::Result<()> {
    let r = match v {
        Val::Int(x) => args.add(x),
        Val::Text(x) => args.add(x),
        Val::Real(x) => args.add(x),
    };
    r.map_err(|e| anyhow::anyhow!("cannot bind a value: {e}"))
}

/// `INSERT INTO table (cols) VALUES (…), (…)` for `rows` rows. SQLite gets anonymous `?`
/// placeholders: for numbered ones (`$1`) sqlx asks SQLite each parameter's name, a linear search
/// per parameter, which makes binding quadratic in the parameters of a statement (a 30,000-
/// parameter INSERT then takes seconds). PostgreSQL needs `$N`.
fn insert_sql(backend: Backend, table: &str, cols: &[Column], rows: usize) -> String {
    let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", names.join(", "));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols.len() {
            n += 1;
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => sql.push_str(&format!("${n}")),
            }
        }
        sql.push(')');
    }
    sql
}

async fn insert_all<T>(
    store: &Store,
    table: &str,
    cols: &[Column],
    items: &[T],
    deadline: Instant,
    value: impl Fn(&T, &Column) -> Option<Val>,
) -> anyhow::Result<CeilingResult> {
    let per_statement = rows_per_statement(cols.len());
    let full_sql = insert_sql(store.backend(), table, cols, per_statement);
    let started = Instant::now();
    let mut tx = store.pool.begin().await?;
    let (mut rows, mut statements, mut timed_out) = (0, 0, false);
    for chunk in items.chunks(per_statement) {
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        let mut args = AnyArguments::default();
        for item in chunk {
            for col in cols {
                bind(
                    &mut args,
                    value(item, col).unwrap_or_else(|| default_for(col)),
                )?;
            }
        }
        let partial;
        let sql = if chunk.len() == per_statement {
            &full_sql
        } else {
            partial = insert_sql(store.backend(), table, cols, chunk.len());
            &partial
        };
        sqlx::query_with(sql, args).execute(&mut *tx).await?;
        rows += chunk.len();
        statements += 1;
    }
    tx.commit().await?;
    Ok(CeilingResult {
        rows,
        elapsed: started.elapsed(),
        statements,
        timed_out,
    })
}
