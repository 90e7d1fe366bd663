//! Request limits (SPEC §7), each configurable: body size (also after gzip), runs per batch,
//! spans per request, value sizes (kept whole within the limit, previews cut on pages) and
//! session ids. Every limit answers a clear 4xx and writes nothing it refused.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::raw::gzip;
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use serde_json::{json, Value};

use threadline::server::config::{Limits, ValueLimits};

async fn session_count(app: &axum::Router) -> i64 {
    get(app, "/api/v1/observability/sessions/").await.json()["count"]
        .as_i64()
        .unwrap()
}

/// An OTLP JSON request with one span per `(span id, attributes)`.
fn otlp(trace: &str, spans: &[(u8, Value)]) -> Vec<u8> {
    let spans: Vec<Value> = spans
        .iter()
        .map(|(id, attrs)| {
            json!({"traceId": trace, "spanId": format!("{id:016x}"), "name": "s",
                   "startTimeUnixNano": "1767225600000000000",
                   "endTimeUnixNano": "1767225601000000000", "attributes": attrs})
        })
        .collect();
    json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
        .to_string()
        .into_bytes()
}

async fn post_raw(
    app: &axum::Router,
    path: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let mut req = Request::post(path).header("authorization", format!("Bearer {key}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(app, req.body(Body::from(body)).unwrap()).await
}

fn str_attr(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_plain_gzipped_or_declared() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let limits = Limits {
            max_body_bytes: 64 * 1024,
            ..Limits::default()
        };
        let app = app_with_limits(store, limits);
        let json_ct = [("content-type", "application/json")];
        let big = otlp(
            "5b8efff798038103d269b633813fc60c",
            &[(1, json!([str_attr("input.value", &"x".repeat(70_000))]))],
        );
        let r = post_raw(&app, "/v1/traces", &key, &json_ct, big.clone()).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
        assert!(r.json()["error"].as_str().unwrap().contains("65536 bytes"));
        // A gzip bomb: 50 MB of zeros in about 50 kB, refused once 64 kB are inflated.
        let bomb = gzip(&vec![b'0'; 50 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024);
        for path in ["/v1/traces", "/api/v1/runs"] {
            let r = post_raw(
                &app,
                path,
                &key,
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", "gzip"),
                ],
                bomb.clone(),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::PAYLOAD_TOO_LARGE,
                "{path}: {}",
                r.text()
            );
        }
        // A declared length over the limit is refused before reading.
        let r = send(
            &app,
            Request::post("/api/v1/runs")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .header("content-length", "100000000")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        // Within the limit, compressed or not, it is stored.
        let ok = otlp(
            "5b8efff798038103d269b633813fc60c",
            &[(1, json!([str_attr("session.id", "fits")]))],
        );
        let r = post_raw(
            &app,
            "/v1/traces",
            &key,
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gzip(&ok),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(session_count(&app).await, 1, "{}", db.backend);
    }
}

#[tokio::test]
async fn runs_per_batch_and_spans_per_request_are_limited() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let limits = Limits {
            max_batch_runs: 3,
            max_spans_per_request: 2,
            ..Limits::default()
        };
        let app = app_with_limits(store, limits);
        let runs = |n: usize| {
            let runs: Vec<Value> = (0..n)
                .map(|i| json!({"session_id": format!("s{n}"), "started_at": at(i as f64)}))
                .collect();
            json!({ "runs": runs })
        };
        let r = post_json(&app, "/api/v1/runs", Some(&key), &runs(4)).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("limit per request is 3"));
        let r = post_json(&app, "/api/v1/runs", Some(&key), &runs(3)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());

        let trace = "0123456789abcdef0123456789abcdef";
        let spans = |n: u8| -> Vec<(u8, Value)> {
            (1..=n)
                .map(|i| (i, json!([str_attr("session.id", "spans")])))
                .collect()
        };
        let ct = [("content-type", "application/json")];
        let r = post_raw(&app, "/v1/traces", &key, &ct, otlp(trace, &spans(3))).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("limit per request is 2"));
        assert_eq!(
            session_count(&app).await,
            1,
            "{}: nothing of the refused",
            db.backend
        );
        // Every span in the request counts, including one that would be rejected (id 0).
        let mut with_invalid = spans(2);
        with_invalid.push((0, json!([str_attr("session.id", "spans")])));
        let r = post_raw(&app, "/v1/traces", &key, &ct, otlp(trace, &with_invalid)).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
        let r = post_raw(&app, "/v1/traces", &key, &ct, otlp(trace, &spans(2))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(session_count(&app).await, 2, "{}", db.backend);
    }
}

