//! A `threadline serve` child process on the benchmark's database, so the read side can also
//! be measured as a client sees it (loopback HTTP) and the server's memory read from `/proc`
//! while it serves the dataset — memory that an in-process measurement would mix with the
//! benchmark's own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::http_client::Connection;
use super::machine::{process_memory, ProcessMemory};

/// How long a server may take to open the database (and migrate a reused one) and answer.
const START_TIMEOUT: Duration = Duration::from_secs(300);

pub struct ServerProcess {
    child: tokio::process::Child,
    pub pid: u32,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts this same binary as `threadline --database-url URL serve` on a free loopback
    /// port, with warnings only in its log (`log`), and waits until `/healthz` answers 200.
    /// `site` is the static site's root and package directory (`target/site`, `pkg`).
    pub async fn start(
        database_url: &str,
        site: Option<(&Path, &str)>,
        log: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("cannot find the threadline binary")?;
        let addr = free_loopback_port()?;
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = tokio::process::Command::new(exe);
        if let Some((root, pkg)) = site {
            command
                .env("LEPTOS_SITE_ROOT", root)
                .env("LEPTOS_SITE_PKG_DIR", pkg);
        }
        let mut child = command
            .arg("--database-url")
            .arg(database_url)
            .arg("serve")
            .arg("--addr")
            .arg(addr.to_string())
            .env("THREADLINE_LOG", "warn")
            .env("THREADLINE_DEMO_IF_EMPTY", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start `threadline serve`")?;
        let pid = child.id().context("the server exited at once")?;
        let started = Instant::now();
        let mut connection = Connection::new(addr);
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!(
                    "`threadline serve` exited ({status}) before answering; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if matches!(connection.get("/healthz", &[]).await, Ok(a) if a.status == 200) {
                break;
            }
            if started.elapsed() > START_TIMEOUT {
                anyhow::bail!(
                    "`threadline serve` did not answer /healthz within {START_TIMEOUT:?}; log in {}",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(ServerProcess {
            child,
            pid,
            addr,
            log: log.to_path_buf(),
        })
    }

    pub fn memory(&self) -> Option<ProcessMemory> {
        process_memory(self.pid)
    }

    /// Asks the server to shut down (SIGTERM, as an operator would) and waits; kills it if it
    /// has not exited after ten seconds. Returns its log when it had written anything.
    pub async fn stop(mut self) -> Option<String> {
        let asked = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await
            .is_ok_and(|s| s.success());
        let exited = asked
            && tokio::time::timeout(Duration::from_secs(10), self.child.wait())
                .await
                .is_ok();
        if !exited {
            let _ = self.child.kill().await;
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        (!log.trim().is_empty()).then_some(log)
    }
}

/// A loopback port free at the time of asking (the OS picks it).
fn free_loopback_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}
