//! Extension pages (popup, panel) talk to the worker over runtime ports
//! named [`UI_PORT`]: they receive the [`View`] on every change and host
//! events, and send [`UiRequest`]s.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use baton_shared::limits::CONSOLE_GONE_MS;
use baton_shared::native::{CobrowseEvent, HostMessage, RequestBody};

use crate::chrome::{self, Port};
use crate::view::{Action, UiEvent, UiRequest, View, UI_PORT};
use crate::worker::host;

type Listener = Closure<dyn FnMut(JsValue)>;

thread_local! {
    static PORTS: RefCell<Vec<Port>> = const { RefCell::new(Vec::new()) };
    static REGISTERED: RefCell<bool> = const { RefCell::new(false) };
    /// The operator session each console port shows.
    static SHOWN: RefCell<Vec<(Port, String)>> = const { RefCell::new(Vec::new()) };
}

/// A page connected: send it the view now and on every change.
pub fn on_connect(port: Port) {
    if port.name() != UI_PORT {
        return;
    }
    REGISTERED.with(|r| {
        if !r.replace(true) {
            host::on_view_change(broadcast_view);
            host::on_link_lost(consoles_lost);
        }
    });
    let reply_port = port.clone_port();
    let on_message: Listener = Closure::new(move |msg: JsValue| on_ui_message(&reply_port, msg));
    port.on_message_fn(&on_message);
    on_message.forget(); // lives as long as the page; pages open rarely
    let key = port.clone_port();
    let on_disconnect: Listener = Closure::new(move |_: JsValue| {
        let _ = chrome::last_error();
        PORTS.with(|p| p.borrow_mut().retain(|p| !p.is_same(&key)));
        for session_id in show(&key, None) {
            end_unless_shown_again(session_id);
        }
    });
    port.on_disconnect_fn(&on_disconnect);
    on_disconnect.forget();
    port.send(&UiEvent::View(host::view()));
    let sessions = SHOWN.with(|shown| shown.borrow().iter().map(|(_, id)| id.clone()).collect());
    port.send(&UiEvent::Consoles { sessions });
    PORTS.with(|p| p.borrow_mut().push(port));
}

/// Records what `port` shows now; returns the sessions it no longer shows.
fn show(port: &Port, session_id: Option<String>) -> Vec<String> {
    SHOWN.with(|shown| {
        let mut shown = shown.borrow_mut();
        let (was, kept): (Vec<_>, Vec<_>) = shown.drain(..).partition(|(p, _)| p.is_same(port));
        *shown = kept;
        if let Some(id) = session_id.clone() {
            shown.push((port.clone_port(), id));
        }
        was.into_iter().map(|(_, id)| id).filter(|id| Some(id) != session_id.as_ref()).collect()
    })
}

/// The host went away, and the sessions it held with it: consoles showing
/// one hear that it ended, and why; the next host ends it at the server.
fn consoles_lost() {
    let mut sessions: Vec<String> = SHOWN.with(|shown| shown.borrow_mut().drain(..).map(|(_, id)| id).collect());
    sessions.sort();
    sessions.dedup();
    for session_id in sessions {
        let event = CobrowseEvent::Ended { reason: Some("the Baton app on this computer stopped".into()) };
        forward_host_event(&HostMessage::Cobrowse { session_id: session_id.clone(), event });
        host::notify_when_connected(RequestBody::CobrowseEnd { session_id });
    }
}

fn is_shown(session_id: &str) -> bool {
    SHOWN.with(|shown| shown.borrow().iter().any(|(_, id)| id == session_id))
}

/// The last console showing an operator session went away: unless one
/// shows it again within [`CONSOLE_GONE_MS`] (a reload), the session ends.
fn end_unless_shown_again(session_id: String) {
    if is_shown(&session_id) {
        return;
    }
    let check = Closure::once_into_js(move || {
        if !is_shown(&session_id) {
            chrome::log(&format!("baton: ending co-browsing session {session_id}: its console was closed"));
            host::notify_when_connected(RequestBody::CobrowseEnd { session_id });
        }
    });
    chrome::set_timeout(check.unchecked_ref(), CONSOLE_GONE_MS as i32);
}

fn on_ui_message(port: &Port, raw: JsValue) {
    let request = match chrome::from_js::<UiRequest>(&raw) {
        Ok(r) => r,
        Err(e) => return chrome::log(&format!("baton: ignoring a malformed UI request: {e}")),
    };
    match request {
        UiRequest::Reconnect => host::reconnect_now(),
        // A console moves on only from a session that ended: nothing to end.
        UiRequest::Operating { session_id } => {
            show(port, session_id);
        }
        UiRequest::Host { rid, request } => {
            let port = port.clone_port();
            wasm_bindgen_futures::spawn_local(async move {
                let reply = match host::request(request).await {
                    Ok(reply) => reply,
                    Err(e) => HostMessage::Error { id: serde_json::Value::Null, code: e.code, message: e.message },
                };
                port.send(&UiEvent::HostReply { rid, reply });
            });
        }
        UiRequest::Action { rid, action } => {
            let port = port.clone_port();
            wasm_bindgen_futures::spawn_local(async move {
                use crate::cobrowse::visitor::worker as sharing;
                let result = match action {
                    Action::OpenRemoteTab { device_id, tab_id } => {
                        crate::restore::open_remote_tab(&device_id, tab_id).await
                    }
                    Action::ContinueWindow { device_id, window_id } => {
                        crate::restore::continue_window(&device_id, window_id).await
                    }
                    Action::OpenUrl { url } => crate::restore::open_url(&url).await,
                    Action::ShareTab { tab_id } => sharing::share(tab_id).await,
                    Action::StopSharing { tab_id } => sharing::stop_sharing(tab_id),
                };
                port.send(&UiEvent::ActionDone { rid, error: result.err() });
            });
        }
    }
}

fn broadcast_view(view: &View) {
    broadcast(&UiEvent::View(view.clone()));
}

/// Host events (remote changes, deliveries) go to every open page.
pub fn forward_host_event(message: &HostMessage) {
    broadcast(&UiEvent::HostEvent { event: message.clone() });
}

fn broadcast(event: &UiEvent) {
    let ports = PORTS.with(|p| p.borrow().iter().map(Port::clone_port).collect::<Vec<_>>());
    for port in ports {
        port.send(event);
    }
}
