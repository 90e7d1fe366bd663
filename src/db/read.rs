//! The read side: the sessions list, the project's agents, a session's detail and a trace. None
//! of them scans runs.
//!
//! The sessions list (SPEC §5) answers every filter and sort with an exact count in a few
//! milliseconds at 100,000 sessions. Its query is made in two steps:
//!
//! 1. Small lookups resolve the parameters against the database ([`Lookups`]): the bits of the
//!    exact agent / model / tool values and of the models and tools whose names contain `q`
//!    (`facet_values`, see migrations/*/0002_search.sql), and how many sessions the trigram
//!    index offers for an id substring.
//! 2. Pure functions ([`ListPlan`]) turn the parameters and those answers into SQL: conditions on
//!    the session row, how to count, and how to fetch the page — by walking the sort key's index,
//!    whose entries carry every row filter (errors, time window, facet bits), or by starting from
//!    a small candidate set (one user's sessions, a rare id substring) and sorting it, whichever
//!    [`drive_is_cheaper`] says. When other filters make the count no measure of the candidate
//!    set, its size is counted first, stopping where walking is cheaper anyway
//!    ([`ListPlan::driver_rows_sql`]).

use std::collections::HashMap;

use sqlx::any::AnyArguments;
use sqlx::{Arguments, Row};

use super::write::{FACET_AGENT, FACET_MODEL, FACET_SHARED_BIT, FACET_TOOL, FACET_USER, MAX_BINDS};
use super::{rfc3339, Backend, Result, Store};
use crate::model::{ListQuery, SessionPage, SessionSummary, Sort, SortKey};

const SESSION_COLUMNS: &str = "s.id, s.public_id, s.run_count, s.first_run, s.last_activity, \
    s.total_duration, s.total_cost, s.total_tokens, s.tokens_saved, s.error_count, s.kind";

/// Above this many trigram candidates an id substring is tested on every session instead
/// (`LIKE` inside the sort index, ~0.1 µs a session): confirming a candidate costs a row lookup
/// (~1 µs), so past a few thousand the plain test is as cheap and needs no candidate list.
pub(crate) const ID_CANDIDATES_MAX: i64 = 5_000;

/// Trigrams of one substring given to the index: more only narrow an already small candidate
/// set, which `LIKE` confirms anyway.
const TRIGRAMS_MAX: usize = 16;

/// Per-session costs of the two ways to fetch a page, in µs, measured on SQLite at 100,000
/// sessions (release build). Walking the sort index costs `WALK_ROW` per entry passed, plus
/// `WALK_PROBE` per condition that must look outside the index (a facet row); starting from
/// candidates costs `DRIVE_ROW` each (a row lookup and its share of the sort).
const WALK_ROW: f64 = 0.05;
const WALK_PROBE: f64 = 0.6;
const DRIVE_ROW: f64 = 1.0;

/// Escapes `%`, `_` and `\` so user text matches literally inside `LIKE '%…%' ESCAPE '\'`.
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The trigram-index query for ids containing `text`: each of its trigrams (of Unicode
/// characters, as the `trigram` tokenizer counts them), ANDed. The index keeps no positions, so
/// this finds a superset that `LIKE` then confirms. `None` when no trigram can help: fewer than
/// three characters, or control characters the index query cannot carry.
pub(crate) fn trigram_query(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < 3 || chars.iter().any(|c| c.is_control()) {
        return None;
    }
    let mut terms: Vec<String> = Vec::new();
    for w in chars.windows(3) {
        // A phrase in double quotes is taken literally; a quote inside is doubled.
        let term = format!("\"{}\"", w.iter().collect::<String>().replace('"', "\"\""));
        if !terms.contains(&term) {
            terms.push(term);
        }
        if terms.len() == TRIGRAMS_MAX {
            break;
        }
    }
    Some(terms.join(" AND "))
}

/// How sessions whose id contains some text are found.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum IdLookup {
    /// Test every id with `LIKE`: every session of the project, ~10 ms at 100,000 on SQLite
    /// (~40 ms on PostgreSQL). The only way for text under three characters, which has no
    /// trigram; also when the trigram index offers more than [`ID_CANDIDATES_MAX`] candidates.
    Like,
    /// Only the trigram index's candidates (`size` of them), confirmed by `LIKE`. On SQLite
    /// they come from the FTS5 query `fts`; on PostgreSQL (`fts` is `None`) from `ILIKE`
    /// itself, which its planner answers from the `pg_trgm` index.
    Candidates { fts: Option<String>, size: i64 },
    /// The trigram index has no candidate: no id contains the text.
    Nothing,
}

impl IdLookup {
    /// Decides from the number of candidates the index offered (counted up to one past
    /// [`ID_CANDIDATES_MAX`]).
    pub(crate) fn from_candidates(fts: Option<String>, found: i64) -> IdLookup {
        match found {
            0 => IdLookup::Nothing,
            n if n > ID_CANDIDATES_MAX => IdLookup::Like,
            size => IdLookup::Candidates { fts, size },
        }
    }
}

/// A model or tool value from the project's dictionary, with its bit.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Term {
    pub(crate) kind: i64,
    pub(crate) value: String,
    pub(crate) bit: i64,
}

/// What the database said about the parameters before the list query is written.
#[derive(Clone, Debug, Default)]
pub(crate) struct Lookups {
    /// Bits of the exact agent / model / tool filter values, by (kind, value). A value missing
    /// here is in no session of the project.
    pub(crate) exact_bits: HashMap<(i64, String), i64>,
    /// `q`: the project's models and tools whose names contain the text.
    pub(crate) q_terms: Vec<Term>,
    /// How ids containing `search` / the `q` text are found (present when that parameter is).
    pub(crate) search_ids: Option<IdLookup>,
    pub(crate) q_ids: Option<IdLookup>,
}

/// The session-row column holding a facet kind's bits; users have none (there are usually too
/// many for 62 bits, and each has few sessions, which are cheaper to start from).
fn bits_column(kind: i64) -> Option<&'static str> {
    match kind {
        FACET_AGENT => Some("agent_bits"),
        FACET_MODEL => Some("model_bits"),
        FACET_TOOL => Some("tool_bits"),
        _ => None,
    }
}

/// A value bound to a placeholder.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

/// One statement: SQL with `$1…$n` placeholders, each used, and their values in order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) args: Vec<Arg>,
}

impl Sql {
    fn arguments(&self) -> AnyArguments<'static> {
        let mut out = AnyArguments::default();
        for arg in &self.args {
            let _ = match arg {
                Arg::Int(v) => out.add(*v),
                Arg::Text(v) => out.add(v.clone()),
            };
        }
        out
    }
}

/// Numbers placeholders as values are bound, so text and arguments always line up. Every
/// statement binds the project first, as `$1`.
struct Binder {
    args: Vec<Arg>,
}

impl Binder {
    fn new(project_id: i64) -> Binder {
        Binder {
            args: vec![Arg::Int(project_id)],
        }
    }

    fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    fn int(&mut self, v: i64) -> String {
        self.bind(Arg::Int(v))
    }

    fn text(&mut self, v: &str) -> String {
        self.bind(Arg::Text(v.to_string()))
    }

    fn finish(self, text: String) -> Sql {
        Sql {
            text,
            args: self.args,
        }
    }
}

/// One filter of the list, as data: each statement renders it with its own placeholders.
#[derive(Clone, Debug, PartialEq)]
enum Cond {
    /// The session id contains `text` (`search`).
    IdContains {
        text: String,
        lookup: IdLookup,
    },
    /// The session has this exact facet value; `bit` is its dictionary bit (kinds with bits).
    Facet {
        kind: i64,
        value: String,
        bit: Option<i64>,
    },
    /// `q`: the id contains the text (when `id` is set), or the session used one of `terms`.
    Text {
        text: String,
        id: Option<IdLookup>,
        terms: Vec<Term>,
    },
    Errors,
    ActiveSince(i64),
    StartedBy(i64),
}

/// `EXISTS` a facet row of the session with this kind and one of these values.
fn facet_exists(b: &mut Binder, kind: i64, values: &[&str]) -> String {
    let list: Vec<String> = values.iter().map(|v| b.text(v)).collect();
    format!(
        "EXISTS (SELECT 1 FROM session_facets f WHERE f.session_id = s.id AND f.kind = {kind} \
         AND f.value IN ({}))",
        list.join(", ")
    )
}

/// The `session_facets` entries of one kind and any of `values`, selecting `select`.
fn facet_entries(b: &mut Binder, select: &str, kind: i64, values: &[&str]) -> String {
    let list: Vec<String> = values.iter().map(|v| b.text(v)).collect();
    let test = match list.as_slice() {
        [one] => format!("= {one}"),
        _ => format!("IN ({})", list.join(", ")),
    };
    format!(
        "SELECT {select} FROM session_facets WHERE project_id = $1 AND kind = {kind} \
         AND value {test}"
    )
}

/// The values of `terms`, by kind (models, then tools), kinds with none left out.
fn values_by_kind(terms: &[Term]) -> Vec<(i64, Vec<&str>)> {
    [FACET_MODEL, FACET_TOOL]
        .into_iter()
        .map(|kind| {
            let values = terms
                .iter()
                .filter(|t| t.kind == kind)
                .map(|t| t.value.as_str())
                .collect();
            (kind, values)
        })
        .filter(|(_, values): &(i64, Vec<&str>)| !values.is_empty())
        .collect()
}

