//! The `threadline` binary as a user runs it: keys, users, migrate, demo, bench, and the refusal to
//! serve on a non-loopback address without authentication.

mod common;

use std::io::{Read, Write};
use std::process::{ChildStdout, Command, Stdio};

fn threadline(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_threadline"))
        .args(["--database-url", db])
        .args(args)
        .env("THREADLINE_LOG", "warn")
        .output()
        .expect("run threadline")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn keys_are_created_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("cli.db").display());
    let out = threadline(
        &db,
        &["keys", "create", "--project", "acme", "--name", "gateway"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let key = text.lines().last().unwrap();
    assert!(
        key.starts_with("tl_") && key.len() == 67,
        "the key alone on the last line: {text}"
    );

    let list = stdout(&threadline(&db, &["keys", "list"]));
    assert!(
        list.contains("acme") && list.contains("gateway") && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(key), "secrets are never listed");
    let prefix = &key[..11];
    assert!(list.contains(prefix));

    assert!(threadline(&db, &["keys", "revoke", prefix])
        .status
        .success());
    assert!(stdout(&threadline(&db, &["keys", "list"])).contains("revoked"));
    let again = threadline(&db, &["keys", "revoke", prefix]);
    assert!(
        !again.status.success(),
        "revoking twice reports that nothing matched"
    );
}

#[test]
fn migrate_and_demo_write_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("demo.db").display());
    assert!(threadline(&db, &["migrate"]).status.success());
    let out = threadline(&db, &["demo", "--sessions", "30", "--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains("30 sessions"), "{text}");
}

#[test]
fn serving_beyond_loopback_without_authentication_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("x.db").display());
    let out = threadline(&db, &["serve", "--addr", "0.0.0.0:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0:0"), "{err}");
    assert!(
        err.contains("threadline users create NAME"),
        "says what to do: {err}"
    );

    // A user exists but authentication is switched off: still refused.
    assert!(create_user(&db, "ada", "correct horse battery")
        .status
        .success());
    let out = threadline(&db, &["serve", "--addr", "0.0.0.0:0", "--auth", "off"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen") && err.contains("--auth off"),
        "{err}"
    );
}

#[test]
fn required_authentication_without_a_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("x.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_threadline"))
        .args(["--database-url", &db, "serve", "--addr", "127.0.0.1:0"])
        .env("THREADLINE_AUTH", "on")
        .env("THREADLINE_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no user exists"), "{err}");
}

/// Kills the server when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` on a free port of all interfaces with `extra` flags and waits until it
/// answers; also returns its standard output (where its log goes).
fn serve_beyond_loopback(db: &str, extra: &[&str]) -> (Killed, std::net::SocketAddr, ChildStdout) {
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_threadline"))
        .args(["--database-url", db, "serve", "--addr"])
        .arg(format!("0.0.0.0:{port}"))
        .args(extra)
        .env("THREADLINE_LOG", "warn")
        .env_remove("THREADLINE_SECURE_COOKIES")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Killed(child);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match common::http_request(addr, "GET", "/healthz", &[], b"") {
            Ok((200, _)) => break,
            _ if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            other => panic!("the server did not start: {other:?}"),
        }
    }
    (server, addr, stdout)
}

/// What the server wrote to its standard output, once it is stopped.
fn output_after_stop(server: Killed, mut stdout: ChildStdout) -> String {
    drop(server);
    let mut text = String::new();
    stdout.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn serving_beyond_loopback_starts_once_a_user_exists() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("x.db").display());
    assert!(create_user(&db, "ada", "correct horse battery")
        .status
        .success());
    let (server, addr, stdout) = serve_beyond_loopback(&db, &[]);
    // Serving, and behind the login.
    let (status, body) =
        common::http_request(addr, "GET", "/api/v1/observability/sessions/", &[], b"").unwrap();
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    let (status, _) = common::http_request(addr, "GET", "/", &[], b"").unwrap();
    assert_eq!(status, 303);
    // Cookies without `Secure` beyond loopback are worth a warning.
    let log = output_after_stop(server, stdout);
    assert!(
        log.contains("WARN") && log.contains("without --secure-cookies"),
        "{log}"
    );

    let (server, _, stdout) = serve_beyond_loopback(&db, &["--secure-cookies"]);
    let log = output_after_stop(server, stdout);
    assert!(!log.contains("--secure-cookies"), "{log}");
}

