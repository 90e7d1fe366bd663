//! A session's runs as a vertical timeline: one card per run in time order, with idle-gap and
//! "prompt cache broken" markers between the cards. [`RunCard`] is also the run summary on the
//! trace page.

use leptos::prelude::*;

use super::chips::{ChipKind, ChipList};
use super::latency_bar::LatencyBar;
use super::time::Time;
use crate::model::format;
use crate::model::timeline::{
    forwarded_changes, idle_gaps, idle_label, overhead_label, overhead_level, overhead_pct,
    preview, OverheadLevel, ToolSetChange, PREVIEW_CHARS,
};
use crate::model::RunView;

/// One item of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// The user was away this long before the next run.
    Idle { before: String, secs: f64 },
    /// The next run forwarded another tool set than the previous one.
    CacheBroken {
        before: String,
        change: ToolSetChange,
    },
    /// A run; `turn` counts from 1 at the session's first run.
    Run { turn: usize, run: Box<RunView> },
}

impl Entry {
    /// Stable across appends, so loading more runs keeps the cards already on the page.
    pub fn key(&self) -> String {
        match self {
            Entry::Idle { before, .. } => format!("idle:{before}"),
            Entry::CacheBroken { before, .. } => format!("cache:{before}"),
            Entry::Run { run, .. } => format!("run:{}", run.id),
        }
    }
}

/// The timeline of `runs` (the session's first runs, in time order), markers included.
pub fn timeline_entries(runs: &[RunView]) -> Vec<Entry> {
    let gaps = idle_gaps(runs);
    let changes = forwarded_changes(runs);
    let mut entries = Vec::with_capacity(runs.len() + runs.len() / 4);
    for (i, ((run, gap), change)) in runs.iter().zip(gaps).zip(changes).enumerate() {
        if let Some(secs) = gap {
            entries.push(Entry::Idle {
                before: run.id.clone(),
                secs,
            });
        }
        if let Some(change) = change {
            entries.push(Entry::CacheBroken {
                before: run.id.clone(),
                change,
            });
        }
        entries.push(Entry::Run {
            turn: i + 1,
            run: Box::new(run.clone()),
        });
    }
    entries
}

/// The timeline list. Keyed, so appending runs adds cards without redrawing the others (and
/// open previews stay open).
#[component]
pub fn Timeline(#[prop(into)] entries: Signal<Vec<Entry>>) -> impl IntoView {
    view! {
        <div class="relative">
            // The rail the cards hang on.
            <div
                aria-hidden="true"
                class="absolute bottom-3 left-[0.6875rem] top-3 w-px bg-zinc-200 dark:bg-zinc-800"
            ></div>
            <ol class="relative flex flex-col gap-3" data-testid="timeline" aria-label="Runs in time order">
            <For
                each=move || entries.get()
                key=Entry::key
                children=move |entry| match entry {
                    Entry::Idle { secs, .. } => view! { <IdleMarker secs /> }.into_any(),
                    Entry::CacheBroken { change, .. } => view! { <CacheMarker change /> }.into_any(),
                    Entry::Run { turn, run } => {
                        view! {
                            <li class="relative pl-8">
                                <Dot error=run.status == "error" />
                                <RunCard run=*run turn />
                            </li>
                        }
                            .into_any()
                    }
                }
            />
            </ol>
        </div>
    }
}

#[component]
fn Dot(error: bool) -> impl IntoView {
    let colour = if error {
        "bg-red-500 ring-red-100 dark:ring-red-500/20"
    } else {
        "bg-indigo-500 ring-indigo-100 dark:bg-indigo-400 dark:ring-indigo-400/20"
    };
    view! {
        <span
            aria-hidden="true"
            class=format!("absolute left-2 top-4 h-2 w-2 rounded-full ring-4 {colour}")
        ></span>
    }
}

#[component]
fn IdleMarker(secs: f64) -> impl IntoView {
    let label = idle_label(secs);
    view! {
        <li
            data-testid="idle-marker"
            class="relative flex items-center gap-3 py-0.5 pl-8 text-xs text-zinc-500 dark:text-zinc-400"
            title=format!("No activity for {}", format::duration_secs(secs))
        >
            <span
                aria-hidden="true"
                class="absolute left-[0.5rem] h-2 w-2 rounded-full border border-zinc-300 bg-zinc-50 dark:border-zinc-600 dark:bg-zinc-950"
            ></span>
            <span aria-hidden="true" class="h-px flex-1 border-t border-dashed border-zinc-300 dark:border-zinc-700"></span>
            <span class="whitespace-nowrap font-medium tabular-nums">{format!("idle {label}")}</span>
            <span aria-hidden="true" class="h-px flex-1 border-t border-dashed border-zinc-300 dark:border-zinc-700"></span>
        </li>
    }
}

