//! Hostile input through the real router, property-based and bounded: random and mutated bodies
//! for both ingestion endpoints, random query strings and ids for the REST endpoints and pages.
//! Whatever a client sends, the server never panics and never answers 5xx (SPEC §5, §7) — on
//! every backend, since each database refuses different things (PostgreSQL: NUL in text).

mod common;

use axum::body::Body;
use axum::http::{HeaderValue, Request};
use axum::Router;
use common::raw::gzip;
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use prost::Message;
use serde_json::{json, Value};

/// Cases per property. Each case is one request through the router and, when valid, one write.
const CASES: u32 = 160;

/// Strings that have broken parsers, SQL, HTML or databases before.
const NASTY: &[&str] = &[
    "",
    " ",
    "\0",
    "a\0b",
    "\u{1}",
    "\r\n",
    "<script>alert(1)</script>",
    "'; DROP TABLE sessions; --",
    "%' OR 1=1 --",
    "%",
    "_",
    "\\",
    "\\'",
    "é",
    "𝄞",
    "\u{202e}rtl",
    "\u{feff}",
    "\u{fffd}",
    "null",
    "NaN",
    "1e400",
    "-1",
    "9223372036854775808",
    "-9223372036854775809",
    "2026-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "+275760-09-13T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "sess_0000000000000000",
];

/// Field names of a native run.
const RUN_FIELDS: &[&str] = &[
    "id",
    "session_id",
    "user_id",
    "agent_name",
    "workflow_name",
    "started_at",
    "completed_at",
    "duration_ms",
    "status",
    "error",
    "model",
    "routed",
    "input_tokens",
    "output_tokens",
    "tokens_saved",
    "cost",
    "tools_sent",
    "tools_forwarded",
    "tools_called",
    "latency_ms",
    "trace_id",
    "input",
    "output",
    "attributes",
];

/// Attribute keys the OTLP mapping reads.
const OTLP_KEYS: &[&str] = &[
    "session.id",
    "gen_ai.conversation.id",
    "thread_id",
    "user.id",
    "gen_ai.agent.name",
    "service.name",
    "gen_ai.operation.name",
    "openinference.span.kind",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "llm.token_count.prompt",
    "gen_ai.usage.cost",
    "gen_ai.tool.definitions",
    "llm.tools.0.tool.json_schema",
    "gen_ai.tool.name",
    "tool.name",
    "threadline.routed",
    "threadline.tokens_saved",
    "threadline.tools.sent",
    "threadline.tools.forwarded",
    "threadline.latency.dedup_ms",
    "threadline.latency.upstream_ms",
    "input.value",
    "output.value",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
];

const OPERATIONS: &[&str] = &[
    "chat",
    "execute_tool",
    "invoke_agent",
    "text_completion",
    "LLM",
    "TOOL",
    "AGENT",
];

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    None,
    Some("text/plain"),
];

/// Query parameters the list, detail and pages read.
const PARAMS: &[&str] = &[
    "search",
    "q",
    "scope",
    "agent",
    "model",
    "tool",
    "user",
    "status",
    "start",
    "end",
    "range",
    "sort",
    "limit",
    "offset",
    "runs_limit",
    "runs_offset",
];

const PARAM_VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "100",
    "101",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1e3",
    "0x10",
    " 5",
    "error",
    "any",
    "id",
    "tool",
    "-cost",
    "cost",
    "run_count",
    "--run_count",
    "1h",
    "24h",
    "all",
    "2026-01-01",
    "2026-01-01T00:00:00Z",
    "262143-12-31",
    "-262143-01-01",
    "%00",
    "%",
    "%25",
    "%zz",
    "%C3",
    "%C3%A9",
    "%F0%9D%84%9E",
    "+",
    "a+b",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "'%20OR%201=1%20--",
    "_",
    "%5C",
];

