//! The benchmark's dataset: realistic runs shaped like the demo's (agents with their own tools,
//! six models with real-ish prices, users, errors, gateway routing, compression savings and
//! per-phase latency), and the same runs as wire bodies (native JSON batches, OTLP protobuf
//! requests) and as plain table rows (for the raw-insert ceiling).
//!
//! Traffic model: about three in four sessions carry an explicit session id and come from one
//! API key per agent; the rest are gateway conversations without ids, spread over several
//! gateway keys whose timelines hold one conversation after another separated by more than the
//! inactivity gap, so automatic grouping finds them. Sessions have 1–25 turns (about 10 on
//! average, the ratio of SPEC §9's dataset), spread over the last 30 days. Each key's runs are
//! sent in time order, so one request holds turns of many sessions and a session spans several
//! requests, as with a real gateway flushing its buffer.

use crate::demo::{Agent, AGENTS, ANSWERS, ERRORS, MODELS};
use std::collections::BTreeMap;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span as OtlpSpan, Status,
};
use prost::Message;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

/// The inactivity gap the benchmark's stores use (the product default).
pub const GAP_US: i64 = 30 * 60 * 1_000_000;
/// Days the generated traffic spans, ending an hour before now.
const DAYS: i64 = 30;
const DAY_US: i64 = 86_400 * 1_000_000;
/// Share of sessions without a session id (grouped automatically).
const AUTO_SHARE: f64 = 0.25;
/// Conversations per gateway key timeline.
const SESSIONS_PER_GATEWAY_KEY: usize = 200;
/// Average spans per trace of this generator (for sizing the key pool only).
const SPANS_PER_TRACE_ESTIMATE: f64 = 4.9;
const SCOPE: &str = "threadline-bench";

/// What a gateway adds to a run.
#[derive(Clone, Debug)]
pub struct Gateway {
    pub routed: bool,
    pub tokens_saved: i64,
    pub tools_sent: i64,
    pub tools_forwarded: Vec<&'static str>,
    /// dedup, compression, tool routing, upstream (µs).
    pub latency_us: [i64; 4],
}

/// One generated run (one native run, or one trace).
#[derive(Clone, Debug)]
pub struct Run {
    /// Index of the API key that sends it (see [`Dataset::key_names`]).
    pub key: usize,
    /// Sequence number of its session in the dataset.
    pub session_no: usize,
    pub session_id: Option<String>,
    pub id: String,
    pub user_id: Option<String>,
    agent: usize,
    pub started_us: i64,
    pub duration_us: i64,
    pub error: Option<&'static str>,
    pub model: &'static str,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_nanos: i64,
    pub gateway: Option<Gateway>,
    pub tools_called: Vec<&'static str>,
    pub trace_id: [u8; 16],
    pub input: &'static str,
    pub output: Option<&'static str>,
    pub environment: &'static str,
}

