//! A trace as a span waterfall: one row per span, indented under its parent, its bar placed on
//! a shared time axis, LLM / tool / agent spans told apart by colour and label, errors in red.
//! Each row is a link to `?span=ID`, so the selection lives in the URL (shareable, works without
//! JavaScript, instant once hydrated); [`SpanPanel`] shows the selected span.
//!
//! The geometry is computed once by [`layout::layout`]; this module only draws it.

pub mod layout;

use std::sync::Arc;

use leptos::prelude::*;

use self::layout::{duration_label, SpanRow, WaterfallLayout};
use super::links::exact_navigation;
use super::time::Time;
use crate::model::query;
use crate::model::SpanView;

/// Tick intervals on the axis: enough to read positions, few enough for a phone.
const MAX_INTERVALS: usize = 5;
/// Deeper spans are indented no further, so names stay readable in deep traces.
const MAX_INDENT: usize = 12;
/// The name column's share of a row; the axis overlay uses the same value.
const NAME_COLUMN: &str = "w-[40%] sm:w-[34%]";
const AXIS_COLUMN: &str = "left-[40%] sm:left-[34%]";

/// Colour, label and badge look of a span category.
struct Category {
    label: &'static str,
    bar: &'static str,
    badge: &'static str,
}

fn category(name: &str) -> Category {
    match name {
        "llm" => Category {
            label: "LLM",
            bar: "bg-sky-500 dark:bg-sky-400",
            badge: "bg-sky-50 text-sky-800 ring-sky-600/20 dark:bg-sky-400/10 dark:text-sky-300 dark:ring-sky-400/25",
        },
        "tool" => Category {
            label: "Tool",
            bar: "bg-violet-500 dark:bg-violet-400",
            badge: "bg-violet-50 text-violet-800 ring-violet-600/20 dark:bg-violet-400/10 dark:text-violet-300 dark:ring-violet-400/25",
        },
        "agent" => Category {
            label: "Agent",
            bar: "bg-emerald-500 dark:bg-emerald-400",
            badge: "bg-emerald-50 text-emerald-800 ring-emerald-600/20 dark:bg-emerald-400/10 dark:text-emerald-300 dark:ring-emerald-400/25",
        },
        _ => Category {
            label: "Other",
            bar: "bg-zinc-400 dark:bg-zinc-500",
            badge: "bg-zinc-100 text-zinc-700 ring-zinc-500/20 dark:bg-zinc-800 dark:text-zinc-300 dark:ring-zinc-400/20",
        },
    }
}

const ERROR_BAR: &str = "bg-red-500 dark:bg-red-500";

