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

use super::auth::{cookie, safe_next, Access, AuthSettings, Viewer};
use super::error::ApiError;
use super::state::AppState;
use crate::model::query::encode_component;

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
    let user = state
        .store
        .check_password(form.username.trim(), &form.password)
        .await?;
    let Some(user) = user else {
        tracing::info!(user = %form.username.trim(), "sign-in failed");
        let back = if next == "/" {
            "/login?failed=1".to_string()
        } else {
            format!("/login?failed=1&next={}", encode_component(&next))
        };
        return Ok(Redirect::to(&back).into_response());
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
    let projects = state.store.list_projects().await?;
    if !projects.iter().any(|(id, _)| *id == form.project) {
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
