//! One module per route of the dashboard.

pub mod login;
pub mod not_found;
pub mod session;
pub mod sessions;
pub mod trace;