#[component]
fn CacheMarker(change: ToolSetChange) -> impl IntoView {
    let mut parts: Vec<String> = change.added.iter().map(|t| format!("+{t}")).collect();
    parts.extend(change.removed.iter().map(|t| format!("−{t}")));
    let detail = parts.join(" ");
    view! {
        <li data-testid="cache-break-marker" class="relative pl-8">
            <span
                aria-hidden="true"
                class="absolute left-[0.4375rem] top-1.5 h-2.5 w-2.5 rotate-45 rounded-[2px] bg-amber-400 dark:bg-amber-400"
            ></span>
            <p class="flex flex-wrap items-baseline gap-x-2 rounded-md bg-amber-50 px-2.5 py-1 text-xs text-amber-900 ring-1 ring-inset ring-amber-600/20 dark:bg-amber-400/10 dark:text-amber-200 dark:ring-amber-400/25">
                <span class="font-semibold">"Prompt cache broken: forwarded tools changed"</span>
                <span class="break-all font-mono text-[11px] text-amber-800/90 dark:text-amber-200/80">{detail}</span>
            </p>
        </li>
    }
}

/// Muted label of a fact.
const DT: &str = "text-zinc-500 dark:text-zinc-400";
/// The fact's value.
const DD: &str = "font-medium tabular-nums text-zinc-900 dark:text-zinc-100";

