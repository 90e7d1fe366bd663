//! The HTML document, the dashboard's chrome (header, navigation) and its route table.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::{path, SsrMode};

use crate::components::icons::Mark;
use crate::pages::not_found::NotFound;
use crate::pages::sessions::SessionsPage;

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
                    <Route path=path!("/sessions/:id") view=crate::pages::session::SessionPage ssr=SsrMode::Async />
                    <Route path=path!("/traces/:trace_id") view=crate::pages::trace::TracePage ssr=SsrMode::Async />
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
    view! {
        <header class="border-b border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-900">
            <div class="mx-auto flex h-14 w-full max-w-[100rem] items-center gap-6 px-4 sm:px-6">
                <a href="/" class="flex items-center gap-2 rounded-md text-[15px] font-semibold tracking-tight">
                    <Mark class="h-7 w-7" />
                    <span>"Threadline"</span>
                </a>
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
            </div>
        </header>
    }
}
