//! The native messaging port to `baton-host`.
//!
//! One port at a time. Requests get a fresh id; their replies resolve the
//! matching future. Messages without a request id are events, handed to
//! every subscriber. When the port drops, pending requests fail and a
//! reconnect is scheduled with backoff.
//!
//! The host is told the settings that concern it (`configure`: the server
//! URL from policy or the person) after every connection and whenever the
//! settings change.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::Value;
use wasm_bindgen::prelude::*;

use baton_shared::chunk::Reassembler;
use baton_shared::ids::HOST_NAME;
use baton_shared::limits::backoff_ms;
use baton_shared::native::{ErrorCode, HostMessage, RequestBody};

use crate::chrome::{self, Port};
use crate::view::{HostState, View};

type Listener = Closure<dyn FnMut(JsValue)>;
type Subscriber = fn(&HostMessage);

/// Why a request to the host failed.
#[derive(Debug, Clone, PartialEq)]
pub struct HostError {
    pub code: ErrorCode,
    pub message: String,
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

struct Link {
    view: View,
    port: Option<HostPort>,
    attempt: u32,
    retry_timer: Option<i32>,
    /// The host's last connection-level error (`id: null`), shown if it then exits.
    last_host_error: Option<String>,
    reassembler: Reassembler,
    next_request_id: u64,
    /// Request id → (resolve, reject) of the caller's promise.
    pending: HashMap<u64, (js_sys::Function, js_sys::Function)>,
    subscribers: Vec<Subscriber>,
    /// Called whenever `view` changes.
    on_view: Vec<fn(&View)>,
    /// Called when the link drops.
    on_lost: Vec<fn()>,
    /// Requests for the next host once it is connected.
    deferred: Vec<RequestBody>,
}

/// The port and the listeners attached to it, dropped together.
struct HostPort {
    port: Port,
    generation: u64,
    _listeners: [Listener; 2],
}

thread_local! {
    static LINK: RefCell<Link> = RefCell::new(Link {
        view: View { host: HostState::Connecting, host_error: None, retry_in_ms: None, status: None },
        port: None,
        attempt: 0,
        retry_timer: None,
        last_host_error: None,
        reassembler: Reassembler::default(),
        next_request_id: 0,
        pending: HashMap::new(),
        subscribers: Vec::new(),
        on_lost: Vec::new(),
        deferred: Vec::new(),
        on_view: Vec::new(),
    });
    static GENERATION: RefCell<u64> = const { RefCell::new(0) };
    /// Kept alive for the worker's lifetime; rescheduled, never re-created.
    static RETRY: Listener = Closure::new(|_: JsValue| connect());
    /// The server URL preference the current port was told (`None`: not yet).
    static CONFIGURED: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
    /// Settings changes are followed once per worker.
    static FOLLOWING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Tells the host the server URL the settings name (`None`: the host's own
/// configuration decides), unless this port has already been told it.
fn configure(server_url: Option<String>) {
    let connected = with(|l| l.port.is_some());
    let unchanged = CONFIGURED.with(|c| c.borrow().as_ref() == Some(&server_url));
    if !connected || unchanged {
        return;
    }
    CONFIGURED.with(|c| *c.borrow_mut() = Some(server_url.clone()));
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = request(RequestBody::Configure { server_url: server_url.clone() }).await {
            chrome::log(&format!("baton: the Baton app did not take the server URL {server_url:?}: {e}"));
            // Told nothing: try again on the next connection or change.
            CONFIGURED.with(|c| {
                if c.borrow().as_ref() == Some(&server_url) {
                    *c.borrow_mut() = None;
                }
            });
        }
    });
}

/// Reads the settings and configures the host; unreadable settings tell it
/// nothing (it keeps the last preference it was given).
fn configure_from_settings() {
    wasm_bindgen_futures::spawn_local(async {
        match crate::settings::load().await {
            Ok(e) => configure(e.settings.server_url.clone()),
            Err(e) => chrome::log(&format!("baton: {e}; the Baton app keeps its server")),
        }
    });
}

fn follow_settings() {
    if FOLLOWING.with(|f| f.replace(true)) {
        return;
    }
    crate::settings::watch(|e| configure(e.settings.server_url.clone()));
}

fn with<R>(f: impl FnOnce(&mut Link) -> R) -> R {
    LINK.with(|l| f(&mut l.borrow_mut()))
}

/// Receive every host event (messages that answer no request).
pub fn subscribe(subscriber: Subscriber) {
    with(|l| l.subscribers.push(subscriber));
}

/// Be told when the host link drops: the host process is gone, and with it
/// every co-browsing session it held (they live in its memory only).
pub fn on_link_lost(f: fn()) {
    with(|l| l.on_lost.push(f));
}

/// Be told whenever the host link's [`View`] changes.
pub fn on_view_change(f: fn(&View)) {
    with(|l| l.on_view.push(f));
}

pub fn view() -> View {
    with(|l| l.view.clone())
}

/// Sends a request and waits for its reply. A reply of type `error`
/// becomes `Err`; so does losing the host before it answers.
pub async fn request(body: RequestBody) -> Result<HostMessage, HostError> {
    let not_connected = || HostError { code: ErrorCode::Internal, message: "the Baton app is not connected".into() };
    let port = with(|l| l.port.as_ref().map(|p| p.port.clone_port())).ok_or_else(not_connected)?;
    let id = with(|l| {
        l.next_request_id += 1;
        l.next_request_id
    });
    let mut message =
        serde_json::to_value(&body).map_err(|e| HostError { code: ErrorCode::Internal, message: e.to_string() })?;
    message["id"] = Value::from(id);
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        with(|l| l.pending.insert(id, (resolve, reject)));
    });
    if !port.send(&message) {
        with(|l| l.pending.remove(&id));
        return Err(not_connected());
    }
    let reply = wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|e| HostError {
        code: ErrorCode::Internal,
        message: e.as_string().unwrap_or_else(|| "the Baton app went away".into()),
    })?;
    let reply: HostMessage =
        chrome::from_js(&reply).map_err(|e| HostError { code: ErrorCode::Internal, message: e })?;
    match reply {
        HostMessage::Error { code, message, .. } => Err(HostError { code, message }),
        other => Ok(other),
    }
}

