//! Co-browsing, the host's part: sessions with the server's relay, and
//! end-to-end encryption of every frame between the two hosts.
//!
//! * Visitor: `share_start` makes the code `LOOKUP-SECRET` read to the
//!   operator, and its half of a SPAKE2 exchange with `SECRET` as the
//!   password; only `LOOKUP` and the SPAKE2 message go to the server. When
//!   the relay says the operator joined, both messages are known and the
//!   frame key is derived (`keys.rs`); frames leave only after the visitor
//!   approved (`share_respond`).
//! * Operator: `operator_join` claims the code, derives the same key, and
//!   opens the relay.
//! * Frames (`frames.rs`) are numbered per sender from 1, deflated and
//!   sealed; the relay sees only ciphertext. The sender acknowledges a
//!   frame once it is queued; the relay connection (`relay.rs`) sends the
//!   queue in order, reconnecting with backoff, and turns what arrives into
//!   `cobrowse` events. A gap in the numbers, or a reconnect on the
//!   operator's side, is reported as `Resumed` so the console asks for a
//!   keyframe.
//!
//! Sessions live in memory: a host restart ends them (the browser restarted
//! too, or the host was killed). The extension then ends each of them here
//! on this host's side, and asks the next host to end them at the server
//! (`end_not_held`: it says `End` on the relay as this device), so the other
//! side is not left waiting. Moving the server link elsewhere (`configure`)
//! ends them too, with the reason told to both sides (`end_for_move`). Frame keys are also stored, sealed by the vault, so a recorded
//! session can be replayed later (`recording.rs`). Nothing on the frame
//! path touches the disk.

mod frames;
mod keys;
mod recording;
mod relay;
mod session;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;

use baton_shared::cobrowse::{
    AuditEvent, CreateSession, Frame, JoinSession, RelayMessage, Role, SessionCreated, SessionJoined, VisitorFrame,
    PATH_JOIN, PATH_SESSIONS,
};
use baton_shared::native::{CobrowseEvent, ErrorCode, RecordedPlain};

use crate::context::{HostContext, RequestError};
use crate::pairing;
use crate::server_api::CallError;

pub use session::Sessions;
use session::{EncodeJob, OutKind, Outgoing, Session};

fn not_active(message: impl Into<String>) -> RequestError {
    RequestError::new(ErrorCode::CobrowseNotActive, message)
}

/// Visitor: creates a session; returns its id, the code and when the code expires.
pub async fn share_start(ctx: Arc<HostContext>) -> Result<(String, String, i64), RequestError> {
    let (api, _) = ctx.api()?;
    let secret = pairing::random_secret()?;
    let agreement = keys::code_key(&secret, Role::Visitor);
    let created: SessionCreated =
        api.post(PATH_SESSIONS, &CreateSession { visitor_public_key: agreement.public_b64() }).await?;
    check_session_id(&created.session_id)
        .map_err(|_| RequestError::new(ErrorCode::ServerGarbage, "the server named the session with an unusable id"))?;
    let code = format!("{}-{secret}", created.lookup);
    let (session, jobs) = Session::new(created.session_id.clone(), Role::Visitor, None, ctx.events.clone());
    if let Ok(mut slot) = session.agreement.lock() {
        *slot = Some(agreement);
    }
    start(&ctx, session, jobs);
    tracing::info!("co-browsing {}: shared, waiting for an operator", created.session_id);
    Ok((created.session_id, code, created.expires_ms))
}

/// Operator: joins with the visitor's code; returns the session id and the visitor's name.
pub async fn operator_join(ctx: Arc<HostContext>, code: &str) -> Result<(String, String), RequestError> {
    let (lookup, secret) = pairing::split_code(code).map_err(|problem| {
        RequestError::new(
            ErrorCode::CobrowseCodeInvalid,
            format!("A co-browsing code looks like ABCD-7KQ2M9 (as the visitor reads it); {problem}"),
        )
    })?;
    let (api, _) = ctx.api()?;
    let agreement = keys::code_key(&secret, Role::Operator);
    let join = JoinSession { lookup, operator_public_key: agreement.public_b64() };
    let joined: SessionJoined = api.post(PATH_JOIN, &join).await.map_err(|e| match e {
        CallError::Status { status: 404 | 410, .. } => RequestError::new(
            ErrorCode::CobrowseCodeInvalid,
            "The code is wrong or has expired; ask the visitor for a new one",
        ),
        CallError::Status { status: 429, .. } => {
            RequestError::new(ErrorCode::RateLimited, "Too many wrong codes; wait a minute and try again")
        }
        other => RequestError::from(other),
    })?;
    check_session_id(&joined.session_id)
        .map_err(|_| RequestError::new(ErrorCode::ServerGarbage, "the server named the session with an unusable id"))?;
    let key = keys::FrameKey::agree(agreement, Role::Operator, &joined.visitor_public_key, &joined.session_id)
        .map_err(|e| RequestError::new(ErrorCode::ServerGarbage, format!("the visitor's key is not usable: {e}")))?;
    remember_key(&ctx, &joined.session_id, Role::Operator, &key);
    let (session, jobs) =
        Session::new(joined.session_id.clone(), Role::Operator, Some(joined.visitor_name.clone()), ctx.events.clone());
    session.set_key(key);
    start(&ctx, session, jobs);
    tracing::info!("co-browsing {}: joined as operator", joined.session_id);
    Ok((joined.session_id, joined.visitor_name))
}

