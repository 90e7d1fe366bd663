//! OpenTelemetry (OTLP/HTTP) traces, as pure functions: [`decode`] turns request bodies into
//! `ExportTraceServiceRequest`s and answers back in the client's encoding; [`mapping`] flattens
//! requests into stored spans and rolls the spans of one trace up into one run (SPEC §3.2).
//!
//! Nothing here does I/O: the HTTP layer handles auth, limits and gzip, the store persists spans
//! and rollups. Keeping the mapping pure lets it be tested exhaustively and lets the store
//! recompute a run from its stored spans with the same code.

pub mod decode;
pub mod mapping;
