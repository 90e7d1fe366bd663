//! What every handler and server function can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::config::Limits;
use crate::db::Store;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    pub leptos_options: LeptosOptions,
    pub limits: Arc<Limits>,
}

impl AppState {
    /// The state of an application not bound to an address of its own (the router called in
    /// process): `store` with `limits` and the default Leptos options of the `threadline` bundle.
    pub fn new(store: Store, limits: Limits) -> AppState {
        AppState {
            store,
            leptos_options: LeptosOptions::builder().output_name("threadline").build(),
            limits: Arc::new(limits),
        }
    }
}
