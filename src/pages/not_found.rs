//! The page for any address the dashboard does not know, answered with a real 404.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · Threadline" />
        <section data-testid="not-found" class="mx-auto max-w-lg py-24 text-center">
            <p class="text-sm font-semibold text-indigo-600 dark:text-indigo-400">"404"</p>
            <h1 class="mt-2 text-2xl font-semibold tracking-tight">"Page not found"</h1>
            <p class="mt-2 text-sm text-zinc-600 dark:text-zinc-400">
                "Nothing lives at this address. The link may be mistyped or out of date."
            </p>
            <BackToSessions />
        </section>
    }
}

/// The way out of a page that found nothing.
#[component]
pub(crate) fn BackToSessions() -> impl IntoView {
    view! {
        <a
            href="/"
            class="mt-6 inline-flex h-9 items-center rounded-md bg-indigo-600 px-4 text-sm font-medium text-white hover:bg-indigo-500 dark:bg-indigo-500 dark:hover:bg-indigo-400"
        >
            "Back to sessions"
        </a>
    }
}
