//! `threadline bench ingest`: sustained ingestion throughput (SPEC §9) on a fresh database of
//! each backend, through the real router, next to the raw insert rate of the same rows.
//!
//! Per backend: native runs through `POST /api/v1/runs`, then OTLP protobuf spans through
//! `POST /v1/traces`, then the ceiling (see [`super::ceiling`]). Request bodies are encoded
//! before timing starts; C client tasks take the next request in dataset order and call the
//! router in-process (`tower::ServiceExt::oneshot`), so everything from routing, auth, body
//! reading and decoding to the committed transaction is measured, and the TCP socket and HTTP/1
//! framing are not. Any non-2xx answer, or an answer that does not account for every run or
//! span, aborts the benchmark with the body printed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::http::{header, Request as HttpRequest, StatusCode};
use axum::Router;
use clap::Args;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use sqlx::{Connection, Row};
use tower::ServiceExt;

use super::ceiling::{self, CeilingResult};
use super::data::{self, Dataset};
use super::machine::{load_average, Machine};
use super::report::{self, Phase, Report, Sample, Section};
use crate::db::{Backend, Store};
use crate::server::config::{parse_duration, Limits};
use crate::server::state::AppState;

#[derive(Args, Debug, Clone)]
pub struct IngestArgs {
    /// Runs sent to `POST /api/v1/runs`.
    #[arg(long, default_value_t = 100_000)]
    pub runs: usize,
    /// Spans (about 5 per trace) sent to `POST /v1/traces`.
    #[arg(long, default_value_t = 500_000)]
    pub spans: usize,
    /// Concurrent client tasks.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Runs per native request (the API allows up to 1,000).
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Spans per OTLP request.
    #[arg(long, default_value_t = 5_000)]
    pub spans_per_request: usize,
    /// A quick look (about 20 s in a release build): 10,000 runs and 50,000 spans.
    #[arg(long)]
    pub quick: bool,
    /// Also measure PostgreSQL: a server URL whose user may create databases. A new database is
    /// created for the run and dropped afterwards.
    #[arg(long, env = "THREADLINE_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Measure PostgreSQL only.
    #[arg(long)]
    pub skip_sqlite: bool,
    /// Directory for the SQLite database file (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Each phase stops after this long even when not everything was sent.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub max_duration: Duration,
    /// Random seed of the dataset.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also write every request's timing to this CSV file (backend, phase, request, key, items,
    /// sent_ms, latency_ms).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Keep the benchmark databases instead of deleting them.
    #[arg(long)]
    pub keep: bool,
}

impl IngestArgs {
    fn sizes(&self) -> (usize, usize) {
        if self.quick {
            (10_000, 50_000)
        } else {
            (self.runs, self.spans)
        }
    }
}

/// The inactivity gap of the benchmark's stores (the product default).
const GAP: Duration = Duration::from_micros(data::GAP_US as u64);

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let mut machine = Machine::detect();
    let measured = measure(&args, true).await?;
    machine.load_end = load_average();
    if let Some(path) = &args.csv {
        write_csv(path, &measured.sections)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let report = Report {
        machine,
        native: &measured.native,
        otlp: &measured.otlp,
        concurrency: args.concurrency,
        sections: measured.sections,
        decoding: measured.decoding,
    };
    println!("{}", report::render(&report));
    Ok(())
}

/// What the ingestion benchmark measured, for its own table or for the full SPEC §9 table.
pub struct Measured {
    pub native: Arc<Dataset>,
    pub otlp: Arc<Dataset>,
    /// One per backend: native runs, OTLP spans, then (with the ceiling) the two ceilings.
    pub sections: Vec<Section>,
    pub decoding: Decoding,
}

