//! Who may see what: API keys, dashboard logins, and the guard in front of every route.
//!
//! Without authentication (loopback only, see [`decide`]) pages and reads are open and show the
//! project chosen in the header, to requests addressed to a loopback name ([`loopback_host`]:
//! no DNS rebinding). With it, every page, server function and read needs a signed-in
//! user (session cookie) or an API key; pages send strangers to `/login`, APIs answer 401.
//! Either way a request carrying an API key sees only that key's project, ingestion always needs
//! a key, and state-changing requests from other sites are refused ([`cross_site`]).
//!
//! The guard resolves the caller once and leaves an [`Access`] in the request's extensions;
//! REST handlers take it as an extractor and server functions read it from the request parts
//! (`crate::api::access`), which also covers server functions called during server rendering.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::error::ApiError;
use super::state::AppState;
use crate::db::keys::KeyOwner;
use crate::db::users::User;
use crate::db::{Store, DEFAULT_PROJECT_ID};

/// `--auth`: when dashboard logins are required.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Required as soon as one user exists (checked at start).
    Auto,
    /// Always required; the server refuses to start while no user exists.
    On,
    /// Never required; only loopback addresses are served.
    Off,
}

/// Whether logins are required, from the mode, the listen address and the number of users;
/// `Err` says what to configure instead. Without logins only loopback addresses are served.
pub fn decide(mode: AuthMode, addr: SocketAddr, users: i64) -> Result<bool, String> {
    let required = match mode {
        AuthMode::On if users == 0 => {
            return Err(
                "authentication is on (--auth on / THREADLINE_AUTH=on) but no user \
                        exists: create one with `threadline users create NAME`"
                    .into(),
            )
        }
        AuthMode::On => true,
        AuthMode::Auto => users > 0,
        AuthMode::Off => false,
    };
    if required || addr.ip().is_loopback() {
        return Ok(required);
    }
    let how = match mode {
        AuthMode::Off => "authentication is off (--auth off / THREADLINE_AUTH=off); drop that \
                          setting and create a user with `threadline users create NAME`"
            .to_string(),
        _ => "no user exists, so anyone reaching the port would see everything; create one \
              first with `threadline users create NAME` (logins are then required)"
            .to_string(),
    };
    Err(format!(
        "refusing to listen on {addr}: without authentication Threadline only serves loopback \
         addresses. To serve {addr}, {how}. Or listen on 127.0.0.1:PORT. See README \"Security\"."
    ))
}

/// How the server authenticates the dashboard, fixed at start.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Pages, server functions and reads need a signed-in user or an API key.
    pub required: bool,
    /// Cookies carry `Secure` and the `__Host-` name prefix: for browsers that reach Threadline
    /// over HTTPS (a TLS-terminating proxy in front).
    pub secure_cookies: bool,
    /// How long a login lasts (absolute, not sliding).
    pub login_ttl: Duration,
}

impl AuthSettings {
    /// No logins: the loopback default.
    pub fn open() -> AuthSettings {
        AuthSettings {
            required: false,
            secure_cookies: false,
            login_ttl: DEFAULT_LOGIN_TTL,
        }
    }

    /// Logins required.
    pub fn required() -> AuthSettings {
        AuthSettings {
            required: true,
            ..AuthSettings::open()
        }
    }

    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-threadline_session"
        } else {
            "threadline_session"
        }
    }

    pub fn project_cookie(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-threadline_project"
        } else {
            "threadline_project"
        }
    }

    /// A `Set-Cookie` value: whole site, invisible to scripts, not sent on cross-site
    /// subrequests or form posts (Lax still sends it when following a link from elsewhere,
    /// so shared links open signed in; cross-site writes are refused by [`cross_site`] too).
    pub fn set_cookie(&self, name: &str, value: &str, max_age: Duration) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let text = format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            max_age.as_secs()
        );
        HeaderValue::from_str(&text).expect("cookie values are hex or digits")
    }
}

pub const DEFAULT_LOGIN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Who a request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// Authentication is off (loopback): anyone who reaches the port.
    Open,
    /// A signed-in dashboard user.
    User(User),
    /// A valid API key: limited to its project.
    Key(KeyOwner),
}