impl Cond {
    /// The test on the session row `s`.
    fn sql(&self, b: &mut Binder, backend: Backend) -> String {
        match self {
            Cond::IdContains { text, lookup } => id_sql(b, backend, text, lookup),
            Cond::Facet { kind, value, bit } => match (bits_column(*kind), bit) {
                (Some(col), Some(bit)) if *bit < FACET_SHARED_BIT => {
                    format!("(s.{col} & {}) <> 0", b.int(1 << bit))
                }
                // The shared bit only narrows the sessions to confirm.
                (Some(col), Some(bit)) => {
                    let mask = b.int(1 << bit);
                    let exists = facet_exists(b, *kind, &[value]);
                    format!("((s.{col} & {mask}) <> 0 AND {exists})")
                }
                _ => facet_exists(b, *kind, &[value]),
            },
            Cond::Text { text, id, terms } => {
                let mut parts = Vec::new();
                if let Some(lookup) = id {
                    parts.push(id_sql(b, backend, text, lookup));
                }
                for kind in [FACET_MODEL, FACET_TOOL] {
                    let col = bits_column(kind).expect("models and tools have bits");
                    let of_kind = terms.iter().filter(|t| t.kind == kind);
                    let own: i64 = of_kind
                        .clone()
                        .filter(|t| t.bit < FACET_SHARED_BIT)
                        .fold(0, |m, t| m | 1 << t.bit);
                    if own != 0 {
                        parts.push(format!("(s.{col} & {}) <> 0", b.int(own)));
                    }
                    let shared: Vec<&str> = of_kind
                        .filter(|t| t.bit >= FACET_SHARED_BIT)
                        .map(|t| t.value.as_str())
                        .collect();
                    if !shared.is_empty() {
                        let mask = b.int(1 << FACET_SHARED_BIT);
                        let exists = if shared.len() <= MAX_BINDS {
                            facet_exists(b, kind, &shared)
                        } else {
                            // As many values as that are tested by their name, not listed.
                            format!(
                                "EXISTS (SELECT 1 FROM session_facets f WHERE \
                                 f.session_id = s.id AND f.kind = {kind} AND f.value {} {} \
                                 ESCAPE '\\')",
                                backend.ilike(),
                                b.text(&like_pattern(text))
                            )
                        };
                        parts.push(format!("((s.{col} & {mask}) <> 0 AND {exists})"));
                    }
                }
                format!("({})", parts.join(" OR "))
            }
            Cond::Errors => "s.error_count > 0".into(),
            Cond::ActiveSince(t) => format!("s.last_activity >= {}", b.int(*t)),
            Cond::StartedBy(t) => format!("s.first_run <= {}", b.int(*t)),
        }
    }

    /// True when testing a session looks outside the sort index (a facet row).
    fn probes(&self) -> bool {
        match self {
            Cond::Facet { kind, bit, .. } => {
                bits_column(*kind).is_none() || bit.is_none_or(|b| b >= FACET_SHARED_BIT)
            }
            Cond::Text { terms, .. } => terms.iter().any(|t| t.bit >= FACET_SHARED_BIT),
            _ => false,
        }
    }

    /// True when [`Self::driver`] has a set to offer.
    fn has_driver(&self) -> bool {
        match self {
            Cond::IdContains { lookup, .. } => matches!(lookup, IdLookup::Candidates { .. }),
            Cond::Facet { .. } => true,
            // Past `MAX_BINDS` values their sessions are rarely few: walk.
            Cond::Text { id, terms, .. } => {
                !matches!(id, Some(IdLookup::Like)) && terms.len() <= MAX_BINDS
            }
            _ => false,
        }
    }

    /// SQL listing (as `id`) a superset of the sessions that pass, to start a query from.
    fn driver(&self, b: &mut Binder, backend: Backend) -> Option<String> {
        match self {
            Cond::IdContains {
                text,
                lookup: IdLookup::Candidates { fts, .. },
            } => Some(candidates_sql(b, backend, text, fts.as_deref())),
            Cond::Facet { kind, value, .. } => {
                Some(facet_entries(b, "session_id AS id", *kind, &[value]))
            }
            Cond::Text { text, id, terms } => {
                if !self.has_driver() {
                    return None;
                }
                let mut arms = Vec::new();
                if let Some(IdLookup::Candidates { fts, .. }) = id {
                    arms.push(candidates_sql(b, backend, text, fts.as_deref()));
                }
                let lists = values_by_kind(terms);
                // A session with two matching values is listed once: `UNION` removes
                // duplicates, `DISTINCT` those of a single list.
                let select = if arms.is_empty() && lists.len() == 1 && terms.len() > 1 {
                    "DISTINCT session_id AS id"
                } else {
                    "session_id AS id"
                };
                // One arm per kind, not per value: SQLite allows 500 arms.
                for (kind, values) in lists {
                    arms.push(facet_entries(b, select, kind, &values));
                }
                Some(arms.join(" UNION "))
            }
            _ => None,
        }
    }

    /// What is left to test on the sessions the driver lists: nothing for an exact value, nor
    /// for PostgreSQL's id candidates (the `ILIKE` matches); for SQLite's, the `LIKE` that
    /// confirms them.
    fn confirm_sql(&self, b: &mut Binder, backend: Backend) -> Option<String> {
        match self {
            Cond::Facet { .. } => None,
            Cond::IdContains {
                lookup: IdLookup::Candidates { fts: None, .. },
                ..
            } => None,
            Cond::IdContains { text, .. } => Some(id_sql(b, backend, text, &IdLookup::Like)),
            _ => Some(self.sql(b, backend)),
        }
    }

    /// For a driver of unknown size: the `session_facets` entries it reads (one per session
    /// and value, so for `q` an upper bound of its rows; `q`'s id candidates are known),
    /// `None` when it reads none.
    fn driver_entries(&self, b: &mut Binder) -> Option<String> {
        match self {
            Cond::Facet { kind, value, .. } => Some(facet_entries(b, "1", *kind, &[value])),
            Cond::Text { terms, .. } => {
                let lists: Vec<String> = values_by_kind(terms)
                    .into_iter()
                    .map(|(kind, values)| facet_entries(b, "1", kind, &values))
                    .collect();
                (!lists.is_empty()).then(|| lists.join(" UNION ALL "))
            }
            _ => None,
        }
    }

