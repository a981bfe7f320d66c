//! What request handlers, the sync engine, pairing and send-to-device share:
//! the store, the keys, the HTTP client, the way to the extension, and the
//! signals between them.

use std::sync::{mpsc as std_mpsc, Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{broadcast, watch, Notify};

use baton_shared::api::PushMessage;
use baton_shared::native::{ErrorCode, HostMessage, ProtocolError, SyncStatus};

use crate::crypto::AccountKeys;
use crate::server_api::{CallError, ServerApi};
use crate::server_link::{self, LinkState};
use crate::store::{DeviceRow, Store};
use crate::vault::Vault;

/// A request that failed: becomes an `error` reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RequestError {
    pub code: ErrorCode,
    pub message: String,
}

impl RequestError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn storage(e: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::Storage, e.to_string())
    }

    pub fn reply(self, id: Value) -> HostMessage {
        ProtocolError::new(id, self.code, self.message).into_message()
    }
}

impl From<CallError> for RequestError {
    fn from(e: CallError) -> Self {
        let message = match &e {
            CallError::NotRegistered | CallError::Unreachable(_) => {
                format!("The server is unreachable; try again when this device is online ({e})")
            }
            _ => e.to_string(),
        };
        Self::new(e.error_code(), message)
    }
}

/// Messages to the extension (the writer thread owns stdout).
#[derive(Clone)]
pub struct EventSink(pub std_mpsc::Sender<HostMessage>);

impl EventSink {
    pub fn send(&self, message: HostMessage) {
        // The writer only stops when stdout is gone; then nobody is listening.
        let _ = self.0.send(message);
    }
}

pub struct HostContext {
    pub server_url: String,
    pub store: Arc<Mutex<Store>>,
    pub vault: Arc<Vault>,
    pub http: reqwest::Client,
    pub events: EventSink,
    /// Wakes the sync engine (local commit, push, sync_now).
    pub sync_wake: Notify,
    /// One sync at a time.
    pub sync_lock: tokio::sync::Mutex<()>,
    pub sync_status: watch::Sender<SyncStatus>,
    /// Why the last sync failed, while it keeps failing.
    sync_error: Mutex<Option<String>>,
    pub push: broadcast::Sender<PushMessage>,
    pub link: watch::Receiver<LinkState>,
    /// Live co-browsing sessions (in memory only).
    pub cobrowse: crate::cobrowse::Sessions,
    keys: Mutex<Option<Arc<AccountKeys>>>,
}

impl HostContext {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        server_url: String,
        store: Arc<Mutex<Store>>,
        vault: Arc<Vault>,
        http: reqwest::Client,
        events: EventSink,
        push: broadcast::Sender<PushMessage>,
        link: watch::Receiver<LinkState>,
    ) -> Self {
        Self {
            server_url,
            store,
            vault,
            http,
            events,
            sync_wake: Notify::new(),
            sync_lock: tokio::sync::Mutex::new(()),
            sync_status: watch::channel(SyncStatus::default()).0,
            sync_error: Mutex::new(None),
            push,
            link,
            cobrowse: Default::default(),
            keys: Mutex::new(None),
        }
    }

    pub fn store(&self) -> Result<MutexGuard<'_, Store>, RequestError> {
        self.store.lock().map_err(|_| RequestError::new(ErrorCode::Internal, "store lock poisoned"))
    }

    /// The account keys, created with a fresh account key on first use (a
    /// device starts in its own account; pairing replaces the key).
    pub fn keys(&self) -> Result<Arc<AccountKeys>, RequestError> {
        let mut cached = self.keys.lock().map_err(|_| RequestError::new(ErrorCode::Internal, "key lock poisoned"))?;
        if let Some(keys) = cached.as_ref() {
            return Ok(keys.clone());
        }
        let crypto = |e: crate::crypto::CryptoError| RequestError::new(ErrorCode::Internal, e.to_string());
        let mut store = self.store()?;
        let context = self.account_key_context();
        let keys = match store.account_key_sealed(&self.server_url).map_err(RequestError::storage)? {
            Some(sealed) => {
                let plain = self.vault.open(&sealed, &context).map_err(RequestError::storage)?;
                AccountKeys::from_bytes(&plain).map_err(crypto)?
            }
            None => {
                let keys = AccountKeys::generate().map_err(crypto)?;
                let sealed = self.vault.seal(keys.account_key(), &context).map_err(RequestError::storage)?;
                store.save_account_key(&self.server_url, &sealed).map_err(RequestError::storage)?;
                tracing::info!("created a new account key");
                keys
            }
        };
        let keys = Arc::new(keys);
        *cached = Some(keys.clone());
        Ok(keys)
    }

    pub fn set_keys(&self, keys: Arc<AccountKeys>) {
        if let Ok(mut cached) = self.keys.lock() {
            *cached = Some(keys);
        }
    }

    pub fn account_key_context(&self) -> Vec<u8> {
        format!("account-key\0{}", self.server_url).into_bytes()
    }

    pub fn device(&self) -> Result<Option<DeviceRow>, RequestError> {
        self.store()?.device(&self.server_url).map_err(RequestError::storage)
    }

    /// This device's registration and an authenticated client, or
    /// `NotRegistered` before the server link has registered it.
    pub fn api(&self) -> Result<(ServerApi, DeviceRow), CallError> {
        let device = self.device().map_err(|e| CallError::Local(e.message))?.ok_or(CallError::NotRegistered)?;
        let token =
            server_link::open_device_token(&self.vault, &device).map_err(|e| CallError::Local(e.to_string()))?;
        let api = ServerApi { http: self.http.clone(), base: self.server_url.clone(), token };
        Ok((api, device))
    }

    /// Remembers how the last sync ended, for the status.
    pub fn set_sync_error(&self, error: Option<String>) {
        if let Ok(mut e) = self.sync_error.lock() {
            *e = error;
        }
    }

    /// Recomputes the sync part of the status; the extension hears of changes.
    pub fn refresh_status(&self) {
        let status = {
            let Ok(store) = self.store.lock() else { return };
            SyncStatus {
                pending_changes: store.pending_changes().unwrap_or(0),
                last_sync_ms: store.meta(LAST_SYNC_KEY).ok().flatten(),
                other_devices: store.account_devices().map(|d| d.len() as u32).unwrap_or(0),
                error: self.sync_error.lock().ok().and_then(|e| e.clone()),
            }
        };
        self.sync_status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }
}

pub const LAST_SYNC_KEY: &str = "last_sync_ms";
