//! Configuration values shared by the command line and the server, with their parsing.

use std::time::Duration;

/// Request limits (SPEC §7). Each is a flag with an environment twin; see `threadline serve --help`.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body, after gzip decompression too.
    pub max_body_bytes: usize,
    /// Most runs in one native batch.
    pub max_batch_runs: usize,
    /// Most spans in one OTLP request.
    pub max_spans_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 * 1024 * 1024,
            max_batch_runs: crate::ingest::native::MAX_RUNS_PER_BATCH,
            max_spans_per_request: 50_000,
        }
    }
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
}
