//! Server rendering under concurrent requests: every page is answered completely and nothing
//! panics, on a multi-threaded runtime like the server's.
//!
//! Leptos reads a signal or memo with a non-blocking lock, so a page that reads a reactive value
//! while a task on another thread holds it (a resource resolving, `Transition`'s pending effect,
//! a title closure read again when the head is written) panics with a misleading "already been
//! disposed" — in a task the response may not even depend on, so the status alone does not
//! show it. The pages keep such reads off the server (see `pages::sessions`, `pages::session`).
//! The race is rare by nature, hence many renders: before that change, 4,950 detail and trace
//! renders at 6 in flight panicked 39 times and the list page about once in 2,000.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::json;

const IN_FLIGHT: usize = 8;
const RENDERS: usize = 4_000;
const TIME_BUDGET: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_render_completely_under_concurrent_requests() {
    let panics = count_panics();
    // The pages do not depend on the backend; SQLite is always available.
    let db = databases().await.into_iter().next().expect("SQLite");
    let (store, _, key) = store_with_key(&db).await;
    let app = app(store);

    // Each page with its title and a text only its complete answer holds.
    let list = |path: &str| {
        (
            path.to_string(),
            "Sessions · Threadline".to_string(),
            "/sessions/s3".to_string(),
        )
    };
    let mut pages = vec![
        list("/"),
        list("/?sort=-run_count&q=s"),
        list("/?model=gpt-4o&page=1"),
        list("/?tool=search&sort=session_id"),
        list("/?sort=-total_cost"),
    ];
    for s in 0..4 {
        let session = format!("s{s}");
        let runs: Vec<_> = (0..5)
            .map(|r| {
                json!({"id": format!("{session}-r{r}"), "session_id": session,
                       "started_at": at(f64::from(s * 10 + r)), "duration_ms": 900,
                       "model": "gpt-4o", "tools_called": ["search"],
                       "trace_id": format!("{:032x}", s * 100 + r + 1)})
            })
            .collect();
        let reply = post_json(&app, "/api/v1/runs", Some(&key), &json!({ "runs": runs })).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        pages.push((
            format!("/sessions/{session}"),
            format!("Session {session} · Threadline"),
            format!("/traces/{:032x}", s * 100 + 5),
        ));
        pages.push((
            format!("/traces/{:032x}", s * 100 + 1),
            format!("Trace {:032x} · Threadline", s * 100 + 1),
            format!("/sessions/{session}"),
        ));
    }

    let started = Instant::now();
    let mut renders = 0;
    let mut requests = pages.iter().cycle();
    while renders < RENDERS && started.elapsed() < TIME_BUDGET {
        let mut wave = tokio::task::JoinSet::new();
        for _ in 0..IN_FLIGHT {
            let (path, title, marker) = requests.next().unwrap().clone();
            let app = app.clone();
            wave.spawn(async move { (get(&app, &path).await, path, title, marker) });
        }
        while let Some(done) = wave.join_next().await {
            let (reply, path, title, marker) = done.expect("a render task panicked");
            let html = reply.text();
            assert_eq!(reply.status, StatusCode::OK, "{path}: {html}");
            assert!(
                html.contains(&format!("<title>{title}</title>"))
                    && html.contains(&marker)
                    && html.contains("</html>"),
                "{path} was not rendered completely: {html}"
            );
            renders += 1;
        }
    }
    assert!(
        renders >= RENDERS / 4,
        "only {renders} renders in {TIME_BUDGET:?}"
    );
    assert_eq!(
        panics.load(Ordering::SeqCst),
        0,
        "panics during {renders} concurrent renders (see the output above)"
    );
}

/// Counts panics on any thread from now on (and still prints them). This file holds one test,
/// so the process-wide hook sees only its own renders.
fn count_panics() -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let previous = std::panic::take_hook();
    let counter = count.clone();
    std::panic::set_hook(Box::new(move |info| {
        counter.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    count
}
