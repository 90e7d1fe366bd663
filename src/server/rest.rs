//! The read API (SPEC §5), in the Waxell Observe shapes.

use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Extension, Json, Router};

use super::auth::Access;
use super::error::ApiError;
use super::state::AppState;
use crate::model::query::{self, parse_list_params};
use crate::model::{SessionDetail, SessionPage, TraceDetail};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/observability/sessions", get(list_sessions))
        .route("/api/v1/observability/sessions/", get(list_sessions))
        .route(
            "/api/v1/observability/sessions/{session_id}",
            get(session_detail),
        )
        .route(
            "/api/v1/observability/sessions/{session_id}/",
            get(session_detail),
        )
        .route("/api/v1/observability/traces/{trace_id}", get(trace_detail))
        .route(
            "/api/v1/observability/traces/{trace_id}/",
            get(trace_detail),
        )
}

/// Default and largest page of runs in a session detail.
pub const DEFAULT_RUNS_LIMIT: i64 = 100;
pub const MAX_RUNS_LIMIT: i64 = 1000;

/// Parses a non-negative integer parameter, naming it when it is not one.
fn int_param(pairs: &[(String, String)], name: &str, default: i64) -> Result<i64, ApiError> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) if v.is_empty() => Ok(default),
        Some((_, v)) => match v.parse::<i64>() {
            Ok(n) if (0..=crate::model::MAX_OFFSET).contains(&n) => Ok(n),
            _ => Err(ApiError::BadParam {
                param: name.into(),
                error: format!(
                    "`{v}` is not a whole number from 0 to {}",
                    crate::model::MAX_OFFSET
                ),
            }),
        },
    }
}

/// `GET /api/v1/observability/sessions/{session_id}/`: aggregates and a page of runs.
async fn session_detail(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    Path(session_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SessionDetail>, ApiError> {
    // The guard admitted the caller and chose the project (a key: its own).
    let project = access.project_id;
    let pairs = query_pairs(raw.as_deref());
    let limit = int_param(&pairs, "runs_limit", DEFAULT_RUNS_LIMIT)?.clamp(1, MAX_RUNS_LIMIT);
    let offset = int_param(&pairs, "runs_offset", 0)?;
    match state
        .store
        .session_detail(project, &session_id, limit, offset)
        .await?
    {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::NotFound(format!("no session `{session_id}`"))),
    }
}

/// `GET /api/v1/observability/traces/{trace_id}/`: the run and its spans.
async fn trace_detail(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    Path(trace_id): Path<String>,
) -> Result<Json<TraceDetail>, ApiError> {
    // The guard admitted the caller and chose the project (a key: its own).
    let project = access.project_id;
    match state.store.trace_detail(project, &trace_id).await? {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::NotFound(format!("no trace `{trace_id}`"))),
    }
}

/// Decodes a raw query string into pairs, as the page does (one decoder for both).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(query::parse_query_string).unwrap_or_default()
}

/// `?offset=…&limit=…` plus every other parameter of the request, as Waxell's links are.
fn page_link(pairs: &[(String, String)], offset: i64, limit: i64) -> String {
    let mut parts = vec![format!("offset={offset}"), format!("limit={limit}")];
    for (k, v) in pairs {
        if k != "offset" && k != "limit" {
            parts.push(format!(
                "{}={}",
                query::encode_component(k),
                query::encode_component(v)
            ));
        }
    }
    format!("?{}", parts.join("&"))
}

/// `GET /api/v1/observability/sessions/`.
async fn list_sessions(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SessionPage>, ApiError> {
    // The guard admitted the caller and chose the project (a key: its own).
    let project = access.project_id;
    let pairs = query_pairs(raw.as_deref());
    let query = parse_list_params(&pairs, crate::db::now_us()).map_err(|e| ApiError::BadParam {
        param: e.param,
        error: e.error,
    })?;
    let mut page = state.store.list_sessions(project, &query).await?;
    if query.offset + query.limit < page.count {
        page.next = Some(page_link(&pairs, query.offset + query.limit, query.limit));
    }
    if query.offset > 0 {
        page.previous = Some(page_link(
            &pairs,
            (query.offset - query.limit).max(0),
            query.limit,
        ));
    }
    Ok(Json(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let pairs = query_pairs(Some("search=a%20b&q=x+y&tool=%3Cscript%3E&bad=%zz"));
        assert_eq!(pairs[0], ("search".into(), "a b".into()));
        assert_eq!(pairs[1], ("q".into(), "x y".into()));
        assert_eq!(pairs[2], ("tool".into(), "<script>".into()));
        assert_eq!(pairs[3], ("bad".into(), "%zz".into()));
    }

    #[test]
    fn page_links_keep_other_parameters() {
        let pairs = vec![
            ("sort".to_string(), "-run_count".to_string()),
            ("offset".into(), "0".into()),
        ];
        assert_eq!(
            page_link(&pairs, 10, 10),
            "?offset=10&limit=10&sort=-run_count"
        );
    }
}
