//! `GET /v1/cobrowse/{session_id}/relay`: the co-browsing relay WebSocket.
//!
//! Only the session's visitor and operator devices connect; the role follows
//! from which one the bearer token names. Frames are forwarded to the other
//! side with `from` stamped, and only while the session is active (the
//! visitor consented). Bad messages get an `Error` and the socket stays open.
//! A peer that does not take a message within the send deadline
//! (`RELAY_SEND_TIMEOUT_MS`) has its socket closed.

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use baton_shared::cobrowse::{relay_error as relay_code, AuditEvent, RecordedFrame, RelayMessage, Role, SessionState};
use baton_shared::limits::{MAX_AUDIT_EVENT, MAX_RELAY_MESSAGE};

use super::checks;
use super::cobrowse::unknown_session;
use super::error::HttpError;
use super::extract::{AuthDevice, ValidPath};
use super::ws::{close, expect_upgrade, send};
use super::AppState;
use crate::clock::now_ms;
use crate::db::cobrowse::{self, AuditError, FrameRow, Session};
use crate::relay::rules::audit_permitted;
use crate::relay::{Attached, Control};

/// Messages up to this size are read and refused with an `Error` (the socket
/// stays open); beyond it the socket itself gives up.
const HARD_MESSAGE_LIMIT: usize = 2 * MAX_RELAY_MESSAGE;
/// Server pings this often so dead peers are noticed and proxies keep the socket open.
const KEEPALIVE: Duration = Duration::from_secs(30);
/// Characters of a client's end reason passed on to the other side.
const MAX_END_REASON: usize = 200;

pub async fn upgrade(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(session_id): ValidPath<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, HttpError> {
    checks::id("session id", &session_id).map_err(|_| unknown_session())?;
    let session =
        state.db.call(move |conn| cobrowse::load(conn, &session_id, now_ms())).await?.ok_or_else(unknown_session)?;
    let role = session.role_of(&device.device_id).ok_or_else(unknown_session)?;
    let ws = expect_upgrade(ws)?;
    Ok(ws
        .max_message_size(HARD_MESSAGE_LIMIT)
        .max_frame_size(HARD_MESSAGE_LIMIT)
        .on_upgrade(move |socket| serve_socket(socket, state, session, role)))
}

async fn serve_socket(socket: WebSocket, state: AppState, session: Session, role: Role) {
    let _count = state.relay.count_socket();
    let limit = Duration::from_millis(u64::try_from(state.settings.relay_send_timeout_ms).unwrap_or(0));
    let mut socket = Deadlined { ws: socket, limit };
    let session_id = session.id.clone();
    // Sessions ended before the reason was kept only say that they ended.
    let ended = session.end_reason.clone().unwrap_or_else(|| "the session has ended".into());
    if session.state == SessionState::Ended {
        // A room still in memory is stale (e.g. the code or the consent
        // time just ran out on this access).
        state.relay.finish(&session_id, &ended);
    }
    let Some((attached, mut inbox, greeting)) = state.relay.attach(session, role) else {
        // Ended since it was loaded: the relay knows why.
        let ended = state.relay.ended_reason(&session_id).unwrap_or(ended);
        let hello = RelayMessage::Hello {
            session_id,
            role,
            state: SessionState::Ended,
            peer_present: false,
            recording_stopped: None,
            peer_away_ends_in_ms: None,
        };
        let end = RelayMessage::End { reason: Some(ended) };
        if socket.send(&hello).await && socket.send(&end).await {
            socket.close(close_code::NORMAL, "session ended").await;
        }
        return;
    };
    tracing::debug!(session_id, ?role, "relay socket open");
    let hello = RelayMessage::Hello {
        session_id: session_id.clone(),
        role,
        state: greeting.state,
        peer_present: greeting.peer_present,
        recording_stopped: greeting.recording_stopped,
        peer_away_ends_in_ms: greeting.peer_away_ends_in_ms,
    };
    if !socket.send(&hello).await {
        return;
    }
    if let Some(joined) = greeting.operator_joined {
        if !socket.send(&joined).await {
            return;
        }
    }

    let mut shutdown = state.shutdown.clone();
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            biased;
            // Fires on shutdown, and also if the sender is gone: either way,
            // leave; the session stays live and the hosts reconnect.
            _ = shutdown.changed() => {
                socket.close(close_code::AWAY, "server restarting").await;
                break;
            }
            () = inbox.overflow.notified() => {
                tracing::debug!(session_id, ?role, "relay socket not reading its control messages");
                break;
            }
            Some(control) = inbox.control.recv() => match control {
                Control::Send(msg) => {
                    if !socket.send(&msg).await {
                        break;
                    }
                }
                Control::Close(code, reason) => {
                    socket.close(code, reason).await;
                    break;
                }
            },
            Some(text) = inbox.frames.next() => {
                if !socket.send_text(text).await {
                    break;
                }
            }
            incoming = socket.ws.recv() => match incoming {
                None | Some(Ok(Message::Close(_))) => break,
                Some(Err(err)) => {
                    tracing::debug!(%err, session_id, "relay socket read failed");
                    break;
                }
                // The socket answers pings itself on the next read.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Binary(_))) => {
                    let reply = error(relay_code::MALFORMED, "relay messages are JSON text");
                    if !socket.send(&reply).await {
                        break;
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    let replies = handle(&state, &attached, text.as_str()).await;
                    if !socket.send_all(&replies).await {
                        break;
                    }
                }
            },
            _ = keepalive.tick() => {
                if !socket.ping().await {
                    break;
                }
            }
        }
    }
    tracing::debug!(session_id, ?role, "relay socket closed");
}

