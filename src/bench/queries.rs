//! The read side of SPEC §9: which requests are timed — every sessions-list query shape (each
//! sort key both ways, each single filter, search by tool, model and session-id substring; each
//! on its first page and on a deep page), a long session's detail, and the list and detail
//! pages rendered in full — and timing them through a [`Client`]: the router in process, or a
//! `threadline serve` over loopback HTTP.
//!
//! Filter and search values come from the dataset itself ([`Probe`]), so a reused database of
//! any age or origin is queried for things it holds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::http::Request as HttpRequest;
use axum::Router;
use tower::ServiceExt;

use super::http_client::Connection;
use super::report::thousands;
use crate::db::{now_us, rfc3339, Store, DEFAULT_PROJECT_ID};
use crate::model::query::{encode_component, parse_list_params};
use crate::model::{ListQuery, SessionDetail, SessionPage, Sort, SortKey, DEFAULT_PAGE_SIZE};

/// What a request is, and so which SPEC §9 target applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    List,
    Detail,
    Page,
}

impl Kind {
    /// The p95 SPEC §9 allows, in milliseconds.
    pub fn target_ms(self) -> f64 {
        match self {
            Kind::List => 25.0,
            Kind::Detail => 10.0,
            Kind::Page => 40.0,
        }
    }
}

/// Values to query for, read from the dataset.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// The newest activity in the dataset (epoch µs): time windows are placed relative to it.
    pub newest_us: i64,
    /// The session shown first by default (its id must appear on the list page).
    pub newest_session: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub tool: Option<String>,
    pub user: Option<String>,
    /// Four characters from the middle of a session id in the middle of the id order.
    pub id_fragment: Option<String>,
    /// The session with the most runs, and how many.
    pub long_session: Option<(String, i64)>,
}

/// Reads a [`Probe`] through the store's read functions (the ones the API calls).
pub async fn probe(store: &Store) -> anyhow::Result<Probe> {
    let list = |pairs: &[(&str, &str)]| -> anyhow::Result<ListQuery> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(parse_list_params(&pairs, now_us())?)
    };
    let project = DEFAULT_PROJECT_ID;
    let newest = store
        .list_sessions(project, &list(&[("sort", "-last_activity")])?)
        .await?;
    let first = |pick: fn(&crate::model::SessionSummary) -> &Vec<String>| {
        newest.results.iter().find_map(|s| pick(s).first().cloned())
    };
    let mut probe = Probe {
        newest_us: newest
            .results
            .first()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s.last_activity).ok())
            .map(|t| t.timestamp_micros())
            .unwrap_or_else(now_us),
        newest_session: newest.results.first().map(|s| s.session_id.clone()),
        agent: store.list_agents(project).await?.into_iter().next(),
        model: first(|s| &s.models),
        tool: first(|s| &s.tools),
        user: first(|s| &s.users),
        ..Probe::default()
    };
    let middle = (newest.count / 2).to_string();
    let by_id = store
        .list_sessions(
            project,
            &list(&[("sort", "session_id"), ("offset", &middle), ("limit", "1")])?,
        )
        .await?;
    probe.id_fragment = by_id
        .results
        .first()
        .and_then(|s| middle_chars(&s.session_id, 4));
    let longest = store
        .list_sessions(project, &list(&[("sort", "-run_count"), ("limit", "1")])?)
        .await?;
    probe.long_session = longest
        .results
        .first()
        .map(|s| (s.session_id.clone(), s.run_count));
    Ok(probe)
}

/// `n` characters from the middle of `text`; `None` when it is shorter.
fn middle_chars(text: &str, n: usize) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    (chars.len() >= n).then(|| {
        let start = (chars.len() - n) / 2;
        chars[start..start + n].iter().collect()
    })
}

/// One sessions-list query shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ListShape {
    pub label: String,
    pub params: Vec<(String, String)>,
}

