//! The arithmetic behind a session's timeline, kept pure so it is tested without a browser:
//! where the user went idle between two runs, which runs broke the provider's prompt cache by
//! forwarding a different tool set, how a run's gateway latency splits into phases, and the
//! small labels the cards show (overhead, idle time, previews).
//!
//! Shared by the server render and the browser: both must produce the very same text.

use std::collections::BTreeSet;

use super::{LatencyMs, RunView};

/// A silence between two runs longer than this is shown as an idle marker (SPEC §6: "longer
/// than a few minutes").
pub const IDLE_GAP_SECS: f64 = 5.0 * 60.0;

/// How many characters of a run's input or output a card shows before "Show all".
pub const PREVIEW_CHARS: usize = 200;

/// Epoch microseconds of an RFC 3339 instant.
pub fn parse_time_us(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// When a run stopped being active: its end, or its start when it reported no end.
fn activity_end_us(run: &RunView) -> Option<i64> {
    run.completed_at
        .as_deref()
        .and_then(parse_time_us)
        .or_else(|| parse_time_us(&run.started_at))
}

/// For each run (in time order), the idle time in seconds before it when that exceeds
/// [`IDLE_GAP_SECS`]; `None` otherwise and always for the first run.
///
/// The gap is measured from the latest activity seen so far, not only the previous run's end:
/// with overlapping runs (a long agent run with short ones inside it) the user was not idle
/// while the long one was still going. Without overlaps this is exactly `next.start −
/// previous.end` (or `previous.start` for a run without an end).
pub fn idle_gaps(runs: &[RunView]) -> Vec<Option<f64>> {
    let mut latest: Option<i64> = None;
    runs.iter()
        .map(|run| {
            let start = parse_time_us(&run.started_at);
            let gap = match (latest, start) {
                (Some(before), Some(start)) => {
                    let secs = (start - before) as f64 / 1e6;
                    (secs > IDLE_GAP_SECS).then_some(secs)
                }
                _ => None,
            };
            if let Some(end) = activity_end_us(run) {
                latest = Some(latest.map_or(end, |l| l.max(end)));
            }
            gap
        })
        .collect()
}

/// How a run's forwarded tools differ from the last run before it that reported some.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolSetChange {
    /// Forwarded now, not before. Sorted.
    pub added: Vec<String>,
    /// Forwarded before, not now. Sorted.
    pub removed: Vec<String>,
}

/// For each run (in time order), the change of its forwarded tool **set** against the previous
/// run that reported forwarded tools; `None` when the set is the same, for the first run that
/// reports one, and for runs that report none.
///
/// Order and repeats do not matter (a set). "Reports none" means the field is absent: a gateway
/// that says it forwarded an empty list did change what the model saw, so `[]` after
/// `["search"]` is a change (the provider's cached prompt prefix no longer matches).
pub fn forwarded_changes(runs: &[RunView]) -> Vec<Option<ToolSetChange>> {
    let mut previous: Option<BTreeSet<&str>> = None;
    runs.iter()
        .map(|run| {
            let tools = run.tools_forwarded.as_ref()?;
            let set: BTreeSet<&str> = tools.iter().map(String::as_str).collect();
            let change = previous.as_ref().and_then(|before| {
                (before != &set).then(|| ToolSetChange {
                    added: set.difference(before).map(|s| s.to_string()).collect(),
                    removed: before.difference(&set).map(|s| s.to_string()).collect(),
                })
            });
            previous = Some(set);
            change
        })
        .collect()
}

/// Gateway overhead in percent (SPEC §6): (dedup + compression + tool routing) ÷ total request
/// time, where the total is the run's duration when known, else the sum of the four phases.
/// The server computes this for every run; the page uses it only when a run lacks the figure.
pub fn overhead_pct(latency: &LatencyMs, duration_secs: Option<f64>) -> Option<f64> {
    if latency.is_empty() {
        return None;
    }
    let overhead = latency.dedup.unwrap_or(0.0)
        + latency.compression.unwrap_or(0.0)
        + latency.tool_routing.unwrap_or(0.0);
    let total_ms = match duration_secs {
        Some(d) if d > 0.0 => d * 1000.0,
        _ => overhead + latency.upstream.unwrap_or(0.0),
    };
    (total_ms > 0.0).then(|| overhead / total_ms * 100.0)
}