/// Sends a request whose reply nobody waits for (capture updates).
pub fn notify(body: RequestBody) {
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = request(body).await {
            chrome::log(&format!("baton: host request failed: {e}"));
        }
    });
}

/// Like [`notify`], but a request made while the host is away waits for
/// the next one to connect (ending sessions the old one lost).
pub fn notify_when_connected(body: RequestBody) {
    let now = with(|l| {
        let connected = l.view.host == HostState::Connected && l.port.is_some();
        if !connected {
            l.deferred.push(body.clone());
        }
        connected
    });
    if now {
        notify(body);
    }
}

/// Connects now (also used by "Retry now"): resets the backoff.
pub fn reconnect_now() {
    let idle = with(|l| {
        let idle = l.view.host == HostState::Disconnected;
        if idle {
            l.attempt = 0;
            if let Some(t) = l.retry_timer.take() {
                chrome::clear_timeout(t);
            }
        }
        idle
    });
    if idle {
        connect();
    }
}

pub fn connect() {
    let generation = GENERATION.with(|g| {
        *g.borrow_mut() += 1;
        *g.borrow()
    });
    let port = chrome::connect_native(HOST_NAME);
    let on_message: Listener = Closure::new(move |msg: JsValue| on_host_message(generation, msg));
    let on_disconnect: Listener = Closure::new(move |_: JsValue| on_host_disconnect(generation));
    port.on_message_fn(&on_message);
    port.on_disconnect_fn(&on_disconnect);
    with(|l| {
        l.retry_timer = None;
        l.last_host_error = None;
        l.reassembler = Reassembler::default();
        l.view = View { host: HostState::Connecting, host_error: None, retry_in_ms: None, status: None };
        // Replacing the old port drops its listeners; it has already disconnected.
        l.port = Some(HostPort { port, generation, _listeners: [on_message, on_disconnect] });
    });
    CONFIGURED.with(|c| *c.borrow_mut() = None);
    // First, so the host links to the right server before anything else.
    configure_from_settings();
    follow_settings();
    view_changed();
    wasm_bindgen_futures::spawn_local(async {
        if let Ok(HostMessage::Status { status, .. }) = request(RequestBody::Status).await {
            with(|l| l.view.status = Some(status));
            view_changed();
        }
    });
}

