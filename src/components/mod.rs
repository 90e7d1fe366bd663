//! Reusable UI pieces shared by the dashboard's pages.

pub mod chips;
pub mod icons;
pub mod latency_bar;
pub mod links;
pub mod pagination;
pub mod time;
pub mod timeline;
pub mod waterfall;
