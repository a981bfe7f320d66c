//! The service worker: owns the native messaging port to `baton-host`,
//! reconnects with backoff when it goes away, and keeps every open UI page
//! told of the current [`View`].

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use baton_shared::chunk::Reassembler;
use baton_shared::ids::HOST_NAME;
use baton_shared::limits::backoff_ms;
use baton_shared::native::HostMessage;

use crate::chrome::{self, Port};
use crate::view::{HostState, UiRequest, View};

type Listener = Closure<dyn FnMut(JsValue)>;

struct Worker {
    view: View,
    host: Option<HostPort>,
    attempt: u32,
    retry_timer: Option<i32>,
    /// The host's last connection-level error (`id: null`), shown if it then exits.
    last_host_error: Option<String>,
    reassembler: Reassembler,
    next_request_id: u64,
    ui_ports: Vec<Port>,
}

/// The port and the listeners attached to it, dropped together.
struct HostPort {
    port: Port,
    generation: u64,
    _listeners: [Listener; 2],
}

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::new(Worker {
        view: View { host: HostState::Connecting, host_error: None, retry_in_ms: None, status: None },
        host: None,
        attempt: 0,
        retry_timer: None,
        last_host_error: None,
        reassembler: Reassembler::default(),
        next_request_id: 0,
        ui_ports: Vec::new(),
    });
    static GENERATION: RefCell<u64> = const { RefCell::new(0) };
    /// Kept alive for the worker's lifetime; rescheduled, never re-created.
    static RETRY: Listener = Closure::new(|_: JsValue| connect_host());
}

pub fn start() {
    chrome::log("baton: service worker started");
    connect_host();
}

fn with<R>(f: impl FnOnce(&mut Worker) -> R) -> R {
    WORKER.with(|w| f(&mut w.borrow_mut()))
}

fn connect_host() {
    let generation = GENERATION.with(|g| {
        *g.borrow_mut() += 1;
        *g.borrow()
    });
    let port = chrome::connect_native(HOST_NAME);
    let on_message: Listener = Closure::new(move |msg: JsValue| on_host_message(generation, msg));
    let on_disconnect: Listener = Closure::new(move |_: JsValue| on_host_disconnect(generation));
    port.on_message_fn(&on_message);
    port.on_disconnect_fn(&on_disconnect);
    let id = with(|w| {
        w.retry_timer = None;
        w.next_request_id += 1;
        w.last_host_error = None;
        w.reassembler = Reassembler::default();
        w.view = View { host: HostState::Connecting, host_error: None, retry_in_ms: None, status: None };
        // Replacing the old port drops its listeners; it has already disconnected.
        w.host = Some(HostPort { port: port.clone_port(), generation, _listeners: [on_message, on_disconnect] });
        w.next_request_id
    });
    send_to_host(&serde_json::json!({"type": "status", "id": id}));
    broadcast();
}

fn send_to_host(message: &serde_json::Value) {
    let port = with(|w| w.host.as_ref().map(|h| h.port.clone_port()));
    if let Some(port) = port {
        port.send(message);
    }
}

fn on_host_message(generation: u64, raw: JsValue) {
    if !is_current(generation) {
        return;
    }
    let message: HostMessage = match chrome::from_js(&raw) {
        Ok(m) => m,
        Err(e) => {
            chrome::log(&format!("baton: ignoring a malformed message from the host: {e}"));
            return;
        }
    };
    let message = match message {
        HostMessage::Chunk(frame) => match with(|w| w.reassembler.push(frame)) {
            Ok(Some(text)) => match serde_json::from_str(&text) {
                Ok(m) => m,
                Err(e) => return chrome::log(&format!("baton: reassembled message is malformed: {e}")),
            },
            Ok(None) => return,
            Err(e) => return chrome::log(&format!("baton: dropped a chunked message: {e}")),
        },
        other => other,
    };
    with(|w| {
        // Any message proves the host is up and speaking our protocol.
        w.attempt = 0;
        w.view.host = HostState::Connected;
        w.view.host_error = None;
        match message {
            HostMessage::Status { status, .. } => w.view.status = Some(status),
            HostMessage::Error { id: serde_json::Value::Null, code, message } => {
                chrome::log(&format!("baton: host error {code}: {message}"));
                w.last_host_error = Some(message);
            }
            HostMessage::Error { code, message, .. } => {
                chrome::log(&format!("baton: request failed {code}: {message}"));
            }
            _ => {}
        }
    });
    broadcast();
}

fn on_host_disconnect(generation: u64) {
    let reason = chrome::last_error();
    if !is_current(generation) {
        return;
    }
    let delay = with(|w| {
        let delay = backoff_ms(w.attempt);
        w.attempt = w.attempt.saturating_add(1);
        let why = w
            .last_host_error
            .take()
            .or(reason)
            .unwrap_or_else(|| "the Baton app closed the connection".to_owned());
        chrome::log(&format!("baton: host disconnected ({why}); retrying in {delay} ms"));
        w.view = View { host: HostState::Disconnected, host_error: Some(why), retry_in_ms: Some(delay), status: None };
        delay
    });
    schedule_retry(delay);
    broadcast();
}

fn schedule_retry(delay: u32) {
    let handle = RETRY.with(|f| chrome::set_timeout(f.as_ref().unchecked_ref(), delay as i32));
    with(|w| {
        if let Some(old) = w.retry_timer.replace(handle) {
            chrome::clear_timeout(old);
        }
    });
}

fn is_current(generation: u64) -> bool {
    with(|w| w.host.as_ref().map(|h| h.generation) == Some(generation))
}

/// A UI page connected: send it the view now and on every change.
pub fn on_ui_connect(port: Port) {
    if port.name() != crate::view::UI_PORT {
        return;
    }
    let on_message: Listener = Closure::new(|msg: JsValue| on_ui_message(msg));
    port.on_message_fn(&on_message);
    on_message.forget(); // lives as long as the page; pages open rarely
    let key = port.clone_port();
    let on_disconnect: Listener = Closure::new(move |_: JsValue| {
        let _ = chrome::last_error();
        with(|w| w.ui_ports.retain(|p| !p.is_same(&key)));
    });
    port.on_disconnect_fn(&on_disconnect);
    on_disconnect.forget();
    let view = with(|w| w.view.clone());
    port.send(&view);
    with(|w| w.ui_ports.push(port));
}

fn on_ui_message(raw: JsValue) {
    match chrome::from_js::<UiRequest>(&raw) {
        Ok(UiRequest::Reconnect) => {
            let disconnected = with(|w| {
                let idle = w.view.host == HostState::Disconnected;
                if idle {
                    w.attempt = 0;
                    if let Some(t) = w.retry_timer.take() {
                        chrome::clear_timeout(t);
                    }
                }
                idle
            });
            if disconnected {
                connect_host();
            }
        }
        Err(e) => chrome::log(&format!("baton: ignoring a malformed UI request: {e}")),
    }
}

fn broadcast() {
    let (view, ports) = with(|w| (w.view.clone(), w.ui_ports.iter().map(Port::clone_port).collect::<Vec<_>>()));
    for port in ports {
        port.send(&view);
    }
}

impl Port {
    fn clone_port(&self) -> Port {
        JsValue::clone(self).unchecked_into()
    }

    fn is_same(&self, other: &Port) -> bool {
        JsValue::from(self.clone_port()) == JsValue::from(other.clone_port())
    }
}
