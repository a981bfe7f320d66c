//! The server API for continuation: token delta sync, pairing, send-to-device.
//!
//! All routes need `Authorization: Bearer <device token>`; the caller's
//! device and account come from it. Bodies are JSON; record bodies and sent
//! tabs are ciphertext (base64), sealed by the host with the account key.
//!
//! ## Delta sync (after seed 004)
//! Every record carries a token (see [`crate::token`]); a collection's token
//! is computed over its `(id, token)` pairs — by hosts and by the server
//! alike. The server keeps, per collection, a change log keyed by the
//! collection token after each upload, so a reader that names the token it
//! holds gets exactly the records changed since.
//!
//! * `POST /v1/sync/upload` [`UploadRequest`] → [`UploadResponse`], or 409
//!   with [`UploadConflict`] when a change names a token the server no longer
//!   has (the host reconciles and retries); then nothing was applied. Only the
//!   owner uploads (the collection is the caller's). A change whose result is
//!   already stored is a no-op whatever it `replaces`, so resending a batch
//!   whose answer was lost is safe. Limits: [`crate::limits::MAX_UPLOAD_CHANGES`],
//!   `MAX_RECORD_ID`, `MAX_RECORD_BODY` (400 `invalid_request` beyond). A
//!   batch that would take the device over the server's quota of live records
//!   or bytes is refused whole with 507 `quota_exceeded` (one that shrinks it
//!   always goes); the host keeps it queued and says so in its sync status.
//! * `POST /v1/sync/pull` [`PullRequest`] → [`PullResponse`]: every
//!   collection of the account's *other* devices whose token differs from
//!   the one the caller holds; unchanged collections are skipped whole. A
//!   collection the caller does not name comes whole (no `deleted`); one
//!   whose token the log no longer has comes as `need_pairs`. Only
//!   collections a device has uploaded to are listed.
//! * `POST /v1/sync/reconcile` [`ReconcileRequest`] → [`CollectionDelta`]:
//!   the fallback when the caller's token is not in the log (or for the owner
//!   after a conflict): the caller sends its `(id, token)` pairs, the server
//!   answers what differs. 404 `unknown_device` when the owner is not a
//!   device of the caller's account.
//! * After each upload the server pushes [`crate::api::PushMessage::Changed`]
//!   to the account's other connected devices.
//!
//! ## Pairing
//! Device A shows a code `LOOKUP-SECRET`. The server sees only `LOOKUP`.
//! The "public keys" A and B exchange through it are SPAKE2 messages
//! (Ed25519 group, 32 bytes) with `SECRET` as the password: the account key
//! travels wrapped under a key derived from the SPAKE2 key, so a server that
//! put messages of its own in between learns nothing it could test guesses
//! of `SECRET` against offline (each pairing tests one guess). B proves it
//! derived the same key ([`PairingProof`]) and A hands the account key over
//! only then: whoever guesses the 4-character `LOOKUP` alone claims the code
//! but never joins the account.
//! * `POST /v1/pairing/offer` [`PairingOffer`] → [`PairingOffered`] (A).
//!   A new offer cancels the device's earlier unclaimed ones. The lookup is
//!   4 characters of Crockford base32; claims read it case-insensitively.
//! * `POST /v1/pairing/claim` [`PairingClaim`] → [`PairingClaimed`] (B); 404
//!   `pairing_code_invalid` when unknown, expired or used, 429 `rate_limited`
//!   (with `Retry-After`) after too many failed claims per client and minute
//!   or per code; 400 when B claims its own code or is already in A's
//!   account. Repeating a successful claim answers the same.
//! * `POST /v1/pairing/{pairing_id}/proof` [`PairingProof`] (B) → 204: the
//!   server pushes `PairingClaimed` (with the proof) to A, which completes
//!   only if the proof holds. 404 `unknown_pairing` for anyone but the
//!   claimer, 409 `pairing_state` when a different proof was given already,
//!   410 `pairing_expired` after the TTL.
//! * `POST /v1/pairing/{pairing_id}/complete` [`PairingComplete`] (A) → 204:
//!   the wrapped account key; the server moves B into A's account, deletes
//!   what B uploaded and was sent under its old key (B re-uploads), pushes
//!   `PairingCompleted` to B and `DevicesChanged` to the account. 409
//!   `pairing_state` before a claim, 410 `pairing_expired` after the TTL.
//! * `POST /v1/pairing/{pairing_id}/refuse` (A) → 204: B's proof did not
//!   hold; the pairing ends `Refused` (B's status says so) and the code is
//!   spent.
//! * `GET /v1/pairing/{pairing_id}` → [`PairingStatus`] (A or B, else 404
//!   `unknown_pairing`; B's fallback to the push).
//!
//! ## Send to device
//! * `POST /v1/sendtab` [`SendTab`] → [`TabSent`]; pushed to the target as
//!   `TabReceived` (or listed by `GET /v1/sendtab/pending` →
//!   [`PendingTabs`] until it reports `delivered`). 404 `unknown_device`
//!   unless the target is another device of the account; 507
//!   `quota_exceeded` when the target holds
//!   [`crate::limits::MAX_SENT_TABS_PER_TARGET`] sends (or their bytes). Undelivered tabs
//!   expire after `SENT_TAB_TTL_MS`.
//! * `POST /v1/sendtab/{send_id}/state` [`DeliveryUpdate`] (target only, else
//!   404 `unknown_send`) → 204; state only moves forward (a repeat is a
//!   no-op); each step forward is pushed to the sender as `Delivery`.
//! * `GET /v1/account/devices` → [`AccountDevices`].

