//! The sessions list parameters (SPEC §5): parsing a URL's query pairs into a validated
//! [`ListQuery`], and building links that change one thing while keeping every other parameter.
//!
//! Pure and shared: the REST endpoint, the page's server function and the page itself (for its
//! controls and links) all read the same parameters the same way. The dashboard adds three
//! parameters of its own on top of §5, which the REST endpoint accepts too:
//!
//! - `range` (`1h`, `24h`, `7d`, `30d`, `all`, or any `N` + `m`/`h`/`d`/`w`): sessions active in
//!   the last N, i.e. `start = now - N`. An explicit `start` wins over `range`, so a custom date
//!   typed into the form is never silently overridden by a preset still in the URL.
//! - `scope` (`any`, `id`, `model`, `tool`) says what the search box's `q` searches. `any` is §5's
//!   `q` (id, model or tool contains it), `id` is §5's `search` (id contains it). `model` and
//!   `tool` are the **exact** `model` / `tool` filters: they are what the model and tool chips link
//!   to, the store answers them from an index, and substring matching over models and tools is
//!   what the `any` scope is for. A scoped `q` replaces an explicit parameter of the same name.
//! - `status=error` is §5's errors-only filter (`status=any` / `all` mean no filter).
//!
//! Empty values count as absent, so a plain GET form that submits every field works.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ListQuery, Sort, SortKey, DEFAULT_PAGE_SIZE, MAX_OFFSET, MAX_PAGE_SIZE};

/// A parameter a client got wrong; the REST API answers it with a 400 naming `param`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamError {
    pub param: String,
    pub error: String,
}

impl ParamError {
    fn new(param: &str, error: impl Into<String>) -> Self {
        ParamError {
            param: param.to_string(),
            error: error.into(),
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.param, self.error)
    }
}

impl std::error::Error for ParamError {}

/// What the search box searches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    #[default]
    Any,
    Id,
    Model,
    Tool,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Any, Scope::Id, Scope::Model, Scope::Tool];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Any => "any",
            Scope::Id => "id",
            Scope::Model => "model",
            Scope::Tool => "tool",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Scope::Any => "Anything",
            Scope::Id => "Session ID",
            Scope::Model => "Model",
            Scope::Tool => "Tool",
        }
    }

    pub fn placeholder(self) -> &'static str {
        match self {
            Scope::Any => "Search IDs, models, tools…",
            Scope::Id => "Part of a session ID…",
            Scope::Model => "Exact model name, e.g. gpt-4o",
            Scope::Tool => "Exact tool name, e.g. web_search",
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The time range presets the dashboard offers: (`range` value, label).
pub const RANGE_PRESETS: [(&str, &str); 5] = [
    ("1h", "1 h"),
    ("24h", "24 h"),
    ("7d", "7 d"),
    ("30d", "30 d"),
    ("all", "All"),
];

/// The last value of `key` that is not empty (after trimming), like a form field read by a server.
pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, v)| k == key && !v.trim().is_empty())
        .map(|(_, v)| v.as_str())
}

/// Parses and validates the list parameters. `now_us` (epoch microseconds) anchors `range`.
/// Unknown parameters are ignored; bad values of known ones are errors naming the parameter.
pub fn parse_list_params(pairs: &[(String, String)], now_us: i64) -> Result<ListQuery, ParamError> {
    let text = |key: &str| param(pairs, key).map(str::to_string);
    let trimmed = |key: &str| param(pairs, key).map(|v| v.trim().to_string());

    let mut query = ListQuery {
        search: trimmed("search"),
        q: None,
        agent: text("agent"),
        model: text("model"),
        tool: text("tool"),
        user: text("user"),
        errors_only: false,
        start: None,
        end: None,
        sort: Sort::default(),
        limit: DEFAULT_PAGE_SIZE,
        offset: 0,
    };

    // No stored text contains NUL (ingestion replaces it) and PostgreSQL refuses it in a query
    // parameter: a filter holding one is a bad parameter, not a database error.
    for key in ["search", "q", "agent", "model", "tool", "user"] {
        if param(pairs, key).is_some_and(|v| v.contains('\0')) {
            return Err(ParamError::new(key, "must not contain NUL characters"));
        }
    }

    let scope = match param(pairs, "scope") {
        None => Scope::Any,
        Some(name) => Scope::from_name(name.trim()).ok_or_else(|| {
            ParamError::new(
                "scope",
                format!("{}; expected any, id, model or tool", quoted(name)),
            )
        })?,
    };
    if let Some(q) = trimmed("q") {
        match scope {
            Scope::Any => query.q = Some(q),
            Scope::Id => query.search = Some(q),
            Scope::Model => query.model = Some(q),
            Scope::Tool => query.tool = Some(q),
        }
    }

    if let Some(status) = param(pairs, "status") {
        query.errors_only = match status.trim() {
            "error" | "errors" => true,
            "any" | "all" => false,
            other => {
                return Err(ParamError::new(
                    "status",
                    format!("{}; expected error", quoted(other)),
                ))
            }
        };
    }

    if let Some(sort) = param(pairs, "sort") {
        query.sort = Sort::parse(sort.trim()).ok_or_else(|| {
            let keys: Vec<&str> = SortKey::ALL.iter().map(|k| k.name()).collect();
            ParamError::new(
                "sort",
                format!(
                    "unknown sort key {}; expected one of {} (prefix - for descending)",
                    quoted(sort),
                    keys.join(", ")
                ),
            )
        })?;
    }

    if let Some(limit) = param(pairs, "limit") {
        let limit = parse_int("limit", limit)?;
        if limit < 1 {
            return Err(ParamError::new("limit", "must be at least 1"));
        }
        query.limit = limit.min(MAX_PAGE_SIZE);
    }
    if let Some(offset) = param(pairs, "offset") {
        let offset = parse_int("offset", offset)?;
        if offset < 0 {
            return Err(ParamError::new("offset", "must not be negative"));
        }
        if offset > MAX_OFFSET {
            return Err(ParamError::new("offset", "must be at most 1000000000000"));
        }
        query.offset = offset;
    }

    if let Some(start) = param(pairs, "start") {
        query.start = Some(parse_time(start, false).ok_or_else(|| time_error("start", start))?);
    } else if let Some(range) = param(pairs, "range") {
        // A range reaching before year 0 means everything there is; kept writable as a link.
        query.start =
            parse_range(range)?.map(|span| now_us.saturating_sub(span).max(*RFC3339_US.start()));
    }
    if let Some(end) = param(pairs, "end") {
        query.end = Some(parse_time(end, true).ok_or_else(|| time_error("end", end))?);
    }

    Ok(query)
}