/// Runs the ingestion benchmark on every backend asked for; `ceiling` adds the raw-insert
/// ceiling after each backend's two phases.
pub async fn measure(args: &IngestArgs, ceiling: bool) -> anyhow::Result<Measured> {
    let (runs, spans) = args.sizes();
    let limits = Limits::default();
    anyhow::ensure!(
        runs > 0 && spans > 0,
        "--runs and --spans must be at least 1"
    );
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(
        (1..=limits.max_batch_runs).contains(&args.batch),
        "--batch must be 1 to {}",
        limits.max_batch_runs
    );
    anyhow::ensure!(
        (1..=limits.max_spans_per_request).contains(&args.spans_per_request),
        "--spans-per-request must be 1 to {}",
        limits.max_spans_per_request
    );
    if args.skip_sqlite && args.postgres_url.is_none() {
        anyhow::bail!("--skip-sqlite needs --postgres-url (or THREADLINE_BENCH_POSTGRES_URL)");
    }

    eprintln!("generating the ingestion dataset ({runs} runs, about {spans} spans)…");
    let t = Instant::now();
    let seed = args.seed;
    let (batch, per_request) = (args.batch, args.spans_per_request);
    let native = tokio::task::spawn_blocking(move || data::native(seed, runs, batch));
    let otlp =
        tokio::task::spawn_blocking(move || data::otlp(seed.wrapping_add(1), spans, per_request));
    let (native, otlp) = (Arc::new(native.await?), Arc::new(otlp.await?));
    eprintln!("dataset ready in {:.1} s", t.elapsed().as_secs_f64());
    let decoding = measure_decoding(&native, &otlp, &limits);

    let mut sections = Vec::new();
    if !args.skip_sqlite {
        let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
        sections.push(bench_backend(&Target::Sqlite(dir), &native, &otlp, args, ceiling).await?);
    }
    if let Some(url) = args.postgres_url.clone().filter(|u| !u.is_empty()) {
        sections.push(bench_backend(&Target::Postgres(url), &native, &otlp, args, ceiling).await?);
    }
    Ok(Measured {
        native,
        otlp,
        sections,
        decoding,
    })
}

/// Where a backend's fresh database lives.
pub(super) enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

/// A database created for this run, removed afterwards unless `--keep`.
pub(super) struct FreshDb {
    pub(super) url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Database { admin_url: String, name: String },
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:04x}", nanos, rand::random::<u16>())
}

impl FreshDb {
    pub(super) async fn create(target: &Target) -> anyhow::Result<FreshDb> {
        match target {
            Target::Sqlite(dir) => {
                let dir = dir.join(format!("threadline-bench-{}", unique_suffix()));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let url = format!("sqlite:{}", dir.join("bench.db").display());
                Ok(FreshDb {
                    url,
                    cleanup: Cleanup::Dir(dir),
                })
            }
            Target::Postgres(admin_url) => {
                let name = format!("threadline_bench_{}", unique_suffix());
                FreshDb::create_named(admin_url, &name).await
            }
        }
    }

    /// Creates database `name` (a plain name: it is not quoted) on the PostgreSQL server of
    /// `admin_url`; [`FreshDb::remove`] drops it unless kept.
    pub(super) async fn create_named(admin_url: &str, name: &str) -> anyhow::Result<FreshDb> {
        let mut conn = admin_connect(admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("cannot create the database {name}"))?;
        let _ = conn.close().await;
        Ok(FreshDb {
            url: database_url(admin_url, name),
            cleanup: Cleanup::Database {
                admin_url: admin_url.to_string(),
                name: name.to_string(),
            },
        })
    }

    pub(super) async fn remove(self, keep: bool) {
        if keep {
            eprintln!("kept the benchmark database: {}", redact(&self.url));
            return;
        }
        match self.cleanup {
            Cleanup::Dir(dir) => {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    eprintln!("warning: could not remove {}: {e}", dir.display());
                }
            }
            Cleanup::Database { admin_url, name } => {
                let dropped = async {
                    let mut conn = admin_connect(&admin_url).await?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await?;
                    anyhow::Ok(())
                };
                if let Err(e) = dropped.await {
                    eprintln!("warning: could not drop the benchmark database {name}: {e:#}");
                }
            }
        }
    }
}

/// A connection to the PostgreSQL server of `admin_url` for creating and dropping databases,
/// without sqlx's slow-statement warnings (dropping a database takes seconds).
pub(super) async fn admin_connect(admin_url: &str) -> anyhow::Result<sqlx::PgConnection> {
    use sqlx::ConnectOptions;
    let options: sqlx::postgres::PgConnectOptions = admin_url
        .parse()
        .with_context(|| format!("not a PostgreSQL URL: {}", redact(admin_url)))?;
    options
        .disable_statement_logging()
        .connect()
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(admin_url)))
}

