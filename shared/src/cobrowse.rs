//! Co-browsing: a visitor shares one tab with an operator (after seeds 000
//! and 002).
//!
//! ## Roles and path
//! The visitor's content script captures the tab (masked at capture) →
//! visitor's worker → visitor's host → the server's relay room → operator's
//! host → operator's console (an extension page). Operator input flows back
//! the same way. Hosts encrypt every [`Frame`] end to end; the relay sees
//! [`RelayMessage`] envelopes with sequence numbers and ciphertext only.
//!
//! ## Start, code and key
//! The visitor's host creates a session on the server ([`CreateSession`] →
//! [`SessionCreated`]); the code shown to the visitor is `LOOKUP-SECRET`, of
//! which the server only ever sees `LOOKUP`. The operator's host joins with
//! the code ([`JoinSession`] → [`SessionJoined`]). The "public keys" the two
//! hosts exchange through the server are SPAKE2 messages (Ed25519 group, 32
//! bytes) with `SECRET` as the password, so the server can neither read
//! frames nor test guesses of `SECRET` offline, even by putting messages of
//! its own in between (each exchange tests one guess). Both hosts derive the
//! frame key with HKDF-SHA256 from the SPAKE2 key, info
//! `"baton cobrowse v2" || session id || visitor msg || operator msg`. Codes
//! are single use, valid [`crate::limits::COBROWSE_CODE_TTL_MS`], and
//! guesses are rate-limited per client and per code. A joined session the
//! visitor has not approved within [`crate::limits::COBROWSE_CONSENT_TTL_MS`]
//! ends (both sockets get `End`).
//!
//! ## Server routes (bearer device token on all)
//! * `POST /v1/cobrowse/sessions` [`CreateSession`] → [`SessionCreated`] (visitor)
//! * `POST /v1/cobrowse/join` [`JoinSession`] → [`SessionJoined`] (operator);
//!   404 `cobrowse_code_invalid`, 429 `rate_limited`.
//! * `GET /v1/cobrowse/{session_id}/relay` — WebSocket; both sides exchange
//!   [`RelayMessage`]s. Reconnecting to a live session resumes it (also
//!   after a server restart: sessions are stored).
//! * `GET /v1/cobrowse/{session_id}/audit` → [`AuditLog`] (devices of the
//!   visitor's account; later: the organisation's admins).
//! * `GET /v1/cobrowse/{session_id}/recording?after=N&limit=M` → one page
//!   of the [`Recording`] (ciphertext; the operator's host holds the key):
//!   frames stored after cursor `N` (0 or absent: from the start), at most
//!   `M` ([`crate::limits::RECORDING_PAGE_FRAMES`]) frames and about
//!   [`crate::limits::RECORDING_PAGE_BYTES`]; `next` is the cursor of the
//!   following page, absent on the last. See [`RecordingQuery`].
//!
//! ## Frames
//! [`VisitorFrame`]s carry the page: a [`Snapshot`] (keyframe) with stable
//! node ids, then incremental records. [`OperatorFrame`]s carry pointer,
//! annotations, control requests and commands, and pushed apps. Any gap in
//! sequence numbers, or a reconnect, makes the console send
//! [`OperatorFrame::KeyframeRequest`].

use serde::{Deserialize, Serialize};

pub const PATH_SESSIONS: &str = "/v1/cobrowse/sessions";
pub const PATH_JOIN: &str = "/v1/cobrowse/join";
/// Followed by `/{session_id}/relay`, `/audit` or `/recording`.
pub const PATH_SESSION: &str = "/v1/cobrowse";

/// A node's id, stable for the node's life in the page. `0` is never a
/// node; in scroll records it means the window.
pub type NodeId = u32;

pub const WINDOW: NodeId = 0;

