//! Test support: fresh databases of every backend, the real router, and request helpers.
//!
//! SQLite always runs (a file in a temp dir). PostgreSQL runs when `THREADLINE_TEST_POSTGRES_URL`
//! names a server (`scripts/test.sh` starts a throwaway cluster and sets it); each test gets its
//! own new database there. With `THREADLINE_REQUIRE_POSTGRES=1` a missing URL is a failure, so CI
//! cannot silently skip PostgreSQL.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use sqlx::Connection;
use threadline::db::keys::KeyOwner;
use threadline::db::Store;
use threadline::server::config::Limits;
use threadline::server::state::AppState;
use tower::ServiceExt;

pub const GAP: Duration = Duration::from_secs(30 * 60);

pub struct TestDb {
    pub backend: &'static str,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// One fresh database per available backend.
pub async fn databases() -> Vec<TestDb> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("test.db").display());
    let mut out = vec![TestDb {
        backend: "sqlite",
        url,
        _dir: Some(dir),
    }];
    match std::env::var("THREADLINE_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => out.push(TestDb {
            backend: "postgres",
            url: fresh_postgres(&admin).await,
            _dir: None,
        }),
        _ => {
            if std::env::var("THREADLINE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("THREADLINE_REQUIRE_POSTGRES=1 but THREADLINE_TEST_POSTGRES_URL is not set");
            }
            eprintln!("note: THREADLINE_TEST_POSTGRES_URL not set; PostgreSQL not tested");
        }
    }
    out
}

/// Creates a new database on the server behind `admin_url` and returns its URL.
async fn fresh_postgres(admin_url: &str) -> String {
    let name = format!("tl_{:016x}", rand_u64());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    format!("{base}/{name}")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

pub async fn open(db: &TestDb) -> Store {
    Store::open(&db.url, GAP).await.expect("open store")
}

/// The store plus a key of the default project.
pub async fn store_with_key(db: &TestDb) -> (Store, KeyOwner, String) {
    let store = open(db).await;
    let (_, secret) = store
        .create_key("default", "test")
        .await
        .expect("create key");
    let owner = store
        .verify_key(&secret)
        .await
        .expect("verify")
        .expect("valid key");
    (store, owner, secret)
}

pub fn app(store: Store) -> Router {
    app_with_limits(store, Limits::default())
}

pub fn app_with_limits(store: Store, limits: Limits) -> Router {
    let options = leptos::config::LeptosOptions::builder()
        .output_name("threadline")
        .build();
    threadline::server::http::router(AppState {
        store,
        leptos_options: options,
        limits: Arc::new(limits),
    })
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("router never fails");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn post_json(
    app: &Router,
    path: &str,
    key: Option<&str>,
    body: &serde_json::Value,
) -> Reply {
    let mut req = Request::post(path).header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    send(app, req.body(Body::from(body.to_string())).unwrap()).await
}

pub async fn get(app: &Router, path: &str) -> Reply {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}

/// `2026-01-01T00:00:00Z` plus `minutes`, as RFC 3339.
pub fn at(minutes: f64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
    (base + chrono::Duration::microseconds((minutes * 60e6) as i64))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