/// One run: what ran, when, how long, what it cost, which tools, where the time went.
#[component]
pub fn RunCard(
    run: RunView,
    /// Position in the session (1-based); the trace page does not know it.
    #[prop(optional)]
    turn: Option<usize>,
    /// Link to the run's trace (off on the trace page itself).
    #[prop(default = true)]
    trace_link: bool,
) -> impl IntoView {
    let failed = run.status == "error";
    // On the trace page the section is already titled "Run".
    let heading = turn.map(|t| {
        view! { <h3 class="font-semibold tabular-nums text-zinc-900 dark:text-zinc-100">{format!("Turn {t}")}</h3> }
    });
    let overhead = run
        .overhead_pct
        .or_else(|| overhead_pct(&run.latency_ms, run.duration));
    let has_gateway = !run.latency_ms.is_empty();
    let model = run.model.clone().or_else(|| run.models.first().cloned());
    let other_models: Vec<String> = run
        .models
        .iter()
        .filter(|m| Some(*m) != model.as_ref())
        .cloned()
        .collect();

    let status_badge = if failed {
        view! {
            <span class="rounded-full bg-red-50 px-1.5 py-px text-[11px] font-semibold text-red-700 ring-1 ring-inset ring-red-600/20 dark:bg-red-500/10 dark:text-red-300 dark:ring-red-400/30">
                "error"
            </span>
        }
        .into_any()
    } else {
        view! {
            <span class="rounded-full bg-emerald-50 px-1.5 py-px text-[11px] font-medium text-emerald-700 ring-1 ring-inset ring-emerald-600/20 dark:bg-emerald-500/10 dark:text-emerald-300 dark:ring-emerald-400/25">
                "success"
            </span>
        }
        .into_any()
    };

    let trace = trace_link.then(|| match run.trace_id.clone() {
        Some(trace_id) => {
            let label = match turn {
                Some(t) => format!("Open the trace of turn {t}"),
                None => "Open the trace".to_string(),
            };
            view! {
                <a
                    href=format!("/traces/{}", crate::model::query::encode_component(&trace_id))
                    aria-label=label
                    data-testid="trace-link"
                    class="inline-flex items-center gap-1 rounded text-xs font-medium text-indigo-600 hover:underline dark:text-indigo-400"
                >
                    "Trace"
                    <span aria-hidden="true">"→"</span>
                </a>
            }
            .into_any()
        }
        None => view! { <span class="text-xs text-zinc-400 dark:text-zinc-500">"no trace"</span> }.into_any(),
    });

    let tools = tools_line(&run);
    let previews = (run.input.is_some() || run.output.is_some()).then(|| {
        view! {
            <div class="grid gap-2 border-t border-zinc-100 pt-2 md:grid-cols-2 dark:border-zinc-800">
                {run.input.clone().map(|text| view! { <Preview label="Input" text /> })}
                {run.output.clone().map(|text| view! { <Preview label="Output" text /> })}
            </div>
        }
    });

    view! {
        <article
            data-testid="run-card"
            data-status=run.status.clone()
            class=format!(
                "flex flex-col gap-2 rounded-lg border bg-white px-3.5 py-3 shadow-xs dark:bg-zinc-900 {}",
                if failed {
                    "border-red-200 dark:border-red-500/30"
                } else {
                    "border-zinc-200 dark:border-zinc-800"
                },
            )
        >
            <header class="flex flex-wrap items-center gap-x-3 gap-y-1 text-sm">
                {heading}
                <span class="font-medium text-zinc-800 dark:text-zinc-200" title="Agent">
                    {run.agent_name.clone()}
                </span>
                {(run.workflow_name != "default")
                    .then(|| {
                        view! {
                            <span class="text-zinc-500 dark:text-zinc-400" title="Workflow">
                                {run.workflow_name.clone()}
                            </span>
                        }
                    })}
                <span class="text-zinc-600 tabular-nums dark:text-zinc-400">
                    <Time at=run.started_at.clone() seconds=true />
                </span>
                <span class="tabular-nums text-zinc-700 dark:text-zinc-300" title="Duration">
                    {run.duration.map(format::duration_secs).unwrap_or_else(|| "—".into())}
                </span>
                {status_badge}
                <span class="ml-auto flex items-center gap-3">
                    <span class="font-medium tabular-nums" title="Cost">{format::usd(run.cost)}</span>
                    {trace}
                </span>
            </header>
            {run
                .error
                .clone()
                .filter(|e| !e.is_empty())
                .map(|error| {
                    view! {
                        <p
                            data-testid="run-error"
                            class="whitespace-pre-wrap break-words rounded-md bg-red-50 px-2.5 py-1.5 font-mono text-xs text-red-700 dark:bg-red-500/10 dark:text-red-300"
                        >
                            {error}
                        </p>
                    }
                })}
            <dl class="flex flex-wrap items-center gap-x-5 gap-y-1.5 text-xs">
                <div class="flex min-w-0 items-center gap-1.5">
                    <dt class=DT>"Model"</dt>
                    <dd class="flex min-w-0 items-center gap-1.5">
                        {match model {
                            Some(m) => view! { <ChipList names=vec![m] kind=ChipKind::Model max=1 /> }.into_any(),
                            None => view! { <span class="text-zinc-400 dark:text-zinc-600">"—"</span> }.into_any(),
                        }}
                        {(run.routed == Some(true))
                            .then(|| {
                                view! {
                                    <span
                                        title="The gateway chose this model"
                                        class="rounded bg-indigo-50 px-1 py-px text-[10px] font-semibold uppercase tracking-wide text-indigo-700 ring-1 ring-inset ring-indigo-600/20 dark:bg-indigo-400/10 dark:text-indigo-300 dark:ring-indigo-400/25"
                                    >
                                        "routed"
                                    </span>
                                }
                            })}
                        {(!other_models.is_empty())
                            .then(|| {
                                view! {
                                    <span class="text-zinc-500 dark:text-zinc-400" title=other_models.join(", ")>
                                        {format!("+{} more", other_models.len())}
                                    </span>
                                }
                            })}
                    </dd>
                </div>
                <div class="flex items-center gap-1.5">
                    <dt class=DT>"Tokens"</dt>
                    <dd class=DD>
                        {format::thousands(run.input_tokens)}
                        <span class="font-normal text-zinc-500 dark:text-zinc-400">" in / "</span>
                        {format::thousands(run.output_tokens)}
                        <span class="font-normal text-zinc-500 dark:text-zinc-400">" out"</span>
                    </dd>
                </div>
                {(run.tokens_saved > 0)
                    .then(|| {
                        view! {
                            <div class="flex items-center gap-1.5">
                                <dt class=DT>"Saved"</dt>
                                <dd class="font-medium tabular-nums text-emerald-700 dark:text-emerald-400">
                                    {format::thousands(run.tokens_saved)}
                                    " tokens"
                                </dd>
                            </div>
                        }
                    })}
                {tools}
                <div class="flex min-w-0 items-center gap-1.5">
                    <dt class=DT>"Called"</dt>
                    // The shared chip list is made for one table line; here the chips may wrap.
                    <dd class="min-w-0 [&_li]:shrink-0 [&>ul]:flex-wrap [&>ul]:gap-y-1">
                        <ChipList names=run.tools_called.clone() kind=ChipKind::Tool max=8 />
                    </dd>
                </div>
            </dl>
            {has_gateway
                .then(|| {
                    view! {
                        <div class="flex items-center gap-3">
                            <div class="min-w-0 flex-1">
                                <LatencyBar latency=run.latency_ms.clone() />
                            </div>
                            <OverheadBadge pct=overhead />
                        </div>
                    }
                })}
            {previews}
        </article>
    }
    .into_any()
}

