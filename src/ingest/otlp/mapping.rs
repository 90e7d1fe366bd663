//! From OTLP requests to stored spans ([`flatten`]) and from the spans of one trace to one run
//! ([`TraceRollup`]), following the attribute conventions of SPEC §3.2.
//!
//! Spans of a trace arrive in any order and across many requests, so a run cannot be computed
//! once: each span becomes a one-span [`TraceRollup`] and rollups [`merge`](TraceRollup::merge).
//! The merge is commutative and associative (every "pick one" rule has a total-order tie-break on
//! span start, then span id or value; sums are over non-negative integers; sets are sorted), so
//! the store can keep one rollup per trace, fold late spans into it, and get exactly what one
//! pass over all spans would give.

use std::collections::BTreeSet;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ingest::bounds::{
    check_chars, MAX_COST_USD, MAX_COUNT, MAX_DURATION_MS, MAX_LONG_NAME_CHARS, MAX_NAME_CHARS,
};
use crate::ingest::run::RunFields;
use crate::ingest::{json_size, scrub_nul, ValueLimits};

/// Session id attributes, in precedence order (SPEC §3.2). The index is the key's rank.
pub const SESSION_KEYS: [&str; 10] = [
    "session.id",
    "gen_ai.conversation.id",
    "langfuse.session.id",
    "thread_id",
    "lmnr.association.properties.session_id",
    "ai.telemetry.metadata.sessionId",
    "ai.telemetry.metadata.session_id",
    "langsmith.metadata.session_id",
    "langsmith.metadata.thread_id",
    "langsmith.metadata.conversation_id",
];
/// End-user attributes, in precedence order.
pub const USER_KEYS: [&str; 3] = ["user.id", "enduser.id", "langfuse.user.id"];
/// Agent name attributes, in precedence order; the root span's `service.name` comes last.
pub const AGENT_KEYS: [&str; 2] = ["gen_ai.agent.name", "agent.name"];
const MODEL_KEYS: [&str; 3] = [
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
];
const LLM_OPERATIONS: [&str; 3] = ["chat", "text_completion", "generate_content"];
const AGENT_OPERATIONS: [&str; 2] = ["invoke_agent", "create_agent"];
/// Gateway phase latencies in milliseconds, in `crate::ingest::run::PHASES` order.
const LATENCY_KEYS: [&str; 4] = [
    "threadline.latency.dedup_ms",
    "threadline.latency.compression_ms",
    "threadline.latency.tool_routing_ms",
    "threadline.latency.upstream_ms",
];

/// Distinct rejection reasons reported per request.
const MAX_REASONS: usize = 16;

/// One span as stored and shown on the trace page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
    pub kind: String,
    /// `llm`, `tool`, `agent` or `other`.
    pub category: String,
    pub start_ns: i64,
    pub end_ns: i64,
    /// `unset`, `ok` or `error`.
    pub status_code: String,
    pub status_message: Option<String>,
    /// Span attributes, values converted to plain JSON.
    pub attributes: Map<String, Value>,
    /// Resource attributes.
    pub resource: Map<String, Value>,
    /// Instrumentation scope name.
    pub scope: Option<String>,
    /// `{"name", "time_ns", "attributes"}` objects.
    pub events: Vec<Value>,
}

impl SpanRecord {
    /// An attribute of the span, else of its resource. `null` counts as absent.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes
            .get(key)
            .filter(|v| !v.is_null())
            .or_else(|| self.resource.get(key).filter(|v| !v.is_null()))
    }

    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none()
    }

    fn attr_is(&self, key: &str, wanted: &[&str]) -> bool {
        self.attr(key)
            .and_then(Value::as_str)
            .is_some_and(|v| wanted.iter().any(|w| v.trim().eq_ignore_ascii_case(w)))
    }

    /// An LLM call (GenAI semantic conventions or OpenInference).
    pub fn is_llm(&self) -> bool {
        self.attr_is("gen_ai.operation.name", &LLM_OPERATIONS)
            || self.attr_is("openinference.span.kind", &["LLM"])
    }

    /// A tool execution.
    pub fn is_tool(&self) -> bool {
        self.attr_is("gen_ai.operation.name", &["execute_tool"])
            || self.attr_is("openinference.span.kind", &["TOOL"])
    }

    /// An agent or chain step, or the root of the trace.
    pub fn is_agent(&self) -> bool {
        self.attr_is("gen_ai.operation.name", &AGENT_OPERATIONS)
            || self.attr_is("openinference.span.kind", &["AGENT", "CHAIN"])
            || self.is_root()
    }

    fn classify(&self) -> &'static str {
        if self.is_llm() {
            "llm"
        } else if self.is_tool() {
            "tool"
        } else if self.is_agent() {
            "agent"
        } else {
            "other"
        }
    }

    /// The session id this span carries: (rank in [`SESSION_KEYS`], value).
    pub fn session_attr(&self) -> Option<(usize, String)> {
        first_ranked(self, &SESSION_KEYS)
    }
}

/// The spans of a request worth keeping, and what was rejected and why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Flattened {
    pub spans: Vec<SpanRecord>,
    pub rejected: i64,
    /// Each distinct reason once, in first-seen order.
    pub reasons: Vec<String>,
}

impl Flattened {
    /// The reasons as one `partial_success.error_message`.
    pub fn message(&self) -> String {
        self.reasons.join("; ")
    }
}

/// Flattens a request into span records with the default value limits.
pub fn flatten(req: ExportTraceServiceRequest) -> Flattened {
    flatten_with(req, &ValueLimits::default())
}

