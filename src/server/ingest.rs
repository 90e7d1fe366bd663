//! Ingestion endpoints: `POST /api/v1/runs` (native JSON) and `POST /v1/traces` (OTLP/HTTP).
//! Both answer only after the transaction has committed.
//!
//! A request passes, in order: an `Authorization: Bearer` header at all (401, before anything
//! else), admission ([`super::overload`], 429), the API key (401), its content type (415), the
//! body limit while reading and again after gzip (413) and the body read timeout (408),
//! decoding and validation (400, or 413 for too many runs or spans), then the write (503 if the
//! database fails).

use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::json;

use super::auth::{bearer, require_key};
use super::error::ApiError;
use super::overload::{Ticket, WriteGate, DB_WRITERS};
use super::state::AppState;
use crate::db::Backend;
use crate::ingest::native::{parse_batch_with, BatchError};
use crate::ingest::otlp::{decode, mapping};

/// How long a client may take to send a request body once its head has arrived. The request
/// holds an admission place meanwhile, so a client that stalls must not keep it for ever; at
/// the default 10 MiB body limit this still allows uploads at about 350 kB/s.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a refused request's body is read and thrown away, and how much of it at most (see
/// [`drain`]).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
const DRAIN_MAX_BYTES: usize = 64 * 1024;

/// What the ingestion handlers share.
#[derive(Clone)]
struct Ingest {
    gate: Arc<WriteGate>,
    body_timeout: Duration,
}

/// The ingestion routes, sharing one [`WriteGate`] sized from the limits.
pub fn router(state: &AppState) -> Router<AppState> {
    router_with_body_timeout(state, BODY_READ_TIMEOUT)
}

/// [`router`] with another body read timeout (tests use a short one).
pub fn router_with_body_timeout(state: &AppState, body_timeout: Duration) -> Router<AppState> {
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
        .layer(Extension(Ingest { gate, body_timeout }))
}

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

