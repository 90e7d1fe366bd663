//! `threadline bench all` and `threadline bench queries`: the whole of SPEC §9 in one table.
//!
//! `all` measures ingestion first (as `bench ingest` does, on fresh databases), then the read
//! side; `queries` only the read side. Per backend the read side builds (or reuses) the §9
//! dataset, times every request in process, then starts a `threadline serve` child on the same
//! database, times the same requests over loopback HTTP and reads the child's memory. The
//! bundle size does not depend on the database and is measured once.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sqlx::{Connection as _, Row};

use super::dataset::{self, DatasetInfo};
use super::figures::{self, decimal_bytes, Check, Figure};
use super::http_client::Connection;
use super::ingest::{self, describe_backend, redact, FreshDb, IngestArgs, Measured, Target};
use super::machine::{load_average, Machine, ProcessMemory};
use super::queries::{self, Client, Request};
use super::report::{short_backend, thousands};
use super::server_process::ServerProcess;
use super::stats::percentile_ms;
use super::wasm::{self, Bundle};
use crate::db::Store;
use crate::server::config::Limits;
use crate::server::state::AppState;

/// SPEC §9's limits that are not latencies.
const BUNDLE_LIMIT: u64 = 300_000;
const RSS_LIMIT: u64 = 200_000_000;
/// Sessions of `--quick`.
const QUICK_SESSIONS: usize = 5_000;

#[derive(Args, Debug, Clone)]
pub struct QueriesArgs {
    /// Sessions of the dataset (about 10 runs and 50 spans each: 100,000 make SPEC §9's
    /// 1,000,000 runs and 5,000,000 spans). Building 100,000 takes 10–20 minutes.
    #[arg(long, default_value_t = 100_000)]
    pub sessions: usize,
    /// A quick look on a small dataset (5,000 sessions, 20 timed repetitions): a few minutes.
    #[arg(long)]
    pub quick: bool,
    /// A SQLite file to keep the dataset in between runs: built there when missing or empty,
    /// used as it is otherwise (then `--sessions` is not used).
    #[arg(long, value_name = "PATH")]
    pub reuse: Option<PathBuf>,
    /// Also measure PostgreSQL: a server URL whose user may create databases. Without
    /// `--reuse-postgres` a new database is created for the run and dropped afterwards.
    #[arg(long, env = "THREADLINE_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// A database on the `--postgres-url` server to keep the dataset in between runs: created
    /// and built when missing or empty, used as it is otherwise.
    #[arg(long, value_name = "NAME")]
    pub reuse_postgres: Option<String>,
    /// Measure PostgreSQL only.
    #[arg(long)]
    pub skip_sqlite: bool,
    /// Directory for fresh SQLite files (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Timed repetitions of each request [default: 50; 20 with --quick].
    #[arg(long)]
    pub reps: Option<usize>,
    /// Untimed repetitions of each request before its timed ones.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// The WebAssembly bundle to size (written by `cargo leptos build --release`).
    #[arg(long, default_value = "target/site/pkg/threadline.wasm")]
    pub wasm: PathBuf,
    /// Time in process only: no `threadline serve` child, so no loopback figures and no
    /// server memory.
    #[arg(long)]
    pub no_server: bool,
    /// Random seed of the dataset.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep fresh benchmark databases instead of deleting them.
    #[arg(long)]
    pub keep: bool,
}

impl QueriesArgs {
    fn sessions(&self) -> usize {
        if self.quick {
            QUICK_SESSIONS
        } else {
            self.sessions
        }
    }

    fn reps(&self) -> usize {
        self.reps.unwrap_or(if self.quick { 20 } else { 50 }).max(1)
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.sessions() > 0, "--sessions must be at least 1");
        if self.skip_sqlite && self.postgres_url.is_none() {
            anyhow::bail!("--skip-sqlite needs --postgres-url (or THREADLINE_BENCH_POSTGRES_URL)");
        }
        if self.reuse_postgres.is_some() && self.postgres_url.is_none() {
            anyhow::bail!("--reuse-postgres needs --postgres-url (the server it lives on)");
        }
        if let Some(name) = &self.reuse_postgres {
            anyhow::ensure!(
                valid_database_name(name),
                "--reuse-postgres: `{name}` is not a plain database name (a-z, 0-9, _)"
            );
        }
        Ok(())
    }
}

