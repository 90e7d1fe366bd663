//! Ingestion endpoints: `POST /api/v1/runs` (native JSON) and `POST /v1/traces` (OTLP/HTTP).
//! Both answer only after the transaction has committed.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::auth::require_key;
use super::error::ApiError;
use super::state::AppState;
use crate::ingest::native::{parse_batch, BatchError};
use crate::ingest::otlp::{decode, mapping};

/// The request body, gunzipped when `Content-Encoding: gzip`, within the size limit either way.
pub fn read_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "request body is larger than the limit of {limit} bytes"
        ))
    };
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::BadRequest(format!("could not read the request body: {e}"))
        }
    })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "identity" | "" => {
            if body.len() > limit {
                return Err(too_large());
            }
            Ok(body.to_vec())
        }
        "gzip" => {
            let mut out = Vec::new();
            // Read one byte past the limit to tell "exactly at the limit" from "over it".
            flate2::read::GzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::BadRequest(format!("body is not valid gzip: {e}")))?;
            if out.len() > limit {
                return Err(too_large());
            }
            Ok(out)
        }
        other => Err(ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Encoding `{other}`; send identity or gzip"
        ))),
    }
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// `POST /api/v1/runs`.
pub async fn post_runs(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let owner = require_key(&state, &headers).await?;
    if let Some(ct) = content_type(&headers) {
        if !ct.to_ascii_lowercase().starts_with("application/json") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type `{ct}` is not supported here; send application/json"
            )));
        }
    }
    let body = read_body(&headers, body, state.limits.max_body_bytes)?;
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
    let runs = match parse_batch(
        &body,
        header_session.as_deref(),
        state.limits.max_batch_runs,
    ) {
        Ok(runs) => runs,
        Err(BatchError::Malformed(msg)) => return Err(ApiError::BadRequest(msg)),
        Err(BatchError::Invalid(errors)) => return Err(ApiError::InvalidBatch(errors)),
    };
    let stored = state.store.ingest_native(owner, runs).await?;
    Ok(Json(json!({"accepted": stored.len(), "runs": stored})).into_response())
}

/// `POST /v1/traces` (OTLP/HTTP, protobuf or JSON).
pub async fn post_traces(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let owner = require_key(&state, &headers).await?;
    let encoding = content_type(&headers)
        .and_then(decode::Encoding::from_content_type)
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(
                "OTLP/HTTP takes Content-Type application/x-protobuf or application/json".into(),
            )
        })?;
    let body = read_body(&headers, body, state.limits.max_body_bytes)?;
    let request = decode::decode_request(&body, encoding).map_err(ApiError::BadRequest)?;
    let flat = mapping::flatten(request);
    if flat.spans.len() > state.limits.max_spans_per_request {
        return Err(ApiError::TooLarge(format!(
            "request holds {} spans; the limit per request is {}",
            flat.spans.len(),
            state.limits.max_spans_per_request
        )));
    }
    if !flat.spans.is_empty() {
        state.store.ingest_spans(owner, &flat.spans).await?;
    }
    let response = decode::response(flat.rejected, flat.reasons.join("; "));
    let content_type = match encoding {
        decode::Encoding::Protobuf => "application/x-protobuf",
        decode::Encoding::Json => "application/json",
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        decode::encode_response(&response, encoding),
    )
        .into_response())
}