/// What the guard established for an admitted request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub viewer: Viewer,
    /// The project this request reads: the key's, else the one chosen in the header.
    pub project_id: i64,
}

/// The guard's state.
#[derive(Clone)]
pub struct Gate {
    pub store: Store,
    pub settings: Arc<AuthSettings>,
}

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

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// True for a browser request made by another site (login CSRF, forged form posts, forged
/// server-function calls). Browsers say where a request comes from in `Sec-Fetch-Site` (all
/// current ones) or `Origin`; a request with neither is not from a browser page and cannot
/// ride on a victim's cookies. The host is compared with `Host` and, behind a proxy that
/// rewrites it, `X-Forwarded-Host`.
pub fn cross_site(headers: &HeaderMap, uri: &Uri) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.to_str(), Ok("same-origin") | Ok("none"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let Some((_, authority)) = origin.split_once("://") else {
        return true; // "null" and other opaque origins
    };
    let ours = [
        headers.get(header::HOST).and_then(|h| h.to_str().ok()),
        headers
            .get("x-forwarded-host")
            .and_then(|h| h.to_str().ok()),
        uri.authority().map(|a| a.as_str()),
    ];
    !ours
        .into_iter()
        .flatten()
        .any(|host| host.trim().eq_ignore_ascii_case(authority))
}

/// `next` if it is a path on this site, else `/`: the login form must never send a browser
/// elsewhere (`//evil.example`, `https://…`, `/\evil.example` all fall back).
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && !next.starts_with("/login");
    if local {
        next
    } else {
        "/"
    }
}

/// The login page's address for someone who asked for `path_and_query`; `failed` shows the
/// "wrong user name or password" message (back to the form after a failed sign-in).
pub fn login_href(path_and_query: &str, failed: bool) -> String {
    let mut params = Vec::new();
    if failed {
        params.push("failed=1".to_string());
    }
    if path_and_query != "/" {
        params.push(format!(
            "next={}",
            crate::model::query::encode_component(path_and_query)
        ));
    }
    if params.is_empty() {
        "/login".into()
    } else {
        format!("/login?{}", params.join("&"))
    }
}

/// True when the name a request was addressed to (`Host`, or the URI's authority over HTTP/2)
/// is this machine's loopback: `localhost`, `*.localhost`, `127.x.x.x` or `[::1]`, any port.
/// A request naming no host at all (not from a browser) counts as local.
pub fn loopback_host(headers: &HeaderMap, uri: &Uri) -> bool {
    let host = match headers.get(header::HOST) {
        Some(value) => match value.to_str() {
            Ok(text) => text,
            Err(_) => return false,
        },
        None => match uri.authority() {
            Some(authority) => authority.as_str(),
            None => return true,
        },
    };
    is_loopback_name(host)
}

/// [`loopback_host`] for one `host[:port]` value.
fn is_loopback_name(host: &str) -> bool {
    let host = host.trim();
    let valid_port = |port: &str| port.parse::<u16>().is_ok();
    if let Some(rest) = host.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(valid_port);
        return port_ok
            && ip.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            });
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if valid_port(port) => name,
        Some(_) => return false,
        None => host,
    };
    if let Ok(ip) = name.parse::<std::net::Ipv4Addr>() {
        return ip.is_loopback();
    }
    // A trailing dot is the same name, fully qualified; `*.localhost` never leaves the machine
    // (RFC 6761), browsers resolve it to loopback themselves.
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || (name.len() > ".localhost".len() && name.ends_with(".localhost"))
}

enum Kind {
    /// Health, static files, ingestion (whose handlers require a key themselves).
    Open,
    /// `/login` and `/logout`: reachable signed out.
    Login,
    /// Server functions and the REST API: 401 JSON when not allowed.
    Api,
    /// Everything else renders a page: redirect to the login page when not allowed.
    Page,
}