#[derive(Args, Debug, Clone)]
pub struct AllArgs {
    #[command(flatten)]
    pub read: QueriesArgs,
    /// Runs sent to `POST /api/v1/runs` by the ingestion measurement [10,000 with --quick].
    #[arg(long, default_value_t = 100_000)]
    pub ingest_runs: usize,
    /// Spans sent to `POST /v1/traces` by the ingestion measurement [50,000 with --quick].
    #[arg(long, default_value_t = 500_000)]
    pub ingest_spans: usize,
    /// Concurrent client tasks of the ingestion measurement.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

impl AllArgs {
    fn ingest_args(&self) -> IngestArgs {
        IngestArgs {
            runs: self.ingest_runs,
            spans: self.ingest_spans,
            concurrency: self.concurrency,
            batch: 1_000,
            spans_per_request: 5_000,
            quick: self.read.quick,
            postgres_url: self.read.postgres_url.clone(),
            skip_sqlite: self.read.skip_sqlite,
            dir: self.read.dir.clone(),
            max_duration: Duration::from_secs(600),
            seed: self.read.seed,
            csv: None,
            keep: false,
        }
    }
}

pub async fn run_all(args: AllArgs) -> anyhow::Result<()> {
    args.read.check()?;
    let mut machine = Machine::detect();
    let started = chrono::Utc::now();
    let ingestion = ingest::measure(&args.ingest_args(), false).await?;
    let read = read_side(&args.read).await?;
    machine.load_end = load_average();
    let report = render(
        &machine,
        started,
        &args.read,
        Some((&ingestion, &args)),
        &read,
    );
    println!("{report}");
    Ok(())
}

pub async fn run_queries(args: QueriesArgs) -> anyhow::Result<()> {
    args.check()?;
    let mut machine = Machine::detect();
    let started = chrono::Utc::now();
    let read = read_side(&args).await?;
    machine.load_end = load_average();
    println!("{}", render(&machine, started, &args, None, &read));
    Ok(())
}

/// The read side of every backend, and the bundle.
struct ReadSide {
    backends: Vec<BackendReads>,
    bundle: Bundle,
    /// What the server sends for the bundle to a client accepting brotli: (bytes, encoding).
    served_bundle: Option<(u64, String)>,
}

/// The read-side figures of one backend.
struct BackendReads {
    backend: String,
    dataset: DatasetInfo,
    requests: Vec<Request>,
    in_process: Vec<Vec<Duration>>,
    loopback: Option<Loopback>,
}

struct Loopback {
    samples: Vec<Vec<Duration>>,
    /// Right after start, and after every loopback request was answered.
    idle: Option<ProcessMemory>,
    after: Option<ProcessMemory>,
}

async fn read_side(args: &QueriesArgs) -> anyhow::Result<ReadSide> {
    let mut out = ReadSide {
        backends: Vec::new(),
        bundle: Bundle::NotBuilt(args.wasm.clone()),
        served_bundle: None,
    };
    let mut databases = Vec::new();
    if !args.skip_sqlite {
        databases.push(match &args.reuse {
            Some(path) => Database::Kept(format!("sqlite:{}", path.display())),
            None => Database::Fresh(Target::Sqlite(
                args.dir.clone().unwrap_or_else(std::env::temp_dir),
            )),
        });
    }
    if let Some(admin) = args.postgres_url.clone().filter(|u| !u.is_empty()) {
        databases.push(match &args.reuse_postgres {
            Some(name) => Database::Kept(ensure_postgres_database(&admin, name).await?),
            None => Database::Fresh(Target::Postgres(admin)),
        });
    }
    for database in databases {
        let (url, fresh) = match database {
            Database::Kept(url) => (url, None),
            Database::Fresh(target) => {
                let fresh = FreshDb::create(&target).await?;
                (fresh.url.clone(), Some(fresh))
            }
        };
        let measured = read_backend(&url, args, &mut out).await;
        if let Some(fresh) = fresh {
            fresh.remove(args.keep).await;
        }
        out.backends.push(measured?);
    }
    eprintln!("sizing the WebAssembly bundle…");
    let path = args.wasm.clone();
    out.bundle = tokio::task::spawn_blocking(move || wasm::measure(&path)).await??;
    Ok(out)
}

/// Where a backend's dataset lives: kept between runs, or created for this one.
enum Database {
    Kept(String),
    Fresh(Target),
}

fn valid_database_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Creates database `name` on the server of `admin_url` unless it exists; returns its URL.
async fn ensure_postgres_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut conn = ingest::admin_connect(admin_url).await?;
    let exists = sqlx::query("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(&mut conn)
        .await?
        .try_get::<i64, _>(0)?
        > 0;
    if !exists {
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("cannot create the database {name}"))?;
    }
    let _ = conn.close().await;
    Ok(ingest::database_url(admin_url, name))
}