fn start(ctx: &Arc<HostContext>, session: Arc<Session>, jobs: mpsc::UnboundedReceiver<EncodeJob>) {
    ctx.cobrowse.insert(session.clone());
    tokio::spawn(encoder(session.clone(), jobs));
    tokio::spawn(relay::run(ctx.clone(), session));
}

/// Visitor: approves or refuses the operator who joined.
pub fn respond(ctx: &HostContext, session_id: &str, approve: bool, record: bool) -> Result<(), RequestError> {
    let session = live(ctx, session_id)?;
    if session.role != Role::Visitor {
        return Err(RequestError::new(ErrorCode::InvalidRequest, "only the visitor's side answers an operator"));
    }
    if session.key().is_none() {
        return Err(not_active("no operator has joined this session yet"));
    }
    session.queue(RelayMessage::Audit { event: AuditEvent::Consent { approved: approve }, n: None });
    if !approve {
        ctx.cobrowse.remove(session_id);
        session.end_here(Some("the visitor declined".into()), Some("the visitor declined".into()));
        return Ok(());
    }
    session.queue(RelayMessage::Audit { event: AuditEvent::RecordingConsent { approved: record }, n: None });
    session.approved.store(true, Ordering::SeqCst);
    Ok(())
}

/// Either side: numbers a frame and queues it for encryption and the relay.
pub fn send(ctx: &HostContext, session_id: &str, frame: Frame) -> Result<(), RequestError> {
    let session = live(ctx, session_id)?;
    let direction = match frame {
        Frame::Visitor { .. } => Role::Visitor,
        Frame::Operator { .. } => Role::Operator,
    };
    if direction != session.role {
        return Err(RequestError::new(
            ErrorCode::InvalidRequest,
            format!(
                "this host is the {} in session {session_id}; it cannot send the other side's frames",
                keys::role_str(session.role)
            ),
        ));
    }
    if session.key().is_none() {
        return Err(not_active("no operator has joined this session yet"));
    }
    if session.role == Role::Visitor && !session.approved.load(Ordering::SeqCst) {
        return Err(not_active("the visitor has not approved the operator yet; nothing is shared before that"));
    }
    if !session.submit(frame) {
        return Err(not_active(format!("co-browsing session {session_id} has ended")));
    }
    Ok(())
}

/// Either side: an audit entry (metadata only, by the contract's types).
pub fn audit(ctx: &HostContext, session_id: &str, event: AuditEvent) -> Result<(), RequestError> {
    live(ctx, session_id)?.queue(RelayMessage::Audit { event, n: None });
    Ok(())
}

/// Whether this host holds the session, live.
pub fn holds(ctx: &HostContext, session_id: &str) -> bool {
    live(ctx, session_id).is_ok()
}

/// Either side: ends a session this host holds; the other side hears it
/// from the relay. In order with the frames sent before it.
pub fn end(ctx: &HostContext, session_id: &str) -> Result<(), RequestError> {
    let session = live(ctx, session_id)?;
    ctx.cobrowse.remove(session_id);
    session.end_here(None, None);
    Ok(())
}

/// Ends every session this host holds, telling both sides why: the server
/// link is moving to another server, and a session cannot follow it (its
/// relay, code and audit log are on the old one). In order with the frames
/// queued before; each relay connection closes once its end is sent.
pub fn end_for_move(ctx: &HostContext) {
    for session in ctx.cobrowse.take_all() {
        if session.is_ended() {
            continue;
        }
        let who = match session.role {
            Role::Visitor => "the visitor",
            Role::Operator => "the operator",
        };
        session.end_here(
            Some(format!("{who}'s Baton moved to another server")),
            Some("this device moved to another server".into()),
        );
    }
}

/// Either side: ends a session this host does not hold (it restarted
/// since, and lost it) at the server, where it would otherwise stay open
/// for the other side.
pub async fn end_not_held(ctx: Arc<HostContext>, session_id: &str) -> Result<(), RequestError> {
    check_session_id(session_id)?;
    relay::end_at_server(&ctx, session_id)
        .await
        .map_err(|why| not_active(format!("co-browsing session {session_id} could not be ended: {why}")))
}

