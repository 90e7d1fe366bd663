//! The server side: command line, configuration, the HTTP router and its handlers.

pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod ingest;
pub mod login;
pub mod overload;
pub mod rest;
pub mod state;
