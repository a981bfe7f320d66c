//! A page's link to the service worker over the [`UI_PORT`] runtime port:
//! host requests and browser actions as async calls correlated by `rid`,
//! and a callback for the view and host events.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use baton_shared::native::{ErrorCode, HostMessage, RequestBody};

use crate::chrome::{self, Port};
use crate::view::{Action, UiEvent, UiRequest, View, UI_PORT};

/// What the worker tells a page besides replies.
pub enum PageEvent {
    View(View),
    Host(HostMessage),
    /// The operator sessions console pages show (told on connecting).
    Consoles(Vec<String>),
    /// The port closed (the extension reloaded); the page must be reopened.
    Lost,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientError {
    /// The host answered with an error.
    Host { code: ErrorCode, message: String },
    /// A browser action failed, in words for the user.
    Action(String),
    /// The worker went away before answering.
    Lost,
    /// The worker answered something this page does not understand.
    Malformed(String),
}

impl ClientError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Host { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Host { message, .. } => f.write_str(message),
            Self::Action(message) => f.write_str(message),
            Self::Lost => f.write_str("The Baton extension restarted; reopen this page"),
            Self::Malformed(why) => write!(f, "Unexpected answer from the extension: {why}"),
        }
    }
}

struct Inner {
    port: Port,
    next_rid: Cell<u64>,
    /// rid → resolve of the caller's promise; resolved with the raw event,
    /// or with `null` when the port closed.
    pending: RefCell<HashMap<u64, js_sys::Function>>,
    lost: Cell<bool>,
}

/// Cheap to clone; every clone shares the one port.
#[derive(Clone)]
pub struct Client(Rc<Inner>);

type Listener = Closure<dyn FnMut(JsValue)>;

/// Opens the port. `on_event` runs for every view and host event.
pub fn connect(on_event: impl FnMut(PageEvent) + 'static) -> Client {
    let info = chrome::to_js(&serde_json::json!({ "name": UI_PORT })).unwrap_or(JsValue::NULL);
    let inner = Rc::new(Inner {
        port: chrome::connect(&info),
        next_rid: Cell::new(1),
        pending: RefCell::new(HashMap::new()),
        lost: Cell::new(false),
    });
    let on_event = Rc::new(RefCell::new(on_event));

    let (me, events) = (inner.clone(), on_event.clone());
    let on_message: Listener = Closure::new(move |raw: JsValue| {
        let event = match chrome::from_js::<UiEvent>(&raw) {
            Ok(event) => event,
            Err(e) => return chrome::log(&format!("baton: malformed message from the worker: {e}")),
        };
        match event {
            UiEvent::HostReply { rid, .. } | UiEvent::ActionDone { rid, .. } => {
                let resolve = me.pending.borrow_mut().remove(&rid);
                if let Some(resolve) = resolve {
                    let _ = resolve.call1(&JsValue::NULL, &raw);
                }
            }
            UiEvent::View(view) => (events.borrow_mut())(PageEvent::View(view)),
            UiEvent::HostEvent { event } => (events.borrow_mut())(PageEvent::Host(event)),
            UiEvent::Consoles { sessions } => (events.borrow_mut())(PageEvent::Consoles(sessions)),
        }
    });
    inner.port.on_message_fn(&on_message);
    on_message.forget(); // lives as long as the page

    let me = inner.clone();
    let on_gone: Listener = Closure::new(move |_: JsValue| {
        let _ = chrome::last_error();
        me.lost.set(true);
        let pending: Vec<js_sys::Function> = me.pending.borrow_mut().drain().map(|(_, f)| f).collect();
        for resolve in pending {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::NULL);
        }
        (on_event.borrow_mut())(PageEvent::Lost);
    });
    inner.port.on_disconnect_fn(&on_gone);
    on_gone.forget();
    Client(inner)
}

impl Client {
    /// Sends a request to the host through the worker; an `error` reply is an `Err`.
    pub async fn host(&self, request: RequestBody) -> Result<HostMessage, ClientError> {
        match self.round_trip(|rid| UiRequest::Host { rid, request }).await? {
            UiEvent::HostReply { reply: HostMessage::Error { code, message, .. }, .. } => {
                Err(ClientError::Host { code, message })
            }
            UiEvent::HostReply { reply, .. } => Ok(reply),
            other => Err(ClientError::Malformed(format!("{other:?}"))),
        }
    }

    /// Asks the worker to do something in the browser (open or restore tabs).
    pub async fn action(&self, action: Action) -> Result<(), ClientError> {
        match self.round_trip(|rid| UiRequest::Action { rid, action }).await? {
            UiEvent::ActionDone { error: None, .. } => Ok(()),
            UiEvent::ActionDone { error: Some(e), .. } => Err(ClientError::Action(e)),
            other => Err(ClientError::Malformed(format!("{other:?}"))),
        }
    }

    /// Try to reach the host now instead of waiting for the backoff.
    pub fn reconnect(&self) {
        self.0.port.send(&UiRequest::Reconnect);
    }

    /// Tells the worker which operator session this page shows, so that
    /// closing the page (and not coming back) ends it.
    pub fn operating(&self, session_id: Option<&str>) {
        self.0.port.send(&UiRequest::Operating { session_id: session_id.map(str::to_owned) });
    }

    async fn round_trip(&self, request: impl FnOnce(u64) -> UiRequest) -> Result<UiEvent, ClientError> {
        let inner = &self.0;
        if inner.lost.get() {
            return Err(ClientError::Lost);
        }
        let rid = inner.next_rid.get();
        inner.next_rid.set(rid + 1);
        let mut resolver = None;
        let promise = js_sys::Promise::new(&mut |resolve, _reject| resolver = Some(resolve));
        let Some(resolve) = resolver else { return Err(ClientError::Lost) };
        inner.pending.borrow_mut().insert(rid, resolve);
        if !inner.port.send(&request(rid)) {
            inner.pending.borrow_mut().remove(&rid);
            return Err(ClientError::Lost);
        }
        let raw = JsFuture::from(promise).await.map_err(|_| ClientError::Lost)?;
        if raw.is_null() {
            return Err(ClientError::Lost);
        }
        chrome::from_js::<UiEvent>(&raw).map_err(ClientError::Malformed)
    }
}
