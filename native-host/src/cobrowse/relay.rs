//! The relay connection of one session: a WebSocket to the server's room,
//! reconnecting with backoff (also across a server restart), sending the
//! session's queue in order and turning what arrives into events.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, protocol::WebSocketConfig, Message};

use baton_shared::cobrowse::{Frame, RelayMessage, Role, SessionState, PATH_SESSION};
use baton_shared::limits::{backoff_ms, MAX_RELAY_MESSAGE, SERVER_SILENCE_MS};
use baton_shared::native::CobrowseEvent;

use super::frames::{self, HEAVY_CT};
use super::keys::FrameKey;
use super::session::{Arrival, Session};
use crate::context::HostContext;
use crate::server_link;

/// Reconnect attempts spent delivering our own `End` before giving up.
const CLOSING_ATTEMPTS: u32 = 4;
/// How long a closing connection waits for the server's `Close`.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

enum ConnectError {
    /// The session is gone or this device was refused: stop for good.
    Fatal(String),
    /// Down or failing: try again later.
    Transient(String),
}

/// Runs until the session ends.
pub async fn run(ctx: Arc<HostContext>, session: Arc<Session>) {
    let mut attempt = 0u32;
    let mut greeted_before = false;
    loop {
        if session.is_ended() && !session.is_closing() {
            break;
        }
        match connect(&ctx, &session.id).await {
            Ok(socket) => {
                attempt = 0;
                match connection(&ctx, &session, socket, &mut greeted_before).await {
                    Ok(()) => break,
                    Err(e) => tracing::info!("co-browsing {}: relay connection lost: {e}", session.id),
                }
            }
            Err(ConnectError::Fatal(reason)) => {
                tracing::warn!("co-browsing {}: {reason}", session.id);
                session.finish(Some(reason), false);
                break;
            }
            Err(ConnectError::Transient(e)) => tracing::info!("co-browsing {}: relay unreachable: {e}", session.id),
        }
        if session.is_closing() && attempt >= CLOSING_ATTEMPTS {
            tracing::warn!("co-browsing {}: could not tell the relay the session ended", session.id);
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(backoff_ms(attempt).into())) => {}
            _ = session.stop.notified() => break,
        }
        attempt = attempt.saturating_add(1);
    }
    ctx.cobrowse.remove(&session.id);
}

async fn connect(ctx: &HostContext, session_id: &str) -> Result<Socket, ConnectError> {
    let (api, _) = ctx.api().map_err(|e| ConnectError::Transient(e.to_string()))?;
    let url = server_link::ws_url(&ctx.server_url, &format!("{PATH_SESSION}/{session_id}/relay"));
    let mut request = url.into_client_request().map_err(|e| ConnectError::Fatal(format!("bad relay URL: {e}")))?;
    let bearer = format!("Bearer {}", api.token)
        .parse()
        .map_err(|_| ConnectError::Fatal("device token is not a valid header value".into()))?;
    request.headers_mut().insert("authorization", bearer);
    // Room for the envelope around the largest frame.
    let limit = MAX_RELAY_MESSAGE + 64 * 1024;
    let config = WebSocketConfig::default().max_message_size(Some(limit)).max_frame_size(Some(limit));
    // No Nagle: small frames (pointer, mutations) must leave at once.
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    let (socket, _) = tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .map_err(|_| ConnectError::Transient("relay connection timed out".into()))?
        .map_err(|e| match e {
            tungstenite::Error::Http(resp) => match resp.status().as_u16() {
                401 | 403 => ConnectError::Fatal("the server refused this device for the session".into()),
                404 | 410 => ConnectError::Fatal(
                    "the server knows no such session for this device (it ended, or this device has no part in it)"
                        .into(),
                ),
                status => ConnectError::Transient(format!("relay refused with HTTP {status}")),
            },
            other => ConnectError::Transient(other.to_string()),
        })?;
    Ok(socket)
}

