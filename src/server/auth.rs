//! API-key authentication for ingestion and the read API.

use axum::http::{header, HeaderMap};

use super::error::ApiError;
use super::state::AppState;
use crate::db::keys::KeyOwner;

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The key owner of a request that must carry a valid key.
pub async fn require_key(state: &AppState, headers: &HeaderMap) -> Result<KeyOwner, ApiError> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    state
        .store
        .verify_key(token)
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// The project a read request sees: a presented key limits it to that key's project (and an
/// invalid key is refused); without one, the default project (the server only listens on
/// loopback without authentication).
pub async fn read_project(state: &AppState, headers: &HeaderMap) -> Result<i64, ApiError> {
    if bearer(headers).is_some() || headers.contains_key(header::AUTHORIZATION) {
        return Ok(require_key(state, headers).await?.project_id);
    }
    Ok(crate::db::DEFAULT_PROJECT_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer tl_abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("tl_abc"));
        h.insert(header::AUTHORIZATION, "Basic xyz".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
