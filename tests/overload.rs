//! Overload (SPEC §8): when writes fall behind, ingestion answers 429 with `Retry-After` instead
//! of queueing without bound; nothing else fails, every acknowledged batch is stored whole,
//! reads keep answering, and the server's memory stays bounded.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::raw::{self, RawReply};
use common::{app_with_limits, databases, store_with_key, ServerProcess};
use threadline::server::config::Limits;
use threadline::server::state::AppState;
use tokio::io::AsyncWriteExt;

fn retry_after(r: &RawReply) -> u64 {
    r.header("retry-after")
        .unwrap_or_else(|| panic!("{} without Retry-After: {}", r.status, r.text()))
        .parse()
        .expect("Retry-After in whole seconds")
}

async fn run_count(addr: std::net::SocketAddr, session: &str) -> Option<i64> {
    let r = raw::get(
        addr,
        &format!("/api/v1/observability/sessions/{session}/?runs_limit=1"),
    )
    .await
    .expect("read a session");
    match r.status {
        200 => Some(r.json()["aggregates"]["run_count"].as_i64().unwrap()),
        404 => None,
        other => panic!("session {session}: {other} {}", r.text()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_ingestion_queue_answers_429_with_retry_after_and_stores_nothing() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let limits = Limits {
            max_pending_writes: 1,
            ..Limits::default()
        };
        let addr = raw::serve(app_with_limits(store, limits)).await;
        let auth = format!("Bearer {key}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
            ("Expect", "100-continue"),
        ];

        // Request A takes the only place: once the server asks for its body (100 Continue), it
        // is admitted; the start of its body is sent.
        let held = raw::batch("held", "held", 3, 100);
        let mut a = raw::open(addr, "POST", "/api/v1/runs", &headers, held.len())
            .await
            .unwrap();
        raw::wait_continue(&mut a).await.unwrap();
        a.write_all(&held[..10]).await.unwrap();

        let other = raw::batch("other", "other", 1, 10);
        let refused = raw::post_runs(addr, &key, &other).await.unwrap();
        assert_eq!(refused.status, 429, "{}: {}", db.backend, refused.text());
        assert!(retry_after(&refused) >= 1);
        assert!(refused.json()["error"].as_str().unwrap().contains("retry"));
        let otlp = raw::request(
            addr,
            "POST",
            "/v1/traces",
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            b"{}",
        )
        .await
        .unwrap();
        assert_eq!(otlp.status, 429, "OTLP shares the queue");
        retry_after(&otlp);
        // A request without a key is told so, not to come back later.
        for path in ["/api/v1/runs", "/v1/traces"] {
            let anonymous = raw::request(
                addr,
                "POST",
                path,
                &[("Content-Type", "application/json")],
                b"{}",
            )
            .await
            .unwrap();
            assert_eq!(anonymous.status, 401, "{path}: {}", anonymous.text());
        }
        // Reads are not queued behind ingestion.
        assert_eq!(
            raw::get(addr, "/api/v1/observability/sessions/")
                .await
                .unwrap()
                .status,
            200
        );

        a.write_all(&held[10..]).await.unwrap();
        let done = raw::finish(a).await.unwrap();
        assert_eq!(done.status, 200, "{}", done.text());
        let again = raw::post_runs(addr, &key, &other).await.unwrap();
        assert_eq!(
            again.status,
            200,
            "the place is free again: {}",
            again.text()
        );
        assert_eq!(run_count(addr, "held").await, Some(3));
        assert_eq!(run_count(addr, "other").await, Some(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_budget_refuses_more_bodies_but_never_a_lone_one() {
    let db = databases().await.remove(0);
    let (store, _, key) = store_with_key(&db).await;
    let limits = Limits {
        max_pending_writes: 10,
        max_pending_bytes: 64 * 1024,
        ..Limits::default()
    };
    let addr = raw::serve(app_with_limits(store, limits)).await;
    let auth = format!("Bearer {key}");
    // Larger than the whole budget: admitted because it is alone.
    let big = raw::batch("big", "big", 10, 10_000);
    assert!(big.len() > 64 * 1024);
    let mut a = raw::open(
        addr,
        "POST",
        "/api/v1/runs",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Expect", "100-continue"),
        ],
        big.len(),
    )
    .await
    .unwrap();
    // Asked for its body: admitted, with its declared length taken from the budget.
    raw::wait_continue(&mut a).await.unwrap();
    a.write_all(&big[..100]).await.unwrap();
    let small = raw::batch("small", "small", 1, 10);
    let refused = raw::post_runs(addr, &key, &small).await.unwrap();
    assert_eq!(refused.status, 429, "{}", refused.text());
    retry_after(&refused);
    a.write_all(&big[100..]).await.unwrap();
    assert_eq!(raw::finish(a).await.unwrap().status, 200);
    assert_eq!(
        raw::post_runs(addr, &key, &small).await.unwrap().status,
        200
    );
}

/// Flood parameters: the server gets a small pending budget (8 requests, 8 MiB of bodies) and 64
/// clients send a 4 MB batch each at once, so queueing them all would hold 256 MB of bodies and
/// more once decoded (measured without the budget: about 585 MiB peak).
const CLIENTS: usize = 64;
const RUNS_PER_BATCH: usize = 200;
const INPUT_BYTES: usize = 20_000;
const FLOOD: Duration = Duration::from_secs(4);
/// Clients wait at most this long after a 429 (less than `Retry-After` says, to keep the
/// pressure on).
const RETRY_PAUSE_MS: u64 = 1000;
const SERVER_LIMITS: [&str; 4] = ["--max-pending-writes", "8", "--max-pending-bytes", "8MiB"];
/// The bound on the server's peak resident memory (`VmHWM`) under the flood. Measured with the
/// budget: 230–290 MiB, of which SQLite's page cache of the writing connection (up to 64 MiB)
/// and the allocator's per-thread arenas are a large part.
const MEMORY_BOUND: u64 = 400 * 1024 * 1024;

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    refused: AtomicUsize,
    reads: AtomicUsize,
    flooding: AtomicBool,
    acked: Mutex<Vec<String>>,
    slowest_read: Mutex<Duration>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_gets_429s_never_errors_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("flood.db").display());
    let key = raw::cli_key(&url);
    let server = ServerProcess::start(&url, &SERVER_LIMITS);
    let addr = server.addr;
    let pid = server.child.id();
    let baseline = raw::peak_rss(pid);
    let tally = Arc::new(Tally::default());
    tally.flooding.store(true, Ordering::SeqCst);

    // Reads run for as long as the flood does.
    let reader = {
        let tally = tally.clone();
        tokio::spawn(async move {
            while tally.flooding.load(Ordering::SeqCst) {
                for path in ["/api/v1/observability/sessions/?limit=5", "/healthz"] {
                    let started = Instant::now();
                    let r = raw::get(addr, path).await.expect("read during the flood");
                    assert_eq!(r.status, 200, "{path} during the flood: {}", r.text());
                    let took = started.elapsed();
                    let mut slowest = tally.slowest_read.lock().unwrap();
                    *slowest = (*slowest).max(took);
                    tally.reads.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // Every client's first batch is built before the flood starts, so it arrives all at once.
    let mut first = Vec::new();
    for client in 0..CLIENTS {
        first.push(tokio::task::spawn_blocking(move || {
            let session = format!("flood-{client}-0");
            raw::batch(&session, &session, RUNS_PER_BATCH, INPUT_BYTES)
        }));
    }
    let mut bodies = Vec::new();
    for b in first {
        bodies.push(b.await.unwrap());
    }
    let deadline = Instant::now() + FLOOD;
    let mut tasks = Vec::new();
    for (client, mut body) in bodies.into_iter().enumerate() {
        let (tally, key) = (tally.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut batch_no = 0;
            // A refused batch is sent again (same ids) until it is stored or the flood ends.
            while Instant::now() < deadline {
                let r = raw::post_runs(addr, &key, &body)
                    .await
                    .unwrap_or_else(|e| panic!("ingestion request failed: {e}"));
                match r.status {
                    200 => {
                        assert_eq!(r.json()["accepted"], RUNS_PER_BATCH);
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                        tally
                            .acked
                            .lock()
                            .unwrap()
                            .push(format!("flood-{client}-{batch_no}"));
                        batch_no += 1;
                        let session = format!("flood-{client}-{batch_no}");
                        body = tokio::task::spawn_blocking(move || {
                            raw::batch(&session, &session, RUNS_PER_BATCH, INPUT_BYTES)
                        })
                        .await
                        .unwrap();
                    }
                    // 429 only: a 503 would be a storage failure, not a refusal.
                    429 => {
                        let wait = (retry_after(&r) * 1000).min(RETRY_PAUSE_MS);
                        tally.refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    other => panic!("ingestion answered {other}: {}", r.text()),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    tally.flooding.store(false, Ordering::SeqCst);
    reader.await.expect("reader task");
    let peak = raw::peak_rss(pid);

    let acked = tally.acked.lock().unwrap().clone();
    let (ok, refused, reads) = (
        tally.ok.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        tally.reads.load(Ordering::Relaxed),
    );
    let slowest = *tally.slowest_read.lock().unwrap();
    println!(
        "flood: {ok} batches stored, {refused} refused with 429, {reads} reads meanwhile \
         (slowest {slowest:?}); server peak RSS {} MiB (at start {} MiB, bound {} MiB)",
        peak >> 20,
        baseline >> 20,
        MEMORY_BOUND >> 20
    );
    assert!(ok > 0, "some batches get through");
    assert!(refused > 0, "the flood is answered with 429");
    assert!(reads >= 4, "reads kept answering ({reads})");
    assert!(
        peak < MEMORY_BOUND,
        "peak RSS {} MiB is over the {} MiB bound",
        peak >> 20,
        MEMORY_BOUND >> 20
    );
    for session in &acked {
        assert_eq!(
            run_count(addr, session).await,
            Some(RUNS_PER_BATCH as i64),
            "acknowledged batch {session} is stored whole"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408_and_gives_its_place_back() {
    let db = databases().await.remove(0);
    let (store, _, key) = store_with_key(&db).await;
    let limits = Limits {
        max_pending_writes: 1,
        ..Limits::default()
    };
    let state = AppState::new(store, limits);
    let app =
        threadline::server::ingest::router_with_body_timeout(&state, Duration::from_millis(500))
            .with_state(state);
    let addr = raw::serve(app).await;
    let auth = format!("Bearer {key}");
    let mut stalled = raw::open(
        addr,
        "POST",
        "/api/v1/runs",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        1000,
    )
    .await
    .unwrap();
    stalled.write_all(b"{\"runs\": [").await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), raw::finish(stalled))
        .await
        .expect("a stalled body is answered, not waited for without end")
        .unwrap();
    assert_eq!(reply.status, 408, "{}", reply.text());
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("did not arrive within"),
        "{}",
        reply.text()
    );
    // Its place is free again.
    let next = raw::post_runs(addr, &key, &raw::batch("after", "after", 1, 10))
        .await
        .unwrap();
    assert_eq!(next.status, 200, "{}", next.text());
}
