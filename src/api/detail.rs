//! Server functions for the session and trace pages. "Not found" is `Ok(None)`: the page shows
//! its own 404 view (and answers a 404 status when rendered on the server).

use leptos::prelude::*;

use crate::model::{SessionDetail, TraceDetail};

/// Most runs one call returns; the session page asks again for more.
pub const MAX_RUNS_PER_CALL: i64 = 1000;

/// A session's aggregates and the runs `runs_offset .. runs_offset + runs_limit` in time order.
///
/// For automatic sessions `grouped_by` carries the grouping rule instead of a key name (e.g.
/// `30-minute gap`, from the server's configured inactivity gap), so the page can say how the
/// session was formed; the REST API leaves it empty.
#[server(endpoint = "get_session")]
pub async fn get_session(
    id: String,
    runs_offset: i64,
    runs_limit: i64,
) -> Result<Option<SessionDetail>, ServerFnError> {
    let project = super::access()?.project_id;
    let state = super::app_state()?;
    let limit = runs_limit.clamp(1, MAX_RUNS_PER_CALL);
    let offset = runs_offset.max(0);
    let detail = state
        .store
        .session_detail(project, &id, limit, offset)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "loading a session failed");
            ServerFnError::new("The session could not be loaded. The server log has the details.")
        })?;
    Ok(detail.map(|mut d| {
        if d.grouping == "automatic" && d.grouped_by.is_none() {
            d.grouped_by = Some(crate::model::timeline::gap_rule_label(state.store.gap_us));
        }
        d
    }))
}

/// A trace's run (when one is stored) and its spans.
#[server(endpoint = "get_trace")]
pub async fn get_trace(trace_id: String) -> Result<Option<TraceDetail>, ServerFnError> {
    let project = super::access()?.project_id;
    let state = super::app_state()?;
    state
        .store
        .trace_detail(project, &trace_id)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "loading a trace failed");
            ServerFnError::new("The trace could not be loaded. The server log has the details.")
        })
}