/// `4.1%`, `12%`, or `—` when unknown.
pub fn overhead_label(pct: Option<f64>) -> String {
    match pct {
        Some(p) if p.is_finite() => super::format::percent(p / 100.0),
        _ => "—".into(),
    }
}

/// How worrying an overhead figure is, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverheadLevel {
    /// Under 5%: the gateway is invisible.
    Low,
    /// 5% to 15%.
    Moderate,
    /// 15% and more: worth a look.
    High,
}

pub fn overhead_level(pct: f64) -> OverheadLevel {
    if pct < 5.0 {
        OverheadLevel::Low
    } else if pct < 15.0 {
        OverheadLevel::Moderate
    } else {
        OverheadLevel::High
    }
}

/// Tokens saved as a share of the input tokens sent upstream (`None` without input tokens).
pub fn saved_share(tokens_saved: i64, input_tokens: i64) -> Option<f64> {
    (input_tokens > 0 && tokens_saved > 0).then(|| tokens_saved as f64 / input_tokens as f64)
}

/// One gateway phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Dedup,
    Compression,
    ToolRouting,
    Upstream,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Dedup,
        Phase::Compression,
        Phase::ToolRouting,
        Phase::Upstream,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Phase::Dedup => "Dedup",
            Phase::Compression => "Compression",
            Phase::ToolRouting => "Tool routing",
            Phase::Upstream => "Upstream",
        }
    }

    fn of(self, latency: &LatencyMs) -> Option<f64> {
        match self {
            Phase::Dedup => latency.dedup,
            Phase::Compression => latency.compression,
            Phase::ToolRouting => latency.tool_routing,
            Phase::Upstream => latency.upstream,
        }
    }
}

/// One segment of a latency bar.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseShare {
    pub phase: Phase,
    pub ms: f64,
    /// Share of the sum of the reported phases, 0 to 1.
    pub fraction: f64,
}

/// The reported phases in pipeline order with their share of the phases' sum. Phases a run did
/// not report are left out; negative or non-finite values count as zero.
pub fn latency_phases(latency: &LatencyMs) -> Vec<PhaseShare> {
    let clean = |v: f64| if v.is_finite() && v > 0.0 { v } else { 0.0 };
    let present: Vec<(Phase, f64)> = Phase::ALL
        .into_iter()
        .filter_map(|p| p.of(latency).map(|ms| (p, clean(ms))))
        .collect();
    let total: f64 = present.iter().map(|(_, ms)| ms).sum();
    present
        .into_iter()
        .map(|(phase, ms)| PhaseShare {
            phase,
            ms,
            fraction: if total > 0.0 { ms / total } else { 0.0 },
        })
        .collect()
}

/// An idle marker's length: `6m`, `1h 05m`, `2d 3h`.
pub fn idle_label(secs: f64) -> String {
    let minutes = (secs / 60.0).floor() as i64;
    if minutes < 60 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 24 {
        return format!("{hours}h {:02}m", minutes % 60);
    }
    format!("{}d {}h", hours / 24, hours % 24)
}

/// The automatic-grouping rule for people: `30-minute gap`, `1-hour gap`, `90-second gap`.
pub fn gap_rule_label(gap_us: i64) -> String {
    let secs = gap_us / 1_000_000;
    if secs > 0 && secs % 3600 == 0 {
        format!("{}-hour gap", secs / 3600)
    } else if secs > 0 && secs % 60 == 0 {
        format!("{}-minute gap", secs / 60)
    } else {
        format!("{secs}-second gap")
    }
}