    /// How many id candidates the driver lists (`q`'s are part of it).
    fn id_candidates(&self) -> i64 {
        match self {
            Cond::IdContains { lookup, .. }
            | Cond::Text {
                id: Some(lookup), ..
            } => match lookup {
                IdLookup::Candidates { size, .. } => *size,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// How many rows the driver lists, when known without running it.
    fn driver_size(&self) -> Option<i64> {
        match self {
            Cond::IdContains {
                lookup: IdLookup::Candidates { size, .. },
                ..
            } => Some(*size),
            _ => None,
        }
    }

    /// The exact count of matching sessions when this is the only filter, from an index alone
    /// (a scan of the sort index tests a column of every session: ~5 ms at 100,000).
    fn count_alone(&self, b: &mut Binder, backend: Backend) -> Option<String> {
        // The facet index holds each (session, value) once, so counting its entries counts
        // sessions.
        let posting = |b: &mut Binder, kind: i64, value: &str| {
            format!(
                "SELECT COUNT(*) FROM session_facets WHERE project_id = $1 AND kind = {kind} \
                 AND value = {}",
                b.text(value)
            )
        };
        match self {
            Cond::Facet { kind, value, .. } => Some(posting(b, *kind, value)),
            Cond::Text {
                id: None, terms, ..
            } if terms.len() == 1 => Some(posting(b, terms[0].kind, &terms[0].value)),
            Cond::Errors => Some(format!(
                "SELECT COUNT(*) FROM sessions s{} WHERE s.project_id = $1 AND s.error_count > 0",
                indexed_by(backend, "sessions_with_errors")
            )),
            _ => None,
        }
    }
}

/// `INDEXED BY` on SQLite, whose planner has no statistics here and could otherwise pick a
/// range index and sort; PostgreSQL keeps statistics and has no such clause.
fn indexed_by(backend: Backend, index: &str) -> String {
    match backend {
        Backend::Sqlite => format!(" INDEXED BY {index}"),
        Backend::Postgres => String::new(),
    }
}

/// `s.public_id` contains the text, tested with the backend's case-insensitive `LIKE`, among
/// the trigram candidates when there are few.
fn id_sql(b: &mut Binder, backend: Backend, text: &str, lookup: &IdLookup) -> String {
    let like = format!(
        "s.public_id {} {} ESCAPE '\\'",
        backend.ilike(),
        b.text(&like_pattern(text))
    );
    match lookup {
        IdLookup::Candidates { fts: Some(fts), .. } => format!(
            "(s.id IN ({}) AND {like})",
            candidates_sql(b, backend, text, Some(fts))
        ),
        IdLookup::Nothing => "0 = 1".into(),
        // On PostgreSQL the candidates are the `ILIKE` matches themselves, which its planner
        // finds through `pg_trgm`: listing them first would run the same test twice.
        IdLookup::Candidates { fts: None, .. } | IdLookup::Like => like,
    }
}

/// The trigram index's candidates (as `id`) for ids containing `text`: from SQLite's FTS5
/// table, or on PostgreSQL the matching ids themselves (`ILIKE` through `pg_trgm`).
fn candidates_sql(b: &mut Binder, backend: Backend, text: &str, fts: Option<&str>) -> String {
    match fts {
        Some(fts) => format!(
            "SELECT rowid AS id FROM session_ids WHERE session_ids MATCH {}",
            b.text(fts)
        ),
        None => format!(
            "SELECT id FROM sessions WHERE project_id = $1 AND public_id {} {} ESCAPE '\\'",
            backend.ilike(),
            b.text(&like_pattern(text))
        ),
    }
}

fn sort_column(key: SortKey) -> &'static str {
    match key {
        SortKey::LastActivity => "s.last_activity",
        SortKey::FirstRun => "s.first_run",
        SortKey::RunCount => "s.run_count",
        SortKey::TotalDuration => "s.total_duration",
        SortKey::TotalCost => "s.total_cost",
        SortKey::TotalTokens => "s.total_tokens",
        SortKey::SessionId => "s.public_id",
    }
}

/// The index that returns sessions in this order with no sorting (migrations/*/0002_search.sql):
/// one per key and direction, as ties go by session id ascending either way.
pub(crate) fn sort_index(sort: Sort) -> &'static str {
    match (sort.key, sort.descending) {
        (SortKey::LastActivity, false) => "sessions_by_last_activity",
        (SortKey::LastActivity, true) => "sessions_by_last_activity_desc",
        (SortKey::FirstRun, false) => "sessions_by_first_run",
        (SortKey::FirstRun, true) => "sessions_by_first_run_desc",
        (SortKey::RunCount, false) => "sessions_by_run_count",
        (SortKey::RunCount, true) => "sessions_by_run_count_desc",
        (SortKey::TotalDuration, false) => "sessions_by_duration",
        (SortKey::TotalDuration, true) => "sessions_by_duration_desc",
        (SortKey::TotalCost, false) => "sessions_by_cost",
        (SortKey::TotalCost, true) => "sessions_by_cost_desc",
        (SortKey::TotalTokens, false) => "sessions_by_tokens",
        (SortKey::TotalTokens, true) => "sessions_by_tokens_desc",
        (SortKey::SessionId, _) => "sessions_by_public_id",
    }
}

fn order_by(sort: Sort) -> String {
    let dir = if sort.descending { "DESC" } else { "ASC" };
    match sort.key {
        SortKey::SessionId => format!("s.public_id {dir}"),
        key => format!("{} {dir}, s.public_id ASC", sort_column(key)),
    }
}

/// Whether starting from `driver_rows` candidates (looking each up and sorting them) is cheaper
/// than walking the sort index until the page is full, given `matches` sessions in all out of
/// about `total`, and `probes` conditions that look outside the index for each entry passed.
pub(crate) fn drive_is_cheaper(
    matches: i64,
    driver_rows: i64,
    total: i64,
    offset: i64,
    limit: i64,
    probes: usize,
) -> bool {
    let total = total.max(matches).max(1) as f64;
    // Matches are spread through the index: the page ends about (offset + limit) / density
    // entries in; with no more matches than that, the walk reads the whole index.
    let wanted = offset.saturating_add(limit).max(1) as f64;
    let steps = if (matches as f64) > wanted {
        (wanted * total / matches as f64).min(total)
    } else {
        total
    };
    let walk = steps * walk_cost(probes);
    let drive = driver_rows.max(0) as f64 * DRIVE_ROW;
    drive < walk
}

/// What walking passes for each index entry, in µs.
fn walk_cost(probes: usize) -> f64 {
    WALK_ROW + WALK_PROBE * probes as f64
}

/// From this many candidates on, starting from them is never cheaper than walking all of
/// about `total` sessions: counting them can stop there.
fn drive_rows_max(total: i64, probes: usize) -> i64 {
    (total.max(1) as f64 * walk_cost(probes) / DRIVE_ROW).ceil() as i64 + 1
}

/// The sessions-list query for one request, from its parameters and [`Lookups`].
#[derive(Clone, Debug)]
pub(crate) struct ListPlan {
    backend: Backend,
    project_id: i64,
    conds: Vec<Cond>,
    sort: Sort,
    limit: i64,
    offset: i64,
}

impl ListPlan {
    /// `None` when no session can match (an exact value the project never had, an id
    /// substring with no trigram candidate, a `q` that matches no id, model or tool).
    pub(crate) fn new(
        backend: Backend,
        project_id: i64,
        q: &ListQuery,
        lookups: &Lookups,
    ) -> Option<ListPlan> {
        let mut conds = Vec::new();
        if let Some(text) = &q.search {
            let lookup = lookups.search_ids.clone().unwrap_or(IdLookup::Like);
            if lookup == IdLookup::Nothing {
                return None;
            }
            conds.push(Cond::IdContains {
                text: text.clone(),
                lookup,
            });
        }
        if let Some(text) = &q.q {
            let id = match lookups.q_ids.clone().unwrap_or(IdLookup::Like) {
                IdLookup::Nothing => None,
                lookup => Some(lookup),
            };
            if id.is_none() && lookups.q_terms.is_empty() {
                return None;
            }
            conds.push(Cond::Text {
                text: text.clone(),
                id,
                terms: lookups.q_terms.clone(),
            });
        }
        for (kind, value) in [
            (FACET_AGENT, &q.agent),
            (FACET_MODEL, &q.model),
            (FACET_TOOL, &q.tool),
            (FACET_USER, &q.user),
        ] {
            let Some(value) = value else { continue };
            let bit = lookups.exact_bits.get(&(kind, value.clone())).copied();
            if bits_column(kind).is_some() && bit.is_none() {
                return None;
            }
            conds.push(Cond::Facet {
                kind,
                value: value.clone(),
                bit,
            });
        }
        if q.errors_only {
            conds.push(Cond::Errors);
        }
        if let Some(start) = q.start {
            conds.push(Cond::ActiveSince(start));
        }
        if let Some(end) = q.end {
            conds.push(Cond::StartedBy(end));
        }
        // Tests within the index first, then those that look elsewhere.
        conds.sort_by_key(Cond::probes);
        Some(ListPlan {
            backend,
            project_id,
            conds,
            sort: q.sort,
            limit: q.limit,
            offset: q.offset,
        })
    }

    /// `s.project_id = $1 AND` every condition, the one at `driver` only as far as its
    /// driver leaves it unconfirmed.
    fn where_sql(&self, b: &mut Binder, driver: Option<usize>) -> String {
        let mut parts = vec!["s.project_id = $1".to_string()];
        for (i, c) in self.conds.iter().enumerate() {
            let part = if Some(i) == driver {
                c.confirm_sql(b, self.backend)
            } else {
                Some(c.sql(b, self.backend))
            };
            parts.extend(part);
        }
        parts.join(" AND ")
    }

    /// The condition to start from when counting: one with a known small candidate set, else
    /// an exact value that would otherwise be looked up in `session_facets` for every session
    /// (a user, or a value sharing the last bit). Not `q`: its candidates (every session of
    /// each matching model and tool) are rarely few, and its bit tests stay in the index.
    fn count_driver(&self) -> Option<usize> {
        let known = self
            .conds
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.driver_size().map(|n| (n, i)))
            .min()
            .map(|(_, i)| i);
        known.or_else(|| {
            self.conds
                .iter()
                .position(|c| matches!(c, Cond::Facet { .. }) && c.probes())
        })
    }

    /// `FROM (driver) m CROSS JOIN sessions s WHERE s.id = m.id AND …`: SQLite keeps the
    /// written join order, so the candidates are the outer loop; PostgreSQL plans it itself.
    fn driven_from(&self, b: &mut Binder, i: usize) -> String {
        let driver = self.conds[i].driver(b, self.backend).expect("a driver");
        format!(
            "FROM ({driver}) m CROSS JOIN sessions s WHERE s.id = m.id AND {}",
            self.where_sql(b, Some(i))
        )
    }

    /// The exact number of matching sessions.
    pub(crate) fn count_sql(&self) -> Sql {
        let mut b = Binder::new(self.project_id);
        if let [only] = self.conds.as_slice() {
            if let Some(text) = only.count_alone(&mut b, self.backend) {
                return b.finish(text);
            }
        }
        if let Some(i) = self.count_driver() {
            let from = self.driven_from(&mut b, i);
            return b.finish(format!("SELECT COUNT(*) {from}"));
        }
        // Every index holds every row filter; a time window also narrows its own index.
        let index = if self.conds.iter().any(|c| matches!(c, Cond::ActiveSince(_))) {
            "sessions_by_last_activity"
        } else if self.conds.iter().any(|c| matches!(c, Cond::StartedBy(_))) {
            "sessions_by_first_run"
        } else {
            "sessions_by_public_id"
        };
        let where_sql = self.where_sql(&mut b, None);
        b.finish(format!(
            "SELECT COUNT(*) FROM sessions s{} WHERE {where_sql}",
            indexed_by(self.backend, index)
        ))
    }

    /// The condition a page could start from.
    fn driver_candidate(&self) -> Option<usize> {
        self.count_driver()
            .or_else(|| self.conds.iter().position(Cond::has_driver))
    }

    fn probes(&self) -> usize {
        self.conds.iter().filter(|c| c.probes()).count()
    }

    /// How many rows the driver at `i` lists, when known without a query: its candidates, or
    /// the count when it is the only condition (after all filters the count says nothing of
    /// one filter's own size).
    fn known_driver_rows(&self, i: usize, count: i64) -> Option<i64> {
        let c = &self.conds[i];
        match c.driver_size() {
            Some(n) => Some(n),
            None if self.conds.len() == 1 => Some(count),
            None if matches!(c, Cond::Text { terms, .. } if terms.is_empty()) => {
                Some(c.id_candidates())
            }
            None => None,
        }
    }

    /// When the page's driver has no known size ([`Self::known_driver_rows`]): a statement
    /// counting the entries it reads, up to where starting from it could no longer be cheaper
    /// than walking. Its answer goes to [`Self::page_sql`].
    pub(crate) fn driver_rows_sql(&self, count: i64, total: i64) -> Option<Sql> {
        if self.offset >= count || self.limit <= 0 {
            return None;
        }
        let i = self.driver_candidate()?;
        if self.known_driver_rows(i, count).is_some() {
            return None;
        }
        let mut b = Binder::new(self.project_id);
        let entries = self.conds[i].driver_entries(&mut b)?;
        let most = b.int(drive_rows_max(total.max(count), self.probes()));
        Some(b.finish(format!("SELECT COUNT(*) FROM ({entries} LIMIT {most}) c")))
    }

