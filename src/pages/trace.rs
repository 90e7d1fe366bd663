//! The trace page (`/traces/{trace_id}`): the run the trace belongs to and its span waterfall.
//! The selected span is the URL's `span` parameter; changing it never fetches the trace again.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_params_map};
use leptos_router::{lazy_route, LazyRoute};

use super::session::{titled, CopyButton, LoadFailed, Loading, Missing};
use crate::api::codec::{resource, Resource};
use crate::api::detail::get_trace;
use crate::api::sessions::error_message;
use crate::components::latency_bar::LatencyLegend;
use crate::components::links::exact_navigation;
use crate::components::time::Time;
use crate::components::timeline::RunCard;
use crate::components::waterfall::Waterfall;
use crate::model::{query, TraceDetail};

/// The route: its data starts loading as soon as the route matches, while the browser fetches
/// the page's own code, which is split off the main bundle (see `app.rs`).
pub struct TraceRoute {
    trace: Resource<(String, Result<Option<TraceDetail>, ServerFnError>)>,
    selected: Memo<Option<String>>,
    pairs: Memo<Vec<(String, String)>>,
}

#[lazy_route]
impl LazyRoute for TraceRoute {
    fn data() -> Self {
        let params = use_params_map();
        let location = use_location();
        let trace_id = Memo::new(move |_| params.read().get("trace_id").unwrap_or_default());
        let pairs = Memo::new(move |_| query::parse_query_string(&location.search.get()));
        let selected = Memo::new(move |_| {
            query::param(&pairs.read(), "span")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        });
        let trace = resource(
            move || trace_id.get(),
            |id| async move {
                let result = get_trace(id.clone()).await;
                (id, result)
            },
        );
        Self {
            trace,
            selected,
            pairs,
        }
    }

    fn view(this: Self) -> AnyView {
        let TraceRoute {
            trace,
            selected,
            pairs,
        } = this;
        view! {
            <Transition fallback=|| view! { <Loading what="trace" /> }>
                {move || Suspend::new(async move {
                    let (id, result) = trace.await;
                    let title = format!("Trace {id} · Threadline");
                    let body = match result {
                        Ok(Some(trace)) => view! { <TraceView trace selected pairs /> }.into_any(),
                        Ok(None) => {
                            view! {
                                <Missing
                                    title="Trace not found"
                                    what="No run or span has the trace id"
                                    id
                                    hint="Spans may still be on their way, or the trace belongs to another project."
                                />
                            }
                                .into_any()
                        }
                        Err(err) => {
                            view! {
                                <LoadFailed title="The trace could not be loaded." message=error_message(&err) />
                            }
                                .into_any()
                        }
                    };
                    titled(&title, body)
                })}
            </Transition>
        }
        .into_any()
    }
}

#[component]
fn TraceView(
    trace: TraceDetail,
    selected: Memo<Option<String>>,
    pairs: Memo<Vec<(String, String)>>,
) -> impl IntoView {
    let TraceDetail {
        trace_id,
        session_id,
        run,
        spans,
    } = trace;
    let note = match (&run, spans.is_empty()) {
        (Some(_), true) => Some("No spans were received for this trace; showing the run as reported."),
        (None, false) => Some(
            "No run is stored for this trace: the spans below are all Threadline has received for it.",
        ),
        _ => None,
    };
    let started = run.as_ref().map(|r| r.started_at.clone()).or_else(|| {
        spans
            .iter()
            .min_by_key(|s| s.start_ns)
            .map(|s| s.start.clone())
    });
    let has_gateway = run.as_ref().is_some_and(|r| !r.latency_ms.is_empty());

    view! {
        <div class="flex flex-col gap-5" data-testid="trace-detail">
            <nav aria-label="Breadcrumb" class="text-sm">
                <ol class="flex min-w-0 flex-wrap items-center gap-1.5 text-zinc-500 dark:text-zinc-400">
                    <li>
                        <a href="/" class="rounded hover:text-zinc-900 hover:underline dark:hover:text-zinc-100">
                            "Sessions"
                        </a>
                    </li>
                    {session_id
                        .clone()
                        .map(|sid| {
                            let href = query::session_href(&sid);
                            let go = exact_navigation();
                            view! {
                                <li aria-hidden="true">"/"</li>
                                <li class="min-w-0">
                                    <a
                                        href=href.clone()
                                        on:click=move |ev| go(ev, &href)
                                        data-testid="session-breadcrumb"
                                        class="block max-w-[20rem] truncate rounded font-mono text-[13px] hover:text-zinc-900 hover:underline dark:hover:text-zinc-100"
                                    >
                                        {sid.clone()}
                                    </a>
                                </li>
                            }
                        })}
                    <li aria-hidden="true">"/"</li>
                    <li aria-current="page" class="text-zinc-700 dark:text-zinc-300">
                        "Trace"
                    </li>
                </ol>
            </nav>
            <header class="flex flex-col gap-1.5">
                <div class="flex min-w-0 flex-wrap items-center gap-2">
                    <h1 class="text-xl font-semibold tracking-tight">"Trace"</h1>
                    <code
                        data-testid="trace-id"
                        class="min-w-0 select-all break-all rounded-md bg-zinc-100 px-2 py-0.5 font-mono text-[15px] text-zinc-900 dark:bg-zinc-800 dark:text-zinc-100"
                    >
                        {trace_id.clone()}
                    </code>
                    <CopyButton text=trace_id.clone() label="Copy trace id" />
                </div>
                {started
                    .map(|at| {
                        view! {
                            <p class="text-sm text-zinc-600 dark:text-zinc-400">
                                "Started " <Time at seconds=true />
                            </p>
                        }
                    })}
            </header>
            {note
                .map(|text| {
                    view! {
                        <p
                            role="note"
                            data-testid="trace-note"
                            class="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-400/25 dark:bg-amber-400/10 dark:text-amber-200"
                        >
                            {text}
                        </p>
                    }
                })}
            {run
                .map(|run| {
                    view! {
                        <section aria-labelledby="run-title" class="flex flex-col gap-2">
                            <div class="flex flex-wrap items-end justify-between gap-x-4 gap-y-2">
                                <h2 id="run-title" class="text-base font-semibold">
                                    "Run"
                                </h2>
                                {has_gateway.then(|| view! { <LatencyLegend /> })}
                            </div>
                            <RunCard run trace_link=false />
                        </section>
                    }
                })}
            {(!spans.is_empty()).then(|| view! { <Waterfall spans selected pairs /> })}
        </div>
    }
    .into_any()
}
