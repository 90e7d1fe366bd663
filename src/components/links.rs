//! Client-side navigation that keeps a URL exactly as written.
//!
//! The router's own link handling decodes a link's path once (`decodeURI`) before navigating,
//! so a session id containing `%` (`/sessions/100%25` for the id `100%`) arrives as
//! `/sessions/100%` and the route's parameter changes. Links whose path carries an id use
//! [`exact_navigation`] instead: a plain link without JavaScript, and once hydrated a click that
//! navigates to the very same href through the router (which does not decode what it is given).

use leptos::ev::MouseEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

/// True for a plain left click that the page should handle itself; a click with a modifier
/// (new tab, new window, download…) or one already handled is left to the browser.
pub fn is_plain_click(ev: &MouseEvent) -> bool {
    !(ev.default_prevented()
        || ev.button() != 0
        || ev.ctrl_key()
        || ev.meta_key()
        || ev.shift_key()
        || ev.alt_key())
}

/// A click handler maker: `go(ev, href)` navigates to `href` in place. A query-only href
/// (`?span=…`, or `?` for none) stays on the current path as the browser has it, keeps the
/// scroll position and adds a history entry. Modified clicks (new tab, …) are left alone.
pub fn exact_navigation() -> impl Fn(MouseEvent, &str) + Clone + 'static {
    let navigate = use_navigate();
    move |ev: MouseEvent, href: &str| {
        if !is_plain_click(&ev) {
            return;
        }
        ev.prevent_default();
        let same_page = href.starts_with('?');
        let target = if same_page {
            let path = window().location().pathname().unwrap_or_default();
            format!(
                "{path}{}",
                href.strip_prefix('?')
                    .filter(|q| !q.is_empty())
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default()
            )
        } else {
            href.to_string()
        };
        navigate(
            &target,
            NavigateOptions {
                scroll: !same_page,
                ..Default::default()
            },
        );
    }
}