    /// The condition to start the page from, or `None` to walk the sort index. `counted` is
    /// the answer to [`Self::driver_rows_sql`]; without it, a driver of unknown size is not
    /// used.
    fn page_driver(&self, count: i64, total: i64, counted: Option<i64>) -> Option<usize> {
        let i = self.driver_candidate()?;
        let rows = match self.known_driver_rows(i, count) {
            Some(n) => n,
            None => counted?.saturating_add(self.conds[i].id_candidates()),
        };
        drive_is_cheaper(count, rows, total, self.offset, self.limit, self.probes()).then_some(i)
    }

    /// True when choosing how to fetch the page needs the project's size ([`Self::page_sql`]).
    pub(crate) fn needs_total(&self) -> bool {
        self.conds.iter().any(Cond::has_driver)
    }

    /// The page's rows in order, given the count, about how many sessions the project has and
    /// the answer to [`Self::driver_rows_sql`]; `None` when the page is past the last match.
    pub(crate) fn page_sql(&self, count: i64, total: i64, counted: Option<i64>) -> Option<Sql> {
        if self.offset >= count || self.limit <= 0 {
            return None;
        }
        self.page_sql_from(count, self.page_driver(count, total, counted))
    }

    /// [`Self::page_sql`] starting from the condition at `driver`, or walking the sort index.
    fn page_sql_from(&self, count: i64, driver: Option<usize>) -> Option<Sql> {
        if self.offset >= count || self.limit <= 0 {
            return None;
        }
        let mut b = Binder::new(self.project_id);
        let from = match driver {
            Some(i) => self.driven_from(&mut b, i),
            None => format!(
                "FROM sessions s{} WHERE {}",
                indexed_by(self.backend, sort_index(self.sort)),
                self.where_sql(&mut b, None)
            ),
        };
        let order = order_by(self.sort);
        let limit = b.int(self.limit);
        let offset = b.int(self.offset);
        // The page is chosen on index entries alone; only its own rows are read.
        Some(b.finish(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id IN \
             (SELECT s.id {from} ORDER BY {order} LIMIT {limit} OFFSET {offset}) \
             ORDER BY {order}"
        )))
    }
}

