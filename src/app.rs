//! The HTML document, the dashboard's chrome (header, navigation) and its route table.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::{path, Lazy, SsrMode};

use crate::api::codec::resource;
use crate::api::projects::{load_header_info, HeaderInfo, ProjectChoice};
use crate::components::icons::Mark;
use crate::pages::login::LoginPage;
use crate::pages::not_found::NotFound;
use crate::pages::session::SessionRoute;
use crate::pages::sessions::SessionsPage;
use crate::pages::trace::TraceRoute;

/// The whole HTML document the server sends; `App` is what hydrates inside `<body>`.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                // Native controls and scrollbars follow the OS theme like the page does.
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <link rel="stylesheet" id="leptos" href="/pkg/threadline.css" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-zinc-50 text-zinc-900 antialiased dark:bg-zinc-950 dark:text-zinc-100">
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // A marker that the WebAssembly has taken over (effects never run on the server): the
    // browser tests wait for it, and it is handy when debugging a page that "does nothing".
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Title text="Threadline" />
        <Router>
            <a
                href="#main"
                class="sr-only focus:not-sr-only focus:absolute focus:left-4 focus:top-3 focus:z-50 focus:rounded-md focus:bg-white focus:px-3 focus:py-2 focus:text-sm focus:shadow dark:focus:bg-zinc-900"
            >
                "Skip to content"
            </a>
            <Header />
            <main id="main" class="mx-auto w-full max-w-[100rem] px-4 py-5 sm:px-6">
                <Routes fallback=NotFound>
                    // Async: the server waits for the list's data and sends a complete page,
                    // which is what makes it usable before (or without) the WebAssembly.
                    <Route path=path!("/") view=SessionsPage ssr=SsrMode::Async />
                    // The detail pages' code is split off the main bundle (`cargo leptos build
                    // --split`) and fetched when one is opened, in parallel with its data, so
                    // the list, the page most visits start on, loads less WebAssembly.
                    <Route path=path!("/sessions/:id") view={Lazy::<SessionRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/traces/:trace_id") view={Lazy::<TraceRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/login") view=LoginPage />
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn Header() -> impl IntoView {
    let location = use_location();
    // Session pages belong to the Sessions section.
    let sessions_active = move || {
        let path = location.pathname.get();
        // A trace belongs to a session: its page keeps "Sessions" highlighted too.
        path == "/" || path.starts_with("/sessions/") || path.starts_with("/traces/")
    };
    // The sign-in page shows only the name: there is nothing to navigate to yet.
    let signing_in = move || location.pathname.get() == "/login";
    let info = resource(|| (), |_| load_header_info());
    view! {
        <header class="border-b border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-900">
            <div class="mx-auto flex h-14 w-full max-w-[100rem] items-center gap-6 px-4 sm:px-6">
                <a href="/" class="flex items-center gap-2 rounded-md text-[15px] font-semibold tracking-tight">
                    <Mark class="h-7 w-7" />
                    <span>"Threadline"</span>
                </a>
                <Show when=move || !signing_in()>
                    <nav aria-label="Main">
                        <ul class="flex items-center gap-1">
                            <li>
                                <a
                                    href="/"
                                    aria-current=move || sessions_active().then_some("page")
                                    class="rounded-md px-3 py-1.5 text-sm font-medium text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900 aria-[current=page]:bg-zinc-100 aria-[current=page]:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800 dark:hover:text-zinc-100 dark:aria-[current=page]:bg-zinc-800 dark:aria-[current=page]:text-zinc-100"
                                >
                                    "Sessions"
                                </a>
                            </li>
                        </ul>
                    </nav>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            let info = info.await.unwrap_or_default();
                            view! { <HeaderEnd info /> }
                        })}
                    </Suspense>
                </Show>
            </div>
        </header>
    }
}

/// The right end of the header: the project switcher (with more than one project) and the
/// signed-in user with the way out.
#[component]
fn HeaderEnd(info: HeaderInfo) -> impl IntoView {
    let switcher = (info.projects.len() > 1).then(|| {
        view! { <ProjectSwitcher projects=info.projects current=info.current /> }
    });
    let user = info.user.map(|name| {
        view! {
            <form method="post" action="/logout" class="flex items-center gap-2">
                <span class="hidden text-sm text-zinc-600 sm:inline dark:text-zinc-400">
                    <span class="sr-only">"Signed in as "</span>
                    {name}
                </span>
                <button
                    type="submit"
                    class="rounded-md px-3 py-1.5 text-sm font-medium text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800 dark:hover:text-zinc-100"
                >
                    "Sign out"
                </button>
            </form>
        }
    });
    view! { <div class="ml-auto flex items-center gap-4">{switcher} {user}</div> }
}

/// Chooses the project every page shows. A form posted to `/project` (the choice is kept in a
/// cookie): without JavaScript through its button, with it as soon as the selection changes.
#[component]
fn ProjectSwitcher(projects: Vec<ProjectChoice>, current: i64) -> impl IntoView {
    let form = NodeRef::<leptos::html::Form>::new();
    // The button is for browsers without JavaScript; once hydrated, changing is enough.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <form node_ref=form method="post" action="/project" class="flex items-center gap-2">
            <label for="project-switcher" class="text-xs font-medium text-zinc-500 dark:text-zinc-400">
                "Project"
            </label>
            <select
                id="project-switcher"
                name="project"
                on:change=move |_| {
                    if let Some(form) = form.get() {
                        let _ = form.submit();
                    }
                }
                class="h-8 max-w-48 rounded-md border border-zinc-300 bg-white pl-2.5 pr-7 text-sm text-zinc-900 shadow-xs focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
            >
                {projects
                    .into_iter()
                    .map(|p| {
                        view! {
                            <option value=p.id.to_string() selected=p.id == current>
                                {p.name}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <button
                type="submit"
                class:hidden=move || hydrated.get()
                class="h-8 rounded-md border border-zinc-300 px-3 text-sm font-medium text-zinc-700 hover:bg-zinc-100 dark:border-zinc-700 dark:text-zinc-300 dark:hover:bg-zinc-800"
            >
                "Switch"
            </button>
        </form>
    }
}