/// A relay socket whose every write has the send deadline. A peer that
/// stopped reading would otherwise hold the socket (reads and keepalive
/// wait meanwhile) and the frames queued for it for as long as it likes.
/// The writes answer whether they went through in time; either failure ends
/// the socket, and the relay counts that side as away, as for any
/// disconnect.
struct Deadlined {
    ws: WebSocket,
    limit: Duration,
}

impl Deadlined {
    async fn send(&mut self, msg: &RelayMessage) -> bool {
        in_time(self.limit, send(&mut self.ws, msg)).await
    }

    async fn send_all(&mut self, messages: &[RelayMessage]) -> bool {
        for msg in messages {
            if !self.send(msg).await {
                return false;
            }
        }
        true
    }

    /// A frame, already JSON.
    async fn send_text(&mut self, text: String) -> bool {
        in_time(self.limit, self.ws.send(Message::Text(text.into()))).await
    }

    async fn ping(&mut self) -> bool {
        in_time(self.limit, self.ws.send(Message::Ping(Default::default()))).await
    }

    /// Sends the close frame unless the deadline passes first.
    async fn close(&mut self, code: u16, reason: &'static str) {
        let _ = tokio::time::timeout(self.limit, close(&mut self.ws, code, reason)).await;
    }
}

async fn in_time(limit: Duration, write: impl Future<Output = Result<(), axum::Error>>) -> bool {
    match tokio::time::timeout(limit, write).await {
        Ok(result) => result.is_ok(),
        Err(_) => {
            tracing::debug!(?limit, "relay peer did not take a message in time");
            false
        }
    }
}

/// Acts on one client message; returns the replies for the sender.
async fn handle(state: &AppState, at: &Attached, text: &str) -> Vec<RelayMessage> {
    if text.len() > MAX_RELAY_MESSAGE {
        return vec![error(
            relay_code::TOO_LARGE,
            format!("relay message of {} bytes; at most {MAX_RELAY_MESSAGE}", text.len()),
        )];
    }
    let msg = match serde_json::from_str::<RelayMessage>(text) {
        Ok(msg) => msg,
        Err(e) => return vec![error(relay_code::MALFORMED, format!("not a relay message: {e}"))],
    };
    match msg {
        RelayMessage::Frame { seq, ct, .. } => frame(state, at, seq, ct).await.into_iter().collect(),
        // A numbered entry is answered `Applied` once dealt with, refused or not.
        RelayMessage::Audit { n: Some(n), .. } if n == 0 || i64::try_from(n).is_err() => vec![error(
            relay_code::MALFORMED,
            format!("audit entry number {n}: numbers count from 1 and fit in 63 bits"),
        )],
        RelayMessage::Audit { event, n } => {
            let reply = audit(state, at, event, n).await;
            reply.into_iter().chain(n.map(|n| RelayMessage::Applied { n })).collect()
        }
        RelayMessage::End { reason } => {
            end(state, at, reason).await;
            Vec::new()
        }
        RelayMessage::Hello { .. }
        | RelayMessage::OperatorJoined { .. }
        | RelayMessage::Peer { .. }
        | RelayMessage::State { .. }
        | RelayMessage::RecordingStopped { .. }
        | RelayMessage::Applied { .. }
        | RelayMessage::Error { .. } => vec![error(relay_code::MALFORMED, "only the server sends this message")],
    }
}

