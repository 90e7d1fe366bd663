//! A point in time for people: the viewer's local time on screen, the exact UTC time on hover.

use leptos::prelude::*;

use crate::model::format::utc_label;

/// `<time>` for an RFC 3339 instant.
///
/// The server cannot know the viewer's time zone, so it renders UTC (labelled as such). The first
/// browser render must produce the very same text or hydration would keep the server's text
/// while believing it shows another, so the switch to local time happens in an effect, which
/// only runs in the browser and only after hydration.
#[component]
pub fn Time(
    /// RFC 3339, e.g. `2026-02-07T10:05:32Z`.
    #[prop(into)]
    at: String,
    /// Show seconds on screen (the tooltip always has them). Lists leave them out.
    #[prop(optional)]
    seconds: bool,
) -> impl IntoView {
    let format = if seconds {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M"
    };
    let exact = utc_label(&at);
    let utc = chrono::DateTime::parse_from_rfc3339(&at)
        .map(|t| format!("{} UTC", t.with_timezone(&chrono::Utc).format(format)))
        .unwrap_or_else(|_| exact.clone());
    let local = RwSignal::new(None::<String>);
    #[cfg(feature = "hydrate")]
    {
        let at = at.clone();
        Effect::new(move |_| local.set(local_label(&at, format)));
    }
    view! {
        <time datetime=at title=exact class="whitespace-nowrap">
            {move || local.get().unwrap_or_else(|| utc.clone())}
        </time>
    }
}

/// The instant in the browser's time zone, e.g. `2026-02-07 11:05`.
#[cfg(feature = "hydrate")]
fn local_label(rfc3339: &str, format: &str) -> Option<String> {
    use leptos::wasm_bindgen::JsValue;

    let instant = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    // The offset in force at that instant (not today's), so daylight saving time is right.
    let date = web_sys::js_sys::Date::new(&JsValue::from_f64(instant.timestamp_millis() as f64));
    let offset_secs = -(date.get_timezone_offset() as i32) * 60;
    let zone = chrono::FixedOffset::east_opt(offset_secs)?;
    Some(instant.with_timezone(&zone).format(format).to_string())
}
