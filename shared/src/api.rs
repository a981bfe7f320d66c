//! The server's HTTP and WebSocket API between `baton-host` and `baton-server`.
//!
//! | method + path        | auth   | body → answer                          |
//! |----------------------|--------|----------------------------------------|
//! | `GET  /v1/status`    | none   | → [`ServerInfo`]                       |
//! | `POST /v1/devices`   | none   | [`RegisterDevice`] → [`DeviceRegistered`] |
//! | `GET  /v1/devices/self` | bearer | → [`DeviceRecord`]                  |
//! | `GET  /v1/push`      | bearer | WebSocket; server sends [`PushMessage`] |
//! | `POST /v1/sync/upload` | bearer | [`UploadRequest`] → [`UploadResponse`]; 409 [`UploadConflict`] |
//! | `POST /v1/sync/pull` | bearer | [`PullRequest`] → [`PullResponse`]       |
//! | `POST /v1/sync/reconcile` | bearer | [`ReconcileRequest`] → [`CollectionDelta`] |
//! | `GET  /v1/account/devices` | bearer | → [`AccountDevices`]             |
//! | `POST /v1/pairing/offer` | bearer | [`PairingOffer`] → [`PairingOffered`] |
//! | `POST /v1/pairing/claim` | bearer | [`PairingClaim`] → [`PairingClaimed`] |
//! | `POST /v1/pairing/{id}/proof` | bearer | [`PairingProof`] → 204          |
//! | `POST /v1/pairing/{id}/complete` | bearer | [`PairingComplete`] → 204  |
//! | `POST /v1/pairing/{id}/refuse` | bearer | → 204                        |
//! | `GET  /v1/pairing/{id}` | bearer | → [`PairingStatus`]                 |
//! | `POST /v1/sendtab`   | bearer | [`SendTab`] → [`TabSent`]              |
//! | `GET  /v1/sendtab/pending` | bearer | → [`PendingTabs`]                |
//! | `POST /v1/sendtab/{id}/state` | bearer | [`DeliveryUpdate`] → 204      |
//! | `POST /v1/cobrowse/sessions` | bearer | [`CreateSession`] → [`SessionCreated`] (visitor) |
//! | `POST /v1/cobrowse/join` | bearer | [`JoinSession`] → [`SessionJoined`] (operator); 404 `cobrowse_code_invalid`, 429 `rate_limited` |
//! | `GET  /v1/cobrowse/{id}/relay` | bearer | WebSocket of [`RelayMessage`]s (the session's visitor or operator device) |
//! | `GET  /v1/cobrowse/{id}/audit` | bearer | → [`AuditLog`]; 404 `unknown_cobrowse_session` |
//! | `GET  /v1/cobrowse/{id}/recording?after=&limit=` | bearer | → one page of [`Recording`] (follow `next`); 400 bad query; 404 `unknown_cobrowse_session` |
//! | `POST /v1/orgs/join` | bearer | [`AcceptInvite`] → [`OrgJoined`]; 404 `invite_invalid`, 409 `conflict` (in an organisation already) |
//!
//! The organisations' admin routes (create, invite, roles, policy, sessions,
//! audit, retention) are the server's own (`server/src/http/orgs.rs`).
//!
//! See [`crate::sync`] for the sync, pairing and send-to-device flows, and
//! [`crate::cobrowse`] for co-browsing.
//! Errors are an HTTP status with an [`ApiError`] body (`code` is stable,
//! `message` is for people); 429s carry `Retry-After`.
//!
//! [`UploadRequest`]: crate::sync::UploadRequest
//! [`UploadResponse`]: crate::sync::UploadResponse
//! [`UploadConflict`]: crate::sync::UploadConflict
//! [`PullRequest`]: crate::sync::PullRequest
//! [`PullResponse`]: crate::sync::PullResponse
//! [`ReconcileRequest`]: crate::sync::ReconcileRequest
//! [`CollectionDelta`]: crate::sync::CollectionDelta
//! [`AccountDevices`]: crate::sync::AccountDevices
//! [`PairingOffer`]: crate::sync::PairingOffer
//! [`PairingOffered`]: crate::sync::PairingOffered
//! [`PairingClaim`]: crate::sync::PairingClaim
//! [`PairingClaimed`]: crate::sync::PairingClaimed
//! [`PairingProof`]: crate::sync::PairingProof
//! [`PairingComplete`]: crate::sync::PairingComplete
//! [`PairingStatus`]: crate::sync::PairingStatus
//! [`SendTab`]: crate::sync::SendTab
//! [`TabSent`]: crate::sync::TabSent
//! [`PendingTabs`]: crate::sync::PendingTabs
//! [`DeliveryUpdate`]: crate::sync::DeliveryUpdate
//! [`CreateSession`]: crate::cobrowse::CreateSession
//! [`SessionCreated`]: crate::cobrowse::SessionCreated
//! [`JoinSession`]: crate::cobrowse::JoinSession
//! [`SessionJoined`]: crate::cobrowse::SessionJoined
//! [`RelayMessage`]: crate::cobrowse::RelayMessage
//! [`AuditLog`]: crate::cobrowse::AuditLog
//! [`Recording`]: crate::cobrowse::Recording

