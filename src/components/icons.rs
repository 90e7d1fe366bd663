//! Small inline SVG icons and the product mark. Decorative: hidden from assistive technology,
//! the text next to them carries the meaning.

use leptos::prelude::*;

/// Threadline's mark: a thread running through three turns of a conversation.
#[component]
pub fn Mark(#[prop(into, default = "h-6 w-6".into())] class: String) -> impl IntoView {
    view! {
        <svg class=class viewBox="0 0 32 32" fill="none" aria-hidden="true">
            <rect width="32" height="32" rx="8" class="fill-indigo-600 dark:fill-indigo-500"></rect>
            <path
                d="M5 20c4 0 5-8 9-8s4 8 8 8 4-6 5-6"
                stroke="white"
                stroke-width="2.2"
                stroke-linecap="round"
                stroke-opacity="0.9"
            ></path>
            <circle cx="8.5" cy="17" r="2.6" fill="white"></circle>
            <circle cx="16" cy="14.6" r="2.6" fill="white"></circle>
            <circle cx="23.5" cy="18.4" r="2.6" fill="white"></circle>
        </svg>
    }
}

/// Which way a column is sorted, as shown next to its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortState {
    Ascending,
    Descending,
    /// Sortable, not sorted by this column now.
    Unsorted,
}

#[component]
pub fn SortIcon(state: SortState) -> impl IntoView {
    let (path, class) = match state {
        SortState::Descending => ("M8 3v10M4 9l4 4 4-4", "h-3.5 w-3.5 text-indigo-600 dark:text-indigo-400"),
        SortState::Ascending => ("M8 13V3M4 7l4-4 4 4", "h-3.5 w-3.5 text-indigo-600 dark:text-indigo-400"),
        SortState::Unsorted => (
            "M5 6l3-3 3 3M5 10l3 3 3-3",
            "h-3.5 w-3.5 text-zinc-400 opacity-0 transition-opacity group-hover:opacity-100 group-focus-visible:opacity-100 dark:text-zinc-500",
        ),
    };
    view! {
        <svg
            class=class
            viewBox="0 0 16 16"
            fill="none"
            stroke="currentColor"
            stroke-width="1.6"
            stroke-linecap="round"
            stroke-linejoin="round"
            aria-hidden="true"
        >
            <path d=path></path>
        </svg>
    }
}

/// A chevron for previous / next links.
#[component]
pub fn Chevron(#[prop(default = false)] left: bool) -> impl IntoView {
    let path = if left {
        "M10 4l-4 4 4 4"
    } else {
        "M6 4l4 4-4 4"
    };
    view! {
        <svg
            class="h-4 w-4"
            viewBox="0 0 16 16"
            fill="none"
            stroke="currentColor"
            stroke-width="1.6"
            stroke-linecap="round"
            stroke-linejoin="round"
            aria-hidden="true"
        >
            <path d=path></path>
        </svg>
    }
}
