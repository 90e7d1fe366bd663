//! Black-box tests through the real router: ingestion (native JSON and OTLP/HTTP) and the read
//! API, on every backend. Bad input must get a clear 4xx and write nothing.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::raw::gzip;
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::json;
use threadline::server::config::Limits;

async fn session_count(app: &axum::Router) -> i64 {
    get(app, "/api/v1/observability/sessions/").await.json()["count"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn native_runs_round_trip_through_the_api() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let app = app(store);
        let reply = send(
            &app,
            Request::post("/api/v1/runs")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .header("x-session-id", "from-header")
                .body(Body::from(json!({"runs": [
                    {"id": "r1", "started_at": at(0.0), "duration_ms": 1200, "model": "gpt-4o", "cost": 0.01,
                     "input_tokens": 100, "output_tokens": 50, "tools_called": ["search"]},
                    {"id": "r2", "session_id": "own", "started_at": at(1.0)}
                ]}).to_string()))
                .unwrap(),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}: {}",
            db.backend,
            reply.text()
        );
        let body = reply.json();
        assert_eq!(body["accepted"], 2);
        assert_eq!(
            body["runs"][0],
            json!({"id": "r1", "session_id": "from-header"})
        );
        assert_eq!(body["runs"][1], json!({"id": "r2", "session_id": "own"}));

        let list = get(&app, "/api/v1/observability/sessions/?sort=session_id").await;
        assert_eq!(list.status, StatusCode::OK);
        let list = list.json();
        assert_eq!(list["count"], 2);
        let s = &list["results"][0];
        assert_eq!(s["session_id"], "from-header");
        assert_eq!(s["run_count"], 1);
        assert_eq!(s["total_duration"], 1.2);
        assert_eq!(s["total_cost"], 0.01);
        assert_eq!(s["total_tokens"], 150);
        assert_eq!(s["first_run"], "2026-01-01T00:00:00Z");
        assert_eq!(s["agents"], json!(["default"]));
        assert_eq!(s["tools"], json!(["search"]));

        // gzip bodies are accepted.
        let reply = send(
            &app,
            Request::post("/api/v1/runs")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(Body::from(gzip(
                    json!({"runs": [{"session_id": "zipped", "started_at": at(5.0)}]})
                        .to_string()
                        .as_bytes(),
                )))
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(session_count(&app).await, 3);

        // Session detail, with paged runs and exact aggregates.
        for i in 0..5 {
            let r = post_json(&app, "/api/v1/runs", Some(&key), &json!({"runs": [
                {"id": format!("long-{i}"), "session_id": "long one", "started_at": at(10.0 + i as f64), "cost": 0.25}
            ]})).await;
            assert_eq!(r.status, StatusCode::OK);
        }
        let d = get(
            &app,
            "/api/v1/observability/sessions/long%20one/?runs_limit=2&runs_offset=2",
        )
        .await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.text());
        let d = d.json();
        assert_eq!(d["aggregates"]["run_count"], 5);
        assert_eq!(d["aggregates"]["total_cost"], 1.25);
        let ids: Vec<&str> = d["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["long-2", "long-3"]);
        assert_eq!(d["runs"][0]["status"], "success");
        let r1 = get(&app, "/api/v1/observability/sessions/from-header")
            .await
            .json();
        assert_eq!(r1["runs"][0]["tokens"], 150);
        assert_eq!(r1["runs"][0]["duration"], 1.2);
        assert_eq!(r1["runs"][0]["model"], "gpt-4o");
        let unknown = get(&app, "/api/v1/nothing/here").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert!(unknown.json()["error"]
            .as_str()
            .unwrap()
            .contains("/api/v1/nothing/here"));
        let missing = get(&app, "/api/v1/observability/sessions/nope/").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.json()["error"].is_string());
        let bad = get(
            &app,
            "/api/v1/observability/sessions/long%20one/?runs_limit=-1",
        )
        .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let missing = get(
            &app,
            "/api/v1/observability/traces/0123456789abcdef0123456789abcdef/",
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_write_nothing() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let limits = Limits {
            max_body_bytes: 4096,
            ..Limits::default()
        };
        let app = app_with_limits(store, limits);
        let good = json!({"runs": [{"started_at": at(0.0)}]});

        let r = post_json(&app, "/api/v1/runs", None, &good).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.json()["error"].as_str().unwrap().contains("API key"));
        let r = post_json(&app, "/api/v1/runs", Some("tl_0000"), &good).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);

        let r = post_json(
            &app,
            "/api/v1/runs",
            Some(&key),
            &json!({"runs": [
                {"started_at": at(0.0), "session_id": "fine"},
                {"started_at": "not a time", "cost": -1},
            ]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let errors = r.json()["errors"].as_array().unwrap().clone();
        assert!(errors.contains(&json!({"index": 1, "field": "started_at", "error": "`not a time` is not an RFC 3339 time"})), "{errors:?}");
        assert!(errors
            .iter()
            .any(|e| e["index"] == 1 && e["field"] == "cost"));

        for body in ["", "nope", "[]", "{\"runs\": 3}"] {
            let r = send(
                &app,
                Request::post("/api/v1/runs")
                    .header("authorization", format!("Bearer {key}"))
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}");
            assert!(r.json()["error"].is_string());
        }
        let r = send(
            &app,
            Request::post("/api/v1/runs")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "text/plain")
                .body(Body::from(good.to_string()))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let big = json!({"runs": [{"started_at": at(0.0), "input": "x".repeat(5000)}]});
        let r = post_json(&app, "/api/v1/runs", Some(&key), &big).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
        // Small when compressed, too large once inflated.
        let r = send(
            &app,
            Request::post("/api/v1/runs")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(Body::from(gzip(big.to_string().as_bytes())))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
        let r = send(
            &app,
            Request::post("/api/v1/runs")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(Body::from("not gzip"))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);

        assert_eq!(
            session_count(&app).await,
            0,
            "{}: nothing may be written",
            db.backend
        );

        for (query, param) in [
            ("sort=cost", "sort"),
            ("limit=-1", "limit"),
            ("start=yesterday", "start"),
            ("offset=x", "offset"),
        ] {
            let r = get(&app, &format!("/api/v1/observability/sessions/?{query}")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
            assert!(
                r.json()["error"].as_str().unwrap().contains(param),
                "{query}: {}",
                r.text()
            );
        }
        assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(text: &str) -> any_value::Value {
    any_value::Value::StringValue(text.into())
}

/// A small trace: an agent root span carrying the session key, an LLM span and a tool span.
fn otlp_request(trace: [u8; 16], session_key: &str) -> ExportTraceServiceRequest {
    let t0: u64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z
    let span =
        |id: u8, parent: Option<u8>, name: &str, start: u64, end: u64, attrs: Vec<KeyValue>| Span {
            trace_id: trace.to_vec(),
            span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
            parent_span_id: parent
                .map(|p| vec![0, 0, 0, 0, 0, 0, 0, p])
                .unwrap_or_default(),
            name: name.into(),
            kind: 1,
            start_time_unix_nano: t0 + start,
            end_time_unix_nano: t0 + end,
            attributes: attrs,
            status: Some(Status {
                code: status::StatusCode::Unset as i32,
                message: String::new(),
            }),
            ..Default::default()
        };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("billing-bot"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    span(
                        1,
                        None,
                        "invoke_agent",
                        0,
                        3_000_000_000,
                        vec![kv(session_key, s("conv-otlp"))],
                    ),
                    span(
                        2,
                        Some(1),
                        "chat gpt-4o",
                        100_000_000,
                        2_000_000_000,
                        vec![
                            kv("gen_ai.operation.name", s("chat")),
                            kv("gen_ai.request.model", s("gpt-4o")),
                            kv("gen_ai.usage.input_tokens", any_value::Value::IntValue(120)),
                            kv("gen_ai.usage.output_tokens", any_value::Value::IntValue(30)),
                        ],
                    ),
                    span(
                        3,
                        Some(1),
                        "execute_tool lookup",
                        2_000_000_000,
                        2_500_000_000,
                        vec![
                            kv("gen_ai.operation.name", s("execute_tool")),
                            kv("gen_ai.tool.name", s("lookup")),
                        ],
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The same request in the OTLP JSON encoding, as exporters write it.
fn otlp_json(trace_hex: &str, session_key: &str) -> serde_json::Value {
    let t0: u64 = 1_767_225_600_000_000_000;
    let span = |id: u8,
                parent: Option<u8>,
                name: &str,
                start: u64,
                end: u64,
                attrs: serde_json::Value| {
        let mut v = json!({
            "traceId": trace_hex, "spanId": format!("{:016x}", id), "name": name, "kind": 1,
            "startTimeUnixNano": (t0 + start).to_string(), "endTimeUnixNano": (t0 + end).to_string(),
            "attributes": attrs, "status": {}
        });
        if let Some(p) = parent {
            v["parentSpanId"] = format!("{:016x}", p).into();
        }
        v
    };
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing-bot"}}]},
        "scopeSpans": [{"spans": [
            span(1, None, "invoke_agent", 0, 3_000_000_000, json!([{"key": session_key, "value": {"stringValue": "conv-otlp"}}])),
            span(2, Some(1), "chat gpt-4o", 100_000_000, 2_000_000_000, json!([
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "120"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "30"}}
            ])),
            span(3, Some(1), "execute_tool lookup", 2_000_000_000, 2_500_000_000, json!([
                {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
                {"key": "gen_ai.tool.name", "value": {"stringValue": "lookup"}}
            ]))
        ]}]
    }]})
}

async fn post_otlp(app: &axum::Router, key: &str, content_type: &str, body: Vec<u8>) -> Reply {
    send(
        app,
        Request::post("/v1/traces")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn otlp_protobuf_and_json_give_the_same_sessions() {
    for db in databases().await {
        let mut results = Vec::new();
        for encoding in ["protobuf", "json"] {
            let (store, _, key) = store_with_key(&db).await;
            // A separate project per encoding keeps the two datasets apart in one database.
            let app = app(store.clone());
            let trace = [7u8; 16];
            let reply = if encoding == "protobuf" {
                post_otlp(
                    &app,
                    &key,
                    "application/x-protobuf",
                    otlp_request(trace, "gen_ai.conversation.id").encode_to_vec(),
                )
                .await
            } else {
                post_otlp(
                    &app,
                    &key,
                    "application/json",
                    otlp_json(&hex(&trace), "gen_ai.conversation.id")
                        .to_string()
                        .into_bytes(),
                )
                .await
            };
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{} {encoding}: {}",
                db.backend,
                reply.text()
            );
            if encoding == "protobuf" {
                assert_eq!(reply.headers["content-type"], "application/x-protobuf");
                let decoded = ExportTraceServiceResponse::decode(&reply.body[..]).unwrap();
                assert!(decoded
                    .partial_success
                    .is_none_or(|p| p.rejected_spans == 0));
            } else {
                assert_eq!(reply.headers["content-type"], "application/json");
            }
            // Sending the same spans again stores nothing new.
            let again = post_otlp(
                &app,
                &key,
                "application/x-protobuf",
                otlp_request(trace, "gen_ai.conversation.id").encode_to_vec(),
            )
            .await;
            assert_eq!(again.status, StatusCode::OK);

            let project = store.verify_key(&key).await.unwrap().unwrap().project_id;
            let d = store
                .session_detail(project, "conv-otlp", 10, 0)
                .await
                .unwrap()
                .expect("session exists");
            assert_eq!(d.grouped_by.as_deref(), Some("gen_ai.conversation.id"));
            assert_eq!(d.aggregates.run_count, 1);
            let run = &d.runs[0];
            assert_eq!(run.trace_id.as_deref(), Some(hex(&trace).as_str()));
            assert_eq!((run.input_tokens, run.output_tokens), (120, 30));
            assert_eq!(run.model.as_deref(), Some("gpt-4o"));
            assert_eq!(run.tools_called, vec!["lookup"]);
            assert_eq!(run.agent_name, "billing-bot");
            assert_eq!(run.duration, Some(3.0));
            results.push(serde_json::to_value(&d).unwrap());
            let t = get(
                &app,
                &format!("/api/v1/observability/traces/{}/", hex(&trace)),
            )
            .await;
            assert_eq!(t.status, StatusCode::OK);
            let t = t.json();
            assert_eq!(t["session_id"], "conv-otlp");
            assert_eq!(
                t["spans"].as_array().unwrap().len(),
                3,
                "each span stored once"
            );
            assert_eq!(t["spans"][0]["category"], "agent");
            assert_eq!(t["spans"][1]["category"], "llm");
            assert_eq!(t["spans"][2]["category"], "tool");
            assert_eq!(t["spans"][1]["parent_span_id"], t["spans"][0]["span_id"]);
            // Two tests share the database: clear this project's key name from the next round.
        }
        assert_eq!(
            results[0], results[1],
            "{}: protobuf and JSON differ",
            db.backend
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_late_root_span_moves_the_run_into_its_explicit_session() {
    for db in databases().await {
        let (store, owner, key) = store_with_key(&db).await;
        let app = app(store.clone());
        let mut request = otlp_request([9u8; 16], "session.id");
        let spans = std::mem::take(&mut request.resource_spans[0].scope_spans[0].spans);
        let (root, children) = spans.split_first().unwrap();
        // Children first: no session key yet, so the run is grouped automatically.
        request.resource_spans[0].scope_spans[0].spans = children.to_vec();
        let r = post_otlp(
            &app,
            &key,
            "application/x-protobuf",
            request.encode_to_vec(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let list = store
            .list_sessions(
                owner.project_id,
                &threadline::model::ListQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(list.count, 1);
        assert_eq!(list.results[0].grouping, "automatic", "{}", db.backend);
        // Then the root with `session.id`.
        request.resource_spans[0].scope_spans[0].spans = vec![root.clone()];
        let r = post_otlp(
            &app,
            &key,
            "application/x-protobuf",
            request.encode_to_vec(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let list = store
            .list_sessions(
                owner.project_id,
                &threadline::model::ListQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            list.count, 1,
            "{}: the automatic session disappears",
            db.backend
        );
        assert_eq!(list.results[0].session_id, "conv-otlp");
        assert_eq!(
            list.results[0].total_duration, 3.0,
            "the root span widened the run"
        );
        assert_eq!(list.results[0].total_tokens, 150);
    }
}

#[tokio::test]
async fn otlp_errors_follow_the_otlp_http_spec() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let app = app(store);
        let body = otlp_request([1u8; 16], "session.id").encode_to_vec();
        let r = send(
            &app,
            Request::post("/v1/traces")
                .header("content-type", "application/x-protobuf")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = post_otlp(&app, &key, "text/plain", body.clone()).await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let r = post_otlp(
            &app,
            &key,
            "application/x-protobuf",
            b"\xff\xff\xff garbage".to_vec(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = post_otlp(&app, &key, "application/json", b"{not json".to_vec()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        // gzip bodies are read like plain ones.
        let zipped = send(
            &app,
            Request::post("/v1/traces")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/x-protobuf")
                .header("content-encoding", "gzip")
                .body(Body::from(gzip(&body)))
                .unwrap(),
        )
        .await;
        assert_eq!(zipped.status, StatusCode::OK, "{}", zipped.text());
        // An invalid session id rejects that span, reported in partial_success.
        let mut req = otlp_request([2u8; 16], "session.id");
        req.resource_spans[0].scope_spans[0].spans[0].attributes =
            vec![kv("session.id", s(&"x".repeat(300)))];
        let r = post_otlp(&app, &key, "application/x-protobuf", req.encode_to_vec()).await;
        assert_eq!(r.status, StatusCode::OK);
        let resp = ExportTraceServiceResponse::decode(&r.body[..]).unwrap();
        let partial = resp.partial_success.expect("partial success");
        assert_eq!(partial.rejected_spans, 1);
        assert!(
            partial.error_message.contains("session"),
            "{}",
            partial.error_message
        );
        assert_eq!(
            session_count(&app).await,
            2,
            "{}: the valid spans were kept",
            db.backend
        );
    }
}