/// The SQLite file of a `sqlite:` URL.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(PathBuf::from(path.split('?').next().unwrap_or(path)))
}

async fn read_backend(
    url: &str,
    args: &QueriesArgs,
    out: &mut ReadSide,
) -> anyhow::Result<BackendReads> {
    let gap = Duration::from_secs(30 * 60);
    let store = Store::open(url, gap)
        .await
        .with_context(|| format!("cannot open {}", redact(url)))?;
    let backend = describe_backend(&store, url).await?;
    eprintln!("== read side: {backend}");
    let file = sqlite_file(url);
    let dataset =
        dataset::build_or_reuse(&store, args.sessions(), args.seed, file.as_deref()).await?;
    let probe = queries::probe(&store).await?;
    let options = leptos::config::LeptosOptions::builder()
        .output_name("threadline")
        .build();
    let router = crate::server::http::router(AppState {
        store: store.clone(),
        leptos_options: options,
        limits: Arc::new(Limits::default()),
    });
    let mut client = Client::InProcess(router);
    let requests = queries::plan(&mut client, &probe).await?;
    let in_process = queries::time(
        &mut client,
        &requests,
        args.warmup,
        args.reps(),
        "in process",
    )
    .await?;
    drop(client);
    store.close().await;

    let loopback = if args.no_server {
        None
    } else {
        let log =
            std::env::temp_dir().join(format!("threadline-bench-serve-{}.log", std::process::id()));
        let site = site_of(&args.wasm);
        let site = site
            .as_ref()
            .map(|(root, pkg)| (root.as_path(), pkg.as_str()));
        let server = ServerProcess::start(url, site, &log).await?;
        let idle = server.memory();
        let mut client = Client::Loopback(Connection::new(server.addr));
        let timed = queries::time(
            &mut client,
            &requests,
            args.warmup,
            args.reps(),
            "loopback HTTP",
        )
        .await;
        let after = server.memory();
        if out.served_bundle.is_none() {
            out.served_bundle = served_bundle(server.addr, &args.wasm).await;
        }
        if let Some(log) = server.stop().await {
            eprintln!("the server's log:\n{log}");
        }
        Some(Loopback {
            samples: timed?,
            idle,
            after,
        })
    };
    Ok(BackendReads {
        backend: short_backend(&backend),
        dataset,
        requests,
        in_process,
        loopback,
    })
}

/// The site root and package directory a bundle path lies in: `target/site/pkg/x.wasm` →
/// (`target/site`, `pkg`), so the server child serves that bundle.
fn site_of(wasm: &Path) -> Option<(PathBuf, String)> {
    let pkg = wasm.parent()?;
    let root = pkg.parent()?;
    let name = pkg.file_name()?.to_str()?.to_string();
    Some((root.to_path_buf(), name))
}

/// What the server sends for the bundle to a browser that accepts brotli.
async fn served_bundle(addr: std::net::SocketAddr, wasm: &Path) -> Option<(u64, String)> {
    let name = wasm.file_name()?.to_str()?;
    let answer = Connection::new(addr)
        .get(&format!("/pkg/{name}"), &[("Accept-Encoding", "br, gzip")])
        .await
        .ok()?;
    (answer.status == 200).then(|| {
        (
            answer.body.len() as u64,
            answer
                .header("content-encoding")
                .unwrap_or("identity")
                .to_string(),
        )
    })
}

fn ingestion_figures(measured: &Measured) -> Vec<Figure> {
    let mut out = Vec::new();
    for section in &measured.sections {
        for phase in &section.phases {
            let what = match phase.unit {
                "runs" => "ingestion: native runs, batches of 1,000 (latency per batch)",
                "spans" => {
                    "ingestion: OTLP protobuf spans, 5,000 per request (latency per request)"
                }
                _ => continue,
            };
            out.push(Figure {
                backend: short_backend(&section.backend),
                what: format!(
                    "{what}{}",
                    if phase.timed_out { " (time limit)" } else { "" }
                ),
                result: format!(
                    "{} {}/s",
                    thousands(phase.rate().round() as u64),
                    phase.unit
                ),
                p50_ms: phase.percentile(50.0),
                p95_ms: phase.percentile(95.0),
                http_p95_ms: None,
                check: phase
                    .target
                    .map(|t| Check::rate_at_least(t, phase.unit, phase.rate(), !phase.timed_out)),
            });
        }
    }
    out
}