/// Adds to `bits` the bits of those `values` (kind, value) the project's dictionary
/// (`facet_values`) holds; the others are in none of its sessions.
pub(crate) async fn facet_bits(
    conn: &mut sqlx::AnyConnection,
    project_id: i64,
    values: &[(i64, &str)],
    bits: &mut HashMap<(i64, String), i64>,
) -> Result<()> {
    let mut values = values.to_vec();
    values.sort_unstable();
    for chunk in values.chunks(MAX_BINDS) {
        let mut b = Binder::new(project_id);
        // One list per kind: a test per value would nest past SQLite's expression depth.
        let lists: Vec<String> = chunk
            .chunk_by(|x, y| x.0 == y.0)
            .map(|of_kind| {
                let list: Vec<String> = of_kind.iter().map(|(_, v)| b.text(v)).collect();
                format!(
                    "(kind = {} AND value IN ({}))",
                    of_kind[0].0,
                    list.join(", ")
                )
            })
            .collect();
        let sql = b.finish(format!(
            "SELECT kind, value, bit FROM facet_values WHERE project_id = $1 AND ({})",
            lists.join(" OR ")
        ));
        for r in sqlx::query_with(&sql.text, sql.arguments())
            .fetch_all(&mut *conn)
            .await?
        {
            bits.insert((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?);
        }
    }
    Ok(())
}

impl Store {
    /// How ids containing `text` are best found (see [`IdLookup`]): counts the trigram index's
    /// candidates, stopping one past [`ID_CANDIDATES_MAX`].
    async fn id_lookup(&self, project_id: i64, text: &str) -> Result<IdLookup> {
        let (fts, sql) = match self.backend {
            Backend::Sqlite => {
                let Some(fts) = trigram_query(text) else {
                    return Ok(IdLookup::Like);
                };
                let sql = Sql {
                    text: "SELECT COUNT(*) FROM (SELECT 1 FROM session_ids \
                           WHERE session_ids MATCH $1 LIMIT $2) c"
                        .into(),
                    args: vec![Arg::Text(fts.clone()), Arg::Int(ID_CANDIDATES_MAX + 1)],
                };
                (Some(fts), sql)
            }
            // pg_trgm answers `ILIKE` from its index from three characters on.
            Backend::Postgres if text.chars().count() < 3 => return Ok(IdLookup::Like),
            Backend::Postgres => {
                let mut b = Binder::new(project_id);
                let candidates = candidates_sql(&mut b, self.backend, text, None);
                let limit = b.int(ID_CANDIDATES_MAX + 1);
                (
                    None,
                    b.finish(format!(
                        "SELECT COUNT(*) FROM ({candidates} LIMIT {limit}) c"
                    )),
                )
            }
        };
        let found: i64 = sqlx::query_with(&sql.text, sql.arguments())
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(IdLookup::from_candidates(fts, found))
    }

    /// Resolves the list parameters against the database (see [`Lookups`]).
    async fn list_lookups(&self, project_id: i64, q: &ListQuery) -> Result<Lookups> {
        let mut out = Lookups::default();
        let exact: Vec<(i64, &str)> = [
            (FACET_AGENT, &q.agent),
            (FACET_MODEL, &q.model),
            (FACET_TOOL, &q.tool),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect();
        if !exact.is_empty() {
            let mut conn = self.pool.acquire().await?;
            facet_bits(&mut conn, project_id, &exact, &mut out.exact_bits).await?;
        }
        if let Some(text) = &q.q {
            // The dictionary holds each distinct model and tool once: a few hundred values to
            // test, against a row per session and value in `session_facets`.
            let sql = format!(
                "SELECT kind, value, bit FROM facet_values WHERE project_id = $1 \
                 AND kind IN ({FACET_MODEL}, {FACET_TOOL}) AND value {} $2 ESCAPE '\\' \
                 ORDER BY kind, value",
                self.backend.ilike()
            );
            let rows = sqlx::query(&sql)
                .bind(project_id)
                .bind(like_pattern(text))
                .fetch_all(&self.pool)
                .await?;
            for r in rows {
                out.q_terms.push(Term {
                    kind: r.try_get(0)?,
                    value: r.try_get(1)?,
                    bit: r.try_get(2)?,
                });
            }
            out.q_ids = Some(self.id_lookup(project_id, text).await?);
        }
        if let Some(text) = &q.search {
            out.search_ids = Some(match (&q.q, &out.q_ids) {
                (Some(same), Some(lookup)) if same == text => lookup.clone(),
                _ => self.id_lookup(project_id, text).await?,
            });
        }
        Ok(out)
    }

    /// One page of sessions and the exact number matching. `next`/`previous` are left to the
    /// caller, which knows the URL.
    pub async fn list_sessions(&self, project_id: i64, q: &ListQuery) -> Result<SessionPage> {
        let lookups = self.list_lookups(project_id, q).await?;
        let mut page = SessionPage {
            results: Vec::new(),
            count: 0,
            next: None,
            previous: None,
        };
        let Some(plan) = ListPlan::new(self.backend, project_id, q, &lookups) else {
            return Ok(page);
        };
        let count = plan.count_sql();
        let started = std::time::Instant::now();
        page.count = sqlx::query_with(&count.text, count.arguments())
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let counted = started.elapsed();
        let total = if plan.needs_total() && page.count > q.offset {
            // The largest row id stands in for the project's size: it costs one index step,
            // and an overestimate only favours starting from candidates, which are few.
            sqlx::query("SELECT COALESCE(MAX(id), 0) FROM sessions")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?
        } else {
            0
        };
        let driver_rows = match plan.driver_rows_sql(page.count, total) {
            Some(sql) => Some(
                sqlx::query_with(&sql.text, sql.arguments())
                    .fetch_one(&self.pool)
                    .await?
                    .try_get::<i64, _>(0)?,
            ),
            None => None,
        };
        let Some(sql) = plan.page_sql(page.count, total, driver_rows) else {
            return Ok(page);
        };
        let paged = std::time::Instant::now();
        let rows = sqlx::query_with(&sql.text, sql.arguments())
            .fetch_all(&self.pool)
            .await?;
        // What a list request ran and how long each part took: the first thing to look at
        // when a filter is slow on someone's data (`THREADLINE_LOG=threadline::db::read=debug`).
        tracing::debug!(
            count_ms = counted.as_secs_f64() * 1e3,
            page_ms = paged.elapsed().as_secs_f64() * 1e3,
            count_sql = %count.text,
            page_sql = %sql.text,
            "sessions list"
        );
        let mut ids = Vec::with_capacity(rows.len());
        for r in &rows {
            ids.push(r.try_get::<i64, _>(0)?);
            page.results.push(SessionSummary {
                session_id: r.try_get(1)?,
                run_count: r.try_get(2)?,
                first_run: rfc3339(r.try_get(3)?),
                last_activity: rfc3339(r.try_get(4)?),
                total_duration: r.try_get::<i64, _>(5)? as f64 / 1e6,
                total_cost: r.try_get::<i64, _>(6)? as f64 / 1e9,
                total_tokens: r.try_get(7)?,
                tokens_saved: r.try_get(8)?,
                error_count: r.try_get(9)?,
                agents: Vec::new(),
                models: Vec::new(),
                tools: Vec::new(),
                users: Vec::new(),
                grouping: r.try_get(10)?,
            });
        }
        let facets = self.facets_of(&ids).await?;
        for (summary, id) in page.results.iter_mut().zip(&ids) {
            if let Some(mut by_kind) = facets.get(id).cloned() {
                summary.agents = std::mem::take(&mut by_kind[FACET_AGENT as usize]);
                summary.models = std::mem::take(&mut by_kind[FACET_MODEL as usize]);
                summary.tools = std::mem::take(&mut by_kind[FACET_TOOL as usize]);
                summary.users = std::mem::take(&mut by_kind[FACET_USER as usize]);
            }
        }
        Ok(page)
    }

    /// Facet values of the given sessions, by kind, most used first.
    pub(crate) async fn facets_of(&self, ids: &[i64]) -> Result<HashMap<i64, [Vec<String>; 4]>> {
        let mut out: HashMap<i64, [Vec<String>; 4]> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let list: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT session_id, kind, value FROM session_facets WHERE session_id IN ({}) \
             ORDER BY session_id, kind, runs DESC, value",
            list.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&self.pool).await? {
            let kind: i64 = r.try_get(1)?;
            if (0..4).contains(&kind) {
                out.entry(r.try_get(0)?).or_default()[kind as usize].push(r.try_get(2)?);
            }
        }
        Ok(out)
    }

    /// The project's agent names, for the list's agent filter: the dictionary's, each still
    /// used by a session (one index probe per name, where a DISTINCT over `session_facets`
    /// reads an entry per session: ~10 ms at 100,000).
    pub async fn list_agents(&self, project_id: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT v.value FROM facet_values v WHERE v.project_id = $1 AND v.kind = $2 \
             AND EXISTS (SELECT 1 FROM session_facets f WHERE f.project_id = v.project_id \
             AND f.kind = v.kind AND f.value = v.value) ORDER BY v.value",
        )
        .bind(project_id)
        .bind(FACET_AGENT)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}

impl Store {
    /// How many sessions exist in all projects.
    pub async fn session_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM sessions")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }
}

const RUN_VIEW_COLUMNS: &str = "run_key, agent_name, workflow_name, started_at, completed_at, \
    duration_us, failed, error, cost_nanos, input_tokens, output_tokens, trace_id, model, models, \
    routed, tokens_saved, tools_sent, tools_forwarded, tools_called, lat_dedup, lat_compression, \
    lat_tool_routing, lat_upstream, overhead_us, request_us, user_id, input, output, attributes";

fn run_view(r: &sqlx::any::AnyRow) -> Result<crate::model::RunView> {
    let us = |v: Option<i64>| v.map(|x| x as f64 / 1000.0);
    let list = |v: Option<String>| -> Vec<String> {
        v.and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    };
    let input_tokens: i64 = r.try_get(9)?;
    let output_tokens: i64 = r.try_get(10)?;
    let overhead: Option<i64> = r.try_get(23)?;
    let request: Option<i64> = r.try_get(24)?;
    let forwarded: Option<String> = r.try_get(17)?;
    let attributes: String = r.try_get(28)?;
    Ok(crate::model::RunView {
        id: r.try_get(0)?,
        agent_name: r.try_get(1)?,
        workflow_name: r.try_get(2)?,
        started_at: rfc3339(r.try_get(3)?),
        completed_at: r.try_get::<Option<i64>, _>(4)?.map(rfc3339),
        duration: r.try_get::<Option<i64>, _>(5)?.map(|d| d as f64 / 1e6),
        status: if r.try_get::<i64, _>(6)? != 0 {
            "error"
        } else {
            "success"
        }
        .to_string(),
        error: r.try_get(7)?,
        cost: r.try_get::<i64, _>(8)? as f64 / 1e9,
        tokens: input_tokens.saturating_add(output_tokens),
        input_tokens,
        output_tokens,
        trace_id: r.try_get(11)?,
        model: r.try_get(12)?,
        models: list(r.try_get(13)?),
        routed: r.try_get::<Option<i64>, _>(14)?.map(|v| v != 0),
        tokens_saved: r.try_get(15)?,
        tools_sent: r.try_get(16)?,
        tools_forwarded: forwarded.map(|f| list(Some(f))),
        tools_called: list(r.try_get(18)?),
        latency_ms: crate::model::LatencyMs {
            dedup: us(r.try_get(19)?),
            compression: us(r.try_get(20)?),
            tool_routing: us(r.try_get(21)?),
            upstream: us(r.try_get(22)?),
        },
        overhead_pct: match (overhead, request) {
            (Some(o), Some(t)) => crate::sessionize::overhead_ratio(o, t).map(|x| x * 100.0),
            _ => None,
        },
        user_id: r.try_get(25)?,
        input: r.try_get(26)?,
        output: r.try_get(27)?,
        attributes: serde_json::from_str(&attributes).unwrap_or(serde_json::Value::Null),
    })
}

impl Store {
    /// Resolves a public session id (or an absorbed one) to the session's row id.
    pub async fn resolve_session(&self, project_id: i64, public_id: &str) -> Result<Option<i64>> {
        // Stored text never holds NUL (ingestion replaces it), and PostgreSQL rejects a NUL in a
        // bound parameter: such an id from a URL simply names no session.
        if public_id.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id FROM sessions WHERE project_id = $1 AND public_id = $2 \
             UNION ALL SELECT session_id FROM session_aliases WHERE project_id = $1 AND alias = $2",
        )
        .bind(project_id)
        .bind(public_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// A session's aggregates and one page of its runs in time order; `None` when unknown.
    pub async fn session_detail(
        &self,
        project_id: i64,
        public_id: &str,
        runs_limit: i64,
        runs_offset: i64,
    ) -> Result<Option<crate::model::SessionDetail>> {
        let Some(id) = self.resolve_session(project_id, public_id).await? else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT s.public_id, s.kind, s.grouped_by, k.name, s.run_count, s.first_run, \
               s.last_activity, s.total_duration, s.total_cost, s.total_tokens, s.input_tokens, \
               s.output_tokens, s.tokens_saved, s.error_count, s.gateway_runs, s.overhead_us, \
               s.request_us \
             FROM sessions s LEFT JOIN api_keys k ON k.id = s.api_key_id WHERE s.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut facets = self.facets_of(&[id]).await?.remove(&id).unwrap_or_default();
        let overhead: i64 = row.try_get(15)?;
        let request: i64 = row.try_get(16)?;
        let aggregates = crate::model::SessionAggregates {
            run_count: row.try_get(4)?,
            first_run: rfc3339(row.try_get(5)?),
            last_activity: rfc3339(row.try_get(6)?),
            total_duration: row.try_get::<i64, _>(7)? as f64 / 1e6,
            total_cost: row.try_get::<i64, _>(8)? as f64 / 1e9,
            total_tokens: row.try_get(9)?,
            input_tokens: row.try_get(10)?,
            output_tokens: row.try_get(11)?,
            tokens_saved: row.try_get(12)?,
            error_count: row.try_get(13)?,
            agents: std::mem::take(&mut facets[FACET_AGENT as usize]),
            models: std::mem::take(&mut facets[FACET_MODEL as usize]),
            tools: std::mem::take(&mut facets[FACET_TOOL as usize]),
            users: std::mem::take(&mut facets[FACET_USER as usize]),
            gateway_runs: row.try_get(14)?,
            avg_overhead_pct: crate::sessionize::overhead_ratio(overhead, request)
                .map(|x| x * 100.0),
        };
        let sql = format!(
            "SELECT {RUN_VIEW_COLUMNS} FROM runs WHERE session_id = $1 \
             ORDER BY started_at, run_key LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql)
            .bind(id)
            .bind(runs_limit)
            .bind(runs_offset)
            .fetch_all(&self.pool)
            .await?;
        let runs = rows.iter().map(run_view).collect::<Result<Vec<_>>>()?;
        Ok(Some(crate::model::SessionDetail {
            session_id: row.try_get(0)?,
            grouping: row.try_get(1)?,
            grouped_by: row.try_get(2)?,
            api_key: row.try_get(3)?,
            aggregates,
            runs,
            runs_offset,
            runs_limit,
        }))
    }
}

impl Store {
    /// A trace's run and spans; `None` when neither is stored.
    pub async fn trace_detail(
        &self,
        project_id: i64,
        trace_id: &str,
    ) -> Result<Option<crate::model::TraceDetail>> {
        // As for session ids: no stored trace id holds NUL, and PostgreSQL refuses it as a value.
        if trace_id.contains('\0') {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {RUN_VIEW_COLUMNS}, (SELECT public_id FROM sessions s WHERE s.id = runs.session_id) \
             FROM runs WHERE project_id = $1 AND trace_id = $2 ORDER BY id LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(project_id)
            .bind(trace_id)
            .fetch_optional(&self.pool)
            .await?;
        let (run, session_id) = match &row {
            Some(r) => (Some(run_view(r)?), r.try_get::<Option<String>, _>(29)?),
            None => (None, None),
        };
        let rows = sqlx::query(
            "SELECT span_id, parent_span_id, name, kind, category, start_ns, end_ns, status_code, \
               status_message, attributes, resource, events \
             FROM spans WHERE project_id = $1 AND trace_id = $2 ORDER BY start_ns, span_id",
        )
        .bind(project_id)
        .bind(trace_id)
        .fetch_all(&self.pool)
        .await?;
        if run.is_none() && rows.is_empty() {
            return Ok(None);
        }
        let json = |text: String| serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        let ns_time = |ns: i64| rfc3339(ns.div_euclid(1000));
        let spans = rows
            .iter()
            .map(|r| {
                let start_ns: i64 = r.try_get(5)?;
                let end_ns: i64 = r.try_get(6)?;
                Ok(crate::model::SpanView {
                    span_id: r.try_get(0)?,
                    parent_span_id: r.try_get(1)?,
                    name: r.try_get(2)?,
                    kind: r.try_get(3)?,
                    category: r.try_get(4)?,
                    start_ns,
                    end_ns,
                    start: ns_time(start_ns),
                    end: ns_time(end_ns),
                    status: r.try_get(7)?,
                    status_message: r.try_get(8)?,
                    attributes: json(r.try_get(9)?),
                    resource: json(r.try_get(10)?),
                    events: json(r.try_get(11)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(crate::model::TraceDetail {
            trace_id: trace_id.to_string(),
            session_id,
            run,
            spans,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::query::parse_list_params;

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_list_params(&pairs, 1_700_000_000_000_000).expect("valid parameters")
    }

    fn lookups(bits: &[(i64, &str, i64)]) -> Lookups {
        Lookups {
            exact_bits: bits
                .iter()
                .map(|(k, v, b)| ((*k, v.to_string()), *b))
                .collect(),
            ..Lookups::default()
        }
    }

    /// Every placeholder `$1…$n` appears and exactly `n` values are bound: PostgreSQL rejects
    /// both unused values and unnumbered gaps.
    fn assert_bound(sql: &Sql) {
        for n in 1..=sql.args.len() {
            let p = format!("${n}");
            let used = sql
                .text
                .match_indices(&p)
                .any(|(at, _)| !sql.text[at + p.len()..].starts_with(|c: char| c.is_ascii_digit()));
            assert!(used, "{p} unused in {}", sql.text);
        }
        let next = format!("${}", sql.args.len() + 1);
        assert!(!sql.text.contains(&next), "{next} unbound in {}", sql.text);
    }

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }

    #[test]
    fn trigram_queries_need_three_characters_and_take_the_text_literally() {
        assert_eq!(trigram_query(""), None);
        assert_eq!(trigram_query("ab"), None);
        assert_eq!(trigram_query("abc").as_deref(), Some("\"abc\""));
        assert_eq!(
            trigram_query("Ab%_").as_deref(),
            Some("\"Ab%\" AND \"b%_\"")
        );
        // A quote is doubled inside the quoted phrase; characters are Unicode scalar values.
        assert_eq!(
            trigram_query("a\"bé").as_deref(),
            Some("\"a\"\"b\" AND \"\"\"bé\"")
        );
        assert_eq!(trigram_query("aaaaa").as_deref(), Some("\"aaa\""));
        assert_eq!(trigram_query("ab\u{1}cd"), None);
        let long: String = ('a'..='z').collect();
        let terms = trigram_query(&long).unwrap();
        assert_eq!(terms.split(" AND ").count(), TRIGRAMS_MAX);
    }

    #[test]
    fn the_candidate_count_decides_how_ids_are_searched() {
        let fts = || Some("\"abc\"".to_string());
        assert_eq!(IdLookup::from_candidates(fts(), 0), IdLookup::Nothing);
        assert_eq!(
            IdLookup::from_candidates(fts(), ID_CANDIDATES_MAX),
            IdLookup::Candidates {
                fts: fts(),
                size: ID_CANDIDATES_MAX
            }
        );
        assert_eq!(
            IdLookup::from_candidates(fts(), ID_CANDIDATES_MAX + 1),
            IdLookup::Like
        );
    }

    #[test]
    fn candidates_are_the_start_only_when_cheaper_than_walking() {
        // One user's 500 sessions of 100,000 (a facet row looked up per session walked).
        assert!(drive_is_cheaper(500, 500, 100_000, 0, 25, 1));
        assert!(drive_is_cheaper(500, 500, 100_000, 250, 25, 1));
        // … of which 20 had errors: few matches, but still only 500 candidates to read.
        assert!(drive_is_cheaper(20, 500, 100_000, 0, 25, 1));
        // A rare id substring, even on the first page: the walk would pass most sessions.
        assert!(drive_is_cheaper(20, 20, 100_000, 0, 25, 0));
        // An agent in 90,000 sessions, 20 of them with errors: the matches are rare, but
        // starting from the agent reads 90,000 rows where the walk passes 100,000 entries.
        assert!(!drive_is_cheaper(20, 90_000, 100_000, 0, 25, 0));
        assert!(!drive_is_cheaper(20, 90_000, 100_000, 0, 25, 1));
        // A model in a third of the sessions (a bit test in the index), middle page: walk.
        assert!(!drive_is_cheaper(33_000, 33_000, 100_000, 16_500, 25, 0));
        // The first page of anything common: walk.
        assert!(!drive_is_cheaper(50_000, 50_000, 100_000, 0, 25, 1));
        assert!(!drive_is_cheaper(5_000, 5_000, 100_000, 0, 25, 0));
        // Counting candidates stops where starting from them can no longer be cheaper.
        for probes in [0, 1, 2] {
            let most = drive_rows_max(100_000, probes);
            assert!(!drive_is_cheaper(1, most, 100_000, 0, 25, probes));
            assert!(drive_is_cheaper(1, most / 2, 100_000, 0, 25, probes));
        }
    }

    #[test]
    fn a_filter_with_others_is_costed_by_its_own_size_not_the_count() {
        // agent=a (its own bit) and errors: 20 matches in all.
        let q = query(&[("agent", "a"), ("status", "error")]);
        let plan =
            ListPlan::new(Backend::Sqlite, 1, &q, &lookups(&[(FACET_AGENT, "a", 0)])).unwrap();
        // The count says nothing of how many sessions the agent has: they are counted, up to
        // where walking the 100,000 entries is cheaper anyway.
        let rows = plan.driver_rows_sql(20, 100_000).unwrap();
        assert_eq!(
            rows.text,
            "SELECT COUNT(*) FROM (SELECT 1 FROM session_facets WHERE project_id = $1 AND \
             kind = 0 AND value = $2 LIMIT $3) c"
        );
        assert_eq!(
            rows.args,
            [Arg::Int(1), Arg::Text("a".into()), Arg::Int(5_001)]
        );
        let walks = |sql: Sql| {
            sql.text
                .contains("INDEXED BY sessions_by_last_activity_desc")
        };
        // 90,000 of them (counting stopped at 5,001): walk. 30: start from them.
        assert!(walks(plan.page_sql(20, 100_000, Some(5_001)).unwrap()));
        assert!(!walks(plan.page_sql(20, 100_000, Some(30)).unwrap()));
        // Not counted: walk.
        assert!(walks(plan.page_sql(20, 100_000, None).unwrap()));
        // Alone, the count is the agent's own size.
        let alone = ListPlan::new(
            Backend::Sqlite,
            1,
            &query(&[("agent", "a")]),
            &lookups(&[(FACET_AGENT, "a", 0)]),
        )
        .unwrap();
        assert!(alone.driver_rows_sql(20, 100_000).is_none());
        assert!(!walks(alone.page_sql(20, 100_000, None).unwrap()));
        // `q`: the entries of its values (an upper bound), plus its id candidates.
        let mut l = Lookups {
            q_ids: Some(IdLookup::Candidates {
                fts: Some("\"gpt\"".into()),
                size: 10,
            }),
            ..Lookups::default()
        };
        l.q_terms = ["gpt-4o", "gpt-4o-mini"]
            .iter()
            .enumerate()
            .map(|(bit, v)| Term {
                kind: FACET_MODEL,
                value: v.to_string(),
                bit: bit as i64,
            })
            .collect();
        let q = query(&[("q", "gpt"), ("status", "error")]);
        let plan = ListPlan::new(Backend::Sqlite, 1, &q, &l).unwrap();
        let rows = plan.driver_rows_sql(20, 100_000).unwrap();
        assert!(
            rows.text
                .contains("kind = 1 AND value IN ($2, $3) LIMIT $4"),
            "{}",
            rows.text
        );
        assert!(walks(plan.page_sql(20, 100_000, Some(5_000)).unwrap()));
        assert!(!walks(plan.page_sql(20, 100_000, Some(20)).unwrap()));
        // Only id candidates: their number is known.
        l.q_terms.clear();
        let plan = ListPlan::new(Backend::Sqlite, 1, &q, &l).unwrap();
        assert!(plan.driver_rows_sql(20, 100_000).is_none());
        assert!(!walks(plan.page_sql(20, 100_000, None).unwrap()));
    }

    #[test]
    fn postgres_tests_an_id_substring_once() {
        let l = Lookups {
            search_ids: Some(IdLookup::Candidates { fts: None, size: 9 }),
            ..Lookups::default()
        };
        for pairs in [
            &[("search", "abc")][..],
            &[("search", "abc"), ("status", "error")],
            &[("search", "abc"), ("user", "u1")],
        ] {
            let plan = ListPlan::new(Backend::Postgres, 1, &query(pairs), &l).unwrap();
            let mut statements = vec![plan.count_sql(), plan.page_sql_from(100, None).unwrap()];
            for (i, c) in plan.conds.iter().enumerate() {
                if c.has_driver() {
                    statements.push(plan.page_sql_from(100, Some(i)).unwrap());
                }
            }
            for sql in &statements {
                assert_eq!(
                    sql.text.matches("ILIKE").count(),
                    1,
                    "{pairs:?}: {}",
                    sql.text
                );
                assert_bound(sql);
            }
        }
    }

    #[test]
    fn a_value_with_its_own_bit_is_tested_inside_the_sort_index() {
        let plan = ListPlan::new(
            Backend::Sqlite,
            7,
            &query(&[("tool", "search"), ("sort", "-total_cost")]),
            &lookups(&[(FACET_TOOL, "search", 3)]),
        )
        .unwrap();
        // Alone, it is counted from the facet index.
        let count = plan.count_sql();
        assert_eq!(
            count.text,
            "SELECT COUNT(*) FROM session_facets WHERE project_id = $1 AND kind = 2 AND value = $2"
        );
        assert_eq!(count.args, [Arg::Int(7), Arg::Text("search".into())]);
        let page = plan.page_sql(30_000, 100_000, None).unwrap();
        assert!(page
            .text
            .contains("FROM sessions s INDEXED BY sessions_by_cost_desc WHERE"));
        assert!(page.text.contains("(s.tool_bits & $2) <> 0"));
        assert!(!page.text.contains("EXISTS"), "{}", page.text);
        assert!(page
            .text
            .contains("ORDER BY s.total_cost DESC, s.public_id ASC LIMIT $3 OFFSET $4"));
        assert_eq!(
            page.args,
            [Arg::Int(7), Arg::Int(8), Arg::Int(25), Arg::Int(0)]
        );
    }

    #[test]
    fn values_sharing_the_last_bit_are_confirmed_in_session_facets() {
        let plan = ListPlan::new(
            Backend::Sqlite,
            1,
            &query(&[("model", "m-70"), ("status", "error")]),
            &lookups(&[(FACET_MODEL, "m-70", FACET_SHARED_BIT)]),
        )
        .unwrap();
        let count = plan.count_sql();
        // Not alone: counted by starting from the value's sessions (it needs a lookup anyway).
        assert!(count.text.starts_with(
            "SELECT COUNT(*) FROM (SELECT session_id AS id FROM session_facets WHERE \
             project_id = $1 AND kind = 1 AND value = $2) m CROSS JOIN sessions s WHERE s.id = m.id"
        ), "{}", count.text);
        assert!(count.text.contains("s.error_count > 0"));
        // The exact driver is not tested again.
        assert!(!count.text.contains("model_bits"), "{}", count.text);
        let walk = plan.page_sql_from(30_000, None).unwrap();
        // Tests within the index come first.
        assert!(
            walk.text.contains(
                "s.error_count > 0 AND ((s.model_bits & $2) <> 0 AND EXISTS (SELECT 1 FROM \
             session_facets f WHERE f.session_id = s.id AND f.kind = 1 AND f.value IN ($3)))"
            ),
            "{}",
            walk.text
        );
        assert_eq!(walk.args[1], Arg::Int(1 << FACET_SHARED_BIT));
    }

    #[test]
    fn values_a_project_never_had_match_nothing() {
        let q = query(&[("agent", "ghost")]);
        assert!(ListPlan::new(Backend::Sqlite, 1, &q, &Lookups::default()).is_none());
        // Users have no dictionary: an unknown user is simply a facet with no sessions.
        let q = query(&[("user", "ghost")]);
        assert!(ListPlan::new(Backend::Sqlite, 1, &q, &Lookups::default()).is_some());
        // An id substring the trigram index has no candidate for.
        let q = query(&[("search", "zzz")]);
        let none = Lookups {
            search_ids: Some(IdLookup::Nothing),
            ..Lookups::default()
        };
        assert!(ListPlan::new(Backend::Sqlite, 1, &q, &none).is_none());
        // `q` with neither an id candidate nor a matching model or tool.
        let q = query(&[("q", "zzz")]);
        let none = Lookups {
            q_ids: Some(IdLookup::Nothing),
            ..Lookups::default()
        };
        assert!(ListPlan::new(Backend::Sqlite, 1, &q, &none).is_none());
    }

    #[test]
    fn q_tests_the_id_and_the_bits_of_every_matching_model_and_tool() {
        let l = Lookups {
            q_terms: vec![
                Term {
                    kind: FACET_MODEL,
                    value: "gpt-4o".into(),
                    bit: 0,
                },
                Term {
                    kind: FACET_MODEL,
                    value: "gpt-4o-mini".into(),
                    bit: 2,
                },
                Term {
                    kind: FACET_TOOL,
                    value: "x-gpt".into(),
                    bit: FACET_SHARED_BIT,
                },
            ],
            q_ids: Some(IdLookup::Candidates {
                fts: Some("\"gpt\"".into()),
                size: 3,
            }),
            ..Lookups::default()
        };
        let plan = ListPlan::new(Backend::Sqlite, 1, &query(&[("q", "gpt")]), &l).unwrap();
        let count = plan.count_sql();
        assert_eq!(
            count.text,
            "SELECT COUNT(*) FROM sessions s INDEXED BY sessions_by_public_id WHERE \
             s.project_id = $1 AND ((s.id IN (SELECT rowid AS id FROM session_ids WHERE \
             session_ids MATCH $3) AND s.public_id LIKE $2 ESCAPE '\\') OR (s.model_bits & $4) <> 0 OR \
             ((s.tool_bits & $5) <> 0 AND EXISTS (SELECT 1 FROM session_facets f WHERE \
             f.session_id = s.id AND f.kind = 2 AND f.value IN ($6))))"
        );
        assert_eq!(
            count.args,
            [
                Arg::Int(1),
                Arg::Text("%gpt%".into()),
                Arg::Text("\"gpt\"".into()),
                Arg::Int(0b101),
                Arg::Int(1 << FACET_SHARED_BIT),
                Arg::Text("x-gpt".into()),
            ]
        );
        // Starting from its candidates: the id candidates and the values' sessions, one list
        // per kind.
        let driven = plan.page_sql_from(10, Some(0)).unwrap();
        assert!(
            driven.text.contains(
                "FROM (SELECT rowid AS id FROM session_ids WHERE session_ids MATCH $2 UNION \
             SELECT session_id AS id FROM session_facets WHERE project_id = $1 AND kind = 1 AND \
             value IN ($3, $4) UNION SELECT session_id AS id FROM session_facets WHERE \
             project_id = $1 AND kind = 2 AND value = $5) m CROSS JOIN sessions s"
            ),
            "{}",
            driven.text
        );
        assert_bound(&driven);
    }

    #[test]
    fn every_statement_binds_each_placeholder_once_in_order() {
        let q = query(&[
            ("search", "ab_c"),
            ("q", "se"),
            ("agent", "a"),
            ("model", "m"),
            ("tool", "t"),
            ("user", "u"),
            ("status", "error"),
            ("start", "2024-01-01T00:00:00Z"),
            ("end", "2024-02-01T00:00:00Z"),
            ("offset", "50"),
        ]);
        let mut l = lookups(&[
            (FACET_AGENT, "a", 1),
            (FACET_MODEL, "m", FACET_SHARED_BIT),
            (FACET_TOOL, "t", 5),
        ]);
        l.q_terms = vec![Term {
            kind: FACET_TOOL,
            value: "search".into(),
            bit: 4,
        }];
        l.q_ids = Some(IdLookup::Like);
        for backend in [Backend::Sqlite, Backend::Postgres] {
            l.search_ids = Some(match backend {
                Backend::Sqlite => IdLookup::Candidates {
                    fts: Some("\"ab_\" AND \"b_c\"".into()),
                    size: 9,
                },
                Backend::Postgres => IdLookup::Candidates { fts: None, size: 9 },
            });
            let plan = ListPlan::new(backend, 3, &q, &l).unwrap();
            let mut statements = vec![plan.count_sql(), plan.page_sql_from(100, None).unwrap()];
            for (i, c) in plan.conds.iter().enumerate() {
                if c.has_driver() {
                    statements.push(plan.page_sql_from(100, Some(i)).unwrap());
                }
            }
            for sql in &statements {
                assert_bound(sql);
                if backend == Backend::Postgres {
                    for sqlite_only in ["INDEXED BY", "session_ids", "MATCH", " LIKE "] {
                        assert!(
                            !sql.text.contains(sqlite_only),
                            "{sqlite_only}: {}",
                            sql.text
                        );
                    }
                }
            }
            // Drivers: the four facets and the id candidates.
            assert_eq!(statements.len(), 2 + 5, "{backend:?}");
        }
    }

    #[test]
    fn no_page_is_read_past_the_last_match() {
        let plan = ListPlan::new(
            Backend::Sqlite,
            1,
            &query(&[("offset", "40"), ("limit", "10")]),
            &Lookups::default(),
        )
        .unwrap();
        assert!(plan.page_sql(40, 40, None).is_none());
        assert!(plan.page_sql(41, 41, None).is_some());
    }

    #[test]
    fn an_offset_past_every_session_reads_nothing_and_never_overflows() {
        let q = query(&[
            ("agent", "a"),
            ("offset", &crate::model::MAX_OFFSET.to_string()),
        ]);
        let plan =
            ListPlan::new(Backend::Sqlite, 1, &q, &lookups(&[(FACET_AGENT, "a", 0)])).unwrap();
        assert!(plan.driver_rows_sql(500, 100_000).is_none());
        assert!(plan.page_sql(500, 100_000, Some(500)).is_none());
        // Even asked for that page, the cost model saturates instead of overflowing: the walk
        // would pass every entry.
        assert!(drive_is_cheaper(500, 500, 100_000, i64::MAX, 100, 0));
        assert!(!drive_is_cheaper(500, 5_001, 100_000, i64::MAX, 100, 0));
        assert!(plan.page_sql_from(crate::model::MAX_OFFSET, None).is_none());
        assert!(plan
            .page_sql_from(crate::model::MAX_OFFSET + 1, None)
            .is_some());
    }

    /// A store with sessions that vary in every filtered and sorted field, and in how many
    /// sessions each value has (so both page strategies have something to do).
    async fn seeded_store(dir: &tempfile::TempDir) -> Store {
        let tools = [
            "search",
            "fetch_url",
            "sql_query",
            "send_email",
            "search_docs",
        ];
        let mut runs = Vec::new();
        for i in 0..120i64 {
            let id = match i % 3 {
                0 => format!("conv-{i:03}"),
                1 => format!("Sess_{:08x}", 0xabc0 + i),
                _ => format!("team/chat {i}"),
            };
            for k in 0..(1 + i % 4) {
                let minute = (i * 37 % 500) + k * 3;
                let agent = ["planner", "writer"][(i % 2) as usize];
                let model = ["gpt-4o", "gpt-4o-mini", "claude"][((i + k) % 3) as usize];
                runs.push(serde_json::json!({
                    "id": format!("{id}#{k}"), "session_id": id,
                    "started_at": chrono::DateTime::from_timestamp(1_700_000_000 + minute * 60, 0)
                        .unwrap().to_rfc3339(),
                    "duration_ms": 100 * ((i * 7 + k) % 9 + 1),
                    "agent_name": agent, "model": model,
                    "tools_called": [tools[((i + k) % 5) as usize]],
                    "user_id": format!("u{}", i % 9),
                    "status": if (i + k) % 11 == 0 { "error" } else { "success" },
                    "cost": ((i * 13 + k) % 17) as f64 / 1000.0,
                    "input_tokens": 10 * ((i + k) % 6), "output_tokens": 5,
                }));
            }
        }
        store_of(dir, runs).await
    }

    /// A store holding these native runs (JSON), in project 1.
    async fn store_of(dir: &tempfile::TempDir, runs: Vec<serde_json::Value>) -> Store {
        let url = format!("sqlite:{}", dir.path().join("plans.db").display());
        let store = Store::open(&url, std::time::Duration::from_secs(1800))
            .await
            .expect("open");
        let (_, secret) = store.create_key("default", "test").await.expect("key");
        let owner = store
            .verify_key(&secret)
            .await
            .expect("verify")
            .expect("owner");
        let batch = crate::ingest::native::parse_batch(
            serde_json::json!({ "runs": runs }).to_string().as_bytes(),
            None,
            1000,
        )
        .expect("valid batch");
        store.ingest_native(owner, batch).await.expect("ingest");
        store
    }

    async fn page_ids(store: &Store, sql: &Sql) -> Vec<String> {
        sqlx::query_with(&sql.text, sql.arguments())
            .fetch_all(&store.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", sql.text))
            .iter()
            .map(|r| r.try_get::<String, _>(1).unwrap())
            .collect()
    }

    const SHAPES: &[&[(&str, &str)]] = &[
        &[],
        &[("agent", "planner")],
        &[("model", "gpt-4o")],
        &[("tool", "search")],
        &[("user", "u3")],
        &[("status", "error")],
        &[("start", "2023-11-15T00:00:00Z")],
        &[
            ("start", "2023-11-14T23:00:00Z"),
            ("end", "2023-11-15T01:00:00Z"),
        ],
        &[("search", "sess_0000ab")],
        &[("search", "c")],
        &[("q", "gpt")],
        &[("q", "search")],
        &[("q", "s")],
        &[("q", "conv-01")],
        &[("tool", "search"), ("user", "u1"), ("status", "error")],
        &[("q", "sql"), ("search", "chat"), ("model", "claude")],
    ];

    #[tokio::test]
    async fn walking_and_starting_from_candidates_give_the_same_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = seeded_store(&dir).await;
        let driven = compare_pages(&store, SHAPES).await;
        assert!(driven > 50, "only {driven} driven pages compared");
    }

    #[tokio::test]
    async fn q_matching_hundreds_of_tools_starts_from_one_list_per_kind() {
        // 600 tools containing "xyz" (SQLite refuses more than 500 arms in a compound query),
        // each session calling 20 of them; half the session ids contain "xyz" too.
        let runs: Vec<serde_json::Value> = (0..40i64)
            .map(|i| {
                let tools: Vec<String> =
                    (0..20).map(|j| format!("xyz_{:03}", (15 * i + j) % 600)).collect();
                serde_json::json!({
                    "id": format!("r{i}"),
                    "session_id": if i % 2 == 0 { format!("xyz-{i:02}") } else { format!("s{i:02}") },
                    "started_at": chrono::DateTime::from_timestamp(1_700_000_000 + i * 60, 0)
                        .unwrap().to_rfc3339(),
                    "duration_ms": 100 * (i % 7 + 1), "agent_name": "a", "model": "m",
                    "tools_called": tools,
                    "status": if i % 5 == 0 { "error" } else { "success" },
                })
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let store = store_of(&dir, runs).await;
        let shapes: &[&[(&str, &str)]] = &[
            &[("q", "xyz")],
            &[("q", "xyz"), ("status", "error")],
            &[("q", "xyz_"), ("status", "error")],
            &[("q", "yz_5")],
            &[("q", "z_59"), ("start", "2023-11-14T22:30:00Z")],
        ];
        let lookups = store.list_lookups(1, &query(shapes[1])).await.unwrap();
        assert_eq!(lookups.q_terms.len(), 600);
        assert!(compare_pages(&store, shapes).await >= 40);
    }

    /// Compares, for each shape, sort and page, the walk with a start from each condition
    /// that can drive; answers how many driven pages were compared.
    async fn compare_pages(store: &Store, shapes: &[&[(&str, &str)]]) -> usize {
        let mut driven = 0;
        for shape in shapes {
            for sort in ["-last_activity", "total_cost", "-session_id", "run_count"] {
                for (offset, limit) in [("0", "100"), ("7", "5")] {
                    let mut pairs = shape.to_vec();
                    pairs.extend([("sort", sort), ("offset", offset), ("limit", limit)]);
                    let q = query(&pairs);
                    let lookups = store.list_lookups(1, &q).await.unwrap();
                    let Some(plan) = ListPlan::new(Backend::Sqlite, 1, &q, &lookups) else {
                        continue;
                    };
                    let count = plan.count_sql();
                    let count: i64 = sqlx::query_with(&count.text, count.arguments())
                        .fetch_one(&store.pool)
                        .await
                        .unwrap_or_else(|e| panic!("{e}: {}", count.text))
                        .try_get(0)
                        .unwrap();
                    // Past the last match both are skipped; ask for the rows anyway.
                    let everything = count.max(q.offset + 1);
                    let walked = plan.page_sql_from(everything, None).unwrap();
                    let walked = page_ids(store, &walked).await;
                    if q.offset == 0 {
                        assert_eq!(walked.len() as i64, count.min(q.limit), "{pairs:?}");
                    }
                    for (i, c) in plan.conds.iter().enumerate() {
                        if c.has_driver() {
                            let sql = plan.page_sql_from(everything, Some(i)).unwrap();
                            assert_eq!(page_ids(store, &sql).await, walked, "{pairs:?} from {c:?}");
                            driven += 1;
                        }
                    }
                    // Counting the driver's entries is a valid statement, and the page it
                    // leads to is the same.
                    if let Some(sql) = plan.driver_rows_sql(everything, 100_000) {
                        let rows: i64 = sqlx::query_with(&sql.text, sql.arguments())
                            .fetch_one(&store.pool)
                            .await
                            .unwrap_or_else(|e| panic!("{e}: {}", sql.text))
                            .try_get(0)
                            .unwrap();
                        let page = plan.page_sql(everything, 100_000, Some(rows)).unwrap();
                        assert_eq!(page_ids(store, &page).await, walked, "{pairs:?}");
                    }
                }
            }
        }
        driven
    }

    /// The query plan SQLite reports for a statement, one line per step.
    async fn plan_of(store: &Store, sql: &Sql) -> String {
        let rows = sqlx::query_with(&format!("EXPLAIN QUERY PLAN {}", sql.text), sql.arguments())
            .fetch_all(&store.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", sql.text));
        rows.iter()
            .map(|r| r.try_get::<String, _>(3).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn pages_walk_their_sort_index_without_sorting_and_counts_never_read_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = seeded_store(&dir).await;
        for shape in SHAPES {
            for key in SortKey::ALL {
                for descending in [false, true] {
                    let sort = Sort { key, descending };
                    let mut pairs = shape.to_vec();
                    let param = sort.to_param();
                    pairs.push(("sort", &param));
                    let q = query(&pairs);
                    let lookups = store.list_lookups(1, &q).await.unwrap();
                    let Some(plan) = ListPlan::new(Backend::Sqlite, 1, &q, &lookups) else {
                        continue;
                    };
                    let walk = plan_of(&store, &plan.page_sql_from(1000, None).unwrap()).await;
                    let index = sort_index(sort);
                    assert!(
                        walk.contains(&format!("SEARCH s USING COVERING INDEX {index} (")),
                        "{pairs:?}:\n{walk}"
                    );
                    // Only the page itself (at most 100 rows) is sorted, by the outer query.
                    assert_eq!(walk.matches("TEMP B-TREE").count(), 1, "{pairs:?}:\n{walk}");
                    assert!(
                        walk.ends_with("USE TEMP B-TREE FOR ORDER BY"),
                        "{pairs:?}:\n{walk}"
                    );
                    let count = plan_of(&store, &plan.count_sql()).await;
                    // Rows are read only for candidates (by row id), never to scan or test.
                    let reads_rows = count.lines().any(|l| {
                        l == "SCAN s"
                            || l.starts_with("SCAN s ")
                            || (l.starts_with("SEARCH s ")
                                && !l.contains("COVERING INDEX")
                                && !l.contains("INTEGER PRIMARY KEY"))
                    });
                    assert!(!reads_rows, "{pairs:?}:\n{count}");
                }
            }
        }
    }

    #[test]
    fn each_order_has_its_own_index() {
        let mut names = std::collections::HashSet::new();
        for key in SortKey::ALL {
            for descending in [false, true] {
                names.insert(sort_index(Sort { key, descending }));
            }
        }
        // Session ids are unique: one index serves both directions.
        assert_eq!(names.len(), 13);
    }
}