/// Reads the rest of a refused request's body without keeping it, when that is cheap; true
/// when the body was read to its end. Answering while the client still sends would close the
/// connection under it, and many clients then report a reset instead of our 4xx and its
/// `Retry-After`. So a short rest (up to [`DRAIN_MAX_BYTES`], within [`DRAIN_TIMEOUT`]) is read;
/// a body the client has not sent yet (`Expect: 100-continue`) or one declared larger than the
/// body limit is not asked for at all.
async fn drain(headers: &HeaderMap, body: &mut Body, limit: usize) -> bool {
    if body.is_end_stream() {
        return true;
    }
    let expects_continue = headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    if expects_continue || declared_length(headers).is_some_and(|n| n > limit as u64) {
        return false;
    }
    tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut seen = 0usize;
        loop {
            match next_chunk(body).await {
                None => return true,
                Some(Ok(chunk)) => {
                    seen += chunk.len();
                    if seen > DRAIN_MAX_BYTES {
                        return false;
                    }
                }
                Some(Err(_)) => return false,
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// The answer to an ingestion request: `result`, or its error once the rest of the body was
/// drained when that is cheap; an answer sent before the body was read whole closes the
/// connection (`Connection: close`), since the rest of the body would otherwise be read as
/// the next request.
async fn answer(
    result: Result<Response, ApiError>,
    headers: &HeaderMap,
    body: &mut Body,
    limit: usize,
) -> Response {
    let error = match result {
        Ok(response) => return response,
        Err(error) => error,
    };
    // A client that stalled is not waited for again.
    let complete = !matches!(error, ApiError::Timeout(_)) && drain(headers, body, limit).await;
    let mut response = error.into_response();
    if !complete {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Reads the raw body into `raw` within `limit`, accounting its bytes to `ticket`.
async fn read_raw(
    body: &mut Body,
    raw: &mut Vec<u8>,
    mut accounted: usize,
    limit: usize,
    ticket: &mut Ticket,
) -> Result<(), ApiError> {
    while let Some(chunk) = next_chunk(body).await {
        let chunk = chunk?;
        let len = raw.len() + chunk.len();
        if len > limit {
            return Err(too_large(limit));
        }
        if len > accounted {
            ticket.grow(len - accounted)?;
            accounted = len;
        }
        raw.extend_from_slice(&chunk);
    }
    Ok(())
}

fn too_large(limit: usize) -> ApiError {
    ApiError::TooLarge(format!(
        "request body is larger than the limit of {limit} bytes"
    ))
}

/// Reads the request body, gunzipped when `Content-Encoding: gzip`, within the size limit
/// either way and within `timeout`, accounting every byte held to `ticket` (which refuses when
/// the pending budget is spent).
async fn read_body(
    headers: &HeaderMap,
    body: &mut Body,
    limit: usize,
    timeout: Duration,
    ticket: &mut Ticket,
) -> Result<Vec<u8>, ApiError> {
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
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let declared = declared.unwrap_or(0) as usize;
    ticket.grow(declared)?;
    let mut raw = Vec::with_capacity(declared);
    tokio::time::timeout(timeout, read_raw(body, &mut raw, declared, limit, ticket))
        .await
        .map_err(|_| {
            ApiError::Timeout(format!(
                "the request body did not arrive within {} s; nothing was stored",
                timeout.as_secs_f64()
            ))
        })??;
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
            return Err(too_large(limit));
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
async fn post_runs(
    State(state): State<AppState>,
    Extension(ingest): Extension<Ingest>,
    headers: HeaderMap,
    mut body: Body,
) -> Response {
    let result = store_runs(&state, &ingest, &headers, &mut body).await;
    answer(result, &headers, &mut body, state.limits.max_body_bytes).await
}

/// `POST /v1/traces` (OTLP/HTTP, protobuf or JSON).
async fn post_traces(
    State(state): State<AppState>,
    Extension(ingest): Extension<Ingest>,
    headers: HeaderMap,
    mut body: Body,
) -> Response {
    let result = store_traces(&state, &ingest, &headers, &mut body).await;
    answer(result, &headers, &mut body, state.limits.max_body_bytes).await
}

/// Admission, after the cheap check that a key was sent at all (a request without one is
/// told 401, not 429, however busy the server is); neither costs any database work.
fn admit(ingest: &Ingest, headers: &HeaderMap) -> Result<Ticket, ApiError> {
    if bearer(headers).is_none() {
        return Err(ApiError::Unauthorized);
    }
    Ok(ingest.gate.admit()?)
}

async fn store_runs(
    state: &AppState,
    ingest: &Ingest,
    headers: &HeaderMap,
    body: &mut Body,
) -> Result<Response, ApiError> {
    let mut ticket = admit(ingest, headers)?;
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
    let body = read_body(
        headers,
        body,
        state.limits.max_body_bytes,
        ingest.body_timeout,
        &mut ticket,
    )
    .await?;
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

async fn store_traces(
    state: &AppState,
    ingest: &Ingest,
    headers: &HeaderMap,
    body: &mut Body,
) -> Result<Response, ApiError> {
    let mut ticket = admit(ingest, headers)?;
    let owner = require_key(state, headers).await?;
    let encoding = content_type(headers)
        .and_then(decode::Encoding::from_content_type)
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(
                "OTLP/HTTP takes Content-Type application/x-protobuf or application/json".into(),
            )
        })?;
    let body = read_body(
        headers,
        body,
        state.limits.max_body_bytes,
        ingest.body_timeout,
        &mut ticket,
    )
    .await?;
    let request = decode::decode_request(&body, encoding).map_err(ApiError::BadRequest)?;
    drop(body);
    // Every span the request holds counts, including those that would be rejected.
    let spans: usize = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    if spans > state.limits.max_spans_per_request {
        return Err(ApiError::TooLarge(format!(
            "request holds {spans} spans; the limit per request is {}",
            state.limits.max_spans_per_request
        )));
    }
    let flat = mapping::flatten_with(request, &state.limits.values);
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
