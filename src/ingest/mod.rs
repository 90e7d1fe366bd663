//! Everything that turns client data into stored runs, spans and sessions: decoding and
//! validating the two wire formats, combining sources into runs, and the write path.

pub mod native;
pub mod otlp;
pub mod run;
