//! Test support: fresh databases of every backend, the real router, and request helpers.
//!
//! SQLite always runs (a file in a temp dir). PostgreSQL runs when `THREADLINE_TEST_POSTGRES_URL`
//! names a server (`scripts/test.sh` starts a throwaway cluster and sets it); each test gets its
//! own new database there. With `THREADLINE_REQUIRE_POSTGRES=1` a missing URL is a failure, so CI
//! cannot silently skip PostgreSQL.
#![allow(dead_code)]

pub mod raw;

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use sqlx::Connection;
use std::collections::BTreeSet;
use threadline::db::keys::KeyOwner;
use threadline::db::Store;
use threadline::model::{ListQuery, Sort, SortKey};
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
    threadline::server::http::router(AppState::new(store, limits))
}

/// The router behind the given authentication settings (`app` is the open, loopback one).
pub fn app_with_auth(store: Store, auth: threadline::server::auth::AuthSettings) -> Router {
    threadline::server::http::router_with_auth(AppState::new(store, Limits::default()), auth)
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

/// One HTTP/1.1 request over a plain TCP connection to a server process (`Connection: close`,
/// so the rest of the stream is the body). Tests that spawn the `threadline` binary use this
/// instead of an HTTP client crate: a second client-side feature set of hyper in the test build
/// would make `cargo leptos build` recompile the server's dependencies.
pub fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let status = std::str::from_utf8(&raw[..split])
        .ok()
        .and_then(|h| h.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    Ok((status, raw[split + 4..].to_vec()))
}

/// A `threadline serve` process on a free loopback port, killed when dropped.
pub struct ServerProcess {
    pub addr: std::net::SocketAddr,
    pub child: std::process::Child,
}

impl ServerProcess {
    /// Starts the binary on `database_url` and waits until `/healthz` answers.
    pub fn start(database_url: &str, extra_args: &[&str]) -> ServerProcess {
        let server = ServerProcess::spawn(database_url, extra_args);
        server.wait_healthy();
        server
    }

    /// Starts the binary without waiting (so several can start, and migrate, at once).
    pub fn spawn(database_url: &str, extra_args: &[&str]) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_threadline"))
            .args(["--database-url", database_url, "serve", "--addr"])
            .arg(addr.to_string())
            .args(extra_args)
            .env("THREADLINE_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn threadline serve");
        ServerProcess { addr, child }
    }

    /// Waits (at most a minute) until `/healthz` answers 200.
    pub fn wait_healthy(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while http_request(self.addr, "GET", "/healthz", &[], b"")
            .ok()
            .map(|r| r.0)
            != Some(200)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "server on {} did not become healthy",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every session of a project: (public id if explicit, kind, run ids, aggregates), comparable
/// across datasets whose automatic ids differ.
pub type Snapshot = BTreeSet<(Option<String>, String, Vec<String>, String)>;

pub async fn snapshot(store: &Store, project: i64) -> Snapshot {
    let mut out = BTreeSet::new();
    let mut offset = 0;
    loop {
        let q = ListQuery {
            sort: Sort {
                key: SortKey::SessionId,
                descending: false,
            },
            limit: 100,
            offset,
            ..Default::default()
        };
        let page = store.list_sessions(project, &q).await.unwrap();
        for s in &page.results {
            let d = store
                .session_detail(project, &s.session_id, 100_000, 0)
                .await
                .unwrap()
                .unwrap();
            let ids: Vec<String> = d.runs.iter().map(|r| r.id.clone()).collect();
            let a = &d.aggregates;
            let agg =
                format!(
                "runs={} first={} last={} dur={} cost={:.9} tok={} in={} out={} saved={} err={} \
                 agents={:?} models={:?} tools={:?} users={:?} gw={} ovh={:?}",
                a.run_count, a.first_run, a.last_activity, a.total_duration, a.total_cost,
                a.total_tokens, a.input_tokens, a.output_tokens, a.tokens_saved, a.error_count,
                sorted(&a.agents), sorted(&a.models), sorted(&a.tools), sorted(&a.users),
                a.gateway_runs, a.avg_overhead_pct.map(|x| (x * 1e6).round())
            );
            // Cross-check the list row against the detail.
            assert_eq!(s.run_count, a.run_count);
            assert_eq!(s.total_tokens, a.total_tokens);
            let public = (d.grouping == "explicit").then(|| d.session_id.clone());
            out.insert((public, d.grouping.clone(), ids, agg));
        }
        offset += 100;
        if offset >= page.count {
            break;
        }
    }
    out
}

pub fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}
