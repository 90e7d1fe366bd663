//! The HTTP API's error: each variant decides its status; bodies are JSON; database details are
//! logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::db::StoreError;
use crate::ingest::native::FieldError;

#[derive(Debug)]
pub enum ApiError {
    /// 400 with the invalid fields of a batch.
    InvalidBatch(Vec<FieldError>),
    /// 400 naming the offending query parameter.
    BadParam { param: String, error: String },
    /// 400 for a body that cannot be read.
    BadRequest(String),
    /// 401: no key or an unknown one.
    Unauthorized,
    /// 404.
    NotFound(String),
    /// 408: the request body did not arrive in time; nothing was stored.
    Timeout(String),
    /// 413.
    TooLarge(String),
    /// 415.
    UnsupportedMediaType(String),
    /// 503 with Retry-After: the database failed or is unreachable; retry later.
    Unavailable,
    /// 429 with Retry-After: too many ingestion writes are pending (see `server::overload`);
    /// nothing was stored, the same request succeeds later.
    Overloaded { retry_after_secs: u64 },
}

impl From<super::overload::Overloaded> for ApiError {
    fn from(o: super::overload::Overloaded) -> Self {
        ApiError::Overloaded {
            retry_after_secs: o.retry_after_secs,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // Anything the store fails on here is on our side or the database's; clients get a
        // retryable answer and the log gets the cause.
        tracing::error!(error = %e, "storage failure");
        ApiError::Unavailable
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut retry_after = 1;
        let (status, body) = match self {
            ApiError::InvalidBatch(errors) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid runs: nothing was stored", "errors": errors}),
            ),
            ApiError::BadParam { param, error } => (
                StatusCode::BAD_REQUEST,
                json!({"error": format!("invalid parameter `{param}`: {error}"), "parameter": param}),
            ),
            ApiError::BadRequest(msg) => (StatusCode::BAD_REQUEST, json!({"error": msg})),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "missing or unknown API key: send `Authorization: Bearer <key>` (create one with `threadline keys create`)"}),
            ),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, json!({"error": what})),
            ApiError::Timeout(msg) => (StatusCode::REQUEST_TIMEOUT, json!({"error": msg})),
            ApiError::TooLarge(msg) => (StatusCode::PAYLOAD_TOO_LARGE, json!({"error": msg})),
            ApiError::UnsupportedMediaType(msg) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, json!({"error": msg}))
            }
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "storage is unavailable; retry later"}),
            ),
            ApiError::Overloaded { retry_after_secs } => {
                retry_after = retry_after_secs;
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"error": format!(
                        "too many ingestion requests are pending; nothing was stored, retry in {retry_after_secs} s"
                    )}),
                )
            }
        };
        let retry = matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        );
        let mut response = (status, axum::Json(body)).into_response();
        if retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}
