//! Native messaging: the messages between the extension and `baton-host`.
//!
//! Every message is a JSON object with a `"type"`. Requests carry an `"id"`
//! (number or string) that the reply echoes. The host may also send events
//! without an `id` (for example `status` when the server link changes).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chunk::ChunkFrame;
use crate::session::{DeliveryState, PageState, RemoteDevice, TabHistory, TabState, WindowState};

/// Typed error codes, shared by every side so the UI can react to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Inbound frame longer than the host accepts.
    FrameTooLarge,
    /// Input ended in the middle of a frame.
    TruncatedFrame,
    InvalidUtf8,
    InvalidJson,
    /// The JSON value is not an object.
    NotAnObject,
    /// No `"type"`, or it is not a string.
    MissingType,
    /// A request without a usable `"id"` (number or string).
    MissingId,
    UnknownType,
    /// Known type, but its fields are wrong.
    InvalidRequest,
    /// The caller is not an allowed extension.
    ForbiddenOrigin,
    /// An outbound message too large even for chunking.
    PayloadTooLarge,
    /// The server could not be reached.
    ServerUnreachable,
    /// The server answered with an error status.
    ServerError,
    /// The server answered something that is not Baton's protocol.
    ServerGarbage,
    /// The server refused our credentials.
    ServerRejected,
    /// A pairing code that is wrong, used or expired.
    PairingFailed,
    /// Too many attempts; wait and try again.
    RateLimited,
    /// The device named in a request is not in this account.
    UnknownDevice,
    /// A request that needs the server while it is unreachable.
    Offline,
    /// Local storage failed.
    Storage,
    Internal,
    /// A co-browsing code that is malformed, wrong, used or expired.
    CobrowseCodeInvalid,
    /// A co-browsing request for a session this host does not hold, or
    /// that is not in a state to accept it (e.g. frames before consent).
    CobrowseNotActive,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FrameTooLarge => "frame_too_large",
            Self::TruncatedFrame => "truncated_frame",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidJson => "invalid_json",
            Self::NotAnObject => "not_an_object",
            Self::MissingType => "missing_type",
            Self::MissingId => "missing_id",
            Self::UnknownType => "unknown_type",
            Self::InvalidRequest => "invalid_request",
            Self::ForbiddenOrigin => "forbidden_origin",
            Self::PayloadTooLarge => "payload_too_large",
            Self::ServerUnreachable => "server_unreachable",
            Self::ServerError => "server_error",
            Self::ServerGarbage => "server_garbage",
            Self::ServerRejected => "server_rejected",
            Self::PairingFailed => "pairing_failed",
            Self::RateLimited => "rate_limited",
            Self::UnknownDevice => "unknown_device",
            Self::Offline => "offline",
            Self::Storage => "storage",
            Self::Internal => "internal",
            Self::CobrowseCodeInvalid => "cobrowse_code_invalid",
            Self::CobrowseNotActive => "cobrowse_not_active",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request that failed to parse or to run: becomes an `error` frame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    /// The request's id when it could be read, else `null`.
    pub id: Value,
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    pub fn new(id: Value, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { id, code, message: message.into() }
    }

    pub fn into_message(self) -> HostMessage {
        HostMessage::Error { id: self.id, code: self.code, message: self.message }
    }
}

/// Request types the host understands. Kept in one list so "unknown type" is
/// decided before field validation.
pub const REQUEST_TYPES: &[&str] = &[
    "ping",
    "status",
    "session_snapshot",
    "tab_history",
    "page_state",
    "list_devices",
    "tab_details",
    "send_tab",
    "tab_opened",
    "pair_start",
    "pair_join",
    "sync_now",
    "share_start",
    "share_respond",
    "cobrowse_send",
    "cobrowse_audit",
    "cobrowse_end",
    "cobrowse_sessions",
    "operator_join",
    "recording_fetch",
    "configure",
];