/// Tools sent → forwarded, with the forwarded names.
fn tools_line(run: &RunView) -> Option<AnyView> {
    if run.tools_sent.is_none() && run.tools_forwarded.is_none() {
        return None;
    }
    let sent = run
        .tools_sent
        .map(format::thousands)
        .unwrap_or_else(|| "?".into());
    let forwarded = run.tools_forwarded.clone().unwrap_or_default();
    let names = forwarded.join(", ");
    Some(
        view! {
            <div class="flex min-w-0 items-center gap-1.5">
                <dt class=DT>"Tools"</dt>
                <dd class="flex min-w-0 flex-wrap items-center gap-x-1.5">
                    <span class=format!("{DD} whitespace-nowrap") data-testid="tools-forwarded">
                        {format!("{sent} sent → {} forwarded", forwarded.len())}
                    </span>
                    {(!names.is_empty())
                        .then(|| {
                            view! {
                                <span
                                    class="max-w-full truncate font-mono text-[11px] text-zinc-500 sm:max-w-[22rem] dark:text-zinc-400"
                                    title=names.clone()
                                >
                                    {names.clone()}
                                </span>
                            }
                        })}
                </dd>
            </div>
        }
        .into_any(),
    )
}

/// The text colour of an overhead figure: green while negligible, amber, then red.
pub fn overhead_tone(pct: Option<f64>) -> &'static str {
    match pct.map(overhead_level) {
        Some(OverheadLevel::Low) => "text-emerald-700 dark:text-emerald-400",
        Some(OverheadLevel::Moderate) => "text-amber-700 dark:text-amber-400",
        Some(OverheadLevel::High) => "text-red-700 dark:text-red-400",
        None => "text-zinc-500 dark:text-zinc-400",
    }
}

/// The run's gateway overhead, coloured by how much it is.
#[component]
pub fn OverheadBadge(pct: Option<f64>) -> impl IntoView {
    let tone = overhead_tone(pct);
    view! {
        <span
            data-testid="overhead"
            class="shrink-0 whitespace-nowrap text-xs"
            title="Gateway overhead: dedup + compression + tool routing, as a share of the request time"
        >
            <span class="text-zinc-500 dark:text-zinc-400">"overhead "</span>
            <span class=format!("font-semibold tabular-nums {tone}")>{overhead_label(pct)}</span>
        </span>
    }
}

/// A run's input or output: the start of it, the whole text one click away.
#[component]
fn Preview(label: &'static str, text: String) -> impl IntoView {
    let (short, cut) = preview(&text, PREVIEW_CHARS);
    let caption = view! {
        <span class="mr-1.5 text-[11px] font-semibold uppercase tracking-wide text-zinc-500 dark:text-zinc-400">
            {label}
        </span>
    };
    if !cut {
        return view! {
            <p class="min-w-0 break-words text-xs text-zinc-700 dark:text-zinc-300">{caption} {short}</p>
        }
        .into_any();
    }
    view! {
        <details class="group min-w-0 text-xs text-zinc-700 dark:text-zinc-300">
            <summary class="cursor-pointer list-none break-words rounded [&::-webkit-details-marker]:hidden">
                {caption}
                <span class="group-open:hidden">{short}</span>
                <span class="ml-1 whitespace-nowrap font-medium text-indigo-600 group-open:hidden dark:text-indigo-400">
                    "Show all"
                </span>
                <span class="hidden font-medium text-indigo-600 group-open:inline dark:text-indigo-400">
                    "Show less"
                </span>
            </summary>
            <pre class="mt-1 max-h-96 overflow-auto whitespace-pre-wrap break-words rounded-md bg-zinc-50 p-2 font-sans text-xs dark:bg-zinc-950/60">
                {text}
            </pre>
        </details>
    }
    .into_any()
}
