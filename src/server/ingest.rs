//! Ingestion endpoints: `POST /api/v1/runs` (native JSON) and `POST /v1/traces` (OTLP/HTTP).
//! Both answer only after the transaction has committed.
//!
//! A request passes, in order: admission ([`super::overload`], 429), the API key (401), its
//! content type (415), the body limit while reading and again after gzip (413), decoding and
//! validation (400, or 413 for too many runs or spans), then the write (503 if the database
//! fails).

use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::json;

use super::auth::require_key;
use super::error::ApiError;
use super::overload::{Ticket, WriteGate, DB_WRITERS};
use super::state::AppState;
use crate::db::Backend;
use crate::ingest::native::{parse_batch_with, BatchError};
use crate::ingest::otlp::{decode, mapping};

/// The ingestion routes, sharing one [`WriteGate`] sized from the limits.
pub fn router(state: &AppState) -> Router<AppState> {
    let parallel = match state.store.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => DB_WRITERS,
    };
    let gate = WriteGate::new(
        state.limits.max_pending_writes,
        state.limits.max_pending_bytes,
        parallel,
    );
    Router::new()
        .route("/api/v1/runs", post(post_runs))
        .route("/api/v1/runs/", post(post_runs))
        .route("/v1/traces", post(post_traces))
        .layer(Extension(gate))
}

/// How long a refused request's body is read and thrown away (see [`drain`]).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The next chunk of a body, `None` at its end.
async fn next_chunk(body: &mut Body) -> Option<Result<axum::body::Bytes, ApiError>> {
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
                // Trailers carry nothing we read.
            }
            Err(e) => {
                return Some(Err(ApiError::BadRequest(format!(
                    "could not read the request body: {e}"
                ))))
            }
        }
    }
}

/// Reads the rest of a refused request's body without keeping it (up to `limit` bytes, for a
/// few seconds at most). Answering while the client still sends would close the connection
/// under it, and many clients then report a reset instead of our 4xx and its `Retry-After`.
async fn drain(body: &mut Body, limit: usize) {
    if body.is_end_stream() {
        return;
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut seen = 0usize;
        while let Some(Ok(chunk)) = next_chunk(body).await {
            seen += chunk.len();
            if seen > limit {
                break;
            }
        }
    })
    .await;
}

/// Reads the request body, gunzipped when `Content-Encoding: gzip`, within the size limit
/// either way, accounting every byte held to `ticket` (which refuses when the pending budget
/// is spent).
pub async fn read_body(
    headers: &HeaderMap,
    body: &mut Body,
    limit: usize,
    ticket: &mut Ticket,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "request body is larger than the limit of {limit} bytes"
        ))
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    if !matches!(encoding.as_str(), "identity" | "" | "gzip") {
        return Err(ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Encoding `{encoding}`; send identity or gzip"
        )));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let declared = declared.unwrap_or(0) as usize;
    ticket.grow(declared)?;
    let mut accounted = declared;
    let mut raw = Vec::with_capacity(declared);
    while let Some(chunk) = next_chunk(body).await {
        let chunk = chunk?;
        let len = raw.len() + chunk.len();
        if len > limit {
            return Err(too_large());
        }
        if len > accounted {
            ticket.grow(len - accounted)?;
            accounted = len;
        }
        raw.extend_from_slice(&chunk);
    }
    if encoding != "gzip" {
        ticket.shrink_to(raw.len());
        return Ok(raw);
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut decoder = flate2::read::GzDecoder::new(&raw[..]);
    loop {
        let n = decoder
            .read(&mut buf)
            .map_err(|e| ApiError::BadRequest(format!("body is not valid gzip: {e}")))?;
        if n == 0 {
            break;
        }
        if out.len() + n > limit {
            return Err(too_large());
        }
        ticket.grow(n)?;
        out.extend_from_slice(&buf[..n]);
    }
    drop(raw);
    ticket.shrink_to(out.len());
    Ok(out)
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// `POST /api/v1/runs`.
pub async fn post_runs(
    State(state): State<AppState>,
    Extension(gate): Extension<Arc<WriteGate>>,
    headers: HeaderMap,
    mut body: Body,
) -> Result<Response, ApiError> {
    let result = store_runs(&state, &gate, &headers, &mut body).await;
    if result.is_err() {
        drain(&mut body, state.limits.max_body_bytes).await;
    }
    result
}

async fn store_runs(
    state: &AppState,
    gate: &Arc<WriteGate>,
    headers: &HeaderMap,
    body: &mut Body,
) -> Result<Response, ApiError> {
    // Admission first: a refused request costs no database work at all.
    let mut ticket = gate.admit()?;
    let owner = require_key(state, headers).await?;
    if let Some(ct) = content_type(headers) {
        if !ct.to_ascii_lowercase().starts_with("application/json") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type `{ct}` is not supported here; send application/json"
            )));
        }
    }
    let header_session = match headers.get("x-session-id") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::BadParam {
                    param: "X-Session-Id".into(),
                    error: "must be printable text".into(),
                })?
                .to_string(),
        ),
        None => None,
    };
    let body = read_body(headers, body, state.limits.max_body_bytes, &mut ticket).await?;
    let runs = match parse_batch_with(
        &body,
        header_session.as_deref(),
        state.limits.max_batch_runs,
        &state.limits.values,
    ) {
        Ok(runs) => runs,
        Err(BatchError::Malformed(msg)) => return Err(ApiError::BadRequest(msg)),
        Err(BatchError::TooMany(msg)) => return Err(ApiError::TooLarge(msg)),
        Err(BatchError::Invalid(errors)) => return Err(ApiError::InvalidBatch(errors)),
    };
    drop(body);
    let stored = ticket.write(state.store.ingest_native(owner, runs)).await?;
    Ok(Json(json!({"accepted": stored.len(), "runs": stored})).into_response())
}

/// `POST /v1/traces` (OTLP/HTTP, protobuf or JSON).
pub async fn post_traces(
    State(state): State<AppState>,
    Extension(gate): Extension<Arc<WriteGate>>,
    headers: HeaderMap,
    mut body: Body,
) -> Result<Response, ApiError> {
    let result = store_traces(&state, &gate, &headers, &mut body).await;
    if result.is_err() {
        drain(&mut body, state.limits.max_body_bytes).await;
    }
    result
}

async fn store_traces(
    state: &AppState,
    gate: &Arc<WriteGate>,
    headers: &HeaderMap,
    body: &mut Body,
) -> Result<Response, ApiError> {
    let mut ticket = gate.admit()?;
    let owner = require_key(state, headers).await?;
    let encoding = content_type(headers)
        .and_then(decode::Encoding::from_content_type)
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(
                "OTLP/HTTP takes Content-Type application/x-protobuf or application/json".into(),
            )
        })?;
    let body = read_body(headers, body, state.limits.max_body_bytes, &mut ticket).await?;
    let request = decode::decode_request(&body, encoding).map_err(ApiError::BadRequest)?;
    drop(body);
    let flat = mapping::flatten_with(request, &state.limits.values);
    if flat.spans.len() > state.limits.max_spans_per_request {
        return Err(ApiError::TooLarge(format!(
            "request holds {} spans; the limit per request is {}",
            flat.spans.len(),
            state.limits.max_spans_per_request
        )));
    }
    if !flat.spans.is_empty() {
        ticket
            .write(state.store.ingest_spans(owner, &flat.spans))
            .await?;
    }
    let response = decode::response(flat.rejected, flat.reasons.join("; "));
    Ok((
        [(header::CONTENT_TYPE, encoding.content_type())],
        decode::encode_response(&response, encoding),
    )
        .into_response())
}