impl Run {
    pub fn agent_name(&self) -> &'static str {
        AGENTS[self.agent].name
    }

    pub fn workflow_name(&self) -> &'static str {
        AGENTS[self.agent].workflow
    }

    pub fn trace_hex(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// Spans of this run's trace: root, an LLM call, one span per tool called, and a closing
    /// LLM call when tools ran.
    pub fn span_count(&self) -> usize {
        2 + self.tools_called.len() + usize::from(!self.tools_called.is_empty())
    }

    pub fn attributes(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("environment".into(), json!(self.environment));
        m.insert("sdk".into(), json!("threadline-bench/1.0"));
        m
    }

    /// The run as a native client sends it (SPEC §3.1).
    pub fn native_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        if let Some(s) = &self.session_id {
            m.insert("session_id".into(), json!(s));
        }
        if let Some(u) = &self.user_id {
            m.insert("user_id".into(), json!(u));
        }
        m.insert("agent_name".into(), json!(self.agent_name()));
        m.insert("workflow_name".into(), json!(self.workflow_name()));
        m.insert(
            "started_at".into(),
            json!(crate::db::rfc3339(self.started_us)),
        );
        m.insert(
            "duration_ms".into(),
            json!(self.duration_us as f64 / 1000.0),
        );
        m.insert(
            "status".into(),
            json!(if self.error.is_some() {
                "error"
            } else {
                "success"
            }),
        );
        if let Some(e) = self.error {
            m.insert("error".into(), json!(e));
        }
        m.insert("model".into(), json!(self.model));
        m.insert("input_tokens".into(), json!(self.input_tokens));
        m.insert("output_tokens".into(), json!(self.output_tokens));
        m.insert("cost".into(), json!(self.cost_nanos as f64 / 1e9));
        m.insert("tools_called".into(), json!(self.tools_called));
        if let Some(g) = &self.gateway {
            m.insert("routed".into(), json!(g.routed));
            m.insert("tokens_saved".into(), json!(g.tokens_saved));
            m.insert("tools_sent".into(), json!(g.tools_sent));
            m.insert("tools_forwarded".into(), json!(g.tools_forwarded));
            let ms = |us: i64| us as f64 / 1000.0;
            m.insert(
                "latency_ms".into(),
                json!({
                    "dedup": ms(g.latency_us[0]),
                    "compression": ms(g.latency_us[1]),
                    "tool_routing": ms(g.latency_us[2]),
                    "upstream": ms(g.latency_us[3]),
                }),
            );
        }
        m.insert("trace_id".into(), json!(self.trace_hex()));
        m.insert("input".into(), json!(self.input));
        if let Some(o) = self.output {
            m.insert("output".into(), json!(o));
        }
        m.insert("attributes".into(), Value::Object(self.attributes()));
        Value::Object(m)
    }

    /// The spans of this run's trace, as an OpenTelemetry SDK would export them. Ids and
    /// timings follow from the trace id, so the spans can be derived again at any time.
    pub fn spans(&self) -> Vec<Span> {
        let mut rng = StdRng::from_seed(seed_from(&self.trace_id));
        let start_ns = self.started_us * 1000;
        let end_ns = start_ns + self.duration_us * 1000;
        let total = end_ns - start_ns;
        let root_id: [u8; 8] = rng.gen();
        let mut out = Vec::with_capacity(self.span_count());

        let mut root = vec![
            ("gen_ai.operation.name", Attr::Str("invoke_agent".into())),
            ("gen_ai.agent.name", Attr::Str(self.agent_name().into())),
        ];
        if let Some(s) = &self.session_id {
            root.push(("session.id", Attr::Str(s.clone())));
        }
        if let Some(u) = &self.user_id {
            root.push(("user.id", Attr::Str(u.clone())));
        }
        root.push(("input.value", Attr::Str(self.input.into())));
        if let Some(o) = self.output {
            root.push(("output.value", Attr::Str(o.into())));
        }
        let mut upstream_us = self.duration_us;
        if let Some(g) = &self.gateway {
            upstream_us = g.latency_us[3];
            root.push(("threadline.routed", Attr::Bool(g.routed)));
            root.push(("threadline.tokens_saved", Attr::Int(g.tokens_saved)));
            root.push(("threadline.tools.sent", Attr::Int(g.tools_sent)));
            root.push((
                "threadline.tools.forwarded",
                Attr::Strs(g.tools_forwarded.iter().map(|t| t.to_string()).collect()),
            ));
            let keys = [
                "threadline.latency.dedup_ms",
                "threadline.latency.compression_ms",
                "threadline.latency.tool_routing_ms",
                "threadline.latency.upstream_ms",
            ];
            for (key, us) in keys.into_iter().zip(g.latency_us) {
                root.push((key, Attr::F64(us as f64 / 1000.0)));
            }
        }
        root.push(("deployment.environment", Attr::Str(self.environment.into())));

        let mut cursor = start_ns + total / 50;
        let llm_end = cursor + (upstream_us * 1000).min(total) * 6 / 10;
        let child = |rng: &mut StdRng, name: String, category, start, end, attrs| Span {
            trace_id: self.trace_id,
            span_id: rng.gen(),
            parent: Some(root_id),
            name,
            kind: if category == "llm" {
                SpanKind::Client
            } else {
                SpanKind::Internal
            },
            category,
            start_ns: start,
            end_ns: end,
            error: None,
            attrs,
        };
        let llm_attrs = vec![
            ("gen_ai.operation.name", Attr::Str("chat".into())),
            ("gen_ai.system", Attr::Str(provider(self.model).into())),
            ("gen_ai.request.model", Attr::Str(self.model.into())),
            ("gen_ai.response.model", Attr::Str(self.model.into())),
            ("gen_ai.usage.input_tokens", Attr::Int(self.input_tokens)),
            ("gen_ai.usage.output_tokens", Attr::Int(self.output_tokens)),
            ("gen_ai.usage.cost", Attr::F64(self.cost_nanos as f64 / 1e9)),
        ];
        out.push(child(
            &mut rng,
            format!("chat {}", self.model),
            "llm",
            cursor,
            llm_end,
            llm_attrs,
        ));
        cursor = llm_end;
        let budget = (end_ns - cursor) / (self.tools_called.len() as i64 + 2);
        for tool in &self.tools_called {
            let end = cursor + budget.max(1000) * rng.gen_range(5..10) / 10;
            let attrs = vec![
                ("gen_ai.operation.name", Attr::Str("execute_tool".into())),
                ("gen_ai.tool.name", Attr::Str(tool.to_string())),
                (
                    "gen_ai.tool.call.id",
                    Attr::Str(format!("call_{}", hex::encode(rng.gen::<[u8; 6]>()))),
                ),
            ];
            out.push(child(
                &mut rng,
                format!("execute_tool {tool}"),
                "tool",
                cursor,
                end,
                attrs,
            ));
            cursor = end;
        }
        if !self.tools_called.is_empty() {
            let end = (end_ns - total / 100).max(cursor);
            let attrs = vec![
                ("gen_ai.operation.name", Attr::Str("chat".into())),
                ("gen_ai.system", Attr::Str(provider(self.model).into())),
                ("gen_ai.request.model", Attr::Str(self.model.into())),
            ];
            out.push(child(
                &mut rng,
                format!("chat {}", self.model),
                "llm",
                cursor,
                end,
                attrs,
            ));
        }
        // Children end before the root: an SDK exports them first.
        out.push(Span {
            trace_id: self.trace_id,
            span_id: root_id,
            parent: None,
            name: format!("invoke_agent {}", self.agent_name()),
            kind: SpanKind::Internal,
            category: "agent",
            start_ns,
            end_ns,
            error: self.error,
            attrs: root,
        });
        out
    }

    /// Resource attributes of the service that runs this agent.
    pub fn resource(&self) -> Vec<(&'static str, Attr)> {
        resource_of(self.agent)
    }
}

