//! Threadline: a self-hosted sessions dashboard for LLM agents and gateways.
//!
//! Shared by the server binary (feature `ssr`) and the WebAssembly bundle (feature `hydrate`):
//! the app, pages and components render on both sides; everything under the `ssr` gate exists
//! only on the server.

pub mod api;
pub mod app;
pub mod components;
pub mod model;
pub mod pages;

#[cfg(feature = "ssr")]
pub mod bench;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod ingest;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod sessionize;

/// Entry point of the WebAssembly bundle: attach to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // The lazy variant: the detail routes' code arrives in its own file (see `app.rs`), and a
    // page opened directly on one of them must wait for it before hydrating.
    leptos::mount::hydrate_lazy(app::App);
}
