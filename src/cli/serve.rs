//! `teamgate serve`: the HTTP sidecar on the hot-reloading store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::{BundleArg, EXIT_BAD_INPUT};
use teamgate::server::decision_log::{DecisionLog, LogTarget};
use teamgate::server::{self, AppState, RequestEntities, ServerConfig};
use teamgate::Store;

/// Arguments of `serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArg,
    #[command(flatten)]
    data: super::data::DataStoreArg,
    /// Address to listen on. Loopback by default: the sidecar serves the
    /// application next to it.
    #[arg(long, default_value = "127.0.0.1:8180")]
    listen: SocketAddr,
    /// Log every decision as a JSON line to this file, or `-` for stdout
    /// (SIGUSR1 reopens the file after a log rotation).
    #[arg(long)]
    decision_log: Option<String>,
    /// Replace this field of the logged request by "**masked**": a dotted
    /// path such as `context.inviteEmail` (repeatable).
    #[arg(long = "decision-log-mask", value_name = "PATH")]
    decision_log_masks: Vec<String>,
    /// Bytes of decision lines queued for the writer at most; beyond, lines
    /// are dropped and counted in /metrics.
    #[arg(long, default_value_t = teamgate::server::decision_log::DEFAULT_MAX_QUEUE_BYTES)]
    decision_log_max_queue: usize,
    /// File holding the bearer token that enables `POST /v1/reload` and the
    /// data API (`/v1/entities`, `/v1/data`); without it they are off.
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_body: usize,
    /// Most requests in one batch.
    #[arg(long, default_value_t = 100)]
    max_batch: usize,
    /// Seconds a request may take, body included.
    #[arg(long, default_value_t = 10)]
    request_timeout: u64,
    /// Seconds a client has to send a request's headers, and to start its
    /// next request on a kept-alive connection (a slow client holds a
    /// connection no longer).
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Most connections open at once; more are closed as they arrive.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// On SIGTERM, seconds the requests in flight get before their
    /// connections are closed.
    #[arg(long, default_value_t = 10)]
    shutdown_timeout: u64,
    /// Decisions of repeated requests (without request entities) kept per
    /// snapshot, dropped on every reload or data change; 0 turns the cache off.
    #[arg(long, default_value_t = 65_536)]
    decision_cache: usize,
    /// Do not watch the bundle (reload only on SIGHUP or the admin endpoint).
    #[arg(long)]
    no_watch: bool,
    /// Also serve `POST /v1/floor`, which reads the body and answers a
    /// constant deny without deciding anything: the HTTP floor of this
    /// server, for load tests (`bench/load.sh`).
    #[arg(long)]
    floor_route: bool,
    /// Milliseconds the bundle must stay still after a change before it is
    /// reloaded (an editor's save is done within it; a slower copy is made
    /// safe by `--require-manifest` or a symlink swap).
    #[arg(long, default_value_t = teamgate::store::DEFAULT_DEBOUNCE.as_millis() as u64)]
    quiet_period_ms: u64,
    /// Seconds between the watcher's looks at the bundle when no event came
    /// (a change whose event was lost is still seen).
    #[arg(long, default_value_t = 30)]
    rescan_interval: u64,
    /// `/readyz` answers 503 when the watcher has not looked at the bundle
    /// for this many seconds (or is down).
    #[arg(long, default_value_t = 120)]
    max_staleness: u64,
    /// Follow the entity data in this PostgreSQL database's table
    /// `teamgate_entities` (see `teamgate db`) instead of the bundle's entity
    /// files: read in full at start, then each change as notified. The data
    /// is kept in the data store, which serves (stale) while the database is
    /// unreachable.
    #[arg(long, env = "TEAMGATE_ENTITIES_FROM", value_name = "URL")]
    entities_from: Option<String>,
    /// `/readyz` answers 503 when the entity source has been unreachable and
    /// its data unconfirmed for this many seconds.
    #[arg(long, default_value_t = 60)]
    max_source_staleness: u64,
    /// Worker threads (default: one per core). With 1, the sidecar runs on
    /// a single-thread scheduler: no task handed between threads (for a
    /// sidecar pinned to one core).
    #[arg(long)]
    workers: Option<usize>,
    /// What the entities a request brings may do: `add` entities that are
    /// not stored (default), also `override` stored ones for that request,
    /// or also `replace` the whole store (`entities`).
    #[arg(long, value_enum, default_value_t = RequestEntitiesArg::Add)]
    request_entities: RequestEntitiesArg,
    /// With `--request-entities override` or `replace`: refuse
    /// `additional_entities` when the store holds more entities than this
    /// (they are applied by rebuilding the stored data).
    #[arg(long, default_value_t = server::DEFAULT_MAX_REBUILD_ENTITIES)]
    max_rebuild_entities: usize,
}

/// Values of `--request-entities`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum RequestEntitiesArg {
    /// Only entities that are not stored.
    Add,
    /// Also replace stored entities for the request.
    Override,
    /// Also decide against the request's entities alone (`entities`).
    Replace,
}