// ---- server API -------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSession {
    /// Base64 of the visitor's SPAKE2 message (32 bytes).
    pub visitor_public_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCreated {
    pub session_id: String,
    /// The half of the code the server knows.
    pub lookup: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinSession {
    pub lookup: String,
    /// Base64 of the operator's SPAKE2 message (32 bytes).
    pub operator_public_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionJoined {
    pub session_id: String,
    pub visitor_public_key: String,
    /// The visitor device's name, for the console.
    pub visitor_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Visitor,
    Operator,
}

impl Role {
    /// The other side of a session.
    pub fn other(self) -> Role {
        match self {
            Role::Visitor => Role::Operator,
            Role::Operator => Role::Visitor,
        }
    }
}

/// What crosses the relay WebSocket, in both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum RelayMessage {
    /// Server → client, first on every (re)connect.
    Hello {
        session_id: String,
        role: Role,
        state: SessionState,
        peer_present: bool,
        /// The cap (bytes) at which this session's recording stopped, if it
        /// did: a side that connects later learns what `RecordingStopped` said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording_stopped: Option<u64>,
        /// The other side is away from the active session: it ends in this
        /// many milliseconds unless they come back (as with `Peer`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer_away_ends_in_ms: Option<u64>,
    },
    /// An encrypted [`Frame`]. Clients send it without `from`; the server
    /// stamps the sender's role when forwarding. `seq` counts per sender
    /// from 1 and is bound into the ciphertext (AES-GCM associated data).
    Frame {
        seq: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Role>,
        /// Base64 of nonce || ciphertext || tag of the deflated frame JSON.
        ct: String,
    },
    /// Server → client: the operator has joined (to the visitor, with the
    /// name the visitor's consent prompt shows).
    OperatorJoined { operator_public_key: String, operator_name: String },
    /// Server → client: the other side connected or dropped; when it
    /// dropped from an active session, `ends_in_ms` says when the session
    /// ends unless it comes back (`COBROWSE_AWAY_TTL_MS`).
    Peer {
        present: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_in_ms: Option<u64>,
    },
    /// Server → both clients: the session's state changed (e.g. the
    /// visitor's consent made it `active`). `Hello` carries it on (re)connect.
    State { state: SessionState },
    /// Client → server: a plaintext audit entry (metadata only; never page
    /// content). The server stamps time and role and chains it.
    /// `n` numbers a side's entries from 1. A client sends its unanswered
    /// entries again on every new connection (a dropped one may have lost
    /// them unread); the server applies each number once and answers
    /// `Applied` with it.
    Audit {
        event: AuditEvent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        n: Option<u64>,
    },
    /// Server → client: the numbered `Audit` was dealt with (applied, a
    /// duplicate, or refused with an `Error`); the client need not resend it.
    Applied { n: u64 },
    /// Client → server: ends the session. Server → client: it ended.
    End {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Server → both clients: the session's recording reached `max_bytes`
    /// ([`crate::limits::MAX_RECORDING_BYTES`]) and stopped; the live
    /// session goes on.
    RecordingStopped { max_bytes: u64 },
    /// Server → client: a message was refused (malformed, too large, wrong state).
    Error { code: String, message: String },
}

/// `code` values of [`RelayMessage::Error`]. The socket stays open after each.
pub mod relay_error {
    /// Not JSON text, not a relay message, a message only the server sends,
    /// or an audit entry number out of range (0, or over 63 bits).
    pub const MALFORMED: &str = "malformed";
    /// Over [`crate::limits::MAX_RELAY_MESSAGE`], or an audit event over
    /// [`crate::limits::MAX_AUDIT_EVENT`].
    pub const TOO_LARGE: &str = "too_large";
    /// A frame (or a control entry) before the visitor approved the operator.
    pub const NOT_CONSENTED: &str = "not_consented";
    /// An audit entry this side may not write: consent, recording consent,
    /// grants and revokes are the visitor's; pushes the operator's;
    /// `started`, `operator_joined`, `ended`, `expired`,
    /// `consent_expired` and `recording_limit_reached` the server's.
    pub const FORBIDDEN: &str = "forbidden";
    /// An entry the session's state does not allow (e.g. consent twice).
    pub const WRONG_STATE: &str = "wrong_state";
    pub const INTERNAL: &str = "internal";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Code shown, no operator yet.
    Waiting,
    /// Operator joined; the visitor has not approved yet.
    AwaitingConsent,
    Active,
    Ended,
}

/// What the audit log records. Metadata only: which node, which scope,
/// which kind of command — never typed text, URLs of the page or values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEvent {
    Started,
    OperatorJoined {
        operator_name: String,
    },
    Consent {
        approved: bool,
    },
    RecordingConsent {
        approved: bool,
    },
    Granted {
        scopes: Vec<Scope>,
    },
    Revoked {
        scopes: Vec<Scope>,
    },
    Command {
        command: CommandKind,
        ok: bool,
    },
    Pushed {
        push: PushKind,
    },
    AppState {
        app_id: String,
        state: AppState,
    },
    Ended {
        by: Role,
    },
    /// Server: the code expired before an operator joined.
    Expired,
    /// Server: the session's recording reached `max_bytes`
    /// ([`crate::limits::MAX_RECORDING_BYTES`]); nothing more is recorded.
    RecordingLimitReached {
        max_bytes: u64,
    },
    /// Server: the visitor did not answer the operator's join within
    /// [`crate::limits::COBROWSE_CONSENT_TTL_MS`].
    ConsentExpired,
    /// Server: `away` stayed disconnected from the active session for
    /// [`crate::limits::COBROWSE_AWAY_TTL_MS`].
    Abandoned {
        away: Role,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at_ms: i64,
    /// Who caused it; `None` for the server itself.
    pub role: Option<Role>,
    pub event: AuditEvent,
    /// Lowercase hex SHA-256 over the previous entry's hash and this entry's
    /// canonical encoding without `hash` (see [`audit_hash_input`]).
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLog {
    pub session_id: String,
    pub entries: Vec<AuditEntry>,
}

/// The bytes an audit entry's hash covers: the previous hash (64 zeros for
/// the first entry), a NUL, then the canonical encoding of
/// `{seq, at_ms, role, event}`.
pub fn audit_hash_input(prev_hash: &str, seq: u64, at_ms: i64, role: Option<Role>, event: &AuditEvent) -> Vec<u8> {
    #[derive(Serialize)]
    struct Covered<'a> {
        seq: u64,
        at_ms: i64,
        role: Option<Role>,
        event: &'a AuditEvent,
    }
    let mut out = prev_hash.as_bytes().to_vec();
    out.push(0);
    out.extend(crate::canonical::to_canonical(&Covered { seq, at_ms, role, event }).unwrap_or_default());
    out
}

pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFrame {
    pub seq: u64,
    pub from: Role,
    pub at_ms: i64,
    pub ct: String,
}

/// One page of a recording, frames in the order they were stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    pub session_id: String,
    pub frames: Vec<RecordedFrame>,
    /// Pass as `after` for the next page; absent when this page is the last
    /// (so far: a live session may record more later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// The query of the recording route. Cursors are opaque: take them only
/// from [`Recording::next`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// 1 to [`crate::limits::RECORDING_PAGE_FRAMES`] (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl RecordingQuery {
    /// The path and query of this page of `session_id`'s recording.
    pub fn path(&self, session_id: &str) -> String {
        let mut path = format!("{PATH_SESSION}/{session_id}/recording");
        let mut sep = '?';
        if let Some(after) = self.after {
            path.push_str(&format!("{sep}after={after}"));
            sep = '&';
        }
        if let Some(limit) = self.limit {
            path.push_str(&format!("{sep}limit={limit}"));
        }
        path
    }
}

// ---- end-to-end frames ------------------------------------------------------

/// The plaintext inside a relay `Frame`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dir", rename_all = "snake_case")]
pub enum Frame {
    Visitor { frame: VisitorFrame },
    Operator { frame: OperatorFrame },
}

/// Visitor → operator: the page, and answers to the operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum VisitorFrame {
    /// A full keyframe. Node ids restart with each snapshot. Boxed: every
    /// other frame is a fraction of its size.
    Snapshot(Box<Snapshot>),
    /// Repeated assets (stylesheet text, data URLs), sent once per session
    /// and referenced by hash.
    Assets {
        assets: Vec<Asset>,
    },
    Mutations(Mutations),
    Input(InputChange),
    Scroll {
        id: NodeId,
        x: i32,
        y: i32,
    },
    Pointer {
        x: i32,
        y: i32,
        /// The innermost captured element under the pointer, whose `:hover`
        /// the console shows (with its ancestors').
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on: Option<NodeId>,
    },
    Selection {
        ranges: Vec<SelectionRange>,
    },
    /// What the page shows in the browser's top layer, above everything
    /// else, bottom first: modal dialogs and open popovers. No attribute
    /// tells it (`showPopover()` changes none), so it travels on its own,
    /// after a snapshot and whenever it changes; the whole list each time.
    TopLayer {
        shown: Vec<(NodeId, OnTop)>,
    },
    /// The element that has the visitor's focus (the innermost captured
    /// one), whose `:focus` and `:focus-within` the console shows; `None`:
    /// none. Sent after a snapshot when there is one, and when it moves.
    Focus {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on: Option<NodeId>,
    },
    /// What a `<canvas>` shows, as an image: a `data:` URL (PNG or WebP)
    /// or an asset reference to one. Drawing changes no attribute, so it
    /// travels on its own, after a snapshot and when it changes.
    Canvas {
        id: NodeId,
        src: String,
    },
    Viewport {
        w: u32,
        h: u32,
    },
    /// The page's address, title or base URL changed in the same document
    /// (`history.pushState`, a script setting `document.title`, a `<base>`
    /// added), as a snapshot would carry them: what the console names the
    /// page, and what URLs the page adds from now on resolve against.
    Address {
        url: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<String>,
    },
    /// The page navigated; a snapshot follows.
    Navigated {
        url: String,
        title: String,
    },
    /// Scopes currently granted to the operator.
    Grants {
        scopes: Vec<Scope>,
    },
    CommandResult {
        cmd_id: u64,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The visitor accepted or declined a pushed URL or app; `refused` says
    /// why when the visitor's side refused it without asking (an app or URL
    /// its rules do not allow).
    PushAnswer {
        push_id: String,
        accepted: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused: Option<String>,
    },
    AppState {
        app_id: String,
        state: AppState,
    },
    /// The apps in the page now, sent with every keyframe: a console that
    /// (re)opened mid-session learns them, and one that missed a frame
    /// catches up.
    Apps {
        apps: Vec<LiveApp>,
    },
    /// An ordered event from a pushed app to the console.
    AppEvent {
        app_id: String,
        seq: u64,
        event: serde_json::Value,
    },
    /// In place of a frame the visitor's side could not send, too large
    /// for the way even when cut into pieces (one node or asset over what
    /// the relay or the browser's messaging takes): the mirror misses that
    /// part of the page. `bytes`: how large it was (sealed, or as JSON).
    TooLarge {
        bytes: u64,
    },
}

/// Operator → visitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum OperatorFrame {
    /// A gap, a reconnect or a fresh console: send a new snapshot.
    KeyframeRequest,
    /// The operator's pointer, in the visitor's viewport coordinates.
    Pointer {
        x: i32,
        y: i32,
    },
    /// A click ripple at a point (no effect on the page).
    Ripple {
        x: i32,
        y: i32,
    },
    /// Outline a node (`None` clears it).
    Highlight {
        id: Option<NodeId>,
    },
    /// A freehand stroke in viewport coordinates; cleared on scroll or stop.
    Annotation {
        points: Vec<(i32, i32)>,
        color: String,
    },
    ClearAnnotations,
    /// Ask the visitor for control scopes.
    ControlRequest {
        scopes: Vec<Scope>,
    },
    Command {
        cmd_id: u64,
        command: Command,
        /// The [`Snapshot::generation`] the command's node ids come from;
        /// the page refuses a node command whose snapshot was replaced.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generation: Option<u64>,
    },
    /// Offer a URL to open (the visitor is asked).
    PushUrl {
        push_id: String,
        url: String,
    },
    /// Push an app into the page (configured on the operator side first).
    PushApp {
        app_id: String,
        app: App,
    },
    HoldApp {
        app_id: String,
    },
    ResumeApp {
        app_id: String,
    },
    PullApp {
        app_id: String,
    },
    /// An ordered event from the console to a pushed app.
    AppEvent {
        app_id: String,
        seq: u64,
        event: serde_json::Value,
    },
}