/// The URL of database `name` on the server of `admin_url` (same user, host and options).
pub(super) fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    format!("{base}/{name}{query}")
}

/// A URL without its password, for printing.
pub(super) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

async fn bench_backend(
    target: &Target,
    native: &Arc<Dataset>,
    otlp: &Arc<Dataset>,
    args: &IngestArgs,
    ceiling: bool,
) -> anyhow::Result<Section> {
    let fresh = FreshDb::create(target).await?;
    let result = bench_store(&fresh.url, native, otlp, args, ceiling).await;
    fresh.remove(args.keep).await;
    result
}

async fn bench_store(
    url: &str,
    native: &Arc<Dataset>,
    otlp: &Arc<Dataset>,
    args: &IngestArgs,
    ceiling: bool,
) -> anyhow::Result<Section> {
    let store = Store::open(url, GAP)
        .await
        .with_context(|| format!("cannot open {}", redact(url)))?;
    let backend = describe_backend(&store, url).await?;
    eprintln!("== {backend}");
    let native_keys = create_keys(&store, &native.key_names).await?;
    let otlp_keys = create_keys(&store, &otlp.key_names).await?;
    let app = crate::server::http::router(AppState::new(store.clone(), Limits::default()));

    let native_phase = drive(&app, native, native_keys, Kind::Native, args).await?;
    let stored_runs = count(&store, "SELECT COUNT(*) FROM runs").await?;
    anyhow::ensure!(
        stored_runs == native_phase.items as i64,
        "{} native runs were acknowledged but {stored_runs} are stored",
        native_phase.items
    );
    let sessions = count(&store, "SELECT COUNT(*) FROM sessions").await?;

    let otlp_phase = drive(&app, otlp, otlp_keys, Kind::Otlp, args).await?;
    let stored_spans = count(&store, "SELECT COUNT(*) FROM spans").await?;
    anyhow::ensure!(
        stored_spans == otlp_phase.items as i64,
        "{} spans were acknowledged but {stored_spans} are stored",
        otlp_phase.items
    );
    let trace_runs = count(&store, "SELECT COUNT(*) FROM runs").await? - stored_runs;
    let trace_sessions = count(&store, "SELECT COUNT(*) FROM sessions").await? - sessions;

    let mut phases = vec![
        native_phase.into_phase("native runs", "runs", Some(50_000.0)),
        otlp_phase.into_phase("OTLP spans (protobuf)", "spans", Some(100_000.0)),
    ];
    if ceiling {
        eprintln!("ceiling: plain INSERTs of the same rows…");
        let deadline = Instant::now() + args.max_duration;
        let (runs, spans) = ceiling::measure(&store, native, otlp, deadline).await?;
        phases.push(ceiling_phase("ceiling: INSERT runs rows", runs));
        phases.push(ceiling_phase("ceiling: INSERT spans rows", spans));
    }
    store.close().await;
    Ok(Section {
        backend,
        phases,
        stored: format!(
            "{} runs in {} sessions from native batches; {} spans making {} runs in {} sessions \
             from OTLP",
            n(stored_runs),
            n(sessions),
            n(stored_spans),
            n(trace_runs),
            n(trace_sessions),
        ),
    })
}

fn write_csv(path: &std::path::Path, sections: &[Section]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "backend,phase,request,key,items,sent_ms,latency_ms")?;
    for section in sections {
        for phase in &section.phases {
            for s in &phase.samples {
                writeln!(
                    out,
                    "\"{}\",\"{}\",{},{},{},{:.3},{:.3}",
                    report::short_backend(&section.backend),
                    phase.what,
                    s.index,
                    s.key,
                    s.items,
                    s.sent.as_secs_f64() * 1000.0,
                    s.latency().as_secs_f64() * 1000.0
                )?;
            }
        }
    }
    out.flush()
}

fn n(count: i64) -> String {
    report::thousands(count.max(0) as u64)
}