/// Numbers at and beyond every bound (SPEC §7) and the integer types' ends: they must be
/// refused or stored, never overflow a session's sums.
const EXTREME_NUMBERS: &[f64] = &[
    0.0,
    1e6,
    1e6 + 1.0,
    1e11,
    1e12,
    1e12 + 1.0,
    31_622_400_000.0,
    31_622_400_001.0,
    1e15,
    9.2e18,
    1e19,
    1e300,
];
const EXTREME_INTEGERS: &[i64] = &[
    i64::MAX,
    i64::MAX - 1,
    1_000_000_000_000,
    1_000_000_000_001,
    4_611_686_018_427_387_904,
    i64::MIN,
];

/// Native fields that take numbers.
const NUMBER_FIELDS: &[&str] = &[
    "input_tokens",
    "output_tokens",
    "tokens_saved",
    "tools_sent",
    "cost",
    "duration_ms",
];
/// Native fields that take names.
const NAME_FIELDS: &[&str] = &["id", "user_id", "agent_name", "workflow_name", "model"];
/// OTLP keys that give a run a number or a name.
const OTLP_EDGE_KEYS: &[&str] = &[
    "user.id",
    "enduser.id",
    "gen_ai.agent.name",
    "agent.name",
    "service.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "gen_ai.tool.name",
    "tool.name",
    "threadline.tools.forwarded",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "gen_ai.usage.cost",
    "llm.cost.total",
    "threadline.tokens_saved",
    "threadline.tools.sent",
    "threadline.latency.upstream_ms",
];

/// A random name of 3,000–7,000 characters, about 3–10 kB (facet values are indexed; PostgreSQL refuses index rows over ~2.7 kB).
fn long_name() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::char::range('!', '~'),
            1 => Just('é'),
            1 => Just('𝄞'),
        ],
        3000..7000,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>())
}

fn extreme_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(EXTREME_NUMBERS).prop_map(|f| json!(f)),
        prop::sample::select(EXTREME_INTEGERS).prop_map(|i| json!(i)),
        Just(json!(u64::MAX)),
    ]
}

fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(NASTY).prop_map(str::to_string),
        any::<String>(),
        "\\PC{0,12}",
        (1usize..400).prop_map(|n| "x".repeat(n)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        nasty().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((nasty(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A run that is often valid, with hostile values in every field.
fn native_run() -> impl Strategy<Value = Value> {
    let time = prop_oneof![
        (0i64..4_000_000_000).prop_map(|s| Value::String(
            chrono::DateTime::from_timestamp(s, 0).unwrap().to_rfc3339()
        )),
        leaf(),
    ];
    (
        time,
        prop::collection::vec(
            (
                prop::sample::select(RUN_FIELDS),
                prop_oneof![
                    3 => nasty().prop_map(Value::String),
                    2 => leaf(),
                    1 => prop::collection::vec(nasty().prop_map(Value::String), 0..4).prop_map(Value::Array),
                    1 => json_value(),
                ],
            ),
            0..10,
        ),
    )
        .prop_map(|(started_at, fields)| {
            let mut run = serde_json::Map::new();
            run.insert("started_at".into(), started_at);
            for (k, v) in fields {
                run.insert(k.to_string(), v);
            }
            Value::Object(run)
        })
}

/// A run that passes validation, with hostile text wherever text is allowed (NUL included:
/// PostgreSQL refuses it in text columns).
fn valid_native_run() -> impl Strategy<Value = Value> {
    let name = || {
        nasty().prop_filter("1–128 characters", |s| {
            (1..=128).contains(&s.chars().count())
        })
    };
    let tool = || {
        nasty().prop_filter("1–256 characters", |s| {
            (1..=256).contains(&s.chars().count())
        })
    };
    let session = nasty().prop_filter("a valid session id", |s| {
        (1..=200).contains(&s.chars().count()) && !s.chars().any(char::is_control)
    });
    (
        (prop::option::of(name()), prop::option::of(session), name(), name(), name()),
        (0i64..4_000_000_000, 0u32..100_000, any::<bool>(), 0u32..1_000_000),
        (
            prop::collection::vec(tool(), 0..4),
            prop::collection::vec(tool(), 0..4),
            nasty(),
            nasty(),
            nasty(),
        ),
        prop::collection::vec((nasty(), json_value()), 0..4),
    )
        .prop_map(
            |((id, session, agent, model, user), (start, ms, failed, tokens), (forwarded, called, input, output, error), attrs)| {
                let mut run = json!({
                    "started_at": chrono::DateTime::from_timestamp(start, 0).unwrap().to_rfc3339(),
                    "duration_ms": ms, "agent_name": agent, "workflow_name": agent.clone(),
                    "model": model, "user_id": user, "status": if failed { "error" } else { "success" },
                    "input_tokens": tokens, "output_tokens": tokens / 3, "cost": tokens as f64 * 1e-6,
                    "tools_sent": forwarded.len() + called.len(), "tools_forwarded": forwarded,
                    "tools_called": called, "input": input, "output": output, "error": error,
                    "latency_ms": {"dedup": 1.5, "upstream": ms},
                    "attributes": Value::Object(attrs.into_iter().collect()),
                });
                if let Some(id) = id {
                    run["id"] = id.into();
                }
                if let Some(s) = session {
                    run["session_id"] = s.into();
                }
                run
            },
        )
}

/// A valid run with a few fields set to extreme numbers or long names.
fn edge_native_run() -> impl Strategy<Value = Value> {
    let edit = prop_oneof![
        (prop::sample::select(NUMBER_FIELDS), extreme_number()),
        (
            prop::sample::select(NAME_FIELDS),
            long_name().prop_map(Value::String)
        ),
        extreme_number().prop_map(|n| ("latency_ms", json!({ "upstream": n }))),
        long_name().prop_map(|n| ("tools_called", json!([n]))),
    ];
    (valid_native_run(), prop::collection::vec(edit, 1..4)).prop_map(|(mut run, edits)| {
        for (field, value) in edits {
            run[field] = value;
        }
        run
    })
}

fn native_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(valid_native_run(), 1..4)
            .prop_map(|runs| json!({ "runs": runs }).to_string().into_bytes()),
        3 => prop::collection::vec(
            prop_oneof![valid_native_run(), edge_native_run(), edge_native_run()],
            1..4,
        )
        .prop_map(|runs| json!({ "runs": runs }).to_string().into_bytes()),
        2 => prop::collection::vec(native_run(), 0..4)
            .prop_map(|runs| json!({ "runs": runs }).to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..512),
        2 => mutated(valid_native()),
    ]
}

fn valid_native() -> Vec<u8> {
    json!({"runs": [{
        "id": "r1", "session_id": "conv-1", "user_id": "u", "agent_name": "a",
        "started_at": "2026-01-01T00:00:00Z", "duration_ms": 2100, "status": "error",
        "error": "boom", "model": "gpt-4o", "routed": true, "input_tokens": 10,
        "output_tokens": 5, "tokens_saved": 3, "cost": 0.0045, "tools_sent": 12,
        "tools_forwarded": ["search"], "tools_called": ["search"],
        "latency_ms": {"dedup": 1.5, "upstream": 900},
        "trace_id": "0123456789abcdef0123456789abcdef",
        "input": "hi", "output": "hello", "attributes": {"k": [1, {"a": null}]}
    }]})
    .to_string()
    .into_bytes()
}

/// `seed` with a few random byte edits: flips, deletions, insertions, duplications.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        (
            0u8..4,
            any::<prop::sample::Index>(),
            any::<u8>(),
            1usize..16,
        ),
        1..6,
    )
    .prop_map(move |edits| {
        let mut b = seed.clone();
        for (op, at, byte, len) in edits {
            if b.is_empty() {
                b.push(byte);
                continue;
            }
            let i = at.index(b.len());
            match op {
                0 => b[i] = byte,
                1 => {
                    let end = (i + len).min(b.len());
                    b.drain(i..end);
                }
                2 => {
                    for _ in 0..len {
                        b.insert(i, byte);
                    }
                }
                _ => {
                    let end = (i + len).min(b.len());
                    let piece = b[i..end].to_vec();
                    b.splice(i..i, piece);
                }
            }
        }
        b
    })
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    use any_value::Value as V;
    let leaf = prop_oneof![
        nasty().prop_map(V::StringValue),
        prop::sample::select(OPERATIONS).prop_map(|s| V::StringValue(s.to_string())),
        any::<bool>().prop_map(V::BoolValue),
        any::<i64>().prop_map(V::IntValue),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0)
        ]
        .prop_map(V::DoubleValue),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(V::BytesValue),
    ]
    .prop_map(|v| AnyValue { value: Some(v) });
    prop_oneof![Just(AnyValue { value: None }), leaf].prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(V::ArrayValue(ArrayValue { values }))
            }),
            prop::collection::vec((nasty(), inner), 0..4).prop_map(|kv| AnyValue {
                value: Some(V::KvlistValue(KeyValueList {
                    values: kv
                        .into_iter()
                        .map(|(key, v)| KeyValue {
                            key,
                            value: Some(v),
                            ..Default::default()
                        })
                        .collect()
                }))
            }),
        ]
    })
}