/// Runs `serve`.
pub fn run(args: Args) -> ExitCode {
    init_tracing();
    // Until the runtime takes over SIGHUP (a reload), a SIGHUP during a long
    // load must not end the process (its default action): the load reads the
    // files as they are anyway.
    // SAFETY: setting a signal's disposition to SIG_IGN at start-up, before
    // any other thread exists, is async-signal-safe and touches no memory.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGUSR1, libc::SIG_IGN);
    }
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "warning: listening on {}, not loopback: every decision, /v1/policies (reload errors \
             can name entity ids and values) and /metrics are exposed to that network",
            args.listen
        );
    }
    match start(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Loads the bundle, starts watching, builds the server and serves until a
/// signal; `Err` is a start-up error to print.
fn start(args: &Args) -> Result<ExitCode, String> {
    let admin_token = admin_token(args)?;
    teamgate::set_decision_cache(args.decision_cache);
    // With the data API on, its changes are recorded (the store is created);
    // without it, changes recorded earlier still apply.
    let following = args.entities_from.is_some();
    let store = match args
        .data
        .open_store(args.bundle.bundle(), admin_token.is_some() || following)
    {
        Ok(s) => Arc::new(s),
        Err(code) => return Ok(code),
    };
    let config = ServerConfig {
        max_body: args.max_body,
        max_batch: args.max_batch,
        admin_token,
        request_timeout: Duration::from_secs(args.request_timeout),
        max_rebuild_entities: args.max_rebuild_entities,
        request_entities: match args.request_entities {
            RequestEntitiesArg::Add => RequestEntities::Add,
            RequestEntitiesArg::Override => RequestEntities::Override,
            RequestEntitiesArg::Replace => RequestEntities::Replace,
        },
        max_staleness: (!args.no_watch).then(|| Duration::from_secs(args.max_staleness)),
        max_source_staleness: Duration::from_secs(args.max_source_staleness),
        floor_route: args.floor_route,
    };
    let source = args.entities_from.as_ref().map(|url| {
        let name = teamgate::source::postgres::redact(url);
        (url.clone(), teamgate::source::SourceHealth::new(name))
    });
    let state = AppState::new(store.clone(), config, decision_log(args)?);
    let state = Arc::new(match &source {
        Some((_, health)) => state.following(health.clone()),
        None => state,
    });
    let _watching = if args.no_watch {
        None
    } else {
        let options = teamgate::store::WatchOptions {
            rescan: Duration::from_secs(args.rescan_interval.max(1)),
            debounce: Duration::from_millis(args.quiet_period_ms),
        };
        Some(store.watch_options(options).map_err(|p| p.to_string())?)
    };
    // One worker: the scheduler of a single thread, which hands no task
    // between threads (the sidecar pinned to one core).
    let mut rt = match args.workers {
        Some(0 | 1) => tokio::runtime::Builder::new_current_thread(),
        Some(w) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(w);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    rt.enable_all();
    let rt = rt
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    if let Some((url, health)) = source {
        let mirrored = store.journal().is_some_and(|j| j.replaces_files());
        rt.spawn(teamgate::source::postgres::follow(
            url,
            store.clone(),
            health.clone(),
            teamgate::source::postgres::FollowOptions::default(),
        ));
        if !mirrored {
            // Nothing read from the database before: the bundle's entity
            // files are not its data. Serve only once it has been read.
            eprintln!("waiting for the first read of {}", health.status().source);
            rt.block_on(async {
                while !health.status().synced {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
    }
    let limits = server::listen::Limits {
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        max_connections: args.max_connections.max(1),
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
    };
    rt.block_on(serve(args.listen, store, state, limits))
}

/// The bearer token of `--admin-token-file`, if given (at least 16 characters).
fn admin_token(args: &Args) -> Result<Option<String>, String> {
    let Some(p) = &args.admin_token_file else {
        return Ok(None);
    };
    match std::fs::read_to_string(p) {
        Ok(t) if t.trim().len() >= 16 => Ok(Some(t.trim().to_string())),
        Ok(_) => Err(format!(
            "{}: the admin token must be at least 16 characters",
            p.display()
        )),
        Err(e) => Err(format!("{}: cannot read the admin token: {e}", p.display())),
    }
}

/// The decision log of `--decision-log`, if given.
fn decision_log(args: &Args) -> Result<Option<DecisionLog>, String> {
    let Some(target) = args.decision_log.as_deref() else {
        return Ok(None);
    };
    let t = if target == "-" {
        LogTarget::Stdout
    } else {
        LogTarget::File(target.into())
    };
    DecisionLog::open_with(&t, args.decision_log_max_queue, &args.decision_log_masks)
        .map(Some)
        .map_err(|p| p.to_string())
}

async fn serve(
    listen: SocketAddr,
    store: Arc<Store>,
    state: Arc<AppState>,
    limits: server::listen::Limits,
) -> Result<ExitCode, String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let snap = store.snapshot();
    // The first line of stdout says where we listen (tests and scripts read it).
    println!(
        "teamgate listening on http://{addr} (bundle {}, version {}, {} policies, {} entities)",
        store.bundle().root().display(),
        snap.version(),
        snap.policy_count(),
        snap.entity_count()
    );
    spawn_sighup_reload(store.clone());
    if let Some(log) = state.decision_log.clone() {
        spawn_sigusr1_reopen(log);
    }
    server::listen::serve(
        listener,
        server::router(state.clone()),
        limits,
        shutdown_signal(),
    )
    .await;
    if let Some(log) = &state.decision_log {
        if !log.flush(Duration::from_secs(5)) {
            tracing::warn!("the decision log could not be flushed in 5 s");
        }
    }
    tracing::info!("stopped: in-flight requests finished");
    Ok(ExitCode::SUCCESS)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TEAMGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

fn spawn_sighup_reload(store: Arc<Store>) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP");
            return;
        };
        while hup.recv().await.is_some() {
            let s = store.clone();
            let _ = tokio::task::spawn_blocking(move || {
                tracing::info!("SIGHUP: reloading");
                s.reload()
            })
            .await;
        }
    });
}

fn spawn_sigusr1_reopen(log: DecisionLog) {
    tokio::spawn(async move {
        let Ok(mut usr1) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        else {
            tracing::warn!("cannot listen for SIGUSR1");
            return;
        };
        while usr1.recv().await.is_some() {
            log.reopen();
        }
    });
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
}
