//! The HTTP router: ingestion, the REST API, health, server functions and the Leptos pages,
//! with one log line per request.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};

use super::auth::{self, AuthSettings};
use super::state::AppState;
use super::{ingest, login, rest};
use crate::app::{shell, App};

/// The whole application without logins (what loopback serves by default).
pub fn router(state: AppState) -> Router {
    router_with_auth(state, AuthSettings::open())
}

/// The whole application, behind the authentication guard (`auth::guard`).
pub fn router_with_auth(state: AppState, auth: AuthSettings) -> Router {
    let gate = auth::Gate {
        store: state.store.clone(),
        settings: Arc::new(auth),
    };
    let routes = page_routes();
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .merge(ingest::router(&state))
        .merge(rest::router())
        .merge(login::router())
        // Unknown REST paths answer JSON like the rest of the API. (Server functions are
        // registered at their own paths by `leptos_routes_with_context`.)
        .route("/api/v1/{*rest}", axum::routing::any(unknown_api))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            {
                let options = state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Room for the gzip header; decompressed size is checked again by the handlers.
        .layer(DefaultBodyLimit::max(body_limit))
        // Every route, the fallback (static files, 404s) included, passes the guard.
        .layer(middleware::from_fn_with_state(gate, auth::guard))
        // Pages, JSON and the WebAssembly bundle go out brotli- or gzip-compressed when the
        // client accepts it (the bundle shrinks about 3x).
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// The page routes, listed once per process. Listing them renders the app with resource
/// loading switched off through a process-wide flag (leptos issue #4773), so a page rendering
/// meanwhile for another router of the same process (the tests and the benchmark build
/// several) would wait forever for a resource that never starts: seen as `GET /` hanging in
/// about one run in three of tests/auth.rs.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

async fn unknown_api(request: Request) -> Response {
    super::error::ApiError::NotFound(format!(
        "no API endpoint {} {}",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

/// `GET /healthz`: 200 when the database answers.
async fn healthz(State(state): State<AppState>) -> Response {
    if state.store.ping().await {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

/// One INFO line per request: method, route template (never raw ids), status and latency.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| {
            if request.uri().path().starts_with("/pkg/") {
                "/pkg/{file}".into()
            } else {
                "(unmatched)".into()
            }
        });
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(%method, route, status, latency_ms = format!("{latency_ms:.2}"), "request");
    response
}
