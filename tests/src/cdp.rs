//! A small Chrome DevTools Protocol client over WebSocket.
//!
//! One connection to the browser endpoint carries everything: targets are
//! reached through flattened sessions (`Target.attachToTarget` with
//! `flatten: true`), so commands and events carry a `sessionId`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a single command may take unless the caller says otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between evaluations while polling.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longest rendering of a value kept in error reports.
const MAX_REPORTED_VALUE: usize = 2000;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Reply = Result<Value, CdpError>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum CdpError {
    #[error("cannot connect to DevTools at {url}: {message}")]
    Connect { url: String, message: String },

    #[error("DevTools connection closed")]
    Closed,

    #[error("{method} got no reply within {after:?}")]
    Timeout { method: String, after: Duration },

    #[error("{method} failed: {message} (code {code})")]
    Command { method: String, code: i64, message: String },

    #[error("malformed DevTools message: {0}")]
    Malformed(String),

    #[error("JavaScript exception: {text}{}", description.as_deref().map(|d| format!(" — {d}")).unwrap_or_default())]
    JsException { text: String, description: Option<String> },

    #[error("timed out after {after:?} waiting for {what}; last seen: {last}")]
    WaitTimeout { what: String, after: Duration, last: String },
}

/// A protocol event, with the session it came from (None: the browser).
#[derive(Debug, Clone)]
pub struct Event {
    pub method: String,
    pub params: Value,
    pub session_id: Option<String>,
}

/// One entry of `Target.getTargets`.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    pub target_id: String,
    /// "page", "service_worker", "background_page", "iframe", …
    pub kind: String,
    pub url: String,
    pub title: String,
}

impl TargetInfo {
    fn from_json(v: &Value) -> Option<TargetInfo> {
        Some(TargetInfo {
            target_id: v.get("targetId")?.as_str()?.to_owned(),
            kind: v.get("type")?.as_str()?.to_owned(),
            url: v.get("url").and_then(Value::as_str).unwrap_or("").to_owned(),
            title: v.get("title").and_then(Value::as_str).unwrap_or("").to_owned(),
        })
    }
}

/// A connection to the browser-level DevTools endpoint. Cheap to clone.
#[derive(Clone)]
pub struct Cdp {
    inner: Arc<Inner>,
}

struct Inner {
    sink: tokio::sync::Mutex<SplitSink<Ws, Message>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    next_id: AtomicU64,
    events: broadcast::Sender<Event>,
    closed: AtomicBool,
}

/// The largest CDP message read.
const CDP_MESSAGE_LIMIT: usize = 256 * 1024 * 1024;