/// An extreme number or a long name, as an OTLP value.
fn edge_value() -> impl Strategy<Value = AnyValue> {
    use any_value::Value as V;
    prop_oneof![
        long_name().prop_map(V::StringValue),
        prop::sample::select(EXTREME_INTEGERS).prop_map(V::IntValue),
        prop::sample::select(EXTREME_NUMBERS).prop_map(V::DoubleValue),
        prop::sample::select(EXTREME_NUMBERS).prop_map(|f| V::StringValue(f.to_string())),
        Just(V::StringValue("99999999999999999999".into())),
    ]
    .prop_map(|v| AnyValue { value: Some(v) })
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(
        prop_oneof![
            3 => (prop::sample::select(OTLP_KEYS).prop_map(str::to_string), any_value()),
            1 => (nasty(), any_value()),
            1 => (prop::sample::select(OTLP_EDGE_KEYS).prop_map(str::to_string), edge_value()),
        ],
        0..8,
    )
    .prop_map(|kv| {
        kv.into_iter()
            .map(|(key, v)| KeyValue {
                key,
                value: Some(v),
                ..Default::default()
            })
            .collect()
    })
}

fn id_bytes(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), len..=len),
        1 => prop::collection::vec(any::<u8>(), 0..20),
        1 => Just(vec![0; len]),
    ]
}

fn otlp_span() -> impl Strategy<Value = Span> {
    let time = prop_oneof![
        3 => 1_700_000_000_000_000_000u64..1_800_000_000_000_000_000,
        1 => any::<u64>(),
        1 => Just(0u64),
    ];
    (
        (id_bytes(16), id_bytes(8), id_bytes(8), nasty()),
        (time.clone(), time, any::<i32>(), (any::<i32>(), nasty())),
        attributes(),
        prop::collection::vec((nasty(), any::<u64>(), attributes()), 0..3),
    )
        .prop_map(
            |(
                (trace_id, span_id, parent, name),
                (start, end, kind, (code, message)),
                attributes,
                events,
            )| {
                Span {
                    trace_id,
                    span_id,
                    parent_span_id: parent,
                    name,
                    kind,
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    attributes,
                    events: events
                        .into_iter()
                        .map(|(name, time_unix_nano, attributes)| span::Event {
                            name,
                            time_unix_nano,
                            attributes,
                            ..Default::default()
                        })
                        .collect(),
                    status: Some(Status { code, message }),
                    ..Default::default()
                }
            },
        )
}

