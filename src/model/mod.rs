//! Wire types shared by the server and the browser: what the REST API returns and what server
//! functions hand to pages. Nothing here knows about the database (rows convert into these).

pub mod format;
pub mod query;
pub mod timeline;

use serde::{Deserialize, Serialize};

/// One row of the sessions list (Waxell's list shape plus Threadline's extra fields).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub run_count: i64,
    /// RFC 3339 UTC.
    pub first_run: String,
    pub last_activity: String,
    /// Seconds.
    pub total_duration: f64,
    /// USD.
    pub total_cost: f64,
    pub total_tokens: i64,
    pub tokens_saved: i64,
    pub error_count: i64,
    pub agents: Vec<String>,
    pub models: Vec<String>,
    pub tools: Vec<String>,
    pub users: Vec<String>,
    /// `"explicit"` or `"automatic"`.
    pub grouping: String,
}

/// A page of sessions in Waxell's envelope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionPage {
    pub results: Vec<SessionSummary>,
    pub count: i64,
    pub next: Option<String>,
    pub previous: Option<String>,
}

/// Which way a list is sorted, parsed from `sort=-last_activity` style parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SortKey {
    #[default]
    LastActivity,
    FirstRun,
    RunCount,
    TotalDuration,
    TotalCost,
    TotalTokens,
    SessionId,
}

impl SortKey {
    pub const ALL: [SortKey; 7] = [
        SortKey::LastActivity,
        SortKey::FirstRun,
        SortKey::RunCount,
        SortKey::TotalDuration,
        SortKey::TotalCost,
        SortKey::TotalTokens,
        SortKey::SessionId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::LastActivity => "last_activity",
            SortKey::FirstRun => "first_run",
            SortKey::RunCount => "run_count",
            SortKey::TotalDuration => "total_duration",
            SortKey::TotalCost => "total_cost",
            SortKey::TotalTokens => "total_tokens",
            SortKey::SessionId => "session_id",
        }
    }

    pub fn from_name(name: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A sort key with its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            key: SortKey::LastActivity,
            descending: true,
        }
    }
}

impl Sort {
    /// Parses `last_activity` / `-last_activity`.
    pub fn parse(text: &str) -> Option<Sort> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        SortKey::from_name(name).map(|key| Sort { key, descending })
    }

    pub fn to_param(self) -> String {
        format!(
            "{}{}",
            if self.descending { "-" } else { "" },
            self.key.name()
        )
    }
}

/// Gateway phase latencies of one run, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyMs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_routing: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<f64>,
}

impl LatencyMs {
    pub fn is_empty(&self) -> bool {
        self.dedup.is_none()
            && self.compression.is_none()
            && self.tool_routing.is_none()
            && self.upstream.is_none()
    }
}

/// The sessions list query (SPEC §5), parsed and validated. Shared by the REST endpoint and the
/// page's server function so both answer the same question the same way.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Session id contains this (case-insensitive).
    pub search: Option<String>,
    /// Session id, a model or a tool contains this.
    pub q: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub tool: Option<String>,
    pub user: Option<String>,
    /// Only sessions with at least one failed run.
    pub errors_only: bool,
    /// Epoch microseconds: sessions active in `[start, end]`.
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub sort: Sort,
    pub limit: i64,
    pub offset: i64,
}

pub const DEFAULT_PAGE_SIZE: i64 = 25;
pub const MAX_PAGE_SIZE: i64 = 100;
/// The largest `offset`/`runs_offset` accepted: far past any dataset, and small enough that
/// `offset + limit` and the page arithmetic that follows can never overflow.
pub const MAX_OFFSET: i64 = 1_000_000_000_000;

/// Exact totals of one session (SPEC §4 rule 5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionAggregates {
    pub run_count: i64,
    pub first_run: String,
    pub last_activity: String,
    /// Seconds.
    pub total_duration: f64,
    /// USD.
    pub total_cost: f64,
    pub total_tokens: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub tokens_saved: i64,
    pub error_count: i64,
    pub agents: Vec<String>,
    pub models: Vec<String>,
    pub tools: Vec<String>,
    pub users: Vec<String>,
    /// Runs that reported gateway phases.
    pub gateway_runs: i64,
    /// Σ(dedup + compression + tool routing) ÷ Σ total request time over those runs, in percent.
    pub avg_overhead_pct: Option<f64>,
}

/// One run as the session detail shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub id: String,
    pub agent_name: String,
    pub workflow_name: String,
    pub started_at: String,
    pub completed_at: Option<String>,
    /// Seconds.
    pub duration: Option<f64>,
    /// `"success"` or `"error"`.
    pub status: String,
    pub error: Option<String>,
    /// USD.
    pub cost: f64,
    pub tokens: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub trace_id: Option<String>,
    pub model: Option<String>,
    pub models: Vec<String>,
    pub routed: Option<bool>,
    pub tokens_saved: i64,
    pub tools_sent: Option<i64>,
    pub tools_forwarded: Option<Vec<String>>,
    pub tools_called: Vec<String>,
    pub latency_ms: LatencyMs,
    pub overhead_pct: Option<f64>,
    pub user_id: Option<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub attributes: serde_json::Value,
}

/// A session with its aggregates and one page of its runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionDetail {
    pub session_id: String,
    /// `"explicit"` or `"automatic"`.
    pub grouping: String,
    /// The key that supplied an explicit id (`session_id`, `X-Session-Id`, `gen_ai.conversation.id`…).
    pub grouped_by: Option<String>,
    /// Automatic sessions: the API key whose inactivity defines them.
    pub api_key: Option<String>,
    pub aggregates: SessionAggregates,
    pub runs: Vec<RunView>,
    pub runs_offset: i64,
    pub runs_limit: i64,
}

/// One span of a trace, for the waterfall.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanView {
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: String,
    /// `llm`, `tool`, `agent` or `other`.
    pub category: String,
    /// Epoch nanoseconds (exact), and RFC 3339 for people.
    pub start_ns: i64,
    pub end_ns: i64,
    pub start: String,
    pub end: String,
    /// `unset`, `ok` or `error`.
    pub status: String,
    pub status_message: Option<String>,
    pub attributes: serde_json::Value,
    pub resource: serde_json::Value,
    pub events: serde_json::Value,
}

/// A trace: its run (when one is stored) and its spans in start order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceDetail {
    pub trace_id: String,
    pub session_id: Option<String>,
    pub run: Option<RunView>,
    pub spans: Vec<SpanView>,
}