fn create_user(db: &str, name: &str, password: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_threadline"))
        .args([
            "--database-url",
            db,
            "users",
            "create",
            name,
            "--password-stdin",
        ])
        .env("THREADLINE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn users_are_created_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.db");
    let db = format!("sqlite:{}", path.display());
    let out = create_user(&db, "ada", "correct horse battery");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("Created user `ada`"));

    // From the environment instead of stdin.
    let out = Command::new(env!("CARGO_BIN_EXE_threadline"))
        .args(["--database-url", &db, "users", "create", "grace"])
        .env("THREADLINE_PASSWORD", "another long one")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for (name, password, why) in [
        ("ada", "correct horse battery", "already exists"),
        ("bob", "short", "at least 8"),
        ("with space", "correct horse battery", "spaces"),
    ] {
        let out = create_user(&db, name, password);
        assert!(!out.status.success(), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{name}: {err}");
    }

    let list = stdout(&threadline(&db, &["users", "list"]));
    assert!(list.contains("ada") && list.contains("grace"), "{list}");
    assert!(!list.contains("bob"));
    assert!(
        !list.contains("correct horse") && !list.contains("argon2"),
        "{list}"
    );

    // Only an argon2id hash reaches the database.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("$argon2id$v=19$"));
    assert!(!text.contains("correct horse battery") && !text.contains("another long one"));

    assert!(threadline(&db, &["users", "delete", "ada"])
        .status
        .success());
    assert!(!stdout(&threadline(&db, &["users", "list"])).contains("ada"));
    assert!(!threadline(&db, &["users", "delete", "ada"])
        .status
        .success());
}

#[test]
fn bad_configuration_is_reported_clearly() {
    let out = threadline("mysql://nope", &["migrate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
    let out = Command::new(env!("CARGO_BIN_EXE_threadline"))
        .args(["--session-gap", "soon", "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
}

/// `threadline bench all` end to end on a small dataset: every SPEC §9 row is measured and
/// printed, and a reused dataset that predates the 300-run session gets it (the detail row
/// measures 100 of its runs), then is reused as it is.
#[test]
fn the_benchmark_prints_every_figure_and_completes_a_reused_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let db = format!("sqlite:{}", path.display());
    let demo = threadline(&db, &["demo", "--sessions", "120", "--quiet"]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let bench = || {
        let out = Command::new(env!("CARGO_BIN_EXE_threadline"))
            .args(["bench", "all", "--reuse"])
            .arg(&path)
            .args(["--reps", "3", "--warmup", "1"])
            .args(["--ingest-runs", "1000", "--ingest-spans", "2000"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--wasm")
            .arg(dir.path().join("missing.wasm"))
            .env("THREADLINE_LOG", "warn")
            .output()
            .expect("run threadline bench");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    let first = bench();
    for row in [
        "ingestion: native runs, batches of 1,000",
        "ingestion: OTLP protobuf spans",
        "list sort=-last_activity, first page",
        "list tool=",
        "session detail, runs_limit=100",
        "SSR page / (sessions list)",
        "SSR page /sessions/{id} (detail)",
        "server memory while serving the dataset",
        "WebAssembly bundle",
    ] {
        assert!(first.contains(row), "no `{row}` row:\n{first}");
    }
    assert!(first.contains("100 of 300 runs"), "{first}");
    assert!(first.contains("with the 300-run session"), "{first}");
    assert!(first.contains("list requests meet p95"), "{first}");
    let second = bench();
    assert!(second.contains("reused as it was"), "{second}");
    assert!(second.contains("100 of 300 runs"), "{second}");
}