/// The waterfall and the selected span's details, side by side on wide screens.
#[component]
pub fn Waterfall(
    spans: Vec<SpanView>,
    /// The `span` parameter of the URL.
    #[prop(into)]
    selected: Signal<Option<String>>,
    /// The page's query pairs, so span links keep every other parameter.
    #[prop(into)]
    pairs: Signal<Vec<(String, String)>>,
) -> impl IntoView {
    let geometry = layout::layout(&spans, MAX_INTERVALS);
    let spans = Arc::new(spans);
    let count = spans.len();
    let orphans = geometry.rows.iter().filter(|r| r.orphan).count();
    let errors = spans.iter().filter(|s| s.status == "error").count();
    let trace_start = geometry.start_ns;

    let rows = geometry
        .rows
        .iter()
        .map(|row| {
            let span = spans[row.index].clone();
            view! { <WaterfallRow span row=row.clone() selected pairs /> }
        })
        .collect_view();

    let panel = {
        let spans = spans.clone();
        let go = exact_navigation();
        move || {
            let id = selected.get()?;
            let span = spans.iter().find(|s| s.span_id == id).cloned();
            let close = query::with_params(&pairs.get(), &[("span", None)]);
            let close = if close.is_empty() {
                "?".to_string()
            } else {
                close
            };
            Some(match span {
                Some(span) => view! { <SpanPanel span trace_start close /> }.into_any(),
                None => view! {
                    <div class="rounded-lg border border-zinc-200 bg-white p-4 text-sm text-zinc-600 dark:border-zinc-800 dark:bg-zinc-900 dark:text-zinc-400">
                        "This trace has no span "
                        <code class="font-mono">{id}</code>
                        ". "
                        <a
                            href=close.clone()
                            on:click={
                                let go = go.clone();
                                move |ev| go(ev, &close)
                            }
                            class="font-medium text-indigo-600 hover:underline dark:text-indigo-400"
                        >
                            "Clear the selection"
                        </a>
                    </div>
                }
                .into_any(),
            })
        }
    };
    let hint = move || {
        selected.get().is_none().then(|| {
            view! {
                <p class="hidden rounded-lg border border-dashed border-zinc-300 px-4 py-6 text-center text-sm text-zinc-500 lg:block dark:border-zinc-700 dark:text-zinc-400">
                    "Select a span to see its attributes, events and status."
                </p>
            }
        })
    };

    view! {
        <div class="grid items-start gap-4 lg:grid-cols-[minmax(0,1fr)_minmax(20rem,26rem)]">
            <section
                aria-labelledby="waterfall-title"
                data-testid="waterfall"
                class="min-w-0 overflow-hidden rounded-lg border border-zinc-200 bg-white shadow-xs dark:border-zinc-800 dark:bg-zinc-900"
            >
                <div class="flex flex-wrap items-center justify-between gap-x-4 gap-y-2 border-b border-zinc-200 px-3 py-2 dark:border-zinc-800">
                    <h2 id="waterfall-title" class="text-sm font-semibold">
                        "Spans "
                        <span class="font-normal tabular-nums text-zinc-500 dark:text-zinc-400">
                            {format!("{count} · {}", duration_label(geometry.duration_ns()))}
                        </span>
                        {(errors > 0)
                            .then(|| {
                                view! {
                                    <span class="ml-2 font-medium text-red-600 dark:text-red-400">
                                        {if errors == 1 { "1 error".to_string() } else { format!("{errors} errors") }}
                                    </span>
                                }
                            })}
                    </h2>
                    <CategoryLegend />
                </div>
                <Axis geometry=geometry.clone() />
                <div class="relative">
                    <Gridlines geometry=geometry.clone() />
                    <ol aria-label="Spans, parents before children" class="relative">
                        {rows}
                    </ol>
                </div>
                {(orphans > 0)
                    .then(|| {
                        view! {
                            <p class="border-t border-zinc-200 px-3 py-2 text-xs text-zinc-500 dark:border-zinc-800 dark:text-zinc-400">
                                {if orphans == 1 {
                                    "1 span names a parent that was not received; it is listed after the complete tree.".to_string()
                                } else {
                                    format!("{orphans} spans name a parent that was not received; they are listed after the complete tree.")
                                }}
                            </p>
                        }
                    })}
            </section>
            <div class="min-w-0 lg:sticky lg:top-4 lg:max-h-[calc(100dvh-2rem)] lg:overflow-y-auto">
                {hint}
                {panel}
            </div>
        </div>
    }
    .into_any()
}

#[component]
fn CategoryLegend() -> impl IntoView {
    view! {
        <ul class="flex flex-wrap items-center gap-x-3 gap-y-1 text-xs text-zinc-600 dark:text-zinc-400" aria-label="Span colours">
            {["llm", "tool", "agent", "other"]
                .into_iter()
                .map(|name| {
                    let c = category(name);
                    view! {
                        <li class="flex items-center gap-1.5">
                            <span class=format!("h-2 w-3 rounded-sm {}", c.bar) aria-hidden="true"></span>
                            {c.label}
                        </li>
                    }
                })
                .collect_view()}
            <li class="flex items-center gap-1.5">
                <span class=format!("h-2 w-3 rounded-sm {ERROR_BAR}") aria-hidden="true"></span>
                "Error"
            </li>
        </ul>
    }
}

