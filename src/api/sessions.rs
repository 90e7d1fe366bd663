//! Server functions for the sessions list.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::model::SessionPage;

/// One page of sessions for the list's URL parameters (SPEC §5 plus the dashboard's `range`,
/// `scope` and `status`, see `model::query`). The parameters travel as the raw pairs so the
/// server parses them exactly as the REST API does, `range` against the server's clock.
///
/// JSON input: the default URL encoding cannot carry a list of pairs.
#[server(input = Json, endpoint = "list_sessions")]
pub async fn list_sessions(params: Vec<(String, String)>) -> Result<SessionPage, ServerFnError> {
    use crate::model::query::parse_list_params;

    let project = super::access()?.project_id;
    let now_us = chrono::Utc::now().timestamp_micros();
    let query = parse_list_params(&params, now_us).map_err(|err| {
        // The client's mistake, not the server's: a 400 (for the page being rendered too), and
        // a message naming the parameter, safe to show since it only echoes the request.
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(axum::http::StatusCode::BAD_REQUEST);
        }
        ServerFnError::new(err.to_string())
    })?;
    let state = super::app_state()?;
    state
        .store
        .list_sessions(project, &query)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "listing sessions failed");
            ServerFnError::new("Sessions could not be loaded. The server log has the details.")
        })
}

/// The project's agent names, for the agent filter.
#[server(endpoint = "list_agents")]
pub async fn list_agents() -> Result<Vec<String>, ServerFnError> {
    let project = super::access()?.project_id;
    let state = super::app_state()?;
    state.store.list_agents(project).await.map_err(|err| {
        tracing::error!(error = %err, "listing agents failed");
        ServerFnError::new("Agents could not be loaded.")
    })
}

/// The message to show for a failed server function call: the server's own text when it sent
/// one, without the transport's prefix.
pub fn error_message(err: &ServerFnError) -> String {
    match err {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}