/// Flattens a request into span records, rejecting spans that cannot be stored, among them
/// spans with a value beyond `limits` or a number or name beyond [`crate::ingest::bounds`]
/// (so one oversized attribute costs only its span).
pub fn flatten_with(req: ExportTraceServiceRequest, limits: &ValueLimits) -> Flattened {
    let mut out = Flattened::default();
    for rs in req.resource_spans {
        let resource = rs
            .resource
            .map(|r| attributes_to_map(r.attributes))
            .unwrap_or_default();
        let resource_ok = check_attributes("resource attribute", &resource, limits);
        for ss in rs.scope_spans {
            let scope = ss.scope.map(|s| s.name).filter(|n| !n.is_empty());
            for span in ss.spans {
                let record = resource_ok
                    .clone()
                    .and_then(|()| to_record(span, &resource, &scope, limits));
                match record {
                    Ok(record) => out.spans.push(record),
                    Err(reason) => {
                        out.rejected += 1;
                        // Reasons can quote sizes, so a hostile body could make each one
                        // distinct: a few are enough to tell the client what is wrong.
                        if out.reasons.len() < MAX_REASONS && !out.reasons.contains(&reason) {
                            out.reasons.push(reason);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Every attribute (key plus value as JSON) within the value limit.
fn check_attributes(
    what: &str,
    attributes: &Map<String, Value>,
    limits: &ValueLimits,
) -> Result<(), String> {
    for (key, value) in attributes {
        limits
            .check_size(key.len() + json_size(value))
            .map_err(|e| {
                let mut name: String = key.chars().take(64).collect();
                if name.len() < key.len() {
                    name.push('…');
                }
                format!("{what} `{name}` {e}")
            })?;
    }
    Ok(())
}

fn valid_id(bytes: &[u8], len: usize) -> bool {
    bytes.len() == len && bytes.iter().any(|b| *b != 0)
}

fn to_record(
    span: Span,
    resource: &Map<String, Value>,
    scope: &Option<String>,
    limits: &ValueLimits,
) -> Result<SpanRecord, String> {
    if !valid_id(&span.trace_id, 16) {
        return Err("invalid trace id (must be 16 bytes, not all zero)".into());
    }
    if !valid_id(&span.span_id, 8) {
        return Err("invalid span id (must be 8 bytes, not all zero)".into());
    }
    // All zeros is how some exporters say "no parent".
    let parent_span_id = match span.parent_span_id.len() {
        0 => None,
        8 if !valid_id(&span.parent_span_id, 8) => None,
        8 => Some(hex::encode(&span.parent_span_id)),
        _ => return Err("invalid parent span id (must be 8 bytes)".into()),
    };
    let (Ok(start_ns), Ok(end_ns)) = (
        i64::try_from(span.start_time_unix_nano),
        i64::try_from(span.end_time_unix_nano),
    ) else {
        return Err("span time out of range".into());
    };
    // A zero start is an unset field; keeping it would date the run to 1970.
    if start_ns == 0 {
        return Err("missing span start time".into());
    }
    if end_ns < start_ns {
        return Err("span end time is before its start time".into());
    }
    let kind = match SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified) {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    };
    let (status_code, status_message) = match span.status {
        Some(status) => {
            let code = match StatusCode::try_from(status.code).unwrap_or(StatusCode::Unset) {
                StatusCode::Unset => "unset",
                StatusCode::Ok => "ok",
                StatusCode::Error => "error",
            };
            (code, Some(status.message).filter(|m| !m.is_empty()))
        }
        None => ("unset", None),
    };
    let events = span
        .events
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "name": e.name,
                "time_ns": i64::try_from(e.time_unix_nano).unwrap_or(i64::MAX),
                "attributes": attributes_to_map(e.attributes),
            })
        })
        .collect();
    let mut record = SpanRecord {
        trace_id: hex::encode(&span.trace_id),
        span_id: hex::encode(&span.span_id),
        parent_span_id,
        name: span.name,
        kind: kind.into(),
        category: String::new(),
        start_ns,
        end_ns,
        status_code: status_code.into(),
        status_message,
        attributes: attributes_to_map(span.attributes),
        resource: resource.clone(),
        scope: scope.clone(),
        events,
    };
    record.category = record.classify().into();
    if let Some((rank, id)) = record.session_attr() {
        limits
            .check_session_id(&id)
            .map_err(|e| format!("invalid session id in `{}`: {e}", SESSION_KEYS[rank]))?;
    }
    limits
        .check_size(record.name.len())
        .map_err(|e| format!("span name {e}"))?;
    if let Some(message) = &record.status_message {
        limits
            .check_size(message.len())
            .map_err(|e| format!("span status message {e}"))?;
    }
    check_attributes("span attribute", &record.attributes, limits)?;
    for event in &record.events {
        limits
            .check_size(json_size(event))
            .map_err(|e| format!("span event {e}"))?;
    }
    check_bounds(&record)?;
    scrub_nul(&mut record.name);
    for text in [&mut record.status_message, &mut record.scope]
        .into_iter()
        .flatten()
    {
        scrub_nul(text);
    }
    Ok(record)
}

/// The names and numbers this span gives its run ([`TraceRollup::from_span`] reads the same
/// attributes the same way), within the bounds the native API applies to the same fields.
/// Like the native API, a value beyond them is refused, not cut: the span is rejected and
/// reported in `partial_success`. (A cut name could merge distinct users or tools, and a
/// clamped number would be a made-up one.)
fn check_bounds(span: &SpanRecord) -> Result<(), String> {
    let name = |key: &str, max: usize| -> Result<(), String> {
        match span.attr(key).and_then(value_string) {
            Some(value) => check_chars(&value, max).map_err(|e| format!("`{key}` is {e}")),
            None => Ok(()),
        }
    };
    let count = |what: &str, value: Option<i64>| -> Result<(), String> {
        match value {
            Some(n) if n > MAX_COUNT => Err(format!("{what} is more than {MAX_COUNT}")),
            _ => Ok(()),
        }
    };
    let number = |key: &str, max: f64| -> Result<(), String> {
        match span.attr(key).and_then(value_f64) {
            Some(x) if x > max => Err(format!("`{key}` is more than {max}")),
            _ => Ok(()),
        }
    };
    if span.end_ns.saturating_sub(span.start_ns) > MAX_DURATION_MS as i64 * 1_000_000 {
        return Err("span lasts more than a year (366 days)".into());
    }
    for key in USER_KEYS {
        name(key, MAX_LONG_NAME_CHARS)?;
    }
    for key in AGENT_KEYS {
        name(key, MAX_NAME_CHARS)?;
    }
    if span.is_root() {
        name("service.name", MAX_NAME_CHARS)?;
    }
    if span.is_llm() {
        for key in MODEL_KEYS {
            name(key, MAX_LONG_NAME_CHARS)?;
        }
        let (input, output) = span_tokens(span);
        count("the input token count", input)?;
        count("the output token count", output)?;
        for key in ["gen_ai.usage.cost", "llm.cost.total"] {
            number(key, MAX_COST_USD)?;
        }
    }
    if span.is_tool() {
        for key in ["gen_ai.tool.name", "tool.name"] {
            name(key, MAX_LONG_NAME_CHARS)?;
        }
    }
    let forwarded = span
        .attr("threadline.tools.forwarded")
        .and_then(value_strings);
    for tool in forwarded.iter().flatten() {
        check_chars(tool, MAX_LONG_NAME_CHARS)
            .map_err(|e| format!("a name in `threadline.tools.forwarded` is {e}"))?;
    }
    for key in ["threadline.tokens_saved", "threadline.tools.sent"] {
        count(&format!("`{key}`"), span.attr(key).and_then(value_count))?;
    }
    for key in LATENCY_KEYS {
        number(key, MAX_DURATION_MS)?;
    }
    Ok(())
}

fn attributes_to_map(attributes: Vec<KeyValue>) -> Map<String, Value> {
    attributes
        .into_iter()
        .map(|kv| (kv.key, any_to_json(kv.value)))
        .collect()
}

/// AnyValue as the JSON a user would expect to read on the trace page.
fn any_to_json(value: Option<AnyValue>) -> Value {
    use any_value::Value as V;
    match value.and_then(|v| v.value) {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::String(s),
        Some(V::BoolValue(b)) => Value::Bool(b),
        Some(V::IntValue(i)) => Value::from(i),
        // NaN and infinities have no JSON form.
        Some(V::DoubleValue(d)) => {
            serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number)
        }
        Some(V::ArrayValue(a)) => {
            Value::Array(a.values.into_iter().map(|v| any_to_json(Some(v))).collect())
        }
        Some(V::KvlistValue(kv)) => Value::Object(attributes_to_map(kv.values)),
        // Byte attributes are rare and usually ids, which read best as hex.
        Some(V::BytesValue(b)) => Value::String(hex::encode(b)),
        // Only meaningful inside profiles' string tables.
        Some(V::StringValueStrindex(_)) => Value::Null,
    }
}

// ---- Lenient readers: numbers may come as int, double or string AnyValues. ----

fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn value_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// A non-negative integer (counts and token numbers); floats are rounded.
fn value_count(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.round() as i64)
        }),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| value_f64(v).map(|f| f.round() as i64)),
        _ => None,
    }
    .filter(|n| *n >= 0)
}

fn value_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A list of names: an array, a JSON array in a string, or a comma-separated string.
fn value_strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => Some(items.iter().filter_map(value_string).collect()),
        Value::String(s) => {
            if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(s) {
                return Some(items.iter().filter_map(value_string).collect());
            }
            Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(String::from)
                    .collect(),
            )
        }
        _ => None,
    }
}

/// A length in a JSON array, whether it arrived as an array value or as serialized JSON.
fn array_len(v: &Value) -> Option<i64> {
    match v {
        Value::Array(items) => Some(items.len() as i64),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(items)) => Some(items.len() as i64),
            _ => None,
        },
        _ => None,
    }
}

/// USD → nano-USD, so that sums stay exact integers.
fn usd_to_nanos(usd: f64) -> Option<i64> {
    (usd >= 0.0).then(|| (usd * 1e9).round() as i64)
}

fn ms_to_us(ms: f64) -> Option<i64> {
    (ms >= 0.0).then(|| (ms * 1000.0).round() as i64)
}

fn ns_to_us(ns: i64) -> i64 {
    ns.div_euclid(1000)
}

/// The first of `keys` the span carries, as (rank, non-empty string value).
fn first_ranked(span: &SpanRecord, keys: &[&str]) -> Option<(usize, String)> {
    keys.iter()
        .enumerate()
        .find_map(|(rank, key)| Some((rank, value_string(span.attr(key)?)?)))
}

fn first_of<'a>(span: &'a SpanRecord, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| span.attr(k))
}