fn ceiling_phase(what: &str, r: CeilingResult) -> Phase {
    Phase {
        what: what.to_string(),
        unit: "rows",
        items: r.rows,
        requests: r.statements,
        elapsed: r.elapsed,
        samples: Vec::new(),
        target: None,
        timed_out: r.timed_out,
    }
}

pub(super) async fn describe_backend(store: &Store, url: &str) -> anyhow::Result<String> {
    let text = |sql: &'static str| async move {
        let row = sqlx::query(sql).fetch_one(&store.pool).await?;
        anyhow::Ok(row.try_get::<String, _>(0)?)
    };
    Ok(match store.backend() {
        Backend::Sqlite => {
            let version = text("SELECT sqlite_version()").await?;
            let mode = text("PRAGMA journal_mode").await?;
            let sync = sqlx::query("PRAGMA synchronous")
                .fetch_one(&store.pool)
                .await?
                .try_get::<i64, _>(0)?;
            let sync = ["OFF", "NORMAL", "FULL", "EXTRA"]
                .get(sync as usize)
                .copied()
                .unwrap_or("?");
            let path = crate::db::sqlite_path(url).unwrap_or(url);
            format!("SQLite {version} ({mode}, synchronous={sync}, file {path})")
        }
        Backend::Postgres => {
            let version = text("SHOW server_version").await?;
            let fsync = text("SHOW fsync").await?;
            let commit = text("SHOW synchronous_commit").await?;
            format!("PostgreSQL {version} (fsync={fsync}, synchronous_commit={commit})")
        }
    })
}

async fn create_keys(store: &Store, names: &[String]) -> anyhow::Result<Arc<Vec<String>>> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        out.push(store.create_key("default", name).await?.1);
    }
    Ok(Arc::new(out))
}

pub(super) async fn count(store: &Store, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(&store.pool).await?.try_get(0)?)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Native,
    Otlp,
}

/// What one phase of requests did.
struct Driven {
    items: usize,
    requests: usize,
    elapsed: Duration,
    samples: Vec<Sample>,
    timed_out: bool,
}

impl Driven {
    fn into_phase(self, what: &str, unit: &'static str, target: Option<f64>) -> Phase {
        Phase {
            what: what.to_string(),
            unit,
            items: self.items,
            requests: self.requests,
            elapsed: self.elapsed,
            samples: self.samples,
            target,
            timed_out: self.timed_out,
        }
    }
}