fn otlp_request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    (
        attributes(),
        prop::option::of(nasty()),
        prop::collection::vec(otlp_span(), 0..6),
    )
        .prop_map(|(resource, scope, spans)| ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: scope.map(|name| InstrumentationScope {
                        name,
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
}

fn valid_otlp_json() -> Vec<u8> {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "bot"}}]},
        "scopeSpans": [{"scope": {"name": "s"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "chat", "kind": "SPAN_KIND_CLIENT",
            "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": 1767225601000000000u64,
            "attributes": [
                {"key": "session.id", "value": {"stringValue": "conv-1"}},
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                {"key": "list", "value": {"arrayValue": {"values": [{"doubleValue": 1.5}]}}}
            ],
            "events": [{"name": "e", "timeUnixNano": "1767225600500000000"}],
            "status": {"code": 2, "message": "boom"}
        }]}]
    }]})
    .to_string()
    .into_bytes()
}

/// (Content-Type, body) for `POST /v1/traces`.
fn otlp_body() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    prop_oneof![
        4 => otlp_request().prop_map(|r| ("application/x-protobuf", r.encode_to_vec())),
        2 => otlp_request()
            .prop_flat_map(|r| mutated(r.encode_to_vec()))
            .prop_map(|b| ("application/x-protobuf", b)),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| ("application/x-protobuf", b)),
        2 => mutated(valid_otlp_json()).prop_map(|b| ("application/json", b)),
        1 => json_value().prop_map(|v| ("application/json", v.to_string().into_bytes())),
    ]
}

struct Harness {
    rt: tokio::runtime::Runtime,
    app: Router,
    key: String,
    backend: &'static str,
    /// How often each status was answered, printed after each property.
    statuses: std::sync::Mutex<std::collections::BTreeMap<u16, usize>>,
    _db: TestDb,
}

impl Harness {
    fn report(&self, what: &str) {
        let statuses = std::mem::take(&mut *self.statuses.lock().unwrap());
        println!("{what} ({}): statuses {statuses:?}", self.backend);
    }
}

