//! `/login`: the sign-in form. A plain HTML form posted to the server (`server::login`), so it
//! works without JavaScript; a failed attempt comes back here with `?failed=1`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

const FIELD: &str = "h-10 w-full rounded-md border border-zinc-300 bg-white px-3 text-sm text-zinc-900 shadow-xs focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100";
const LABEL: &str = "block text-sm font-medium text-zinc-700 dark:text-zinc-300";

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let failed = move || query.read().get("failed").is_some();
    view! {
        <Title text="Sign in · Threadline" />
        <section class="mx-auto w-full max-w-sm py-12 sm:py-20">
            <div class="rounded-lg border border-zinc-200 bg-white p-6 shadow-xs sm:p-8 dark:border-zinc-800 dark:bg-zinc-900">
                <h1 class="text-xl font-semibold tracking-tight">"Sign in"</h1>
                <p class="mt-1 text-sm text-zinc-600 dark:text-zinc-400">
                    "Sign in to see your sessions."
                </p>
                <Show when=failed>
                    <p
                        role="alert"
                        class="mt-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/50 dark:text-red-200"
                    >
                        "Wrong user name or password."
                    </p>
                </Show>
                <form method="post" action="/login" class="mt-6 space-y-4">
                    <input type="hidden" name="next" value=next />
                    <div class="space-y-1.5">
                        <label for="login-username" class=LABEL>
                            "User name"
                        </label>
                        <input
                            id="login-username"
                            name="username"
                            type="text"
                            autocomplete="username"
                            autocapitalize="none"
                            spellcheck="false"
                            required
                            autofocus
                            class=FIELD
                        />
                    </div>
                    <div class="space-y-1.5">
                        <label for="login-password" class=LABEL>
                            "Password"
                        </label>
                        <input
                            id="login-password"
                            name="password"
                            type="password"
                            autocomplete="current-password"
                            required
                            class=FIELD
                        />
                    </div>
                    <button
                        type="submit"
                        class="h-10 w-full rounded-md bg-indigo-600 px-4 text-sm font-medium text-white shadow-xs hover:bg-indigo-500 dark:bg-indigo-500 dark:hover:bg-indigo-400"
                    >
                        "Sign in"
                    </button>
                </form>
            </div>
            <p class="mt-4 text-center text-xs text-zinc-500 dark:text-zinc-400">
                "No account? An administrator creates one with "
                <code class="font-mono">"threadline users create NAME"</code>
                "."
            </p>
        </section>
    }
}