#[tokio::test]
async fn oversized_values_are_refused_by_field_and_span() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let limits = Limits {
            values: ValueLimits {
                max_value_bytes: 1000,
                ..ValueLimits::default()
            },
            ..Limits::default()
        };
        let app = app_with_limits(store, limits);
        let run = |field: &str, value: Value| {
            let mut run = json!({"session_id": "values", "started_at": at(0.0)});
            run[field] = value;
            json!({ "runs": [run] })
        };
        for (field, value, error_field) in [
            ("input", json!("x".repeat(1001)), "input"),
            ("output", json!("é".repeat(501)), "output"),
            ("error", json!("x".repeat(1001)), "error"),
            (
                "attributes",
                json!({"big": "x".repeat(1000)}),
                "attributes.big",
            ),
        ] {
            let r = post_json(&app, "/api/v1/runs", Some(&key), &run(field, value)).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text());
            let errors = r.json()["errors"].clone();
            assert_eq!(errors[0]["field"], error_field, "{errors}");
            assert!(
                errors[0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("the limit is 1000 bytes"),
                "{errors}"
            );
        }
        assert_eq!(session_count(&app).await, 0, "{}", db.backend);
        // At the limit it is kept whole.
        let r = post_json(
            &app,
            "/api/v1/runs",
            Some(&key),
            &run("input", json!("y".repeat(1000))),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let d = get(&app, "/api/v1/observability/sessions/values/")
            .await
            .json();
        assert_eq!(d["runs"][0]["input"].as_str().unwrap().len(), 1000);

        // OTLP: the span with the oversized attribute is rejected, its sibling kept.
        let body = otlp(
            "0123456789abcdef0123456789abcdef",
            &[
                (1, json!([str_attr("session.id", "otlp-values")])),
                (2, json!([str_attr("input.value", &"x".repeat(1000))])),
            ],
        );
        let r = post_raw(
            &app,
            "/v1/traces",
            &key,
            &[("content-type", "application/x-protobuf")],
            {
                let req = threadline::ingest::otlp::decode::decode_request(
                    &body,
                    threadline::ingest::otlp::decode::Encoding::Json,
                )
                .unwrap();
                req.encode_to_vec()
            },
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let partial = ExportTraceServiceResponse::decode(&r.body[..])
            .unwrap()
            .partial_success
            .expect("partial success");
        assert_eq!(partial.rejected_spans, 1);
        assert!(
            partial
                .error_message
                .contains("span attribute `input.value` is 1013 bytes; the limit is 1000 bytes"),
            "{}",
            partial.error_message
        );
        let t = get(
            &app,
            "/api/v1/observability/traces/0123456789abcdef0123456789abcdef/",
        )
        .await;
        assert_eq!(
            t.json()["spans"].as_array().unwrap().len(),
            1,
            "{}",
            db.backend
        );
    }
}

/// A list and a detail read of every session answer 200.
async fn reads_answer(app: &axum::Router, backend: &str) {
    let list = get(app, "/api/v1/observability/sessions/?limit=100").await;
    assert_eq!(list.status, StatusCode::OK, "{backend}: {}", list.text());
    for s in list.json()["results"].as_array().unwrap() {
        let id = threadline::model::query::encode_component(s["session_id"].as_str().unwrap());
        let d = get(app, &format!("/api/v1/observability/sessions/{id}/")).await;
        assert_eq!(d.status, StatusCode::OK, "{backend}: {}", d.text());
    }
}