/// One harness per backend, each with a few sessions already stored.
fn harnesses() -> Vec<Harness> {
    let rt = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let dbs = rt().block_on(databases());
    dbs.into_iter()
        .map(|db| {
            let rt = rt();
            let (app, key) = rt.block_on(async {
                let (store, _, key) = store_with_key(&db).await;
                let app = app(store);
                let seed = json!({"runs": [
                    {"id": "seed-1", "session_id": "seed-a", "started_at": at(0.0), "model": "gpt-4o",
                     "tools_called": ["search"], "user_id": "u1", "agent_name": "bot"},
                    {"id": "seed-2", "started_at": at(5.0), "status": "error",
                     "trace_id": "0123456789abcdef0123456789abcdef"},
                ]});
                let r = post_json(&app, "/api/v1/runs", Some(&key), &seed).await;
                assert_eq!(r.status, 200, "{}", r.text());
                (app, key)
            });
            Harness {
                rt,
                app,
                key,
                backend: db.backend,
                statuses: Default::default(),
                _db: db,
            }
        })
        .collect()
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

fn no_5xx(h: &Harness, what: &str, reply: &Reply) -> Result<(), TestCaseError> {
    *h.statuses
        .lock()
        .unwrap()
        .entry(reply.status.as_u16())
        .or_default() += 1;
    prop_assert!(
        reply.status.as_u16() < 500,
        "{} {what}: {} {}",
        h.backend,
        reply.status,
        String::from_utf8_lossy(&reply.body[..reply.body.len().min(400)])
    );
    Ok(())
}

/// After a write: the session list, sorted the ways that read the sums, and the detail of
/// `sessions` and of each list's first session, and the trace of each of `traces`: all 2xx or
/// 4xx (a 5xx here is data that was stored but cannot be read back).
fn reads_after_write(
    h: &Harness,
    sessions: &[String],
    traces: &[String],
) -> Result<(), TestCaseError> {
    let mut details: Vec<String> = sessions.to_vec();
    for sort in [
        "-last_activity",
        "-total_tokens",
        "-total_cost",
        "-total_duration",
    ] {
        let path = format!("/api/v1/observability/sessions/?sort={sort}&limit=5");
        let reply = h.rt.block_on(get(&h.app, &path));
        no_5xx(h, &format!("GET {path}"), &reply)?;
        if let Some(first) = reply.json()["results"][0]["session_id"].as_str() {
            details.push(first.to_string());
        }
    }
    details.sort();
    details.dedup();
    let enc = threadline::model::query::encode_component;
    let paths = details
        .iter()
        .map(|id| format!("/api/v1/observability/sessions/{}/", enc(id)))
        .chain(
            traces
                .iter()
                .map(|t| format!("/api/v1/observability/traces/{t}/")),
        );
    for path in paths {
        let reply = h.rt.block_on(get(&h.app, &path));
        no_5xx(h, &format!("GET {path}"), &reply)?;
    }
    Ok(())
}

#[test]
fn native_ingestion_never_fails_on_hostile_bodies() {
    for h in harnesses() {
        let strategy = (
            native_body(),
            prop::sample::select(CONTENT_TYPES),
            0u8..4,
            prop::option::of(nasty()),
        );
        runner()
            .run(&strategy, |(body, content_type, zip, session)| {
                let mut req = Request::post("/api/v1/runs")
                    .header("authorization", format!("Bearer {}", h.key));
                if let Some(ct) = content_type {
                    req = req.header("content-type", ct);
                }
                // gzip sometimes, and sometimes a gzip header on a plain body.
                let body = match zip {
                    0 => {
                        req = req.header("content-encoding", "gzip");
                        gzip(&body)
                    }
                    1 => {
                        req = req.header("content-encoding", "gzip");
                        body
                    }
                    _ => body,
                };
                if let Some(s) = session.and_then(|s| HeaderValue::from_str(&s).ok()) {
                    req = req.header("x-session-id", s);
                }
                let reply =
                    h.rt.block_on(send(&h.app, req.body(Body::from(body)).unwrap()));
                no_5xx(&h, "POST /api/v1/runs", &reply)?;
                if reply.status == 200 {
                    let answer = reply.json();
                    prop_assert!(answer["accepted"].as_u64().unwrap() >= 1);
                    let sessions: Vec<String> = answer["runs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|r| r["session_id"].as_str().map(String::from))
                        .collect();
                    reads_after_write(&h, &sessions, &[])?;
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", h.backend));
        h.report("POST /api/v1/runs");
    }
}

#[test]
fn otlp_ingestion_never_fails_on_hostile_bodies() {
    for h in harnesses() {
        runner()
            .run(
                &(otlp_body(), any::<bool>()),
                |((content_type, body), zip)| {
                    let mut req = Request::post("/v1/traces")
                        .header("authorization", format!("Bearer {}", h.key))
                        .header("content-type", content_type);
                    let traces = trace_ids(content_type, &body);
                    let body = if zip {
                        req = req.header("content-encoding", "gzip");
                        gzip(&body)
                    } else {
                        body
                    };
                    let reply =
                        h.rt.block_on(send(&h.app, req.body(Body::from(body)).unwrap()));
                    no_5xx(&h, "POST /v1/traces", &reply)?;
                    if reply.status == 200 {
                        reads_after_write(&h, &[], &traces)?;
                    }
                    Ok(())
                },
            )
            .unwrap_or_else(|e| panic!("{}: {e}", h.backend));
        h.report("POST /v1/traces");
    }
}

/// The distinct trace ids (hex) of a body that decodes, for reading them back.
fn trace_ids(content_type: &str, body: &[u8]) -> Vec<String> {
    use threadline::ingest::otlp::decode::{decode_request, Encoding};
    let Some(encoding) = Encoding::from_content_type(content_type) else {
        return Vec::new();
    };
    let Ok(request) = decode_request(body, encoding) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .filter(|s| s.trace_id.len() == 16)
        .map(|s| s.trace_id.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    ids.sort();
    ids.dedup();
    ids.truncate(4);
    ids
}

/// Every extreme number and a long name in every field that takes one, on both formats,
/// deterministically (the random cases above may miss one on a given run): each write is
/// refused or stored, and the reads after it answer.
#[test]
fn every_extreme_value_is_refused_or_stored_and_read_back() {
    // Random letters: a repeated one would be compressed below PostgreSQL's index row limit.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let long: String = (0..9000)
        .map(|_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'!' + (seed >> 58) as u8 + (seed >> 40) as u8 % 30)
        })
        .chain("é𝄞".chars())
        .collect();
    let check = |h: &Harness, what: &str, reply: &Reply, sessions: &[String], traces: &[String]| {
        let result = no_5xx(h, what, reply).and_then(|()| {
            if reply.status == 200 {
                reads_after_write(h, sessions, traces)
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            panic!("{what}: {e}");
        }
    };
    for h in harnesses() {
        let values: Vec<Value> = EXTREME_NUMBERS
            .iter()
            .map(|f| json!(f))
            .chain(EXTREME_INTEGERS.iter().map(|i| json!(i)))
            .chain([json!(u64::MAX), json!(long)])
            .collect();
        let fields = NUMBER_FIELDS
            .iter()
            .chain(NAME_FIELDS)
            .chain(&["latency_ms", "tools_called"]);
        let mut n = 0;
        for field in fields {
            for value in &values {
                n += 1;
                let value = match *field {
                    "latency_ms" => json!({ "upstream": value }),
                    "tools_called" => json!([value]),
                    _ => value.clone(),
                };
                // Two runs in one session, so that its sums add them up.
                let session = format!("edge-{n}");
                let run = |i: usize| {
                    let mut run = json!({"id": format!("edge-{n}-{i}"), "session_id": session,
                                         "started_at": at(n as f64)});
                    run[*field] = value.clone();
                    run
                };
                let body = json!({"runs": [run(0), run(1)]});
                let reply =
                    h.rt.block_on(post_json(&h.app, "/api/v1/runs", Some(&h.key), &body));
                check(
                    &h,
                    &format!("POST /api/v1/runs {field}"),
                    &reply,
                    &[session],
                    &[],
                );
            }
        }
        let otlp_values = [
            json!({"intValue": i64::MAX.to_string()}),
            json!({"intValue": "1000000000001"}),
            json!({"doubleValue": 1e11}),
            json!({"doubleValue": 1e300}),
            json!({"doubleValue": 31_622_400_001.0}),
            json!({"doubleValue": 1e19}),
            json!({"stringValue": "1e30"}),
            json!({"stringValue": long}),
        ];
        for key in OTLP_EDGE_KEYS {
            for value in &otlp_values {
                for operation in ["chat", "execute_tool"] {
                    n += 1;
                    let trace = format!("{n:032x}");
                    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
                        "traceId": trace, "spanId": "00000000000000ff", "name": "edge",
                        "startTimeUnixNano": "1767225600000000000",
                        "endTimeUnixNano": "1767225601000000000",
                        "attributes": [
                            {"key": "session.id", "value": {"stringValue": format!("otlp-edge-{n}")}},
                            {"key": "gen_ai.operation.name", "value": {"stringValue": operation}},
                            {"key": key, "value": value},
                        ]
                    }]}]}]});
                    let request = Request::post("/v1/traces")
                        .header("authorization", format!("Bearer {}", h.key))
                        .header("content-type", "application/json")
                        .body(Body::from(body.to_string()))
                        .unwrap();
                    let reply = h.rt.block_on(send(&h.app, request));
                    check(
                        &h,
                        &format!(
                            "POST /v1/traces {key} = {}",
                            &value.to_string()[..40.min(value.to_string().len())]
                        ),
                        &reply,
                        &[],
                        &[trace],
                    );
                }
            }
        }
        h.report(&format!("{n} writes of extreme values"));
    }
}