/// The time axis above the rows.
#[component]
fn Axis(geometry: WaterfallLayout) -> impl IntoView {
    let last = geometry.ticks.len().saturating_sub(1);
    let ticks = geometry
        .ticks
        .into_iter()
        .enumerate()
        .map(|(i, tick)| {
            // The last label ends at its tick so it never leaves the track.
            let shift = if i == last && i > 0 && tick.offset > 0.9 {
                "-translate-x-full pr-1"
            } else {
                "pl-1"
            };
            // Narrow tracks have room for every other label only.
            let narrow = if i % 2 == 1 { "hidden sm:block" } else { "" };
            view! {
                <span
                    class=format!("absolute top-0 whitespace-nowrap {shift} {narrow}")
                    style=format!("left: {:.4}%", tick.offset * 100.0)
                >
                    {tick.label}
                </span>
            }
        })
        .collect_view();
    view! {
        <div
            aria-hidden="true"
            class="relative flex h-7 items-center border-b border-zinc-200 bg-zinc-50 text-[11px] tabular-nums text-zinc-500 dark:border-zinc-800 dark:bg-zinc-900/60 dark:text-zinc-400"
        >
            <div class=format!("{NAME_COLUMN} shrink-0 px-3 font-semibold")>"Span"</div>
            <div class="relative h-4 flex-1 mx-3">{ticks}</div>
        </div>
    }
}

/// Vertical lines at the ticks behind all rows.
#[component]
fn Gridlines(geometry: WaterfallLayout) -> impl IntoView {
    view! {
        <div aria-hidden="true" class=format!("pointer-events-none absolute inset-y-0 right-0 {AXIS_COLUMN}")>
            <div class="relative mx-3 h-full">
                {geometry
                    .ticks
                    .into_iter()
                    .map(|tick| {
                        view! {
                            <span
                                class="absolute inset-y-0 w-px bg-zinc-100 dark:bg-zinc-800/70"
                                style=format!("left: {:.4}%", tick.offset * 100.0)
                            ></span>
                        }
                    })
                    .collect_view()}
            </div>
        </div>
    }
}

