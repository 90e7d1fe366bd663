//! The official OpenTelemetry Rust SDK's OTLP/HTTP exporter, pointed at a real Threadline server
//! on a loopback port: what it sends must come back as sessions, runs and aggregates.

mod common;

use std::collections::HashMap;

use common::*;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

/// The exporter's HTTP transport: one blocking request per export (`common::http_request`).
/// The SDK's bundled reqwest client would pull a second feature set of hyper, tower and
/// tower-http into the test build, and `cargo leptos build` would then recompile the server's
/// whole dependency tree instead of reusing this one.
#[derive(Debug)]
struct PlainHttp;

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for PlainHttp {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let addr = request
            .uri()
            .authority()
            .ok_or("no host")?
            .as_str()
            .parse()?;
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(n, v)| Ok((n.to_string(), v.to_str()?.to_string())))
            .collect::<Result<_, http::header::ToStrError>>()?;
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let (status, body) = http_request(
            addr,
            request.method().as_str(),
            request.uri().path(),
            &headers,
            request.body(),
        )?;
        Ok(http::Response::builder()
            .status(status)
            .body(bytes::Bytes::from(body))?)
    }
}

/// Sends one agent run of two turns through the SDK (blocking client, so on its own thread).
fn export_with_sdk(endpoint: String, key: String) {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_http_client(PlainHttp)
        .with_headers(HashMap::from([(
            "authorization".to_string(),
            format!("Bearer {key}"),
        )]))
        .build()
        .expect("exporter");
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("sdk-agent").build())
        .build();
    let tracer = provider.tracer("threadline-test");
    for turn in 0..2 {
        tracer.in_span(format!("invoke_agent turn {turn}"), |cx| {
            cx.span()
                .set_attribute(KeyValue::new("gen_ai.conversation.id", "sdk-conversation"));
            cx.span().set_attribute(KeyValue::new("user.id", "alice"));
            let mut llm = tracer.start_with_context("chat gpt-4o-mini", &cx);
            llm.set_attribute(KeyValue::new("gen_ai.operation.name", "chat"));
            llm.set_attribute(KeyValue::new("gen_ai.request.model", "gpt-4o-mini"));
            llm.set_attribute(KeyValue::new("gen_ai.usage.input_tokens", 200i64));
            llm.set_attribute(KeyValue::new("gen_ai.usage.output_tokens", 40i64));
            llm.set_attribute(KeyValue::new("gen_ai.usage.cost", 0.0005f64));
            llm.end();
            let mut tool = tracer.start_with_context("execute_tool weather", &cx);
            tool.set_attribute(KeyValue::new("gen_ai.operation.name", "execute_tool"));
            tool.set_attribute(KeyValue::new("gen_ai.tool.name", "get_weather"));
            tool.end();
        });
    }
    provider.force_flush().expect("flush");
    provider.shutdown().expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_sdk_exporter_produces_sessions() {
    for db in databases().await {
        let (store, owner, key) = store_with_key(&db).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(store.clone());
        let server = tokio::spawn(async move { axum::serve(listener, router).await });

        let endpoint = format!("http://{addr}/v1/traces");
        tokio::task::spawn_blocking(move || export_with_sdk(endpoint, key))
            .await
            .unwrap();

        let d = store
            .session_detail(owner.project_id, "sdk-conversation", 10, 0)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{}: the session exists", db.backend));
        assert_eq!(d.grouped_by.as_deref(), Some("gen_ai.conversation.id"));
        assert_eq!(
            d.aggregates.run_count, 2,
            "{}: one run per trace",
            db.backend
        );
        assert_eq!(d.aggregates.total_tokens, 480);
        assert!((d.aggregates.total_cost - 0.001).abs() < 1e-12);
        assert_eq!(d.aggregates.agents, vec!["sdk-agent"]);
        assert_eq!(d.aggregates.models, vec!["gpt-4o-mini"]);
        assert_eq!(d.aggregates.tools, vec!["get_weather"]);
        assert_eq!(d.aggregates.users, vec!["alice"]);
        for run in &d.runs {
            assert_eq!(run.tools_called, vec!["get_weather"]);
            assert_eq!(run.trace_id.as_ref().map(String::len), Some(32));
        }
        server.abort();
    }
}
