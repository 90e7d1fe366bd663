//! Reusable UI pieces shared by the dashboard's pages.

pub mod chips;
pub mod icons;
pub mod pagination;
pub mod time;
