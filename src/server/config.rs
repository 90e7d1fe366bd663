//! Configuration values shared by the command line and the server, with their parsing.

use std::time::Duration;

pub use crate::ingest::ValueLimits;

/// Request limits (SPEC §7) and the ingestion queue bounds (SPEC §8). Each is a flag with an
/// environment twin; see `threadline serve --help` and the README's Configuration table.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body, after gzip decompression too.
    pub max_body_bytes: usize,
    /// Most runs in one native batch.
    pub max_batch_runs: usize,
    /// Most spans in one OTLP request.
    pub max_spans_per_request: usize,
    /// Largest single value (message, attribute) and longest session id.
    pub values: ValueLimits,
    /// Most ingestion requests admitted at once (being read, waiting to write, or writing);
    /// beyond it ingestion answers 429.
    pub max_pending_writes: usize,
    /// Most body bytes those requests may hold together; beyond it ingestion answers 429.
    pub max_pending_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 * 1024 * 1024,
            max_batch_runs: crate::ingest::native::MAX_RUNS_PER_BATCH,
            max_spans_per_request: 50_000,
            values: ValueLimits::default(),
            max_pending_writes: DEFAULT_MAX_PENDING_WRITES,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
        }
    }
}

/// Enough for a few clients to keep the writer busy without a long queue: at about 0.1–0.5 s per
/// batch of 1,000 runs, the last admitted request waits a few seconds, well inside exporters'
/// usual 10 s timeout.
pub const DEFAULT_MAX_PENDING_WRITES: usize = 32;
/// Decoded bodies take a few times their size in memory; 16 MiB (about 32 batches of 1,000
/// typical runs) keeps ingestion's share of the server's memory well under 100 MB.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;
/// Session ids are indexed; PostgreSQL's index entries must stay under about 2.7 kB.
pub const MAX_SESSION_ID_CHARS_CEILING: usize = 512;

/// Parses a byte size: `1048576`, `512KiB`, `10MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`
/// as binary multiples).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: usize = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 10MiB"))?;
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "`{text}` is not a size like 10MiB (units: KiB, MiB, GiB)"
            ))
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses `30m`, `90s`, `1h`, `1h30m`, `500ms` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration like 30m"))?;
        number.clear();
        let unit = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                Duration::from_millis(n)
            }
            'h' => Duration::from_secs(n * 3600),
            'm' => Duration::from_secs(n * 60),
            's' => Duration::from_secs(n),
            'd' => Duration::from_secs(n * 86_400),
            _ => {
                return Err(format!(
                    "`{text}` is not a duration like 30m (units: ms, s, m, h, d)"
                ))
            }
        };
        total += unit;
        any = true;
    }
    if !number.is_empty() || !any {
        return Err(format!(
            "`{text}` is not a duration like 30m (units: ms, s, m, h, d)"
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("30").is_ok());
        assert!(parse_duration("30x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("10MiB"), Ok(10 << 20));
        assert_eq!(parse_bytes("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("10 parsecs").is_err());
        assert!(parse_bytes("").is_err());
    }
}