/// Operator (or visitor): a recorded session, decrypted with the stored key.
pub async fn recording(
    ctx: Arc<HostContext>,
    session_id: &str,
    after: Option<u64>,
) -> Result<(Vec<RecordedPlain>, Option<u64>), RequestError> {
    check_session_id(session_id)?;
    recording::fetch(&ctx, session_id, after).await
}

fn live(ctx: &HostContext, session_id: &str) -> Result<Arc<Session>, RequestError> {
    ctx.cobrowse.get(session_id).filter(|s| !s.is_ended()).ok_or_else(|| {
        not_active(format!("no live co-browsing session {session_id} here (it ended, or this host restarted)"))
    })
}

/// Session ids go into URL paths: keep them to a safe alphabet.
fn check_session_id(id: &str) -> Result<(), RequestError> {
    let ok =
        !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RequestError::new(ErrorCode::InvalidRequest, "a session id is letters, digits, '-' and '_' only"))
    }
}

/// Stores the frame key, sealed, for replaying a recording later. One
/// write per session, never per frame.
fn remember_key(ctx: &HostContext, session_id: &str, role: Role, key: &keys::FrameKey) {
    let stored = ctx
        .vault
        .seal(key.raw(), &keys::vault_context(&ctx.server_url, session_id))
        .map_err(|e| e.to_string())
        .and_then(|sealed| {
            let mut store = ctx.store().map_err(|e| e.message)?;
            store
                .save_cobrowse_key(
                    &ctx.server_url,
                    session_id,
                    keys::role_str(role),
                    &sealed,
                    crate::server_link::now_ms(),
                )
                .map_err(|e| e.to_string())
        });
    if let Err(e) = stored {
        tracing::warn!("co-browsing {session_id}: cannot keep the key for replay: {e}");
    }
}

/// Encrypts frames in the order they were numbered; big ones off the
/// runtime thread so the message loop keeps answering meanwhile.
async fn encoder(session: Arc<Session>, mut jobs: mpsc::UnboundedReceiver<EncodeJob>) {
    while let Some(job) = jobs.recv().await {
        let (seq, frame) = match job {
            EncodeJob::Frame(seq, frame) => (seq, *frame),
            EncodeJob::Control(item) => {
                session.out.push(item);
                continue;
            }
            EncodeJob::Close => {
                session.close_after_queue();
                continue;
            }
        };
        let Some(key) = session.key() else { continue };
        let kind = match frame {
            Frame::Visitor { frame: VisitorFrame::Snapshot(_) } => OutKind::Keyframe,
            _ => OutKind::Frame,
        };
        let (id, role) = (session.id.clone(), session.role);
        let sealed = if frames::is_heavy(&frame) {
            let key = key.clone();
            tokio::task::spawn_blocking(move || frames::encode(&key, &id, role, seq, &frame))
                .await
                .unwrap_or_else(|e| Err(frames::FrameError::Encode(e.to_string())))
        } else {
            frames::encode(&key, &id, role, seq, &frame)
        };
        // A frame of the page the relay would refuse goes as a notice in
        // its place, under its number: the operator hears of it, and sees
        // no gap to ask a keyframe for (which would be as large again).
        let sealed = match sealed {
            Err(frames::FrameError::TooLarge { size }) if role == Role::Visitor => {
                session.emit(CobrowseEvent::Error {
                    message: format!("frame {seq} was not sent: {size} bytes once sealed; the operator was told"),
                });
                let notice = Frame::Visitor { frame: VisitorFrame::TooLarge { bytes: size as u64 } };
                frames::encode(&key, &session.id, role, seq, &notice)
            }
            other => other,
        };
        let message = sealed.and_then(|ct| {
            serde_json::to_string(&RelayMessage::Frame { seq, from: None, ct })
                .map_err(|e| frames::FrameError::Encode(e.to_string()))
        });
        match message {
            Ok(text) => {
                let dropped = session.out.push(Outgoing { text: text.into(), kind });
                if dropped > 0 {
                    tracing::info!("co-browsing {}: relay queue full, dropped {dropped} frame(s)", session.id);
                }
            }
            Err(e) => session.emit(CobrowseEvent::Error { message: format!("frame {seq} was not sent: {e}") }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_checked_before_they_reach_a_path() {
        assert!(check_session_id("AbC-12_x").is_ok());
        for bad in ["", "../x", "a/b", "a?b", &"x".repeat(129)] {
            assert_eq!(check_session_id(bad).unwrap_err().code, ErrorCode::InvalidRequest, "{bad}");
        }
    }
}