fn non_empty(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

/// Per LLM span: the `gen_ai.usage.*` pair when either is present, else `llm.token_count.*`.
/// Never both, since some instrumentations report the same call under both conventions.
/// `prompt_tokens` / `completion_tokens` are the older GenAI names for the same pair.
fn span_tokens(span: &SpanRecord) -> (Option<i64>, Option<i64>) {
    let count = |keys: &[&str]| first_of(span, keys).and_then(value_count);
    let gen_ai = (
        count(&["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]),
        count(&[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
        ]),
    );
    if gen_ai.0.is_some() || gen_ai.1.is_some() {
        gen_ai
    } else {
        (
            count(&["llm.token_count.prompt"]),
            count(&["llm.token_count.completion"]),
        )
    }
}

/// Tools sent to the model by one LLM call: `gen_ai.tool.definitions`, else the distinct `N`
/// of OpenInference's flattened `llm.tools.N.*` keys.
fn span_tools_sent(span: &SpanRecord) -> Option<i64> {
    if let Some(n) = span.attr("gen_ai.tool.definitions").and_then(array_len) {
        return Some(n);
    }
    let indices: BTreeSet<&str> = span
        .attributes
        .keys()
        .filter_map(|k| k.strip_prefix("llm.tools.")?.split('.').next())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    (!indices.is_empty()).then_some(indices.len() as i64)
}

/// A value chosen by position: the smallest (or, where stated, largest) `(at, span_id, value)`
/// wins. `at` is a span's start (or end), `span_id` breaks ties between spans starting together,
/// and `value` makes the order total so merging is commutative even for duplicate contributions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Pick<T> {
    at: i64,
    span_id: String,
    value: T,
}

/// A value chosen by key precedence first: the smallest `(rank, start, value)` wins.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Ranked {
    rank: usize,
    start_ns: i64,
    value: String,
}

impl<T> Pick<T> {
    fn at(at: i64, span: &SpanRecord, value: T) -> Option<Pick<T>> {
        Some(Pick {
            at,
            span_id: span.span_id.clone(),
            value,
        })
    }

    fn at_start(span: &SpanRecord, value: T) -> Option<Pick<T>> {
        Pick::at(span.start_ns, span, value)
    }
}

fn keep_min<T: Ord + Clone>(slot: &mut Option<T>, other: &Option<T>) {
    if let Some(o) = other {
        if slot.as_ref().is_none_or(|s| o < s) {
            *slot = Some(o.clone());
        }
    }
}

fn keep_max<T: Ord + Clone>(slot: &mut Option<T>, other: &Option<T>) {
    if let Some(o) = other {
        if slot.as_ref().is_none_or(|s| o > s) {
            *slot = Some(o.clone());
        }
    }
}

/// Sums of non-negative numbers: saturating addition stays associative there.
fn add(slot: &mut Option<i64>, other: Option<i64>) {
    if let Some(o) = other {
        *slot = Some(slot.unwrap_or(0).saturating_add(o));
    }
}

/// What the spans of one trace received so far say about its run. See the module header.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceRollup {
    trace_id: Option<String>,
    span_count: i64,
    start_ns: Option<i64>,
    end_ns: Option<i64>,
    error_spans: i64,
    /// The earliest error span that says what went wrong.
    error: Option<Pick<String>>,
    session: Option<Ranked>,
    user: Option<Ranked>,
    agent: Option<Ranked>,
    /// `service.name` of the earliest root span: the agent when no span names one.
    root_service: Option<Pick<String>>,
    /// Model of the earliest LLM span that names one.
    model: Option<Pick<String>>,
    models: BTreeSet<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cost_nanos: Option<i64>,
    /// Largest tool list any LLM call was given.
    llm_tools_sent: Option<i64>,
    /// Every tool span, in (start, span id) order.
    tools_called: Vec<Pick<String>>,
    routed: Option<Pick<bool>>,
    tokens_saved: Option<Pick<i64>>,
    gateway_tools_sent: Option<Pick<i64>>,
    tools_forwarded: Option<Pick<Vec<String>>>,
    latency_us: [Option<Pick<i64>>; 4],
    root_input: Option<Pick<String>>,
    root_output: Option<Pick<String>>,
    /// Input messages of the earliest LLM span.
    llm_input: Option<Pick<String>>,
    /// Output messages of the latest-ending LLM span (kept with [`keep_max`], `at` = end).
    llm_output: Option<Pick<String>>,
}

impl TraceRollup {
    /// The contribution of one span.
    pub fn from_span(span: &SpanRecord) -> TraceRollup {
        let start = span.start_ns;
        let pick = |value: String| Pick::at_start(span, value);
        let ranked = |keys: &[&str]| {
            first_ranked(span, keys)
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(rank, value)| Ranked {
                    rank,
                    start_ns: start,
                    value,
                })
        };
        let text = |key: &str| span.attr(key).and_then(value_string).and_then(non_empty);