fn read_figures(reads: &BackendReads) -> Vec<Figure> {
    let mut out = Vec::new();
    for (i, request) in reads.requests.iter().enumerate() {
        let p95 = percentile_ms(&reads.in_process[i], 95.0);
        out.push(Figure {
            backend: reads.backend.clone(),
            what: request.label.clone(),
            result: request.result.clone(),
            p50_ms: percentile_ms(&reads.in_process[i], 50.0),
            p95_ms: p95,
            http_p95_ms: reads
                .loopback
                .as_ref()
                .and_then(|l| percentile_ms(&l.samples[i], 95.0)),
            check: Some(Check::p95_within(request.kind.target_ms(), p95)),
        });
    }
    if let Some(l) = &reads.loopback {
        let mb = |m: Option<ProcessMemory>, pick: fn(ProcessMemory) -> u64| {
            m.map(|m| decimal_bytes(pick(m)))
                .unwrap_or_else(|| "?".into())
        };
        out.push(Figure {
            backend: reads.backend.clone(),
            what: "server memory while serving the dataset (threadline serve)".into(),
            result: format!(
                "peak {} (now {}, {} at start)",
                mb(l.after, |m| m.peak),
                mb(l.after, |m| m.rss),
                mb(l.idle, |m| m.rss),
            ),
            p50_ms: None,
            p95_ms: None,
            http_p95_ms: None,
            check: Some(Check::at_most(RSS_LIMIT, "RSS", l.after.map(|m| m.peak))),
        });
    }
    out
}

fn bundle_figure(read: &ReadSide) -> Figure {
    let (result, check) = match &read.bundle {
        Bundle::NotBuilt(_) => (
            "not built".to_string(),
            Check::at_most(BUNDLE_LIMIT, "brotli", None),
        ),
        Bundle::Measured(b) => {
            let mut check = Check::at_most(BUNDLE_LIMIT, "brotli", Some(b.brotli));
            if b.looks_like_debug_build() {
                check.met = None;
            }
            (
                format!(
                    "{} brotli ({} raw){}",
                    decimal_bytes(b.brotli),
                    decimal_bytes(b.raw),
                    if b.looks_like_debug_build() {
                        ", a debug build"
                    } else {
                        ""
                    }
                ),
                check,
            )
        }
    };
    Figure {
        backend: "—".into(),
        what: "WebAssembly bundle".into(),
        result,
        p50_ms: None,
        p95_ms: None,
        http_p95_ms: None,
        check: Some(check),
    }
}

