//! Authentication and projects, black-box through the real router on every backend: with
//! sign-in required nothing but health, static files, the login page and keyed ingestion is
//! reachable by a stranger; logins, cookies, sign-out, expiry, cross-site refusal, keys limited
//! to their project and the header's project switcher.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::*;
use serde_json::json;
use threadline::db::Store;
use threadline::model::query::encode_component;
use threadline::server::auth::AuthSettings;

/// The host the browser requests name: a loopback one, which is all Threadline serves without
/// sign-in (see `without_sign_in_only_loopback_host_names_are_served` for other names).
const HOST: &str = "localhost:3000";
const PASSWORD: &str = "correct horse battery";
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// A store with user `ada` and one session, `secret-session`, whose run has trace `TRACE`.
async fn seeded(db: &TestDb) -> (Store, i64) {
    let (store, _, key) = store_with_key(db).await;
    let user = store.create_user("ada", PASSWORD).await.expect("user");
    let reply = post_json(
        &app(store.clone()),
        "/api/v1/runs",
        Some(&key),
        &json!({"runs": [{"id": "r1", "session_id": "secret-session", "started_at": at(0.0),
                          "trace_id": TRACE, "model": "gpt-secret", "agent_name": "agent-secret"}]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    (store, user)
}

fn required() -> AuthSettings {
    AuthSettings::required()
}

/// A same-origin browser request (as the dashboard's own pages make them).
fn browser(method: &str, path: &str, cookie: Option<&str>) -> axum::http::request::Builder {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", HOST);
    if method != "GET" {
        req = req.header("origin", format!("http://{HOST}"));
    }
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn sign_in(app: &Router, user: &str, password: &str, next: &str) -> Reply {
    let body = form(&[("username", user), ("password", password), ("next", next)]);
    send(
        app,
        browser("POST", "/login", None)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// `name=value` of the response's `Set-Cookie` for `name`, and the whole header line.
fn set_cookie(reply: &Reply, name: &str) -> Option<(String, String)> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|line| {
            let pair = line.split(';').next().unwrap().to_string();
            (pair, line.to_string())
        })
}

async fn signed_in(app: &Router) -> String {
    let reply = sign_in(app, "ada", PASSWORD, "/").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    set_cookie(&reply, "threadline_session")
        .expect("a session cookie")
        .0
}

fn location(reply: &Reply) -> &str {
    reply
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn get_as(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    send(
        app,
        browser("GET", path, cookie).body(Body::empty()).unwrap(),
    )
    .await
}

/// Calls a server function the way the hydrated dashboard does.
async fn server_fn(app: &Router, name: &str, cookie: Option<&str>) -> Reply {
    let (content_type, body) = match name {
        "list_sessions" => ("application/json", json!({"params": []}).to_string()),
        "get_session" => (
            "application/x-www-form-urlencoded",
            "id=secret-session&runs_offset=0&runs_limit=10".to_string(),
        ),
        "get_trace" => (
            "application/x-www-form-urlencoded",
            format!("trace_id={TRACE}"),
        ),
        _ => ("application/x-www-form-urlencoded", String::new()),
    };
    send(
        app,
        browser("POST", &format!("/api/{name}"), cookie)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

const PAGES: &[&str] = &[
    "/",
    "/?q=gpt-secret",
    "/sessions/secret-session",
    "/traces/0af7651916cd43dd8448eb211c80319c",
    "/no/such/page",
];
const SERVER_FNS: &[&str] = &["list_sessions", "list_agents", "get_session", "get_trace"];
const READS: &[&str] = &[
    "/api/v1/observability/sessions/",
    "/api/v1/observability/sessions",
    "/api/v1/observability/sessions/secret-session/",
    "/api/v1/observability/sessions/secret-session",
    "/api/v1/observability/traces/0af7651916cd43dd8448eb211c80319c/",
    "/api/v1/observability/traces/0af7651916cd43dd8448eb211c80319c",
];

fn assert_no_data(reply: &Reply, what: &str) {
    let text = reply.text();
    for secret in ["secret-session", "gpt-secret", "agent-secret"] {
        assert!(!text.contains(secret), "{what} leaked `{secret}`: {text}");
    }
}

#[tokio::test]
async fn strangers_get_the_login_page_or_401_and_never_data() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let app = app_with_auth(store, required());

        for page in PAGES {
            let reply = get_as(&app, page, None).await;
            assert_eq!(
                reply.status,
                StatusCode::SEE_OTHER,
                "{}: {page}",
                db.backend
            );
            let expected = if *page == "/" {
                "/login".to_string()
            } else {
                format!("/login?next={}", encode_component(page))
            };
            assert_eq!(location(&reply), expected, "{page}");
            assert_no_data(&reply, page);
        }
        for name in SERVER_FNS.iter().chain(&["header_info"]) {
            let reply = server_fn(&app, name, None).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{}: {name}",
                db.backend
            );
            assert_no_data(&reply, name);
        }
        for read in READS {
            let reply = get_as(&app, read, None).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{read}");
            assert!(reply.json()["error"].is_string(), "{read}");
            assert_eq!(reply.headers["www-authenticate"], "Bearer");
            assert_no_data(&reply, read);
        }
        // A made-up session cookie is no better than none.
        let forged = format!("threadline_session={}", "ab".repeat(32));
        let reply = get_as(&app, "/api/v1/observability/sessions/", Some(&forged)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

        // Open: health, the login page, static files; ingestion still wants its key.
        assert_eq!(get_as(&app, "/healthz", None).await.status, StatusCode::OK);
        let login = get_as(&app, "/login?next=%2Fsessions%2Fx", None).await;
        assert_eq!(login.status, StatusCode::OK);
        let html = login.text();
        assert!(html.contains(r#"action="/login""#), "{html}");
        assert!(html.contains(r#"name="password""#));
        assert!(
            html.contains(r#"value="/sessions/x""#),
            "next travels with the form"
        );
        assert!(!html.contains("Sign out") && !html.contains("project-switcher"));
        assert_no_data(&login, "the login page");
        for asset in ["/favicon.svg", "/pkg/threadline.css"] {
            let reply = get_as(&app, asset, None).await;
            assert!(
                reply.status != StatusCode::SEE_OTHER && reply.status != StatusCode::UNAUTHORIZED,
                "{asset}: {}",
                reply.status
            );
        }
        let reply = post_json(&app, "/api/v1/runs", None, &json!({"runs": []})).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

        // Pages rendered for open paths (a missing static file's 404) call server functions
        // in-process, past the guard: they must still find nobody signed in.
        let store = open(&db).await;
        store.create_key("beta-project", "b").await.unwrap();
        let app = app_with_auth(store, required());
        let missing = get_as(&app, "/pkg/missing.css", None).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let html = missing.text();
        assert!(
            !html.contains("beta-project") && !html.contains("project-switcher"),
            "{html}"
        );
    }
}

#[tokio::test]
async fn signing_in_opens_every_route_with_a_protected_cookie() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let app = app_with_auth(store, required());

        let reply = sign_in(&app, "ada", PASSWORD, "/sessions/secret-session").await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
        assert_eq!(location(&reply), "/sessions/secret-session");
        let (cookie, line) = set_cookie(&reply, "threadline_session").expect("cookie");
        let token = cookie.split_once('=').unwrap().1;
        assert_eq!(token.len(), 64, "256 random bits, hex");
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
        for flag in [
            "; Path=/",
            "; HttpOnly",
            "; SameSite=Lax",
            "; Max-Age=604800",
        ] {
            assert!(line.contains(flag), "{flag} missing: {line}");
        }
        assert!(
            !line.contains("Secure"),
            "plain HTTP unless declared: {line}"
        );

        for page in PAGES {
            let reply = get_as(&app, page, Some(&cookie)).await;
            assert_ne!(reply.status, StatusCode::SEE_OTHER, "{page}");
            assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{page}");
        }
        let home = get_as(&app, "/", Some(&cookie)).await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(home.text().contains("secret-session"));
        assert!(home.text().contains("Sign out") && home.text().contains("ada"));
        for name in SERVER_FNS {
            let reply = server_fn(&app, name, Some(&cookie)).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.text());
            assert!(reply.text().contains("secret"), "{name}: {}", reply.text());
        }
        for read in READS {
            let reply = get_as(&app, read, Some(&cookie)).await;
            assert_eq!(reply.status, StatusCode::OK, "{read}: {}", reply.text());
        }
        // Signed in already: the login page sends on.
        let again = get_as(&app, "/login?next=%2Ftraces%2Fx", Some(&cookie)).await;
        assert_eq!(again.status, StatusCode::SEE_OTHER);
        assert_eq!(location(&again), "/traces/x");
    }
}

#[tokio::test]
async fn secure_cookies_are_marked_secure_and_host_only() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let app = app_with_auth(
            store,
            AuthSettings {
                secure_cookies: true,
                ..required()
            },
        );
        let reply = sign_in(&app, "ada", PASSWORD, "/").await;
        let (cookie, line) =
            set_cookie(&reply, "__Host-threadline_session").expect("a __Host- cookie");
        assert!(
            line.contains("; Secure") && line.contains("; HttpOnly"),
            "{line}"
        );
        let list = get_as(&app, "/api/v1/observability/sessions/", Some(&cookie)).await;
        assert_eq!(list.status, StatusCode::OK);
        // The unprefixed name is not accepted in its place.
        let plain = cookie.replace("__Host-", "");
        let list = get_as(&app, "/api/v1/observability/sessions/", Some(&plain)).await;
        assert_eq!(list.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_answer() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let app = app_with_auth(store, required());
        let wrong = sign_in(&app, "ada", "not the password", "/sessions/a").await;
        let unknown = sign_in(&app, "nobody", PASSWORD, "/sessions/a").await;
        for reply in [&wrong, &unknown] {
            assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", db.backend);
            assert_eq!(location(reply), "/login?failed=1&next=%2Fsessions%2Fa");
            assert!(reply.headers.get("set-cookie").is_none());
        }
        assert_eq!(wrong.body, unknown.body);
        // Missing fields are just another failure.
        let empty = send(
            &app,
            browser("POST", "/login", None)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(location(&empty), "/login?failed=1");
        let page = get_as(&app, "/login?failed=1", None).await;
        assert!(page.text().contains("Wrong user name or password."));
    }
}

#[tokio::test]
async fn names_no_user_can_have_fail_like_unknown_ones() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let app = app_with_auth(store, required());
        let unknown = sign_in(&app, "nobody", PASSWORD, "/").await;
        let long = "a".repeat(65);
        // NUL is not text to PostgreSQL: it must never be bound as a name.
        for name in ["\0", "ada\0", "a\0da", "a\u{1}b", "a b", long.as_str()] {
            let reply = sign_in(&app, name, PASSWORD, "/").await;
            assert_eq!(
                reply.status,
                StatusCode::SEE_OTHER,
                "{} {name:?}: {}",
                db.backend,
                reply.text()
            );
            assert_eq!(location(&reply), "/login?failed=1", "{name:?}");
            assert!(reply.headers.get("set-cookie").is_none());
            assert_eq!(reply.body, unknown.body);
        }
    }
}

#[tokio::test]
async fn without_sign_in_only_loopback_host_names_are_served() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let (_, beta_key) = store.create_key("beta", "b").await.unwrap();
        let open = app(store.clone());
        let to = |method: &str, path: &str, host: &str| {
            Request::builder()
                .method(method)
                .uri(path)
                .header("host", host)
        };
        // DNS rebinding: a website whose name now resolves to 127.0.0.1 is same-origin with
        // itself, so it passes the cross-site checks; only the Host it names gives it away.
        for host in [
            "evil.example",
            "evil.example:3000",
            "localhost.evil.example:3000",
            "127.0.0.1.evil.example",
            "192.168.1.20:3000",
        ] {
            for page in PAGES {
                let reply = send(&open, to("GET", page, host).body(Body::empty()).unwrap()).await;
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{} {host} {page}",
                    db.backend
                );
                assert_no_data(&reply, page);
            }
            for read in READS {
                let reply = send(&open, to("GET", read, host).body(Body::empty()).unwrap()).await;
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{host} {read}");
                assert!(reply.json()["error"].is_string(), "{read}");
                assert_no_data(&reply, read);
            }
            let same_origin = format!("http://{host}");
            for name in SERVER_FNS.iter().chain(&["header_info"]) {
                let reply = send(
                    &open,
                    to("POST", &format!("/api/{name}"), host)
                        .header("origin", &same_origin)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{host} {name}");
                assert_no_data(&reply, name);
            }
            let switch = send(
                &open,
                to("POST", "/project", host)
                    .header("origin", &same_origin)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from("project=1"))
                    .unwrap(),
            )
            .await;
            assert_eq!(switch.status, StatusCode::FORBIDDEN, "{host}");
            assert!(set_cookie(&switch, "threadline_project").is_none());
            // Any Authorization header a page can add is not a key.
            let basic = send(
                &open,
                to("GET", READS[0], host)
                    .header("authorization", "Basic eDp5")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(basic.status, StatusCode::FORBIDDEN, "{host}");
            let forged = send(
                &open,
                to("GET", READS[0], host)
                    .header("authorization", "Bearer tl_nope")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{host}");
            assert_no_data(&forged, "a wrong key");

            // Keys are never sent by a browser on its own: a client with one may use any host
            // name, for ingestion and for its own project's reads.
            let ingest = send(
                &open,
                to("POST", "/api/v1/runs", host)
                    .header("authorization", format!("Bearer {beta_key}"))
                    .header("content-type", "application/json")
                    .body(Body::from(
                        json!({"runs": [{"session_id": "beta-session", "started_at": at(0.0)}]})
                            .to_string(),
                    ))
                    .unwrap(),
            )
            .await;
            assert_eq!(ingest.status, StatusCode::OK, "{host}: {}", ingest.text());
            let keyed = send(
                &open,
                to("GET", READS[0], host)
                    .header("authorization", format!("Bearer {beta_key}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(keyed.status, StatusCode::OK, "{host}");
            assert_eq!(keyed.json()["results"][0]["session_id"], "beta-session");
            assert_no_data(&keyed, "a key's read");
            let health = send(
                &open,
                to("GET", "/healthz", host).body(Body::empty()).unwrap(),
            );
            assert_eq!(health.await.status, StatusCode::OK);
        }
        for host in [
            "localhost",
            "localhost:3000",
            "LOCALHOST:3000",
            "dash.localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
        ] {
            let home = send(&open, to("GET", "/", host).body(Body::empty()).unwrap()).await;
            assert_eq!(home.status, StatusCode::OK, "{host}");
            assert!(home.text().contains("secret-session"), "{host}");
            let list = send(
                &open,
                to("GET", READS[0], host).body(Body::empty()).unwrap(),
            )
            .await;
            assert_eq!(list.status, StatusCode::OK, "{host}");
        }

        // With sign-in required the host name is free (a public name behind a proxy).
        let guarded = app_with_auth(store, required());
        let cookie = signed_in(&guarded).await;
        let home = send(
            &guarded,
            to("GET", "/", "dash.example.com")
                .header("cookie", &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(home.text().contains("secret-session"));
        let stranger = send(
            &guarded,
            to("GET", READS[0], "dash.example.com")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn signing_out_ends_the_login_on_the_server() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let app = app_with_auth(store.clone(), required());
        let cookie = signed_in(&app).await;
        let other = signed_in(&app).await;

        let out = send(
            &app,
            browser("POST", "/logout", Some(&cookie))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert_eq!(location(&out), "/login");
        let (_, line) = set_cookie(&out, "threadline_session").expect("cleared");
        assert!(line.starts_with("threadline_session=;") && line.contains("Max-Age=0"));

        // The old cookie, replayed, is dead; another browser's login is not affected.
        let replay = get_as(&app, "/api/v1/observability/sessions/", Some(&cookie)).await;
        assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", db.backend);
        assert_eq!(
            get_as(&app, "/", Some(&cookie)).await.status,
            StatusCode::SEE_OTHER
        );
        let still = get_as(&app, "/api/v1/observability/sessions/", Some(&other)).await;
        assert_eq!(still.status, StatusCode::OK);

        // Deleting the user ends its other logins too, and deletes them.
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let logins = || async {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_sessions")
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        };
        assert_eq!(logins().await, 1);
        assert!(store.delete_user("ada").await.unwrap());
        let gone = get_as(&app, "/api/v1/observability/sessions/", Some(&other)).await;
        assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
        assert_eq!(logins().await, 0, "{}: deleted with the user", db.backend);
        assert!(!store.delete_user("ada").await.unwrap());
        pool.close().await;
    }
}

#[tokio::test]
async fn expired_logins_are_refused() {
    for db in databases().await {
        let (store, user) = seeded(&db).await;
        let app = app_with_auth(store.clone(), required());
        let now = threadline::db::now_us();
        let fresh = store.create_login(user, now + 3_600_000_000).await.unwrap();
        // Created last: creating a login clears expired ones, and this one must stay stored
        // for the check to be the one refusing it.
        let expired = store.create_login(user, now - 1).await.unwrap();
        let reply = get_as(
            &app,
            "/api/v1/observability/sessions/",
            Some(&format!("threadline_session={expired}")),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", db.backend);
        let page = get_as(&app, "/", Some(&format!("threadline_session={expired}"))).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        let reply = get_as(
            &app,
            "/api/v1/observability/sessions/",
            Some(&format!("threadline_session={fresh}")),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let app = app_with_auth(store.clone(), required());
        let cookie = signed_in(&app).await;
        let body = form(&[("username", "ada"), ("password", PASSWORD)]);
        let forged = |path: &str, cookie: Option<&str>, header: (&str, &str), body: String| {
            let mut req = Request::post(path)
                .header("host", HOST)
                .header("content-type", "application/x-www-form-urlencoded")
                .header(header.0, header.1);
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            req.body(Body::from(body)).unwrap()
        };
        let evil = ("origin", "https://evil.example");
        let fetch_site = ("sec-fetch-site", "cross-site");
        for header in [evil, fetch_site, ("origin", "null")] {
            // Login CSRF: signing the victim into the attacker's account.
            let reply = send(&app, forged("/login", None, header, body.clone())).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{header:?}");
            assert!(reply.headers.get("set-cookie").is_none());
            // Server functions and forms riding on the victim's cookie.
            for path in [
                "/api/list_sessions",
                "/api/get_trace",
                "/logout",
                "/project",
            ] {
                let reply = send(&app, forged(path, Some(&cookie), header, String::new())).await;
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} {header:?}");
                assert_no_data(&reply, path);
            }
        }
        // The refused sign-out did not sign out; the same request from the site itself works.
        let list = get_as(&app, "/api/v1/observability/sessions/", Some(&cookie)).await;
        assert_eq!(list.status, StatusCode::OK);
        let same = send(
            &app,
            forged(
                "/api/get_trace",
                Some(&cookie),
                ("origin", &format!("http://{HOST}")),
                format!("trace_id={TRACE}"),
            ),
        )
        .await;
        assert_eq!(same.status, StatusCode::OK, "{}", same.text());

        // Without sign-in (loopback) the project switch is protected as well.
        let open = common::app(store);
        let reply = send(&open, forged("/project", None, evil, "project=1".into())).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(reply.headers.get("set-cookie").is_none());
    }
}

#[tokio::test]
async fn logins_only_send_browsers_to_local_paths() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let app = app_with_auth(store, required());
        for next in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
        ] {
            let reply = sign_in(&app, "ada", PASSWORD, next).await;
            assert_eq!(location(&reply), "/", "{next}");
            let failed = sign_in(&app, "ada", "wrong password", next).await;
            assert_eq!(location(&failed), "/login?failed=1", "{next}");
        }
        let cookie = signed_in(&app).await;
        let reply = get_as(&app, "/login?next=%2F%2Fevil.example", Some(&cookie)).await;
        assert_eq!(location(&reply), "/");
    }
}

#[tokio::test]
async fn a_key_reads_only_its_own_project() {
    for db in databases().await {
        let store = open(&db).await;
        let (_, alpha) = store.create_key("alpha", "a").await.unwrap();
        let (_, beta) = store.create_key("beta", "b").await.unwrap();
        store.create_user("ada", PASSWORD).await.unwrap();
        for (key, session, trace) in [
            (&alpha, "alpha-session", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            (&beta, "beta-session", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ] {
            let reply = post_json(
                &app(store.clone()),
                "/api/v1/runs",
                Some(key),
                &json!({"runs": [{"session_id": session, "trace_id": trace, "started_at": at(0.0)}]}),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK);
        }
        let alpha_project = store
            .list_projects()
            .await
            .unwrap()
            .into_iter()
            .find(|(_, name)| name == "alpha")
            .unwrap()
            .0;
        for (mode, app) in [
            ("open", app(store.clone())),
            ("sign-in", app_with_auth(store.clone(), required())),
        ] {
            let read = |path: &str, key: &str| {
                Request::get(path)
                    .header("authorization", format!("Bearer {key}"))
                    .body(Body::empty())
                    .unwrap()
            };
            let list = send(&app, read("/api/v1/observability/sessions/", &beta)).await;
            assert_eq!(list.status, StatusCode::OK, "{mode}");
            let list = list.json();
            assert_eq!(list["count"], 1, "{mode} {}: {list}", db.backend);
            assert_eq!(list["results"][0]["session_id"], "beta-session");
            for path in [
                "/api/v1/observability/sessions/alpha-session/",
                "/api/v1/observability/traces/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/",
            ] {
                let reply = send(&app, read(path, &beta)).await;
                assert_eq!(reply.status, StatusCode::NOT_FOUND, "{mode} {path}");
                assert_eq!(send(&app, read(path, &alpha)).await.status, StatusCode::OK);
            }
            // The key's project wins over a project cookie choosing the other one.
            let mut req = read("/api/v1/observability/sessions/", &beta);
            req.headers_mut().insert(
                "cookie",
                format!("threadline_project={alpha_project}")
                    .parse()
                    .unwrap(),
            );
            let list = send(&app, req).await.json();
            assert_eq!(list["count"], 1, "{mode}: {list}");
            assert_eq!(list["results"][0]["session_id"], "beta-session", "{mode}");
            let bad = send(&app, read("/api/v1/observability/sessions/", "tl_nope")).await;
            assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{mode}");
        }
    }
}

#[tokio::test]
async fn the_project_switcher_chooses_what_pages_and_apis_show() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let (_, beta_key) = store.create_key("beta", "b").await.unwrap();
        let reply = post_json(
            &app(store.clone()),
            "/api/v1/runs",
            Some(&beta_key),
            &json!({"runs": [{"session_id": "beta-session", "started_at": at(0.0)}]}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        let beta = store
            .list_projects()
            .await
            .unwrap()
            .into_iter()
            .find(|(_, name)| name == "beta")
            .unwrap()
            .0;

        for (mode, app, login) in [
            ("open", app(store.clone()), None),
            (
                "sign-in",
                app_with_auth(store.clone(), required()),
                Some(()),
            ),
        ] {
            let session = match login {
                Some(()) => Some(signed_in(&app).await),
                None => None,
            };
            let home = get_as(&app, "/", session.as_deref()).await;
            let html = home.text();
            assert!(html.contains(r#"id="project-switcher""#), "{mode}: {html}");
            assert!(html.contains(">beta<") && html.contains(">default<"));
            assert!(html.contains("secret-session") && !html.contains("beta-session"));

            let choose = send(
                &app,
                browser("POST", "/project", session.as_deref())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(format!("project={beta}")))
                    .unwrap(),
            )
            .await;
            assert_eq!(
                choose.status,
                StatusCode::SEE_OTHER,
                "{mode}: {}",
                choose.text()
            );
            assert_eq!(location(&choose), "/");
            let (project, line) = set_cookie(&choose, "threadline_project").expect("cookie");
            assert!(line.contains("HttpOnly") && line.contains("SameSite=Lax"));
            let cookies = match &session {
                Some(s) => format!("{s}; {project}"),
                None => project.clone(),
            };

            let html = get_as(&app, "/", Some(&cookies)).await.text();
            assert!(html.contains("beta-session") && !html.contains("secret-session"));
            let list = get_as(&app, "/api/v1/observability/sessions/", Some(&cookies)).await;
            assert_eq!(list.json()["results"][0]["session_id"], "beta-session");
            let fns = server_fn(&app, "list_sessions", Some(&cookies)).await;
            assert!(fns.text().contains("beta-session") && !fns.text().contains("secret"));
            let detail = server_fn(&app, "get_session", Some(&cookies)).await;
            assert_eq!(detail.text(), "null", "session ids belong to their project");

            let unknown = send(
                &app,
                browser("POST", "/project", session.as_deref())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from("project=999"))
                    .unwrap(),
            )
            .await;
            assert_eq!(unknown.status, StatusCode::NOT_FOUND);
            assert!(set_cookie(&unknown, "threadline_project").is_none());
        }
        // Strangers cannot switch when sign-in is required.
        let app = app_with_auth(store, required());
        let reply = send(
            &app,
            browser("POST", "/project", None)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!("project={beta}")))
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert!(location(&reply).starts_with("/login"));
        assert!(set_cookie(&reply, "threadline_project").is_none());
    }
}

#[tokio::test]
async fn only_argon2id_hashes_and_token_hashes_are_stored() {
    for db in databases().await {
        let (store, _) = seeded(&db).await;
        let app = app_with_auth(store, required());
        let cookie = signed_in(&app).await;
        let token = cookie.split_once('=').unwrap().1.to_string();

        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let (name, hash): (String, String) =
            sqlx::query_as("SELECT name, password_hash FROM users")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(name, "ada");
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(!hash.contains(PASSWORD));
        let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM login_sessions")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0].0, token, "the cookie's token is not stored");
        assert_eq!(stored[0].0.len(), 64, "its SHA-256 is");
        pool.close().await;
    }
}