        let mut r = TraceRollup {
            trace_id: Some(span.trace_id.clone()),
            span_count: 1,
            start_ns: Some(start),
            end_ns: Some(span.end_ns),
            session: ranked(&SESSION_KEYS),
            user: ranked(&USER_KEYS),
            agent: ranked(&AGENT_KEYS),
            ..Default::default()
        };
        if span.status_code == "error" {
            r.error_spans = 1;
            r.error = span
                .status_message
                .clone()
                .and_then(non_empty)
                .and_then(pick);
        }
        if span.is_root() {
            r.root_service = text("service.name").and_then(pick);
            r.root_input = text("input.value").and_then(pick);
            r.root_output = text("output.value").and_then(pick);
        }
        if span.is_llm() {
            if let Some(model) = first_of(span, &MODEL_KEYS)
                .and_then(value_string)
                .and_then(non_empty)
            {
                r.models.insert(model.clone());
                r.model = pick(model);
            }
            (r.input_tokens, r.output_tokens) = span_tokens(span);
            r.cost_nanos = first_of(span, &["gen_ai.usage.cost", "llm.cost.total"])
                .and_then(value_f64)
                .and_then(usd_to_nanos);
            r.llm_tools_sent = span_tools_sent(span);
            r.llm_input = text("gen_ai.input.messages").and_then(pick);
            r.llm_output =
                text("gen_ai.output.messages").and_then(|v| Pick::at(span.end_ns, span, v));
        }
        if span.is_tool() {
            if let Some(name) = text("gen_ai.tool.name").or_else(|| text("tool.name")) {
                r.tools_called = pick(name).into_iter().collect();
            }
        }
        // Gateway metrics: any span may carry them; the earliest one that does wins.
        let metric = |key: &str| span.attr(key);
        r.routed = metric("threadline.routed")
            .and_then(value_bool)
            .and_then(|v| Pick::at_start(span, v));
        r.tokens_saved = metric("threadline.tokens_saved")
            .and_then(value_count)
            .and_then(|v| Pick::at_start(span, v));
        r.gateway_tools_sent = metric("threadline.tools.sent")
            .and_then(value_count)
            .and_then(|v| Pick::at_start(span, v));
        r.tools_forwarded = metric("threadline.tools.forwarded")
            .and_then(value_strings)
            .and_then(|v| Pick::at_start(span, v));
        for (slot, key) in r.latency_us.iter_mut().zip(LATENCY_KEYS) {
            *slot = metric(key)
                .and_then(value_f64)
                .and_then(ms_to_us)
                .and_then(|v| Pick::at_start(span, v));
        }
        r
    }

    /// Folds `other` (spans not yet counted in `self`) into `self`.
    pub fn merge(&mut self, other: &TraceRollup) {
        keep_min(&mut self.trace_id, &other.trace_id);
        self.span_count = self.span_count.saturating_add(other.span_count);
        keep_min(&mut self.start_ns, &other.start_ns);
        keep_max(&mut self.end_ns, &other.end_ns);
        self.error_spans = self.error_spans.saturating_add(other.error_spans);
        keep_min(&mut self.error, &other.error);
        keep_min(&mut self.session, &other.session);
        keep_min(&mut self.user, &other.user);
        keep_min(&mut self.agent, &other.agent);
        keep_min(&mut self.root_service, &other.root_service);
        keep_min(&mut self.model, &other.model);
        self.models.extend(other.models.iter().cloned());
        add(&mut self.input_tokens, other.input_tokens);
        add(&mut self.output_tokens, other.output_tokens);
        add(&mut self.cost_nanos, other.cost_nanos);
        keep_max(&mut self.llm_tools_sent, &other.llm_tools_sent);
        if !other.tools_called.is_empty() {
            self.tools_called.extend(other.tools_called.iter().cloned());
            self.tools_called.sort();
        }
        keep_min(&mut self.routed, &other.routed);
        keep_min(&mut self.tokens_saved, &other.tokens_saved);
        keep_min(&mut self.gateway_tools_sent, &other.gateway_tools_sent);
        keep_min(&mut self.tools_forwarded, &other.tools_forwarded);
        for (slot, theirs) in self.latency_us.iter_mut().zip(&other.latency_us) {
            keep_min(slot, theirs);
        }
        keep_min(&mut self.root_input, &other.root_input);
        keep_min(&mut self.root_output, &other.root_output);
        keep_min(&mut self.llm_input, &other.llm_input);
        keep_max(&mut self.llm_output, &other.llm_output);
    }

    /// The run as the spans describe it (times in µs).
    pub fn to_fields(&self) -> RunFields {
        let value = |p: &Option<Pick<String>>| p.as_ref().map(|p| p.value.clone());
        let (session_source, session_id) = self.session_key().unzip();
        let mut fields = RunFields {
            session_id,
            session_source,
            user_id: self.user.as_ref().map(|u| u.value.clone()),
            agent_name: self
                .agent
                .as_ref()
                .map(|a| a.value.clone())
                .or_else(|| value(&self.root_service)),
            started_at: self.start_ns.map(ns_to_us),
            completed_at: self.end_ns.map(ns_to_us),
            failed: self.start_ns.map(|_| self.error_spans > 0),
            error: value(&self.error),
            model: value(&self.model),
            models: self.models.iter().cloned().collect(),
            routed: self.routed.as_ref().map(|p| p.value),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            tokens_saved: self.tokens_saved.as_ref().map(|p| p.value),
            cost_nanos: self.cost_nanos,
            tools_sent: self
                .gateway_tools_sent
                .as_ref()
                .map(|p| p.value)
                .or(self.llm_tools_sent),
            tools_forwarded: self.tools_forwarded.as_ref().map(|p| p.value.clone()),
            tools_called: (!self.tools_called.is_empty())
                .then(|| self.tools_called.iter().map(|p| p.value.clone()).collect()),
            latency_us: self
                .latency_us
                .each_ref()
                .map(|p| p.as_ref().map(|p| p.value)),
            trace_id: self.trace_id.clone(),
            input: value(&self.root_input).or_else(|| value(&self.llm_input)),
            output: value(&self.root_output).or_else(|| value(&self.llm_output)),
            ..Default::default()
        };
        fields.scrub_nul();
        fields
    }

    /// The session key that matched and its value, e.g. `("gen_ai.conversation.id", "c-1")`.
    pub fn session_key(&self) -> Option<(String, String)> {
        let s = self.session.as_ref()?;
        Some((SESSION_KEYS.get(s.rank)?.to_string(), s.value.clone()))
    }

    pub fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }

    /// Spans folded in so far.
    pub fn span_count(&self) -> i64 {
        self.span_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::otlp::decode::{decode_request, Encoding};
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Status};
    use proptest::prelude::*;
    use prost::Message;
    use serde_json::json;

    const TRACE: &str = "5b8efff798038103d269b633813fc60c";

    fn kv(key: &str, v: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
            key_strindex: 0,
        }
    }

    fn s(v: &str) -> any_value::Value {
        any_value::Value::StringValue(v.into())
    }

    fn proto_span(trace: &[u8], id: &[u8], start: u64, end: u64, attrs: Vec<KeyValue>) -> Span {
        Span {
            trace_id: trace.to_vec(),
            span_id: id.to_vec(),
            name: "s".into(),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes: attrs,
            ..Default::default()
        }
    }

    fn request(resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// A span record built directly, as the store would load it back.
    fn rec(id: u64, parent: Option<u64>, start: i64, end: i64, attrs: Value) -> SpanRecord {
        let mut r = SpanRecord {
            trace_id: TRACE.into(),
            span_id: format!("{id:016x}"),
            parent_span_id: parent.map(|p| format!("{p:016x}")),
            name: format!("span {id}"),
            kind: "internal".into(),
            category: String::new(),
            start_ns: start,
            end_ns: end,
            status_code: "unset".into(),
            status_message: None,
            attributes: attrs.as_object().cloned().unwrap_or_default(),
            resource: Map::new(),
            scope: None,
            events: vec![],
        };
        r.category = r.classify().into();
        r
    }

    fn with_resource(mut r: SpanRecord, resource: Value) -> SpanRecord {
        r.resource = resource.as_object().cloned().unwrap_or_default();
        r.category = r.classify().into();
        r
    }

    fn failed(mut r: SpanRecord, message: Option<&str>) -> SpanRecord {
        r.status_code = "error".into();
        r.status_message = message.map(String::from);
        r
    }

    fn rollup(spans: &[SpanRecord]) -> TraceRollup {
        let mut acc = TraceRollup::default();
        for span in spans {
            acc.merge(&TraceRollup::from_span(span));
        }
        acc
    }

    fn fields(spans: &[SpanRecord]) -> RunFields {
        rollup(spans).to_fields()
    }

    // ---- decoding both encodings ----

    const ROOT_ID: &str = "eee19b7ec3c1b174";
    const CHILD_ID: &str = "1111111111111111";

    fn example_proto() -> ExportTraceServiceRequest {
        let trace = hex::decode(TRACE).unwrap();
        let root = Span {
            name: "agent run".into(),
            kind: SpanKind::Server as i32,
            status: Some(Status {
                code: StatusCode::Ok as i32,
                message: String::new(),
            }),
            events: vec![Event {
                time_unix_nano: 1_700_000_000_100_000_000,
                name: "start".into(),
                attributes: vec![kv("n", any_value::Value::IntValue(1))],
                dropped_attributes_count: 0,
            }],
            ..proto_span(
                &trace,
                &hex::decode(ROOT_ID).unwrap(),
                1_700_000_000_000_000_000,
                1_700_000_002_500_000_000,
                vec![
                    kv("session.id", s("conv-42")),
                    kv("input.value", s("hello")),
                    kv("retries", any_value::Value::IntValue(3)),
                    kv("temperature", any_value::Value::DoubleValue(0.5)),
                    kv("stream", any_value::Value::BoolValue(true)),
                    kv(
                        "tags",
                        any_value::Value::ArrayValue(ArrayValue {
                            values: vec![
                                AnyValue {
                                    value: Some(s("a")),
                                },
                                AnyValue {
                                    value: Some(s("b")),
                                },
                            ],
                        }),
                    ),
                    kv(
                        "meta",
                        any_value::Value::KvlistValue(KeyValueList {
                            values: vec![kv("k", s("v"))],
                        }),
                    ),
                ],
            )
        };
        let child = Span {
            name: "chat gpt-4o".into(),
            kind: SpanKind::Client as i32,
            parent_span_id: hex::decode(ROOT_ID).unwrap(),
            status: Some(Status {
                code: StatusCode::Error as i32,
                message: "rate limited".into(),
            }),
            ..proto_span(
                &trace,
                &hex::decode(CHILD_ID).unwrap(),
                1_700_000_000_001_000_000,
                1_700_000_002_000_000_000,
                vec![
                    kv("gen_ai.operation.name", s("chat")),
                    kv("gen_ai.request.model", s("gpt-4o")),
                    kv("gen_ai.usage.input_tokens", any_value::Value::IntValue(120)),
                    kv("gen_ai.usage.output_tokens", any_value::Value::IntValue(30)),
                ],
            )
        };
        let mut req = request(
            vec![
                kv("service.name", s("support-bot")),
                kv("deployment.environment", s("prod")),
            ],
            vec![root, child],
        );
        req.resource_spans[0].scope_spans[0].scope = Some(InstrumentationScope {
            name: "openinference.instrumentation".into(),
            version: "1.0".into(),
            ..Default::default()
        });
        req
    }

    /// The same request as an OTLP JSON exporter writes it.
    const EXAMPLE_JSON: &str = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [
          {"key": "service.name", "value": {"stringValue": "support-bot"}},
          {"key": "deployment.environment", "value": {"stringValue": "prod"}}
        ]},
        "scopeSpans": [{
          "scope": {"name": "openinference.instrumentation", "version": "1.0"},
          "spans": [
            {
              "traceId": "5b8efff798038103d269b633813fc60c",
              "spanId": "eee19b7ec3c1b174",
              "parentSpanId": "",
              "name": "agent run",
              "kind": 2,
              "startTimeUnixNano": "1700000000000000000",
              "endTimeUnixNano": "1700000002500000000",
              "attributes": [
                {"key": "session.id", "value": {"stringValue": "conv-42"}},
                {"key": "input.value", "value": {"stringValue": "hello"}},
                {"key": "retries", "value": {"intValue": "3"}},
                {"key": "temperature", "value": {"doubleValue": 0.5}},
                {"key": "stream", "value": {"boolValue": true}},
                {"key": "tags", "value": {"arrayValue": {"values": [
                  {"stringValue": "a"}, {"stringValue": "b"}
                ]}}},
                {"key": "meta", "value": {"kvlistValue": {"values": [
                  {"key": "k", "value": {"stringValue": "v"}}
                ]}}}
              ],
              "events": [{
                "timeUnixNano": "1700000000100000000",
                "name": "start",
                "attributes": [{"key": "n", "value": {"intValue": "1"}}]
              }],
              "status": {"code": 1}
            },
            {
              "traceId": "5b8efff798038103d269b633813fc60c",
              "spanId": "1111111111111111",
              "parentSpanId": "eee19b7ec3c1b174",
              "name": "chat gpt-4o",
              "kind": 3,
              "startTimeUnixNano": "1700000000001000000",
              "endTimeUnixNano": "1700000002000000000",
              "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "120"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 30}}
              ],
              "status": {"code": 2, "message": "rate limited"}
            }
          ]
        }]
      }]
    }"#;

    #[test]
    fn json_and_protobuf_bodies_give_the_same_spans() {
        let proto_body = example_proto().encode_to_vec();
        let from_proto = flatten(decode_request(&proto_body, Encoding::Protobuf).unwrap());
        let from_json = flatten(decode_request(EXAMPLE_JSON.as_bytes(), Encoding::Json).unwrap());
        assert_eq!(from_proto, from_json);
        assert_eq!((from_json.spans.len(), from_json.rejected), (2, 0));

        let root = &from_json.spans[0];
        assert_eq!(
            (root.trace_id.as_str(), root.span_id.as_str()),
            (TRACE, ROOT_ID)
        );
        assert_eq!(root.parent_span_id, None);
        assert_eq!(
            (root.kind.as_str(), root.category.as_str()),
            ("server", "agent")
        );
        assert_eq!(
            (root.status_code.as_str(), root.status_message.as_deref()),
            ("ok", None)
        );
        assert_eq!(root.start_ns, 1_700_000_000_000_000_000);
        assert_eq!(root.attributes["retries"], json!(3));
        assert_eq!(root.attributes["temperature"], json!(0.5));
        assert_eq!(root.attributes["stream"], json!(true));
        assert_eq!(root.attributes["tags"], json!(["a", "b"]));
        assert_eq!(root.attributes["meta"], json!({"k": "v"}));
        assert_eq!(root.resource["service.name"], json!("support-bot"));
        assert_eq!(root.scope.as_deref(), Some("openinference.instrumentation"));
        assert_eq!(
            root.events,
            vec![
                json!({"name": "start", "time_ns": 1_700_000_000_100_000_000i64, "attributes": {"n": 1}})
            ]
        );

        let child = &from_json.spans[1];
        assert_eq!(child.parent_span_id.as_deref(), Some(ROOT_ID));
        assert_eq!(
            (child.kind.as_str(), child.category.as_str()),
            ("client", "llm")
        );
        assert_eq!(child.status_code, "error");
        assert_eq!(child.status_message.as_deref(), Some("rate limited"));

        let run = fields(&from_json.spans);
        assert_eq!(run.trace_id.as_deref(), Some(TRACE));
        assert_eq!(run.started_at, Some(1_700_000_000_000_000));
        assert_eq!(run.completed_at, Some(1_700_000_002_500_000));
        assert_eq!(run.session_id.as_deref(), Some("conv-42"));
        assert_eq!(run.session_source.as_deref(), Some("session.id"));
        assert_eq!(run.agent_name.as_deref(), Some("support-bot"));
        assert_eq!(run.model.as_deref(), Some("gpt-4o"));
        assert_eq!((run.input_tokens, run.output_tokens), (Some(120), Some(30)));
        assert_eq!(
            (run.failed, run.error.as_deref()),
            (Some(true), Some("rate limited"))
        );
        assert_eq!(run.input.as_deref(), Some("hello"));
    }

    // ---- rejections ----

    #[test]
    fn values_beyond_the_limits_reject_their_span_only() {
        let limits = ValueLimits {
            max_value_bytes: 40,
            max_session_id_chars: 5,
        };
        let trace = [7u8; 16];
        let big = s(&"x".repeat(40));
        let mut with_event = proto_span(&trace, &[5; 8], 10, 20, vec![]);
        with_event.events = vec![Event {
            name: "e".repeat(50),
            ..Default::default()
        }];
        let mut long_name = proto_span(&trace, &[6; 8], 10, 20, vec![]);
        long_name.name = "n".repeat(41);
        let req = request(
            vec![],
            vec![
                proto_span(&trace, &[1; 8], 10, 20, vec![kv("a", s(&"x".repeat(30)))]),
                proto_span(
                    &trace,
                    &[2; 8],
                    10,
                    20,
                    vec![kv("input.value", big.clone())],
                ),
                proto_span(&trace, &[3; 8], 10, 20, vec![kv("session.id", s("abcdef"))]),
                proto_span(&trace, &[4; 8], 10, 20, vec![kv("session.id", s("abcde"))]),
                with_event,
                long_name,
            ],
        );
        let out = flatten_with(req, &limits);
        let kept: Vec<&str> = out.spans.iter().map(|s| s.span_id.as_str()).collect();
        assert_eq!(kept, ["0101010101010101", "0404040404040404"]);
        assert_eq!(out.rejected, 4);
        assert!(
            out.reasons[0].contains("span attribute `input.value` is 53 bytes; the limit is 40"),
            "{:?}",
            out.reasons
        );
        assert!(out.reasons[1].contains("session id is 6 characters long; the limit is 5"));
        assert!(out.reasons[2].starts_with("span event is"));
        assert!(out.reasons[3].starts_with("span name is 41 bytes"));

        // An oversized resource attribute rejects every span under it.
        let req = request(
            vec![kv("service.name", big)],
            vec![proto_span(&trace, &[1; 8], 10, 20, vec![])],
        );
        let out = flatten_with(req, &limits);
        assert_eq!((out.spans.len(), out.rejected), (0, 1));
        assert!(out.reasons[0].starts_with("resource attribute `service.name`"));
    }

    #[test]
    fn numbers_and_names_beyond_the_native_bounds_reject_their_span() {
        use any_value::Value as V;
        let trace = [7u8; 16];
        let llm = |id: u8, extra: Vec<KeyValue>| {
            let mut attrs = vec![kv("gen_ai.operation.name", s("chat"))];
            attrs.extend(extra);
            proto_span(&trace, &[id; 8], 10, 20, attrs)
        };
        let tool = |id: u8, name: &str| {
            proto_span(
                &trace,
                &[id; 8],
                10,
                20,
                vec![
                    kv("gen_ai.operation.name", s("execute_tool")),
                    kv("gen_ai.tool.name", s(name)),
                ],
            )
        };
        let year_ns = 366 * 86_400 * 1_000_000_000u64;
        let cases: Vec<(Span, &str)> = vec![
            (
                llm(
                    1,
                    vec![kv("gen_ai.usage.input_tokens", V::IntValue(i64::MAX))],
                ),
                "the input token count is more than 1000000000000",
            ),
            (
                llm(2, vec![kv("llm.token_count.completion", s("1e30"))]),
                "the output token count",
            ),
            (
                llm(3, vec![kv("gen_ai.usage.cost", V::DoubleValue(1e11))]),
                "`gen_ai.usage.cost` is more than 1000000",
            ),
            (
                llm(4, vec![kv("gen_ai.request.model", s(&"m".repeat(257)))]),
                "`gen_ai.request.model` is longer than 256 characters",
            ),
            (
                proto_span(
                    &trace,
                    &[5; 8],
                    10,
                    20,
                    vec![kv("user.id", s(&"u".repeat(20_000)))],
                ),
                "`user.id` is longer than 256",
            ),
            (
                proto_span(
                    &trace,
                    &[6; 8],
                    10,
                    20,
                    vec![kv("gen_ai.agent.name", s(&"a".repeat(129)))],
                ),
                "`gen_ai.agent.name` is longer than 128",
            ),
            (tool(7, &"t".repeat(257)), "`gen_ai.tool.name` is longer"),
            (
                proto_span(
                    &trace,
                    &[8; 8],
                    10,
                    20,
                    vec![kv(
                        "threadline.tools.forwarded",
                        s(&format!("a,{}", "b".repeat(300))),
                    )],
                ),
                "a name in `threadline.tools.forwarded`",
            ),
            (
                proto_span(
                    &trace,
                    &[9; 8],
                    10,
                    20,
                    vec![kv("threadline.tokens_saved", V::DoubleValue(1e19))],
                ),
                "`threadline.tokens_saved` is more than",
            ),
            (
                proto_span(
                    &trace,
                    &[10; 8],
                    10,
                    20,
                    vec![kv("threadline.latency.upstream_ms", V::DoubleValue(1e11))],
                ),
                "`threadline.latency.upstream_ms` is more than",
            ),
            (
                proto_span(&trace, &[11; 8], 10, 10 + year_ns + 1, vec![]),
                "span lasts more than a year",
            ),
        ];
        for (span, reason) in cases {
            let out = flatten(request(vec![], vec![span]));
            assert_eq!((out.spans.len(), out.rejected), (0, 1), "{reason}");
            assert!(out.reasons[0].contains(reason), "{:?}", out.reasons);
        }
        // A root span's service.name is its run's agent when none is named: the same bound.
        let out = flatten(request(
            vec![kv("service.name", s(&"s".repeat(129)))],
            vec![proto_span(&trace, &[1; 8], 10, 20, vec![])],
        ));
        assert_eq!(out.rejected, 1, "{:?}", out.reasons);
        // At the bounds, and with long names where they are not used (a model on a tool span):
        // kept.
        let out = flatten(request(
            vec![],
            vec![
                llm(
                    1,
                    vec![
                        kv("gen_ai.usage.input_tokens", V::IntValue(1_000_000_000_000)),
                        kv("gen_ai.usage.cost", V::DoubleValue(1e6)),
                        kv("gen_ai.request.model", s(&"é".repeat(256))),
                        kv("user.id", s(&"u".repeat(256))),
                    ],
                ),
                tool(2, &"t".repeat(256)),
                proto_span(&trace, &[3; 8], 10, 10 + year_ns, vec![]),
                proto_span(
                    &trace,
                    &[4; 8],
                    10,
                    20,
                    vec![
                        kv("gen_ai.operation.name", s("execute_tool")),
                        kv("gen_ai.request.model", s(&"m".repeat(300))),
                    ],
                ),
            ],
        ));
        assert_eq!((out.spans.len(), out.rejected), (4, 0), "{:?}", out.reasons);
        let run = fields(&out.spans);
        assert_eq!(run.input_tokens, Some(1_000_000_000_000));
        assert_eq!(run.cost_nanos, Some(1_000_000_000_000_000));
    }

    #[test]
    fn distinct_reasons_are_capped() {
        let trace = [7u8; 16];
        let spans = (1..=100u8)
            .map(|i| {
                let id = "x".repeat(200 + i as usize);
                proto_span(&trace, &[i; 8], 10, 20, vec![kv("session.id", s(&id))])
            })
            .collect();
        let out = flatten(request(vec![], spans));
        assert_eq!(out.rejected, 100);
        assert_eq!(out.reasons.len(), MAX_REASONS);
    }

    #[test]
    fn invalid_spans_are_rejected_with_each_reason_once() {
        let trace = [7u8; 16];
        let ok = |id: u8| proto_span(&trace, &[id; 8], 10, 20, vec![]);
        let long = "x".repeat(201);
        let req = request(
            vec![],
            vec![
                proto_span(&[7; 8], &[1; 8], 10, 20, vec![]),
                proto_span(&[0; 16], &[2; 8], 10, 20, vec![]),
                proto_span(&trace, &[0; 8], 10, 20, vec![]),
                proto_span(&trace, &[4; 7], 10, 20, vec![]),
                proto_span(&trace, &[5; 8], 20, 10, vec![]),
                proto_span(&trace, &[6; 8], 0, 10, vec![]),
                proto_span(&trace, &[8; 8], 10, 20, vec![kv("session.id", s(&long))]),
                proto_span(&trace, &[9; 8], 10, 20, vec![kv("thread_id", s("a\nb"))]),
                proto_span(
                    &trace,
                    &[10; 8],
                    10,
                    20,
                    vec![kv("gen_ai.conversation.id", s(""))],
                ),
                Span {
                    parent_span_id: vec![1; 3],
                    ..ok(11)
                },
                proto_span(&trace, &[12; 8], u64::MAX, u64::MAX, vec![]),
                ok(13),
                Span {
                    parent_span_id: vec![0; 8],
                    ..ok(14)
                },
            ],
        );
        let out = flatten(req);
        assert_eq!(out.rejected, 11);
        let kept: Vec<_> = out
            .spans
            .iter()
            .map(|s| (s.span_id.as_str(), s.is_root()))
            .collect();
        assert_eq!(
            kept,
            vec![("0d0d0d0d0d0d0d0d", true), ("0e0e0e0e0e0e0e0e", true)]
        );
        let has = |needle: &str| out.reasons.iter().filter(|r| r.contains(needle)).count();
        assert_eq!(has("invalid trace id"), 1);
        assert_eq!(has("invalid span id"), 1);
        assert_eq!(has("before its start"), 1);
        assert_eq!(has("missing span start"), 1);
        assert_eq!(
            has("invalid session id in `session.id`: session id is 201 characters"),
            1
        );
        assert_eq!(has("invalid session id in `thread_id`"), 1);
        assert_eq!(has("invalid session id in `gen_ai.conversation.id`"), 1);
        assert_eq!(has("invalid parent span id"), 1);
        assert_eq!(has("out of range"), 1);
        assert_eq!(out.reasons.len(), 9);
        assert_eq!(out.message(), out.reasons.join("; "));
    }

    #[test]
    fn malformed_json_ids_reject_only_their_span() {
        let body = br#"{"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "zz", "spanId": "1111111111111111", "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "2222222222222222",
             "startTimeUnixNano": "1", "endTimeUnixNano": "2"}
        ]}]}]}"#;
        let out = flatten(decode_request(body, Encoding::Json).unwrap());
        assert_eq!((out.spans.len(), out.rejected), (1, 1));
        assert!(out.reasons[0].contains("invalid trace id"));
    }

    // ---- session, user, agent ----

    #[test]
    fn every_session_convention_is_found_with_its_key_as_source() {
        for (rank, key) in SESSION_KEYS.iter().enumerate() {
            let value = format!("s-{rank}");
            let r = rollup(&[rec(1, None, 10, 20, json!({ *key: value }))]);
            assert_eq!(r.session_key(), Some((key.to_string(), value.clone())));
            let f = r.to_fields();
            assert_eq!(f.session_id, Some(value));
            assert_eq!(f.session_source.as_deref(), Some(*key));
            // The same key on the resource works too.
            let on_resource = with_resource(rec(1, None, 10, 20, json!({})), json!({ *key: "r" }));
            assert_eq!(
                rollup(&[on_resource]).session_key(),
                Some((key.to_string(), "r".into()))
            );
        }
        let int_id = rollup(&[rec(1, None, 10, 20, json!({"thread_id": 42}))]);
        assert_eq!(
            int_id.session_key(),
            Some(("thread_id".into(), "42".into()))
        );
        assert_eq!(
            rollup(&[rec(1, None, 10, 20, json!({"other": "x"}))]).session_key(),
            None
        );
    }

    #[test]
    fn span_attributes_beat_resource_and_rank_beats_position() {
        let span_wins = with_resource(
            rec(1, None, 10, 20, json!({"session.id": "from-span"})),
            json!({"session.id": "from-resource"}),
        );
        assert_eq!(rollup(&[span_wins]).session_key().unwrap().1, "from-span");

        // Within a span, key precedence decides, wherever the key was found.
        let ranked = with_resource(
            rec(
                1,
                None,
                10,
                20,
                json!({"gen_ai.conversation.id": "conv", "langsmith.metadata.thread_id": "z"}),
            ),
            json!({"session.id": "sess"}),
        );
        assert_eq!(
            rollup(&[ranked]).session_key(),
            Some(("session.id".into(), "sess".into()))
        );
        let two_on_span = rec(
            1,
            None,
            10,
            20,
            json!({"langsmith.metadata.thread_id": "z", "langfuse.session.id": "y"}),
        );
        assert_eq!(
            rollup(&[two_on_span]).session_key().unwrap().0,
            "langfuse.session.id"
        );

        // Across spans: the better-ranked key wins even on a later span; equal ranks go to the
        // earliest span.
        let early = rec(
            1,
            Some(9),
            10,
            20,
            json!({"gen_ai.conversation.id": "early"}),
        );
        let late = rec(2, Some(9), 50, 60, json!({"session.id": "late"}));
        let later = rec(3, Some(9), 70, 80, json!({"session.id": "later"}));
        for spans in [
            vec![early.clone(), late.clone(), later.clone()],
            vec![later.clone(), late.clone(), early.clone()],
        ] {
            assert_eq!(
                rollup(&spans).session_key(),
                Some(("session.id".into(), "late".into()))
            );
        }
    }

    #[test]
    fn user_and_agent_follow_their_precedence() {
        let spans = [
            rec(1, None, 10, 90, json!({})),
            rec(
                2,
                Some(1),
                20,
                30,
                json!({"enduser.id": "e", "agent.name": "planner"}),
            ),
            rec(
                3,
                Some(1),
                40,
                50,
                json!({"user.id": "u", "gen_ai.agent.name": "writer"}),
            ),
        ];
        let f = fields(&spans);
        assert_eq!(f.user_id.as_deref(), Some("u"));
        assert_eq!(f.agent_name.as_deref(), Some("writer"));
        let by_user = fields(&[rec(1, None, 10, 20, json!({"langfuse.user.id": "lf"}))]);
        assert_eq!(by_user.user_id.as_deref(), Some("lf"));
    }

    #[test]
    fn agent_falls_back_to_the_root_spans_service_name() {
        let root = with_resource(
            rec(1, None, 10, 90, json!({})),
            json!({"service.name": "root-svc"}),
        );
        let child = with_resource(
            rec(2, Some(1), 5, 30, json!({})),
            json!({"service.name": "child-svc"}),
        );
        assert_eq!(
            fields(&[child.clone(), root.clone()]).agent_name.as_deref(),
            Some("root-svc")
        );
        // Without the root span yet, no guess from other spans.
        assert_eq!(fields(&[child]).agent_name, None);
        let named = rec(3, Some(1), 40, 50, json!({"agent.name": "named"}));
        assert_eq!(fields(&[root, named]).agent_name.as_deref(), Some("named"));
    }

    // ---- LLM spans ----

    #[test]
    fn token_pairs_are_never_added_together() {
        let both = rec(
            1,
            Some(9),
            10,
            20,
            json!({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5,
                   "llm.token_count.prompt": 10, "llm.token_count.completion": 5}),
        );
        let f = fields(std::slice::from_ref(&both));
        assert_eq!((f.input_tokens, f.output_tokens), (Some(10), Some(5)));

        let openinference = rec(
            2,
            Some(9),
            30,
            40,
            json!({"openinference.span.kind": "LLM", "llm.token_count.prompt": "7", "llm.token_count.completion": 3.0}),
        );
        let f = fields(&[both.clone(), openinference.clone()]);
        assert_eq!((f.input_tokens, f.output_tokens), (Some(17), Some(8)));

        // The gen_ai pair is chosen as a pair: its missing half is not taken from the other.
        let half = rec(
            3,
            Some(9),
            50,
            60,
            json!({"gen_ai.operation.name": "text_completion", "gen_ai.usage.input_tokens": 4, "llm.token_count.completion": 99}),
        );
        let f = fields(std::slice::from_ref(&half));
        assert_eq!((f.input_tokens, f.output_tokens), (Some(4), None));

        // Tokens on spans that are not LLM calls (e.g. an agent span's own totals) are ignored.
        let agent = rec(4, None, 0, 100, json!({"gen_ai.usage.input_tokens": 1000}));
        let f = fields(&[agent.clone(), both]);
        assert_eq!(f.input_tokens, Some(10));
        assert_eq!(fields(&[agent]).input_tokens, None);
    }

    #[test]
    fn cost_is_summed_in_nanos() {
        let spans = [
            rec(
                1,
                Some(9),
                10,
                20,
                json!({"gen_ai.operation.name": "chat", "gen_ai.usage.cost": 0.0015}),
            ),
            rec(
                2,
                Some(9),
                30,
                40,
                json!({"openinference.span.kind": "LLM", "llm.cost.total": "0.002"}),
            ),
            rec(
                3,
                Some(9),
                50,
                60,
                json!({"gen_ai.operation.name": "chat", "gen_ai.usage.cost": -1.0}),
            ),
        ];
        assert_eq!(fields(&spans).cost_nanos, Some(3_500_000));
        assert_eq!(fields(&spans[2..]).cost_nanos, None);
    }

    #[test]
    fn models_come_from_llm_spans() {
        let spans = [
            rec(
                1,
                Some(9),
                30,
                40,
                json!({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}),
            ),
            rec(
                2,
                Some(9),
                10,
                20,
                json!({"gen_ai.operation.name": "generate_content", "gen_ai.request.model": "gemini",
                       "gen_ai.response.model": "gemini-2.0-flash-001"}),
            ),
            rec(
                3,
                Some(9),
                50,
                60,
                json!({"openinference.span.kind": "LLM", "llm.model_name": "claude"}),
            ),
            rec(
                4,
                Some(9),
                0,
                5,
                json!({"gen_ai.request.model": "not-an-llm-span"}),
            ),
        ];
        let f = fields(&spans);
        assert_eq!(f.model.as_deref(), Some("gemini-2.0-flash-001"));
        assert_eq!(f.models, vec!["claude", "gemini-2.0-flash-001", "gpt-4o"]);
    }

    #[test]
    fn tools_sent_are_counted_both_ways_and_the_gateway_overrides() {
        let defs = json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]).to_string();
        let as_string = rec(
            1,
            Some(9),
            10,
            20,
            json!({"gen_ai.operation.name": "chat", "gen_ai.tool.definitions": defs}),
        );
        let as_array = rec(
            2,
            Some(9),
            30,
            40,
            json!({"gen_ai.operation.name": "chat", "gen_ai.tool.definitions": [{"name": "a"}, {"name": "b"}]}),
        );
        let flattened = rec(
            3,
            Some(9),
            50,
            60,
            json!({"openinference.span.kind": "LLM", "llm.tools.0.tool.json_schema": "{}",
                   "llm.tools.1.tool.json_schema": "{}", "llm.tools.1.tool.name": "b"}),
        );
        assert_eq!(fields(std::slice::from_ref(&as_string)).tools_sent, Some(3));
        assert_eq!(fields(std::slice::from_ref(&as_array)).tools_sent, Some(2));
        assert_eq!(fields(std::slice::from_ref(&flattened)).tools_sent, Some(2));
        assert_eq!(
            fields(&[as_array.clone(), as_string.clone(), flattened]).tools_sent,
            Some(3)
        );
        let gateway = rec(4, None, 0, 100, json!({"threadline.tools.sent": 9}));
        assert_eq!(fields(&[as_string, gateway]).tools_sent, Some(9));
    }

    #[test]
    fn tool_spans_are_listed_in_start_order_with_repeats() {
        let spans = [
            rec(
                5,
                Some(9),
                30,
                40,
                json!({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}),
            ),
            rec(
                4,
                Some(9),
                10,
                20,
                json!({"openinference.span.kind": "TOOL", "tool.name": "fetch"}),
            ),
            rec(
                3,
                Some(9),
                20,
                25,
                json!({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}),
            ),
            // Same start: span id decides.
            rec(
                2,
                Some(9),
                30,
                31,
                json!({"gen_ai.operation.name": "execute_tool", "tool.name": "calc"}),
            ),
            rec(
                1,
                Some(9),
                0,
                1,
                json!({"gen_ai.operation.name": "execute_tool"}),
            ),
        ];
        let f = fields(&spans);
        assert_eq!(
            f.tools_called,
            Some(vec![
                "fetch".into(),
                "search".into(),
                "calc".into(),
                "search".into()
            ])
        );
        assert_eq!(spans[0].category, "tool");
        assert_eq!(fields(&spans[4..]).tools_called, None);
    }

    #[test]
    fn gateway_metrics_take_the_earliest_span_carrying_each() {
        let late = rec(
            1,
            None,
            5,
            500,
            json!({"threadline.routed": true, "threadline.tokens_saved": "120",
                   "threadline.tools.forwarded": ["search", "calc"],
                   "threadline.latency.dedup_ms": 1.5, "threadline.latency.upstream_ms": 200}),
        );
        let early = rec(
            2,
            Some(1),
            1,
            300,
            json!({"threadline.routed": "false", "threadline.latency.upstream_ms": "100",
                   "threadline.latency.compression_ms": 2, "threadline.latency.tool_routing_ms": 0.25}),
        );
        for spans in [[late.clone(), early.clone()], [early.clone(), late.clone()]] {
            let f = fields(&spans);
            assert_eq!(f.routed, Some(false));
            assert_eq!(f.tokens_saved, Some(120));
            assert_eq!(
                f.tools_forwarded,
                Some(vec!["search".into(), "calc".into()])
            );
            assert_eq!(
                f.latency_us,
                [Some(1500), Some(2000), Some(250), Some(100_000)]
            );
        }
        let json_list = rec(
            3,
            None,
            1,
            2,
            json!({"threadline.tools.forwarded": "[\"a\"]"}),
        );
        assert_eq!(fields(&[json_list]).tools_forwarded, Some(vec!["a".into()]));
        assert_eq!(
            fields(&[rec(3, None, 1, 2, json!({}))]).latency_us,
            [None; 4]
        );
    }

    #[test]
    fn previews_prefer_the_root_then_llm_messages() {
        let root = rec(
            1,
            None,
            0,
            100,
            json!({"input.value": "question", "output.value": "answer"}),
        );
        let first_llm = rec(
            2,
            Some(1),
            10,
            50,
            json!({"gen_ai.operation.name": "chat",
                   "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "q"}]}],
                   "gen_ai.output.messages": "first out"}),
        );
        let last_llm = rec(
            3,
            Some(1),
            20,
            90,
            json!({"gen_ai.operation.name": "chat", "gen_ai.input.messages": "second in",
                   "gen_ai.output.messages": "[{\"role\":\"assistant\"}]"}),
        );
        let f = fields(&[last_llm.clone(), first_llm.clone(), root]);
        assert_eq!(
            (f.input.as_deref(), f.output.as_deref()),
            (Some("question"), Some("answer"))
        );

        let f = fields(&[last_llm, first_llm]);
        // Structured messages are kept as their JSON text (key order is serde_json's).
        let input: Value = serde_json::from_str(f.input.as_deref().unwrap()).unwrap();
        assert_eq!(
            input,
            json!([{"role": "user", "parts": [{"type": "text", "content": "q"}]}])
        );
        assert_eq!(f.output.as_deref(), Some(r#"[{"role":"assistant"}]"#));
    }

    #[test]
    fn any_error_span_fails_the_run_with_the_earliest_message() {
        let ok = rec(1, None, 0, 100, json!({}));
        assert_eq!(
            (
                fields(std::slice::from_ref(&ok)).failed,
                fields(std::slice::from_ref(&ok)).error
            ),
            (Some(false), None)
        );
        let spans = [
            ok,
            failed(rec(2, Some(1), 40, 50, json!({})), Some("second")),
            failed(rec(3, Some(1), 10, 20, json!({})), Some("first")),
            failed(rec(4, Some(1), 5, 8, json!({})), None),
        ];
        let f = fields(&spans);
        assert_eq!((f.failed, f.error.as_deref()), (Some(true), Some("first")));
        let silent = fields(&spans[3..]);
        assert_eq!((silent.failed, silent.error), (Some(true), None));
    }

    #[test]
    fn categories_follow_the_conventions() {
        let cat = |parent: Option<u64>, attrs: Value| rec(1, parent, 0, 1, attrs).category;
        assert_eq!(
            cat(Some(9), json!({"gen_ai.operation.name": "chat"})),
            "llm"
        );
        assert_eq!(cat(None, json!({"openinference.span.kind": "LLM"})), "llm");
        assert_eq!(
            cat(Some(9), json!({"gen_ai.operation.name": "execute_tool"})),
            "tool"
        );
        assert_eq!(
            cat(Some(9), json!({"gen_ai.operation.name": "invoke_agent"})),
            "agent"
        );
        assert_eq!(
            cat(Some(9), json!({"openinference.span.kind": "CHAIN"})),
            "agent"
        );
        assert_eq!(cat(None, json!({})), "agent");
        assert_eq!(
            cat(Some(9), json!({"openinference.span.kind": "RETRIEVER"})),
            "other"
        );
    }

    #[test]
    fn times_are_microseconds_and_the_rollup_survives_json() {
        let spans = [
            rec(1, None, 1_500_999, 9_000_001, json!({})),
            rec(2, Some(1), 2_000_000, 3_000_000, json!({})),
        ];
        let r = rollup(&spans);
        assert_eq!(r.span_count(), 2);
        assert_eq!(r.trace_id(), Some(TRACE));
        let f = r.to_fields();
        assert_eq!((f.started_at, f.completed_at), (Some(1_500), Some(9_000)));
        let back: TraceRollup = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(TraceRollup::default().to_fields(), RunFields::default());
    }

    // ---- merge order independence ----

    /// (rank in a key list, value variant).
    type Keyed = Option<(usize, u8)>;
    /// model, the four token attributes, cost (milli-USD), tool definitions, `llm.tools.N`.
    type Llm = (
        Option<u8>,
        [Option<i64>; 4],
        Option<u16>,
        Option<u8>,
        Option<u8>,
    );
    /// routed, tokens saved, tools sent, tools forwarded, dedup and upstream latency.
    type Gateway = (
        Option<bool>,
        Option<u16>,
        Option<u8>,
        Option<u8>,
        [Option<u16>; 2],
    );

    /// The random ingredients of one span.
    #[derive(Clone, Debug)]
    struct Spec {
        start: i64,
        dur: i64,
        root: bool,
        flavor: u8,
        error: Option<Option<u8>>,
        ids: (Keyed, Keyed, Option<u8>),
        llm: Llm,
        gateway: Gateway,
        text: (Option<u8>, Option<u8>),
    }

    fn opt<T: Strategy>(s: T) -> impl Strategy<Value = Option<T::Value>> {
        proptest::option::of(s)
    }

    fn arb_spec() -> impl Strategy<Value = Spec> {
        (
            (
                0i64..20,
                0i64..20,
                prop::bool::weighted(0.2),
                0u8..4,
                opt(opt(0u8..3)),
            ),
            (
                opt((0usize..10, 0u8..3)),
                opt((0usize..3, 0u8..3)),
                opt(0u8..3),
            ),
            (
                opt(0u8..3),
                [opt(0i64..50), opt(0i64..50), opt(0i64..50), opt(0i64..50)],
                opt(0u16..999),
                opt(0u8..5),
                opt(0u8..5),
            ),
            (
                opt(any::<bool>()),
                opt(0u16..500),
                opt(0u8..9),
                opt(0u8..3),
                [opt(0u16..300), opt(0u16..300)],
            ),
            (opt(0u8..3), opt(0u8..3)),
        )
            .prop_map(
                |((start, dur, root, flavor, error), ids, llm, gateway, text)| Spec {
                    start,
                    dur,
                    root,
                    flavor,
                    error,
                    ids,
                    llm,
                    gateway,
                    text,
                },
            )
    }

    fn spec_record(i: usize, spec: &Spec) -> SpanRecord {
        let mut a = Map::new();
        let mut put = |k: &str, v: Value| {
            a.insert(k.to_string(), v);
        };
        match spec.flavor {
            0 => put("gen_ai.operation.name", json!("chat")),
            1 => put("openinference.span.kind", json!("LLM")),
            2 => put("gen_ai.operation.name", json!("execute_tool")),
            _ => {}
        }
        if let Some((rank, v)) = spec.ids.0 {
            put(SESSION_KEYS[rank], json!(format!("s{v}")));
        }
        if let Some((rank, v)) = spec.ids.1 {
            put(USER_KEYS[rank], json!(format!("u{v}")));
        }
        if let Some(v) = spec.ids.2 {
            put(AGENT_KEYS[(v % 2) as usize], json!(format!("agent{v}")));
        }
        let (model, tokens, cost, defs, flat_tools) = spec.llm;
        if let Some(m) = model {
            put(MODEL_KEYS[m as usize], json!(format!("m{m}")));
            put("gen_ai.tool.name", json!(format!("tool{m}")));
        }
        let token_keys = [
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "llm.token_count.prompt",
            "llm.token_count.completion",
        ];
        for (k, t) in token_keys.iter().zip(tokens) {
            if let Some(t) = t {
                put(k, json!(t));
            }
        }
        if let Some(c) = cost {
            put("gen_ai.usage.cost", json!(f64::from(c) / 1000.0));
        }
        if let Some(n) = defs {
            put(
                "gen_ai.tool.definitions",
                json!(vec![json!({}); n as usize]),
            );
        }
        for n in 0..flat_tools.unwrap_or(0) {
            put(&format!("llm.tools.{n}.tool.name"), json!("t"));
        }
        let (routed, saved, sent, forwarded, latency) = spec.gateway;
        if let Some(r) = routed {
            put("threadline.routed", json!(r));
        }
        if let Some(v) = saved {
            put("threadline.tokens_saved", json!(v));
        }
        if let Some(v) = sent {
            put("threadline.tools.sent", json!(v));
        }
        if let Some(v) = forwarded {
            put(
                "threadline.tools.forwarded",
                json!(vec![format!("f{v}"); v as usize]),
            );
        }
        if let Some(ms) = latency[0] {
            put(LATENCY_KEYS[0], json!(ms));
        }
        if let Some(ms) = latency[1] {
            put(LATENCY_KEYS[3], json!(f64::from(ms) / 4.0));
        }
        if let Some(v) = spec.text.0 {
            put("input.value", json!(format!("in{v}")));
            put("gen_ai.input.messages", json!(format!("msgs-in{v}")));
        }
        if let Some(v) = spec.text.1 {
            put("output.value", json!(format!("out{v}")));
            put("gen_ai.output.messages", json!(format!("msgs-out{v}")));
        }
        let id = i as u64 + 1;
        let parent = (!spec.root).then_some(1000);
        let r = rec(
            id,
            parent,
            spec.start,
            spec.start + spec.dur,
            Value::Object(a),
        );
        match spec.error {
            Some(message) => failed(r, message.map(|m| format!("e{m}")).as_deref()),
            None => r,
        }
    }

    fn arb_case() -> impl Strategy<Value = (Vec<Spec>, Vec<usize>, Vec<bool>)> {
        prop::collection::vec(arb_spec(), 1..14).prop_flat_map(|specs| {
            let n = specs.len();
            let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
            (Just(specs), order, prop::collection::vec(any::<bool>(), n))
        })
    }

    proptest! {
        #[test]
        fn merge_order_and_grouping_do_not_matter((specs, order, cuts) in arb_case()) {
            let spans: Vec<SpanRecord> =
                specs.iter().enumerate().map(|(i, s)| spec_record(i, s)).collect();
            let reference = rollup(&spans);

            // Shuffle, cut into batches, fold each batch, then fold the batches right to left.
            let mut groups: Vec<TraceRollup> = vec![];
            let mut current = TraceRollup::default();
            for (k, &i) in order.iter().enumerate() {
                current.merge(&TraceRollup::from_span(&spans[i]));
                if cuts[k] {
                    groups.push(std::mem::take(&mut current));
                }
            }
            groups.push(current);
            let mut acc = TraceRollup::default();
            for group in groups.iter().rev() {
                let mut g = group.clone();
                g.merge(&acc);
                acc = g;
            }

            prop_assert_eq!(&acc, &reference);
            prop_assert_eq!(acc.to_fields(), reference.to_fields());
            let stored: TraceRollup = serde_json::from_str(&serde_json::to_string(&acc).unwrap()).unwrap();
            prop_assert_eq!(stored, reference);
        }
    }
}
