//! `threadline bench all` and `threadline bench queries`: the whole of SPEC §9 in one table.
//!
//! `all` measures ingestion first (as `bench ingest` does, on fresh databases), then the read
//! side; `queries` only the read side. Per backend the read side builds (or reuses) the §9
//! dataset, times every request in process, then starts a `threadline serve` child on the same
//! database, times the same requests over loopback HTTP, sends them again from
//! [`BURST_CONNECTIONS`] connections at once and then reads the child's memory. The bundle size
//! does not depend on the database and is measured once.

use std::fmt::Write;
use std::path::{Path, PathBuf};
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
use super::report::{self, short_backend, thousands};
use super::server_process::ServerProcess;
use super::stats::percentile_ms;
use super::wasm::{self, Bundle};
use crate::db::Store;
use crate::server::config::Limits;
use crate::server::state::AppState;

/// Connections of the concurrent burst sent to the server child before its memory is read:
/// as many as the SQLite pool holds, so every pooled connection's page cache is filled.
const BURST_CONNECTIONS: usize = 8;
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
    /// The WebAssembly bundle to size (written by `cargo leptos build --release --split`).
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
            keep: self.read.keep,
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
    let _ = conn.close().await;
    if exists {
        Ok(ingest::database_url(admin_url, name))
    } else {
        // Kept: never handed to `FreshDb::remove`.
        Ok(FreshDb::create_named(admin_url, name).await?.url)
    }
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
    let file = crate::db::sqlite_path(url).map(Path::new);
    let dataset = dataset::build_or_reuse(&store, args.sessions(), args.seed, file).await?;
    let probe = queries::probe(&store).await?;
    let router = crate::server::http::router(AppState::new(store.clone(), Limits::default()));
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
        let burst = match &timed {
            Ok(_) => {
                eprintln!("{BURST_CONNECTIONS} connections at once, before reading the memory…");
                queries::burst(server.addr, &requests, BURST_CONNECTIONS)
                    .await
                    .map(|_| ())
            }
            Err(_) => Ok(()),
        };
        let after = server.memory();
        if out.served_bundle.is_none() {
            out.served_bundle = served_bundle(server.addr, &args.wasm).await;
        }
        if let Some(log) = server.stop().await {
            eprintln!("the server's log:\n{log}");
        }
        burst?;
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
/// (`target/site`, `pkg`), so the server child serves that bundle; `pkg/x.wasm` → (`.`, `pkg`).
fn site_of(wasm: &Path) -> Option<(PathBuf, String)> {
    let pkg = wasm.parent()?;
    let root = pkg.parent()?;
    let name = pkg.file_name()?.to_str()?.to_string();
    let root = if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root.to_path_buf()
    };
    Some((root, name))
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
                result: phase.rate_summary(),
                p50_ms: phase.percentile(50.0),
                p95_ms: phase.percentile(95.0),
                http_p95_ms: None,
                check: phase.check(),
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
            what: format!(
                "server memory while serving the dataset (threadline serve, after \
                 {BURST_CONNECTIONS} connections at once)"
            ),
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
            // The check is on what every page loads first; the split-off parts are listed.
            let lazy = b
                .lazy
                .iter()
                .map(|p| format!("{} {}", p.name, decimal_bytes(p.brotli)))
                .collect::<Vec<_>>();
            (
                format!(
                    "{} brotli ({} raw){}{}",
                    decimal_bytes(b.brotli),
                    decimal_bytes(b.raw),
                    if lazy.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; on demand: {}; a page opened directly on one: {} at most",
                            lazy.join(", "),
                            decimal_bytes(b.largest_first_load())
                        )
                    },
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
    let mut o = report::header("SPEC §9 benchmark", Some(started), machine, 11);
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
                     bundle with `cargo leptos build --release --split` for the figure that counts",
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
        o.push_str(&format!(
            "`HTTP p95 ms` is client-side: the same requests to a `threadline serve` child \
             process on the same database, over loopback HTTP/1.1 on one keep-alive connection \
             without compression, timed by the benchmark from writing the request to reading \
             the last byte. Server memory is that child's resident set from /proc: the peak \
             (VmHWM) is checked, read after every loopback request was answered and then sent \
             again from {BURST_CONNECTIONS} connections at once (each connection every \
             request once, each starting at a different one), so the server answers that many \
             requests together and, on SQLite, uses every pooled connection, each with its own \
             page cache; on PostgreSQL the database server's own \
             memory is not included. "
        ));
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
             per request. SPEC §9 asks for sustained rates, so the ✓ or ✗ is for the lower of \
             the average rate and the rate of the phase's second half (the items answered in \
             the second half of its time), and the result says which was checked. ",
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
    use std::sync::Arc;

    use super::super::ingest::Decoding;
    use super::super::report::{Phase, Sample, Section};
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
    fn the_server_child_gets_the_site_root_and_package_dir_of_the_measured_bundle() {
        assert_eq!(
            site_of(Path::new("target/site/pkg/threadline.wasm")),
            Some((PathBuf::from("target/site"), "pkg".to_string()))
        );
        assert_eq!(
            site_of(Path::new("/tmp/tl/site/assets/threadline.wasm")),
            Some((PathBuf::from("/tmp/tl/site"), "assets".to_string()))
        );
        assert_eq!(
            site_of(Path::new("pkg/threadline.wasm")),
            Some((PathBuf::from("."), "pkg".to_string()))
        );
        assert_eq!(site_of(Path::new("threadline.wasm")), None);
    }

    /// Default arguments, as `threadline bench all` with no options gets them.
    fn default_args() -> AllArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            all: AllArgs,
        }
        <Cli as clap::Parser>::parse_from(["bench"]).all
    }

    fn ms(v: &[f64]) -> Vec<Duration> {
        v.iter()
            .map(|&ms| Duration::from_secs_f64(ms / 1000.0))
            .collect()
    }

    fn request(kind: queries::Kind, label: &str) -> Request {
        Request {
            kind,
            label: label.into(),
            path: "/".into(),
            result: "25 of 100".into(),
            expect: None,
        }
    }

    /// A phase of `items` over one second: `first` of them answered in the first half.
    fn phase(what: &str, unit: &'static str, target: f64, items: usize, first: usize) -> Phase {
        let sample = |index: usize, items: usize, done_ms: u64| Sample {
            index,
            key: 0,
            items,
            sent: Duration::from_millis(done_ms - 100),
            done: Duration::from_millis(done_ms),
        };
        Phase {
            what: what.into(),
            unit,
            items,
            requests: 4,
            elapsed: Duration::from_secs(1),
            samples: vec![
                sample(0, first / 2, 200),
                sample(1, first - first / 2, 400),
                sample(2, (items - first) / 2, 700),
                sample(3, items - first - (items - first) / 2, 1000),
            ],
            target: Some(target),
            timed_out: false,
        }
    }

    /// The rows of the printed table as (backend, measurement, result, SPEC §9 target, mark).
    fn table_rows(out: &str) -> Vec<[String; 5]> {
        out.lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| backend"))
            .map(|l| {
                let c: Vec<String> = l.split('|').map(|c| c.trim().to_string()).collect();
                [
                    c[1].clone(),
                    c[2].clone(),
                    c[3].clone(),
                    c[7].clone(),
                    c[8].clone(),
                ]
            })
            .collect()
    }

    #[test]
    fn the_spec_9_table_shows_every_figure_with_its_target_and_mark() {
        let backend = "SQLite 3.46.0";
        let read = ReadSide {
            backends: vec![BackendReads {
                backend: backend.into(),
                dataset: DatasetInfo {
                    sessions: 100,
                    runs: 1_000,
                    spans: 5_000,
                    bytes_on_disk: None,
                    origin: dataset::Origin::Reused {
                        added_long_session: false,
                    },
                },
                requests: vec![
                    request(queries::Kind::List, "list sort=-run_count, first page"),
                    request(queries::Kind::List, "list sort=-run_count, deep page"),
                    request(queries::Kind::Detail, "session detail, runs_limit=100"),
                    request(queries::Kind::Page, "SSR page / (sessions list)"),
                ],
                in_process: vec![
                    ms(&[2.0, 3.0]),
                    ms(&[20.0, 30.0]),
                    ms(&[9.0, 12.0]),
                    ms(&[15.0, 20.0]),
                ],
                loopback: Some(Loopback {
                    samples: vec![ms(&[4.0]), ms(&[31.0]), ms(&[13.0]), ms(&[22.0])],
                    idle: Some(ProcessMemory {
                        rss: 17_600_000,
                        peak: 17_600_000,
                    }),
                    after: Some(ProcessMemory {
                        rss: 140_000_000,
                        peak: 150_000_000,
                    }),
                }),
            }],
            bundle: Bundle::Measured(wasm::BundleSize {
                path: PathBuf::from("target/site/pkg/threadline.wasm"),
                raw: 1_500_000,
                brotli: 458_000,
                modified: None,
                debug_bytes: 0,
                lazy: vec![
                    wasm::LazyPart {
                        name: "session_route_view".into(),
                        brotli: 60_000,
                    },
                    wasm::LazyPart {
                        name: "trace_route_view".into(),
                        brotli: 58_000,
                    },
                ],
            }),
            served_bundle: None,
        };
        let native = Arc::new(super::super::data::native(1, 20, 10));
        let otlp = Arc::new(super::super::data::otlp(2, 50, 25));
        let measured = Measured {
            native,
            otlp,
            sections: vec![Section {
                backend: format!("{backend} (wal, synchronous=NORMAL, file /tmp/b.db)"),
                phases: vec![
                    // Average 100,000/s, second half 80,000/s: both meet 50,000.
                    phase("native runs", "runs", 50_000.0, 100_000, 60_000),
                    // Average 110,000/s meets 100,000; the second half's 60,000/s does not.
                    phase("OTLP spans (protobuf)", "spans", 100_000.0, 110_000, 80_000),
                ],
                stored: String::new(),
            }],
            decoding: Decoding {
                native_per_request: Duration::from_millis(5),
                native_runs_per_request: 1_000.0,
                otlp_per_request: Duration::from_millis(20),
                otlp_spans_per_request: 5_000.0,
            },
        };
        let args = default_args();
        let machine = Machine {
            cores: 2,
            memory: None,
            cpu: None,
            load_start: None,
            load_end: None,
        };
        let started = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let out = render(
            &machine,
            started,
            &args.read,
            Some((&measured, &args)),
            &read,
        );

        let row = |b: &str, what: &str, result: &str, target: &str, mark: &str| {
            [b, what, result, target, mark].map(String::from)
        };
        assert_eq!(
            table_rows(&out),
            vec![
                row(
                    backend,
                    "ingestion: native runs, batches of 1,000 (latency per batch)",
                    "100,000 runs/s, second half 80,000 (second half checked)",
                    "≥ 50,000 runs/s",
                    "✓"
                ),
                row(
                    backend,
                    "ingestion: OTLP protobuf spans, 5,000 per request (latency per request)",
                    "110,000 spans/s, second half 60,000 (second half checked)",
                    "≥ 100,000 spans/s",
                    "✗"
                ),
                row(
                    backend,
                    "list sort=-run_count, first page",
                    "25 of 100",
                    "p95 ≤ 25 ms",
                    "✓"
                ),
                row(
                    backend,
                    "list sort=-run_count, deep page",
                    "25 of 100",
                    "p95 ≤ 25 ms",
                    "✗"
                ),
                row(
                    backend,
                    "session detail, runs_limit=100",
                    "25 of 100",
                    "p95 ≤ 10 ms",
                    "✗"
                ),
                row(
                    backend,
                    "SSR page / (sessions list)",
                    "25 of 100",
                    "p95 ≤ 40 ms",
                    "✓"
                ),
                row(
                    backend,
                    "server memory while serving the dataset (threadline serve, after 8 \
                     connections at once)",
                    "peak 150 MB (now 140 MB, 17.6 MB at start)",
                    "≤ 200 MB RSS",
                    "✓"
                ),
                row(
                    "—",
                    "WebAssembly bundle",
                    "458 KB brotli (1.5 MB raw); on demand: session_route_view 60 KB, \
                     trace_route_view 58 KB; a page opened directly on one: 518 KB at most",
                    "≤ 300 KB brotli",
                    "✗"
                ),
            ]
        );
        // p50, p95 (in process) and HTTP p95 (loopback) of the deep page.
        let deep = out.lines().find(|l| l.contains("deep page")).unwrap();
        let cells: Vec<&str> = deep.split('|').map(str::trim).collect();
        assert_eq!(cells[4..7], ["20.0", "30.0", "31.0"]);

        assert!(out.contains("\nThreadline SPEC §9 benchmark (threadline "));
        assert!(out.contains("build), 2026-01-02 03:04 UTC\nmachine:   2 cores, "));
        assert!(out.contains(&format!(
            "{backend}: 1 of 2 list requests meet p95 ≤ 25 ms; the slowest p95 is 30.0 ms \
             (list sort=-run_count, deep page)."
        )));
        assert!(out.contains("then sent again from 8 connections at once"));
        assert!(
            out.contains("the lower of the average rate and the rate of the phase's second half")
        );
    }
}
