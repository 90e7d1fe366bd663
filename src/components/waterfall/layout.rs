//! The waterfall's geometry as plain functions: which row each span gets, how deep it is
//! indented, where its bar starts and how wide it is, and where the time axis has its ticks.
//! No view code here, so it is unit-tested and identical on the server and in the browser.
//!
//! Row order: parent first, depth first, siblings by start time (ties keep the store's order,
//! which is start time then span id), so a parent is always directly above its subtree.
//!
//! Spans whose parent never arrived (an exporter dropped it, or it is still in flight) are
//! **orphans**. They are shown at depth 0 *after* every complete tree, each with its own subtree
//! and flagged, rather than interleaved with the real roots by start time: interleaving would
//! present them as top-level steps of the trace, which they are not, and keeping them together
//! at the end lets the page label them once ("parent not received"). Spans caught in a parent
//! cycle (bad data: `a → b → a`, or a span that is its own parent) are shown the same way, so
//! every span gets exactly one row and the walk always ends.

use std::collections::HashMap;

use crate::model::SpanView;

/// One row of the waterfall.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRow {
    /// Index of the span in the input slice.
    pub index: usize,
    pub depth: usize,
    /// Start relative to the trace's start, as a fraction of the trace's duration (0 to 1).
    pub offset: f64,
    /// Duration as a fraction of the trace's duration (0 to 1, `offset + width ≤ 1`).
    pub width: f64,
    pub duration_ns: i64,
    /// The span names a parent that was not received (or lies in a cycle).
    pub orphan: bool,
    /// Direct children shown under it.
    pub children: usize,
}

/// A labelled tick on the time axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    /// Time since the trace's start.
    pub at_ns: i64,
    /// Position as a fraction of the trace's duration.
    pub offset: f64,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WaterfallLayout {
    pub rows: Vec<SpanRow>,
    /// Earliest start and latest end over all spans (epoch nanoseconds).
    pub start_ns: i64,
    pub end_ns: i64,
    pub ticks: Vec<Tick>,
}

impl WaterfallLayout {
    pub fn duration_ns(&self) -> i64 {
        self.end_ns - self.start_ns
    }
}

/// Lays out `spans` (any order) on an axis with at most `max_intervals` tick intervals.
pub fn layout(spans: &[SpanView], max_intervals: usize) -> WaterfallLayout {
    if spans.is_empty() {
        return WaterfallLayout {
            rows: Vec::new(),
            start_ns: 0,
            end_ns: 0,
            ticks: axis_ticks(0, max_intervals),
        };
    }
    // A span ending before it starts is drawn as an instant.
    let end_of = |s: &SpanView| s.end_ns.max(s.start_ns);
    let start_ns = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end_ns = spans.iter().map(end_of).max().unwrap_or(start_ns);
    let total = (end_ns - start_ns) as f64;

    // The first span with an id wins should the same id appear twice.
    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        by_id.entry(s.span_id.as_str()).or_insert(i);
    }
    let parent_of =
        |i: usize| -> Option<&str> { spans[i].parent_span_id.as_deref().filter(|p| !p.is_empty()) };

    let mut roots = Vec::new();
    let mut orphans = Vec::new();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    for i in 0..spans.len() {
        match parent_of(i) {
            None => roots.push(i),
            Some(p) => match by_id.get(p) {
                Some(&parent) if parent != i => children[parent].push(i),
                _ => orphans.push(i),
            },
        }
    }
    // Stable sorts: equal starts keep the input order.
    let by_start = |list: &mut Vec<usize>| list.sort_by_key(|&i| spans[i].start_ns);
    by_start(&mut roots);
    by_start(&mut orphans);
    for list in &mut children {
        by_start(list);
    }

    let mut rows = Vec::with_capacity(spans.len());
    let mut placed = vec![false; spans.len()];
    let place_tree = |top: usize, orphan: bool, rows: &mut Vec<SpanRow>, placed: &mut [bool]| {
        // Iterative depth-first walk: a 10,000-deep chain must not overflow the stack.
        let mut stack = vec![(top, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            if placed[i] {
                continue;
            }
            placed[i] = true;
            let s = &spans[i];
            let duration_ns = end_of(s) - s.start_ns;
            let (offset, width) = if total > 0.0 {
                let offset = ((s.start_ns - start_ns) as f64 / total).clamp(0.0, 1.0);
                let width = (duration_ns as f64 / total).clamp(0.0, 1.0 - offset);
                (offset, width)
            } else {
                (0.0, 0.0)
            };
            let kids: Vec<usize> = children[i]
                .iter()
                .copied()
                .filter(|&c| !placed[c])
                .collect();
            rows.push(SpanRow {
                index: i,
                depth,
                offset,
                width,
                duration_ns,
                orphan: orphan && i == top,
                children: kids.len(),
            });
            stack.extend(kids.into_iter().rev().map(|c| (c, depth + 1)));
        }
    };
    for &r in &roots {
        place_tree(r, false, &mut rows, &mut placed);
    }
    for &o in &orphans {
        place_tree(o, true, &mut rows, &mut placed);
    }
    // Whatever is left sits in a cycle no root or orphan reaches.
    let mut rest: Vec<usize> = (0..spans.len()).filter(|&i| !placed[i]).collect();
    by_start(&mut rest);
    for i in rest {
        place_tree(i, true, &mut rows, &mut placed);
    }

    WaterfallLayout {
        rows,
        start_ns,
        end_ns,
        ticks: axis_ticks(end_ns - start_ns, max_intervals),
    }
}