/// A range preset as a span in microseconds: `24h` → 86,400,000,000; `all` → no bound.
pub fn parse_range(value: &str) -> Result<Option<i64>, ParamError> {
    let value = value.trim();
    if value == "all" {
        return Ok(None);
    }
    let bad = || {
        ParamError::new(
            "range",
            format!(
                "{}; expected 1h, 24h, 7d, 30d, all or a number followed by m, h, d or w",
                quoted(value)
            ),
        )
    };
    let unit_at = value
        .len()
        .checked_sub(1)
        .filter(|&i| value.is_char_boundary(i))
        .ok_or_else(bad)?;
    let (digits, unit) = value.split_at(unit_at);
    let unit_secs: i64 = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let count: i64 = digits.parse().map_err(|_| bad())?;
    count
        .checked_mul(unit_secs)
        .and_then(|secs| secs.checked_mul(1_000_000))
        .filter(|&us| us > 0)
        .map(Some)
        .ok_or_else(bad)
}

/// The times RFC 3339 can write, in epoch microseconds: 0000-01-01T00:00:00Z to
/// 9999-12-31T23:59:59.999999Z.
const RFC3339_US: std::ops::RangeInclusive<i64> = -62_167_219_200_000_000..=253_402_300_799_999_999;

/// ISO 8601 / RFC 3339 to epoch microseconds. Accepts a full RFC 3339 time, a date and time
/// without an offset (read as UTC) and a bare date: as a window's start that is the day's first
/// microsecond, as its end the day's last, so `end=2026-02-07` includes all of that day.
/// Years outside 0000–9999 are refused: RFC 3339 cannot write them, so links built from the
/// query (`next`, [`ListQuery::to_pairs`]) could not carry them.
pub fn parse_time(value: &str, end_of_day: bool) -> Option<i64> {
    parse_any_time(value, end_of_day).filter(|us| RFC3339_US.contains(us))
}

fn parse_any_time(value: &str, end_of_day: bool) -> Option<i64> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.timestamp_micros());
    }
    // `+02:00` sent unencoded in a query string arrives as ` 02:00`: put the plus sign back.
    if let Some(at) = value.rfind(' ') {
        let (head, tail) = value.split_at(at);
        let offset = &tail[1..];
        if offset.len() == 5 && offset.as_bytes()[2] == b':' && head.contains(['T', 't']) {
            if let Ok(t) = DateTime::parse_from_rfc3339(&format!("{head}+{offset}")) {
                return Some(t.timestamp_micros());
            }
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, format) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    let first = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros();
    Some(if end_of_day {
        first + 86_400_000_000 - 1
    } else {
        first
    })
}

fn parse_int(name: &str, value: &str) -> Result<i64, ParamError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| ParamError::new(name, format!("{} is not an integer", quoted(value))))
}

fn time_error(name: &str, value: &str) -> ParamError {
    ParamError::new(
        name,
        format!(
            "{} is not an ISO 8601 time; use e.g. 2026-02-07T10:05:32Z or 2026-02-07",
            quoted(value)
        ),
    )
}

/// Echoes a client's value in an error message, cut so a huge value cannot bloat the answer.
fn quoted(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("`{}…`", &value[..cut]),
        None => format!("`{value}`"),
    }
}