/// How an element is in the top layer ([`VisitorFrame::TopLayer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTop {
    /// A `<dialog>` opened with `showModal()`.
    Modal,
    /// An element with `popover`, shown.
    Popover,
}

/// Remote-control scopes, granted and revoked one by one by the visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Scroll,
    Click,
    Type,
    Navigate,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Scroll, Scope::Click, Scope::Type, Scope::Navigate];
}

/// Typed control commands, executed by the visitor's content script — never
/// on masked or private nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "c", rename_all = "snake_case")]
pub enum Command {
    Click { id: NodeId },
    TypeText { id: NodeId, text: String },
    ScrollTo { id: NodeId, x: i32, y: i32 },
    Navigate { url: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    Click,
    TypeText,
    ScrollTo,
    Navigate,
}

impl Command {
    /// The node the command acts on, if it names one (the window is the
    /// same in every snapshot, so it does not count).
    pub fn node(&self) -> Option<NodeId> {
        match self {
            Self::Click { id } | Self::TypeText { id, .. } => Some(*id),
            Self::ScrollTo { id, .. } if *id != WINDOW => Some(*id),
            Self::ScrollTo { .. } | Self::Navigate { .. } => None,
        }
    }

    pub fn kind(&self) -> CommandKind {
        match self {
            Self::Click { .. } => CommandKind::Click,
            Self::TypeText { .. } => CommandKind::TypeText,
            Self::ScrollTo { .. } => CommandKind::ScrollTo,
            Self::Navigate { .. } => CommandKind::Navigate,
        }
    }