fn render(
    machine: &Machine,
    started: chrono::DateTime<chrono::Utc>,
    args: &QueriesArgs,
    ingestion: Option<(&Measured, &AllArgs)>,
    read: &ReadSide,
) -> String {
    let mut o = String::new();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Threadline SPEC §9 benchmark (threadline {}, {profile} build), {}",
        env!("CARGO_PKG_VERSION"),
        started.format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(o, "machine:   {}", machine.summary());
    let _ = writeln!(o, "load:      {}", machine.load());
    for b in &read.backends {
        let _ = writeln!(
            o,
            "dataset:   {}: {}; {}",
            b.backend,
            b.dataset.summary(),
            b.dataset.origin()
        );
    }
    if let Some((m, all)) = ingestion {
        let _ = writeln!(
            o,
            "ingestion: a fresh database per backend; {} runs, then {} spans ({} runs), from {} \
             client tasks",
            thousands(m.native.items as u64),
            thousands(m.otlp.items as u64),
            thousands(m.otlp.runs.len() as u64),
            all.concurrency,
        );
    }
    match &read.bundle {
        Bundle::NotBuilt(path) => {
            let _ = writeln!(o, "bundle:    {} not built", path.display());
        }
        Bundle::Measured(b) => {
            let when = b
                .modified
                .map(|t| {
                    chrono::DateTime::<chrono::Utc>::from(t)
                        .format(" (written %Y-%m-%d %H:%M UTC)")
                        .to_string()
                })
                .unwrap_or_default();
            let served = read
                .served_bundle
                .as_ref()
                .map(|(bytes, enc)| {
                    format!("; the server sends it as {} ({enc})", decimal_bytes(*bytes))
                })
                .unwrap_or_default();
            let debug = if b.looks_like_debug_build() {
                format!(
                    "; {} of it is names and debug sections: a debug build, build the release \
                     bundle with `cargo leptos build --release` for the figure that counts",
                    decimal_bytes(b.debug_bytes)
                )
            } else {
                String::new()
            };
            let _ = writeln!(o, "bundle:    {}{when}{served}{debug}", b.path.display());
        }
    }
    let _ = writeln!(o);

    let mut rows = Vec::new();
    let mut backends: Vec<String> = Vec::new();
    let ingest_rows = ingestion
        .map(|(m, _)| ingestion_figures(m))
        .unwrap_or_default();
    for f in ingest_rows
        .iter()
        .map(|f| &f.backend)
        .chain(read.backends.iter().map(|b| &b.backend))
    {
        if !backends.contains(f) {
            backends.push(f.clone());
        }
    }
    for backend in &backends {
        rows.extend(
            ingest_rows
                .iter()
                .filter(|f| &f.backend == backend)
                .cloned(),
        );
        for b in read.backends.iter().filter(|b| &b.backend == backend) {
            rows.extend(read_figures(b));
        }
    }
    rows.push(bundle_figure(read));
    o.push_str(&figures::render_table(&rows));
    let _ = writeln!(o);
    for backend in &backends {
        if let Some(line) = figures::list_summary(backend, &rows, "list ") {
            let _ = writeln!(o, "{line}");
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "{}", how_measured(args, ingestion.is_some()));
    o
}

fn how_measured(args: &QueriesArgs, with_ingestion: bool) -> String {
    let mut o = format!(
        "How it was measured. Read side: every request is a GET of a real route (the REST API's \
         JSON, or a whole server-rendered page), sent one at a time; each gets {} untimed \
         requests, then {} timed ones; p50 and p95 are nearest-rank over the timed ones. \
         `p50 ms` and `p95 ms` are server-side: the application's router called in the \
         benchmark's process (tower `oneshot`), timed from the request to the last byte of the \
         uncompressed body, with no TCP or HTTP/1 framing; the targets are checked against \
         them. ",
        args.warmup,
        args.reps()
    );
    if args.no_server {
        o.push_str("No server process was started (--no-server): no client-side figures and no memory figure. ");
    } else {
        o.push_str(
            "`HTTP p95 ms` is client-side: the same requests to a `threadline serve` child \
             process on the same database, over loopback HTTP/1.1 on one keep-alive connection \
             without compression, timed by the benchmark from writing the request to reading \
             the last byte. Server memory is that child's resident set from /proc: the peak \
             (VmHWM) is checked, after every loopback request was answered; on PostgreSQL the \
             database server's own memory is not included. ",
        );
    }
    o.push_str(
        "List shapes: each sort key both ways, each single filter (values taken from the \
         dataset: the first agent, the newest session's first model, tool and user), search \
         by tool and by model (`q=`) and by a four-character session-id substring \
         (`search=`); 25 per page; the deep page is the one holding the middle match (offset \
         = half the matches, rounded down to a page), measured when there are more than ten \
         pages. The session detail is the session with the most runs, first 100 runs. \
         The bundle is compressed with brotli at quality 11, window 22. ",
    );
    if with_ingestion {
        o.push_str(
            "Ingestion is `threadline bench ingest` without its ceiling: a fresh database per \
             backend, request bodies encoded before timing, client tasks sending them in dataset \
             order to the router in process; a rate is items over wall-clock time; p50/p95 are \
             per request. ",
        );
    }
    o.push_str(
        "Targets are SPEC §9's, stated for a 2-core machine with 100,000 sessions, \
         1,000,000 runs and 5,000,000 spans on SQLite.",
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_postgres_databases_have_plain_names() {
        assert!(valid_database_name("threadline_bench_100k"));
        assert!(!valid_database_name("bench; DROP DATABASE x"));
        assert!(!valid_database_name("Bench"));
        assert!(!valid_database_name("1bench"));
        assert!(!valid_database_name(""));
    }

    #[test]
    fn the_server_serves_the_measured_bundle() {
        assert_eq!(
            site_of(Path::new("target/site/pkg/threadline.wasm")),
            Some((PathBuf::from("target/site"), "pkg".to_string()))
        );
        assert_eq!(site_of(Path::new("threadline.wasm")), None);
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite:/tmp/b.db?mode=rwc"),
            Some(PathBuf::from("/tmp/b.db"))
        );
        assert_eq!(sqlite_file("sqlite://b.db"), Some(PathBuf::from("b.db")));
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