/// The first `max` characters of `text` (whitespace runs folded to one space), cut at a word
/// boundary when one is near, with `…`; and whether anything was cut.
pub fn preview(text: &str, max: usize) -> (String, bool) {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= max {
        return (folded, false);
    }
    let cut: String = folded.chars().take(max).collect();
    // Prefer ending on a whole word unless that throws away too much.
    let trimmed = match cut.rfind(' ') {
        Some(i) if cut[..i].chars().count() * 5 >= max * 4 => &cut[..i],
        _ => cut.as_str(),
    };
    (
        format!("{}…", trimmed.trim_end_matches([' ', ',', '.', ';', ':'])),
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: &str, end: Option<&str>, forwarded: Option<&[&str]>) -> RunView {
        RunView {
            id: format!("run-{start}"),
            agent_name: "agent".into(),
            workflow_name: "default".into(),
            started_at: start.into(),
            completed_at: end.map(str::to_string),
            duration: None,
            status: "success".into(),
            error: None,
            cost: 0.0,
            tokens: 0,
            input_tokens: 0,
            output_tokens: 0,
            trace_id: None,
            model: None,
            models: Vec::new(),
            routed: None,
            tokens_saved: 0,
            tools_sent: None,
            tools_forwarded: forwarded.map(|t| t.iter().map(|s| s.to_string()).collect()),
            tools_called: Vec::new(),
            latency_ms: LatencyMs::default(),
            overhead_pct: None,
            user_id: None,
            input: None,
            output: None,
            attributes: serde_json::Value::Null,
        }
    }

    #[test]
    fn idle_gaps_are_measured_from_the_previous_end() {
        let runs = [
            run("2026-02-07T10:00:00Z", Some("2026-02-07T10:01:00Z"), None),
            // 4 minutes after the end: not idle.
            run("2026-02-07T10:05:00Z", Some("2026-02-07T10:06:00Z"), None),
            // 14 minutes after the end (15 after the start): idle 14m.
            run("2026-02-07T10:20:00Z", Some("2026-02-07T10:20:30Z"), None),
        ];
        assert_eq!(idle_gaps(&runs), vec![None, None, Some(14.0 * 60.0)]);
    }

    #[test]
    fn idle_gaps_use_the_start_of_a_run_without_end() {
        let runs = [
            run("2026-02-07T10:00:00Z", None, None),
            run("2026-02-07T10:06:00Z", None, None),
            run("2026-02-07T10:11:00Z", None, None),
        ];
        // 6 minutes > 5: marked; exactly 5 minutes is not "longer than".
        assert_eq!(idle_gaps(&runs), vec![None, Some(360.0), None]);
    }

    #[test]
    fn idle_gaps_ignore_time_covered_by_an_overlapping_run() {
        let runs = [
            run("2026-02-07T10:00:00Z", Some("2026-02-07T11:00:00Z"), None),
            run("2026-02-07T10:01:00Z", Some("2026-02-07T10:02:00Z"), None),
            // 58 minutes after the short run, but the long one ended 1 minute ago.
            run("2026-02-07T11:01:00Z", None, None),
            run("2026-02-07T11:30:00Z", None, None),
        ];
        assert_eq!(idle_gaps(&runs), vec![None, None, None, Some(29.0 * 60.0)]);
    }

    #[test]
    fn idle_gaps_survive_unparseable_times() {
        let runs = [
            run("garbage", None, None),
            run("2026-02-07T10:00:00Z", None, None),
            run("2026-02-07T10:30:00Z", None, None),
        ];
        assert_eq!(idle_gaps(&runs), vec![None, None, Some(1800.0)]);
        assert!(idle_gaps(&[]).is_empty());
    }

    #[test]
    fn forwarded_set_changes_are_marked_against_the_last_run_that_had_one() {
        let t = "2026-02-07T10:00:00Z";
        let runs = [
            run(t, None, Some(&["search", "weather"])),
            // Same set in another order, with a repeat: no change.
            run(t, None, Some(&["weather", "search", "search"])),
            // No forwarded tools reported: skipped, never marked.
            run(t, None, None),
            // Compared with the second run, not the third.
            run(t, None, Some(&["search", "calendar"])),
            run(t, None, Some(&["search", "calendar"])),
            // An explicit empty set is a change.
            run(t, None, Some(&[])),
        ];
        let changes = forwarded_changes(&runs);
        assert_eq!(changes[0], None, "the first run is never marked");
        assert_eq!(changes[1], None);
        assert_eq!(changes[2], None);
        assert_eq!(
            changes[3],
            Some(ToolSetChange {
                added: vec!["calendar".into()],
                removed: vec!["weather".into()],
            })
        );
        assert_eq!(changes[4], None);
        assert_eq!(
            changes[5],
            Some(ToolSetChange {
                added: vec![],
                removed: vec!["calendar".into(), "search".into()],
            })
        );
    }

    #[test]
    fn the_first_run_reporting_tools_is_not_marked_even_after_runs_without() {
        let t = "2026-02-07T10:00:00Z";
        let runs = [
            run(t, None, None),
            run(t, None, Some(&["a"])),
            run(t, None, None),
        ];
        assert_eq!(forwarded_changes(&runs), vec![None, None, None]);
    }

    fn latency(d: f64, c: f64, r: f64, u: f64) -> LatencyMs {
        LatencyMs {
            dedup: Some(d),
            compression: Some(c),
            tool_routing: Some(r),
            upstream: Some(u),
        }
    }

    #[test]
    fn overhead_uses_the_duration_when_known() {
        let l = latency(10.0, 20.0, 20.0, 950.0);
        // 50 ms of a 2 s run.
        assert_eq!(overhead_pct(&l, Some(2.0)), Some(2.5));
        // Else the sum of the phases: 50 of 1000 ms.
        assert_eq!(overhead_pct(&l, None), Some(5.0));
        assert_eq!(overhead_pct(&l, Some(0.0)), Some(5.0));
        assert_eq!(overhead_pct(&LatencyMs::default(), Some(1.0)), None);
        let nothing = latency(0.0, 0.0, 0.0, 0.0);
        assert_eq!(overhead_pct(&nothing, None), None);
    }

    #[test]
    fn overhead_labels_and_levels() {
        assert_eq!(overhead_label(Some(4.12)), "4.1%");
        assert_eq!(overhead_label(Some(12.4)), "12%");
        assert_eq!(overhead_label(None), "—");
        assert_eq!(overhead_label(Some(f64::NAN)), "—");
        assert_eq!(overhead_level(0.0), OverheadLevel::Low);
        assert_eq!(overhead_level(4.99), OverheadLevel::Low);
        assert_eq!(overhead_level(5.0), OverheadLevel::Moderate);
        assert_eq!(overhead_level(15.0), OverheadLevel::High);
    }

    #[test]
    fn saved_share_is_relative_to_input() {
        assert_eq!(saved_share(250, 1000), Some(0.25));
        assert_eq!(saved_share(0, 1000), None);
        assert_eq!(saved_share(10, 0), None);
    }

    #[test]
    fn latency_phases_split_the_reported_sum() {
        let phases = latency_phases(&latency(10.0, 30.0, 60.0, 900.0));
        let fractions: Vec<f64> = phases.iter().map(|p| p.fraction).collect();
        assert_eq!(fractions, vec![0.01, 0.03, 0.06, 0.9]);
        assert_eq!(phases[2].phase, Phase::ToolRouting);

        // Missing phases are left out, bad values count as zero.
        let partial = LatencyMs {
            dedup: None,
            compression: Some(-5.0),
            tool_routing: None,
            upstream: Some(100.0),
        };
        let phases = latency_phases(&partial);
        assert_eq!(phases.len(), 2);
        assert_eq!(phases[0].ms, 0.0);
        assert_eq!(phases[1].fraction, 1.0);

        assert!(latency_phases(&LatencyMs::default()).is_empty());
        let zero = latency_phases(&latency(0.0, 0.0, 0.0, 0.0));
        assert!(zero.iter().all(|p| p.fraction == 0.0));
    }

    #[test]
    fn idle_and_gap_labels() {
        assert_eq!(idle_label(14.0 * 60.0 + 59.0), "14m");
        assert_eq!(idle_label(65.0 * 60.0), "1h 05m");
        assert_eq!(idle_label(51.0 * 3600.0), "2d 3h");
        assert_eq!(gap_rule_label(30 * 60 * 1_000_000), "30-minute gap");
        assert_eq!(gap_rule_label(3600 * 1_000_000), "1-hour gap");
        assert_eq!(gap_rule_label(90 * 1_000_000), "90-second gap");
    }

    #[test]
    fn previews_cut_long_text_at_a_word() {
        assert_eq!(
            preview("short  text\n", 200),
            ("short text".to_string(), false)
        );
        let long = "word ".repeat(100);
        let (text, cut) = preview(&long, 200);
        assert!(cut);
        assert!(text.ends_with("word…"), "{text}");
        assert!(text.chars().count() <= 201);
        // No spaces at all: a hard cut on a character boundary (multi-byte safe).
        let (text, cut) = preview(&"é".repeat(300), 200);
        assert!(cut);
        assert_eq!(text.chars().count(), 201);
    }
}
