//! The session page (`/sessions/{id}`, the id percent-encoded): how the session was grouped,
//! its exact totals, and its runs as a timeline with idle and prompt-cache markers.
//!
//! Long sessions: the URL's `runs=N` says how many of the first runs to show (default 100).
//! "Load more runs" is a plain link to `?runs=N+100`, so it works without JavaScript (the server
//! renders the first N runs). Once hydrated, the same link only changes the URL: the page keeps
//! the runs it has and fetches just the missing ones, appending cards without redrawing the
//! others; going back shows the shorter list again from what is already loaded.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_params_map};
use leptos_router::{lazy_route, LazyRoute};

use crate::api::codec::{resource, Resource};
use crate::api::detail::{get_session, MAX_RUNS_PER_CALL};
use crate::api::sessions::error_message;
use crate::components::chips::{ChipKind, ChipList};
use crate::components::latency_bar::LatencyLegend;
use crate::components::links::exact_navigation;
use crate::components::time::Time;
use crate::components::timeline::{overhead_tone, timeline_entries, Entry, Timeline};
use crate::model::timeline::{overhead_label, parse_time_us, saved_share};
use crate::model::{format, query, RunView, SessionDetail};

/// Runs shown at first and added by each "Load more runs".
pub const RUNS_PAGE: i64 = 100;
/// The timeline shows at most this many runs; the REST API pages through any number.
pub const MAX_RUNS_SHOWN: i64 = 5000;

/// How many of the session's first runs the URL asks for (`runs`, default [`RUNS_PAGE`]).
pub fn runs_wanted(pairs: &[(String, String)]) -> i64 {
    query::param(pairs, "runs")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(RUNS_PAGE)
        .clamp(1, MAX_RUNS_SHOWN)
}

/// The session with its first `want` runs, in as many calls as the per-call limit needs.
async fn load_session(id: String, want: i64) -> Result<Option<SessionDetail>, ServerFnError> {
    let Some(mut detail) = get_session(id.clone(), 0, want.min(MAX_RUNS_PER_CALL)).await? else {
        return Ok(None);
    };
    while (detail.runs.len() as i64) < want.min(detail.aggregates.run_count) {
        let offset = detail.runs.len() as i64;
        match get_session(id.clone(), offset, (want - offset).min(MAX_RUNS_PER_CALL)).await? {
            Some(page) if !page.runs.is_empty() => detail.runs.extend(page.runs),
            _ => break,
        }
    }
    Ok(Some(detail))
}

/// The route: its data starts loading as soon as the route matches, while the browser fetches
/// the page's own code, which is split off the main bundle (see `app.rs`).
pub struct SessionRoute {
    session: Resource<(String, Result<Option<SessionDetail>, ServerFnError>)>,
    wanted: Memo<i64>,
}

#[lazy_route]
impl LazyRoute for SessionRoute {
    fn data() -> Self {
        let params = use_params_map();
        let location = use_location();
        // The router decodes the path segment, so any id (spaces, slashes, `#`) arrives intact.
        let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
        let wanted =
            Memo::new(move |_| runs_wanted(&query::parse_query_string(&location.search.get())));
        // Keyed on the id only: a different `runs` is served from the page's own state (see the
        // module comment) instead of fetching everything again.
        let session = resource(
            move || id.get(),
            move |id| {
                let want = wanted.get_untracked();
                async move {
                    let result = load_session(id.clone(), want).await;
                    (id, result)
                }
            },
        );
        Self { session, wanted }
    }

