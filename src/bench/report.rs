//! The benchmark's printout: the machine, the dataset, one table of figures with the targets,
//! and how it was measured.

use std::fmt::Write;
use std::time::Duration;

use super::data::Dataset;
use super::figures::{ms, Check};
use super::ingest::Decoding;
use super::machine::Machine;

/// One request of a phase.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Position in the phase's request list.
    pub index: usize,
    /// Index of the API key that sent it.
    pub key: usize,
    pub items: usize,
    /// When it was sent and answered, from the start of the phase.
    pub sent: Duration,
    pub done: Duration,
}

impl Sample {
    pub fn latency(&self) -> Duration {
        self.done.saturating_sub(self.sent)
    }
}

/// One measured line of the table.
pub struct Phase {
    pub what: String,
    /// `runs`, `spans` or `rows`.
    pub unit: &'static str,
    pub items: usize,
    /// Requests sent, or statements executed for the ceiling.
    pub requests: usize,
    pub elapsed: Duration,
    /// One per request, in completion order; empty for the ceiling.
    pub samples: Vec<Sample>,
    /// Items per second SPEC §9 asks for.
    pub target: Option<f64>,
    pub timed_out: bool,
}

impl Phase {
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Items per second answered in the first and in the second half of the phase's time: a
    /// falling second half means the rate is not sustained as the database grows.
    pub fn halves(&self) -> Option<(f64, f64)> {
        if self.samples.len() < 4 {
            return None;
        }
        let half = self.elapsed / 2;
        let secs = half.as_secs_f64().max(1e-9);
        let first: usize = self
            .samples
            .iter()
            .filter(|s| s.done <= half)
            .map(|s| s.items)
            .sum();
        Some((first as f64 / secs, (self.items - first) as f64 / secs))
    }

    /// The rate checked against SPEC §9's sustained target, and which one it is: the lower of
    /// the average and the second half's rate, so a rate that falls as the database grows does
    /// not pass on the strength of its fast start. The average alone when there are no halves.
    pub fn checked_rate(&self) -> (f64, &'static str) {
        let average = self.rate();
        match self.halves() {
            Some((_, second)) if second < average => (second, "second half"),
            _ => (average, "average"),
        }
    }

    /// The phase's target checked against [`Phase::checked_rate`]; a phase cut short by its
    /// time limit does not meet it. `None` without a target (the ceiling).
    pub fn check(&self) -> Option<Check> {
        let target = self.target?;
        let (rate, _) = self.checked_rate();
        Some(Check::rate_at_least(
            target,
            self.unit,
            rate,
            !self.timed_out,
        ))
    }

    /// `52,310 runs/s, second half 47,900 (second half checked)`; the average alone when the
    /// phase has no halves or no target.
    pub fn rate_summary(&self) -> String {
        let average = format!("{} {}/s", thousands(self.rate().round() as u64), self.unit);
        match (self.target, self.halves()) {
            (Some(_), Some((_, second))) => format!(
                "{average}, second half {} ({} checked)",
                thousands(second.round() as u64),
                self.checked_rate().1
            ),
            _ => average,
        }
    }

    /// Nearest-rank percentile of the request latencies, in milliseconds.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let latencies: Vec<Duration> = self.samples.iter().map(Sample::latency).collect();
        super::stats::percentile_ms(&latencies, p)
    }
}

/// The figures of one backend.
pub struct Section {
    /// Name and version, e.g. `SQLite 3.46.0 (wal, synchronous=NORMAL, file …)`.
    pub backend: String,
    pub phases: Vec<Phase>,
    /// What the database holds afterwards.
    pub stored: String,
}

pub struct Report<'a> {
    pub machine: Machine,
    pub native: &'a Dataset,
    pub otlp: &'a Dataset,
    pub concurrency: usize,
    pub sections: Vec<Section>,
    pub decoding: Decoding,
}