fn resource_of(agent: usize) -> Vec<(&'static str, Attr)> {
    vec![
        ("service.name", Attr::Str(AGENTS[agent].name.into())),
        ("service.version", Attr::Str("1.4.2".into())),
        ("telemetry.sdk.language", Attr::Str("python".into())),
        ("telemetry.sdk.name", Attr::Str("opentelemetry".into())),
        ("telemetry.sdk.version", Attr::Str("1.27.0".into())),
        (
            "host.name",
            Attr::Str(format!("{}-7d9f8b-{}", AGENTS[agent].name, agent)),
        ),
    ]
}

fn provider(model: &str) -> &'static str {
    if model.starts_with("gpt") {
        "openai"
    } else if model.starts_with("claude") {
        "anthropic"
    } else if model.starts_with("gemini") {
        "gcp.gemini"
    } else {
        "meta"
    }
}

fn seed_from(trace_id: &[u8; 16]) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(trace_id);
    seed[16..].copy_from_slice(trace_id);
    seed
}

/// An attribute value.
#[derive(Clone, Debug)]
pub enum Attr {
    Str(String),
    Int(i64),
    F64(f64),
    Bool(bool),
    Strs(Vec<String>),
}

impl Attr {
    fn to_otlp(&self) -> AnyValue {
        use any_value::Value as V;
        let value = match self {
            Attr::Str(s) => V::StringValue(s.clone()),
            Attr::Int(i) => V::IntValue(*i),
            Attr::F64(f) => V::DoubleValue(*f),
            Attr::Bool(b) => V::BoolValue(*b),
            Attr::Strs(items) => V::ArrayValue(ArrayValue {
                values: items
                    .iter()
                    .map(|s| AnyValue {
                        value: Some(V::StringValue(s.clone())),
                    })
                    .collect(),
            }),
        };
        AnyValue { value: Some(value) }
    }

    fn to_json(&self) -> Value {
        match self {
            Attr::Str(s) => json!(s),
            Attr::Int(i) => json!(i),
            Attr::F64(f) => json!(f),
            Attr::Bool(b) => json!(b),
            Attr::Strs(items) => json!(items),
        }
    }
}

/// Attributes as the JSON object Threadline stores.
pub fn attrs_json(attrs: &[(&'static str, Attr)]) -> String {
    let map: Map<String, Value> = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_json()))
        .collect();
    Value::Object(map).to_string()
}