/// Sends every request of `data` with `args.concurrency` client tasks; stops early at the
/// deadline or on the first bad answer.
async fn drive(
    app: &Router,
    data: &Arc<Dataset>,
    secrets: Arc<Vec<String>>,
    kind: Kind,
    args: &IngestArgs,
) -> anyhow::Result<Driven> {
    let label = match kind {
        Kind::Native => "native runs",
        Kind::Otlp => "OTLP spans",
    };
    let bar = indicatif::ProgressBar::new(data.items as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(label);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + args.max_duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (app, data, secrets, next, stop, timed_out, bar) = (
            app.clone(),
            data.clone(),
            secrets.clone(),
            next.clone(),
            stop.clone(),
            timed_out.clone(),
            bar.clone(),
        );
        tasks.spawn(async move {
            let mut samples = Vec::new();
            let mut items = 0usize;
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if Instant::now() >= deadline {
                    timed_out.store(true, Ordering::Relaxed);
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = data.requests.get(i) else {
                    break;
                };
                let (path, content_type) = match kind {
                    Kind::Native => ("/api/v1/runs", "application/json"),
                    Kind::Otlp => ("/v1/traces", "application/x-protobuf"),
                };
                let request = HttpRequest::post(path)
                    .header(header::CONTENT_TYPE, content_type)
                    .header(
                        header::AUTHORIZATION,
                        format!("Bearer {}", secrets[req.key]),
                    )
                    .body(Body::from(req.body.clone()))
                    .expect("a valid request");
                let sent = started.elapsed();
                let response = match app.clone().oneshot(request).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), usize::MAX).await;
                let done = started.elapsed();
                let checked = body
                    .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))
                    .and_then(|body| check_answer(kind, status, &body, req.items));
                if let Err(e) = checked {
                    stop.store(true, Ordering::Relaxed);
                    return Err(
                        e.context(format!("{label}: request {i} (key #{}) failed", req.key))
                    );
                }
                samples.push(Sample {
                    index: i,
                    key: req.key,
                    items: req.items,
                    sent,
                    done,
                });
                items += req.items;
                bar.inc(req.items as u64);
            }
            anyhow::Ok((items, samples))
        });
    }
    let mut samples = Vec::new();
    let mut items = 0;
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.context("a client task panicked")? {
            Ok((n, l)) => {
                items += n;
                samples.extend(l);
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    if let Some(e) = failure {
        return Err(e);
    }
    let timed_out = timed_out.load(Ordering::Relaxed);
    if timed_out {
        eprintln!(
            "{label}: stopped at the time limit of {:?} after {items} items",
            args.max_duration
        );
    }
    samples.sort_by_key(|s: &Sample| s.done);
    Ok(Driven {
        items,
        requests: samples.len(),
        elapsed,
        samples,
        timed_out,
    })
}

/// A 2xx that accounts for every run or span sent, or an error quoting the answer.
fn check_answer(kind: Kind, status: StatusCode, body: &[u8], sent: usize) -> anyhow::Result<()> {
    let text = || String::from_utf8_lossy(&body[..body.len().min(4_000)]).into_owned();
    if !status.is_success() {
        anyhow::bail!("answer {status}: {}", text());
    }
    match kind {
        Kind::Native => {
            let value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| anyhow::anyhow!("answer is not JSON ({e}): {}", text()))?;
            let accepted = value.get("accepted").and_then(|v| v.as_u64());
            anyhow::ensure!(
                accepted == Some(sent as u64),
                "sent {sent} runs, answer: {}",
                text()
            );
        }
        Kind::Otlp => {
            let response = ExportTraceServiceResponse::decode(body)
                .map_err(|e| anyhow::anyhow!("answer is not an ExportTraceServiceResponse: {e}"))?;
            if let Some(partial) = response.partial_success {
                anyhow::ensure!(
                    partial.rejected_spans == 0,
                    "{} of {sent} spans rejected: {}",
                    partial.rejected_spans,
                    partial.error_message
                );
            }
        }
    }
    Ok(())
}

/// CPU time of the request-decoding steps alone (no database), on one core, over a sample of
/// the same bodies: what part of a request's latency is not the write path.
pub struct Decoding {
    /// Mean per native request: JSON parse + validation.
    pub native_per_request: Duration,
    pub native_runs_per_request: f64,
    /// Mean per OTLP request: protobuf decode + mapping to span records.
    pub otlp_per_request: Duration,
    pub otlp_spans_per_request: f64,
}

fn measure_decoding(native: &Dataset, otlp: &Dataset, limits: &Limits) -> Decoding {
    const SAMPLE: usize = 20;
    let t = Instant::now();
    let sample = &native.requests[..native.requests.len().min(SAMPLE)];
    for r in sample {
        let runs = crate::ingest::native::parse_batch(&r.body, None, limits.max_batch_runs);
        std::hint::black_box(runs.map(|r| r.len()).unwrap_or(0));
    }
    let native_per_request = t.elapsed() / sample.len().max(1) as u32;
    let native_runs_per_request =
        sample.iter().map(|r| r.items).sum::<usize>() as f64 / sample.len().max(1) as f64;
    let t = Instant::now();
    let osample = &otlp.requests[..otlp.requests.len().min(SAMPLE)];
    for r in osample {
        use crate::ingest::otlp::{decode, mapping};
        if let Ok(req) = decode::decode_request(&r.body, decode::Encoding::Protobuf) {
            std::hint::black_box(mapping::flatten(req).spans.len());
        }
    }
    let otlp_per_request = t.elapsed() / osample.len().max(1) as u32;
    let otlp_spans_per_request =
        osample.iter().map(|r| r.items).sum::<usize>() as f64 / osample.len().max(1) as f64;
    Decoding {
        native_per_request,
        native_runs_per_request,
        otlp_per_request,
        otlp_spans_per_request,
    }
}
