//! The host's link to `baton-server`: register this device once, then hold
//! the push WebSocket open, reconnecting with backoff. The link publishes its
//! state on a watch channel; the messaging loop turns changes into `status`
//! events for the extension.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};

use baton_shared::api::{self, DeviceKind, DeviceRegistered, PushMessage, RegisterDevice, ServerInfo};
use baton_shared::limits::{backoff_ms, MAX_HTTP_BODY, MAX_STATUS_BODY};
use baton_shared::native::{DeviceInfo, ErrorCode, ServerLink, ServerState};

use crate::server_api::{self, BodyError};
use crate::store::{DeviceRow, Store};
use crate::vault::Vault;

#[derive(Debug, Clone, PartialEq)]
pub struct LinkState {
    pub server: ServerLink,
    pub device: Option<DeviceInfo>,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot reach the server at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("{url} is not a Baton server: {detail}")]
    Garbage { url: String, detail: String },
    #[error("the server refused this device: {0}")]
    Rejected(String),
    #[error("the server failed: {0}")]
    Server(String),
    #[error("local storage failed: {0}")]
    Local(String),
}

impl LinkError {
    fn state(&self) -> (ServerState, ErrorCode) {
        match self {
            Self::Unreachable { .. } => (ServerState::Unreachable, ErrorCode::ServerUnreachable),
            Self::Garbage { .. } => (ServerState::Unreachable, ErrorCode::ServerGarbage),
            Self::Rejected(_) => (ServerState::Rejected, ErrorCode::ServerRejected),
            Self::Server(_) => (ServerState::Unreachable, ErrorCode::ServerError),
            Self::Local(_) => (ServerState::Unreachable, ErrorCode::Storage),
        }
    }
}

pub struct ServerLinkTask {
    pub server_url: String,
    pub device_name: String,
    pub store: Arc<Mutex<Store>>,
    pub vault: Arc<Vault>,
    pub state: watch::Sender<LinkState>,
    /// Every push message but the greeting, for the sync engine and pairing.
    pub push: broadcast::Sender<PushMessage>,
    /// How long the push socket may stay silent before the link counts as
    /// dead: `SERVER_SILENCE_MS`, shorter in tests.
    pub silence: Duration,
}

impl ServerLinkTask {
    pub fn initial_state(server_url: &str, device: Option<DeviceInfo>) -> LinkState {
        LinkState {
            server: ServerLink {
                url: server_url.to_owned(),
                state: ServerState::Connecting,
                error: None,
                error_code: None,
            },
            device,
        }
    }