/// Every list shape SPEC §9 names, for the values of `probe`: each sort key both ways, each
/// single filter, then the three searches. Shapes whose value the dataset lacks are left out.
pub fn list_shapes(probe: &Probe) -> Vec<ListShape> {
    let shape = |label: String, params: &[(&str, &str)]| ListShape {
        label,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let mut out = Vec::new();
    for key in SortKey::ALL {
        for descending in [true, false] {
            let sort = Sort { key, descending }.to_param();
            out.push(shape(format!("sort={sort}"), &[("sort", &sort)]));
        }
    }
    for (name, value) in [
        ("agent", &probe.agent),
        ("model", &probe.model),
        ("tool", &probe.tool),
        ("user", &probe.user),
    ] {
        if let Some(v) = value {
            out.push(shape(format!("{name}={v}"), &[(name, v)]));
        }
    }
    out.push(shape("status=error".into(), &[("status", "error")]));
    let day = 86_400_000_000i64;
    let start = rfc3339(probe.newest_us - day);
    out.push(shape(
        "start=newest−24h".into(),
        &[("start", start.as_str())],
    ));
    let (from, to) = (
        rfc3339(probe.newest_us - 8 * day),
        rfc3339(probe.newest_us - 7 * day),
    );
    out.push(shape(
        "start…end: one day, a week before the newest".into(),
        &[("start", from.as_str()), ("end", to.as_str())],
    ));
    if let Some(tool) = &probe.tool {
        out.push(shape(format!("q={tool} (search by tool)"), &[("q", tool)]));
    }
    if let Some(model) = &probe.model {
        out.push(shape(
            format!("q={model} (search by model)"),
            &[("q", model)],
        ));
    }
    if let Some(fragment) = &probe.id_fragment {
        out.push(shape(
            format!("search={fragment} (session id contains)"),
            &[("search", fragment)],
        ));
    }
    out
}

/// The REST path of a list shape's page at `offset`.
pub fn list_path(params: &[(String, String)], offset: i64) -> String {
    let mut parts: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect();
    parts.push(format!("limit={DEFAULT_PAGE_SIZE}"));
    parts.push(format!("offset={offset}"));
    format!("/api/v1/observability/sessions/?{}", parts.join("&"))
}

/// The deep page of `count` matches: the page holding the middle match. `None` when the
/// matches fill fewer than ten pages (the first page is then all there is to measure).
pub fn deep_offset(count: i64, limit: i64) -> Option<i64> {
    let limit = limit.max(1);
    (count > 10 * limit).then(|| (count / 2) / limit * limit)
}

/// One request the benchmark times.
#[derive(Clone, Debug)]
pub struct Request {
    pub kind: Kind,
    pub label: String,
    pub path: String,
    /// What the answer holds, e.g. `25 of 12,345`.
    pub result: String,
    /// Text the answer must contain (the pages are checked to show the data).
    pub expect: Option<String>,
}

/// Where requests go.
pub enum Client {
    /// The application's router called in this process (`tower::ServiceExt::oneshot`).
    InProcess(Router),
    /// A server over loopback HTTP/1.1, one keep-alive connection.
    Loopback(Connection),
}

impl Client {
    /// `GET path`: the status and the whole body, uncompressed.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        match self {
            Client::InProcess(router) => {
                let request = HttpRequest::get(path)
                    .body(Body::empty())
                    .context("building the request")?;
                let response = match router.clone().oneshot(request).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                let status = response.status().as_u16();
                let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
                Ok((status, body.to_vec()))
            }
            Client::Loopback(connection) => {
                let answer = connection.get(path, &[]).await?;
                Ok((answer.status, answer.body))
            }
        }
    }

    /// A 200 whose body holds `expect`, or an error quoting the answer.
    async fn get_ok(&mut self, path: &str, expect: Option<&str>) -> anyhow::Result<Vec<u8>> {
        let (status, body) = self.get(path).await?;
        let text = || String::from_utf8_lossy(&body[..body.len().min(2_000)]).into_owned();
        anyhow::ensure!(status == 200, "GET {path}: answer {status}: {}", text());
        if let Some(expect) = expect {
            let found = String::from_utf8_lossy(&body).contains(expect);
            anyhow::ensure!(found, "GET {path}: the answer does not show `{expect}`");
        }
        Ok(body)
    }
}