/// One span: its name column and its bar.
#[component]
fn WaterfallRow(
    span: SpanView,
    row: SpanRow,
    selected: Signal<Option<String>>,
    pairs: Signal<Vec<(String, String)>>,
) -> impl IntoView {
    let c = category(&span.category);
    let failed = span.status == "error";
    let bar = if failed { ERROR_BAR } else { c.bar };
    let id = span.span_id.clone();
    let href = {
        let id = id.clone();
        move || query::with_params(&pairs.get(), &[("span", Some(id.as_str()))])
    };
    let go = exact_navigation();
    let is_selected = {
        let id = id.clone();
        move || selected.read().as_deref() == Some(id.as_str())
    };
    let duration = duration_label(row.duration_ns);
    let indent = row.depth.min(MAX_INDENT) as f64 * 0.875;
    // The duration sits after the bar; before it when the bar ends near the right edge; inside
    // it when the bar fills nearly the whole track.
    let end = row.offset + row.width;
    let (label_style, label_class) = if end < 0.8 {
        (
            format!("left: calc({:.4}% + 4px)", end * 100.0),
            "text-zinc-600 dark:text-zinc-400",
        )
    } else if row.offset > 0.15 {
        (
            format!("right: calc({:.4}% + 4px)", (1.0 - row.offset) * 100.0),
            "text-zinc-600 dark:text-zinc-400",
        )
    } else {
        (
            format!("right: calc({:.4}% + 6px)", (1.0 - end) * 100.0),
            "font-medium text-white",
        )
    };
    let title = format!(
        "{} · {} · {}{}",
        span.name,
        c.label,
        duration,
        if failed { " · error" } else { "" }
    );
    view! {
        <li>
            <a
                href=href.clone()
                on:click=move |ev| go(ev, &href())
                aria-current=move || is_selected().then_some("true")
                data-testid="span-row"
                data-category=span.category.clone()
                data-status=span.status.clone()
                title=title
                class="group flex h-8 items-center border-b border-zinc-100 text-xs last:border-b-0 hover:bg-zinc-50 focus-visible:-outline-offset-2 aria-[current=true]:bg-indigo-50 dark:border-zinc-800/60 dark:hover:bg-zinc-800/40 dark:aria-[current=true]:bg-indigo-500/15"
            >
                <span class=format!("{NAME_COLUMN} flex min-w-0 shrink-0 items-center gap-1.5 px-3")>
                    <span class="shrink-0" style=format!("width: {indent}rem") aria-hidden="true"></span>
                    {(row.depth > 0)
                        .then(|| {
                            view! {
                                <span class="-ml-1 shrink-0 text-zinc-300 dark:text-zinc-600" aria-hidden="true">
                                    "└"
                                </span>
                            }
                        })}
                    <span class=format!(
                        "hidden shrink-0 rounded px-1 py-px text-[10px] font-semibold uppercase tracking-wide ring-1 ring-inset sm:inline {}",
                        c.badge,
                    )>{c.label}</span>
                    <span class=format!("h-2 w-2 shrink-0 rounded-full sm:hidden {}", c.bar) aria-hidden="true"></span>
                    <span class="sr-only sm:hidden">{format!("{}: ", c.label)}</span>
                    <span class=format!(
                        "truncate font-medium {}",
                        if failed { "text-red-700 dark:text-red-400" } else { "text-zinc-800 dark:text-zinc-200" },
                    )>{span.name.clone()}</span>
                    {failed
                        .then(|| {
                            view! {
                                <span class="shrink-0 rounded-full bg-red-100 px-1 text-[10px] font-bold text-red-700 dark:bg-red-500/20 dark:text-red-300">
                                    "error"
                                </span>
                            }
                        })}
                    {row
                        .orphan
                        .then(|| {
                            view! {
                                <span
                                    class="shrink-0 text-[10px] text-amber-700 dark:text-amber-400"
                                    title="Its parent span was not received"
                                >
                                    "no parent"
                                </span>
                            }
                        })}
                </span>
                <span class="relative mx-3 h-full flex-1">
                    <span
                        class=format!("absolute top-1/2 h-3 -translate-y-1/2 rounded-sm {bar}")
                        style=format!(
                            "left: {:.4}%; width: {:.4}%; min-width: 2px",
                            row.offset * 100.0,
                            row.width * 100.0,
                        )
                    ></span>
                    <span
                        class=format!("absolute top-1/2 -translate-y-1/2 whitespace-nowrap text-[11px] tabular-nums {label_class}")
                        style=label_style
                    >
                        {duration}
                    </span>
                </span>
            </a>
        </li>
    }
    .into_any()
}

