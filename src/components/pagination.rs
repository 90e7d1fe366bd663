//! "1–25 of 4,520" with previous / next links. Plain links, so paging works without JavaScript
//! and every page has its own URL.

use leptos::prelude::*;

use super::icons::Chevron;
use crate::model::format::thousands;

#[component]
pub fn Pagination(
    /// Index of the first row shown.
    offset: i64,
    /// Rows on this page.
    shown: usize,
    /// Rows in the whole list.
    total: i64,
    /// What the rows are, for the summary ("sessions").
    noun: &'static str,
    previous: Option<String>,
    next: Option<String>,
) -> impl IntoView {
    let summary = if shown == 0 {
        format!("0 of {} {noun}", thousands(total))
    } else {
        format!(
            "{}–{} of {} {noun}",
            thousands(offset + 1),
            thousands(offset + shown as i64),
            thousands(total)
        )
    };
    view! {
        <nav
            aria-label="Pagination"
            class="flex items-center justify-between gap-3 border-t border-zinc-200 px-3 py-2 text-sm dark:border-zinc-800"
        >
            <p class="tabular-nums text-zinc-600 dark:text-zinc-400" data-testid="pagination-summary">
                {summary}
            </p>
            <div class="flex items-center gap-1">
                <PageLink href=previous label="Previous" left=true />
                <PageLink href=next label="Next" left=false />
            </div>
        </nav>
    }
}

#[component]
fn PageLink(href: Option<String>, label: &'static str, left: bool) -> impl IntoView {
    const BASE: &str = "inline-flex h-8 items-center gap-1 rounded-md px-2.5 text-sm font-medium ring-1 ring-inset";
    match href {
        Some(href) => {
            let rel = if left { "prev" } else { "next" };
            view! {
                <a
                    href=href
                    rel=rel
                    class=format!(
                        "{BASE} bg-white text-zinc-700 ring-zinc-300 hover:bg-zinc-50 dark:bg-zinc-900 dark:text-zinc-200 dark:ring-zinc-700 dark:hover:bg-zinc-800",
                    )
                >
                    {left.then(|| view! { <Chevron left=true /> })}
                    {label}
                    {(!left).then(|| view! { <Chevron /> })}
                </a>
            }
            .into_any()
        }
        None => view! {
            <span
                aria-disabled="true"
                class=format!(
                    "{BASE} cursor-not-allowed text-zinc-400 ring-zinc-200 dark:text-zinc-600 dark:ring-zinc-800",
                )
            >
                {left.then(|| view! { <Chevron left=true /> })}
                {label}
                {(!left).then(|| view! { <Chevron /> })}
            </span>
        }
        .into_any(),
    }
}