/// Turns the shapes into the requests to time: each list shape's first page and, with enough
/// matches, its deep page; the longest session's detail (100 runs); the list and detail pages.
/// Every answer is fetched once here, which also checks it.
pub async fn plan(client: &mut Client, probe: &Probe) -> anyhow::Result<Vec<Request>> {
    let mut out = Vec::new();
    for shape in list_shapes(probe) {
        let path = list_path(&shape.params, 0);
        let page: SessionPage = serde_json::from_slice(&client.get_ok(&path, None).await?)
            .with_context(|| format!("GET {path}: not a sessions page"))?;
        let of = |results: usize| {
            format!(
                "{} of {}",
                thousands(results as u64),
                thousands(page.count as u64)
            )
        };
        out.push(Request {
            kind: Kind::List,
            label: format!("list {}, first page", shape.label),
            path,
            result: of(page.results.len()),
            expect: None,
        });
        if let Some(offset) = deep_offset(page.count, DEFAULT_PAGE_SIZE) {
            let path = list_path(&shape.params, offset);
            let deep: SessionPage = serde_json::from_slice(&client.get_ok(&path, None).await?)
                .with_context(|| format!("GET {path}: not a sessions page"))?;
            out.push(Request {
                kind: Kind::List,
                label: format!(
                    "list {}, deep page (offset {})",
                    shape.label,
                    thousands(offset as u64)
                ),
                path,
                result: of(deep.results.len()),
                expect: None,
            });
        }
    }
    if let Some((id, _)) = &probe.long_session {
        let path = format!(
            "/api/v1/observability/sessions/{}/?runs_limit=100",
            encode_component(id)
        );
        let detail: SessionDetail = serde_json::from_slice(&client.get_ok(&path, None).await?)
            .with_context(|| format!("GET {path}: not a session detail"))?;
        out.push(Request {
            kind: Kind::Detail,
            label: "session detail, runs_limit=100".into(),
            path,
            result: format!(
                "{} of {} runs",
                detail.runs.len(),
                thousands(detail.aggregates.run_count as u64)
            ),
            expect: None,
        });
    }
    let mut pages = vec![(
        "SSR page / (sessions list)".to_string(),
        "/".to_string(),
        probe.newest_session.clone(),
    )];
    if let Some((id, _)) = &probe.long_session {
        pages.push((
            "SSR page /sessions/{id} (detail)".to_string(),
            format!("/sessions/{}", encode_component(id)),
            Some(id.clone()),
        ));
    }
    for (label, path, expect) in pages {
        let body = client.get_ok(&path, expect.as_deref()).await?;
        out.push(Request {
            kind: Kind::Page,
            label,
            path,
            result: format!("{} KB of HTML", thousands(body.len().div_ceil(1000) as u64)),
            expect,
        });
    }
    Ok(out)
}

