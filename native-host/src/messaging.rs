//! The native messaging loop: frames in from the browser on stdin, replies
//! and events out on stdout.
//!
//! Threads: one blocking reader (stdin), one blocking writer (stdout, the
//! only code that touches it), and a small tokio runtime for the server link
//! and request handling. When stdin closes the host flushes and exits 0.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};

use baton_shared::limits::{MAX_FRAME_FROM_BROWSER, SERVER_SILENCE_MS};
use baton_shared::native::{
    ErrorCode, HostInfo, HostMessage, HostStatus, ProtocolError, Request, RequestBody, SyncStatus,
};
use baton_shared::VERSION;

use crate::caller;
use crate::config::{self, Config, ExtensionChoice};
use crate::context::{EventSink, HostContext, RequestError};
use crate::framing::{self, FrameError};
use crate::paths::HostPaths;
use crate::server_link::{device_info, LinkState, ServerLinkTask};
use crate::store::Store;
use crate::vault::Vault;
use crate::{cobrowse, ingest, pairing, queries, send_tab, sync_engine};

/// What the reader thread hands to the loop.
enum Inbound {
    Frame(Vec<u8>),
    /// A bad frame; `fatal` when the stream cannot continue.
    Bad(FrameError),
    Closed,
}

/// Sends messages to the writer thread.
type Outbox = EventSink;

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
    let choice_path = config::choice_file(&paths.config_file());
    let chosen = ExtensionChoice::load(&choice_path).server_url;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fatal(ErrorCode::Internal, format!("cannot start the runtime: {e}")))?;

    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| fatal(ErrorCode::Internal, format!("cannot create an HTTP client: {e}")))?;
    let mut base = Base {
        device_name: config.device_name.clone().unwrap_or_else(default_device_name),
        configured_url: config.server_url.clone(),
        choice_path,
        chosen,
        store: Arc::new(Mutex::new(store)),
        vault: Arc::new(vault),
        http,
        outbox: outbox.clone(),
    };
    let inbound = spawn_reader();
    let result = runtime.block_on(async move {
        let url = config::server_for(base.chosen.as_deref(), &base.configured_url);
        let mut linked = base.link(url)?;
        let result = message_loop(inbound, &mut base, &mut linked, outbox).await;
        linked.stop();
        result
    });
    // Dropping the runtime cancels in-flight network calls; nothing there is unacknowledged.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

/// What outlives a change of server: the local store and vault, the HTTP
/// client, the way to the extension, and where the server came from.
struct Base {
    device_name: String,
    /// The server from `BATON_SERVER_URL`, `config.json` or the default.
    configured_url: String,
    choice_path: PathBuf,
    /// The extension's preference, as remembered.
    chosen: Option<String>,
    store: Arc<Mutex<Store>>,
    vault: Arc<Vault>,
    http: reqwest::Client,
    outbox: Outbox,
}