    pub async fn run(self) {
        let http = match reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                self.publish_error(&LinkError::Local(format!("cannot create an HTTP client: {e}")));
                return;
            }
        };
        let mut attempt = 0u32;
        loop {
            match self.connect_once(&http).await {
                Ok(ended) => {
                    // We were connected: start the backoff over.
                    attempt = 0;
                    self.publish_error(&self.unreachable(&ended));
                }
                Err(e) => {
                    tracing::warn!("server link: {e}");
                    self.publish_error(&e);
                }
            }
            tokio::time::sleep(Duration::from_millis(backoff_ms(attempt).into())).await;
            attempt = attempt.saturating_add(1);
        }
    }

    /// Publishes a failure, waking the extension only when something changed.
    fn publish_error(&self, e: &LinkError) {
        let (state, code) = e.state();
        let error = Some(e.to_string());
        self.state.send_if_modified(|s| {
            let changed = s.server.state != state || s.server.error != error;
            s.server.state = state;
            s.server.error = error;
            s.server.error_code = Some(code);
            changed
        });
    }

    /// One connection: returns why, when an established link ends.
    async fn connect_once(&self, http: &reqwest::Client) -> Result<String, LinkError> {
        self.check_server(http).await?;
        let device = self.ensure_registered(http).await?;
        let token = self.device_token(&device)?;

        let mut request = push_url(&self.server_url)
            .into_client_request()
            .map_err(|e| LinkError::Local(format!("bad push URL: {e}")))?;
        let bearer = format!("Bearer {token}")
            .parse()
            .map_err(|_| LinkError::Local("device token is not a valid header value".into()))?;
        request.headers_mut().insert("authorization", bearer);
        let (mut socket, _) = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| self.unreachable("push connection timed out"))?
            .map_err(|e| match e {
                tungstenite::Error::Http(resp) if resp.status() == 401 || resp.status() == 403 => {
                    LinkError::Rejected("the server no longer knows this device's credentials".into())
                }
                tungstenite::Error::Http(resp) => {
                    LinkError::Server(format!("push refused with HTTP {}", resp.status()))
                }
                other => self.unreachable(&other.to_string()),
            })?;

        let mut connected = false;
        let mut ended = "the push connection closed".to_owned();
        loop {
            // A socket that died silently (sleep, a NAT that forgot it) never
            // closes: hearing nothing, not even the server's pings, ends it.
            let Ok(next) = tokio::time::timeout(self.silence, socket.next()).await else {
                ended = format!("nothing came on the push connection for {:?} (not even a ping)", self.silence);
                break;
            };
            let Some(frame) = next else { break };
            let frame = frame.map_err(|e| self.unreachable(&e.to_string()))?;
            match frame {
                Message::Text(text) => match serde_json::from_str::<PushMessage>(&text) {
                    Ok(PushMessage::Hello { device_id, .. }) => {
                        if device_id != device.id {
                            return Err(LinkError::Garbage {
                                url: self.server_url.clone(),
                                detail: "push greeting names another device".into(),
                            });
                        }
                        connected = true;
                        tracing::info!("connected to {} as device {}", self.server_url, device.id);
                        self.state.send_modify(|s| {
                            s.server.state = ServerState::Connected;
                            s.server.error = None;
                            s.server.error_code = None;
                        });
                    }
                    Ok(other) => {
                        tracing::debug!("push: {other:?}");
                        // Nobody listening (no receivers yet) is fine.
                        let _ = self.push.send(other);
                    }
                    Err(e) => tracing::warn!("ignoring an unknown push message: {e}"),
                },
                Message::Ping(payload) => {
                    let _ = socket.send(Message::Pong(payload)).await;
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        if connected {
            Ok(ended)
        } else {
            Err(self.unreachable(&format!("{ended} before the server greeted us")))
        }
    }

    fn unreachable(&self, detail: &str) -> LinkError {
        LinkError::Unreachable { url: self.server_url.clone(), detail: detail.to_owned() }
    }

    /// Confirms that the URL answers as a Baton server before sending it anything.
    async fn check_server(&self, http: &reqwest::Client) -> Result<(), LinkError> {
        let resp = http
            .get(format!("{}{}", self.server_url, api::PATH_STATUS))
            .send()
            .await
            .map_err(|e| self.unreachable(&describe(&e)))?;
        let status = resp.status();
        let body = self.read_body(resp, MAX_STATUS_BODY, api::PATH_STATUS).await?;
        let garbage = |detail: String| LinkError::Garbage { url: self.server_url.clone(), detail };
        if !status.is_success() {
            return Err(garbage(format!("/v1/status answered HTTP {status}")));
        }
        let info: ServerInfo = serde_json::from_slice(&body)
            .map_err(|e| garbage(format!("/v1/status answered something that is not Baton's protocol ({e})")))?;
        if info.service != api::SERVICE_NAME {
            return Err(garbage(format!("it calls itself {:?}", info.service)));
        }
        Ok(())
    }

    async fn ensure_registered(&self, http: &reqwest::Client) -> Result<DeviceRow, LinkError> {
        let existing = self.lock_store()?.device(&self.server_url).map_err(|e| LinkError::Local(e.to_string()))?;
        if let Some(device) = existing {
            return Ok(device);
        }
        let body = RegisterDevice { name: self.device_name.clone(), kind: DeviceKind::Desktop };
        let resp = http
            .post(format!("{}{}", self.server_url, api::PATH_DEVICES))
            .json(&body)
            .send()
            .await
            .map_err(|e| self.unreachable(&describe(&e)))?;
        let status = resp.status();
        let bytes = self.read_body(resp, MAX_HTTP_BODY, api::PATH_DEVICES).await?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<api::ApiError>(&bytes)
                .map(|e| format!("{} ({})", e.message, e.code))
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(LinkError::Server(format!("registration failed: {detail}")));
        }
        let reg: DeviceRegistered = serde_json::from_slice(&bytes).map_err(|e| LinkError::Garbage {
            url: self.server_url.clone(),
            detail: format!("registration answer is not Baton's protocol ({e})"),
        })?;
        let sealed = self
            .vault
            .seal(reg.device_token.as_bytes(), &token_context(&self.server_url, &reg.device_id))
            .map_err(|e| LinkError::Local(e.to_string()))?;
        let row = DeviceRow {
            server_url: self.server_url.clone(),
            id: reg.device_id,
            account_id: reg.account_id,
            name: self.device_name.clone(),
            kind: DeviceKind::Desktop,
            token_sealed: sealed,
            created_at: now_ms(),
        };
        self.lock_store()?.save_device(&row).map_err(|e| LinkError::Local(e.to_string()))?;
        tracing::info!("registered with {} as device {}", self.server_url, row.id);
        let info = device_info(&row);
        self.state.send_modify(|s| s.device = Some(info));
        Ok(row)
    }

    /// The body of the answer to `path`, refused as garbage beyond `limit`.
    async fn read_body(&self, resp: reqwest::Response, limit: usize, path: &str) -> Result<Vec<u8>, LinkError> {
        server_api::read_body(resp, limit).await.map_err(|e| match e {
            BodyError::TooLarge { .. } => {
                LinkError::Garbage { url: self.server_url.clone(), detail: format!("{path}: {e}") }
            }
            BodyError::Transport(_) => self.unreachable(&e.to_string()),
        })
    }

    fn device_token(&self, device: &DeviceRow) -> Result<String, LinkError> {
        open_device_token(&self.vault, device)
    }

    fn lock_store(&self) -> Result<std::sync::MutexGuard<'_, Store>, LinkError> {
        self.store.lock().map_err(|_| LinkError::Local("store lock poisoned".into()))
    }
}