    /// The scope a command needs.
    pub fn scope(&self) -> Scope {
        match self {
            Self::Click { .. } => Scope::Click,
            Self::TypeText { .. } => Scope::Type,
            Self::ScrollTo { .. } => Scope::Scroll,
            Self::Navigate { .. } => Scope::Navigate,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    Url,
    Viewer,
    Form,
    Module,
}

/// An app pushed into the visitor's page, inside a sandboxed frame in a
/// closed shadow root. It never sees the page's cookies or storage, nor the
/// host's tokens; it talks to the console only through `AppEvent`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "app", rename_all = "snake_case")]
pub enum App {
    /// Built-in viewer for a document or an image (http(s) or data:image URL).
    Viewer { url: String, title: String },
    /// A form the operator prefilled; the visitor's answers come back as an event.
    Form { title: String, fields: Vec<AppField> },
    /// A module from an origin on the allowlist, loaded in a sandboxed frame.
    Module { url: String },
}

impl App {
    pub fn kind(&self) -> PushKind {
        match self {
            Self::Viewer { .. } => PushKind::Viewer,
            Self::Form { .. } => PushKind::Form,
            Self::Module { .. } => PushKind::Module,
        }
    }
}

/// An app in the visitor's page (pushed or held) and what was pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveApp {
    pub app_id: String,
    pub app: App,
    pub state: AppState,
    /// Console → app events the page has taken in, in order: a console
    /// that reopens numbers its next event on from there.
    #[serde(default)]
    pub console_events: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppField {
    pub name: String,
    pub label: String,
    pub value: String,
}

/// configure (operator only) → pushed ↔ held → pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppState {
    Configure,
    Pushed,
    Held,
    Pulled,
}

// ---- the page, as captured --------------------------------------------------

/// The media features that say what the person prefers (not what the
/// screen is), each with the values it can take, the default first. They
/// are the ones that differ between the visitor's browser and the
/// operator's showing the same page: a dark theme, fewer animations.
pub const MEDIA_PREFERENCES: [(&str, &[&str]); 4] = [
    ("prefers-color-scheme", &["light", "dark"]),
    ("prefers-reduced-motion", &["no-preference", "reduce"]),
    ("prefers-contrast", &["no-preference", "more", "less", "custom"]),
    ("prefers-reduced-transparency", &["no-preference", "reduce"]),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub url: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctype: Option<String>,
    /// The document element.
    pub root: Node,
    /// The document's base URL when it is not `url` (a `<base href>`):
    /// what its relative URLs resolve against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    pub viewport: (u32, u32),
    /// Window scroll and scrolled elements, as `(node, x, y)`.
    pub scroll: Vec<(NodeId, i32, i32)>,
    /// The visitor's settings the page may style on, as `(feature, value)`
    /// from [`MEDIA_PREFERENCES`] (`("prefers-color-scheme", "dark")`). The
    /// console answers the page's media queries with them: the operator's
    /// own settings would show another page. A change takes a keyframe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefers: Vec<(String, String)>,
    /// Which snapshot of the page this is, stamped by the visitor's page as
    /// it sends it: node ids are given anew with each, so a command names
    /// the snapshot its ids come from ([`OperatorFrame::Command`]). 0: not
    /// stamped (a recording's or a test's).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A node. Field names are one letter: snapshots of big pages are large.
///
/// ## Implicit ids
/// `i` may be omitted (it reads as [`IMPLICIT`]) when it is the id of the
/// node before it in document order plus one: an element, then its
/// children `c`, then its shadow children `s`, then its iframe document
/// `f`. The top node of a snapshot or of an added node always carries its
/// id. Senders omit them with [`elide_ids`]; readers call [`resolve_ids`]
/// before looking at ids.
///
/// On the wire a node is an object without a kind tag (`node_wire`): an
/// element has `n`, a text `v`, a comment neither.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Element.
    Element {
        i: NodeId,
        /// Tag name, lowercase; SVG and MathML children keep their case.
        n: String,
        /// Attributes after masking (values of masked fields replaced).
        a: Vec<(String, String)>,
        c: Vec<Node>,
        /// Shadow root children (open or closed).
        s: Option<Vec<Node>>,
        /// Adopted stylesheets (of the shadow root, or of the document on
        /// the root element), as asset hashes.
        y: Vec<String>,
        /// For `<style>`/`<link rel=stylesheet>`: the sheet's CSS as an asset hash
        /// (CSSOM rules included).
        css: Option<String>,
        /// A same-origin iframe's document element.
        f: Option<Box<Node>>,
        /// Masked: a same-size placeholder `(width, height)` in CSS px; no
        /// children or text were captured.
        m: Option<(u32, u32)>,
    },
    Text {
        i: NodeId,
        v: String,
    },
    Comment {
        i: NodeId,
    },
}

mod node_wire;

pub mod asset_ref;

mod pieces;
pub use pieces::into_pieces;

/// An omitted id (see [`Node`]): never a node's real id.
pub const IMPLICIT: NodeId = 0;

impl Node {
    /// An element with attributes `a` and nothing else: no children, shadow
    /// tree, sheets or frame; `m`: the size of the placeholder it stands as,
    /// if it is one.
    pub fn element(i: NodeId, n: impl Into<String>, a: Vec<(String, String)>, m: Option<(u32, u32)>) -> Node {
        Node::Element { i, n: n.into(), a, c: vec![], s: None, y: vec![], css: None, f: None, m }
    }

