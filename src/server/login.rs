//! The form posts behind the dashboard's chrome: sign in (`POST /login`), sign out
//! (`POST /logout`) and the project switcher (`POST /project`). Plain HTML forms, so they work
//! without JavaScript; each answers with a redirect (post/redirect/get). The login page itself
//! is a Leptos route (`pages::login`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Extension, Form, Router};
use serde::Deserialize;

use super::auth::{cookie, login_href, safe_next, Access, AuthSettings, Viewer};
use super::error::ApiError;
use super::state::AppState;
use crate::db::users::{validate_name, MAX_NAME_CHARS};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", post(sign_in))
        .route("/logout", post(sign_out))
        .route("/project", post(choose_project))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: a session cookie and the page asked for, or back to the form with one
/// message for every failure (no hint whether the name exists).
async fn sign_in(
    State(state): State<AppState>,
    Extension(settings): Extension<Arc<AuthSettings>>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, ApiError> {
    let form = form.map(|Form(f)| f).unwrap_or(LoginForm {
        username: String::new(),
        password: String::new(),
        next: String::new(),
    });
    let next = safe_next(&form.next).to_string();
    if !settings.required {
        return Ok(Redirect::to(&next).into_response());
    }
    let name = form.username.trim();
    let user = state.store.check_password(name, &form.password).await?;
    let Some(user) = user else {
        tracing::info!(user = %loggable_name(name), "sign-in failed");
        return Ok(Redirect::to(&login_href(&next, true)).into_response());
    };
    let expires_at = crate::db::now_us() + settings.login_ttl.as_micros() as i64;
    let token = state.store.create_login(user.id, expires_at).await?;
    tracing::info!(user = %user.name, "signed in");
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        settings.set_cookie(settings.session_cookie(), &token, settings.login_ttl),
    );
    Ok(response)
}

/// `POST /logout`: ends the login on the server (the cookie alone would be enough to come back
/// otherwise) and clears the cookie.
async fn sign_out(
    State(state): State<AppState>,
    Extension(settings): Extension<Arc<AuthSettings>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = cookie(&headers, settings.session_cookie()) {
        state.store.delete_login(token).await?;
    }
    let target = if settings.required { "/login" } else { "/" };
    let mut response = Redirect::to(target).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        settings.set_cookie(settings.session_cookie(), "", Duration::ZERO),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct ProjectForm {
    project: i64,
}

/// `POST /project`: remembers the project to show (a cookie for a year) and opens its sessions
/// list (session ids belong to one project, so the current page may not exist in the other).
async fn choose_project(
    State(state): State<AppState>,
    Extension(settings): Extension<Arc<AuthSettings>>,
    Extension(access): Extension<Access>,
    form: Result<Form<ProjectForm>, FormRejection>,
) -> Result<Response, ApiError> {
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest(
            "send a form with a `project` id".into(),
        ));
    };
    if let Viewer::Key(_) = access.viewer {
        return Err(ApiError::BadRequest(
            "an API key always reads its own project".into(),
        ));
    }
    if !state.store.project_exists(form.project).await? {
        return Err(ApiError::NotFound(format!("no project {}", form.project)));
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        settings.set_cookie(
            settings.project_cookie(),
            &form.project.to_string(),
            Duration::from_secs(365 * 24 * 3600),
        ),
    );
    Ok(response)
}

/// A user name as the log shows it: as typed when it is a valid name, else cut to a name's
/// length and escaped, so a failed sign-in cannot write megabytes or forge log lines.
fn loggable_name(name: &str) -> String {
    if validate_name(name).is_ok() {
        return name.to_string();
    }
    let shown: String = name.chars().take(MAX_NAME_CHARS).collect();
    let cut = if shown.len() < name.len() { "…" } else { "" };
    format!("(invalid) {shown:?}{cut}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_are_logged_escaped_and_cut() {
        assert_eq!(loggable_name("ada"), "ada");
        let forged = loggable_name("x\nINFO signed in user=admin\0");
        assert!(!forged.contains('\n') && !forged.contains('\0'), "{forged}");
        assert!(forged.contains("\\n"), "{forged}");
        let long = loggable_name(&"a".repeat(100_000));
        assert!(long.len() < 100 && long.ends_with('…'), "{long}");
    }
}
