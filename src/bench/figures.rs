//! The SPEC §9 table: one row per figure with its target and a ✓ or ✗, and the plain helpers
//! that word and check those figures.

use super::queries::Kind;
use super::report::{table, thousands};

/// A SPEC §9 target and whether the figure meets it; `met` is `None` when the figure cannot
/// say (nothing measured, or a debug bundle).
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub target: String,
    pub met: Option<bool>,
}

impl Check {
    /// `p95 ≤ 25 ms`.
    pub fn p95_within(limit_ms: f64, p95_ms: Option<f64>) -> Check {
        Check {
            target: format!("p95 ≤ {limit_ms} ms"),
            met: p95_ms.map(|p| p <= limit_ms),
        }
    }

    /// `≥ 50,000 runs/s`; a phase cut short by its time limit does not count as sustained.
    pub fn rate_at_least(min: f64, unit: &str, rate: f64, complete: bool) -> Check {
        Check {
            target: format!("≥ {} {unit}/s", thousands(min as u64)),
            met: Some(complete && rate >= min),
        }
    }

    /// `≤ 300 KB brotli`, with decimal units as SPEC §9 writes them.
    pub fn at_most(limit: u64, what: &str, value: Option<u64>) -> Check {
        Check {
            target: format!("≤ {} {what}", decimal_bytes(limit)),
            met: value.map(|v| v <= limit),
        }
    }

    /// `✓`, `✗`, or `?` when the figure cannot say.
    pub fn mark(&self) -> &'static str {
        match self.met {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "?",
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// `SQLite 3.46.1`, `PostgreSQL 15.8`, or `—` for what does not depend on the database.
    pub backend: String,
    pub what: String,
    /// The figure itself (a rate, a size) or what the answer held (`25 of 12,345`).
    pub result: String,
    /// Server-side latency (in process): what the targets are checked against.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Client-side latency over loopback HTTP.
    pub http_p95_ms: Option<f64>,
    pub check: Option<Check>,
}

/// Milliseconds with the precision their size deserves: `0.42`, `3.14`, `12.3`, `1,234`.
pub fn ms(value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 1000.0 => format!("{v:.1}"),
        Some(v) => thousands(v.round() as u64),
    }
}

/// Bytes in SPEC §9's decimal units: `312 KB`, `85.2 MB`, `3.10 GB`.
pub fn decimal_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes < 1_000_000 {
        format!("{} KB", thousands((b / 1e3).round() as u64))
    } else if bytes < 1_000_000_000 && bytes % 1_000_000 == 0 {
        format!("{} MB", bytes / 1_000_000)
    } else if bytes < 1_000_000_000 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// The table, in the order given.
pub fn render_table(figures: &[Figure]) -> String {
    let header = [
        "backend",
        "measurement",
        "result",
        "p50 ms",
        "p95 ms",
        "HTTP p95 ms",
        "SPEC §9 target",
        "",
    ];
    let numeric = [false, false, false, true, true, true, false, false];
    let rows: Vec<Vec<String>> = figures
        .iter()
        .map(|f| {
            vec![
                f.backend.clone(),
                f.what.clone(),
                f.result.clone(),
                ms(f.p50_ms),
                ms(f.p95_ms),
                ms(f.http_p95_ms),
                f.check
                    .as_ref()
                    .map(|c| c.target.clone())
                    .unwrap_or_else(|| "—".into()),
                f.check
                    .as_ref()
                    .map(|c| c.mark().to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(&header, &numeric, &rows)
}

/// `SQLite 3.46.1: 45 of 48 list requests meet p95 ≤ 25 ms; the slowest p95 is 31.2 ms (list …).`
pub fn list_summary(backend: &str, figures: &[Figure], list_prefix: &str) -> Option<String> {
    let lists: Vec<&Figure> = figures
        .iter()
        .filter(|f| f.backend == backend && f.what.starts_with(list_prefix))
        .collect();
    let slowest = lists.iter().filter(|f| f.p95_ms.is_some()).max_by(|a, b| {
        a.p95_ms
            .partial_cmp(&b.p95_ms)
            .unwrap_or(std::cmp::Ordering::Equal)
    })?;
    let met = lists
        .iter()
        .filter(|f| f.check.as_ref().and_then(|c| c.met) == Some(true))
        .count();
    Some(format!(
        "{backend}: {} of {} list requests meet p95 ≤ {} ms; the slowest p95 is {} ms ({}).",
        met,
        lists.len(),
        Kind::List.target_ms(),
        ms(slowest.p95_ms),
        slowest.what
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(what: &str, p95: Option<f64>) -> Figure {
        Figure {
            backend: "SQLite".into(),
            what: what.into(),
            result: "25 of 100".into(),
            p50_ms: p95.map(|p| p / 2.0),
            p95_ms: p95,
            http_p95_ms: None,
            check: Some(Check::p95_within(25.0, p95)),
        }
    }

    #[test]
    fn checks_compare_against_the_target() {
        assert_eq!(Check::p95_within(25.0, Some(25.0)).met, Some(true));
        assert_eq!(Check::p95_within(25.0, Some(25.1)).met, Some(false));
        assert_eq!(Check::p95_within(10.0, None).met, None);
        assert_eq!(Check::p95_within(10.0, None).target, "p95 ≤ 10 ms");
        let rate = Check::rate_at_least(50_000.0, "runs", 60_000.0, true);
        assert_eq!(
            (rate.target.as_str(), rate.met),
            ("≥ 50,000 runs/s", Some(true))
        );
        assert_eq!(
            Check::rate_at_least(50_000.0, "runs", 60_000.0, false).met,
            Some(false)
        );
        let size = Check::at_most(300_000, "brotli", Some(312_000));
        assert_eq!(
            (size.target.as_str(), size.met),
            ("≤ 300 KB brotli", Some(false))
        );
        assert_eq!(
            Check::at_most(200_000_000, "RSS", None).target,
            "≤ 200 MB RSS"
        );
    }

    #[test]
    fn numbers_are_worded_for_reading() {
        assert_eq!(ms(None), "—");
        assert_eq!(ms(Some(0.4213)), "0.42");
        assert_eq!(ms(Some(12.345)), "12.3");
        assert_eq!(ms(Some(1234.4)), "1,234");
        assert_eq!(decimal_bytes(312_345), "312 KB");
        assert_eq!(decimal_bytes(85_249_000), "85.2 MB");
        assert_eq!(decimal_bytes(3_104_000_000), "3.10 GB");
    }

    #[test]
    fn rows_show_the_target_and_the_mark() {
        let out = render_table(&[figure("list sort=run_count", Some(3.0))]);
        let cells: Vec<&str> = out
            .lines()
            .nth(2)
            .unwrap()
            .split('|')
            .map(str::trim)
            .collect();
        assert_eq!(
            cells,
            [
                "",
                "SQLite",
                "list sort=run_count",
                "25 of 100",
                "1.50",
                "3.00",
                "—",
                "p95 ≤ 25 ms",
                "✓",
                ""
            ]
        );
    }

    #[test]
    fn the_list_summary_names_the_slowest_shape() {
        let figures = [
            figure("list a", Some(3.0)),
            figure("list b", Some(40.0)),
            figure("session detail", Some(90.0)),
        ];
        assert_eq!(
            list_summary("SQLite", &figures, "list ").as_deref(),
            Some(
                "SQLite: 1 of 2 list requests meet p95 ≤ 25 ms; the slowest p95 is 40.0 ms \
                 (list b)."
            )
        );
        assert_eq!(list_summary("PostgreSQL", &figures, "list "), None);
    }
}