impl ListQuery {
    /// The query as canonical parameters (times as RFC 3339 UTC, defaults left out): parsing
    /// them gives this query back. For links built from a parsed query, such as `next`.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut push = |key: &str, value: String| pairs.push((key.to_string(), value));
        let fields = [
            ("search", &self.search),
            ("q", &self.q),
            ("agent", &self.agent),
            ("model", &self.model),
            ("tool", &self.tool),
            ("user", &self.user),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                push(key, value.clone());
            }
        }
        if self.errors_only {
            push("status", "error".into());
        }
        for (key, value) in [("start", self.start), ("end", self.end)] {
            if let Some(us) = value.and_then(DateTime::<Utc>::from_timestamp_micros) {
                push(key, us.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
            }
        }
        if self.sort != Sort::default() {
            push("sort", self.sort.to_param());
        }
        if self.limit != DEFAULT_PAGE_SIZE {
            push("limit", self.limit.to_string());
        }
        if self.offset != 0 {
            push("offset", self.offset.to_string());
        }
        pairs
    }
}

// ---------------------------------------------------------------------------------------------
// Query strings.
//
// The page reads the raw query string and decodes it here instead of through the router's
// parsed map: that map percent-decodes values a second time (a session id containing `%41`
// would turn into `A`), and the browser and the server would then encode links differently.
// One encoder and one decoder used on both sides keep SSR and hydration byte-identical.

/// Decodes `a=1&b=x+y` (form encoding: `+` is a space) into pairs, in order.
pub fn parse_query_string(query: &str) -> Vec<(String, String)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            (decode_component(key), decode_component(value))
        })
        .collect()
}

fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value survives any
/// position in a URL (query value or path segment).
pub fn encode_component(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 15)] as char);
        }
    }
    out
}

/// `?a=1&b=2`, or `""` when nothing is left. Empty values are dropped.
pub fn to_query_string(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(&encode_component(key));
        out.push('=');
        out.push_str(&encode_component(value));
    }
    out
}

/// The query string of `pairs` with some parameters changed: `Some(v)` sets the parameter
/// (in place if present, else appended), `None` removes it. Everything else is kept in order.
pub fn with_params(pairs: &[(String, String)], changes: &[(&str, Option<&str>)]) -> String {
    to_query_string(&changed(pairs, changes))
}