fn on_host_message(generation: u64, raw: JsValue) {
    if !is_current(generation) {
        return;
    }
    let message: HostMessage = match chrome::from_js(&raw) {
        Ok(m) => m,
        Err(e) => return chrome::log(&format!("baton: ignoring a malformed message from the host: {e}")),
    };
    let message = match message {
        HostMessage::Chunk(frame) => match with(|l| l.reassembler.push(frame)) {
            Ok(Some(text)) => match serde_json::from_str(&text) {
                Ok(m) => m,
                Err(e) => return chrome::log(&format!("baton: reassembled message is malformed: {e}")),
            },
            Ok(None) => return,
            Err(e) => return chrome::log(&format!("baton: dropped a chunked message: {e}")),
        },
        other => other,
    };
    // Any message proves the host is up and speaking our protocol.
    let was_connected = with(|l| {
        let was = l.view.host == HostState::Connected;
        l.attempt = 0;
        l.view.host = HostState::Connected;
        l.view.host_error = None;
        was
    });
    let mut changed = !was_connected;
    if !was_connected {
        for body in with(|l| std::mem::take(&mut l.deferred)) {
            notify(body);
        }
    }

    let reply_to = message.reply_id().as_u64();
    if let Some(waiter) = reply_to.and_then(|id| with(|l| l.pending.remove(&id))) {
        if let Some(value) = chrome::to_js(&message) {
            let _ = waiter.0.call1(&JsValue::NULL, &value);
        }
    } else {
        match &message {
            HostMessage::Status { status, .. } => {
                with(|l| l.view.status = Some(status.clone()));
                changed = true;
            }
            HostMessage::Error { code, message: text, .. } => {
                chrome::log(&format!("baton: host error {code}: {text}"));
                with(|l| l.last_host_error = Some(text.clone()));
            }
            _ => {}
        }
        let subscribers = with(|l| l.subscribers.clone());
        for s in subscribers {
            s(&message);
        }
    }
    if changed {
        view_changed();
    }
}

fn on_host_disconnect(generation: u64) {
    let reason = chrome::last_error();
    if !is_current(generation) {
        return;
    }
    let (delay, pending) = with(|l| {
        let delay = backoff_ms(l.attempt);
        l.attempt = l.attempt.saturating_add(1);
        let why =
            l.last_host_error.take().or(reason).unwrap_or_else(|| "the Baton app closed the connection".to_owned());
        chrome::log(&format!("baton: host disconnected ({why}); retrying in {delay} ms"));
        l.view = View { host: HostState::Disconnected, host_error: Some(why), retry_in_ms: Some(delay), status: None };
        (delay, std::mem::take(&mut l.pending))
    });
    for (_, (_, reject)) in pending {
        let _ = reject.call1(&JsValue::NULL, &JsValue::from_str("the Baton app went away before answering"));
    }
    schedule_retry(delay);
    view_changed();
    for f in with(|l| l.on_lost.clone()) {
        f();
    }
}

fn schedule_retry(delay: u32) {
    let handle = RETRY.with(|f| chrome::set_timeout(f.as_ref().unchecked_ref(), delay as i32));
    with(|l| {
        if let Some(old) = l.retry_timer.replace(handle) {
            chrome::clear_timeout(old);
        }
    });
}

fn is_current(generation: u64) -> bool {
    with(|l| l.port.as_ref().map(|p| p.generation) == Some(generation))
}

fn view_changed() {
    let (view, listeners) = with(|l| (l.view.clone(), l.on_view.clone()));
    for f in listeners {
        f(&view);
    }
}
