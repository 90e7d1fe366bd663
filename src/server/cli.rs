//! The command line: `threadline serve | demo | keys | users | migrate | bench`. Every flag has an environment
//! twin (shown in `--help`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use leptos::config::{Env, LeptosOptions};

use super::auth::{AuthMode, AuthSettings};
use super::config::{parse_bytes, parse_duration, Limits, ValueLimits};
use super::state::AppState;
use crate::db::Store;

#[derive(Parser, Debug)]
#[command(
    name = "threadline",
    version,
    about = "Sessions dashboard for LLM agents and gateways"
)]
struct Cli {
    #[command(flatten)]
    db: DbArgs,
    /// Without a command, `serve` (so build tools can start the binary as it is).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
struct DbArgs {
    /// Database: `sqlite:PATH` (created if missing) or `postgres://user@host/db`.
    #[arg(
        long,
        env = "THREADLINE_DATABASE_URL",
        default_value = "sqlite:threadline.db",
        global = true
    )]
    database_url: String,
    /// Inactivity that ends an automatic session (e.g. 30m, 1h, 90s).
    #[arg(long, env = "THREADLINE_SESSION_GAP", default_value = "30m", value_parser = parse_duration, global = true)]
    session_gap: Duration,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the dashboard, the REST API and ingestion on one port.
    Serve(ServeArgs),
    /// Generate a realistic demo dataset through the ingestion code path.
    Demo(DemoArgs),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage dashboard users (once one exists, signing in is required; see `serve --auth`).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Apply database migrations (serve also does this at start).
    Migrate,
    /// Measure performance on fresh databases and print the figures (SPEC §9).
    Bench {
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on. Without authentication only loopback addresses are allowed.
    #[arg(long, env = "THREADLINE_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// When signing in is required: `auto` once a user exists (checked at start), `on` always
    /// (refuses to start without a user), `off` never (then only loopback addresses are served).
    #[arg(long, env = "THREADLINE_AUTH", value_enum, default_value_t = AuthMode::Auto)]
    auth: AuthMode,
    /// Mark cookies `Secure` (sent over HTTPS only): set it when browsers reach Threadline over
    /// HTTPS, e.g. through a TLS-terminating reverse proxy.
    #[arg(long, env = "THREADLINE_SECURE_COOKIES", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    secure_cookies: bool,
    /// How long a sign-in lasts before the user must sign in again (e.g. 7d, 12h).
    #[arg(long, env = "THREADLINE_LOGIN_TTL", default_value = "7d", value_parser = parse_duration)]
    login_ttl: Duration,
    /// Largest request body (also after gzip decompression): bytes, or with KiB / MiB / GiB.
    #[arg(long, env = "THREADLINE_MAX_BODY_BYTES", default_value = "10MiB", value_parser = parse_bytes)]
    max_body_bytes: usize,
    /// Most runs in one `POST /api/v1/runs` batch.
    #[arg(long, env = "THREADLINE_MAX_BATCH_RUNS", default_value_t = 1000)]
    max_batch_runs: usize,
    /// Most spans in one `POST /v1/traces` request.
    #[arg(
        long,
        env = "THREADLINE_MAX_SPANS_PER_REQUEST",
        default_value_t = 50_000
    )]
    max_spans_per_request: usize,
    /// Largest single value: a run's input, output or error, one attribute, a span name or
    /// status message. Larger ones are refused (native: 400; OTLP: the span, in partial_success).
    #[arg(long, env = "THREADLINE_MAX_VALUE_BYTES", default_value = "1MiB", value_parser = parse_bytes)]
    max_value_bytes: usize,
    /// Longest explicit session id, in characters (at most 512).
    #[arg(long, env = "THREADLINE_MAX_SESSION_ID_CHARS", default_value_t = 200,
          value_parser = clap::value_parser!(u16).range(1..=super::config::MAX_SESSION_ID_CHARS_CEILING as i64))]
    max_session_id_chars: u16,
    /// Ingestion requests admitted at once (being read, waiting or writing); more get 429.
    #[arg(long, env = "THREADLINE_MAX_PENDING_WRITES", default_value_t = super::config::DEFAULT_MAX_PENDING_WRITES as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_pending_writes: u32,
    /// Body bytes those requests may hold together (after gzip); beyond it more get 429.
    #[arg(long, env = "THREADLINE_MAX_PENDING_BYTES", default_value = "16MiB", value_parser = parse_bytes)]
    max_pending_bytes: usize,
    /// On SIGTERM or Ctrl-C, how long in-flight requests may take to finish before the
    /// database is closed anyway.
    #[arg(long, env = "THREADLINE_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// When the database holds no session yet, first generate this many demo sessions (0: never).
    #[arg(long, env = "THREADLINE_DEMO_IF_EMPTY", default_value_t = 0)]
    demo_if_empty: usize,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many sessions to generate.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Random seed, for a reproducible dataset.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// Create a user who can sign in to the dashboard. The password is asked for on the
    /// terminal (not echoed), or read from the first line of stdin with --password-stdin, or
    /// taken from THREADLINE_PASSWORD; never give it as an argument (shell history).
    Create {
        /// The name to sign in with (no spaces).
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users (never their passwords).
    List,
    /// Delete a user and end its sign-ins.
    Delete { name: String },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create a key; prints it alone on the last line (it is shown only once).
    Create {
        /// Project the key writes to and reads from (created if missing).
        #[arg(long, default_value = "default")]
        project: String,
        /// A name to recognise the key by.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id or by its shown prefix.
    Revoke { key: String },
}

pub fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if cli.command.is_none() {
        cli = Cli::parse_from(std::env::args().chain(["serve".to_string()]));
    }
    // The benchmark prints a table: only warnings and errors in between.
    let bench = matches!(cli.command, Some(Command::Bench { .. }));
    init_logging(if bench {
        "warn"
    } else {
        "info,sqlx=warn,leptos_axum=warn"
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("THREADLINE_LOG")
        .unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

async fn open(db: &DbArgs) -> anyhow::Result<Store> {
    Store::open(&db.database_url, db.session_gap)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database `{}`: {e}", db.database_url))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(command) = cli.command else {
        anyhow::bail!("no command given")
    };
    match command {
        Command::Migrate => {
            open(&cli.db).await?.close().await;
            println!("migrations applied to {}", cli.db.database_url);
        }
        Command::Keys { command } => {
            let store = open(&cli.db).await?;
            match command {
                KeysCommand::Create { project, name } => {
                    let (id, secret) = store.create_key(&project, &name).await?;
                    println!(
                        "Created API key {id} for project `{project}`. It is shown only once:"
                    );
                    println!("{secret}");
                }
                KeysCommand::List => {
                    println!(
                        "{:>4}  {:<16} {:<16} {:<12} {:<25} status",
                        "id", "project", "name", "prefix", "created"
                    );
                    for k in store.list_keys().await? {
                        let status = if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        };
                        println!(
                            "{:>4}  {:<16} {:<16} {:<12} {:<25} {status}",
                            k.id,
                            k.project,
                            k.name,
                            k.prefix,
                            crate::db::rfc3339(k.created_at)
                        );
                    }
                }
                KeysCommand::Revoke { key } => {
                    if store.revoke_key(&key).await? {
                        println!("revoked {key}");
                    } else {
                        anyhow::bail!("no active key with id or prefix `{key}`");
                    }
                }
            }
            store.close().await;
        }
        Command::Users { command } => {
            let store = open(&cli.db).await?;
            let done = users(&store, command).await;
            store.close().await;
            done?;
        }
        Command::Demo(args) => {
            let store = open(&cli.db).await?;
            let stats = crate::demo::generate(&store, &args.into_options()).await?;
            println!("{stats}");
            store.close().await;
        }
        Command::Serve(args) => serve(cli.db, args).await?,
        Command::Bench { command } => crate::bench::run(command).await?,
    }
    Ok(())
}

async fn users(store: &Store, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Create {
            name,
            password_stdin,
        } => {
            crate::db::users::validate_name(&name)?;
            let password = read_password(password_stdin)?;
            crate::db::users::validate_password(&password)?;
            store.create_user(&name, &password).await?;
            println!(
                "Created user `{name}`. Signing in is now required when the server (re)starts."
            );
        }
        UsersCommand::List => {
            println!("{:>4}  {:<24} {:<25} signed-in", "id", "name", "created");
            for u in store.list_users().await? {
                println!(
                    "{:>4}  {:<24} {:<25} {}",
                    u.id,
                    u.name,
                    crate::db::rfc3339(u.created_at),
                    u.logins
                );
            }
        }
        UsersCommand::Delete { name } => {
            if !store.delete_user(&name).await? {
                anyhow::bail!("no user `{name}`");
            }
            println!("deleted user `{name}`");
        }
    }
    Ok(())
}