fn key_values(attrs: &[(&'static str, Attr)]) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.to_string(),
            value: Some(v.to_otlp()),
            ..Default::default()
        })
        .collect()
}

/// One span of a generated trace.
#[derive(Clone, Debug)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub name: String,
    pub kind: SpanKind,
    /// `agent`, `llm` or `tool`.
    pub category: &'static str,
    pub start_ns: i64,
    pub end_ns: i64,
    pub error: Option<&'static str>,
    pub attrs: Vec<(&'static str, Attr)>,
}

impl Span {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            SpanKind::Client => "client",
            SpanKind::Server => "server",
            _ => "internal",
        }
    }

    fn to_otlp(&self) -> OtlpSpan {
        OtlpSpan {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            parent_span_id: self.parent.map(|p| p.to_vec()).unwrap_or_default(),
            flags: 1,
            name: self.name.clone(),
            kind: self.kind as i32,
            start_time_unix_nano: self.start_ns as u64,
            end_time_unix_nano: self.end_ns as u64,
            attributes: key_values(&self.attrs),
            status: Some(match self.error {
                Some(message) => Status {
                    message: message.into(),
                    code: StatusCode::Error as i32,
                },
                None => Status {
                    message: String::new(),
                    code: StatusCode::Unset as i32,
                },
            }),
            ..Default::default()
        }
    }
}

/// One prepared request: which key sends it, its body, and how many runs or spans it holds.
pub struct Request {
    pub key: usize,
    pub body: Bytes,
    pub items: usize,
}

/// One phase's data: the runs, the keys that send them, and the requests.
pub struct Dataset {
    pub runs: Vec<Run>,
    /// Key names: one per agent (explicit sessions), then the gateway keys.
    pub key_names: Vec<String>,
    pub requests: Vec<Request>,
    pub explicit_sessions: usize,
    pub automatic_sessions: usize,
    /// Runs (native) or spans (OTLP) in all requests.
    pub items: usize,
}

impl Dataset {
    pub fn request_bytes(&self) -> usize {
        self.requests.iter().map(|r| r.body.len()).sum()
    }

    /// Spans of every run (the OTLP phase's spans).
    #[cfg(test)]
    pub fn span_total(&self) -> usize {
        self.runs.iter().map(Run::span_count).sum()
    }
}