    /// The node's id ([`IMPLICIT`] if omitted and not resolved yet).
    pub fn id(&self) -> NodeId {
        match self {
            Self::Element { i, .. } | Self::Text { i, .. } | Self::Comment { i } => *i,
        }
    }

    fn id_mut(&mut self) -> &mut NodeId {
        match self {
            Self::Element { i, .. } | Self::Text { i, .. } | Self::Comment { i } => i,
        }
    }

    /// Children in document order: `c`, then `s`, then `f`.
    fn each_child(&mut self, f: &mut impl FnMut(&mut Node)) {
        if let Self::Element { c, s, f: frame, .. } = self {
            c.iter_mut().for_each(&mut *f);
            if let Some(s) = s {
                s.iter_mut().for_each(&mut *f);
            }
            if let Some(d) = frame {
                f(d);
            }
        }
    }
}

/// Omits the ids below `top` that follow from document order (sender side).
pub fn elide_ids(top: &mut Node) {
    fn walk(n: &mut Node, prev: &mut NodeId) {
        let id = n.id();
        if id != IMPLICIT && id == prev.wrapping_add(1) {
            *n.id_mut() = IMPLICIT;
        }
        if id != IMPLICIT {
            *prev = id;
        }
        n.each_child(&mut |c| walk(c, prev));
    }
    let mut prev = top.id();
    top.each_child(&mut |c| walk(c, &mut prev));
}

/// Fills in omitted ids (reader side). `false` when the top node has no id
/// (nothing is changed then).
pub fn resolve_ids(top: &mut Node) -> bool {
    fn walk(n: &mut Node, prev: &mut NodeId) {
        if n.id() == IMPLICIT {
            *n.id_mut() = prev.wrapping_add(1);
        }
        *prev = n.id();
        n.each_child(&mut |c| walk(c, prev));
    }
    if top.id() == IMPLICIT {
        return false;
    }
    let mut prev = top.id();
    top.each_child(&mut |c| walk(c, &mut prev));
    true
}

/// Whether any node below `top` omits its id.
pub fn has_implicit_ids(top: &Node) -> bool {
    let mut stack = vec![top];
    while let Some(n) = stack.pop() {
        if let Node::Element { c, s, f, .. } = n {
            for k in c.iter().chain(s.iter().flatten()).chain(f.iter().map(|b| &**b)) {
                if k.id() == IMPLICIT {
                    return true;
                }
                stack.push(k);
            }
        }
    }
    false
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// Lowercase hex SHA-1 of `data`.
    pub hash: String,
    /// `text/css`, or the MIME type of a data URL's payload.
    pub mime: String,
    pub data: String,
}

/// One batch of DOM changes, applied in this order: removes, adds, attrs, texts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mutations {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removes: Vec<NodeId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adds: Vec<AddedNode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<AttrChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<(NodeId, String)>,
    /// A stylesheet's CSS changed (insertRule, replaceSync, …): owner node
    /// (`<style>`, `<link>`, or the shadow host / root element for adopted
    /// sheets) and the new asset hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub styles: Vec<(NodeId, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddedNode {
    pub parent: NodeId,
    /// Insert before this sibling; `None` appends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<NodeId>,
    /// Added to the parent's shadow root rather than its children.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
    pub node: Node,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrChange {
    pub id: NodeId,
    pub name: String,
    /// `None` removes the attribute.
    pub value: Option<String>,
}

/// A form value changed. Masked fields carry a mask of the same length;
/// password, `cc-*` and one-time-code fields never produce this at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputChange {
    pub id: NodeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionRange {
    pub start: NodeId,
    pub start_offset: u32,
    pub end: NodeId,
    pub end_offset: u32,
}

/// The character that replaces each character of a masked value or text.
pub const MASK_CHAR: char = '*';

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_node_shape() {
        let n = Node::Element {
            i: 1,
            n: "p".into(),
            a: vec![("class".into(), "x".into())],
            c: vec![Node::Text { i: 2, v: "hi".into() }],
            s: None,
            y: vec![],
            css: None,
            f: None,
            m: None,
        };
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            json!({"i":1,"n":"p","a":[["class","x"]],"c":[{"i":2,"v":"hi"}]})
        );
    }