/// Everything bound to one server: the link, the sync engine and the
/// request context. Replaced whole when the server changes.
struct Linked {
    ctx: Arc<HostContext>,
    state: watch::Receiver<LinkState>,
    sync: watch::Receiver<SyncStatus>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Linked {
    fn stop(&self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

impl Base {
    /// Starts the link to `server_url` (registering there if this device
    /// is not yet known to it) and the sync engine. Needs the runtime.
    fn link(&self, server_url: String) -> Result<Linked, ProtocolError> {
        let device = lock(&self.store)?.device(&server_url).map_err(|e| fatal(ErrorCode::Storage, e.to_string()))?;
        let (state_tx, state_rx) =
            watch::channel(ServerLinkTask::initial_state(&server_url, device.as_ref().map(device_info)));
        let (push_tx, _) = broadcast::channel(256);
        let link = ServerLinkTask {
            server_url: server_url.clone(),
            device_name: self.device_name.clone(),
            store: self.store.clone(),
            vault: self.vault.clone(),
            state: state_tx,
            push: push_tx.clone(),
            silence: Duration::from_millis(SERVER_SILENCE_MS),
        };
        let ctx = Arc::new(HostContext::new(
            server_url,
            self.store.clone(),
            self.vault.clone(),
            self.http.clone(),
            self.outbox.clone(),
            push_tx,
            state_rx.clone(),
        ));
        let sync = ctx.sync_status.subscribe();
        let tasks = vec![
            tokio::spawn(link.run()),
            tokio::spawn(sync_engine::run(ctx.clone())),
            tokio::spawn(sync_engine::route_push(ctx.clone())),
        ];
        Ok(Linked { ctx, state: state_rx, sync, tasks })
    }

    /// `configure`: remembers the extension's preference and, when the
    /// server in force changes, moves everything to the new one. Co-browsing
    /// sessions cannot move (their relay and audit log are on the old
    /// server): they end, and both sides are told why.
    fn configure(&mut self, linked: &mut Linked, server_url: Option<&str>) -> Result<(), RequestError> {
        let chosen =
            config::preference(server_url).map_err(|e| RequestError::new(ErrorCode::InvalidRequest, e.to_string()))?;
        if chosen != self.chosen {
            ExtensionChoice { server_url: chosen.clone() }.save(&self.choice_path).map_err(RequestError::storage)?;
            self.chosen = chosen;
        }
        let target = config::server_for(self.chosen.as_deref(), &self.configured_url);
        if target == linked.ctx.server_url {
            return Ok(());
        }
        tracing::info!("the extension moves the server link from {} to {target}", linked.ctx.server_url);
        let next = self.link(target).map_err(|e| RequestError::new(e.code, e.message))?;
        crate::cobrowse::end_for_move(&linked.ctx);
        linked.stop();
        *linked = next;
        Ok(())
    }
}

fn lock(store: &Mutex<Store>) -> Result<std::sync::MutexGuard<'_, Store>, ProtocolError> {
    store.lock().map_err(|_| fatal(ErrorCode::Internal, "store lock poisoned"))
}

async fn message_loop(
    mut inbound: mpsc::Receiver<Inbound>,
    base: &mut Base,
    linked: &mut Linked,
    outbox: &Outbox,
) -> Result<(), ProtocolError> {
    loop {
        tokio::select! {
            item = inbound.recv() => match item {
                Some(Inbound::Frame(bytes)) => {
                    let reply = match Request::parse(&bytes) {
                        Ok(Request { id, body: RequestBody::Configure { server_url } }) => {
                            let before = linked.ctx.server_url.clone();
                            let reply = match base.configure(linked, server_url.as_deref()) {
                                Ok(()) => HostMessage::Ack { id },
                                Err(e) => e.reply(id),
                            };
                            if linked.ctx.server_url != before {
                                // A new link: the extension hears of it now, then of its changes.
                                let status = status_of(&linked.state.borrow_and_update(), &linked.sync.borrow_and_update());
                                outbox.send(HostMessage::Status { id: None, status });
                            }
                            Some(reply)
                        }
                        Ok(request) => {
                            // Clone, never hold a borrow: handlers publish to these channels.
                            let link = linked.state.borrow().clone();
                            let sync_status = linked.sync.borrow().clone();
                            handle(&linked.ctx, request, &link, &sync_status)
                        }
                        Err(e) => {
                            tracing::warn!("bad request: {e}");
                            Some(e.into_message())
                        }
                    };
                    if let Some(reply) = reply {
                        outbox.send(reply);
                    }
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
            changed = linked.state.changed() => {
                if changed.is_err() {
                    continue;
                }
                let status = status_of(&linked.state.borrow_and_update(), &linked.sync.borrow());
                outbox.send(HostMessage::Status { id: None, status });
            }
            changed = linked.sync.changed() => {
                if changed.is_err() {
                    continue;
                }
                let status = status_of(&linked.state.borrow(), &linked.sync.borrow_and_update());
                outbox.send(HostMessage::Status { id: None, status });
            }
        }
    }
}

/// Answers a request. Local work (ingest, queries) is answered at once and in
/// order; anything that waits on the server runs as its own task and replies
/// when done (`None` here).
fn handle(ctx: &Arc<HostContext>, request: Request, link: &LinkState, sync: &SyncStatus) -> Option<HostMessage> {
    let id = request.id;
    let local = |result: Result<HostMessage, RequestError>, id: Value| Some(result.unwrap_or_else(|e| e.reply(id)));
    match request.body {
        RequestBody::Ping => Some(HostMessage::Pong { id, version: VERSION.to_owned() }),
        RequestBody::Status => Some(HostMessage::Status { id: Some(id), status: status_of(link, sync) }),
        RequestBody::SessionSnapshot { windows, tabs } => local(
            ingest_with(ctx, |s, k| ingest::snapshot(s, k, windows, tabs))
                .map(|()| HostMessage::Ack { id: id.clone() }),
            id,
        ),
        RequestBody::TabHistory { history } => local(
            ingest_with(ctx, |s, k| ingest::tab_history(s, k, history)).map(|()| HostMessage::Ack { id: id.clone() }),
            id,
        ),
        RequestBody::PageState { page } => local(
            ingest_with(ctx, |s, k| ingest::page_state(s, k, page)).map(|()| HostMessage::Ack { id: id.clone() }),
            id,
        ),
        RequestBody::ListDevices => {
            let devices = ctx.store().and_then(|s| queries::list_devices(&s));
            local(devices.map(|devices| HostMessage::Devices { id: id.clone(), devices }), id)
        }
        RequestBody::TabDetails { device_id, tab_id } => {
            let details = ctx.store().and_then(|s| queries::tab_details(&s, &device_id, tab_id));
            local(details.map(|(history, page)| HostMessage::TabDetails { id: id.clone(), history, page }), id)
        }
        RequestBody::SendTab { device_id, url, title } => spawn_reply(ctx, id, |ctx, id| async move {
            let send_id = send_tab::send(&ctx, &device_id, url, title).await?;
            Ok(HostMessage::TabSent { id, send_id })
        }),
        RequestBody::TabOpened { send_id } => spawn_reply(ctx, id, |ctx, id| async move {
            send_tab::opened(&ctx, &send_id).await?;
            Ok(HostMessage::Ack { id })
        }),
        RequestBody::PairStart => spawn_reply(ctx, id, |ctx, id| async move {
            let (code, expires_ms) = pairing::start(ctx).await?;
            Ok(HostMessage::PairCode { id, code, expires_ms })
        }),
        RequestBody::PairJoin { code } => spawn_reply(ctx, id, |ctx, id| async move {
            let account_id = pairing::join(&ctx, &code).await?;
            Ok(HostMessage::Paired { id, account_id })
        }),
        RequestBody::SyncNow => spawn_reply(ctx, id, |ctx, id| async move {
            sync_engine::sync_once(&ctx).await?;
            Ok(HostMessage::Ack { id })
        }),
        RequestBody::ShareStart => spawn_reply(ctx, id, |ctx, id| async move {
            let (session_id, code, expires_ms) = cobrowse::share_start(ctx).await?;
            Ok(HostMessage::ShareStarted { id, session_id, code, expires_ms })
        }),
        RequestBody::OperatorJoin { code } => spawn_reply(ctx, id, |ctx, id| async move {
            let (session_id, visitor_name) = cobrowse::operator_join(ctx, &code).await?;
            Ok(HostMessage::OperatorJoined { id, session_id, visitor_name })
        }),
        // The frame path: queued (encryption and the network happen elsewhere), then acknowledged.
        RequestBody::CobrowseSend { session_id, frame } => {
            local(cobrowse::send(ctx, &session_id, frame).map(|()| HostMessage::Ack { id: id.clone() }), id)
        }
        RequestBody::ShareRespond { session_id, approve, record } => local(
            cobrowse::respond(ctx, &session_id, approve, record).map(|()| HostMessage::Ack { id: id.clone() }),
            id,
        ),
        RequestBody::CobrowseAudit { session_id, event } => {
            local(cobrowse::audit(ctx, &session_id, event).map(|()| HostMessage::Ack { id: id.clone() }), id)
        }
        RequestBody::CobrowseEnd { session_id } if cobrowse::holds(ctx, &session_id) => {
            local(cobrowse::end(ctx, &session_id).map(|()| HostMessage::Ack { id: id.clone() }), id)
        }
        RequestBody::CobrowseEnd { session_id } => spawn_reply(ctx, id, |ctx, id| async move {
            cobrowse::end_not_held(ctx, &session_id).await?;
            Ok(HostMessage::Ack { id })
        }),
        RequestBody::CobrowseSessions => Some(HostMessage::CobrowseSessions { id, sessions: ctx.cobrowse.live() }),
        RequestBody::RecordingFetch { session_id, after } => spawn_reply(ctx, id, |ctx, id| async move {
            let (frames, next) = cobrowse::recording(ctx, &session_id, after).await?;
            Ok(HostMessage::Recording { id, session_id, frames, next })
        }),
        // Handled by the loop, which owns the link it may replace.
        RequestBody::Configure { .. } => {
            Some(RequestError::new(ErrorCode::Internal, "configure reached the request handlers").reply(id))
        }
    }
}

/// Stores captured state; the reply (an ack) is only sent once it is durable.
fn ingest_with(
    ctx: &HostContext,
    f: impl FnOnce(&mut Store, &crate::crypto::AccountKeys) -> Result<usize, ingest::IngestError>,
) -> Result<(), RequestError> {
    let keys = ctx.keys()?;
    let changed = f(&mut *ctx.store()?, &keys).map_err(|e| match e {
        ingest::IngestError::TooLarge { .. } => RequestError::new(ErrorCode::InvalidRequest, e.to_string()),
        ingest::IngestError::Crypto(_) => RequestError::new(ErrorCode::Internal, e.to_string()),
        ingest::IngestError::Store(_) => RequestError::storage(e),
    })?;
    if changed > 0 {
        ctx.refresh_status();
        ctx.sync_wake.notify_one();
    }
    Ok(())
}

fn spawn_reply<F, Fut>(ctx: &Arc<HostContext>, id: Value, f: F) -> Option<HostMessage>
where
    F: FnOnce(Arc<HostContext>, Value) -> Fut,
    Fut: std::future::Future<Output = Result<HostMessage, RequestError>> + Send + 'static,
{
    let events = ctx.events.clone();
    let fut = f(ctx.clone(), id.clone());
    tokio::spawn(async move {
        let reply = fut.await.unwrap_or_else(|e| e.reply(id));
        events.send(reply);
    });
    None
}

fn status_of(state: &LinkState, sync: &SyncStatus) -> HostStatus {
    HostStatus {
        host: HostInfo { version: VERSION.to_owned() },
        server: state.server.clone(),
        device: state.device.clone(),
        sync: sync.clone(),
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
    (EventSink(tx), handle)
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
