//! Crash durability (SPEC §8): a 2xx means committed. Loaders send batches of uniquely named
//! runs to a server process, which is killed with SIGKILL mid-load; after a restart on the same
//! database every acknowledged run is there, and every batch — acknowledged or cut off — is
//! stored whole or not at all. On every backend.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::raw;
use common::{databases, ServerProcess};

const LOADERS: usize = 4;
const RUNS_PER_BATCH: usize = 40;
/// The kill comes once this many batches were acknowledged (or after `LOAD_AT_MOST`).
const ACKED_BEFORE_KILL: usize = 40;
const LOAD_AT_MOST: Duration = Duration::from_secs(8);

#[derive(Default)]
struct Log {
    /// Every batch a loader started to send.
    sent: Mutex<Vec<String>>,
    /// The batches answered 200.
    acked: Mutex<Vec<String>>,
    stop: AtomicBool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_runs_survive_kill_9_and_no_batch_is_half_written() {
    for db in databases().await {
        let key = raw::cli_key(&db.url);
        let mut server = ServerProcess::start(&db.url, &[]);
        let addr = server.addr;
        let log = Arc::new(Log::default());

        let mut loaders = Vec::new();
        for loader in 0..LOADERS {
            let (log, key) = (log.clone(), key.clone());
            loaders.push(tokio::spawn(async move {
                let mut n = 0;
                while !log.stop.load(Ordering::SeqCst) {
                    let batch = format!("crash-{loader}-{n}");
                    n += 1;
                    let body = raw::batch(&batch, &batch, RUNS_PER_BATCH, 50);
                    log.sent.lock().unwrap().push(batch.clone());
                    match raw::post_runs(addr, &key, &body).await {
                        Ok(r) if r.status == 200 => log.acked.lock().unwrap().push(batch),
                        // 429 only: a 503 would be a storage failure, not a refusal.
                        Ok(r) if r.status == 429 => {
                            tokio::time::sleep(Duration::from_millis(50)).await
                        }
                        Ok(r) => panic!("ingestion answered {}: {}", r.status, r.text()),
                        // The server is gone: this batch's fate is unknown.
                        Err(_) => break,
                    }
                }
            }));
        }
        let started = Instant::now();
        while log.acked.lock().unwrap().len() < ACKED_BEFORE_KILL
            && started.elapsed() < LOAD_AT_MOST
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // SIGKILL: no chance to finish anything.
        server.child.kill().expect("kill -9 the server");
        server.child.wait().unwrap();
        log.stop.store(true, Ordering::SeqCst);
        for l in loaders {
            l.await.expect("loader");
        }
        drop(server);

        let server = ServerProcess::start(&db.url, &[]);
        let acked = log.acked.lock().unwrap().clone();
        let sent = log.sent.lock().unwrap().clone();
        assert!(
            !acked.is_empty(),
            "{}: nothing was acknowledged",
            db.backend
        );
        let (mut unacked, mut unacked_stored) = (0, 0);
        for batch in &sent {
            let r = raw::get(
                server.addr,
                &format!("/api/v1/observability/sessions/{batch}/?runs_limit=1000"),
            )
            .await
            .expect("read after restart");
            let stored: Vec<String> = match r.status {
                200 => r.json()["runs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|run| run["id"].as_str().unwrap().to_string())
                    .collect(),
                404 => Vec::new(),
                other => panic!("{}: reading {batch}: {other} {}", db.backend, r.text()),
            };
            let was_acked = acked.contains(batch);
            if !was_acked {
                unacked += 1;
                unacked_stored += usize::from(!stored.is_empty());
            }
            assert!(
                stored.len() == RUNS_PER_BATCH || (stored.is_empty() && !was_acked),
                "{}: batch {batch} (acknowledged: {was_acked}) has {} of {RUNS_PER_BATCH} runs",
                db.backend,
                stored.len()
            );
            if !stored.is_empty() {
                let mut expected: Vec<String> = (0..RUNS_PER_BATCH)
                    .map(|i| format!("{batch}-{i}"))
                    .collect();
                let mut stored = stored;
                expected.sort();
                stored.sort();
                assert_eq!(stored, expected, "{}: batch {batch}", db.backend);
            }
        }
        println!(
            "crash ({}): killed after {:?}; {} acknowledged runs in {} batches all present; \
             {unacked} batches cut off by the kill, {unacked_stored} of them stored whole, none half",
            db.backend,
            started.elapsed(),
            acked.len() * RUNS_PER_BATCH,
            acked.len()
        );
    }
}