    #[test]
    fn implicit_ids_round_trip() {
        let el =
            |i, c| Node::Element { i, n: "p".into(), a: vec![], c, s: None, y: vec![], css: None, f: None, m: None };
        let mut host = el(7, vec![Node::Text { i: 8, v: "a".into() }]);
        if let Node::Element { s, f, .. } = &mut host {
            *s = Some(vec![Node::Comment { i: 9 }, Node::Comment { i: 12 }]);
            *f = Some(Box::new(el(13, vec![])));
        }
        let full =
            el(5, vec![Node::Text { i: 6, v: "x".into() }, host, el(20, vec![Node::Text { i: 21, v: "y".into() }])]);
        let mut wire = full.clone();
        elide_ids(&mut wire);
        assert!(has_implicit_ids(&wire));
        let text = serde_json::to_string(&wire).unwrap();
        assert_eq!(
            text,
            r#"{"i":5,"n":"p","c":[{"v":"x"},{"n":"p","c":[{"v":"a"}],"s":[{},{"i":12}],"f":{"n":"p"}},{"i":20,"n":"p","c":[{"v":"y"}]}]}"#
        );
        let mut back: Node = serde_json::from_str(&text).unwrap();
        assert!(resolve_ids(&mut back));
        assert_eq!(back, full);
        assert!(!has_implicit_ids(&back));
        // Explicit ids everywhere (older senders) read the same.
        let mut old = full.clone();
        assert!(resolve_ids(&mut old));
        assert_eq!(old, full);
        // Objects with the kind tag older senders wrote read the same.
        let tagged: Node =
            serde_json::from_str(r#"{"t":"e","i":5,"n":"p","c":[{"t":"x","v":"x"},{"t":"c"}]}"#).unwrap();
        assert_eq!(tagged, el(5, vec![Node::Text { i: 0, v: "x".into() }, Node::Comment { i: 0 }]));
        assert!(serde_json::from_str::<Node>(r#"{"t":"e","i":1}"#).is_err(), "an element needs a name");
        assert!(serde_json::from_str::<Node>(r#"{"t":"q","i":1}"#).is_err(), "unknown kinds are refused");
        // A top node without an id cannot be resolved.
        let mut bad: Node = serde_json::from_str(r#"{"t":"x","v":"z"}"#).unwrap();
        assert!(!resolve_ids(&mut bad));
    }

    #[test]
    fn frames_round_trip() {
        let frames = [
            Frame::Operator {
                frame: OperatorFrame::Command { cmd_id: 1, command: Command::Click { id: 5 }, generation: Some(3) },
            },
            Frame::Visitor { frame: VisitorFrame::Scroll { id: WINDOW, x: 0, y: 10 } },
            Frame::Visitor { frame: VisitorFrame::Mutations(Mutations { removes: vec![3], ..Default::default() }) },
            Frame::Operator {
                frame: OperatorFrame::PushApp {
                    app_id: "a".into(),
                    app: App::Viewer { url: "https://x/y.pdf".into(), title: "Y".into() },
                },
            },
        ];
        for f in frames {
            let text = serde_json::to_string(&f).unwrap();
            assert_eq!(serde_json::from_str::<Frame>(&text).unwrap(), f, "{text}");
        }
        let relay = RelayMessage::Frame { seq: 3, from: None, ct: "AA==".into() };
        assert_eq!(serde_json::to_value(&relay).unwrap(), json!({"t":"frame","seq":3,"ct":"AA=="}));
    }

    #[test]
    fn commands_name_their_scope() {
        assert_eq!(Command::TypeText { id: 1, text: "x".into() }.scope(), Scope::Type);
        assert_eq!(Command::Navigate { url: "https://a".into() }.kind(), CommandKind::Navigate);
    }

    #[test]
    fn audit_hash_input_chains() {
        let a = audit_hash_input(AUDIT_GENESIS, 1, 5, Some(Role::Visitor), &AuditEvent::Started);
        assert!(a.starts_with(AUDIT_GENESIS.as_bytes()));
        let b = audit_hash_input("ff", 1, 5, Some(Role::Visitor), &AuditEvent::Started);
        assert_ne!(a, b);
    }
}
