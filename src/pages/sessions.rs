//! The sessions list (`/`): every session of the project, filtered, sorted and paged by the URL.
//!
//! Progressive: the server renders the complete page (the route waits for the data), the filter
//! bar is a plain GET form and sort headers, presets and pagination are plain links that keep the
//! other parameters, so everything works without JavaScript. Once hydrated, the same links and
//! the form navigate in place and only the table is fetched again, and the search box searches
//! as you type (after a short pause, one history entry per search, see `Filters`).

use leptos::prelude::*;
use leptos::prelude::{set_timeout_with_handle, TimeoutHandle};
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::NavigateOptions;

use crate::api::codec::{resource, Resource};
use crate::api::sessions::{error_message, list_agents, list_sessions};
use crate::components::chips::{ChipKind, ChipList};
use crate::components::icons::{SortIcon, SortState};
use crate::components::pagination::Pagination;
use crate::components::time::Time;
use crate::model::format;
use crate::model::query::{self, ListForm, Scope, RANGE_PRESETS};
use crate::model::{SessionPage, SessionSummary, Sort, SortKey};

type Pairs = Vec<(String, String)>;

/// Shared look of the filter bar's text fields and selects.
const FIELD: &str = "h-9 rounded-md border border-zinc-300 bg-white px-2.5 text-sm text-zinc-900 shadow-xs placeholder:text-zinc-400 focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100 dark:placeholder:text-zinc-500";
const LABEL: &str = "flex flex-col gap-1 text-xs font-medium text-zinc-600 dark:text-zinc-400";

#[component]
pub fn SessionsPage() -> impl IntoView {
    // Created first and unconditionally: values shared from the server are matched up by
    // creation order during hydration.
    let origin = SharedValue::new(current_origin).into_inner();

    // The raw query string, decoded by `model::query` (see there for why not the router's map).
    let location = use_location();
    let pairs = Memo::new(move |_| query::parse_query_string(&location.search.get()));
    let form = Memo::new(move |_| ListForm::from_pairs(&pairs.read()));

    // The answer carries the parameters it answers, so the table's headers and links always
    // describe the rows shown, even while a newer request is on its way.
    let sessions = resource(
        move || pairs.get(),
        |pairs| async move {
            let result = list_sessions(pairs.clone()).await;
            (pairs, result)
        },
    );
    let agents = resource(|| (), |_| list_agents());
    let (pending, set_pending) = signal(false);
    // Browser only. On the server, `Transition`'s `set_pending` effect and these attributes would
    // read signals that the task resolving the data writes from another thread, and Leptos reads
    // with a non-blocking `try_read`: a read that meets the write lock panics as a "disposed"
    // signal (1 in ~2,000 concurrent renders here; it broke a CI run of the benchmark). Not
    // pending is the server's answer anyway, and what hydration starts from.
    let pending = move || !cfg!(feature = "ssr") && pending.get();
    let results = move || {
        let origin = origin.clone();
        Suspend::new(async move {
            let (pairs, result) = sessions.await;
            match result {
                Ok(page) => view! { <Results page pairs origin /> }.into_any(),
                Err(err) => view! { <LoadError message=error_message(&err) pairs /> }.into_any(),
            }
        })
    };
    #[cfg(feature = "ssr")]
    let results = {
        let _ = set_pending;
        view! { <Transition fallback=Loading>{results}</Transition> }
    };
    #[cfg(not(feature = "ssr"))]
    let results = view! { <Transition fallback=Loading set_pending>{results}</Transition> };

    view! {
        <Title text="Sessions · Threadline" />
        <div class="flex flex-col gap-4">
            <div class="flex flex-wrap items-end justify-between gap-2">
                <div>
                    <h1 class="text-xl font-semibold tracking-tight">"Sessions"</h1>
                    <p class="text-sm text-zinc-600 dark:text-zinc-400">
                        "Conversations of your agents, each grouped from its runs."
                    </p>
                </div>
            </div>
            <Filters form agents />
            <div
                class="relative"
                aria-busy=move || pending().to_string()
                data-testid="sessions-results"
            >
                <div
                    class="absolute inset-x-0 -top-2 h-0.5 overflow-hidden rounded-full"
                    class:invisible=move || !pending()
                    aria-hidden="true"
                >
                    <div class="h-full w-1/3 animate-pulse rounded-full bg-indigo-500"></div>
                </div>
                {results}
            </div>
        </div>
    }
}

