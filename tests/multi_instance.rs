//! Several `threadline serve` processes on one PostgreSQL database (SPEC §8): runs of the same
//! API keys and the same sessions, spread over two instances and sent concurrently in shuffled
//! batches (some twice), end as exactly the sessions, merges and aggregates that one instance
//! produces from the same batches sent one after another.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use sqlx::Row;

const RUNS: usize = 1200;
const KEYS: usize = 2;
const CLIENTS: usize = 4;

/// A small deterministic generator (the test must be reproducible, and needs no `rand`).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Runs in bursts of activity an hour or more apart, so automatic sessions form, and shuffled
/// arrival creates fragments that later runs bridge (merges).
fn workload(rng: &mut Lcg) -> Vec<(usize, serde_json::Value)> {
    (0..RUNS)
        .map(|i| {
            let key = rng.next(KEYS as u64) as usize;
            let burst = rng.next(12) as f64 * 120.0;
            let minute = burst + rng.next(9) as f64 * 7.5 + rng.next(60) as f64 / 60.0;
            let tokens = 100 + rng.next(900);
            let model = ["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro"][rng.next(3) as usize];
            let tool = ["search", "fetch", "sql", "calendar"][rng.next(4) as usize];
            let mut run = serde_json::json!({
                "id": format!("run-{i}"), "started_at": at(minute), "duration_ms": 500 + tokens,
                "model": model,
                "input_tokens": tokens, "output_tokens": tokens / 4,
                "cost": rng.next(5000) as f64 / 1e6,
                "agent_name": format!("agent-{key}"),
                "tools_called": [tool],
            });
            if rng.next(10) < 3 {
                run["session_id"] = format!("conv-{}", rng.next(12)).into();
            }
            if rng.next(20) == 0 {
                run["status"] = "error".into();
                run["error"] = "upstream timeout".into();
            }
            (key, run)
        })
        .collect()
}

/// Shuffles the runs and cuts them into client batches of 1–40 runs, one key per batch.
fn batches(rng: &mut Lcg, runs: &[(usize, serde_json::Value)]) -> Vec<(usize, String)> {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.next(i as u64 + 1) as usize);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let size = 1 + rng.next(40) as usize;
        let chunk = &order[i..(i + size).min(order.len())];
        i += size;
        for key in 0..KEYS {
            let mine: Vec<&serde_json::Value> = chunk
                .iter()
                .filter(|&&r| runs[r].0 == key)
                .map(|&r| &runs[r].1)
                .collect();
            if !mine.is_empty() {
                out.push((key, serde_json::json!({ "runs": mine }).to_string()));
            }
        }
    }
    out
}

async fn keys(store: &threadline::db::Store) -> Vec<String> {
    let mut out = Vec::new();
    for k in 0..KEYS {
        out.push(
            store
                .create_key("default", &format!("gateway-{k}"))
                .await
                .unwrap()
                .1,
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_group_exactly_like_one() {
    let Some(shared) = databases()
        .await
        .into_iter()
        .find(|d| d.backend == "postgres")
    else {
        eprintln!("note: PostgreSQL not available; the multi-instance test needs it");
        return;
    };
    let reference = databases()
        .await
        .into_iter()
        .find(|d| d.backend == "postgres")
        .unwrap();

    let mut rng = Lcg(0x7e57_c0de);
    let runs = workload(&mut rng);
    let batches = batches(&mut rng, &runs);
    // About a tenth of the batches go a second time, to the other instance, at the same time.
    let resent: Vec<bool> = (0..batches.len()).map(|_| rng.next(10) == 0).collect();

    // Two instances on the new shared database, started together: both run the migrations at
    // once. Keys are created once they answer.
    let instances = [
        ServerProcess::spawn(&shared.url, &[]),
        ServerProcess::spawn(&shared.url, &[]),
    ];
    for i in &instances {
        i.wait_healthy();
    }
    let shared_store = open(&shared).await;
    let shared_keys = keys(&shared_store).await;
    let addrs = [instances[0].addr, instances[1].addr];
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let work = Arc::new((batches.clone(), resent, shared_keys));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, failures, work) = (next.clone(), failures.clone(), work.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let (batches, resent, keys) = &*work;
                let Some((key, body)) = batches.get(i) else {
                    return;
                };
                let auth = format!("Bearer {}", keys[*key]);
                let targets = if resent[i] {
                    vec![i % 2, (i + 1) % 2]
                } else {
                    vec![i % 2]
                };
                // A resent batch goes to both instances at the same moment.
                std::thread::scope(|scope| {
                    for t in targets {
                        let (auth, failures) = (&auth, &failures);
                        scope.spawn(move || {
                            let reply = http_request(
                                addrs[t],
                                "POST",
                                "/api/v1/runs",
                                &[
                                    ("authorization", auth),
                                    ("content-type", "application/json"),
                                ],
                                body.as_bytes(),
                            );
                            let problem = match reply {
                                Ok((200, _)) => return,
                                Ok((status, body)) => format!(
                                    "batch {i} on instance {t}: {status} {}",
                                    String::from_utf8_lossy(&body)
                                ),
                                Err(e) => format!("batch {i} on instance {t}: {e}"),
                            };
                            failures.lock().unwrap().push(problem);
                        });
                    }
                });
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(failures.lock().unwrap().as_slice(), &[] as &[String]);
    drop(instances);

    // One instance (the in-process router) given the same batches one after another.
    let reference_store = open(&reference).await;
    let reference_keys = keys(&reference_store).await;
    let app = app(reference_store.clone());
    for (key, body) in &batches {
        let request = axum::http::Request::post("/api/v1/runs")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", reference_keys[*key]))
            .body(axum::body::Body::from(body.clone()))
            .unwrap();
        assert_eq!(send(&app, request).await.status, 200);
    }

    let project = threadline::db::DEFAULT_PROJECT_ID;
    let got = snapshot(&shared_store, project).await;
    let want = snapshot(&reference_store, project).await;
    let total_runs: usize = want.iter().map(|s| s.2.len()).sum();
    assert_eq!(total_runs, RUNS, "the reference holds every run once");
    assert!(
        want.len() > 20,
        "the workload forms many sessions: {}",
        want.len()
    );
    assert_eq!(
        got.len(),
        want.len(),
        "as many sessions as with one instance"
    );
    assert_eq!(
        got, want,
        "the same sessions, runs and aggregates as one instance"
    );

    // The shuffled arrival made the instances merge automatic sessions (the case where two
    // writers could disagree), and every merged id still resolves to its survivor.
    let pool = sqlx::PgPool::connect(&shared.url).await.unwrap();
    let aliases = sqlx::query("SELECT alias FROM session_aliases")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(!aliases.is_empty(), "the workload produced merges");
    for row in &aliases {
        let alias: String = row.get(0);
        let resolved = shared_store
            .session_detail(project, &alias, 1, 0)
            .await
            .unwrap();
        assert!(resolved.is_some(), "merged id {alias} resolves");
    }
    pool.close().await;
}