    fn view(this: Self) -> AnyView {
        let SessionRoute { session, wanted } = this;
        view! {
            <Transition fallback=|| view! { <Loading what="session" /> }>
                {move || Suspend::new(async move {
                    let (id, result) = session.await;
                    let title = format!("Session {id} · Threadline");
                    let body = match result {
                        Ok(Some(detail)) => view! { <SessionView detail wanted /> }.into_any(),
                        Ok(None) => {
                            view! {
                                <Missing
                                    title="Session not found"
                                    what="No session has the id"
                                    id
                                    hint="It may never have been received, or it belongs to another project."
                                />
                            }
                                .into_any()
                        }
                        Err(err) => {
                            view! {
                                <LoadFailed title="The session could not be loaded." message=error_message(&err) />
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
fn SessionView(detail: SessionDetail, wanted: Memo<i64>) -> impl IntoView {
    let session_id = detail.session_id.clone();
    let total = detail.aggregates.run_count;
    let first = StoredValue::new(detail.runs.clone());
    // Runs fetched after the first render, in order after `first`.
    let extra = RwSignal::new(Vec::<RunView>::new());
    let exhausted = RwSignal::new(false);
    let fetching = RwSignal::new(false);
    let fetch_error = RwSignal::new(None::<String>);

    let entries = Memo::new(move |_| {
        let want = wanted.get().max(0) as usize;
        let mut runs: Vec<RunView> = first.with_value(|f| f.iter().take(want).cloned().collect());
        if runs.len() < want {
            extra.with(|e| runs.extend(e.iter().take(want - runs.len()).cloned()));
        }
        timeline_entries(&runs)
    });
    let shown = Memo::new(move |_| {
        entries.with(|e| e.iter().filter(|x| matches!(x, Entry::Run { .. })).count() as i64)
    });

    // With JavaScript: fetch what the URL asks for and the page does not have yet.
    {
        let session_id = session_id.clone();
        Effect::new(move |_| {
            let want = wanted.get();
            let loaded = first.with_value(Vec::len) + extra.with(Vec::len);
            let loaded = loaded as i64;
            if want <= loaded || loaded >= total || exhausted.get() || fetching.get_untracked() {
                return;
            }
            fetching.set(true);
            fetch_error.set(None);
            let id = session_id.clone();
            leptos::task::spawn_local(async move {
                let limit = (want - loaded).min(MAX_RUNS_PER_CALL);
                let result = get_session(id, loaded, limit).await;
                // The page may have moved on (another session) while the request was out.
                let Some(mut known) = first.try_with_value(|f| {
                    f.iter()
                        .map(|r| r.id.clone())
                        .collect::<std::collections::HashSet<_>>()
                }) else {
                    return;
                };
                match result {
                    Ok(Some(page)) => {
                        if (page.runs.len() as i64) < limit {
                            exhausted.set(true);
                        }
                        // Runs ingested meanwhile can shift the pages: never show one twice.
                        extra.with_untracked(|e| known.extend(e.iter().map(|r| r.id.clone())));
                        let fresh: Vec<RunView> = page
                            .runs
                            .into_iter()
                            .filter(|r| !known.contains(&r.id))
                            .collect();
                        if fresh.is_empty() {
                            exhausted.set(true);
                        }
                        extra.update(|e| e.extend(fresh));
                    }
                    Ok(None) => exhausted.set(true),
                    Err(err) => fetch_error.set(Some(error_message(&err))),
                }
                fetching.set(false);
            });
        });
    }

    let a = detail.aggregates.clone();
    let has_gateway = a.gateway_runs > 0;
    view! {
        <div class="flex flex-col gap-5" data-testid="session-detail">
            <nav aria-label="Breadcrumb" class="text-sm">
                <ol class="flex items-center gap-1.5 text-zinc-500 dark:text-zinc-400">
                    <li>
                        <a href="/" class="rounded hover:text-zinc-900 hover:underline dark:hover:text-zinc-100">
                            "Sessions"
                        </a>
                    </li>
                    <li aria-hidden="true">"/"</li>
                    <li aria-current="page" class="truncate font-mono text-[13px] text-zinc-700 dark:text-zinc-300">
                        {session_id.clone()}
                    </li>
                </ol>
            </nav>
            <Header detail=detail.clone() />
            <Summary detail=detail.clone() />
            <Facets detail />
            <section aria-labelledby="timeline-title" class="flex flex-col gap-3">
                <div class="flex flex-wrap items-end justify-between gap-x-4 gap-y-2">
                    <h2 id="timeline-title" class="text-base font-semibold">
                        "Timeline "
                        <span class="text-sm font-normal tabular-nums text-zinc-500 dark:text-zinc-400">
                            {move || {
                                let shown = shown.get();
                                if shown >= total {
                                    format!("{} runs", format::thousands(total))
                                } else {
                                    format!("first {} of {} runs", format::thousands(shown), format::thousands(total))
                                }
                            }}
                        </span>
                    </h2>
                    {has_gateway.then(|| view! { <LatencyLegend /> })}
                </div>
                {(total == 0)
                    .then(|| {
                        view! {
                            <p class="rounded-lg border border-dashed border-zinc-300 px-4 py-8 text-center text-sm text-zinc-500 dark:border-zinc-700 dark:text-zinc-400">
                                "This session has no runs yet."
                            </p>
                        }
                    })}
                <Timeline entries />
                <LoadMore shown wanted total fetching fetch_error />
            </section>
        </div>
    }
    .into_any()
}

/// The session id (copyable) and how the runs were grouped into it.
#[component]
fn Header(detail: SessionDetail) -> impl IntoView {
    let automatic = detail.grouping == "automatic";
    let mut parts = vec![detail.grouping.clone()];
    if automatic {
        parts.extend(detail.grouped_by.clone());
        parts.extend(detail.api_key.as_ref().map(|k| format!("key {k}")));
    } else {
        parts.push(
            detail
                .grouped_by
                .clone()
                .unwrap_or_else(|| "session id".into()),
        );
    }
    let provenance = parts.join(" · ");
    let explanation = if automatic {
        format!(
            "Grouped automatically: runs of API key {} without a session id, whose start times are at most the inactivity gap apart.",
            detail.api_key.clone().unwrap_or_else(|| "(unknown)".into())
        )
    } else {
        format!(
            "The client sent this session id{}.",
            detail
                .grouped_by
                .as_ref()
                .map(|k| format!(" as {k}"))
                .unwrap_or_default()
        )
    };
    let id = detail.session_id.clone();
    view! {
        <header class="flex flex-col gap-1.5">
            <div class="flex min-w-0 flex-wrap items-center gap-2">
                <h1 class="text-xl font-semibold tracking-tight">"Session"</h1>
                <code
                    data-testid="session-id"
                    class="min-w-0 select-all break-all rounded-md bg-zinc-100 px-2 py-0.5 font-mono text-[15px] text-zinc-900 dark:bg-zinc-800 dark:text-zinc-100"
                >
                    {id.clone()}
                </code>
                <CopyButton text=id label="Copy session id" />
            </div>
            <p class="text-sm text-zinc-600 dark:text-zinc-400">
                <span class="sr-only">"Grouping: "</span>
                <span
                    data-testid="grouping"
                    title=explanation
                    class=format!(
                        "inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset {}",
                        if automatic {
                            "bg-zinc-100 text-zinc-700 ring-zinc-500/20 dark:bg-zinc-800 dark:text-zinc-300 dark:ring-zinc-400/20"
                        } else {
                            "bg-indigo-50 text-indigo-800 ring-indigo-600/20 dark:bg-indigo-400/10 dark:text-indigo-200 dark:ring-indigo-400/25"
                        },
                    )
                >
                    {provenance}
                </span>
            </p>
        </header>
    }
    .into_any()
}

/// A button that copies `text`; the text itself stays selectable for when it cannot.
#[component]
pub(crate) fn CopyButton(text: String, label: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    view! {
        <button
            type="button"
            aria-label=label
            title=label
            on:click=move |_| copy(&text, copied)
            class="inline-flex h-7 items-center gap-1 rounded-md px-2 text-xs font-medium text-zinc-600 ring-1 ring-inset ring-zinc-300 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-300 dark:ring-zinc-700 dark:hover:bg-zinc-800 dark:hover:text-zinc-100"
        >
            <svg class="h-3.5 w-3.5" viewBox="0 0 16 16" fill="none" stroke="currentColor" stroke-width="1.5" aria-hidden="true">
                <rect x="5.5" y="5.5" width="8" height="8" rx="1.5"></rect>
                <path d="M10.5 5.5V3.5a1 1 0 0 0-1-1h-6a1 1 0 0 0-1 1v6a1 1 0 0 0 1 1h2"></path>
            </svg>
            <span aria-live="polite">{move || if copied.get() { "Copied" } else { "Copy" }}</span>
        </button>
    }
}

/// Copies through the asynchronous clipboard API, looked up dynamically: it is missing on
/// insecure origins, where the button then does nothing and the text can still be selected.
fn copy(text: &str, copied: RwSignal<bool>) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::{JsCast, JsValue};
        use leptos::web_sys::js_sys::{Function, Reflect};

        let clipboard = Reflect::get(&window(), &JsValue::from_str("navigator"))
            .and_then(|n| Reflect::get(&n, &JsValue::from_str("clipboard")))
            .ok()
            .filter(|c| !c.is_undefined() && !c.is_null());
        let Some(clipboard) = clipboard else { return };
        let Some(write) = Reflect::get(&clipboard, &JsValue::from_str("writeText"))
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
        else {
            return;
        };
        if write.call1(&clipboard, &JsValue::from_str(text)).is_ok() {
            copied.set(true);
            set_timeout(
                move || copied.set(false),
                std::time::Duration::from_millis(1500),
            );
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (text, copied);
}

const CARD: &str = "flex min-w-0 flex-col rounded-lg border border-zinc-200 bg-white px-3 py-2.5 shadow-xs dark:border-zinc-800 dark:bg-zinc-900";
const CARD_LABEL: &str = "text-xs font-medium text-zinc-500 dark:text-zinc-400";
const CARD_VALUE: &str = "mt-0.5 text-lg font-semibold tabular-nums tracking-tight";
const CARD_SUB: &str = "mt-0.5 text-xs tabular-nums text-zinc-500 dark:text-zinc-400";

#[component]
fn Summary(detail: SessionDetail) -> impl IntoView {
    let a = detail.aggregates;
    let wall = match (parse_time_us(&a.first_run), parse_time_us(&a.last_activity)) {
        (Some(from), Some(to)) if to >= from => format::duration_secs((to - from) as f64 / 1e6),
        _ => "—".into(),
    };
    let saved_sub = match saved_share(a.tokens_saved, a.input_tokens) {
        Some(share) => format!("{} of input", format::percent(share)),
        None if a.gateway_runs == 0 => "no gateway metrics".into(),
        None => "of input".into(),
    };
    let error_sub = if a.run_count > 0 && a.error_count > 0 {
        format!(
            "{} of runs",
            format::percent(a.error_count as f64 / a.run_count as f64)
        )
    } else {
        "no failed runs".into()
    };
    let overhead_sub = if a.gateway_runs > 0 {
        format!("over {} gateway runs", format::thousands(a.gateway_runs))
    } else {
        "no gateway metrics".into()
    };
    view! {
        <section aria-label="Summary" data-testid="summary">
            <dl class="grid grid-cols-2 gap-2 sm:grid-cols-4 xl:grid-cols-8">
                <Card label="Runs" value=format::thousands(a.run_count) />
                <Card
                    label="Total duration"
                    value=format::duration_secs(a.total_duration)
                    sub="sum of run durations".to_string()
                />
                <Card label="Total cost" value=format::usd(a.total_cost) />
                <Card
                    label="Total tokens"
                    value=format::tokens(a.total_tokens)
                    sub=format!("{} in · {} out", format::tokens(a.input_tokens), format::tokens(a.output_tokens))
                />
                <Card label="Tokens saved" value=format::tokens(a.tokens_saved) sub=saved_sub />
                <div class=CARD data-testid="summary-card">
                    <dt class=CARD_LABEL>"Errors"</dt>
                    <dd class=format!(
                        "{CARD_VALUE} {}",
                        if a.error_count > 0 { "text-red-600 dark:text-red-400" } else { "" },
                    )>{format::thousands(a.error_count)}</dd>
                    <dd class=CARD_SUB>{error_sub}</dd>
                </div>
                <div class=CARD data-testid="summary-card">
                    <dt class=CARD_LABEL>"Time span"</dt>
                    <dd class=CARD_VALUE title="Wall-clock time from the first run to the last activity">
                        {wall}
                    </dd>
                    <dd class="mt-0.5 flex flex-col text-xs leading-snug text-zinc-500 dark:text-zinc-400">
                        <Time at=a.first_run.clone() />
                        <span>"→ " <Time at=a.last_activity.clone() /></span>
                    </dd>
                </div>
                <div class=CARD data-testid="summary-card">
                    <dt class=CARD_LABEL>"Avg. gateway overhead"</dt>
                    <dd class=CARD_VALUE>
                        <OverheadValue pct=a.avg_overhead_pct />
                    </dd>
                    <dd class=CARD_SUB>{overhead_sub}</dd>
                </div>
            </dl>
        </section>
    }
    .into_any()
}

#[component]
fn OverheadValue(pct: Option<f64>) -> impl IntoView {
    view! { <span class=overhead_tone(pct)>{overhead_label(pct)}</span> }
}

#[component]
fn Card(
    label: &'static str,
    value: String,
    #[prop(optional)] sub: Option<String>,
) -> impl IntoView {
    view! {
        <div class=CARD data-testid="summary-card">
            <dt class=CARD_LABEL>{label}</dt>
            <dd class=CARD_VALUE>{value}</dd>
            {sub.map(|s| view! { <dd class=CARD_SUB>{s}</dd> })}
        </div>
    }
}

/// Agents, models, tools and users of the session, each one click from its other sessions.
#[component]
fn Facets(detail: SessionDetail) -> impl IntoView {
    let a = detail.aggregates;
    let users = if a.users.is_empty() {
        view! { <span class="text-zinc-400 dark:text-zinc-600">"—"</span> }.into_any()
    } else {
        let links = a
            .users
            .into_iter()
            .map(|user| {
                let href = format!("/{}", query::to_query_string(&[("user".to_string(), user.clone())]));
                view! {
                    <li>
                        <a
                            href=href
                            title=format!("Sessions of user {user}")
                            class="inline-block max-w-[12rem] truncate rounded px-1.5 py-0.5 align-middle text-xs font-medium text-amber-800 ring-1 ring-inset ring-amber-600/20 hover:bg-amber-100 bg-amber-50 dark:bg-amber-400/10 dark:text-amber-200 dark:ring-amber-400/25 dark:hover:bg-amber-400/20"
                        >
                            {user.clone()}
                        </a>
                    </li>
                }
            })
            .collect_view();
        view! { <ul class="flex flex-wrap items-center gap-1">{links}</ul> }.into_any()
    };
    const ROW: &str = "flex min-w-0 items-start gap-2";
    // The shared chip list is made for one table line; here the chips may wrap.
    const WRAP: &str = "min-w-0 [&_li]:shrink-0 [&>ul]:flex-wrap [&>ul]:gap-y-1";
    const DT: &str = "w-14 shrink-0 pt-0.5 text-xs font-medium text-zinc-500 dark:text-zinc-400";
    view! {
        <dl
            data-testid="facets"
            class="grid gap-x-6 gap-y-2 rounded-lg border border-zinc-200 bg-white px-3 py-2.5 shadow-xs md:grid-cols-2 dark:border-zinc-800 dark:bg-zinc-900"
        >
            <div class=ROW>
                <dt class=DT>"Agents"</dt>
                <dd class=WRAP>
                    <ChipList names=a.agents kind=ChipKind::Agent max=12 />
                </dd>
            </div>
            <div class=ROW>
                <dt class=DT>"Models"</dt>
                <dd class=WRAP>
                    <ChipList names=a.models kind=ChipKind::Model max=12 />
                </dd>
            </div>
            <div class=ROW>
                <dt class=DT>"Tools"</dt>
                <dd class=WRAP>
                    <ChipList names=a.tools kind=ChipKind::Tool max=16 />
                </dd>
            </div>
            <div class=ROW>
                <dt class=DT>"Users"</dt>
                <dd class="min-w-0">{users}</dd>
            </div>
        </dl>
    }
    .into_any()
}

/// "Load more runs": a link that adds a page to `runs` (see the module comment).
#[component]
fn LoadMore(
    shown: Memo<i64>,
    wanted: Memo<i64>,
    total: i64,
    fetching: RwSignal<bool>,
    fetch_error: RwSignal<Option<String>>,
) -> impl IntoView {
    let go = exact_navigation();
    move || {
        let shown = shown.get();
        if shown >= total {
            return None;
        }
        let want = wanted.get();
        let at_limit = want >= MAX_RUNS_SHOWN;
        let next = (want.max(shown) + RUNS_PAGE).min(MAX_RUNS_SHOWN);
        let busy = fetching.get();
        let go = go.clone();
        let control = if at_limit {
            view! {
                <p class="text-zinc-500 dark:text-zinc-400">
                    {format!(
                        "The timeline shows the first {} runs; the REST API lists them all (runs_offset, runs_limit).",
                        format::thousands(MAX_RUNS_SHOWN),
                    )}
                </p>
            }
            .into_any()
        } else {
            view! {
                <a
                    href=format!("?runs={next}")
                    on:click=move |ev| go(ev, &format!("?runs={next}"))
                    data-testid="load-more"
                    aria-busy=busy.to_string()
                    class="inline-flex h-9 items-center rounded-md bg-white px-4 text-sm font-medium text-zinc-800 shadow-xs ring-1 ring-inset ring-zinc-300 hover:bg-zinc-50 aria-[busy=true]:opacity-60 dark:bg-zinc-900 dark:text-zinc-100 dark:ring-zinc-700 dark:hover:bg-zinc-800"
                >
                    {if busy { "Loading more runs…" } else { "Load more runs" }}
                </a>
            }
            .into_any()
        };
        Some(view! {
            <div class="flex flex-col items-center gap-2 pl-8 text-sm">
                {control}
                <p class="tabular-nums text-zinc-500 dark:text-zinc-400">
                    {format!("Showing {} of {} runs", format::thousands(shown), format::thousands(total))}
                </p>
                {move || {
                    fetch_error
                        .get()
                        .map(|m| view! { <p role="alert" class="text-red-700 dark:text-red-400">{m}</p> })
                }}
            </div>
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Shared with the trace page.

/// A detail page's answer under its title. The title is a plain string set with the answer, not
/// a closure over the route's memos: `leptos_meta` reads such a closure again when the server
/// writes the head, and under concurrent renders that read sometimes met the memo's lock held by
/// another thread and panicked ("disposed"; see tests/ssr_concurrency.rs).
pub(crate) fn titled(text: &str, body: AnyView) -> AnyView {
    view! { <Title text=title_text(text) /> {body} }.into_any()
}

/// Text for a `<Title>` that contains client-supplied data (ids come from the URL).
///
/// `leptos_meta` writes the title into the server's HTML without escaping it, so an id like
/// `</title><script>…` would become markup. On the server `&` and `<` are escaped here (the
/// browser decodes them inside `<title>`); in the browser the title is set as plain text, so it
/// stays as it is there.
pub(crate) fn title_text(text: &str) -> String {
    #[cfg(feature = "ssr")]
    {
        text.replace('&', "&amp;").replace('<', "&lt;")
    }
    #[cfg(not(feature = "ssr"))]
    {
        text.to_string()
    }
}

#[component]
pub(crate) fn Loading(what: &'static str) -> impl IntoView {
    view! {
        <div
            role="status"
            class="rounded-lg border border-zinc-200 bg-white px-4 py-16 text-center text-sm text-zinc-500 dark:border-zinc-800 dark:bg-zinc-900 dark:text-zinc-400"
        >
            {format!("Loading {what}…")}
        </div>
    }
}

/// Not found: answered with a 404 status when rendered on the server.
#[component]
pub(crate) fn Missing(
    title: &'static str,
    what: &'static str,
    id: String,
    hint: &'static str,
) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <section data-testid="not-found" class="mx-auto max-w-lg py-20 text-center">
            <p class="text-sm font-semibold text-indigo-600 dark:text-indigo-400">"404"</p>
            <h1 class="mt-2 text-2xl font-semibold tracking-tight">{title}</h1>
            <p class="mt-2 break-words text-sm text-zinc-600 dark:text-zinc-400">
                {what} " " <code class="rounded bg-zinc-100 px-1 font-mono dark:bg-zinc-800">{id}</code> ". " {hint}
            </p>
            <crate::pages::not_found::BackToSessions />
        </section>
    }
}

/// A storage failure (details are in the server log): answered with a 500 on the server.
#[component]
pub(crate) fn LoadFailed(title: &'static str, message: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    }
    view! {
        <div
            role="alert"
            class="rounded-lg border border-red-200 bg-red-50 px-4 py-4 text-sm text-red-800 dark:border-red-500/30 dark:bg-red-500/10 dark:text-red-200"
        >
            <p class="font-semibold">{title}</p>
            <p class="mt-1">{message}</p>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        query::parse_query_string(q)
    }

    #[test]
    fn titles_cannot_close_the_title_element() {
        assert_eq!(
            title_text("Session </title><script>x</script> & co"),
            "Session &lt;/title>&lt;script>x&lt;/script> &amp; co"
        );
    }

    #[test]
    fn runs_parameter_is_bounded() {
        assert_eq!(runs_wanted(&pairs("")), RUNS_PAGE);
        assert_eq!(runs_wanted(&pairs("?runs=200")), 200);
        assert_eq!(runs_wanted(&pairs("?runs=0")), 1);
        assert_eq!(runs_wanted(&pairs("?runs=abc")), RUNS_PAGE);
        assert_eq!(runs_wanted(&pairs("?runs=99999999")), MAX_RUNS_SHOWN);
    }
}