/// The smallest "nice" step (1, 2 or 5 × 10ⁿ nanoseconds) that cuts `duration_ns` into at most
/// `max_intervals` intervals.
pub fn nice_step(duration_ns: i64, max_intervals: usize) -> i64 {
    let intervals = max_intervals.max(1) as i64;
    let duration = duration_ns.max(1);
    let raw = duration / intervals + i64::from(duration % intervals != 0);
    let mut magnitude: i64 = 1;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            if step >= raw {
                return step;
            }
        }
        magnitude = match magnitude.checked_mul(10) {
            Some(next) => next,
            None => return i64::MAX,
        };
    }
}

/// Ticks from 0 to the trace's duration at a nice step; a zero-length trace gets the 0 tick.
pub fn axis_ticks(duration_ns: i64, max_intervals: usize) -> Vec<Tick> {
    if duration_ns <= 0 {
        return vec![Tick {
            at_ns: 0,
            offset: 0.0,
            label: "0".into(),
        }];
    }
    let step = nice_step(duration_ns, max_intervals);
    (0..)
        .map(|k: i64| k.saturating_mul(step))
        .take_while(|&at| at <= duration_ns)
        .map(|at| Tick {
            at_ns: at,
            offset: at as f64 / duration_ns as f64,
            label: tick_label(at, step),
        })
        .collect()
}

/// A tick's label in the unit its step calls for, with as many decimals as the step needs so
/// labels on one axis read alike: step 500 ms → `0`, `0.5 s`, `1.0 s`; step 20 ms → `20 ms`.
pub fn tick_label(at_ns: i64, step_ns: i64) -> String {
    if at_ns == 0 {
        return "0".into();
    }
    let (unit_ns, unit): (i64, &str) = if step_ns >= 100_000_000 {
        (1_000_000_000, "s")
    } else if step_ns >= 100_000 {
        (1_000_000, "ms")
    } else if step_ns >= 100 {
        (1_000, "µs")
    } else {
        (1, "ns")
    };
    // Decimals: how far below the unit the step's leading digit sits.
    let mut decimals = 0;
    let mut scale = unit_ns;
    while scale > 1 && step_ns % scale != 0 {
        scale /= 10;
        decimals += 1;
    }
    format!("{:.*} {unit}", decimals, at_ns as f64 / unit_ns as f64)
}