/// Ends, at the server, a session this host no longer holds (its process
/// restarted, and the session's state went with it): connects to the relay
/// as this device, says `End`, and waits until the server has ended it.
pub async fn end_at_server(ctx: &HostContext, session_id: &str) -> Result<(), String> {
    let mut socket = connect(ctx, session_id).await.map_err(|e| match e {
        ConnectError::Fatal(why) | ConnectError::Transient(why) => why,
    })?;
    let ended = async {
        // The greeting says whether anything is left to end.
        if next_message(&mut socket).await? == Some(SessionState::Ended) {
            return Ok(());
        }
        let end = serde_json::to_string(&RelayMessage::End { reason: None }).map_err(|e| e.to_string())?;
        socket.send(Message::Text(end.into())).await.map_err(|e| e.to_string())?;
        // The server answers `End` once the end is committed.
        while next_message(&mut socket).await? != Some(SessionState::Ended) {}
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .map_err(|_| "the relay did not confirm the end in time".to_owned())?
}

/// For [`end_at_server`]: the next relay message, as far as the session's
/// state goes (`Ended` for `End`, a closed socket, or a greeting saying so).
async fn next_message(socket: &mut Socket) -> Result<Option<SessionState>, String> {
    loop {
        let Some(message) = socket.next().await else { return Ok(Some(SessionState::Ended)) };
        match message.map_err(|e| e.to_string())? {
            Message::Close(_) => return Ok(Some(SessionState::Ended)),
            Message::Text(text) => {
                return Ok(match serde_json::from_str(text.as_str()) {
                    Ok(RelayMessage::End { .. }) => Some(SessionState::Ended),
                    Ok(RelayMessage::Hello { state, .. } | RelayMessage::State { state }) => Some(state),
                    _ => None,
                })
            }
            _ => {}
        }
    }
}

/// One connection: `Ok` when the session is over, `Err` when the connection dropped.
async fn connection(
    ctx: &HostContext,
    session: &Arc<Session>,
    socket: Socket,
    greeted_before: &mut bool,
) -> Result<(), String> {
    let (mut write, mut read) = socket.split();
    // A greeting saying the session is over; the `End` saying why follows.
    let mut greeted_ended = false;
    // A socket that died silently (sleep, a NAT that forgot it) never closes:
    // hearing nothing, not even the server's pings, ends it.
    let silence = Duration::from_millis(SERVER_SILENCE_MS);
    let mut heard = tokio::time::Instant::now();
    session.out.resend();
    loop {
        // Read before draining: the encoder marks the queue complete only
        // after our `End` is in it, so this drain sends `End` before closing.
        let complete = session.is_queue_complete();
        while let Some(item) = session.out.pop() {
            if let Err(e) = write.send(Message::Text(item.text.clone())).await {
                session.out.push_front(item);
                return Err(e.to_string());
            }
            session.out.was_sent(item);
        }
        // Our `End` is answered by the relay's: until then, read on.
        if complete && !session.out.awaiting_answer() {
            close(write, read).await;
            return Ok(());
        }
        tokio::select! {
            biased;
            _ = session.stop.notified() => {
                close(write, read).await;
                return Ok(());
            }
            message = read.next() => {
                heard = tokio::time::Instant::now();
                match message {
                    None | Some(Ok(Message::Close(_))) if greeted_ended => {
                        session.finish(Some("the session has ended".into()), false);
                        return Ok(());
                    }
                    None | Some(Ok(Message::Close(_))) => return Err("the relay closed the connection".into()),
                    Some(Err(e)) => return Err(e.to_string()),
                    Some(Ok(Message::Text(text))) => {
                        if incoming(ctx, session, text.as_str(), greeted_before, &mut greeted_ended).await {
                            close(write, read).await;
                            return Ok(());
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
            _ = tokio::time::sleep_until(heard + silence) => {
                return Err(format!("nothing came from the relay for {silence:?} (not even a ping)"));
            }
            _ = session.out.ready.notified() => {}
        }
    }
}

/// Closes as WebSocket asks: our `Close`, then whatever the server still
/// sends, up to its `Close`. Dropping a socket with messages unread resets
/// the connection, and a server writing to us then (a presence change)
/// fails and stops before it reads what we sent last, our `End`.
async fn close(mut write: SplitSink<Socket, Message>, mut read: SplitStream<Socket>) {
    if write.send(Message::Close(None)).await.is_err() {
        return;
    }
    let drained = async {
        while let Some(Ok(message)) = read.next().await {
            if message.is_close() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, drained).await;
}

/// Handles one relay message; true when the session is over.
async fn incoming(
    ctx: &HostContext,
    session: &Arc<Session>,
    text: &str,
    greeted_before: &mut bool,
    greeted_ended: &mut bool,
) -> bool {
    let message = match serde_json::from_str::<RelayMessage>(text) {
        Ok(m) => m,
        Err(e) => {
            session.emit(CobrowseEvent::Error { message: format!("the relay sent something unreadable: {e}") });
            return false;
        }
    };
    match message {
        RelayMessage::Hello { state: SessionState::Ended, .. } => {
            // Over before this connection: the server's `End` says why.
            *greeted_ended = true;
        }
        RelayMessage::Hello { state, peer_present, recording_stopped, peer_away_ends_in_ms, .. } => {
            session.emit(CobrowseEvent::State { state });
            session.emit(peer_event(peer_present, peer_away_ends_in_ms));
            if let Some(max_bytes) = recording_stopped {
                session.emit(CobrowseEvent::RecordingStopped { max_bytes });
            }
            if *greeted_before && session.role == Role::Operator {
                // Frames may have been lost while away: the console asks for a keyframe.
                session.emit(CobrowseEvent::Resumed);
            }
            *greeted_before = true;
        }
        RelayMessage::State { state } => {
            session.emit(CobrowseEvent::State { state });
            if state == SessionState::Ended {
                session.finish(None, false);
                return true;
            }
        }
        RelayMessage::Peer { present, ends_in_ms } => session.emit(peer_event(present, ends_in_ms)),
        RelayMessage::RecordingStopped { max_bytes } => session.emit(CobrowseEvent::RecordingStopped { max_bytes }),
        RelayMessage::OperatorJoined { operator_public_key, operator_name } => {
            operator_joined(ctx, session, &operator_public_key, operator_name);
        }
        RelayMessage::Frame { seq, from, ct } => frame(session, seq, from, ct).await,
        RelayMessage::End { reason } => {
            session.finish(reason, false);
            return true;
        }
        RelayMessage::Error { code, message } => {
            session.emit(CobrowseEvent::Error { message: format!("the relay refused a message: {message} ({code})") });
        }
        RelayMessage::Applied { n } => session.out.answered(n),
        RelayMessage::Audit { .. } => {}
    }
    false
}

/// The other side's presence, with the server's "ends in" as a time on this
/// computer's clock (the extension shows it; it travels on through queues).
fn peer_event(present: bool, ends_in_ms: Option<u64>) -> CobrowseEvent {
    let ends_at_ms =
        ends_in_ms.map(|ms| crate::server_link::now_ms().saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)));
    CobrowseEvent::Peer { present, ends_at_ms }
}

/// Visitor: the operator's key arrived; agree on the frame key and ask the
/// visitor for consent.
fn operator_joined(ctx: &HostContext, session: &Session, operator_public_key: &str, operator_name: String) {
    if session.role != Role::Visitor {
        return;
    }
    let Ok(mut known) = session.operator_key.lock() else { return };
    match known.as_deref() {
        // Told again after a reconnect: ask again only if still unanswered.
        Some(pk) if pk == operator_public_key => {
            drop(known);
            if !session.approved.load(std::sync::atomic::Ordering::SeqCst) {
                session.emit(CobrowseEvent::OperatorJoined { operator_name });
            }
            return;
        }
        Some(_) => {
            session.emit(CobrowseEvent::Error { message: "the relay named a second operator; ignored".into() });
            return;
        }
        None => {}
    }
    let Some(agreement) = session.agreement.lock().ok().and_then(|mut a| a.take()) else { return };
    match FrameKey::agree(agreement, Role::Visitor, operator_public_key, &session.id) {
        Ok(key) => {
            super::remember_key(ctx, &session.id, Role::Visitor, &key);
            session.set_key(key);
            *known = Some(operator_public_key.to_owned());
            drop(known);
            session.emit(CobrowseEvent::OperatorJoined { operator_name });
        }
        Err(e) => {
            // No frame can ever cross: end it now rather than at the consent deadline.
            let reason = format!("the operator's key is not usable ({e}); the session cannot be encrypted");
            session.end_here(Some(reason.clone()), Some(reason));
        }
    }
}

async fn frame(session: &Arc<Session>, seq: u64, from: Option<Role>, ct: String) {
    let from = from.unwrap_or(session.peer_role());
    if from == session.role {
        session.emit(CobrowseEvent::Error { message: format!("frame {seq} claims to come from this side; dropped") });
        return;
    }
    let Some(key) = session.key() else {
        session
            .emit(CobrowseEvent::Error { message: format!("frame {seq} arrived before the session key was agreed") });
        return;
    };
    let decoded = if ct.len() > HEAVY_CT {
        let id = session.id.clone();
        tokio::task::spawn_blocking(move || frames::decode(&key, &id, from, seq, &ct)).await.map_err(|e| e.to_string())
    } else {
        Ok(frames::decode(&key, &session.id, from, seq, &ct))
    };
    let frame = match decoded {
        Ok(Ok(frame)) => frame,
        Ok(Err(e)) => return session.emit(CobrowseEvent::Error { message: e.to_string() }),
        Err(e) => return session.emit(CobrowseEvent::Error { message: format!("frame {seq}: {e}") }),
    };
    let direction_ok =
        matches!((&frame, from), (Frame::Visitor { .. }, Role::Visitor) | (Frame::Operator { .. }, Role::Operator));
    if !direction_ok {
        session.emit(CobrowseEvent::Error { message: format!("frame {seq} goes the wrong way; dropped") });
        return;
    }
    let arrival = match session.incoming.lock() {
        Ok(mut incoming) => incoming.accept(seq),
        Err(_) => return,
    };
    match arrival {
        Arrival::InOrder => {}
        Arrival::AfterGap => session.emit(CobrowseEvent::Resumed),
        Arrival::Duplicate => return,
    }
    session.emit(CobrowseEvent::Frame { seq, frame });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Our `End` goes out last, with a message of the server's still unread.
    /// Closing must not reset the connection: the server can still write
    /// (a presence change, say) and then reads our `Close` after the `End`.
    #[tokio::test]
    async fn closing_with_messages_unread_lets_the_server_finish() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("handshake");
            // Apart from the handshake's answer, which the client reads whole.
            tokio::time::sleep(Duration::from_millis(50)).await;
            ws.send(Message::Text("never read".into())).await.expect("send");
            let end = ws.next().await;
            // Long enough for a client that hangs up to have reset the connection.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let wrote = ws.send(Message::Text("peer present".into())).await;
            let mut after = Vec::new();
            while let Some(Ok(message)) = ws.next().await {
                after.push(message);
            }
            (end, wrote, after)
        });
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}")).await.expect("connect");
        let (mut write, read) = socket.split();
        write.send(Message::Text("end".into())).await.expect("send end");
        tokio::time::sleep(Duration::from_millis(150)).await;
        close(write, read).await;

        let (end, wrote, after) = server.await.expect("server task");
        assert!(matches!(end, Some(Ok(Message::Text(t))) if t.as_str() == "end"));
        assert!(wrote.is_ok(), "the server could not write after our close: {wrote:?}");
        assert!(after.iter().any(Message::is_close), "no close frame from the host: {after:?}");
    }
}