async fn frame(state: &AppState, at: &Attached, seq: u64, ct: String) -> Option<RelayMessage> {
    // Nothing of the page reaches the operator before the visitor consents.
    if at.room.state() != SessionState::Active {
        return Some(error(relay_code::NOT_CONSENTED, "frames flow only after the visitor approves the operator"));
    }
    let recorded = at.room.recording().then(|| ct.clone());
    let out = RelayMessage::Frame { seq, from: Some(at.role), ct };
    match serde_json::to_string(&out) {
        // A dropped frame shows as a sequence gap; the console asks for a keyframe.
        Ok(text) => {
            at.room.forward(at.role, text);
        }
        Err(e) => return Some(error(relay_code::INTERNAL, format!("cannot encode frame: {e}"))),
    }
    if let Some(ct) = recorded {
        let row = FrameRow {
            session_id: at.room.id.clone(),
            frame: RecordedFrame { seq, from: at.role, at_ms: now_ms(), ct },
        };
        state.relay.recorder.record(row).await;
    }
    None
}

async fn audit(state: &AppState, at: &Attached, event: AuditEvent, n: Option<u64>) -> Option<RelayMessage> {
    if let Err(why) = audit_permitted(at.role, &event) {
        return Some(error(relay_code::FORBIDDEN, why));
    }
    let size = serde_json::to_string(&event).map(|s| s.len()).unwrap_or(usize::MAX);
    if size > MAX_AUDIT_EVENT {
        return Some(error(
            relay_code::TOO_LARGE,
            format!("audit event of {size} bytes; at most {MAX_AUDIT_EVENT} (metadata only)"),
        ));
    }
    let (id, role) = (at.room.id.clone(), at.role);
    let is_consent = matches!(event, AuditEvent::Consent { .. });
    let result = state.db.call(move |conn| cobrowse::client_audit(conn, &id, role, &event, n, now_ms())).await;
    match result {
        Ok(cobrowse::After { ended: Some(reason), .. }) => {
            state.relay.finish(&at.room.id, reason);
            None
        }
        Ok(after) => {
            state.relay.update(&at.room, after.state, after.recording);
            None
        }
        Err(AuditError::WrongState(s)) if !is_consent && s != SessionState::Ended && s != SessionState::Active => {
            Some(error(relay_code::NOT_CONSENTED, "the visitor has not approved the operator yet"))
        }
        Err(e @ AuditError::WrongState(_)) => Some(error(relay_code::WRONG_STATE, e.to_string())),
        Err(AuditError::Expired(expiry)) => {
            state.relay.finish(&at.room.id, expiry.reason());
            None
        }
        Err(AuditError::NotFound) => Some(error(relay_code::INTERNAL, "the session is gone")),
        // In the log already: the `Applied` that follows is the whole answer.
        Err(AuditError::Duplicate) => None,
        Err(AuditError::Db(err)) => {
            tracing::error!(%err, "cannot append audit entry");
            Some(error(relay_code::INTERNAL, "internal server error"))
        }
    }
}

async fn end(state: &AppState, at: &Attached, reason: Option<String>) {
    let (id, by) = (at.room.id.clone(), at.role);
    let reason = reason
        .map(|r| r.chars().take(MAX_END_REASON).collect::<String>())
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| match by {
            Role::Visitor => "the visitor ended the session".into(),
            Role::Operator => "the operator ended the session".into(),
        });
    let kept = reason.clone();
    if let Err(err) = state.db.call(move |conn| cobrowse::end(conn, &id, by, &kept, now_ms())).await {
        tracing::error!(%err, "cannot end co-browsing session");
    }
    state.relay.finish(&at.room.id, &reason);
}

fn error(code: &str, message: impl Into<String>) -> RelayMessage {
    RelayMessage::Error { code: code.to_owned(), message: message.into() }
}
