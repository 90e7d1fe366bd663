//! A run's gateway latency as one stacked bar: dedup, compression, tool routing and upstream,
//! each segment as wide as its share and carrying its exact time in a tooltip. The colours are
//! explained once per page by [`LatencyLegend`].

use leptos::prelude::*;

use crate::model::format;
use crate::model::timeline::{latency_phases, Phase};
use crate::model::LatencyMs;

/// The fill of a phase's segment and legend swatch.
fn phase_class(phase: Phase) -> &'static str {
    match phase {
        Phase::Dedup => "bg-amber-400 dark:bg-amber-400",
        Phase::Compression => "bg-emerald-500 dark:bg-emerald-400",
        Phase::ToolRouting => "bg-fuchsia-500 dark:bg-fuchsia-400",
        Phase::Upstream => "bg-sky-500 dark:bg-sky-500",
    }
}

/// The stacked bar; renders nothing for a run without gateway phases.
#[component]
pub fn LatencyBar(latency: LatencyMs) -> impl IntoView {
    let phases = latency_phases(&latency);
    if phases.is_empty() {
        return ().into_any();
    }
    let summary = phases
        .iter()
        .map(|p| format!("{} {}", p.phase.label(), format::duration_ms(p.ms)))
        .collect::<Vec<_>>()
        .join(", ");
    let segments = phases
        .into_iter()
        .map(|p| {
            let title = format!("{}: {} ms", p.phase.label(), exact_ms(p.ms));
            // Overhead phases are often a sliver of the upstream time: keep them visible.
            let style = format!(
                "width: {:.3}%; min-width: {}",
                p.fraction * 100.0,
                if p.ms > 0.0 { "3px" } else { "0" }
            );
            view! {
                <span
                    title=title
                    data-phase=p.phase.label()
                    class=format!("h-full shrink {}", phase_class(p.phase))
                    style=style
                ></span>
            }
        })
        .collect_view();
    view! {
        <div
            role="img"
            aria-label=format!("Latency: {summary}")
            data-testid="latency-bar"
            class="flex h-2 w-full gap-px overflow-hidden rounded-full bg-zinc-100 dark:bg-zinc-800"
        >
            {segments}
        </div>
    }
    .into_any()
}

/// Milliseconds with the precision the data has, for tooltips: `12.345`, `0.15`, `940`.
fn exact_ms(ms: f64) -> String {
    let text = format!("{ms:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What the bar's colours mean.
#[component]
pub fn LatencyLegend() -> impl IntoView {
    view! {
        <ul
            class="flex flex-wrap items-center gap-x-3 gap-y-1 text-xs text-zinc-600 dark:text-zinc-400"
            aria-label="Latency bar colours"
            data-testid="latency-legend"
        >
            {Phase::ALL
                .into_iter()
                .map(|phase| {
                    view! {
                        <li class="flex items-center gap-1.5">
                            <span
                                class=format!("h-2 w-3 rounded-sm {}", phase_class(phase))
                                aria-hidden="true"
                            ></span>
                            {phase.label()}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