fn kind(path: &str) -> Kind {
    match path {
        "/healthz" | "/favicon.svg" | "/favicon.ico" | "/robots.txt" => Kind::Open,
        "/api/v1/runs" | "/api/v1/runs/" | "/v1/traces" => Kind::Open,
        "/login" | "/logout" => Kind::Login,
        _ if path.starts_with("/pkg/") => Kind::Open,
        _ if path.starts_with("/api/") => Kind::Api,
        _ => Kind::Page,
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// 401 for an API call without a login or key.
fn login_required() -> Response {
    let mut response = json_error(
        StatusCode::UNAUTHORIZED,
        "authentication required: sign in at /login, or send `Authorization: Bearer <key>`",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Resolves the caller: `Ok(None)` is a stranger while logins are required.
async fn viewer(gate: &Gate, headers: &HeaderMap) -> Result<Option<Viewer>, Response> {
    if let Some(token) = bearer(headers) {
        return match gate.store.verify_key(token).await {
            Ok(Some(owner)) => Ok(Some(Viewer::Key(owner))),
            Ok(None) => Err(ApiError::Unauthorized.into_response()),
            Err(e) => Err(ApiError::from(e).into_response()),
        };
    }
    if !gate.settings.required {
        return Ok(Some(Viewer::Open));
    }
    let Some(token) = cookie(headers, gate.settings.session_cookie()) else {
        return Ok(None);
    };
    match gate.store.login_user(token).await {
        Ok(user) => Ok(user.map(Viewer::User)),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// The middleware in front of every route (see the module documentation).
pub async fn guard(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let kind = kind(&path);
    if let Kind::Open = kind {
        return next.run(request).await;
    }
    // DNS rebinding: without sign-in, any website could point its own name at 127.0.0.1 and
    // then read the dashboard as a same-origin page. Its requests still name that website in
    // `Host`, so only loopback names are served. A request with a bearer key is exempt: a key is
    // never sent by a browser on its own (unlike cookies or reaching the port), and the key
    // still limits it to its project; a bad key gets 401 below, never the open view.
    if !gate.settings.required
        && bearer(request.headers()).is_none()
        && !loopback_host(request.headers(), request.uri())
    {
        let host = request.headers().get(header::HOST).map(|h| {
            String::from_utf8_lossy(h.as_bytes())
                .chars()
                .take(100)
                .collect::<String>()
        });
        tracing::warn!(
            path,
            ?host,
            "refused a request addressed to a non-loopback host name"
        );
        let message = "without sign-in Threadline only answers requests addressed to localhost \
                       or a loopback address; create a user to serve other host names";
        return match kind {
            Kind::Api => json_error(StatusCode::FORBIDDEN, message),
            _ => (StatusCode::FORBIDDEN, message).into_response(),
        };
    }
    let safe_method = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    // A request with a key cannot be forged by another site (browsers do not add the header
    // cross-site without CORS, which Threadline never grants); cookies and open loopback can.
    if !safe_method
        && !request.headers().contains_key(header::AUTHORIZATION)
        && cross_site(request.headers(), request.uri())
    {
        tracing::warn!(path, "refused a cross-site request");
        return json_error(StatusCode::FORBIDDEN, "cross-site request refused");
    }
    request.extensions_mut().insert(gate.settings.clone());
    let viewer = match viewer(&gate, request.headers()).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let Some(viewer) = viewer else {
        return match kind {
            Kind::Login => next.run(request).await,
            Kind::Api => login_required(),
            _ => {
                let wanted = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Redirect::to(&login_href(wanted, false)).into_response()
            }
        };
    };
    if matches!(kind, Kind::Login) && path == "/login" && request.method() == Method::GET {
        // Signed in already, or nothing to sign in to: straight on.
        let next = crate::model::query::parse_query_string(request.uri().query().unwrap_or(""))
            .into_iter()
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v)
            .unwrap_or_default();
        return Redirect::to(safe_next(&next)).into_response();
    }
    let project_id = match &viewer {
        Viewer::Key(owner) => owner.project_id,
        _ => chosen_project(request.headers(), &gate.settings),
    };
    request
        .extensions_mut()
        .insert(Access { viewer, project_id });
    next.run(request).await
}

/// The project picked in the header's switcher (a cookie), else the default one. The value is
/// only a choice among projects every user may see; an id that names no project shows nothing.
pub fn chosen_project(headers: &HeaderMap, settings: &AuthSettings) -> i64 {
    cookie(headers, settings.project_cookie())
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .unwrap_or(DEFAULT_PROJECT_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer tl_abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("tl_abc"));
        h.insert(header::AUTHORIZATION, "Basic xyz".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = headers(&[("cookie", "a=1; threadline_session=abc"), ("cookie", "b=2")]);
        assert_eq!(cookie(&h, "threadline_session"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "threadline"), None);
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        let uri: Uri = "/api/list_sessions".parse().unwrap();
        let same = headers(&[
            ("host", "dash.example:3000"),
            ("origin", "https://dash.example:3000"),
        ]);
        assert!(!cross_site(&same, &uri));
        let foreign = headers(&[
            ("host", "dash.example:3000"),
            ("origin", "https://evil.example"),
        ]);
        assert!(cross_site(&foreign, &uri));
        let proxied = headers(&[
            ("host", "127.0.0.1:3000"),
            ("x-forwarded-host", "dash.example"),
            ("origin", "https://dash.example"),
        ]);
        assert!(!cross_site(&proxied, &uri));
        assert!(cross_site(&headers(&[("origin", "null")]), &uri));
        assert!(cross_site(
            &headers(&[("sec-fetch-site", "cross-site")]),
            &uri
        ));
        assert!(cross_site(
            &headers(&[("sec-fetch-site", "same-site")]),
            &uri
        ));
        assert!(!cross_site(
            &headers(&[("sec-fetch-site", "same-origin")]),
            &uri
        ));
        assert!(!cross_site(&HeaderMap::new(), &uri), "not a browser");
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next("/sessions/a?x=1"), "/sessions/a?x=1");
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "evil",
            "/login?next=/",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn only_loopback_host_names_count_as_local() {
        let uri: Uri = "/".parse().unwrap();
        for local in [
            "localhost",
            "localhost:3000",
            "LocalHost:3000",
            "localhost.:3000",
            "dash.localhost:3000",
            "127.0.0.1",
            "127.0.0.1:3000",
            "127.9.8.7:80",
            "[::1]",
            "[::1]:3000",
            "[::ffff:127.0.0.1]:3000",
        ] {
            let h = headers(&[("host", local)]);
            assert!(loopback_host(&h, &uri), "{local}");
        }
        for foreign in [
            "evil.example",
            "evil.example:3000",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "evillocalhost",
            ".localhost",
            "0.0.0.0:3000",
            "10.0.0.1:3000",
            "[::2]:3000",
            "[::1]x",
            "localhost:notaport",
            "",
        ] {
            let h = headers(&[("host", foreign)]);
            assert!(!loopback_host(&h, &uri), "{foreign}");
        }
        assert!(
            loopback_host(&HeaderMap::new(), &uri),
            "no host: in-process"
        );
        let absolute: Uri = "http://evil.example/".parse().unwrap();
        assert!(!loopback_host(&HeaderMap::new(), &absolute));
        let absolute: Uri = "http://localhost:3000/".parse().unwrap();
        assert!(loopback_host(&HeaderMap::new(), &absolute));
    }

    #[test]
    fn login_links_keep_the_page_asked_for() {
        assert_eq!(login_href("/", false), "/login");
        assert_eq!(login_href("/", true), "/login?failed=1");
        assert_eq!(
            login_href("/sessions/a?x=1", false),
            "/login?next=%2Fsessions%2Fa%3Fx%3D1"
        );
        assert_eq!(
            login_href("/sessions/a", true),
            "/login?failed=1&next=%2Fsessions%2Fa"
        );
    }

    #[test]
    fn non_loopback_addresses_need_authentication() {
        let public: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        assert_eq!(decide(AuthMode::Auto, local, 0), Ok(false));
        assert_eq!(decide(AuthMode::Auto, local, 1), Ok(true));
        assert_eq!(decide(AuthMode::Auto, public, 1), Ok(true));
        assert!(decide(AuthMode::Auto, public, 0)
            .unwrap_err()
            .contains("users create"));
        assert!(decide(AuthMode::Off, public, 3).is_err());
        assert_eq!(decide(AuthMode::Off, local, 3), Ok(false));
        assert!(decide(AuthMode::On, local, 0).is_err());
        assert_eq!(decide(AuthMode::On, public, 1), Ok(true));
    }
}