/// Times every request: `warmup` untimed calls, then `reps` timed ones, one request at a
/// time. Each timed call is a complete request: sent, answered, body read. Returns the samples
/// of each request, in order.
pub async fn time(
    client: &mut Client,
    requests: &[Request],
    warmup: usize,
    reps: usize,
    label: &str,
) -> anyhow::Result<Vec<Vec<Duration>>> {
    let bar = indicatif::ProgressBar::new((requests.len() * (warmup + reps)) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>22} [{bar:40}] {pos}/{len} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    let mut out = Vec::with_capacity(requests.len());
    for request in requests {
        for _ in 0..warmup {
            client
                .get_ok(&request.path, request.expect.as_deref())
                .await?;
            bar.inc(1);
        }
        let mut samples = Vec::with_capacity(reps);
        for _ in 0..reps {
            let started = Instant::now();
            let (status, _body) = client.get(&request.path).await?;
            samples.push(started.elapsed());
            anyhow::ensure!(
                status == 200,
                "GET {}: answer {status} while timing",
                request.path
            );
            bar.inc(1);
        }
        out.push(samples);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Sends every request once on each of `connections` connections to the server at `addr`, all
/// at the same time, each connection starting at a different request: the server then answers
/// that many requests at once, as under concurrent use, on as many pooled database connections.
/// Returns the requests answered; any answer but 200 is an error.
pub async fn burst(
    addr: SocketAddr,
    requests: &[Request],
    connections: usize,
) -> anyhow::Result<usize> {
    let n = requests.len();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let paths: Vec<String> = (0..n)
            .map(|k| requests[(c * n / connections.max(1) + k) % n].path.clone())
            .collect();
        tasks.spawn(async move {
            let mut connection = Connection::new(addr);
            for path in &paths {
                let answer = connection.get(path, &[]).await?;
                anyhow::ensure!(
                    answer.status == 200,
                    "GET {path}: answer {} in the concurrent burst",
                    answer.status
                );
            }
            anyhow::Ok(paths.len())
        });
    }
    let mut answered = 0;
    while let Some(done) = tasks.join_next().await {
        answered += done.context("a burst connection panicked")??;
    }
    Ok(answered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        Probe {
            newest_us: 1_767_225_600_000_000, // 2026-01-01T00:00:00Z
            newest_session: Some("conv-1".into()),
            agent: Some("support-agent".into()),
            model: Some("gpt-4o".into()),
            tool: Some("kb_lookup".into()),
            user: Some("user_042".into()),
            id_fragment: Some("a1b2".into()),
            long_session: Some(("bench-long-session".into(), 300)),
        }
    }

    #[test]
    fn every_sort_filter_and_search_of_spec_9_is_a_shape() {
        let shapes = list_shapes(&probe());
        let labels: Vec<&str> = shapes.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(shapes.len(), 14 + 7 + 3);
        for key in SortKey::ALL {
            assert!(labels.contains(&format!("sort=-{}", key.name()).as_str()));
            assert!(labels.contains(&format!("sort={}", key.name()).as_str()));
        }
        for label in [
            "agent=support-agent",
            "model=gpt-4o",
            "tool=kb_lookup",
            "user=user_042",
            "status=error",
            "q=kb_lookup (search by tool)",
            "q=gpt-4o (search by model)",
            "search=a1b2 (session id contains)",
        ] {
            assert!(labels.contains(&label), "{label} missing");
        }
        let window = shapes
            .iter()
            .find(|s| s.label.starts_with("start…end"))
            .unwrap();
        assert_eq!(
            window.params,
            vec![
                ("start".to_string(), "2025-12-24T00:00:00Z".to_string()),
                ("end".to_string(), "2025-12-25T00:00:00Z".to_string()),
            ]
        );
        // Every shape is a valid query of the API.
        for s in &shapes {
            assert!(parse_list_params(&s.params, 0).is_ok(), "{}", s.label);
        }
    }

    #[test]
    fn shapes_without_values_in_the_dataset_are_left_out() {
        let shapes = list_shapes(&Probe::default());
        assert_eq!(shapes.len(), 14 + 3);
        assert!(shapes.iter().all(|s| !s.label.starts_with("q=")));
    }

    #[test]
    fn list_paths_encode_values_and_page() {
        let params = vec![("q".to_string(), "a b&c".to_string())];
        assert_eq!(
            list_path(&params, 50),
            "/api/v1/observability/sessions/?q=a%20b%26c&limit=25&offset=50"
        );
    }

    #[test]
    fn the_deep_page_holds_the_middle_match() {
        assert_eq!(deep_offset(100_000, 25), Some(50_000));
        assert_eq!(deep_offset(12_345, 25), Some(6_150));
        assert_eq!(deep_offset(251, 25), Some(125));
        assert_eq!(deep_offset(250, 25), None);
        assert_eq!(deep_offset(0, 25), None);
    }

    #[test]
    fn id_fragments_come_from_the_middle() {
        assert_eq!(
            middle_chars("conv-a1b2c3d4e5f6", 4).as_deref(),
            Some("1b2c")
        );
        assert_eq!(middle_chars("abcd", 4).as_deref(), Some("abcd"));
        assert_eq!(middle_chars("abc", 4), None);
    }
}