/// The origin clients send data to, for the getting-started instructions: from the request on
/// the server (honouring a reverse proxy's forwarded headers), from the address bar in the browser.
fn current_origin() -> String {
    #[cfg(feature = "ssr")]
    {
        let headers = use_context::<axum::http::request::Parts>().map(|parts| parts.headers);
        let header = |name: &str| {
            headers
                .as_ref()
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
        let host = header("x-forwarded-host")
            .or_else(|| header("host"))
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        format!("{scheme}://{host}")
    }
    #[cfg(not(feature = "ssr"))]
    {
        window().location().origin().unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Filters.

#[component]
fn Filters(
    form: Memo<ListForm>,
    agents: Resource<Result<Vec<String>, ServerFnError>>,
) -> impl IntoView {
    let navigate = use_navigate();
    let location = use_location();
    let form_el = NodeRef::<leptos::html::Form>::new();
    let q_input = NodeRef::<leptos::html::Input>::new();
    // The scope chosen in the select (before submitting), for the search box's placeholder.
    let scope = RwSignal::new(form.get_untracked().scope);
    Effect::new(move |_| scope.set(form.read().scope));

    // Search as you type: a pause in typing (or a new scope) applies the search box. The first
    // such navigation adds a history entry, the next ones replace it while the URL is still the
    // one the typing made, so back returns to the list before the search, not to each prefix.
    let typing_timer = StoredValue::new(None::<TimeoutHandle>);
    // The query string the last search-as-you-type navigation produced.
    let typed_search = StoredValue::new(None::<String>);
    let cancel_typing = move || {
        if let Some(handle) = typing_timer.write_value().take() {
            handle.clear();
        }
    };
    on_cleanup(cancel_typing);

    // Navigates to what the form holds now (same parameters as the plain GET submission, minus
    // empty fields and defaults), in place.
    let apply = move |typing: bool| {
        let Some(target) = form_el.get_untracked().and_then(|el| form_target(&el)) else {
            return;
        };
        // The router's `search` has no leading `?`.
        let current_search = location.search.get_untracked();
        let current = format!(
            "{}{}{}",
            location.pathname.get_untracked(),
            if current_search.is_empty() { "" } else { "?" },
            current_search
        );
        if target == current {
            return;
        }
        let replace = typing && typed_search.get_value().as_ref() == Some(&current_search);
        navigate(
            &target,
            NavigateOptions {
                replace,
                scroll: !typing,
                ..Default::default()
            },
        );
        typed_search.set_value(typing.then(|| location.search.get_untracked()));
    };

    let on_submit = {
        let apply = apply.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            cancel_typing();
            apply(false);
        }
    };

    let on_input = {
        let apply = apply.clone();
        move |_: leptos::ev::Event| {
            cancel_typing();
            let apply = apply.clone();
            let handle = set_timeout_with_handle(
                move || {
                    typing_timer.set_value(None);
                    apply(true);
                },
                std::time::Duration::from_millis(300),
            );
            typing_timer.set_value(handle.ok());
        }
    };

    // Choices (selects, dates, the checkbox) apply at once; text fields wait for Enter (the
    // search box also applies itself after a pause in typing).
    let on_change = move |ev: leptos::ev::Event| {
        let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let kind = target.get_attribute("type").unwrap_or_default();
        if kind == "search" || kind == "text" {
            return;
        }
        if target.get_attribute("name").as_deref() == Some("scope") {
            let empty_search = q_input
                .get()
                .is_none_or(|input| input.value().trim().is_empty());
            if !empty_search {
                // Part of composing the search: same history handling as typing.
                cancel_typing();
                apply(true);
            }
            return;
        }
        cancel_typing();
        apply(false);
    };

    view! {
        <form
            node_ref=form_el
            method="get"
            action="/"
            role="search"
            aria-label="Filter sessions"
            on:submit=on_submit
            on:change=on_change
            class="flex flex-col gap-3 rounded-lg border border-zinc-200 bg-white p-3 shadow-xs dark:border-zinc-800 dark:bg-zinc-900"
        >
            <div class="flex flex-wrap gap-2">
                <div class="flex min-w-0 flex-1 basis-60 rounded-md border border-zinc-300 bg-white shadow-xs focus-within:border-indigo-500 focus-within:ring-2 focus-within:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-900">
                    <label class="sr-only" for="search-scope">
                        "Search in"
                    </label>
                    <select
                        id="search-scope"
                        name="scope"
                        prop:value=move || form.read().scope.name()
                        on:change=move |ev| {
                            scope.set(Scope::from_name(&event_target_value(&ev)).unwrap_or_default())
                        }
                        class="h-9 max-w-32 shrink-0 rounded-l-md border-0 border-r border-zinc-200 bg-zinc-50 pl-2.5 pr-7 text-sm text-zinc-700 focus:outline-none dark:border-zinc-700 dark:bg-zinc-800 dark:text-zinc-200"
                    >
                        {Scope::ALL
                            .into_iter()
                            .map(|s| {
                                view! {
                                    <option value=s.name() selected=move || form.read().scope == s>
                                        {s.label()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    <label class="sr-only" for="search-q">
                        "Search"
                    </label>
                    <input
                        id="search-q"
                        node_ref=q_input
                        type="search"
                        name="q"
                        autocomplete="off"
                        spellcheck="false"
                        placeholder=move || scope.get().placeholder()
                        value=move || form.read().q.clone()
                        prop:value=move || {
                            let q = form.read().q.clone();
                            // What is being typed stays as typed (e.g. a trailing space) when
                            // the URL says the same.
                            match q_input.get_untracked().map(|input| input.value()) {
                                Some(typed) if typed.trim() == q => typed,
                                _ => q,
                            }
                        }
                        on:input=on_input
                        class="h-9 min-w-0 flex-1 rounded-r-md border-0 bg-transparent px-2.5 text-sm text-zinc-900 placeholder:text-zinc-400 focus:outline-none dark:text-zinc-100 dark:placeholder:text-zinc-500"
                    />
                </div>
                <button
                    type="submit"
                    class="h-9 rounded-md bg-indigo-600 px-4 text-sm font-medium text-white shadow-xs hover:bg-indigo-500 dark:bg-indigo-500 dark:hover:bg-indigo-400"
                >
                    "Search"
                </button>
            </div>
            <div class="flex flex-wrap items-end gap-x-3 gap-y-2">
                <AgentSelect form agents />
                <label class=LABEL>
                    "User"
                    <input
                        type="text"
                        name="user"
                        autocomplete="off"
                        spellcheck="false"
                        placeholder="Any user"
                        value=move || form.read().user.clone()
                        prop:value=move || form.read().user.clone()
                        class=format!("{FIELD} w-36")
                    />
                </label>
                <RangePresets form />
                <label class=LABEL>
                    "From"
                    <input
                        type="date"
                        name="start"
                        value=move || form.read().start.clone()
                        prop:value=move || form.read().start.clone()
                        class=format!("{FIELD} w-36")
                    />
                </label>
                <label class=LABEL>
                    "To"
                    <input
                        type="date"
                        name="end"
                        value=move || form.read().end.clone()
                        prop:value=move || form.read().end.clone()
                        class=format!("{FIELD} w-36")
                    />
                </label>
                <label class="flex h-9 cursor-pointer items-center gap-2 text-sm text-zinc-700 dark:text-zinc-300">
                    <input
                        type="checkbox"
                        name="status"
                        value="error"
                        checked=move || form.read().errors_only
                        prop:checked=move || form.read().errors_only
                        class="h-4 w-4 rounded border-zinc-300 accent-indigo-600 dark:border-zinc-600"
                    />
                    "Errors only"
                </label>
                <a
                    href=move || query::reset_href(&form_pairs(&form.read()))
                    class="ml-auto flex h-9 items-center rounded-md px-2 text-sm text-zinc-600 hover:text-zinc-900 dark:text-zinc-400 dark:hover:text-zinc-100"
                    class:hidden=move || !form.read().has_filters()
                >
                    "Reset filters"
                </a>
            </div>
            <HiddenState form />
        </form>
    }
}

/// Where submitting the form goes: `/` with the form's fields as a tidy query string.
fn form_target(form_el: &web_sys::HtmlFormElement) -> Option<String> {
    let data = web_sys::FormData::new_with_form(form_el).ok()?;
    let params = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data).ok()?;
    let raw = String::from(params.to_string());
    let pairs = query::clean_form_pairs(&query::parse_query_string(&raw));
    Some(format!("/{}", query::to_query_string(&pairs)))
}

/// The parameters of the current view that are not visible fields of the form, so submitting
/// the form keeps them: the preset, the sort, the page size and filters from chips.
#[component]
fn HiddenState(form: Memo<ListForm>) -> impl IntoView {
    move || {
        let form = form.get();
        let mut hidden: Pairs = form.extra.clone();
        if !form.range.is_empty() && form.range != "all" {
            hidden.push(("range".into(), form.range.clone()));
        }
        if form.sort != Sort::default() {
            hidden.push(("sort".into(), form.sort.to_param()));
        }
        if form.limit != crate::model::DEFAULT_PAGE_SIZE {
            hidden.push(("limit".into(), form.limit.to_string()));
        }
        let extra = form.extra.clone();
        view! {
            {hidden
                .into_iter()
                .map(|(name, value)| view! { <input type="hidden" name=name value=value /> })
                .collect_view()}
            <ExtraFilters extra />
        }
    }
}

/// Filters in the URL that the search box does not show (e.g. a tool chip's), each removable.
#[component]
fn ExtraFilters(extra: Pairs) -> impl IntoView {
    if extra.is_empty() {
        return ().into_any();
    }
    let location = use_location();
    let chips = extra
        .into_iter()
        .map(|(key, value)| {
            let label = match key.as_str() {
                "search" => "Session ID contains",
                "model" => "Model",
                "tool" => "Tool",
                _ => "Filter",
            };
            let href = {
                let key = key.clone();
                move || query::without_href(&query::parse_query_string(&location.search.get()), &key)
            };
            view! {
                <li class="inline-flex items-center gap-1 rounded-full bg-indigo-50 py-0.5 pl-2.5 pr-1 text-xs text-indigo-800 ring-1 ring-inset ring-indigo-600/20 dark:bg-indigo-400/10 dark:text-indigo-200 dark:ring-indigo-400/25">
                    <span>{label} ": " <strong class="font-semibold">{value.clone()}</strong></span>
                    <a
                        href=href
                        class="rounded-full px-1 text-indigo-600 hover:bg-indigo-100 dark:text-indigo-300 dark:hover:bg-indigo-400/20"
                        aria-label=format!("Remove filter {label} {value}")
                    >
                        "✕"
                    </a>
                </li>
            }
        })
        .collect_view();
    view! {
        <ul class="flex flex-wrap gap-2" aria-label="Active filters">
            {chips}
        </ul>
    }
    .into_any()
}

#[component]
fn AgentSelect(
    form: Memo<ListForm>,
    agents: Resource<Result<Vec<String>, ServerFnError>>,
) -> impl IntoView {
    let select = move |names: Vec<String>, disabled: bool| {
        view! {
            <label class=LABEL>
                "Agent"
                <select
                    name="agent"
                    disabled=disabled
                    prop:value=move || form.read().agent.clone()
                    class=format!("{FIELD} w-44 pr-7")
                >
                    <option value="" selected=move || form.read().agent.is_empty()>
                        "All agents"
                    </option>
                    {names
                        .into_iter()
                        .map(|name| {
                            let value = name.clone();
                            let selected = move || form.read().agent == value;
                            let label = name.clone();
                            view! {
                                <option value=name selected=selected>
                                    {label}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
        }
    };
    let fallback = move || select(Vec::new(), true);
    view! {
        <Suspense fallback=fallback>
            {move || Suspend::new(async move {
                let mut names = agents.await.unwrap_or_default();
                // An agent in the URL that the project does not know (yet) still shows as chosen.
                let current = form.get_untracked().agent;
                if !current.is_empty() && !names.contains(&current) {
                    names.push(current);
                }
                select(names, false)
            })}
        </Suspense>
    }
}

#[component]
fn RangePresets(form: Memo<ListForm>) -> impl IntoView {
    let location = use_location();
    view! {
        <div class=LABEL>
            <span id="range-label">"Active in"</span>
            <div
                role="group"
                aria-labelledby="range-label"
                class="flex h-9 items-center rounded-md bg-zinc-100 p-0.5 dark:bg-zinc-800"
            >
                {RANGE_PRESETS
                    .into_iter()
                    .map(|(value, label)| {
                        let href = move || {
                            query::range_href(
                                &query::parse_query_string(&location.search.get()),
                                value,
                            )
                        };
                        let active = move || form.read().range == value;
                        view! {
                            <a
                                href=href
                                aria-current=move || active().then_some("true")
                                class="flex h-8 items-center rounded px-2.5 text-sm font-medium text-zinc-600 hover:text-zinc-900 aria-[current=true]:bg-white aria-[current=true]:text-zinc-900 aria-[current=true]:shadow-xs dark:text-zinc-400 dark:hover:text-zinc-100 dark:aria-[current=true]:bg-zinc-950 dark:aria-[current=true]:text-zinc-100"
                            >
                                {label}
                            </a>
                        }
                    })
                    .collect_view()}
            </div>
        </div>
    }
}

/// The URL parameters a `ListForm` stands for (for links built from the form alone).
fn form_pairs(form: &ListForm) -> Pairs {
    let mut pairs = Vec::new();
    if form.sort != Sort::default() {
        pairs.push(("sort".to_string(), form.sort.to_param()));
    }
    if form.limit != crate::model::DEFAULT_PAGE_SIZE {
        pairs.push(("limit".to_string(), form.limit.to_string()));
    }
    pairs
}

// ---------------------------------------------------------------------------------------------
// Results.

/// A sortable (or plain) column of the table.
struct Column {
    label: &'static str,
    key: Option<SortKey>,
    numeric: bool,
    /// Extra classes for the header and cells (e.g. hidden on narrow screens).
    class: &'static str,
}

static COLUMNS: [Column; 10] = [
    Column {
        label: "Session ID",
        key: Some(SortKey::SessionId),
        numeric: false,
        class: "",
    },
    Column {
        label: "Runs",
        key: Some(SortKey::RunCount),
        numeric: true,
        class: "",
    },
    Column {
        label: "First Run",
        key: Some(SortKey::FirstRun),
        numeric: false,
        class: "",
    },
    Column {
        label: "Last Activity",
        key: Some(SortKey::LastActivity),
        numeric: false,
        class: "",
    },
    Column {
        label: "Duration",
        key: Some(SortKey::TotalDuration),
        numeric: true,
        class: "",
    },
    Column {
        label: "Cost",
        key: Some(SortKey::TotalCost),
        numeric: true,
        class: "",
    },
    Column {
        label: "Tokens",
        key: Some(SortKey::TotalTokens),
        numeric: true,
        class: "",
    },
    Column {
        label: "Agents",
        key: None,
        numeric: false,
        class: "",
    },
    Column {
        label: "Models",
        key: None,
        numeric: false,
        class: "hidden xl:table-cell",
    },
    Column {
        label: "Tools",
        key: None,
        numeric: false,
        class: "hidden xl:table-cell",
    },
];

#[component]
fn Results(page: SessionPage, pairs: Pairs, origin: String) -> impl IntoView {
    let form = ListForm::from_pairs(&pairs);
    if page.count == 0 {
        return if form.has_filters() {
            view! { <NoMatch pairs /> }.into_any()
        } else {
            view! { <GettingStarted origin /> }.into_any()
        };
    }

    let shown = page.results.len();
    let offset = form.offset;
    let previous = (offset > 0).then(|| query::offset_href(&pairs, (offset - form.limit).max(0)));
    let next = (offset + (shown as i64) < page.count)
        .then(|| query::offset_href(&pairs, offset + form.limit));
    let sort = form.sort;
    let caption = format!(
        "Sessions, sorted by {} {}",
        COLUMNS
            .iter()
            .find(|c| c.key == Some(sort.key))
            .map_or("", |c| c.label),
        if sort.descending {
            "descending"
        } else {
            "ascending"
        },
    );
    let headers = COLUMNS
        .iter()
        .map(|column| view! { <HeaderCell column pairs=pairs.clone() sort /> })
        .collect_view();
    let rows = page
        .results
        .into_iter()
        .map(|session| view! { <Row session /> })
        .collect_view();

    view! {
        <div class="overflow-hidden rounded-lg border border-zinc-200 bg-white shadow-xs dark:border-zinc-800 dark:bg-zinc-900">
            {(shown == 0)
                .then(|| {
                    view! {
                        <p class="px-4 py-10 text-center text-sm text-zinc-600 dark:text-zinc-400">
                            "No sessions on this page. "
                            <a
                                href=query::offset_href(&pairs, 0)
                                class="font-medium text-indigo-600 hover:underline dark:text-indigo-400"
                            >
                                "Go to the first page"
                            </a>
                        </p>
                    }
                })}
            <div
                class="overflow-x-auto lg:max-h-[calc(100dvh-23rem)] lg:min-h-64 lg:overflow-y-auto"
                class:hidden=shown == 0
            >
                <table data-testid="sessions-table" class="min-w-full border-separate border-spacing-0 text-sm">
                    <caption class="sr-only">{caption}</caption>
                    <thead>
                        <tr>{headers}</tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <Pagination offset shown total=page.count noun="sessions" previous next />
        </div>
    }
    .into_any()
}

#[component]
fn HeaderCell(column: &'static Column, pairs: Pairs, sort: Sort) -> impl IntoView {
    let align = if column.numeric {
        "text-right"
    } else {
        "text-left"
    };
    let class = format!(
        "sticky top-0 z-10 whitespace-nowrap border-b border-zinc-200 bg-zinc-50 px-3 py-2 text-xs font-semibold text-zinc-600 dark:border-zinc-800 dark:bg-zinc-900 dark:text-zinc-400 {align} {}",
        column.class
    );
    let Some(key) = column.key else {
        return view! {
            <th scope="col" class=class>
                {column.label}
            </th>
        }
        .into_any();
    };
    let state = match (sort.key == key, sort.descending) {
        (true, true) => SortState::Descending,
        (true, false) => SortState::Ascending,
        (false, _) => SortState::Unsorted,
    };
    let aria_sort = match state {
        SortState::Descending => Some("descending"),
        SortState::Ascending => Some("ascending"),
        SortState::Unsorted => None,
    };
    // Numeric columns are right-aligned: the arrow goes before the label so labels line up
    // with the numbers under them.
    let direction = if column.numeric {
        "flex-row-reverse"
    } else {
        "flex-row"
    };
    view! {
        <th scope="col" class=class aria-sort=aria_sort>
            <a
                href=query::sort_href(&pairs, sort, key)
                class=format!(
                    "group flex items-center gap-1 rounded hover:text-zinc-900 dark:hover:text-zinc-100 {direction}",
                )
            >
                <span>{column.label}</span>
                <SortIcon state />
            </a>
        </th>
    }
    .into_any()
}

#[component]
fn Row(session: SessionSummary) -> impl IntoView {
    const CELL: &str = "border-b border-zinc-100 px-3 py-2 align-middle dark:border-zinc-800/70";
    const NUMBER: &str = "whitespace-nowrap text-right tabular-nums";
    let href = query::session_href(&session.session_id);
    let navigate = use_navigate();
    // Clicking anywhere on a row opens the session; the id is the real link (keyboard, new tab,
    // no JavaScript), and links and controls inside the row keep their own meaning.
    let on_click = {
        let href = href.clone();
        move |ev: leptos::ev::MouseEvent| {
            if !crate::components::links::is_plain_click(&ev) {
                return;
            }
            let on_control = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .and_then(|el| {
                    el.closest("a, button, input, select, label, summary")
                        .ok()
                        .flatten()
                })
                .is_some();
            if !on_control {
                navigate(&href, Default::default());
            }
        }
    };
    // The id link navigates to its href exactly: the router's own link handling would decode
    // `%25` in an id (see components::links).
    let go = crate::components::links::exact_navigation();
    let on_link = {
        let href = href.clone();
        move |ev: leptos::ev::MouseEvent| go(ev, &href)
    };
    let errors = session.error_count;
    let tokens_title = if session.tokens_saved > 0 {
        format!(
            "{} tokens · {} saved",
            format::thousands(session.total_tokens),
            format::thousands(session.tokens_saved)
        )
    } else {
        format!("{} tokens", format::thousands(session.total_tokens))
    };
    let grouping = if session.grouping == "automatic" {
        "Grouped automatically by time"
    } else {
        "Grouped by the session id the client sent"
    };
    view! {
        <tr
            data-testid="session-row"
            on:click=on_click
            class="cursor-pointer hover:bg-zinc-50 dark:hover:bg-zinc-800/50"
        >
            <td class=format!("{CELL} max-w-[22rem]")>
                <div class="flex min-w-0 items-center gap-2">
                    <a
                        href=href
                        on:click=on_link
                        title=format!("{} — {grouping}", session.session_id)
                        class="truncate rounded font-mono text-[13px] font-medium text-indigo-700 hover:underline dark:text-indigo-300"
                    >
                        {session.session_id.clone()}
                    </a>
                    {(errors > 0)
                        .then(|| {
                            let label = if errors == 1 {
                                "1 error".to_string()
                            } else {
                                format!("{} errors", format::thousands(errors))
                            };
                            view! {
                                <span
                                    data-testid="errors-badge"
                                    class="shrink-0 rounded-full bg-red-50 px-1.5 py-px text-[11px] font-semibold text-red-700 ring-1 ring-inset ring-red-600/20 dark:bg-red-500/10 dark:text-red-300 dark:ring-red-400/30"
                                >
                                    {label}
                                </span>
                            }
                        })}
                </div>
            </td>
            <td class=format!("{CELL} {NUMBER}") data-testid="cell-run_count">
                {format::thousands(session.run_count)}
            </td>
            <td class=format!("{CELL} text-zinc-700 dark:text-zinc-300")>
                <Time at=session.first_run />
            </td>
            <td class=format!("{CELL} text-zinc-700 dark:text-zinc-300")>
                <Time at=session.last_activity />
            </td>
            <td class=format!("{CELL} {NUMBER}")>{format::duration_secs(session.total_duration)}</td>
            <td class=format!("{CELL} {NUMBER}") data-testid="cell-total_cost">
                {format::usd(session.total_cost)}
            </td>
            <td class=format!("{CELL} {NUMBER}") title=tokens_title>
                {format::tokens(session.total_tokens)}
            </td>
            <td class=CELL data-testid="cell-agents">
                <ChipList names=session.agents kind=ChipKind::Agent max=1 />
            </td>
            <td class=format!("{CELL} hidden xl:table-cell")>
                <ChipList names=session.models kind=ChipKind::Model max=1 />
            </td>
            <td class=format!("{CELL} hidden xl:table-cell") data-testid="cell-tools">
                <ChipList names=session.tools kind=ChipKind::Tool max=2 />
            </td>
        </tr>
    }
}

// ---------------------------------------------------------------------------------------------
// States.

#[component]
fn Loading() -> impl IntoView {
    view! {
        <div
            role="status"
            class="rounded-lg border border-zinc-200 bg-white px-4 py-16 text-center text-sm text-zinc-500 dark:border-zinc-800 dark:bg-zinc-900 dark:text-zinc-400"
        >
            "Loading sessions…"
        </div>
    }
}

#[component]
fn LoadError(message: String, pairs: Pairs) -> impl IntoView {
    view! {
        <div
            role="alert"
            data-testid="sessions-error"
            class="rounded-lg border border-red-200 bg-red-50 px-4 py-4 text-sm text-red-800 dark:border-red-500/30 dark:bg-red-500/10 dark:text-red-200"
        >
            <p class="font-semibold">"The sessions could not be listed."</p>
            <p class="mt-1">{message}</p>
            <a href=query::reset_href(&pairs) class="mt-2 inline-block font-medium underline">
                "Reset filters"
            </a>
        </div>
    }
}

#[component]
fn NoMatch(pairs: Pairs) -> impl IntoView {
    let form = ListForm::from_pairs(&pairs);
    let exact_hint = matches!(form.scope, Scope::Model | Scope::Tool) && !form.q.is_empty();
    view! {
        <div
            data-testid="sessions-no-match"
            class="rounded-lg border border-dashed border-zinc-300 bg-white px-6 py-12 text-center dark:border-zinc-700 dark:bg-zinc-900"
        >
            <h2 class="text-base font-semibold">"No sessions match these filters"</h2>
            <p class="mt-1 text-sm text-zinc-600 dark:text-zinc-400">
                {if exact_hint {
                    "Model and tool searches match the exact name; search “Anything” to match part of a name."
                } else {
                    "Try a wider time range or fewer filters."
                }}
            </p>
            <a
                href=query::reset_href(&pairs)
                class="mt-4 inline-flex h-9 items-center rounded-md bg-indigo-600 px-4 text-sm font-medium text-white hover:bg-indigo-500 dark:bg-indigo-500 dark:hover:bg-indigo-400"
            >
                "Reset filters"
            </a>
        </div>
    }
}

/// The empty project: how to send the first data, with this server's address filled in.
#[component]
fn GettingStarted(origin: String) -> impl IntoView {
    let curl = format!(
        r#"curl -X POST {origin}/api/v1/runs \
  -H "Authorization: Bearer <key>" \
  -H "Content-Type: application/json" \
  -H "X-Session-Id: my-first-session" \
  -d '{{"runs": [{{
        "agent_name": "chat-agent",
        "started_at": "2026-02-07T10:00:00Z",
        "duration_ms": 1200,
        "model": "gpt-4o",
        "input_tokens": 420,
        "output_tokens": 180,
        "cost": 0.0031
      }}]}}'"#
    );
    let otel = format!(
        "export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={origin}/v1/traces\nexport OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Bearer%20<key>\""
    );
    const CODE: &str = "overflow-x-auto rounded-md bg-zinc-950 px-3 py-2.5 font-mono text-xs leading-relaxed text-zinc-100 ring-1 ring-zinc-900/10 dark:bg-black/40 dark:ring-white/10";
    const STEP: &str = "flex h-6 w-6 shrink-0 items-center justify-center rounded-full bg-indigo-50 text-xs font-semibold text-indigo-700 dark:bg-indigo-400/10 dark:text-indigo-300";
    view! {
        <section
            data-testid="sessions-empty"
            aria-labelledby="empty-title"
            class="rounded-lg border border-zinc-200 bg-white px-6 py-8 shadow-xs dark:border-zinc-800 dark:bg-zinc-900"
        >
            <h2 id="empty-title" class="text-lg font-semibold">
                "No sessions yet"
            </h2>
            <p class="mt-1 max-w-2xl text-sm text-zinc-600 dark:text-zinc-400">
                "Threadline groups the runs your agents and LLM gateways send into sessions. Send a first run and it appears here."
            </p>
            <ol class="mt-6 flex max-w-3xl flex-col gap-5 text-sm">
                <li class="flex gap-3">
                    <span class=STEP aria-hidden="true">
                        "1"
                    </span>
                    <div class="min-w-0 flex-1">
                        <p>"Create an API key on the server. It is shown once, on the last line:"</p>
                        <pre class=format!("{CODE} mt-2")>
                            <code>"threadline keys create"</code>
                        </pre>
                    </div>
                </li>
                <li class="flex gap-3">
                    <span class=STEP aria-hidden="true">
                        "2"
                    </span>
                    <div class="min-w-0 flex-1">
                        <p>
                            "Send runs as JSON to " <code class="font-mono text-[13px]">"POST /api/v1/runs"</code>
                            ":"
                        </p>
                        <pre class=format!("{CODE} mt-2")>
                            <code>{curl}</code>
                        </pre>
                    </div>
                </li>
                <li class="flex gap-3">
                    <span class=STEP aria-hidden="true">
                        "3"
                    </span>
                    <div class="min-w-0 flex-1">
                        <p>
                            "Or point any OpenTelemetry exporter at "
                            <code class="font-mono text-[13px]">{format!("{origin}/v1/traces")}</code>
                            " (OTLP/HTTP, protobuf or JSON). Spans carrying "
                            <code class="font-mono text-[13px]">"session.id"</code>
                            " or "
                            <code class="font-mono text-[13px]">"gen_ai.conversation.id"</code>
                            " are grouped by it; others by time."
                        </p>
                        <pre class=format!("{CODE} mt-2")>
                            <code>{otel}</code>
                        </pre>
                    </div>
                </li>
            </ol>
        </section>
    }
}
