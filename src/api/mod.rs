//! Server functions: the dashboard's data access, one module per resource. Each is thin: it
//! parses its input, calls the store, logs a storage failure and answers a generic error (the
//! cause never reaches the browser).

pub mod codec;
pub mod detail;
pub mod projects;
pub mod sessions;

/// The application state the server provides to every server function and SSR render.
#[cfg(feature = "ssr")]
pub(crate) fn app_state() -> Result<crate::server::state::AppState, leptos::prelude::ServerFnError>
{
    leptos::prelude::use_context::<crate::server::state::AppState>().ok_or_else(|| {
        tracing::error!("application state missing from the server function context");
        leptos::prelude::ServerFnError::new("The server is not set up correctly.")
    })
}

/// What the authentication guard admitted this request as (`server::auth::guard`), with the
/// project it reads; none for a request let through unauthenticated (the login page).
#[cfg(feature = "ssr")]
pub(crate) fn admitted() -> Option<crate::server::auth::Access> {
    leptos::prelude::use_context::<axum::http::request::Parts>().and_then(|parts| {
        parts
            .extensions
            .get::<crate::server::auth::Access>()
            .cloned()
    })
}

/// [`admitted`] or a 401. Server functions check it themselves: during server rendering they
/// run in-process, not through the guarded `/api/` route, so this is what keeps a page the
/// guard lets through unauthenticated from reaching data.
#[cfg(feature = "ssr")]
pub(crate) fn access() -> Result<crate::server::auth::Access, leptos::prelude::ServerFnError> {
    admitted().ok_or_else(|| {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(axum::http::StatusCode::UNAUTHORIZED);
        }
        leptos::prelude::ServerFnError::new("Sign in to see this.")
    })
}