/// The device token, unsealed for one call to the server.
pub fn open_device_token(vault: &Vault, device: &DeviceRow) -> Result<String, LinkError> {
    let plain = vault
        .open(&device.token_sealed, &token_context(&device.server_url, &device.id))
        .map_err(|e| LinkError::Local(e.to_string()))?;
    String::from_utf8(plain).map_err(|_| LinkError::Local("stored device token is damaged".into()))
}

pub fn device_info(row: &DeviceRow) -> DeviceInfo {
    DeviceInfo { id: row.id.clone(), name: row.name.clone(), kind: row.kind }
}

pub(crate) fn token_context(server_url: &str, device_id: &str) -> Vec<u8> {
    format!("device-token\0{server_url}\0{device_id}").into_bytes()
}

fn push_url(server_url: &str) -> String {
    ws_url(server_url, api::PATH_PUSH)
}

/// The WebSocket URL of `path` on the server (`http` → `ws`, `https` → `wss`).
pub fn ws_url(server_url: &str, path: &str) -> String {
    let ws = if let Some(rest) = server_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", server_url.trim_start_matches("http://"))
    };
    format!("{ws}{path}")
}

/// reqwest's Display hides the cause ("error sending request for url …");
/// the innermost error ("Connection refused") is what a person needs.
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer within the timeout".to_owned();
    }
    let mut innermost: &dyn std::error::Error = e;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    let text = innermost.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_urls() {
        assert_eq!(push_url("http://127.0.0.1:9"), "ws://127.0.0.1:9/v1/push");
        assert_eq!(push_url("https://b.example"), "wss://b.example/v1/push");
    }

    /// Fault injection: the server greets, then the connection goes dead
    /// without closing (as after a laptop's sleep).
    #[tokio::test]
    async fn a_silent_push_connection_counts_as_unreachable_and_reconnects() {
        use crate::test_server::{self, Reply};
        let mut server = test_server::start(|head| match head {
            "GET /v1/status" => Reply::Json(r#"{"service":"baton-server","version":"9.9.9"}"#.into()),
            "POST /v1/devices" => Reply::Json(r#"{"account_id":"a-1","device_id":"d-1","device_token":"t-1"}"#.into()),
            "GET /v1/push" => {
                Reply::SilentSocket(vec![r#"{"type":"hello","device_id":"d-1","server_version":"9.9.9"}"#.into()])
            }
            _ => Reply::Hang,
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("host.sqlite3")).unwrap();
        let vault = Vault::load_or_create(&dir.path().join("vault.key")).unwrap();
        let (state, mut states) = watch::channel(ServerLinkTask::initial_state(&server.url, None));
        let link = ServerLinkTask {
            server_url: server.url.clone(),
            device_name: "Test".into(),
            store: Arc::new(Mutex::new(store)),
            vault: Arc::new(vault),
            state,
            push: broadcast::channel(4).0,
            silence: Duration::from_millis(300),
        };
        let task = tokio::spawn(link.run());
        wait_for(&mut states, ServerState::Connected).await;
        let lost = wait_for(&mut states, ServerState::Unreachable).await;
        assert_eq!(lost.server.error_code, Some(ErrorCode::ServerUnreachable));
        let error = lost.server.error.unwrap_or_default();
        assert!(error.contains("nothing came on the push connection for 300ms"), "{error}");
        wait_for(&mut states, ServerState::Connected).await;
        task.abort();

        let mut pushes = 0;
        while let Ok(head) = server.requests.try_recv() {
            pushes += usize::from(head == "GET /v1/push");
        }
        assert!(pushes >= 2, "the silent connection, then a new one ({pushes})");
    }

    async fn wait_for(states: &mut watch::Receiver<LinkState>, want: ServerState) -> LinkState {
        let seen = tokio::time::timeout(Duration::from_secs(10), states.wait_for(|s| s.server.state == want)).await;
        seen.unwrap_or_else(|_| panic!("no {want:?} within 10 s")).expect("link state").clone()
    }
}
