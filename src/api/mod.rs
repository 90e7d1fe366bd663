//! Server functions: the dashboard's data access, one module per resource. Each is thin: it
//! parses its input, calls the store, logs a storage failure and answers a generic error (the
//! cause never reaches the browser).

pub mod detail;
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