/// Generates sessions until `target` units are reached; a run weighs one unit, or its span count
/// when `spans` is set. With runs as the unit the total is exact.
fn generate_runs(
    seed: u64,
    target: usize,
    spans: bool,
    tag: &str,
) -> (Vec<Run>, usize, usize, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let now = crate::db::now_us();
    let range_start = now - DAYS * DAY_US;
    let per_run = if spans { SPANS_PER_TRACE_ESTIMATE } else { 1.0 };
    let expected_sessions = target as f64 / per_run / 10.0;
    let gateway_keys = ((expected_sessions * AUTO_SHARE) / SESSIONS_PER_GATEWAY_KEY as f64)
        .ceil()
        .max(1.0) as usize;
    // Each gateway key's timeline: where its next conversation may start.
    let mut gateway_next: Vec<i64> = (0..gateway_keys)
        .map(|_| range_start + rng.gen_range(0..3_600_000_000))
        .collect();
    let users: Vec<String> = (1..=200).map(|i| format!("user_{i:03}")).collect();
    let mut runs = Vec::with_capacity((target as f64 / per_run * 1.05) as usize);
    let (mut units, mut explicit, mut automatic) = (0usize, 0usize, 0usize);
    let mut session_no = 0usize;
    while units < target {
        let automatic_session = rng.gen_bool(AUTO_SHARE);
        let agent_idx = rng.gen_range(0..AGENTS.len());
        let agent = &AGENTS[agent_idx];
        let (key, session_id, start) = if automatic_session {
            let g = automatic % gateway_keys;
            automatic += 1;
            (AGENTS.len() + g, None, gateway_next[g])
        } else {
            explicit += 1;
            // Recent days are busier.
            let age = (rng.gen::<f64>().powf(2.0) * (DAYS * DAY_US) as f64) as i64;
            let id = if rng.gen_bool(0.5) {
                format!("conv-{}", hex::encode(rng.gen::<[u8; 6]>()))
            } else {
                format!("sess_{}", hex::encode(rng.gen::<[u8; 8]>()))
            };
            (agent_idx, Some(id), now - age - 3_600_000_000)
        };
        let gateway = session_id.is_none() || rng.gen_bool(0.6);
        let user = if rng.gen_bool(0.9) {
            users.choose(&mut rng).cloned()
        } else {
            None
        };
        let primary = rng.gen_range(0..MODELS.len());
        let mut forwarded = pick_tools(&mut rng, agent, 3);
        let turns = 1 + (rng.gen::<f64>().powf(1.6) * 24.0) as usize;
        let mut t = start;
        for turn in 0..turns {
            if units >= target {
                break;
            }
            if turn > 0 {
                t += crate::demo::pause_between_turns(&mut rng);
            }
            let routed = gateway && rng.gen_bool(0.3);
            let (model, price_in, price_out) = MODELS[if routed {
                rng.gen_range(0..MODELS.len())
            } else {
                primary
            }];
            let input_tokens: i64 = rng.gen_range(300..9000);
            let output_tokens: i64 = rng.gen_range(40..1500);
            let cost =
                input_tokens as f64 * price_in / 1e6 + output_tokens as f64 * price_out / 1e6;
            let duration_us: i64 = rng.gen_range(400_000..22_000_000);
            let failed = rng.gen_bool(0.04);
            if gateway && rng.gen_bool(0.15) {
                forwarded = pick_tools(&mut rng, agent, 2);
            }
            let called: Vec<&'static str> = forwarded
                .iter()
                .copied()
                .filter(|_| rng.gen_bool(0.45))
                .collect();
            let gateway_fields = gateway.then(|| {
                let dedup = rng.gen_range(150..3_000);
                let compression = rng.gen_range(800..18_000);
                let routing = rng.gen_range(1_500..30_000);
                let upstream = (duration_us - dedup - compression - routing).max(1000);
                Gateway {
                    routed,
                    tokens_saved: (input_tokens as f64 * rng.gen_range(0.0..0.35)) as i64,
                    tools_sent: agent.tools.len() as i64 + rng.gen_range(4..20),
                    tools_forwarded: forwarded.clone(),
                    latency_us: [dedup, compression, routing, upstream],
                }
            });
            let run = Run {
                key,
                session_no,
                session_id: session_id.clone(),
                id: format!("run_{tag}{}", hex::encode(rng.gen::<[u8; 8]>())),
                user_id: user.clone(),
                agent: agent_idx,
                started_us: t,
                duration_us,
                error: failed.then(|| *ERRORS.choose(&mut rng).expect("errors")),
                model,
                input_tokens,
                output_tokens,
                cost_nanos: (cost * 1e9).round() as i64,
                gateway: gateway_fields,
                tools_called: called,
                trace_id: rng.gen(),
                input: agent.prompts.choose(&mut rng).expect("prompts"),
                output: (!failed).then(|| *ANSWERS.choose(&mut rng).expect("answers")),
                environment: if rng.gen_bool(0.8) {
                    "production"
                } else {
                    "staging"
                },
            };
            units += if spans { run.span_count() } else { 1 };
            runs.push(run);
        }
        if automatic_session {
            // The next conversation of this key starts after a silence longer than the gap.
            let g = (automatic - 1) % gateway_keys;
            gateway_next[g] = t + GAP_US + rng.gen_range(60_000_000..3_600_000_000);
        }
        session_no += 1;
    }
    (runs, gateway_keys, explicit, automatic)
}

fn pick_tools(rng: &mut StdRng, agent: &Agent, min: usize) -> Vec<&'static str> {
    let n = rng.gen_range(min..=agent.tools.len().min(min + 4));
    let mut tools: Vec<&'static str> = agent.tools.choose_multiple(rng, n).copied().collect();
    tools.sort_unstable();
    tools
}

fn key_names(phase: &str, gateway_keys: usize) -> Vec<String> {
    AGENTS
        .iter()
        .map(|a| format!("bench-{phase}-{}", a.name))
        .chain((1..=gateway_keys).map(|i| format!("bench-{phase}-gateway-{i}")))
        .collect()
}