/// The new user's password: stdin's first line, THREADLINE_PASSWORD, or asked twice on the
/// terminal without echo.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    if let Ok(password) = std::env::var("THREADLINE_PASSWORD") {
        if !password.is_empty() {
            return Ok(password);
        }
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| {
            anyhow::anyhow!(
                "cannot ask for a password ({e}): pipe it with --password-stdin or set \
                 THREADLINE_PASSWORD"
            )
        })
    };
    let first = ask("Password: ")?;
    if ask("Same password again: ")? != first {
        anyhow::bail!("the passwords differ; no user was created");
    }
    Ok(first)
}

impl DemoArgs {
    fn into_options(self) -> crate::demo::DemoOptions {
        crate::demo::DemoOptions {
            sessions: self.sessions,
            seed: self.seed,
            progress: !self.quiet,
        }
    }
}

/// Leptos settings: cargo-leptos's environment when it runs us, else the repository layout, so
/// a release binary runs from the repository root with no environment at all.
fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let env = if var("LEPTOS_ENV", "PROD").eq_ignore_ascii_case("DEV") {
        Env::DEV
    } else {
        Env::PROD
    };
    LeptosOptions::builder()
        .output_name(var("LEPTOS_OUTPUT_NAME", "threadline"))
        .site_root(var("LEPTOS_SITE_ROOT", "target/site"))
        .site_pkg_dir(var("LEPTOS_SITE_PKG_DIR", "pkg"))
        .env(env)
        .site_addr(addr)
        .reload_port(var("LEPTOS_RELOAD_PORT", "3001").parse().unwrap_or(3001))
        .build()
}