#[tokio::test]
async fn numbers_and_names_beyond_the_bounds_are_refused_by_field_and_span() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let app = app(store);
        let long = "u".repeat(20_000);
        for (field, value) in [
            ("input_tokens", json!(i64::MAX)),
            ("output_tokens", json!(1_000_000_000_001i64)),
            ("tokens_saved", json!(u64::MAX)),
            ("cost", json!(1e11)),
            ("duration_ms", json!(1e15)),
            ("user_id", json!(long)),
            ("model", json!(long)),
            ("agent_name", json!(long)),
        ] {
            let mut run = json!({"session_id": "bounds", "started_at": at(0.0)});
            run[field] = value;
            for _ in 0..2 {
                let r = post_json(&app, "/api/v1/runs", Some(&key), &json!({"runs": [run]})).await;
                assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text());
                assert_eq!(r.json()["errors"][0]["field"], field, "{}", r.text());
            }
        }
        assert_eq!(session_count(&app).await, 0, "{}", db.backend);
        // At the bounds, twice in one session: stored, and the session's sums read back.
        let at_bounds = json!({"session_id": "bounds", "started_at": at(0.0),
            "input_tokens": 1_000_000_000_000i64, "output_tokens": 1_000_000_000_000i64,
            "tokens_saved": 1_000_000_000_000i64, "cost": 1e6, "duration_ms": 31_622_400_000i64,
            "latency_ms": {"upstream": 31_622_400_000i64}, "user_id": "u".repeat(256)});
        let r = post_json(
            &app,
            "/api/v1/runs",
            Some(&key),
            &json!({"runs": [at_bounds, at_bounds]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let d = get(&app, "/api/v1/observability/sessions/bounds/").await;
        assert_eq!(d.status, StatusCode::OK, "{}: {}", db.backend, d.text());
        assert_eq!(d.json()["aggregates"]["input_tokens"], 2_000_000_000_000i64);

        // OTLP: each such span is rejected, its sibling kept.
        let chat = |extra: Value| {
            let mut attrs = vec![
                str_attr("gen_ai.operation.name", "chat"),
                str_attr("session.id", "otlp-bounds"),
            ];
            attrs.extend(extra.as_array().unwrap().iter().cloned());
            Value::Array(attrs)
        };
        let body = otlp(
            "0123456789abcdef0123456789abcdef",
            &[
                (1, chat(json!([]))),
                (2, chat(json!([str_attr("user.id", &long)]))),
                (3, chat(json!([str_attr("gen_ai.request.model", &long)]))),
                (
                    4,
                    chat(
                        json!([{"key": "gen_ai.usage.input_tokens", "value": {"intValue": i64::MAX.to_string()}}]),
                    ),
                ),
                (
                    5,
                    chat(json!([{"key": "gen_ai.usage.cost", "value": {"doubleValue": 1e11}}])),
                ),
            ],
        );
        let r = post_raw(
            &app,
            "/v1/traces",
            &key,
            &[("content-type", "application/json")],
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let partial = &r.json()["partialSuccess"];
        assert_eq!(partial["rejectedSpans"], 4, "{}", r.text());
        let message = partial["errorMessage"].as_str().unwrap();
        for reason in [
            "`user.id` is longer than 256",
            "`gen_ai.request.model` is longer",
            "input token count",
            "`gen_ai.usage.cost` is more",
        ] {
            assert!(message.contains(reason), "{reason}: {message}");
        }
        let t = get(
            &app,
            "/api/v1/observability/traces/0123456789abcdef0123456789abcdef/",
        )
        .await;
        assert_eq!(
            t.json()["spans"].as_array().unwrap().len(),
            1,
            "{}",
            db.backend
        );
        reads_answer(&app, db.backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_is_not_asked_for_and_its_connection_closes() {
    let db = databases().await.remove(0);
    let (store, _, key) = store_with_key(&db).await;
    let limits = Limits {
        max_body_bytes: 64 * 1024,
        ..Limits::default()
    };
    let addr = raw::serve(app_with_limits(store, limits)).await;
    let head = |auth: &str, extra: &str, length: usize| {
        format!(
            "POST /api/v1/runs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {auth}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
        )
    };
    let within = Duration::from_secs(10);
    // Declared larger than the limit: 413 at once, the body never read, the connection closed.
    let started = Instant::now();
    let r = raw::exchange(addr, head(&key, "", 100_000_000).as_bytes(), within)
        .await
        .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // `Expect: 100-continue` refused (unknown key): 401 at once, without asking for the body.
    let started = Instant::now();
    let r = raw::exchange(
        addr,
        head("tl_unknown", "Expect: 100-continue\r\n", 1000).as_bytes(),
        within,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A refused request whose body arrived whole keeps its connection: the next request on it
    // is answered.
    let body = b"{\"runs\": []}";
    let mut bytes = head("tl_unknown", "", body.len()).into_bytes();
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(
        format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let r = raw::exchange(addr, &bytes, within).await.unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.header("connection"), None);
    assert!(r.text().contains("HTTP/1.1 200"), "{}", r.text());
}

#[tokio::test]
async fn long_messages_are_kept_whole_and_previews_cut() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let app = app(store);
        let long = format!("start {} end-of-message", "lorem ipsum ".repeat(5000));
        let r = post_json(
            &app,
            "/api/v1/runs",
            Some(&key),
            &json!({"runs": [{"session_id": "long", "started_at": at(0.0), "input": long}]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let d = get(&app, "/api/v1/observability/sessions/long/")
            .await
            .json();
        assert_eq!(d["runs"][0]["input"], long.as_str(), "stored whole");
        let page = get(&app, "/sessions/long").await.text();
        assert!(page.contains("Show all"), "the preview is cut");
        assert!(page.contains("start lorem ipsum"));
        let list = get(&app, "/").await.text();
        assert!(
            !list.contains("end-of-message"),
            "the list shows no message text"
        );
    }
}

#[tokio::test]
async fn session_ids_follow_the_rules_and_their_limit_is_configurable() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let limits = Limits {
            values: ValueLimits {
                max_session_id_chars: 10,
                ..ValueLimits::default()
            },
            ..Limits::default()
        };
        let app = app_with_limits(store, limits);
        let with_id = |id: &str| json!({"runs": [{"session_id": id, "started_at": at(0.0)}]});
        for (id, expect) in [
            ("0123456789", StatusCode::OK),
            ("é123456789", StatusCode::OK),
            ("01234567890", StatusCode::BAD_REQUEST),
            ("", StatusCode::BAD_REQUEST),
            ("a\nb", StatusCode::BAD_REQUEST),
            ("a\u{0}b", StatusCode::BAD_REQUEST),
        ] {
            let r = post_json(&app, "/api/v1/runs", Some(&key), &with_id(id)).await;
            assert_eq!(r.status, expect, "{id:?}: {}", r.text());
            if expect == StatusCode::BAD_REQUEST {
                assert_eq!(r.json()["errors"][0]["field"], "session_id");
            }
        }
        let r = send(
            &app,
            Request::post("/api/v1/runs")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .header("x-session-id", "01234567890")
                .body(Body::from(
                    json!({"runs": [{"started_at": at(0.0)}]}).to_string(),
                ))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.json()["errors"][0]["field"], "X-Session-Id");
        let r = post_raw(
            &app,
            "/v1/traces",
            &key,
            &[("content-type", "application/json")],
            otlp(
                "0123456789abcdef0123456789abcdef",
                &[(1, json!([str_attr("session.id", "01234567890")]))],
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.json()["partialSuccess"]["rejectedSpans"],
            1,
            "{}",
            r.text()
        );
        assert_eq!(session_count(&app).await, 2, "{}", db.backend);
    }
}

#[test]
fn every_limit_is_a_flag_with_an_environment_twin() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_threadline"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for (flag, env) in [
        ("--max-body-bytes", "THREADLINE_MAX_BODY_BYTES"),
        ("--max-batch-runs", "THREADLINE_MAX_BATCH_RUNS"),
        (
            "--max-spans-per-request",
            "THREADLINE_MAX_SPANS_PER_REQUEST",
        ),
        ("--max-value-bytes", "THREADLINE_MAX_VALUE_BYTES"),
        ("--max-session-id-chars", "THREADLINE_MAX_SESSION_ID_CHARS"),
        ("--max-pending-writes", "THREADLINE_MAX_PENDING_WRITES"),
        ("--max-pending-bytes", "THREADLINE_MAX_PENDING_BYTES"),
        ("--shutdown-timeout", "THREADLINE_SHUTDOWN_TIMEOUT"),
    ] {
        assert!(
            help.contains(flag) && help.contains(env),
            "{flag} / {env} in:\n{help}"
        );
    }
    for bad in [
        ["--max-session-id-chars", "513"],
        ["--max-pending-writes", "0"],
        ["--max-value-bytes", "lots"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_threadline"))
            .args(["--database-url", "sqlite::memory:", "serve"])
            .args(bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?} is refused");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(bad[0]),
            "{bad:?}: the error names the flag"
        );
    }
}