/// `1234567` → `1,234,567` (the dashboard's formatting, for unsigned counts).
pub fn thousands(n: u64) -> String {
    crate::model::format::thousands(i64::try_from(n).unwrap_or(i64::MAX))
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn short_backend(backend: &str) -> String {
    backend.split(" (").next().unwrap_or(backend).to_string()
}

/// A Markdown table padded to line up in a terminal; `numeric` columns are right-aligned.
pub fn table(header: &[&str], numeric: &[bool], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let right = |i: usize| numeric.get(i).copied().unwrap_or(false);
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = cells
            .enumerate()
            .map(|(i, c)| {
                let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
                if right(i) {
                    format!("{pad}{c}")
                } else {
                    format!("{c}{pad}")
                }
            })
            .collect();
        format!("| {} |\n", parts.join(" | "))
    };
    let mut o = line(&mut header.iter().copied());
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if right(i) {
                format!("{}:", "-".repeat(w + 1))
            } else {
                "-".repeat(w + 2)
            }
        })
        .collect();
    o.push_str(&format!("|{}|\n", rule.join("|")));
    for row in rows {
        let mut cells = (0..header.len()).map(|i| row.get(i).map(String::as_str).unwrap_or(""));
        o.push_str(&line(&mut cells));
    }
    o
}