fn changed(pairs: &[(String, String)], changes: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len() + changes.len());
    for (key, value) in pairs {
        match changes.iter().find(|(k, _)| k == key) {
            None => out.push((key.clone(), value.clone())),
            Some((_, Some(new))) => {
                // Repeated keys collapse into the one new value, placed where the first was.
                if !out.iter().any(|(k, _)| k == key) {
                    out.push((key.clone(), (*new).to_string()));
                }
            }
            Some((_, None)) => {}
        }
    }
    for (key, value) in changes {
        if let Some(value) = value {
            if !out.iter().any(|(k, _)| k == key) {
                out.push(((*key).to_string(), (*value).to_string()));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The dashboard's links.

/// The sort a column header link switches to: the same column flips direction; another column
/// starts with its most useful order (biggest / newest first, ids A→Z).
pub fn next_sort(current: Sort, key: SortKey) -> Sort {
    if current.key == key {
        Sort {
            key,
            descending: !current.descending,
        }
    } else {
        Sort {
            key,
            descending: key != SortKey::SessionId,
        }
    }
}

/// A column header's link: sorted by `key` (see [`next_sort`]), back on the first page.
pub fn sort_href(pairs: &[(String, String)], current: Sort, key: SortKey) -> String {
    let next = next_sort(current, key);
    let param = next.to_param();
    let sort = (next != Sort::default()).then_some(param.as_str());
    format!(
        "/{}",
        with_params(pairs, &[("sort", sort), ("offset", None)])
    )
}

/// A pagination link: the same list at `offset`.
pub fn offset_href(pairs: &[(String, String)], offset: i64) -> String {
    let offset = offset.max(0).to_string();
    let value = (offset != "0").then_some(offset.as_str());
    format!("/{}", with_params(pairs, &[("offset", value)]))
}

/// A time preset's link: the preset replaces any custom dates.
pub fn range_href(pairs: &[(String, String)], range: &str) -> String {
    let value = (range != "all").then_some(range);
    format!(
        "/{}",
        with_params(
            pairs,
            &[
                ("range", value),
                ("start", None),
                ("end", None),
                ("offset", None)
            ]
        )
    )
}

/// A link without one filter parameter (an active-filter chip's ✕).
pub fn without_href(pairs: &[(String, String)], key: &str) -> String {
    format!("/{}", with_params(pairs, &[(key, None), ("offset", None)]))
}

/// "Reset filters": keeps only how the list is shown (sort, page size).
pub fn reset_href(pairs: &[(String, String)]) -> String {
    let kept: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k == "sort" || k == "limit")
        .cloned()
        .collect();
    format!("/{}", to_query_string(&kept))
}

/// Tidies what the filter form submitted before it goes into the URL: drops empty fields,
/// defaults and the old page offset, and a preset range when custom dates were given.
pub fn clean_form_pairs(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let has = |key: &str| param(pairs, key).is_some();
    let custom_dates = has("start") || has("end");
    let searching = has("q");
    let mut out: Vec<(String, String)> = Vec::new();
    for (key, value) in pairs {
        let value = value.trim();
        let drop = value.is_empty()
            || key == "offset"
            || (key == "scope" && (value == "any" || !searching))
            || (key == "range" && (value == "all" || custom_dates))
            || (key == "sort" && Sort::parse(value) == Some(Sort::default()))
            || (key == "limit" && value == DEFAULT_PAGE_SIZE.to_string());
        if !drop {
            out.retain(|(k, _)| k != key);
            out.push((key.clone(), value.to_string()));
        }
    }
    out
}

/// A session's page: `/sessions/{id}` with the id percent-encoded.
pub fn session_href(session_id: &str) -> String {
    format!("/sessions/{}", encode_component(session_id))
}

/// What the list's controls show for the current URL. Lenient where [`parse_list_params`] is
/// strict: a control shows its default for a value it does not know, the list itself reports
/// the error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListForm {
    /// The search box: its scope and text.
    pub scope: Scope,
    pub q: String,
    pub agent: String,
    pub user: String,
    pub errors_only: bool,
    /// The active preset (`"all"` when none), empty when custom dates are set.
    pub range: String,
    /// `YYYY-MM-DD` for the date inputs (empty when absent or not a date).
    pub start: String,
    pub end: String,
    pub sort: Sort,
    pub limit: i64,
    pub offset: i64,
    /// Filters in the URL the search box does not show (e.g. `tool=` from a chip while the box
    /// searches something else): (parameter, value). Kept by the form as hidden fields.
    pub extra: Vec<(String, String)>,
}

impl ListForm {
    pub fn from_pairs(pairs: &[(String, String)]) -> ListForm {
        let get = |key: &str| param(pairs, key).map(|v| v.trim().to_string());
        let mut extra: Vec<(String, String)> = ["search", "model", "tool"]
            .iter()
            .filter_map(|key| get(key).map(|v| (key.to_string(), v)))
            .collect();

        let (scope, q) = match get("q") {
            Some(q) => (
                get("scope")
                    .and_then(|s| Scope::from_name(&s))
                    .unwrap_or_default(),
                q,
            ),
            None => {
                // A bare `search` / `tool` / `model` (e.g. a chip's link) shows in the box.
                let shown = ["search", "tool", "model"]
                    .into_iter()
                    .find_map(|key| extra.iter().position(|(k, _)| k == key));
                match shown {
                    Some(at) => {
                        let (key, value) = extra.remove(at);
                        let scope = match key.as_str() {
                            "search" => Scope::Id,
                            "tool" => Scope::Tool,
                            _ => Scope::Model,
                        };
                        (scope, value)
                    }
                    None => (
                        get("scope")
                            .and_then(|s| Scope::from_name(&s))
                            .unwrap_or_default(),
                        String::new(),
                    ),
                }
            }
        };
        // A scoped search replaces the parameter of the same name (see the module docs).
        let replaced = match scope {
            Scope::Id => "search",
            Scope::Model => "model",
            Scope::Tool => "tool",
            Scope::Any => "",
        };
        if !q.is_empty() {
            extra.retain(|(k, _)| k != replaced);
        }

        let date = |key: &str| {
            get(key)
                .filter(|v| {
                    NaiveDate::parse_from_str(v.get(..10).unwrap_or(""), "%Y-%m-%d").is_ok()
                })
                .map(|v| v[..10].to_string())
                .unwrap_or_default()
        };
        let start = date("start");
        let end = date("end");
        let range = if get("start").is_some() || get("end").is_some() {
            String::new()
        } else {
            get("range")
                .filter(|r| parse_range(r).is_ok())
                .unwrap_or_else(|| "all".into())
        };

        ListForm {
            scope,
            q,
            agent: get("agent").unwrap_or_default(),
            user: get("user").unwrap_or_default(),
            errors_only: matches!(get("status").as_deref(), Some("error" | "errors")),
            range,
            start,
            end,
            sort: get("sort")
                .and_then(|s| Sort::parse(&s))
                .unwrap_or_default(),
            limit: get("limit")
                .and_then(|l| l.parse::<i64>().ok())
                .filter(|&l| l >= 1)
                .map_or(DEFAULT_PAGE_SIZE, |l| l.min(MAX_PAGE_SIZE)),
            offset: get("offset")
                .and_then(|o| o.parse::<i64>().ok())
                .unwrap_or(0)
                .max(0),
            extra,
        }
    }

    /// Whether anything narrows the list (the empty state then says "no match", not "no data").
    pub fn has_filters(&self) -> bool {
        !self.q.is_empty()
            || !self.agent.is_empty()
            || !self.user.is_empty()
            || self.errors_only
            || (!self.range.is_empty() && self.range != "all")
            || !self.start.is_empty()
            || !self.end.is_empty()
            || !self.extra.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_770_458_732_000_000; // 2026-02-07T10:05:32Z

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(list: &[(&str, &str)]) -> Result<ListQuery, ParamError> {
        parse_list_params(&pairs(list), NOW)
    }

    fn error_param(list: &[(&str, &str)]) -> String {
        parse(list).expect_err("should be rejected").param
    }

    #[test]
    fn no_parameters_give_the_defaults() {
        let q = parse(&[]).unwrap();
        assert_eq!(
            q.sort,
            Sort {
                key: SortKey::LastActivity,
                descending: true
            }
        );
        assert_eq!((q.limit, q.offset), (DEFAULT_PAGE_SIZE, 0));
        assert_eq!(
            q,
            ListQuery {
                limit: DEFAULT_PAGE_SIZE,
                ..ListQuery::default()
            }
        );
    }

    #[test]
    fn empty_values_count_as_absent() {
        let list = [
            ("search", ""),
            ("q", "  "),
            ("agent", ""),
            ("sort", ""),
            ("limit", ""),
            ("offset", ""),
            ("start", ""),
            ("end", ""),
            ("status", ""),
            ("scope", ""),
            ("range", ""),
        ];
        assert_eq!(parse(&list).unwrap(), parse(&[]).unwrap());
    }

    #[test]
    fn filters_are_read_verbatim() {
        let q = parse(&[
            ("search", "abc"),
            ("agent", "chat-agent"),
            ("model", "gpt-4o"),
            ("tool", "web_search"),
            ("user", "user 1"),
            ("status", "error"),
        ])
        .unwrap();
        assert_eq!(q.search.as_deref(), Some("abc"));
        assert_eq!(q.agent.as_deref(), Some("chat-agent"));
        assert_eq!(q.model.as_deref(), Some("gpt-4o"));
        assert_eq!(q.tool.as_deref(), Some("web_search"));
        assert_eq!(q.user.as_deref(), Some("user 1"));
        assert!(q.errors_only);
    }

    #[test]
    fn the_last_value_of_a_repeated_parameter_wins() {
        let q = parse(&[("agent", "a"), ("agent", "b"), ("agent", "")]).unwrap();
        assert_eq!(q.agent.as_deref(), Some("b"));
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        assert_eq!(
            parse(&[("page", "2"), ("utm_source", "x")]).unwrap(),
            parse(&[]).unwrap()
        );
    }

    #[test]
    fn sort_accepts_every_key_in_both_directions() {
        for key in SortKey::ALL {
            let asc = parse(&[("sort", key.name())]).unwrap().sort;
            assert_eq!(
                asc,
                Sort {
                    key,
                    descending: false
                }
            );
            let desc = parse(&[("sort", &format!("-{}", key.name()))])
                .unwrap()
                .sort;
            assert_eq!(
                desc,
                Sort {
                    key,
                    descending: true
                }
            );
        }
    }

    #[test]
    fn unknown_sort_key_names_the_parameter() {
        let err = parse(&[("sort", "-cost")]).unwrap_err();
        assert_eq!(err.param, "sort");
        assert!(err.error.contains("`-cost`"), "{}", err.error);
        assert!(err.error.contains("total_cost"), "{}", err.error);
        assert_eq!(error_param(&[("sort", "--run_count")]), "sort");
    }

    #[test]
    fn limit_is_validated_and_capped() {
        assert_eq!(parse(&[("limit", "10")]).unwrap().limit, 10);
        assert_eq!(parse(&[("limit", "100")]).unwrap().limit, 100);
        assert_eq!(parse(&[("limit", "101")]).unwrap().limit, MAX_PAGE_SIZE);
        assert_eq!(
            parse(&[("limit", "999999999999")]).unwrap().limit,
            MAX_PAGE_SIZE
        );
        assert_eq!(error_param(&[("limit", "-1")]), "limit");
        assert_eq!(error_param(&[("limit", "0")]), "limit");
        assert_eq!(error_param(&[("limit", "ten")]), "limit");
        assert_eq!(error_param(&[("limit", "2.5")]), "limit");
        assert_eq!(
            error_param(&[("limit", "99999999999999999999999")]),
            "limit"
        );
    }

    #[test]
    fn offset_must_be_a_non_negative_integer() {
        assert_eq!(parse(&[("offset", "50")]).unwrap().offset, 50);
        assert_eq!(parse(&[("offset", " 5 ")]).unwrap().offset, 5);
        assert_eq!(error_param(&[("offset", "1.5")]), "offset");
        assert_eq!(error_param(&[("offset", "abc")]), "offset");
        assert_eq!(error_param(&[("offset", "-25")]), "offset");
        assert_eq!(
            parse(&[("offset", "1000000000000")]).unwrap().offset,
            MAX_OFFSET
        );
        assert_eq!(error_param(&[("offset", "1000000000001")]), "offset");
        assert_eq!(error_param(&[("offset", "9223372036854775807")]), "offset");
    }

    #[test]
    fn times_accept_rfc3339_and_plain_dates() {
        let at = |v: &str| parse(&[("start", v)]).unwrap().start.unwrap();
        assert_eq!(at("2026-02-07T10:05:32Z"), NOW);
        assert_eq!(at("2026-02-07T11:05:32+01:00"), NOW);
        assert_eq!(at("2026-02-07T10:05:32.250Z"), NOW + 250_000);
        assert_eq!(at("2026-02-07T10:05:32.000001Z"), NOW + 1);
        assert_eq!(at("2026-02-07T10:05:32"), NOW);
        assert_eq!(at("2026-02-07 10:05:32"), NOW);
        assert_eq!(at("2026-02-07T10:05"), NOW - 32_000_000);
        // An unencoded `+` in a query string arrives as a space.
        assert_eq!(at("2026-02-07T11:05:32 01:00"), NOW);
        let day = 1_770_422_400_000_000; // 2026-02-07T00:00:00Z
        assert_eq!(at("2026-02-07"), day);
        let end = parse(&[("end", "2026-02-07")]).unwrap().end.unwrap();
        assert_eq!(end, day + 86_400_000_000 - 1);
        let end = parse(&[("end", "2026-02-07T10:05:32Z")])
            .unwrap()
            .end
            .unwrap();
        assert_eq!(end, NOW);
    }

    #[test]
    fn unparseable_times_name_the_parameter() {
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "07/02/2026",
            "1770458732",
            "2026-02-07T25:00:00Z",
            "-026-01-01",
            "+10000-01-01",
        ] {
            assert_eq!(error_param(&[("start", bad)]), "start", "{bad}");
            assert_eq!(error_param(&[("end", bad)]), "end", "{bad}");
        }
    }

    #[test]
    fn ranges_resolve_against_now() {
        let start = |r: &str| parse(&[("range", r)]).unwrap().start;
        assert_eq!(start("1h"), Some(NOW - 3_600_000_000));
        assert_eq!(start("24h"), Some(NOW - 86_400_000_000));
        assert_eq!(start("7d"), Some(NOW - 7 * 86_400_000_000));
        assert_eq!(start("30d"), Some(NOW - 30 * 86_400_000_000));
        assert_eq!(start("15m"), Some(NOW - 15 * 60_000_000));
        assert_eq!(start("2w"), Some(NOW - 14 * 86_400_000_000));
        assert_eq!(start("all"), None);
        // Before year 0 is everything, and stays a start a link can carry.
        let q = parse(&[("range", "999999w")]).unwrap();
        assert_eq!(q.start, Some(*RFC3339_US.start()));
        let again = parse_query_string(to_query_string(&q.to_pairs()).trim_start_matches('?'));
        assert_eq!(parse_list_params(&again, NOW), Ok(q));
        for (preset, _) in RANGE_PRESETS {
            assert!(parse(&[("range", preset)]).is_ok(), "{preset}");
        }
    }

    #[test]
    fn bad_ranges_name_the_parameter() {
        for bad in [
            "1y",
            "h",
            "0h",
            "-1h",
            "24",
            "1.5h",
            "é",
            "99999999999999999999w",
            "9999999999999w",
        ] {
            assert_eq!(error_param(&[("range", bad)]), "range", "{bad}");
        }
    }

    #[test]
    fn an_explicit_start_wins_over_the_range() {
        let q = parse(&[("range", "1h"), ("start", "2026-02-01")]).unwrap();
        assert_eq!(q.start, Some(1_769_904_000_000_000));
        // Even a bad range is not looked at then.
        assert!(parse(&[("range", "nope"), ("start", "2026-02-01")]).is_ok());
        let q = parse(&[("range", "24h"), ("end", "2026-02-07")]).unwrap();
        assert_eq!(q.start, Some(NOW - 86_400_000_000));
        assert!(q.end.is_some());
    }

    #[test]
    fn scope_routes_the_search_box() {
        let q = parse(&[("q", " gpt ")]).unwrap();
        assert_eq!(q.q.as_deref(), Some("gpt"));
        let q = parse(&[("scope", "any"), ("q", "gpt")]).unwrap();
        assert_eq!(q.q.as_deref(), Some("gpt"));
        let q = parse(&[("scope", "id"), ("q", "sess_")]).unwrap();
        assert_eq!((q.q, q.search.as_deref()), (None, Some("sess_")));
        let q = parse(&[("scope", "model"), ("q", "gpt-4o")]).unwrap();
        assert_eq!((q.q, q.model.as_deref()), (None, Some("gpt-4o")));
        let q = parse(&[("scope", "tool"), ("q", "web_search")]).unwrap();
        assert_eq!((q.q, q.tool.as_deref()), (None, Some("web_search")));
        // The scoped box replaces an explicit parameter of the same name.
        let q = parse(&[("tool", "a"), ("scope", "tool"), ("q", "b")]).unwrap();
        assert_eq!(q.tool.as_deref(), Some("b"));
        // A scope without text changes nothing.
        assert_eq!(parse(&[("scope", "tool")]).unwrap(), parse(&[]).unwrap());
        assert_eq!(error_param(&[("scope", "everything"), ("q", "x")]), "scope");
    }

    #[test]
    fn status_selects_errors_only() {
        assert!(parse(&[("status", "error")]).unwrap().errors_only);
        assert!(!parse(&[("status", "any")]).unwrap().errors_only);
        assert_eq!(error_param(&[("status", "failed")]), "status");
    }

    #[test]
    fn error_messages_cut_huge_values() {
        let huge = "x".repeat(10_000);
        let err = parse(&[("sort", &huge)]).unwrap_err();
        assert!(err.error.len() < 400, "{}", err.error.len());
        assert_eq!(err.to_string().split(':').next(), Some("invalid `sort`"));
    }

    #[test]
    fn a_query_round_trips_through_its_pairs() {
        let q = parse(&[
            ("q", "gpt"),
            ("search", "sess"),
            ("agent", "a&b=c"),
            ("model", "m"),
            ("tool", "t"),
            ("user", "ü"),
            ("status", "error"),
            ("start", "2026-02-07T10:05:32.123456Z"),
            ("end", "2026-02-08"),
            ("sort", "session_id"),
            ("limit", "50"),
            ("offset", "100"),
        ])
        .unwrap();
        assert_eq!(parse_list_params(&q.to_pairs(), 0).unwrap(), q);
        let default = parse(&[]).unwrap();
        assert!(default.to_pairs().is_empty());
        let encoded = to_query_string(&q.to_pairs());
        assert_eq!(
            parse_list_params(&parse_query_string(&encoded), 0).unwrap(),
            q
        );
    }

    #[test]
    fn query_strings_decode_form_encoding() {
        assert_eq!(
            parse_query_string("?q=a+b&agent=chat%2Dagent&x&empty=&u=%C3%BC"),
            pairs(&[
                ("q", "a b"),
                ("agent", "chat-agent"),
                ("x", ""),
                ("empty", ""),
                ("u", "ü")
            ])
        );
        // Decoded once only, and broken escapes are kept as they are.
        assert_eq!(
            parse_query_string("id=%2541&b=%4"),
            pairs(&[("id", "%41"), ("b", "%4")])
        );
        assert_eq!(parse_query_string("a=%zz%"), pairs(&[("a", "%zz%")]));
        assert_eq!(parse_query_string(""), pairs(&[]));
        assert_eq!(parse_query_string("&&a=1&"), pairs(&[("a", "1")]));
    }

    #[test]
    fn encoding_round_trips_any_text() {
        for text in [
            "plain",
            "a b+c",
            "100%",
            "<script>&\"'",
            "ü/é?#=&",
            "tab\there",
            "%41",
        ] {
            let encoded = encode_component(text);
            assert!(encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            assert_eq!(
                parse_query_string(&format!("k={encoded}")),
                pairs(&[("k", text)])
            );
        }
        assert_eq!(encode_component("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn query_strings_drop_empty_values() {
        assert_eq!(to_query_string(&pairs(&[])), "");
        assert_eq!(to_query_string(&pairs(&[("a", "")])), "");
        assert_eq!(
            to_query_string(&pairs(&[("a", "1"), ("b", ""), ("c", "x y")])),
            "?a=1&c=x%20y"
        );
    }

    #[test]
    fn with_params_keeps_the_others_in_order() {
        let p = pairs(&[
            ("agent", "a"),
            ("sort", "run_count"),
            ("offset", "25"),
            ("q", "x"),
        ]);
        assert_eq!(
            with_params(&p, &[("sort", Some("-total_cost"))]),
            "?agent=a&sort=-total_cost&offset=25&q=x"
        );
        assert_eq!(
            with_params(&p, &[("offset", None)]),
            "?agent=a&sort=run_count&q=x"
        );
        assert_eq!(
            with_params(&p, &[("limit", Some("50"))]),
            "?agent=a&sort=run_count&offset=25&q=x&limit=50"
        );
        let repeated = pairs(&[("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(with_params(&repeated, &[("a", Some("9"))]), "?a=9&b=2");
        assert_eq!(with_params(&repeated, &[("a", None), ("b", None)]), "");
    }

    #[test]
    fn sort_links_toggle_and_reset_the_page() {
        let desc_runs = Sort {
            key: SortKey::RunCount,
            descending: true,
        };
        let asc_runs = Sort {
            key: SortKey::RunCount,
            descending: false,
        };
        assert_eq!(next_sort(desc_runs, SortKey::RunCount), asc_runs);
        assert_eq!(next_sort(asc_runs, SortKey::RunCount), desc_runs);
        assert_eq!(next_sort(Sort::default(), SortKey::RunCount), desc_runs);
        assert_eq!(
            next_sort(Sort::default(), SortKey::SessionId),
            Sort {
                key: SortKey::SessionId,
                descending: false
            }
        );
        let p = pairs(&[("agent", "a"), ("offset", "50")]);
        assert_eq!(
            sort_href(&p, Sort::default(), SortKey::RunCount),
            "/?agent=a&sort=-run_count"
        );
        // Back to the default order leaves no `sort` at all.
        let p = pairs(&[("sort", "last_activity")]);
        assert_eq!(
            sort_href(
                &p,
                Sort::parse("last_activity").unwrap(),
                SortKey::LastActivity
            ),
            "/"
        );
        assert_eq!(
            sort_href(&[], Sort::default(), SortKey::LastActivity),
            "/?sort=last_activity"
        );
    }

    #[test]
    fn page_range_and_reset_links() {
        let p = pairs(&[
            ("q", "x"),
            ("offset", "25"),
            ("start", "2026-02-01"),
            ("sort", "run_count"),
            ("limit", "50"),
        ]);
        assert_eq!(
            offset_href(&p, 50),
            "/?q=x&offset=50&start=2026-02-01&sort=run_count&limit=50"
        );
        assert_eq!(
            offset_href(&p, 0),
            "/?q=x&start=2026-02-01&sort=run_count&limit=50"
        );
        assert_eq!(
            offset_href(&p, -10),
            "/?q=x&start=2026-02-01&sort=run_count&limit=50"
        );
        assert_eq!(
            range_href(&p, "24h"),
            "/?q=x&sort=run_count&limit=50&range=24h"
        );
        assert_eq!(range_href(&p, "all"), "/?q=x&sort=run_count&limit=50");
        assert_eq!(
            without_href(&p, "q"),
            "/?start=2026-02-01&sort=run_count&limit=50"
        );
        assert_eq!(reset_href(&p), "/?sort=run_count&limit=50");
        assert_eq!(reset_href(&[]), "/");
    }

    #[test]
    fn session_links_encode_the_id() {
        assert_eq!(session_href("sess_0123abcd"), "/sessions/sess_0123abcd");
        assert_eq!(session_href("a/b c?<x>"), "/sessions/a%2Fb%20c%3F%3Cx%3E");
    }

    #[test]
    fn submitted_forms_are_tidied() {
        let submitted = pairs(&[
            ("scope", "any"),
            ("q", "gpt"),
            ("agent", ""),
            ("user", " u1 "),
            ("range", "24h"),
            ("start", ""),
            ("end", ""),
            ("sort", "-last_activity"),
            ("limit", "25"),
            ("offset", "75"),
        ]);
        assert_eq!(
            clean_form_pairs(&submitted),
            pairs(&[("q", "gpt"), ("user", "u1"), ("range", "24h")])
        );
        let custom = pairs(&[
            ("scope", "tool"),
            ("q", ""),
            ("range", "24h"),
            ("start", "2026-02-01"),
            ("sort", "run_count"),
        ]);
        assert_eq!(
            clean_form_pairs(&custom),
            pairs(&[("start", "2026-02-01"), ("sort", "run_count")])
        );
        let scoped = pairs(&[("scope", "tool"), ("q", "web_search"), ("status", "error")]);
        assert_eq!(clean_form_pairs(&scoped), scoped);
    }

    #[test]
    fn the_form_shows_the_url_state() {
        let f = ListForm::from_pairs(&pairs(&[
            ("scope", "model"),
            ("q", "gpt-4o"),
            ("agent", "a"),
            ("status", "error"),
        ]));
        assert_eq!(
            (f.scope, f.q.as_str(), f.agent.as_str(), f.errors_only),
            (Scope::Model, "gpt-4o", "a", true)
        );
        assert_eq!(f.range, "all");
        assert!(f.has_filters());
        assert!(!ListForm::from_pairs(&[]).has_filters());
        assert_eq!(ListForm::from_pairs(&[]).sort, Sort::default());
    }

    #[test]
    fn chip_links_show_in_the_search_box() {
        let f = ListForm::from_pairs(&pairs(&[("tool", "web_search")]));
        assert_eq!((f.scope, f.q.as_str()), (Scope::Tool, "web_search"));
        assert!(f.extra.is_empty());
        let f = ListForm::from_pairs(&pairs(&[("model", "gpt-4o")]));
        assert_eq!((f.scope, f.q.as_str()), (Scope::Model, "gpt-4o"));
        let f = ListForm::from_pairs(&pairs(&[("search", "abc")]));
        assert_eq!((f.scope, f.q.as_str()), (Scope::Id, "abc"));
        // With the box busy, the chip's filter stays visible as an extra filter.
        let f = ListForm::from_pairs(&pairs(&[("tool", "web_search"), ("q", "gpt")]));
        assert_eq!((f.scope, f.q.as_str()), (Scope::Any, "gpt"));
        assert_eq!(f.extra, pairs(&[("tool", "web_search")]));
        // Two chips: one goes in the box, the other stays an extra filter.
        let f = ListForm::from_pairs(&pairs(&[("model", "m"), ("tool", "t")]));
        assert_eq!((f.scope, f.q.as_str()), (Scope::Tool, "t"));
        assert_eq!(f.extra, pairs(&[("model", "m")]));
        // A scoped box replaces the same parameter, as the parser does.
        let f = ListForm::from_pairs(&pairs(&[("tool", "a"), ("scope", "tool"), ("q", "b")]));
        assert_eq!((f.scope, f.q.as_str()), (Scope::Tool, "b"));
        assert!(f.extra.is_empty());
    }

    #[test]
    fn the_form_is_lenient_with_bad_values() {
        let f = ListForm::from_pairs(&pairs(&[
            ("scope", "nope"),
            ("q", "x"),
            ("sort", "bogus"),
            ("limit", "-1"),
            ("offset", "abc"),
            ("range", "1y"),
            ("start", "garbage"),
        ]));
        assert_eq!(f.scope, Scope::Any);
        assert_eq!(f.sort, Sort::default());
        assert_eq!((f.limit, f.offset), (DEFAULT_PAGE_SIZE, 0));
        assert_eq!(f.start, "");
        assert_eq!(
            f.range, "",
            "custom dates are in the URL, even if unreadable"
        );
        let f = ListForm::from_pairs(&pairs(&[("range", "1y"), ("limit", "500")]));
        assert_eq!((f.range.as_str(), f.limit), ("all", MAX_PAGE_SIZE));
        let f = ListForm::from_pairs(&pairs(&[
            ("start", "2026-02-01T10:00:00Z"),
            ("end", "2026-02-07"),
        ]));
        assert_eq!(
            (f.start.as_str(), f.end.as_str(), f.range.as_str()),
            ("2026-02-01", "2026-02-07", "")
        );
    }
}