/// Everything about one span: identity, timing, status, attributes, resource and events.
#[component]
pub fn SpanPanel(
    span: SpanView,
    /// The trace's start, for offsets.
    trace_start: i64,
    /// Where "Close" leads (the URL without the selection).
    close: String,
) -> impl IntoView {
    let c = category(&span.category);
    let failed = span.status == "error";
    let duration = duration_label(span.end_ns.max(span.start_ns) - span.start_ns);
    let offset = if span.start_ns <= trace_start {
        "at the trace's start".to_string()
    } else {
        format!(
            "+{} into the trace",
            duration_label(span.start_ns - trace_start)
        )
    };
    let status_class = match span.status.as_str() {
        "error" => "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-500/10 dark:text-red-300 dark:ring-red-400/30",
        "ok" => "bg-emerald-50 text-emerald-700 ring-emerald-600/20 dark:bg-emerald-500/10 dark:text-emerald-300 dark:ring-emerald-400/25",
        _ => "bg-zinc-100 text-zinc-700 ring-zinc-500/20 dark:bg-zinc-800 dark:text-zinc-300 dark:ring-zinc-400/20",
    };
    let events = event_list(&span.events, span.start_ns);
    let go = exact_navigation();
    view! {
        <section
            aria-labelledby="span-panel-title"
            data-testid="span-panel"
            class="flex flex-col gap-4 rounded-lg border border-zinc-200 bg-white p-4 shadow-xs dark:border-zinc-800 dark:bg-zinc-900"
        >
            <header class="flex items-start justify-between gap-3">
                <div class="min-w-0">
                    <p class="flex items-center gap-2 text-[11px] font-semibold uppercase tracking-wide text-zinc-500 dark:text-zinc-400">
                        <span class=format!("h-2 w-3 rounded-sm {}", if failed { ERROR_BAR } else { c.bar }) aria-hidden="true"></span>
                        {format!("{} span", c.label)}
                    </p>
                    <h2 id="span-panel-title" class="mt-0.5 break-words text-base font-semibold">
                        {span.name.clone()}
                    </h2>
                </div>
                <a
                    href=close.clone()
                    on:click=move |ev| go(ev, &close)
                    class="shrink-0 rounded-md px-2 py-1 text-sm text-zinc-600 ring-1 ring-inset ring-zinc-300 hover:bg-zinc-50 dark:text-zinc-300 dark:ring-zinc-700 dark:hover:bg-zinc-800"
                >
                    "Close"
                </a>
            </header>
            <dl class="grid grid-cols-[auto_minmax(0,1fr)] gap-x-4 gap-y-1.5 text-xs">
                <dt class="text-zinc-500 dark:text-zinc-400">"Status"</dt>
                <dd class="flex flex-col items-start gap-1">
                    <span class=format!("rounded-full px-1.5 py-px text-[11px] font-semibold ring-1 ring-inset {status_class}")>
                        {span.status.clone()}
                    </span>
                    {span
                        .status_message
                        .clone()
                        .map(|m| {
                            view! {
                                <span class="whitespace-pre-wrap break-words font-mono text-red-700 dark:text-red-300">
                                    {m}
                                </span>
                            }
                        })}
                </dd>
                <dt class="text-zinc-500 dark:text-zinc-400">"Duration"</dt>
                <dd class="tabular-nums">{duration}</dd>
                <dt class="text-zinc-500 dark:text-zinc-400">"Start"</dt>
                <dd class="tabular-nums">
                    <Time at=span.start.clone() seconds=true />
                    <span class="text-zinc-500 dark:text-zinc-400">{format!(" · {offset}")}</span>
                </dd>
                <dt class="text-zinc-500 dark:text-zinc-400">"Kind"</dt>
                <dd>{span.kind.clone()}</dd>
                <dt class="text-zinc-500 dark:text-zinc-400">"Span ID"</dt>
                <dd class="break-all font-mono">{span.span_id.clone()}</dd>
                <dt class="text-zinc-500 dark:text-zinc-400">"Parent"</dt>
                <dd class="break-all font-mono">{span.parent_span_id.clone().unwrap_or_else(|| "— (root)".into())}</dd>
            </dl>
            <KeyValues title="Attributes" value=span.attributes.clone() testid="span-attributes" />
            <KeyValues title="Resource" value=span.resource.clone() testid="span-resource" />
            <div>
                <h3 class="mb-1.5 text-xs font-semibold text-zinc-700 dark:text-zinc-300">"Events"</h3>
                {events}
            </div>
        </section>
    }
    .into_any()
}