/// Runs for `POST /api/v1/runs`: `runs` runs in batches of `batch` per key, in time order.
pub fn native(seed: u64, runs: usize, batch: usize) -> Dataset {
    let (runs, gateway_keys, explicit, automatic) = generate_runs(seed, runs, false, "n");
    let mut by_key: BTreeMap<usize, Vec<&Run>> = BTreeMap::new();
    for run in &runs {
        by_key.entry(run.key).or_default().push(run);
    }
    let mut timed = Vec::new();
    for (key, mut list) in by_key {
        list.sort_by_key(|r| r.started_us);
        for chunk in list.chunks(batch.max(1)) {
            let body = json!({ "runs": chunk.iter().map(|r| r.native_json()).collect::<Vec<_>>() });
            let bytes = serde_json::to_vec(&body).expect("JSON encodes");
            timed.push((
                chunk[0].started_us,
                Request {
                    key,
                    body: bytes.into(),
                    items: chunk.len(),
                },
            ));
        }
    }
    // Keys send concurrently: interleave their batches by time.
    timed.sort_by_key(|(t, r)| (*t, r.key));
    let items = runs.len();
    Dataset {
        runs,
        key_names: key_names("native", gateway_keys),
        requests: timed.into_iter().map(|(_, r)| r).collect(),
        explicit_sessions: explicit,
        automatic_sessions: automatic,
        items,
    }
}

/// Traces for `POST /v1/traces`: about `spans` spans, each key's spans in the order an SDK's
/// batch exporter sends them (by end time), `per_request` spans per request. A trace whose spans
/// straddle two requests arrives in two parts, its root (with the session id) last.
pub fn otlp(seed: u64, spans: usize, per_request: usize) -> Dataset {
    let (runs, gateway_keys, explicit, automatic) = generate_runs(seed, spans, true, "o");
    let mut by_key: BTreeMap<usize, Vec<(usize, Span)>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        let list = by_key.entry(run.key).or_default();
        list.extend(run.spans().into_iter().map(|s| (i, s)));
    }
    let mut timed = Vec::new();
    let mut items = 0;
    for (key, mut list) in by_key {
        list.sort_by_key(|(_, s)| s.end_ns);
        for chunk in list.chunks(per_request.max(1)) {
            // One resource per service, as a collector forwarding several services sends them.
            let mut by_agent: BTreeMap<usize, Vec<OtlpSpan>> = BTreeMap::new();
            for (i, span) in chunk {
                by_agent
                    .entry(runs[*i].agent)
                    .or_default()
                    .push(span.to_otlp());
            }
            let request = ExportTraceServiceRequest {
                resource_spans: by_agent
                    .into_iter()
                    .map(|(agent, spans)| ResourceSpans {
                        resource: Some(Resource {
                            attributes: key_values(&resource_of(agent)),
                            ..Default::default()
                        }),
                        scope_spans: vec![ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: SCOPE.into(),
                                version: "1.0.0".into(),
                                ..Default::default()
                            }),
                            spans,
                            ..Default::default()
                        }],
                        ..Default::default()
                    })
                    .collect(),
            };
            items += chunk.len();
            timed.push((
                chunk[0].1.end_ns,
                Request {
                    key,
                    body: request.encode_to_vec().into(),
                    items: chunk.len(),
                },
            ));
        }
    }
    timed.sort_by_key(|(t, r)| (*t, r.key));
    Dataset {
        runs,
        key_names: key_names("otlp", gateway_keys),
        requests: timed.into_iter().map(|(_, r)| r).collect(),
        explicit_sessions: explicit,
        automatic_sessions: automatic,
        items,
    }
}

/// The instrumentation scope name of generated spans.
pub fn scope() -> &'static str {
    SCOPE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::native::parse_batch;
    use crate::ingest::otlp::{decode, mapping};

    #[test]
    fn native_bodies_are_valid_batches() {
        let data = native(7, 2_500, 1000);
        assert_eq!(data.items, 2_500);
        assert_eq!(data.requests.iter().map(|r| r.items).sum::<usize>(), 2_500);
        for r in &data.requests {
            let runs = parse_batch(&r.body, None, 1000).expect("valid batch");
            assert_eq!(runs.len(), r.items);
        }
        assert!(data.automatic_sessions > 0 && data.explicit_sessions > data.automatic_sessions);
    }

    #[test]
    fn otlp_bodies_decode_without_rejections() {
        let data = otlp(7, 6_000, 1000);
        assert_eq!(data.items, data.span_total());
        for r in &data.requests {
            let req = decode::decode_request(&r.body, decode::Encoding::Protobuf).expect("decodes");
            let flat = mapping::flatten(req);
            assert_eq!(flat.rejected, 0, "{}", flat.message());
            assert_eq!(flat.spans.len(), r.items);
        }
    }
}