/// A validated request from the extension.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Value,
    pub body: RequestBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RequestBody {
    Ping,
    /// Ask for the current [`HostStatus`]; answered by a `status` message.
    Status,
    /// This browser's normal windows and tabs, complete; the host stores
    /// what changed and syncs it. Answered by `ack`.
    SessionSnapshot {
        windows: Vec<WindowState>,
        tabs: Vec<TabState>,
    },
    /// One tab's back/forward list. Answered by `ack`.
    TabHistory {
        history: TabHistory,
    },
    /// One tab's form contents and scroll. Answered by `ack`.
    PageState {
        page: PageState,
    },
    /// The account's other devices with their windows and tabs. Answered by `devices`.
    ListDevices,
    /// History and page state of another device's tab. Answered by `tab_details`.
    TabDetails {
        device_id: String,
        tab_id: i64,
    },
    /// Push a tab to another device. Answered by `tab_sent`; progress
    /// arrives later as `delivery` events.
    SendTab {
        device_id: String,
        url: String,
        title: String,
    },
    /// The extension opened a received tab. Answered by `ack`.
    TabOpened {
        send_id: String,
    },
    /// Show a pairing code so another device can join. Answered by `pair_code`.
    PairStart,
    /// Join the account of the device showing `code`. Answered by `paired`
    /// once the key has arrived, or an error (`pairing_failed`, `rate_limited`).
    PairJoin {
        code: String,
    },
    /// Sync now instead of waiting. Answered by `ack`.
    SyncNow,
    /// Visitor: start sharing a tab. Answered by `share_started` with the
    /// code to read to the operator.
    ShareStart,
    /// Visitor: approve or refuse the operator who joined, and whether the
    /// session may be recorded. Answered by `ack`.
    ShareRespond {
        session_id: String,
        approve: bool,
        record: bool,
    },
    /// Either side: send a frame to the other side (encrypted by the host).
    /// Answered by `ack` once it is on its way (or queued while the relay
    /// reconnects).
    CobrowseSend {
        session_id: String,
        frame: crate::cobrowse::Frame,
    },
    /// Either side: append to the session's audit log. Answered by `ack`.
    CobrowseAudit {
        session_id: String,
        event: crate::cobrowse::AuditEvent,
    },
    /// Either side: end the session. Answered by `ack`.
    CobrowseEnd {
        session_id: String,
    },
    /// Either side: the live co-browsing sessions this host holds, so that
    /// a page opened or reloaded mid-session picks its session up again.
    /// Answered by `cobrowse_sessions`.
    CobrowseSessions,
    /// Operator: join with the code the visitor read out. Answered by
    /// `operator_joined`; frames follow once the visitor approves.
    OperatorJoin {
        code: String,
    },
    /// Operator: a recorded session's frames, decrypted, a batch at a time
    /// (`after`: the `next` of the previous answer). Answered by `recording`.
    RecordingFetch {
        session_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
    },
    /// The extension's settings that concern the host, sent after
    /// connecting and whenever they change. `server_url`: the server the
    /// organisation's policy or the person chose; `None` (or absent) means
    /// no preference, so the host's own configuration decides. A URL other
    /// than the current one moves the server link there. Answered by `ack`,
    /// or `invalid_request` for a URL that is not http(s).
    Configure {
        #[serde(default)]
        server_url: Option<String>,
    },
}

impl Request {
    /// Parse one inbound frame payload, with a typed error for every way it can be wrong.
    pub fn parse(payload: &[u8]) -> Result<Request, ProtocolError> {
        let text = std::str::from_utf8(payload)
            .map_err(|e| ProtocolError::new(Value::Null, ErrorCode::InvalidUtf8, format!("frame is not UTF-8: {e}")))?;
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ProtocolError::new(Value::Null, ErrorCode::InvalidJson, format!("frame is not JSON: {e}")))?;
        let Value::Object(obj) = &value else {
            return Err(ProtocolError::new(Value::Null, ErrorCode::NotAnObject, "message must be a JSON object"));
        };
        let id = match obj.get("id") {
            Some(id @ (Value::Number(_) | Value::String(_))) => Some(id.clone()),
            _ => None,
        };
        let echo = id.clone().unwrap_or(Value::Null);
        let Some(kind) = obj.get("type").and_then(Value::as_str) else {
            return Err(ProtocolError::new(echo, ErrorCode::MissingType, "message has no string \"type\""));
        };
        if !REQUEST_TYPES.contains(&kind) {
            return Err(ProtocolError::new(echo, ErrorCode::UnknownType, format!("unknown message type {kind:?}")));
        }
        let Some(id) = id else {
            return Err(ProtocolError::new(
                Value::Null,
                ErrorCode::MissingId,
                format!("request {kind:?} needs an \"id\" (number or string)"),
            ));
        };
        let body = serde_json::from_value(value.clone()).map_err(|e| {
            ProtocolError::new(id.clone(), ErrorCode::InvalidRequest, format!("invalid {kind:?} request: {e}"))
        })?;
        Ok(Request { id, body })
    }
}