/// An attribute key with line-break opportunities after its dots and underscores, so
/// `gen_ai.usage.input_tokens` wraps between words rather than inside one.
fn breakable(key: &str) -> impl IntoView {
    let mut parts = Vec::new();
    let mut rest = key;
    while let Some(i) = rest.find(['.', '_']) {
        parts.push(rest[..=i].to_string());
        rest = &rest[i + 1..];
    }
    parts.push(rest.to_string());
    parts
        .into_iter()
        .map(|part| view! { {part} <wbr /> })
        .collect_view()
}

/// A JSON value as text for people: strings as they are, everything else as compact JSON.
fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A key/value table of a JSON object (any other JSON is shown as text).
#[component]
fn KeyValues(title: &'static str, value: serde_json::Value, testid: &'static str) -> impl IntoView {
    let body = match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            let rows = map
                .into_iter()
                .map(|(key, value)| {
                    view! {
                        <tr class="align-top">
                            <th scope="row" class="w-2/5 py-1 pr-3 text-left font-mono font-normal break-words text-zinc-500 dark:text-zinc-400">
                                {breakable(&key)}
                            </th>
                            <td class="whitespace-pre-wrap break-all py-1 font-mono text-zinc-900 dark:text-zinc-100">
                                {value_text(&value)}
                            </td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <table class="w-full table-fixed border-separate border-spacing-0 text-xs [&_tr+tr>*]:border-t [&_tr+tr>*]:border-zinc-100 dark:[&_tr+tr>*]:border-zinc-800">
                    <tbody>{rows}</tbody>
                </table>
            }
            .into_any()
        }
        serde_json::Value::Object(_) | serde_json::Value::Null => {
            view! { <p class="text-xs text-zinc-500 dark:text-zinc-400">"None"</p> }.into_any()
        }
        other => view! {
            <pre class="whitespace-pre-wrap break-all font-mono text-xs">{value_text(&other)}</pre>
        }
        .into_any(),
    };
    view! {
        <div data-testid=testid>
            {(!title.is_empty())
                .then(|| {
                    view! {
                        <h3 class="mb-1.5 text-xs font-semibold text-zinc-700 dark:text-zinc-300">{title}</h3>
                    }
                })}
            {body}
        </div>
    }
}

/// Events as `{name, time_ns, attributes}` objects (the ingestion's shape), each with its time
/// since the span's start.
fn event_list(events: &serde_json::Value, span_start: i64) -> AnyView {
    let list = match events {
        serde_json::Value::Array(items) if !items.is_empty() => items.clone(),
        serde_json::Value::Array(_) | serde_json::Value::Null => {
            return view! { <p class="text-xs text-zinc-500 dark:text-zinc-400">"None"</p> }
                .into_any();
        }
        other => {
            return view! {
                <pre class="whitespace-pre-wrap break-all font-mono text-xs">{value_text(other)}</pre>
            }
            .into_any();
        }
    };
    let items = list
        .into_iter()
        .map(|event| {
            let name = event
                .get("name")
                .map(value_text)
                .unwrap_or_else(|| "event".into());
            let at = event
                .get("time_ns")
                .and_then(serde_json::Value::as_i64)
                .map(|t| format!("+{}", duration_label(t - span_start)));
            let attributes = event
                .get("attributes")
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            let exception = name == "exception";
            view! {
                <li class="rounded-md border border-zinc-200 p-2 dark:border-zinc-800">
                    <p class="flex items-baseline justify-between gap-2 text-xs">
                        <span class=format!(
                            "break-all font-mono font-medium {}",
                            if exception { "text-red-700 dark:text-red-300" } else { "" },
                        )>{name}</span>
                        <span class="shrink-0 tabular-nums text-zinc-500 dark:text-zinc-400">{at}</span>
                    </p>
                    {matches!(&attributes, serde_json::Value::Object(m) if !m.is_empty())
                        .then(|| view! { <KeyValues title="" value=attributes.clone() testid="event-attributes" /> })}
                </li>
            }
        })
        .collect_view();
    view! { <ol class="flex flex-col gap-2">{items}</ol> }.into_any()
}
