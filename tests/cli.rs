//! The `threadline` binary as a user runs it: keys, migrate, demo, and the refusal to serve on
//! a non-loopback address without authentication.

use std::process::Command;

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