/// Every message the host sends to the extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostMessage {
    Pong {
        id: Value,
        version: String,
    },
    /// Reply to `status` (with `id`) or an unsolicited update (without).
    Status {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        #[serde(flatten)]
        status: HostStatus,
    },
    Error {
        id: Value,
        code: ErrorCode,
        message: String,
    },
    /// One piece of a message too large for a single frame (see [`crate::chunk`]).
    Chunk(ChunkFrame),
    /// A request succeeded and has nothing else to say.
    Ack {
        id: Value,
    },
    Devices {
        id: Value,
        devices: Vec<RemoteDevice>,
    },
    TabDetails {
        id: Value,
        history: Option<TabHistory>,
        page: Option<PageState>,
    },
    TabSent {
        id: Value,
        send_id: String,
    },
    PairCode {
        id: Value,
        /// `LOOKUP-SECRET`, to be typed on the other device.
        code: String,
        expires_ms: i64,
    },
    Paired {
        id: Value,
        account_id: String,
    },
    ShareStarted {
        id: Value,
        session_id: String,
        /// `LOOKUP-SECRET`, read to the operator.
        code: String,
        expires_ms: i64,
    },
    OperatorJoined {
        id: Value,
        session_id: String,
        visitor_name: String,
    },
    CobrowseSessions {
        id: Value,
        sessions: Vec<LiveSession>,
    },
    Recording {
        id: Value,
        session_id: String,
        frames: Vec<RecordedPlain>,
        /// Ask again with this as `after` for the rest; absent at the end.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<u64>,
    },
    /// Event: something happened in a co-browsing session.
    Cobrowse {
        session_id: String,
        event: CobrowseEvent,
    },
    /// Event: another device's windows, tabs or pages changed.
    RemoteChanged,
    /// Event: a tab was sent to this device; open it, then send `tab_opened`.
    TabReceived {
        send_id: String,
        from_device: String,
        url: String,
        title: String,
    },
    /// Event: progress of a tab this device sent.
    Delivery {
        send_id: String,
        state: DeliveryState,
    },
}

impl HostMessage {
    /// The request id this message answers; `null` for events and chunks.
    pub fn reply_id(&self) -> Value {
        match self {
            Self::Pong { id, .. }
            | Self::Error { id, .. }
            | Self::Ack { id }
            | Self::Devices { id, .. }
            | Self::TabDetails { id, .. }
            | Self::TabSent { id, .. }
            | Self::PairCode { id, .. }
            | Self::Paired { id, .. }
            | Self::ShareStarted { id, .. }
            | Self::OperatorJoined { id, .. }
            | Self::CobrowseSessions { id, .. }
            | Self::Recording { id, .. } => id.clone(),
            Self::Status { id, .. } => id.clone().unwrap_or_default(),
            Self::Chunk(_)
            | Self::RemoteChanged
            | Self::TabReceived { .. }
            | Self::Delivery { .. }
            | Self::Cobrowse { .. } => Value::Null,
        }
    }
}

/// A co-browsing event, host → extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
// One value per message, decoded and moved a few times: boxing the large
// variant would save nothing worth an allocation.
#[allow(clippy::large_enum_variant)]
pub enum CobrowseEvent {
    /// Visitor: an operator joined and waits for approval.
    OperatorJoined {
        operator_name: String,
    },
    /// The session's state changed (e.g. the visitor approved).
    State {
        state: crate::cobrowse::SessionState,
    },
    /// A frame from the other side, decrypted.
    Frame {
        seq: u64,
        frame: crate::cobrowse::Frame,
    },
    /// The other side connected or dropped; `ends_at_ms` (this computer's
    /// clock, ms since the epoch) is when the session ends unless it comes
    /// back, when the server said.
    Peer {
        present: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at_ms: Option<i64>,
    },
    /// The relay connection came back after a drop: the operator side asks
    /// for a keyframe.
    Resumed,
    /// The server stopped recording the session at its cap; the live
    /// session goes on.
    RecordingStopped {
        max_bytes: u64,
    },
    Ended {
        reason: Option<String>,
    },
    /// A frame that could not be delivered or opened.
    Error {
        message: String,
    },
}

/// A live co-browsing session as its host last heard of it from the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSession {
    pub session_id: String,
    /// The part this host plays.
    pub role: crate::cobrowse::Role,
    /// The other side's name once known: the visitor's device for an
    /// operator, the operator's for a visitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_name: Option<String>,
    pub state: crate::cobrowse::SessionState,
    pub peer_present: bool,
    /// While the other side is away: when the session ends unless it comes
    /// back (as `CobrowseEvent::Peer` said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_away_ends_at_ms: Option<i64>,
    /// The cap the recording stopped at, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_stopped: Option<u64>,
}