impl Cdp {
    /// Connects to `ws://…/devtools/browser/…`.
    pub async fn connect(ws_url: &str) -> Result<Cdp, CdpError> {
        // What a page holds comes back whole (a mirror of a page with a long
        // log is tens of megabytes), past the library's 16 MiB frame default.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_frame_size(Some(CDP_MESSAGE_LIMIT))
            .max_message_size(Some(CDP_MESSAGE_LIMIT));
        let (ws, _) = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), false)
            .await
            .map_err(|e| CdpError::Connect { url: ws_url.to_owned(), message: e.to_string() })?;
        let (sink, stream) = ws.split();
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            sink: tokio::sync::Mutex::new(sink),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            events,
            closed: AtomicBool::new(false),
        });
        tokio::spawn(read_loop(stream, Arc::downgrade(&inner)));
        Ok(Cdp { inner })
    }

    /// Sends a browser-level command and awaits its result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, CdpError> {
        self.call_in(None, method, params, DEFAULT_COMMAND_TIMEOUT).await
    }

    /// Sends a command, to a session when `session_id` is given, and awaits
    /// its result for at most `timeout`.
    pub async fn call_in(
        &self,
        session_id: Option<&str>,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CdpError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(CdpError::Closed);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session_id {
            msg["sessionId"] = Value::String(s.to_owned());
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.pending).insert(id, tx);
        // The reader may have ended between the check above and the insert.
        if self.inner.closed.load(Ordering::SeqCst) {
            lock(&self.inner.pending).remove(&id);
            return Err(CdpError::Closed);
        }

        let sent = self.inner.sink.lock().await.send(Message::Text(msg.to_string().into())).await;
        if sent.is_err() {
            lock(&self.inner.pending).remove(&id);
            return Err(CdpError::Closed);
        }

        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply.map_err(|e| match e {
                CdpError::Command { code, message, .. } => {
                    CdpError::Command { method: method.to_owned(), code, message }
                }
                other => other,
            }),
            Ok(Err(_)) => Err(CdpError::Closed),
            Err(_) => {
                lock(&self.inner.pending).remove(&id);
                Err(CdpError::Timeout { method: method.to_owned(), after: timeout })
            }
        }
    }

    /// Subscribes to every event from now on (all sessions).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Waits for an event named `method` from `session_id` (None: browser)
    /// on a receiver obtained from [`Cdp::events`] before triggering it.
    pub async fn wait_event(
        rx: &mut broadcast::Receiver<Event>,
        method: &str,
        session_id: Option<&str>,
        timeout: Duration,
    ) -> Result<Event, CdpError> {
        let wait = async {
            loop {
                match rx.recv().await {
                    Ok(ev) if ev.method == method && ev.session_id.as_deref() == session_id => return Ok(ev),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return Err(CdpError::Closed),
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or_else(|_| {
            Err(CdpError::WaitTimeout {
                what: format!("event {method}"),
                after: timeout,
                last: "(no such event)".into(),
            })
        })
    }

    /// All targets the browser knows (pages, workers, …).
    pub async fn targets(&self) -> Result<Vec<TargetInfo>, CdpError> {
        let reply = self.call("Target.getTargets", json!({})).await?;
        let infos = reply
            .get("targetInfos")
            .and_then(Value::as_array)
            .ok_or_else(|| CdpError::Malformed(format!("Target.getTargets: {reply}")))?;
        Ok(infos.iter().filter_map(TargetInfo::from_json).collect())
    }

    /// Polls the target list until one matches `pred`.
    pub async fn wait_for_target(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&TargetInfo) -> bool,
    ) -> Result<TargetInfo, CdpError> {
        let started = Instant::now();
        loop {
            let targets = self.targets().await?;
            if let Some(t) = targets.iter().find(|t| pred(t)) {
                return Ok(t.clone());
            }
            if started.elapsed() >= timeout {
                let seen: Vec<String> = targets.iter().map(|t| format!("{} {}", t.kind, t.url)).collect();
                return Err(CdpError::WaitTimeout {
                    what: what.to_owned(),
                    after: timeout,
                    last: format!("targets {seen:?}"),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Attaches to a target with a flattened session.
    pub async fn attach(&self, target_id: &str) -> Result<Session, CdpError> {
        let reply = self.call("Target.attachToTarget", json!({ "targetId": target_id, "flatten": true })).await?;
        let session_id = reply
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| CdpError::Malformed(format!("Target.attachToTarget: {reply}")))?;
        Ok(Session { cdp: self.clone(), session_id: session_id.to_owned(), target_id: target_id.to_owned() })
    }

    /// Opens a new page target, attaches to it, and navigates it to `url`.
    /// Returns once the navigation has committed, so the session's document
    /// is `url`'s (a target created with a URL starts on about:blank, whose
    /// `readyState` is already "complete").
    pub async fn open_page(&self, url: &str) -> Result<Session, CdpError> {
        let reply = self.call("Target.createTarget", json!({ "url": "about:blank" })).await?;
        let target_id = reply
            .get("targetId")
            .and_then(Value::as_str)
            .ok_or_else(|| CdpError::Malformed(format!("Target.createTarget: {reply}")))?;
        let session = self.attach(target_id).await?;
        let nav = session.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(error) = nav.get("errorText").and_then(Value::as_str) {
            return Err(CdpError::Malformed(format!("Page.navigate to {url}: {error}")));
        }
        Ok(session)
    }

    /// Attaches to the service worker of extension `extension_id`, waiting
    /// for it to be registered.
    pub async fn attach_service_worker(&self, extension_id: &str, timeout: Duration) -> Result<Session, CdpError> {
        let prefix = format!("chrome-extension://{extension_id}/");
        let target = self
            .wait_for_target(&format!("service worker of {extension_id}"), timeout, |t| {
                t.kind == "service_worker" && t.url.starts_with(&prefix)
            })
            .await?;
        self.attach(&target.target_id).await
    }

    pub async fn close_target(&self, target_id: &str) -> Result<(), CdpError> {
        self.call("Target.closeTarget", json!({ "targetId": target_id })).await.map(|_| ())
    }

    /// True once the connection has gone (browser exited or was killed).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }
}

/// A flattened session attached to one target (page, worker, …).
#[derive(Clone)]
pub struct Session {
    cdp: Cdp,
    session_id: String,
    target_id: String,
}

impl Session {
    pub fn id(&self) -> &str {
        &self.session_id
    }

    pub fn target_id(&self) -> &str {
        &self.target_id
    }

    pub fn cdp(&self) -> &Cdp {
        &self.cdp
    }

    pub async fn call(&self, method: &str, params: Value) -> Result<Value, CdpError> {
        self.cdp.call_in(Some(&self.session_id), method, params, DEFAULT_COMMAND_TIMEOUT).await
    }

    /// Evaluates `expression` in the target's main context, awaiting a
    /// returned promise, and gives back the result by value (`undefined`
    /// becomes `null`). A thrown exception is a [`CdpError::JsException`].
    pub async fn evaluate(&self, expression: &str) -> Result<Value, CdpError> {
        self.evaluate_within(expression, DEFAULT_COMMAND_TIMEOUT).await
    }

    async fn evaluate_within(&self, expression: &str, timeout: Duration) -> Result<Value, CdpError> {
        let reply = self
            .cdp
            .call_in(
                Some(&self.session_id),
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "returnByValue": true,
                    "awaitPromise": true,
                    "userGesture": true,
                }),
                timeout,
            )
            .await?;
        if let Some(details) = reply.get("exceptionDetails") {
            return Err(js_exception(details));
        }
        Ok(reply.get("result").and_then(|r| r.get("value")).cloned().unwrap_or(Value::Null))
    }

    /// Polls `predicate` (a JS expression) until it is truthy and returns
    /// that value; on timeout the error carries the last value or error seen.
    pub async fn wait_for(&self, predicate: &str, timeout: Duration) -> Result<Value, CdpError> {
        self.wait_until(predicate, predicate, timeout, is_truthy).await
    }

    /// Polls `expression` until `done` accepts its value. `what` names the
    /// awaited condition in the timeout error, which also reports the last
    /// value (or evaluation error) seen, so a snapshot-returning expression
    /// makes failures self-explanatory.
    pub async fn wait_until(
        &self,
        what: &str,
        expression: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Result<Value, CdpError> {
        let started = Instant::now();
        loop {
            let remaining = timeout.saturating_sub(started.elapsed());
            let per_call = remaining.clamp(Duration::from_millis(500), Duration::from_secs(5));
            let last = match self.evaluate_within(expression, per_call).await {
                Ok(v) if done(&v) => return Ok(v),
                Ok(v) => truncate(v.to_string()),
                // The page is gone with the browser: waiting longer is pointless.
                Err(CdpError::Closed) => return Err(CdpError::Closed),
                // Navigations and not-yet-rendered DOM throw; keep polling.
                Err(e) => truncate(format!("error: {e}")),
            };
            if started.elapsed() >= timeout {
                return Err(CdpError::WaitTimeout { what: what.to_owned(), after: timeout, last });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Navigates the page and waits for its load event.
    pub async fn navigate(&self, url: &str, timeout: Duration) -> Result<(), CdpError> {
        let mut events = self.cdp.events();
        self.call("Page.enable", json!({})).await?;
        let reply = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(err) = reply.get("errorText").and_then(Value::as_str) {
            return Err(CdpError::Command {
                method: "Page.navigate".into(),
                code: 0,
                message: format!("{url}: {err}"),
            });
        }
        Cdp::wait_event(&mut events, "Page.loadEventFired", Some(&self.session_id), timeout).await.map(|_| ())
    }

    pub async fn reload(&self, timeout: Duration) -> Result<(), CdpError> {
        let mut events = self.cdp.events();
        self.call("Page.enable", json!({})).await?;
        self.call("Page.reload", json!({})).await?;
        Cdp::wait_event(&mut events, "Page.loadEventFired", Some(&self.session_id), timeout).await.map(|_| ())
    }

    /// Closes this target.
    pub async fn close(&self) -> Result<(), CdpError> {
        self.cdp.close_target(&self.target_id).await
    }
}

/// JavaScript truthiness of a JSON-returned value.
pub fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn js_exception(details: &Value) -> CdpError {
    let text = details.get("text").and_then(Value::as_str).unwrap_or("exception").to_owned();
    let exception = details.get("exception");
    let description = exception
        .and_then(|e| e.get("description"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        // A thrown non-Error value has no description, only a value.
        .or_else(|| exception.and_then(|e| e.get("value")).map(Value::to_string));
    CdpError::JsException { text, description }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_REPORTED_VALUE {
        let mut cut = MAX_REPORTED_VALUE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the map cannot leave it inconsistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn read_loop(mut stream: SplitStream<Ws>, inner: Weak<Inner>) {
    while let Some(msg) = stream.next().await {
        let Some(inner) = inner.upgrade() else { return };
        let text = match msg {
            Ok(Message::Text(t)) => t.as_str().to_owned(),
            Ok(Message::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if let Some(id) = v.get("id").and_then(Value::as_u64) {
            let reply = match v.get("error") {
                Some(err) => Err(CdpError::Command {
                    method: String::new(),
                    code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                    message: err.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
                }),
                None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
            };
            if let Some(tx) = lock(&inner.pending).remove(&id) {
                let _ = tx.send(reply);
            }
        } else if let Some(method) = v.get("method").and_then(Value::as_str) {
            let _ = inner.events.send(Event {
                method: method.to_owned(),
                params: v.get("params").cloned().unwrap_or(Value::Null),
                session_id: v.get("sessionId").and_then(Value::as_str).map(str::to_owned),
            });
        }
    }
    if let Some(inner) = inner.upgrade() {
        inner.closed.store(true, Ordering::SeqCst);
        // Dropping the senders wakes every waiter with `Closed`.
        lock(&inner.pending).clear();
    }
}