/// A span's duration: `850 ns`, `42 µs`, `12.5 ms`, `1.2 s`, `2m 05s`.
pub fn duration_label(ns: i64) -> String {
    let ns = ns.max(0);
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{} µs", ns / 1_000)
    } else if ns < 100_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else if ns < 1_000_000_000 {
        format!("{} ms", ns / 1_000_000)
    } else {
        crate::model::format::duration_secs(ns as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, start: i64, end: i64) -> SpanView {
        SpanView {
            span_id: id.into(),
            parent_span_id: parent.map(str::to_string),
            name: id.into(),
            kind: "internal".into(),
            category: "other".into(),
            start_ns: start,
            end_ns: end,
            start: String::new(),
            end: String::new(),
            status: "unset".into(),
            status_message: None,
            attributes: serde_json::Value::Null,
            resource: serde_json::Value::Null,
            events: serde_json::Value::Null,
        }
    }

    fn order(spans: &[SpanView]) -> Vec<(String, usize)> {
        layout(spans, 5)
            .rows
            .iter()
            .map(|r| (spans[r.index].span_id.clone(), r.depth))
            .collect()
    }

    fn ids(rows: &[(String, usize)]) -> Vec<&str> {
        rows.iter().map(|(id, _)| id.as_str()).collect()
    }

    #[test]
    fn parents_come_first_and_children_follow_by_start() {
        // Given in a shuffled order, children of root out of start order.
        let spans = [
            span("tool", Some("root"), 400, 600),
            span("llm2", Some("root"), 700, 900),
            span("root", None, 0, 1000),
            span("llm1", Some("root"), 100, 400),
            span("http", Some("llm1"), 150, 350),
        ];
        assert_eq!(
            order(&spans),
            vec![
                ("root".into(), 0),
                ("llm1".into(), 1),
                ("http".into(), 2),
                ("tool".into(), 1),
                ("llm2".into(), 1),
            ]
        );
        let l = layout(&spans, 5);
        assert_eq!(l.rows[0].children, 3);
        assert_eq!(l.rows[1].children, 1);
        assert!(l.rows.iter().all(|r| !r.orphan));
    }

    #[test]
    fn offsets_and_widths_are_fractions_of_the_trace() {
        let spans = [
            span("root", None, 1_000, 3_000),
            span("a", Some("root"), 1_500, 2_000),
        ];
        let l = layout(&spans, 5);
        assert_eq!(
            (l.start_ns, l.end_ns, l.duration_ns()),
            (1_000, 3_000, 2_000)
        );
        assert_eq!((l.rows[0].offset, l.rows[0].width), (0.0, 1.0));
        assert_eq!((l.rows[1].offset, l.rows[1].width), (0.25, 0.25));
        assert_eq!(l.rows[1].duration_ns, 500);
    }

    #[test]
    fn a_span_ending_before_it_starts_is_an_instant() {
        let spans = [
            span("root", None, 0, 100),
            span("bad", Some("root"), 50, 10),
        ];
        let l = layout(&spans, 5);
        assert_eq!(l.rows[1].width, 0.0);
        assert_eq!(l.rows[1].duration_ns, 0);
        assert_eq!(l.end_ns, 100);
    }

    #[test]
    fn a_zero_length_trace_does_not_divide_by_zero() {
        let spans = [span("a", None, 5, 5), span("b", Some("a"), 5, 5)];
        let l = layout(&spans, 5);
        assert!(l.rows.iter().all(|r| r.offset == 0.0 && r.width == 0.0));
        assert_eq!(l.ticks.len(), 1);
        assert!(layout(&[], 5).rows.is_empty());
    }

    #[test]
    fn orphans_come_after_the_complete_trees_at_depth_zero() {
        let spans = [
            span("late-orphan", Some("missing-1"), 50, 60),
            span("root", None, 10, 100),
            span("child", Some("root"), 20, 30),
            span("early-orphan", Some("missing-2"), 0, 40),
            span("orphan-kid", Some("early-orphan"), 5, 15),
        ];
        let rows = order(&spans);
        assert_eq!(
            ids(&rows),
            vec!["root", "child", "early-orphan", "orphan-kid", "late-orphan"]
        );
        let l = layout(&spans, 5);
        let flagged: Vec<bool> = l.rows.iter().map(|r| r.orphan).collect();
        assert_eq!(flagged, vec![false, false, true, false, true]);
        assert_eq!(rows[3].1, 1, "an orphan's children are nested under it");
        // The trace starts at the earliest span, orphans included.
        assert_eq!(l.start_ns, 0);
    }

    #[test]
    fn cycles_and_self_parents_still_get_one_row_each() {
        let spans = [
            span("root", None, 0, 100),
            span("self", Some("self"), 10, 20),
            span("a", Some("b"), 30, 40),
            span("b", Some("a"), 35, 45),
        ];
        let l = layout(&spans, 5);
        assert_eq!(l.rows.len(), 4);
        let mut seen: Vec<usize> = l.rows.iter().map(|r| r.index).collect();
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2, 3]);
        assert!(l.rows[1..].iter().any(|r| r.orphan));
    }

    #[test]
    fn empty_parent_ids_mean_root_and_duplicates_are_kept() {
        let spans = [
            span("a", Some(""), 0, 10),
            span("a", None, 5, 10),
            span("c", Some("a"), 1, 2),
        ];
        let l = layout(&spans, 5);
        assert_eq!(l.rows.len(), 3);
        assert_eq!(l.rows[0].index, 0);
        assert_eq!(
            l.rows[1].index, 2,
            "children attach to the first span with the id"
        );
    }

    #[test]
    fn deep_chains_do_not_overflow_the_stack() {
        let n = 20_000;
        let spans: Vec<SpanView> = (0..n)
            .map(|i| {
                let parent = (i > 0).then(|| format!("s{}", i - 1));
                span(&format!("s{i}"), parent.as_deref(), i, n)
            })
            .collect();
        let l = layout(&spans, 5);
        assert_eq!(l.rows.len(), n as usize);
        assert_eq!(l.rows.last().map(|r| r.depth), Some(n as usize - 1));
    }

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(1_000, 5), 200);
        assert_eq!(nice_step(1_001, 5), 500);
        assert_eq!(nice_step(2_600_000_000, 5), 1_000_000_000);
        assert_eq!(nice_step(7, 5), 2);
        assert_eq!(nice_step(0, 5), 1);
        assert_eq!(nice_step(100, 0), 100);
        assert_eq!(nice_step(i64::MAX, 1), i64::MAX);
    }

    #[test]
    fn ticks_cover_the_axis_with_readable_labels() {
        let ticks = axis_ticks(2_600_000_000, 5);
        let labels: Vec<&str> = ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, vec!["0", "1 s", "2 s"]);
        assert!((ticks[1].offset - 1.0 / 2.6).abs() < 1e-12);

        let labels: Vec<String> = axis_ticks(2_000_000_000, 4)
            .into_iter()
            .map(|t| t.label)
            .collect();
        assert_eq!(labels, vec!["0", "0.5 s", "1.0 s", "1.5 s", "2.0 s"]);

        let labels: Vec<String> = axis_ticks(90_000_000, 5)
            .into_iter()
            .map(|t| t.label)
            .collect();
        assert_eq!(labels, vec!["0", "20 ms", "40 ms", "60 ms", "80 ms"]);

        let labels: Vec<String> = axis_ticks(1_000, 5).into_iter().map(|t| t.label).collect();
        assert_eq!(
            labels,
            vec!["0", "0.2 µs", "0.4 µs", "0.6 µs", "0.8 µs", "1.0 µs"]
        );
        assert!(axis_ticks(1_000, 5).len() <= 6);
    }

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(duration_label(850), "850 ns");
        assert_eq!(duration_label(42_300), "42 µs");
        assert_eq!(duration_label(12_540_000), "12.5 ms");
        assert_eq!(duration_label(350_000_000), "350 ms");
        assert_eq!(duration_label(1_230_000_000), "1.2 s");
        assert_eq!(duration_label(-5), "0 ns");
    }
}