/// The opening lines of a printout: an empty line, `Threadline {title} (threadline 0.1.0,
/// release build)` with the start time when given, then the machine and its load, their
/// labels padded to `width` characters to line up with the lines that follow.
pub fn header(
    title: &str,
    started: Option<chrono::DateTime<chrono::Utc>>,
    machine: &Machine,
    width: usize,
) -> String {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let when = started
        .map(|t| t.format(", %Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let mut o = String::new();
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Threadline {title} (threadline {}, {profile} build){when}",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(o, "{:<width$}{}", "machine:", machine.summary());
    let _ = writeln!(o, "{:<width$}{}", "load:", machine.load());
    o
}

pub fn render(r: &Report<'_>) -> String {
    let mut o = header("ingestion benchmark", None, &r.machine, 10);
    for s in &r.sections {
        let _ = writeln!(o, "backend:  {}", s.backend);
    }
    let agent_keys = r
        .native
        .key_names
        .iter()
        .filter(|k| !k.contains("-gateway-"))
        .count();
    let dataset = |d: &Dataset, unit: &str| {
        let max = d.requests.iter().map(|q| q.items).max().unwrap_or(0);
        format!(
            "{} {unit} in {} requests of up to {} ({}), {} runs in {} sessions: {} with session ids \
             from {} agent keys, {} without (automatic grouping) from {} gateway keys",
            thousands(d.items as u64),
            thousands(d.requests.len() as u64),
            thousands(max as u64),
            mib(d.request_bytes()),
            thousands(d.runs.len() as u64),
            thousands((d.explicit_sessions + d.automatic_sessions) as u64),
            thousands(d.explicit_sessions as u64),
            agent_keys,
            thousands(d.automatic_sessions as u64),
            d.key_names.len() - agent_keys,
        )
    };
    let _ = writeln!(o, "native:   {}", dataset(r.native, "runs (JSON)"));
    let _ = writeln!(
        o,
        "OTLP:     {}; {:.2} spans per trace",
        dataset(r.otlp, "spans (protobuf)"),
        r.otlp.items as f64 / r.otlp.runs.len().max(1) as f64
    );
    let _ = writeln!(o);

    let header = [
        "backend",
        "measurement",
        "count",
        "requests",
        "seconds",
        "rate",
        "2nd half /s",
        "p50 ms",
        "p95 ms",
        "target",
        "",
    ];
    let mut rows: Vec<[String; 11]> = Vec::new();
    for s in &r.sections {
        for p in &s.phases {
            let rate = format!("{} {}/s", thousands(p.rate().round() as u64), p.unit);
            let second_half = p
                .halves()
                .map(|(_, b)| thousands(b.round() as u64))
                .unwrap_or_else(|| "—".into());
            let (target, met) = match p.check() {
                Some(c) => (
                    c.target.clone(),
                    format!("{} ({})", c.mark(), p.checked_rate().1),
                ),
                None => ("—".into(), String::new()),
            };
            rows.push([
                short_backend(&s.backend),
                format!(
                    "{}{}",
                    p.what,
                    if p.timed_out { " (time limit)" } else { "" }
                ),
                thousands(p.items as u64),
                format!(
                    "{}{}",
                    thousands(p.requests as u64),
                    if p.samples.is_empty() { " stmts" } else { "" }
                ),
                format!("{:.2}", p.elapsed.as_secs_f64()),
                rate,
                second_half,
                ms(p.percentile(50.0)),
                ms(p.percentile(95.0)),
                target,
                met,
            ]);
        }
    }
    let numeric = [
        false, false, true, true, true, true, true, true, true, false, false,
    ];
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    o.push_str(&table(&header, &numeric, &rows));
    let _ = writeln!(o);

    for s in &r.sections {
        let name = short_backend(&s.backend);
        let rate = |what: &str| {
            s.phases
                .iter()
                .find(|p| p.what.starts_with(what))
                .map(Phase::rate)
        };
        if let (Some(n), Some(c)) = (rate("native"), rate("ceiling: INSERT runs")) {
            let _ = write!(
                o,
                "{name}: native ingestion runs at {:.1}% of the runs-rows ceiling",
                100.0 * n / c
            );
        }
        if let (Some(n), Some(c)) = (rate("OTLP"), rate("ceiling: INSERT spans")) {
            let _ = write!(
                o,
                ", OTLP at {:.1}% of the spans-rows ceiling",
                100.0 * n / c
            );
        }
        let _ = writeln!(o, ".");
        let halves: Vec<String> = s
            .phases
            .iter()
            .filter_map(|p| {
                let (a, b) = p.halves()?;
                Some(format!(
                    "{} {} then {} {}/s",
                    p.what,
                    thousands(a.round() as u64),
                    thousands(b.round() as u64),
                    p.unit
                ))
            })
            .collect();
        if !halves.is_empty() {
            let _ = writeln!(
                o,
                "{name}, first half of each phase's time then second half: {}.",
                halves.join("; ")
            );
        }
        let _ = writeln!(o, "{name} holds afterwards: {}.", s.stored);
    }
    let d = &r.decoding;
    let per_sec =
        |items: f64, t: Duration| thousands((items / t.as_secs_f64().max(1e-9)).round() as u64);
    let _ = writeln!(
        o,
        "Decoding alone (one core, no database, same bodies): native JSON parse + validation {:.1} ms \
         per request of {:.0} runs ({} runs/s); OTLP protobuf decode + mapping {:.1} ms per request \
         of {:.0} spans ({} spans/s). The rest of a request's time is authentication and the write path.",
        d.native_per_request.as_secs_f64() * 1000.0,
        d.native_runs_per_request,
        per_sec(d.native_runs_per_request, d.native_per_request),
        d.otlp_per_request.as_secs_f64() * 1000.0,
        d.otlp_spans_per_request,
        per_sec(d.otlp_spans_per_request, d.otlp_per_request),
    );
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "How it was measured: each backend gets a fresh, empty database; request bodies are encoded \
         before timing. {} concurrent client tasks send the requests in dataset order to the real \
         axum router in-process (tower oneshot): routing, API-key check, body reading, decoding, \
         validation, grouping and the committed transaction are timed, the TCP socket and HTTP/1 \
         framing are not. A rate is the phase's items over its wall-clock time, first request sent \
         to last answer read; `2nd half /s` counts the items answered in the second half of that \
         time. The ✓ or ✗ is for the lower of the two rates, average or second half (named next \
         to it): SPEC §9 asks for a sustained rate, and one that falls as the database grows is \
         not. Latencies are per request, answer body included. Every answer is \
         checked (2xx, every run accepted, no span rejected) and the stored counts are checked \
         afterwards. The ceiling then inserts the same runs and spans as plain rows into the \
         same tables (own project), in one transaction per table, with multi-row INSERT statements of \
         about {} bound parameters (`?` placeholders on SQLite, `$n` on PostgreSQL) through the \
         same connection pool and no Threadline logic. Targets are SPEC §9's, stated for a \
         2-core machine with a 1,000,000-run / 5,000,000-span dataset on SQLite.",
        r.concurrency,
        thousands(super::ceiling::PARAMS_PER_STATEMENT as u64),
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_percentiles_are_of_request_latencies() {
        let p = Phase {
            what: "x".into(),
            unit: "runs",
            items: 10,
            requests: 10,
            elapsed: Duration::from_secs(1),
            samples: (1..=20)
                .map(|ms| Sample {
                    index: ms,
                    key: 0,
                    items: 1,
                    sent: Duration::from_millis(100),
                    done: Duration::from_millis(100 + ms as u64),
                })
                .collect(),
            target: None,
            timed_out: false,
        };
        assert_eq!(p.percentile(50.0), Some(10.0));
        assert_eq!(p.percentile(95.0), Some(19.0));
    }

    /// A one-second phase of `items`, `first` of them answered in its first half.
    fn halved(items: usize, first: usize, target: Option<f64>) -> Phase {
        let sample = |items: usize, done_ms: u64| Sample {
            index: 0,
            key: 0,
            items,
            sent: Duration::ZERO,
            done: Duration::from_millis(done_ms),
        };
        Phase {
            what: "native runs".into(),
            unit: "runs",
            items,
            requests: 4,
            elapsed: Duration::from_secs(1),
            samples: vec![
                sample(first / 2, 100),
                sample(first - first / 2, 500),
                sample((items - first) / 2, 600),
                sample(items - first - (items - first) / 2, 1000),
            ],
            target,
            timed_out: false,
        }
    }

    #[test]
    fn the_lower_of_the_average_and_the_second_half_is_checked() {
        // 100/s on average, 140/s in the second half: the average is checked.
        let rising = halved(100, 30, Some(100.0));
        assert_eq!(rising.halves(), Some((60.0, 140.0)));
        assert_eq!(rising.checked_rate(), (100.0, "average"));
        assert_eq!(rising.check().map(|c| c.met), Some(Some(true)));
        // 100/s on average, 60/s in the second half: the second half is checked, and fails.
        let falling = halved(100, 70, Some(100.0));
        assert_eq!(falling.checked_rate(), (60.0, "second half"));
        assert_eq!(falling.check().map(|c| c.met), Some(Some(false)));
        assert_eq!(
            falling.rate_summary(),
            "100 runs/s, second half 60 (second half checked)"
        );
        // Too few requests to halve, or no target: the average alone.
        let mut few = halved(100, 70, Some(100.0));
        few.samples.truncate(3);
        assert_eq!(few.checked_rate(), (100.0, "average"));
        assert_eq!(few.rate_summary(), "100 runs/s");
        assert_eq!(halved(100, 70, None).rate_summary(), "100 runs/s");
        assert_eq!(halved(100, 70, None).check(), None);
    }

    #[test]
    fn tables_pad_cells_and_right_align_numbers() {
        let rows = vec![
            vec!["SQLite".to_string(), "1,234".to_string()],
            vec!["PostgreSQL".to_string(), "5".to_string()],
        ];
        assert_eq!(
            table(&["backend", "n"], &[false, true], &rows),
            "| backend    |     n |\n\
             |------------|------:|\n\
             | SQLite     | 1,234 |\n\
             | PostgreSQL |     5 |\n"
        );
    }
}
