//! Names shown as chips: agents, models, tools. A chip links to the sessions that share it, so
//! "which sessions used this tool?" is one click from anywhere a tool name appears.

use leptos::prelude::*;

use crate::model::query::to_query_string;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipKind {
    Agent,
    Model,
    Tool,
}

impl ChipKind {
    /// The sessions-list filter a chip of this kind links to (an exact match, SPEC §5).
    fn param(self) -> &'static str {
        match self {
            ChipKind::Agent => "agent",
            ChipKind::Model => "model",
            ChipKind::Tool => "tool",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            ChipKind::Agent => "agent",
            ChipKind::Model => "model",
            ChipKind::Tool => "tool",
        }
    }

    fn class(self) -> &'static str {
        match self {
            ChipKind::Agent => {
                "bg-zinc-100 text-zinc-700 ring-zinc-500/15 hover:bg-zinc-200 dark:bg-zinc-800 dark:text-zinc-300 dark:ring-zinc-400/15 dark:hover:bg-zinc-700"
            }
            ChipKind::Model => {
                "bg-sky-50 text-sky-800 ring-sky-600/15 hover:bg-sky-100 dark:bg-sky-400/10 dark:text-sky-300 dark:ring-sky-400/20 dark:hover:bg-sky-400/20"
            }
            ChipKind::Tool => {
                "bg-violet-50 text-violet-800 ring-violet-600/15 hover:bg-violet-100 dark:bg-violet-400/10 dark:text-violet-300 dark:ring-violet-400/20 dark:hover:bg-violet-400/20"
            }
        }
    }
}

/// The sessions list filtered to one agent / model / tool.
pub fn chip_href(kind: ChipKind, name: &str) -> String {
    format!(
        "/{}",
        to_query_string(&[(kind.param().to_string(), name.to_string())])
    )
}

/// One line of up to `max` chips, then "+N" (the rest are listed in its tooltip); "—" when there are none.
#[component]
pub fn ChipList(
    names: Vec<String>,
    kind: ChipKind,
    #[prop(default = 3)] max: usize,
) -> impl IntoView {
    if names.is_empty() {
        return view! { <span class="text-zinc-400 dark:text-zinc-600">"—"</span> }.into_any();
    }
    let hidden: Vec<String> = names.iter().skip(max).cloned().collect();
    let more = (!hidden.is_empty()).then(|| {
        let count = hidden.len();
        view! {
            <li>
                <span
                    class="inline-flex items-center rounded px-1 text-xs text-zinc-500 dark:text-zinc-400"
                    title=hidden.join(", ")
                >
                    {format!("+{count}")}
                    <span class="sr-only">{format!(" more: {}", hidden.join(", "))}</span>
                </span>
            </li>
        }
    });
    let chips = names
        .into_iter()
        .take(max)
        .map(|name| {
            let href = chip_href(kind, &name);
            let title = format!("Sessions with {} {}", kind.noun(), name);
            view! {
                <li class="min-w-0">
                    <a
                        href=href
                        title=title
                        class=format!(
                            "inline-block max-w-[9rem] truncate rounded px-1.5 py-0.5 align-middle text-xs font-medium ring-1 ring-inset {}",
                            kind.class(),
                        )
                    >
                        {name}
                    </a>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="flex items-center gap-1 whitespace-nowrap">{chips} {more}</ul> }.into_any()
}