use serde::{Deserialize, Serialize};

use crate::api::DeviceKind;
use crate::records::Collection;
use crate::session::DeliveryState;

pub const PATH_UPLOAD: &str = "/v1/sync/upload";
pub const PATH_PULL: &str = "/v1/sync/pull";
pub const PATH_RECONCILE: &str = "/v1/sync/reconcile";
pub const PATH_PAIRING_OFFER: &str = "/v1/pairing/offer";
pub const PATH_PAIRING_CLAIM: &str = "/v1/pairing/claim";
/// Followed by `/{pairing_id}` and, to complete, `/complete`.
pub const PATH_PAIRING: &str = "/v1/pairing";
pub const PATH_SENDTAB: &str = "/v1/sendtab";
pub const PATH_SENDTAB_PENDING: &str = "/v1/sendtab/pending";
pub const PATH_ACCOUNT_DEVICES: &str = "/v1/account/devices";

/// One record as stored on the server: id, keyed token, ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecord {
    pub id: String,
    pub token: String,
    /// Base64 of nonce || AES-256-GCM ciphertext || tag.
    pub body: String,
}

/// One change in an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordChange {
    pub id: String,
    /// The token this change replaces; `None` when the record is new.
    pub replaces: Option<String>,
    /// The new record; `None` deletes it (a tombstone).
    pub record: Option<SyncRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRequest {
    pub collection: Collection,
    /// Applied atomically, in order.
    pub changes: Vec<RecordChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    /// The collection's token after the upload.
    pub token: String,
}

/// 409 body: which changes named a token the server does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadConflict {
    pub code: String,
    pub message: String,
    pub conflicts: Vec<Conflict>,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub id: String,
    /// What the server holds for this id (`None`: nothing).
    pub server_token: Option<String>,
}

/// A collection as the caller holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CollectionRef {
    pub owner: String,
    pub collection: Collection,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Collections the caller already holds; anything absent is sent whole.
    pub have: Vec<CollectionRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    /// The account's other devices (so the caller can list them).
    pub devices: Vec<AccountDevice>,
    /// Only collections whose token differs from the caller's.
    pub collections: Vec<CollectionDelta>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionDelta {
    pub owner: String,
    pub collection: Collection,
    /// The collection's current token.
    pub token: String,
    #[serde(flatten)]
    pub change: DeltaKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "delta", rename_all = "snake_case")]
pub enum DeltaKind {
    /// Records changed or added since the caller's token, and deleted ids.
    Changes { changed: Vec<SyncRecord>, deleted: Vec<String> },
    /// The caller's token is unknown to the log: call reconcile.
    NeedPairs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileRequest {
    pub owner: String,
    pub collection: Collection,
    /// Every `(record id, token)` the caller holds for the collection.
    pub pairs: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDevice {
    pub id: String,
    pub name: String,
    pub kind: DeviceKind,
    pub last_seen_ms: i64,
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDevices {
    pub account_id: String,
    pub devices: Vec<AccountDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingOffer {
    /// Base64 of A's SPAKE2 message (32 bytes).
    pub public_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingOffered {
    pub pairing_id: String,
    /// The part of the code the server knows.
    pub lookup: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingClaim {
    pub lookup: String,
    /// Base64 of B's SPAKE2 message (32 bytes).
    pub public_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingProof {
    /// Base64 of HMAC-SHA-256 (32 bytes) under a key derived from the SPAKE2
    /// key over the pairing id: the offering device checks it (the server
    /// cannot), and it says nothing about `SECRET` to anyone else.
    pub proof: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingClaimed {
    pub pairing_id: String,
    /// A's SPAKE2 message, for B's side of the agreement.
    pub offer_public_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingComplete {
    /// Base64 of the account key sealed under the agreed wrapping key.
    pub wrapped_account_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairingState {
    Offered,
    Claimed,
    Complete,
    Expired,
    /// The offerer refused the claim: its proof of the code's secret part
    /// did not hold.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingStatus {
    pub pairing_id: String,
    pub state: PairingState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_public_key: Option<String>,
    /// The claimer's [`PairingProof::proof`], once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_proof: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_account_key: Option<String>,
    /// The account both devices share once complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendTab {
    pub target_device: String,
    /// Base64 ciphertext of a [`SentTab`].
    pub body: String,
}

/// The plaintext of a sent tab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentTab {
    pub url: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabSent {
    pub send_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTab {
    pub send_id: String,
    pub from_device: String,
    pub body: String,
    pub sent_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTabs {
    pub tabs: Vec<PendingTab>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryUpdate {
    pub state: DeliveryState,
}