/// A query string: known parameters with odd values, or raw URI characters.
fn query() -> impl Strategy<Value = String> {
    let pair = (
        prop_oneof![
            4 => prop::sample::select(PARAMS).prop_map(str::to_string),
            1 => "[a-z%_]{0,6}",
        ],
        prop_oneof![
            3 => prop::sample::select(PARAM_VALUES).prop_map(str::to_string),
            2 => "[A-Za-z0-9%+=_.~'*:@/?-]{0,16}",
        ],
    )
        .prop_map(|(k, v)| format!("{k}={v}"));
    prop_oneof![
        4 => prop::collection::vec(pair, 0..6).prop_map(|p| p.join("&")),
        1 => "[A-Za-z0-9%+=&_.~!$'()*,;:@/?-]{0,40}",
    ]
}

/// A path segment: an id as a client might send one, percent-encoded.
fn path_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("seed-a".to_string()),
        Just("0123456789abcdef0123456789abcdef".to_string()),
        nasty(),
    ]
    .prop_map(|id| threadline::model::query::encode_component(&id))
}

#[test]
fn read_endpoints_never_fail_on_hostile_queries() {
    for h in harnesses() {
        let strategy = (0u8..6, path_id(), query());
        runner()
            .run(&strategy, |(endpoint, id, query)| {
                let path = match endpoint {
                    0 | 1 => format!("/api/v1/observability/sessions/?{query}"),
                    2 => format!("/api/v1/observability/sessions/{id}/?{query}"),
                    3 => format!("/api/v1/observability/traces/{id}/?{query}"),
                    4 => format!("/?{query}"),
                    _ => format!("/sessions/{id}?{query}"),
                };
                let Ok(request) = Request::get(&path).body(Body::empty()) else {
                    // Not a URI at all: nothing a client could send.
                    return Ok(());
                };
                let reply = h.rt.block_on(send(&h.app, request));
                no_5xx(&h, &format!("GET {path}"), &reply)?;
                if path.starts_with("/api/") {
                    prop_assert!(
                        serde_json::from_slice::<Value>(&reply.body).is_ok(),
                        "GET {path}: not JSON"
                    );
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", h.backend));
        // A trace page for each kind of id too.
        runner()
            .run(&path_id(), |id| {
                let path = format!("/traces/{id}");
                let Ok(request) = Request::get(&path).body(Body::empty()) else {
                    return Ok(());
                };
                let reply = h.rt.block_on(send(&h.app, request));
                no_5xx(&h, &format!("GET {path}"), &reply)
            })
            .unwrap_or_else(|e| panic!("{}: {e}", h.backend));
        h.report("GET REST endpoints, pages");
    }
}

/// Every nasty string as every id and filter, deterministically (the random cases above may
/// miss one on a given run).
#[test]
fn every_nasty_string_is_a_harmless_id_and_filter() {
    for h in harnesses() {
        let mut paths = Vec::new();
        for s in NASTY
            .iter()
            .map(|s| s.to_string())
            .chain(["x".repeat(10_000)])
        {
            let enc = threadline::model::query::encode_component(&s);
            paths.push(format!("/api/v1/observability/sessions/{enc}/"));
            paths.push(format!("/api/v1/observability/traces/{enc}/"));
            paths.push(format!("/sessions/{enc}"));
            paths.push(format!("/traces/{enc}"));
            for param in PARAMS {
                paths.push(format!("/api/v1/observability/sessions/?{param}={enc}"));
            }
            paths.push(format!("/?q={enc}&agent={enc}&start={enc}"));
        }
        for path in &paths {
            let reply = h.rt.block_on(get(&h.app, path));
            if let Err(e) = no_5xx(&h, &format!("GET {path}"), &reply) {
                panic!("{e}");
            }
        }
        h.report(&format!("{} fixed GETs", paths.len()));
    }
}
