//! `baton-server`: device registration, sync, push and co-browse relay.
//!
//! Prints one line to stdout once listening (`baton-server listening on
//! http://ADDR`) so callers can find a port picked with `--listen …:0`;
//! everything else is logged to stderr. Stops cleanly on SIGTERM or SIGINT.

mod clock;
mod config;
mod credentials;
mod db;
mod forwarded;
mod http;
mod push;
mod rate_limit;
mod relay;
mod shutdown;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

use config::Cli;
use credentials::Generator;
use db::{Db, DbError};
use http::AppState;
use push::PushRegistry;
use rate_limit::FailureWindow;
use relay::Relay;

/// How long open connections get to finish after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
enum StartupError {
    #[error(transparent)]
    NoDataDir(#[from] config::NoDataDir),
    #[error("cannot create database directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open database {}: {source}", path.display())]
    OpenDb { path: PathBuf, source: DbError },
    #[error("cannot load the active co-browsing sessions: {0}")]
    LoadSessions(DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("baton-server: error: cannot start async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("baton-server: error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), StartupError> {
    let db_path = cli.db_path()?;
    let db = open_db(db_path.clone()).await?;
    tracing::info!(path = %db_path.display(), "database open");

    let listener =
        TcpListener::bind(cli.listen).await.map_err(|source| StartupError::Bind { addr: cli.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartupError::Bind { addr: cli.listen, source })?;
    let signals = shutdown::Signals::install().map_err(StartupError::Signals)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let push = PushRegistry::new();
    let settings = cli.settings();
    let away_ttl = Duration::from_millis(u64::try_from(settings.cobrowse_away_ttl_ms).unwrap_or(0));
    let recording = db::cobrowse::RecordingCaps {
        session: settings.cobrowse_recording_max_bytes,
        account: settings.account_recording_max_bytes,
    };
    let relay = Relay::start(db.clone(), recording, away_ttl, settings.relay_queue_bytes);
    let active = db.call(db::cobrowse::active).await.map_err(StartupError::LoadSessions)?;
    relay.adopt(active);
    tokio::spawn(expire_sessions(db.clone(), relay.clone(), settings.clone()));
    let (registrations_per_hour, shares_per_hour) = (settings.registrations_per_hour, settings.shares_per_hour);
    let state = AppState {
        db: db.clone(),
        ids: Generator::new(),
        push: push.clone(),
        shutdown: stop_rx.clone(),
        settings,
        pairing_guesses: FailureWindow::new(
            db.clone(),
            "pairing",
            baton_shared::limits::PAIRING_GUESSES_PER_CLIENT_PER_MINUTE,
            Duration::from_secs(60),
        ),
        cobrowse_guesses: FailureWindow::new(
            db.clone(),
            "cobrowse",
            baton_shared::limits::COBROWSE_GUESSES_PER_CLIENT_PER_MINUTE,
            Duration::from_secs(60),
        ),
        registrations: FailureWindow::new(
            db.clone(),
            "registration",
            registrations_per_hour,
            Duration::from_secs(3600),
        ),
        shares: FailureWindow::new(db, "share", shares_per_hour, Duration::from_secs(3600)),
        relay: relay.clone(),
    };
    let app = http::router(state);

    announce(addr);

    // Client addresses (`http::extract::ClientAddr`) feed the guess limits.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        signals.recv().await;
        tracing::info!("stopping");
        // Push and relay sockets watch this and close themselves.
        let _ = stop_tx.send(true);
    });
    let mut stopping = stop_rx;
    tokio::select! {
        result = async {
            serve.await?;
            // Upgraded sockets are no longer the server's connections: wait
            // for each to send its close frame before the runtime drops them.
            while !push.is_empty() || !relay.is_idle() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Recorded frames still queued reach the disk before exit.
            relay.recorder.flush().await;
            Ok(())
        } => result.map_err(StartupError::Serve)?,
        () = async {
            let _ = stopping.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; stopping anyway"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Ends co-browsing sessions whose code expired before an operator joined,
/// whose visitor did not approve the operator in time (also done on access,
/// `db::cobrowse::Session::due`), or that one side stayed away from too
/// long, telling their sockets. Runs at least every half of the shortest of
/// those times.
async fn expire_sessions(db: Db, relay: Relay, settings: config::Settings) {
    let ttl_ms = settings.cobrowse_code_ttl_ms.min(settings.cobrowse_consent_ttl_ms).min(settings.cobrowse_away_ttl_ms);
    let every = Duration::from_millis(u64::try_from(ttl_ms / 2).unwrap_or(0))
        .clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = clock::now_ms();
        match db.call(move |conn| db::cobrowse::expire_due(conn, now)).await {
            Ok(due) => {
                for (id, expiry) in due {
                    relay.finish(&id, expiry.reason());
                }
            }
            Err(err) => tracing::error!(%err, "cannot expire co-browsing sessions"),
        }
        for (id, away) in relay.abandoned() {
            let now = clock::now_ms();
            let session_id = id.clone();
            match db.call(move |conn| db::cobrowse::abandon(conn, &session_id, away, now)).await {
                Ok(true) => relay.finish(&id, db::cobrowse::Expiry::Away(away).reason()),
                // Ended meanwhile (and told then): only the room is left.
                Ok(false) => relay.finish(&id, "the session has ended"),
                Err(err) => tracing::error!(%err, "cannot end an abandoned co-browsing session"),
            }
        }
        relay.prune();
    }
}

async fn open_db(path: PathBuf) -> Result<Db, StartupError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StartupError::CreateDir { path: dir.to_owned(), source })?;
    }
    let opened = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || Db::open(&path)).await
    };
    opened.map_err(DbError::from).and_then(|r| r).map_err(|source| StartupError::OpenDb { path, source })
}

/// The one stdout line callers wait for.
fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "baton-server listening on http://{addr}").and_then(|()| out.flush());
    if let Err(err) = written {
        // Nobody reading stdout is not a reason to stop serving.
        tracing::warn!(%err, "cannot write listening address to stdout");
    }
    tracing::info!(%addr, "listening");
}
