//! SIGTERM (SPEC §8): the server stops accepting, finishes the requests in flight, closes the
//! database and exits 0; what it acknowledged is there after a restart.

mod common;

use std::time::{Duration, Instant};

use common::raw;
use common::{databases, ServerProcess};
use tokio::io::AsyncWriteExt;

/// Waits for the process to exit, at most `within`.
fn wait_exit(server: &mut ServerProcess, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.child.try_wait().expect("wait for the server") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_and_exits_cleanly() {
    for db in databases().await {
        let key = raw::cli_key(&db.url);
        let mut server = ServerProcess::start(&db.url, &[]);
        let addr = server.addr;
        let auth = format!("Bearer {key}");
        let body = raw::batch("inflight", "inflight", 50, 200);

        // The request is in flight when the signal arrives: its head and half its body are sent.
        let mut stream = raw::open(
            addr,
            "POST",
            "/api/v1/runs",
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
                ("Expect", "100-continue"),
            ],
            body.len(),
        )
        .await
        .unwrap();
        // Asked for its body: the handler has the request.
        raw::wait_continue(&mut stream).await.unwrap();
        let half = body.len() / 2;
        stream.write_all(&body[..half]).await.unwrap();
        raw::signal(server.child.id(), "TERM");

        // It stops accepting: new connections are refused once the signal is handled.
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "{}: still accepting connections after SIGTERM",
                db.backend
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // The request in flight still completes, with a 2xx, however long its client takes
        // (within the shutdown timeout).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stream.write_all(&body[half..]).await.unwrap();
        let reply = raw::finish(stream).await.expect("an answer after SIGTERM");
        assert_eq!(reply.status, 200, "{}: {}", db.backend, reply.text());
        assert_eq!(reply.json()["accepted"], 50);

        let status = wait_exit(&mut server, Duration::from_secs(20));
        assert_eq!(
            status.code(),
            Some(0),
            "{}: exit status {status}",
            db.backend
        );
        drop(server);

        // After a restart on the same database the acknowledged runs are there.
        let server = ServerProcess::start(&db.url, &[]);
        let r = raw::get(
            server.addr,
            "/api/v1/observability/sessions/inflight/?runs_limit=100",
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}: {}", db.backend, r.text());
        let detail = r.json();
        assert_eq!(detail["aggregates"]["run_count"], 50);
        let mut ids: Vec<String> = detail["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        let mut expected: Vec<String> = (0..50).map(|i| format!("inflight-{i}")).collect();
        expected.sort();
        assert_eq!(ids, expected, "{}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_finishes_does_not_hold_shutdown_past_the_timeout() {
    let db = databases().await.remove(0);
    let key = raw::cli_key(&db.url);
    let mut server = ServerProcess::start(&db.url, &["--shutdown-timeout", "1s"]);
    let auth = format!("Bearer {key}");
    let mut stalled = raw::open(
        server.addr,
        "POST",
        "/api/v1/runs",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
            ("Expect", "100-continue"),
        ],
        1000,
    )
    .await
    .unwrap();
    raw::wait_continue(&mut stalled).await.unwrap();
    stalled.write_all(b"{\"runs\": [").await.unwrap();
    let signalled = Instant::now();
    raw::signal(server.child.id(), "TERM");
    let status = wait_exit(&mut server, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "exit status {status}");
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "waited for the request in flight ({took:?})"
    );
    // The database is intact: the server starts again on it.
    drop(server);
    let again = ServerProcess::start(&db.url, &[]);
    assert_eq!(raw::get(again.addr, "/healthz").await.unwrap().status, 200);
}