/// One frame of a recording, decrypted by the operator's host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedPlain {
    pub seq: u64,
    pub from: crate::cobrowse::Role,
    pub at_ms: i64,
    pub frame: crate::cobrowse::Frame,
}

/// What the host knows about itself, its server link and this device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostStatus {
    pub host: HostInfo,
    pub server: ServerLink,
    /// `None` until this device is registered with the server.
    pub device: Option<DeviceInfo>,
    #[serde(default)]
    pub sync: SyncStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// Local changes not yet acknowledged by the server.
    pub pending_changes: u64,
    /// Unix ms of the last complete sync, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_ms: Option<i64>,
    /// Devices in this account besides this one.
    #[serde(default)]
    pub other_devices: u32,
    /// Why the last sync failed, in words for the user, while it keeps
    /// failing (it is retried); gone once one succeeds. Not set for an
    /// unreachable server: the link's own state says that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerLink {
    pub url: String,
    pub state: ServerState,
    /// Why the link is not connected, in words for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    Connecting,
    Connected,
    /// Down, or answering something that is not Baton; retried with backoff.
    Unreachable,
    /// The server refused this device's credentials.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub id: String,
    pub name: String,
    pub kind: crate::api::DeviceKind,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(payload: &[u8]) -> ErrorCode {
        Request::parse(payload).unwrap_err().code
    }

    #[test]
    fn parses_ping() {
        let r = Request::parse(br#"{"type":"ping","id":7}"#).unwrap();
        assert_eq!(r, Request { id: json!(7), body: RequestBody::Ping });
    }

    #[test]
    fn typed_errors() {
        assert_eq!(code(b"\xff\xfe"), ErrorCode::InvalidUtf8);
        assert_eq!(code(b"{nope"), ErrorCode::InvalidJson);
        assert_eq!(code(b"[1]"), ErrorCode::NotAnObject);
        assert_eq!(code(br#"{"id":1}"#), ErrorCode::MissingType);
        assert_eq!(code(br#"{"type":"ping"}"#), ErrorCode::MissingId);
        assert_eq!(code(br#"{"type":"ping","id":null}"#), ErrorCode::MissingId);
        assert_eq!(code(br#"{"type":"launch_missiles","id":1}"#), ErrorCode::UnknownType);
        assert_eq!(code(br#"{"type":"tab_opened","id":1}"#), ErrorCode::InvalidRequest);
        assert_eq!(code(br#"{"type":"page_state","id":1,"page":{"tab_id":"x"}}"#), ErrorCode::InvalidRequest);
    }

    #[test]
    fn parses_configure() {
        let r = Request::parse(br#"{"type":"configure","id":3,"server_url":"https://b.example"}"#).unwrap();
        assert_eq!(r.body, RequestBody::Configure { server_url: Some("https://b.example".into()) });
        let r = Request::parse(br#"{"type":"configure","id":4,"server_url":null}"#).unwrap();
        assert_eq!(r.body, RequestBody::Configure { server_url: None });
        let r = Request::parse(br#"{"type":"configure","id":5}"#).unwrap();
        assert_eq!(r.body, RequestBody::Configure { server_url: None });
        assert_eq!(code(br#"{"type":"configure","id":6,"server_url":7}"#), ErrorCode::InvalidRequest);
        let wire = serde_json::to_value(RequestBody::Configure { server_url: Some("http://a:1".into()) }).unwrap();
        assert_eq!(wire, json!({"type":"configure","server_url":"http://a:1"}));
    }

    #[test]
    fn errors_echo_the_id_when_readable() {
        let e = Request::parse(br#"{"type":"bogus","id":"abc"}"#).unwrap_err();
        assert_eq!(e.id, json!("abc"));
    }

    #[test]
    fn wire_shapes() {
        let pong = HostMessage::Pong { id: json!(1), version: "1.0".into() };
        assert_eq!(serde_json::to_value(&pong).unwrap(), json!({"type":"pong","id":1,"version":"1.0"}));
        let err = ProtocolError::new(json!(2), ErrorCode::UnknownType, "x").into_message();
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"type":"error","id":2,"code":"unknown_type","message":"x"})
        );
    }

    #[test]
    fn status_round_trips() {
        let m = HostMessage::Status {
            id: None,
            status: HostStatus {
                host: HostInfo { version: "1".into() },
                server: ServerLink {
                    url: "http://127.0.0.1:1".into(),
                    state: ServerState::Connected,
                    error: None,
                    error_code: None,
                },
                device: None,
                sync: SyncStatus::default(),
            },
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["server"]["state"], "connected");
        assert_eq!(serde_json::from_value::<HostMessage>(v).unwrap(), m);
    }
}