async fn serve(db: DbArgs, args: ServeArgs) -> anyhow::Result<()> {
    let store = open(&db).await?;
    // Open without signing in only on loopback: decided before anything listens.
    let users = store.user_count().await?;
    let auth_required = match super::auth::decide(args.auth, args.addr, users) {
        Ok(required) => required,
        Err(why) => {
            store.close().await;
            anyhow::bail!(why);
        }
    };
    if args.demo_if_empty > 0 && store.session_count().await? == 0 {
        println!(
            "empty database: generating {} demo sessions first",
            args.demo_if_empty
        );
        let options = crate::demo::DemoOptions {
            sessions: args.demo_if_empty,
            seed: 42,
            progress: true,
        };
        let stats = crate::demo::generate(&store, &options).await?;
        println!("{stats}");
    }
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_batch_runs: args.max_batch_runs,
        max_spans_per_request: args.max_spans_per_request,
        values: ValueLimits {
            max_value_bytes: args.max_value_bytes,
            max_session_id_chars: args.max_session_id_chars.into(),
        },
        max_pending_writes: args.max_pending_writes as usize,
        max_pending_bytes: args.max_pending_bytes,
    };
    let state = AppState {
        store: store.clone(),
        leptos_options: leptos_options(args.addr),
        limits: Arc::new(limits),
    };
    let auth = AuthSettings {
        required: auth_required,
        secure_cookies: args.secure_cookies,
        login_ttl: args.login_ttl,
    };
    if auth_required {
        // The first sign-in with an unknown name would otherwise compute it (argon2) on an
        // async worker.
        tokio::task::spawn_blocking(crate::db::users::prepare_dummy_hash).await?;
    }
    let app = super::http::router_with_auth(state, auth);
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.addr))?;
    let where_data = match store.backend() {
        crate::db::Backend::Sqlite => {
            let path = crate::db::sqlite_path(&db.database_url).unwrap_or(&db.database_url);
            let full = std::fs::canonicalize(path)
                .map(|p| p.display().to_string())
                .unwrap_or(path.to_string());
            format!("SQLite file {full}")
        }
        crate::db::Backend::Postgres => "PostgreSQL".to_string(),
    };
    tracing::info!(url = %format!("http://{}", args.addr), data = %where_data, sign_in_required = auth_required, "Threadline is serving");
    println!(
        "Threadline is serving http://{} — data in {where_data}",
        args.addr
    );
    if auth_required {
        let plural = if users == 1 { "" } else { "s" };
        println!(
            "Signing in is required ({users} user{plural}; manage them with `threadline users`)."
        );
    } else {
        println!(
            "Open without signing in (loopback only). To require it: `threadline users create NAME`."
        );
    }
    if !args.addr.ip().is_loopback() && !args.secure_cookies {
        tracing::warn!(
            addr = %args.addr,
            "listening beyond loopback without --secure-cookies: sign-in cookies are not marked \
             Secure and travel over plain HTTP too (passwords as well, unless a proxy adds TLS). \
             Put Threadline behind a reverse proxy that terminates TLS and start it with \
             --secure-cookies (THREADLINE_SECURE_COOKIES=1)"
        );
    }
    // On the signal axum stops accepting, closes idle connections and lets in-flight requests
    // finish (an ingestion request commits before it answers); a client that never finishes
    // its request must not keep the process alive, hence the timeout.
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = signalled_tx.send(());
    });
    let timeout = args.shutdown_timeout;
    tokio::select! {
        served = server => served?,
        () = async {
            if signalled_rx.await.is_ok() {
                tokio::time::sleep(timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!(?timeout, "requests still in flight after the shutdown timeout; closing anyway"),
    }
    tracing::info!("shutting down: closing the database");
    // Waits for connections in use: a write transaction still running commits or rolls back
    // first, so SQLite's WAL is checkpointed and PostgreSQL sees a clean disconnect.
    store.close().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; axum then stops accepting and finishes in-flight requests.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
