//! The native messaging loop: frames in from the browser on stdin, replies
//! and events out on stdout.
//!
//! Threads: one blocking reader (stdin), one blocking writer (stdout, the
//! only code that touches it), and a small tokio runtime for the server link
//! and request handling. When stdin closes the host flushes and exits 0.

use std::process::ExitCode;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use baton_shared::limits::MAX_FRAME_FROM_BROWSER;
use baton_shared::native::{ErrorCode, HostInfo, HostMessage, HostStatus, ProtocolError, Request, RequestBody};
use baton_shared::VERSION;

use crate::caller;
use crate::config::Config;
use crate::framing::{self, FrameError};
use crate::paths::HostPaths;
use crate::server_link::{device_info, LinkState, ServerLinkTask};
use crate::store::Store;
use crate::vault::Vault;

/// What the reader thread hands to the loop.
enum Inbound {
    Frame(Vec<u8>),
    /// A bad frame; `fatal` when the stream cannot continue.
    Bad(FrameError),
    Closed,
}

/// Sends messages to the writer thread.
#[derive(Clone)]
struct Outbox(std_mpsc::Sender<HostMessage>);

impl Outbox {
    fn send(&self, message: HostMessage) {
        // The writer only stops when stdout is gone; then nobody is listening.
        let _ = self.0.send(message);
    }
}

pub fn run(args: &[String]) -> ExitCode {
    let (outbox, writer) = spawn_writer();
    let code = match serve(args, &outbox) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baton-host: {}", e.message);
            tracing::error!("{}", e.message);
            outbox.send(e.into_message());
            ExitCode::from(1)
        }
    };
    drop(outbox);
    // Flush what is queued, but never hang on a browser that stopped reading.
    let (done_tx, done_rx) = std_mpsc::channel();
    thread::spawn(move || {
        let _ = writer.join();
        let _ = done_tx.send(());
    });
    let _ = done_rx.recv_timeout(Duration::from_secs(2));
    code
}

fn fatal(code: ErrorCode, message: impl Into<String>) -> ProtocolError {
    ProtocolError::new(Value::Null, code, message)
}

fn serve(args: &[String], outbox: &Outbox) -> Result<(), ProtocolError> {
    let paths = HostPaths::from_env().map_err(|e| fatal(ErrorCode::Storage, e.to_string()))?;
    crate::logging::init(&paths.log_file());
    let config = Config::load(&paths.config_file()).map_err(|e| fatal(ErrorCode::Internal, e.to_string()))?;
    let caller = caller::identify(args, &config.allowed_extension_ids)
        .map_err(|e| fatal(ErrorCode::ForbiddenOrigin, e.to_string()))?;
    tracing::info!("started by {} (baton-host {VERSION})", caller.extension_id);

    let store = Store::open(&paths.database()).map_err(|e| fatal(ErrorCode::Storage, e.to_string()))?;
    let vault = Vault::load_or_create(&paths.vault_key()).map_err(|e| fatal(ErrorCode::Storage, e.to_string()))?;
    let device = store
        .device(&config.server_url)
        .map_err(|e| fatal(ErrorCode::Storage, e.to_string()))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fatal(ErrorCode::Internal, format!("cannot start the runtime: {e}")))?;

    let (state_tx, state_rx) =
        watch::channel(ServerLinkTask::initial_state(&config.server_url, device.as_ref().map(device_info)));
    let link = ServerLinkTask {
        server_url: config.server_url.clone(),
        device_name: config.device_name.clone().unwrap_or_else(default_device_name),
        store: Arc::new(Mutex::new(store)),
        vault: Arc::new(vault),
        state: state_tx,
    };
    let inbound = spawn_reader();
    let result = runtime.block_on(async move {
        let link_task = tokio::spawn(link.run());
        let result = message_loop(inbound, state_rx, outbox).await;
        link_task.abort();
        result
    });
    // Dropping the runtime cancels in-flight network calls; nothing there is unacknowledged.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

async fn message_loop(
    mut inbound: mpsc::Receiver<Inbound>,
    mut state: watch::Receiver<LinkState>,
    outbox: &Outbox,
) -> Result<(), ProtocolError> {
    loop {
        tokio::select! {
            item = inbound.recv() => match item {
                Some(Inbound::Frame(bytes)) => {
                    let reply = match Request::parse(&bytes) {
                        Ok(request) => handle(request, &state.borrow()),
                        Err(e) => {
                            tracing::warn!("bad request: {e}");
                            e.into_message()
                        }
                    };
                    outbox.send(reply);
                }
                Some(Inbound::Bad(e)) if e.is_recoverable() => {
                    tracing::warn!("{e}");
                    outbox.send(ProtocolError::new(Value::Null, e.code(), e.to_string()).into_message());
                }
                Some(Inbound::Bad(e)) => return Err(fatal(e.code(), e.to_string())),
                Some(Inbound::Closed) | None => {
                    tracing::info!("the browser closed the connection; exiting");
                    return Ok(());
                }
            },
            changed = state.changed() => {
                if changed.is_err() {
                    continue;
                }
                let status = status_of(&state.borrow_and_update());
                outbox.send(HostMessage::Status { id: None, status });
            }
        }
    }
}

fn handle(request: Request, state: &LinkState) -> HostMessage {
    match request.body {
        RequestBody::Ping => HostMessage::Pong { id: request.id, version: VERSION.to_owned() },
        RequestBody::Status => HostMessage::Status { id: Some(request.id), status: status_of(state) },
        other => ProtocolError::new(
            request.id,
            ErrorCode::Internal,
            format!("{} is not available in this version of baton-host", request_type(&other)),
        )
        .into_message(),
    }
}

fn request_type(body: &RequestBody) -> String {
    serde_json::to_value(body)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

fn status_of(state: &LinkState) -> HostStatus {
    HostStatus {
        host: HostInfo { version: VERSION.to_owned() },
        server: state.server.clone(),
        device: state.device.clone(),
        sync: Default::default(),
    }
}

fn spawn_reader() -> mpsc::Receiver<Inbound> {
    let (tx, rx) = mpsc::channel(64);
    thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            let item = match framing::read_frame(&mut input, MAX_FRAME_FROM_BROWSER) {
                Ok(Some(frame)) => Inbound::Frame(frame),
                Ok(None) => Inbound::Closed,
                Err(e) => Inbound::Bad(e),
            };
            let stop = match &item {
                Inbound::Frame(_) => false,
                Inbound::Bad(e) => !e.is_recoverable(),
                Inbound::Closed => true,
            };
            if tx.blocking_send(item).is_err() || stop {
                return;
            }
        }
    });
    rx
}

fn spawn_writer() -> (Outbox, thread::JoinHandle<()>) {
    let (tx, rx) = std_mpsc::channel::<HostMessage>();
    let handle = thread::spawn(move || {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let mut chunk_ids = 0u64;
        for message in rx {
            for payload in framing::encode(&message, &mut chunk_ids) {
                if let Err(e) = framing::write_frame(&mut out, &payload) {
                    tracing::info!("stdout closed ({e}); the browser is gone");
                    return;
                }
            }
        }
    });
    (Outbox(tx), handle)
}

/// The machine's host name, which is how people tell their devices apart.
fn default_device_name() -> String {
    let from_file = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let from_env = || std::env::var("COMPUTERNAME").or_else(|_| std::env::var("HOSTNAME")).ok();
    from_file
        .or_else(from_env)
        .and_then(|n| baton_shared::api::validate_device_name(&n).ok().map(str::to_owned))
        .unwrap_or_else(|| "This computer".to_owned())
}
