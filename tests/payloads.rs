//! Everything a client sends is data (SPEC §7): XSS and SQL-injection payloads sent as session
//! ids, agent/tool/model names, user ids, attributes, messages and span fields come back escaped
//! in the server-rendered pages, match only themselves in the REST filters, and leave every
//! table in place. On every backend.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::json;
use threadline::model::query::encode_component;

/// The payloads, each used in every field at once for its own session.
const PAYLOADS: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'; DROP TABLE sessions; --",
    "%' OR 1=1 --",
    "</script><script>alert(2)</script>",
    "' OR '1'='1",
    "\" OR \"\"=\"",
    "<svg/onload=alert(3)>",
    "_%\\",
    "{{7*7}}${7*7}<!--",
];

/// Markup that must never reach a page unescaped. (A lone `>` or quote in text is harmless:
/// without its `<` no tag can start, so only the tags are looked for.)
const RAW_MARKUP: &[&str] = &[
    "<script>alert",
    "<img src=x",
    "<svg/onload",
    "</script><script>",
    "${7*7}<!--",
];

fn trace_id(i: usize) -> String {
    format!("{:032x}", 0xabc0 + i)
}

/// The whole page, and a version with HTML's and JSON's escapes undone, to find the payload in.
fn unescaped(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("\\u003c", "<")
        .replace("\\u003e", ">")
        .replace("\\u003C", "<")
        .replace("\\u003E", ">")
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
        .replace("&amp;", "&")
}

async fn tables(store_url: &str) -> BTreeSet<String> {
    use sqlx::{Connection, Row};
    let sql = if store_url.starts_with("sqlite:") {
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    } else {
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public'"
    };
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(store_url)
        .await
        .expect("connect");
    let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("tables");
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

fn ids(reply: &Reply) -> BTreeSet<String> {
    reply.json()["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.text()))
        .iter()
        .map(|s| s["session_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn payloads_are_data_escaped_in_pages_and_matched_literally() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let app = app(store);
        let before = tables(&db.url).await;

        let mut runs = vec![json!({
            "id": "plain-run", "session_id": "plain-session", "started_at": at(0.0),
            "agent_name": "plain-agent", "model": "gpt-4o", "tools_called": ["search"],
            "user_id": "plain-user", "input": "hello", "output": "hi"
        })];
        for (i, p) in PAYLOADS.iter().enumerate() {
            runs.push(json!({
                "id": format!("run-{i}-{p}"), "session_id": p, "started_at": at(i as f64 + 1.0),
                "duration_ms": 1000, "agent_name": p, "workflow_name": p, "model": p,
                "tools_forwarded": [p], "tools_called": [p, "search"], "user_id": p,
                "status": "error", "error": p, "input": p, "output": p,
                "attributes": {"note": p, (*p): p}, "trace_id": trace_id(i)
            }));
        }
        let r = post_json(&app, "/api/v1/runs", Some(&key), &json!({ "runs": runs })).await;
        assert_eq!(r.status, 200, "{}: {}", db.backend, r.text());
        // Spans for each payload's trace, payloads in every span field.
        for (i, p) in PAYLOADS.iter().enumerate() {
            let attr = |k: &str| json!({"key": k, "value": {"stringValue": p}});
            let body = json!({"resourceSpans": [{
                "resource": {"attributes": [attr("service.name")]},
                "scopeSpans": [{"scope": {"name": p}, "spans": [{
                    "traceId": trace_id(i), "spanId": "00000000000000a1", "name": p,
                    "startTimeUnixNano": "1767225600000000000",
                    "endTimeUnixNano": "1767225601000000000",
                    "attributes": [attr("gen_ai.tool.name"), attr(p), attr("input.value")],
                    "events": [{"name": p, "timeUnixNano": "1767225600500000000",
                                "attributes": [attr("event.detail")]}],
                    "status": {"code": 2, "message": p}
                }]}]
            }]});
            let r = send(
                &app,
                Request::post("/v1/traces")
                    .header("authorization", format!("Bearer {key}"))
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
            assert_eq!(r.status, 200, "{}: {}", db.backend, r.text());
            assert!(
                !r.text().contains("rejected"),
                "{}: spans kept: {}",
                db.backend,
                r.text()
            );
        }

        // Pages: every payload shown, none as markup.
        let mut pages = vec!["/".to_string(), "/?limit=100".to_string()];
        for (i, p) in PAYLOADS.iter().enumerate() {
            pages.push(format!("/sessions/{}", encode_component(p)));
            pages.push(format!("/traces/{}", trace_id(i)));
            pages.push(format!("/?q={}", encode_component(p)));
        }
        for page in &pages {
            let r = get(&app, page).await;
            assert_eq!(r.status, 200, "{} {page}", db.backend);
            let html = r.text();
            for raw in RAW_MARKUP {
                assert!(
                    !html.contains(raw),
                    "{} {page}: unescaped `{raw}` in the page",
                    db.backend
                );
            }
        }
        for (i, p) in PAYLOADS.iter().enumerate() {
            for page in [
                format!("/sessions/{}", encode_component(p)),
                format!("/traces/{}", trace_id(i)),
            ] {
                let html = get(&app, &page).await.text();
                assert!(
                    unescaped(&html).contains(p),
                    "{} {page}: the payload `{p}` is shown as text",
                    db.backend
                );
            }
        }

        // REST filters: each payload matches exactly its own session, as plain text.
        let all: Vec<&str> = PAYLOADS.iter().copied().chain(["plain-session"]).collect();
        for p in PAYLOADS {
            let enc = encode_component(p);
            let contains: BTreeSet<String> = all
                .iter()
                .filter(|id| id.to_lowercase().contains(&p.to_lowercase()))
                .map(|s| s.to_string())
                .collect();
            let only: BTreeSet<String> = [p.to_string()].into();
            for (param, expected) in [
                ("search", &contains),
                ("q", &contains),
                ("agent", &only),
                ("model", &only),
                ("tool", &only),
                ("user", &only),
            ] {
                let r = get(
                    &app,
                    &format!("/api/v1/observability/sessions/?limit=100&{param}={enc}"),
                )
                .await;
                assert_eq!(r.status, 200, "{} {param}={p}: {}", db.backend, r.text());
                assert_eq!(&ids(&r), expected, "{} {param}={p}", db.backend);
            }
            let r = get(
                &app,
                &format!("/api/v1/observability/sessions/{enc}/?runs_limit=10"),
            )
            .await;
            assert_eq!(r.status, 200, "{} detail {p}: {}", db.backend, r.text());
            let d = r.json();
            assert_eq!(d["session_id"], *p);
            assert_eq!(d["runs"][0]["input"], *p, "messages are stored verbatim");
            assert_eq!(d["runs"][0]["attributes"][*p], *p);
        }

        // Nothing was dropped or added, everything is still there.
        let r = get(&app, "/api/v1/observability/sessions/?limit=100").await;
        assert_eq!(r.json()["count"], PAYLOADS.len() + 1, "{}", db.backend);
        assert_eq!(tables(&db.url).await, before, "{}: tables", db.backend);
        println!(
            "payloads ({}): {} payloads in every run and span field, {} pages checked",
            db.backend,
            PAYLOADS.len(),
            pages.len()
        );
    }
}