use serde::{Deserialize, Serialize};

pub const PATH_STATUS: &str = "/v1/status";
pub const PATH_DEVICES: &str = "/v1/devices";
pub const PATH_DEVICE_SELF: &str = "/v1/devices/self";
pub const PATH_PUSH: &str = "/v1/push";
pub const PATH_ORG_JOIN: &str = "/v1/orgs/join";

/// An account's role in its organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    Admin,
    Operator,
    Member,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Admin => "admin",
            OrgRole::Operator => "operator",
            OrgRole::Member => "member",
        }
    }

    /// Admins and operators join the organisation's co-browsing sessions.
    pub fn operates(self) -> bool {
        matches!(self, OrgRole::Admin | OrgRole::Operator)
    }
}

/// The caller's account accepts an invitation into an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptInvite {
    /// As the organisation's admin gave it (64 hex characters).
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgJoined {
    pub org_id: String,
    pub role: OrgRole,
}

/// `service` value in [`ServerInfo`]: tells a Baton server from anything else on the port.
pub const SERVICE_NAME: &str = "baton-server";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub service: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Desktop,
    Laptop,
    Tablet,
    Phone,
    Other,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Laptop => "laptop",
            Self::Tablet => "tablet",
            Self::Phone => "phone",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// Registers a new device (in a new account until pairing joins accounts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterDevice {
    pub name: String,
    pub kind: DeviceKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRegistered {
    pub account_id: String,
    pub device_id: String,
    /// Bearer token for this device. Shown once; the server keeps only its hash.
    pub device_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub account_id: String,
    pub device_id: String,
    pub name: String,
    pub kind: DeviceKind,
    /// Unix milliseconds.
    pub created_at: i64,
    pub last_seen: i64,
}

/// Server → device messages on the push WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PushMessage {
    /// First message after the socket opens.
    Hello { device_id: String, server_version: String },
    /// Another device of the account uploaded to one of its collections.
    Changed { owner: String, collection: crate::records::Collection, token: String },
    /// A device joined, left or was renamed in the account.
    DevicesChanged,
    /// To the offering device: a device claimed its pairing code and proved
    /// it derived the same key ([`crate::sync::PairingProof::proof`]).
    PairingClaimed { pairing_id: String, claim_public_key: String, claim_proof: String },
    /// To the claiming device: the offerer wrapped the account key for it.
    PairingCompleted { pairing_id: String, account_id: String },
    /// To a target device: a tab was sent to it (body is ciphertext).
    TabReceived { send_id: String, from_device: String, body: String, sent_ms: i64 },
    /// To the sender: progress of a sent tab.
    Delivery { send_id: String, state: crate::session::DeliveryState },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

/// Validates a device name the same way on every side.
pub fn validate_device_name(name: &str) -> Result<&str, &'static str> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err("device name is empty");
    }
    if trimmed.chars().count() > crate::limits::MAX_DEVICE_NAME {
        return Err("device name is longer than 100 characters");
    }
    if trimmed.chars().any(char::is_control) {
        return Err("device name contains control characters");
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert_eq!(validate_device_name("  Laptop "), Ok("Laptop"));
        assert!(validate_device_name("").is_err());
        assert!(validate_device_name("a\u{7}b").is_err());
        assert!(validate_device_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn kinds() {
        assert_eq!(DeviceKind::parse("laptop"), Some(DeviceKind::Laptop));
        assert_eq!(DeviceKind::parse("toaster"), None);
        assert_eq!(DeviceKind::Phone.as_str(), "phone");
    }

    #[test]
    fn push_shape() {
        let m = PushMessage::Hello { device_id: "d".into(), server_version: "1".into() };
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"type":"hello","device_id":"d","server_version":"1"}"#);
    }
}
