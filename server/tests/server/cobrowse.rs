//! Co-browsing: sessions, the relay socket, consent, audit chain, recording.

use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_shared::api::ApiError;
use baton_shared::cobrowse::{
    audit_hash_input, AppState, AuditEvent, AuditLog, CommandKind, CreateSession, JoinSession, PushKind, Recording,
    RecordingQuery, RelayMessage, Role, Scope, SessionCreated, SessionJoined, SessionState, AUDIT_GENESIS, PATH_JOIN,
    PATH_SESSION, PATH_SESSIONS,
};
use baton_shared::limits::{
    COBROWSE_AWAY_TTL_MS, COBROWSE_GUESSES_PER_CLIENT_PER_MINUTE, COBROWSE_GUESSES_PER_CODE, MAX_RELAY_MESSAGE,
    RECORDING_PAGE_BYTES,
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

use crate::common::{
    all_at_once, assert_only_the_limit_judged, join_forwarded, json, public_key, Device, Server, Socket,
};

const WAIT: Duration = Duration::from_secs(5);

async fn create(server: &Server, visitor: &Device) -> SessionCreated {
    let body = CreateSession { visitor_public_key: public_key(7) };
    json(visitor.post(server, PATH_SESSIONS, &body).await, 200).await
}

async fn join(server: &Server, operator: &Device, lookup: &str) -> reqwest::Response {
    let body = JoinSession { lookup: lookup.to_owned(), operator_public_key: public_key(8) };
    operator.post(server, PATH_JOIN, &body).await
}

fn path(session_id: &str, what: &str) -> String {
    format!("{PATH_SESSION}/{session_id}/{what}")
}

fn relay_request(server: &Server, device: &Device, session_id: &str) -> Request {
    let mut request = server.ws_url(&path(session_id, "relay")).into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {}", device.token).parse().unwrap());
    request
}

async fn connect_raw(
    server: &Server,
    device: &Device,
    session_id: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    tokio_tungstenite::connect_async(relay_request(server, device, session_id)).await.map(|(socket, _)| socket)
}

/// Opens the relay socket and reads its `Hello`.
async fn connect(server: &Server, device: &Device, session_id: &str) -> (Socket, RelayMessage) {
    let mut socket = connect_raw(server, device, session_id).await.unwrap();
    let hello = next(&mut socket).await;
    assert!(matches!(hello, RelayMessage::Hello { .. }), "{hello:?}");
    (socket, hello)
}

/// The next relay message, skipping pings; panics after [`WAIT`].
async fn next(socket: &mut Socket) -> RelayMessage {
    next_within(socket, WAIT).await.expect("no relay message in time")
}

async fn next_within(socket: &mut Socket, wait: Duration) -> Option<RelayMessage> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, socket.next()).await.ok()?;
        match msg.expect("socket ended").unwrap() {
            Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected socket message {other:?}"),
        }
    }
}

/// Waits for the server's close frame (or the end of the stream). The
/// other side's socket may close first (a server shutting down closes them
/// all): the `Peer` saying so may come before the close.
async fn closed(socket: &mut Socket) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => panic!("socket not closed in time"),
            Ok(None | Some(Ok(Message::Close(_))) | Some(Err(_))) => return,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(Ok(Message::Text(text))))
                if matches!(serde_json::from_str(&text), Ok(RelayMessage::Peer { present: false, .. })) => {}
            Ok(Some(Ok(other))) => panic!("expected a close, got {other:?}"),
        }
    }
}

async fn send(socket: &mut Socket, msg: &RelayMessage) {
    let text = serde_json::to_string(msg).unwrap();
    socket.send(Message::Text(text.into())).await.unwrap();
}

fn frame(seq: u64, ct: &str) -> RelayMessage {
    RelayMessage::Frame { seq, from: None, ct: ct.to_owned() }
}

async fn audit(socket: &mut Socket, event: AuditEvent) {
    send(socket, &RelayMessage::Audit { event, n: None }).await;
}

/// The frame `seq`, counting the recording-stopped notes that come first.
async fn next_frame(socket: &mut Socket, seq: u64, stopped: &mut u32) {
    loop {
        match next(socket).await {
            RelayMessage::Frame { seq: s, .. } if s == seq => return,
            RelayMessage::RecordingStopped { .. } => *stopped += 1,
            other => panic!("expected frame {seq}, got {other:?}"),
        }
    }
}

fn error_code(msg: &RelayMessage) -> &str {
    match msg {
        RelayMessage::Error { code, .. } => code,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A visitor, an operator named "Support desk" and a live session between
/// them, both sockets open, before consent.
struct Pair {
    visitor: Device,
    operator: Device,
    session_id: String,
    v: Socket,
    o: Socket,
}

async fn joined_pair(server: &Server) -> Pair {
    let visitor = Device::register(server, "Visitor laptop").await;
    let operator = Device::register(server, "Support desk").await;
    let created = create(server, &visitor).await;
    let (v, _) = connect(server, &visitor, &created.session_id).await;
    let _: SessionJoined = json(join(server, &operator, &created.lookup).await, 200).await;
    let (o, _) = connect(server, &operator, &created.session_id).await;
    Pair { visitor, operator, session_id: created.session_id, v, o }
}

async fn active_pair(server: &Server) -> Pair {
    let mut p = joined_pair(server).await;
    drain_until_peer(&mut p.v).await;
    audit(&mut p.v, AuditEvent::Consent { approved: true }).await;
    assert_eq!(next(&mut p.v).await, RelayMessage::State { state: SessionState::Active });
    assert_eq!(next(&mut p.o).await, RelayMessage::State { state: SessionState::Active });
    p
}

/// Reads the visitor's messages up to the operator's arrival.
async fn drain_until_peer(v: &mut Socket) {
    loop {
        if next(v).await == (RelayMessage::Peer { present: true, ends_in_ms: None }) {
            return;
        }
    }
}

fn hash(prev: &str, entry: &baton_shared::cobrowse::AuditEntry) -> String {
    let input = audit_hash_input(prev, entry.seq, entry.at_ms, entry.role, &entry.event);
    ring::digest::digest(&ring::digest::SHA256, &input).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn visitor_and_operator_meet_and_frames_flow_both_ways_after_consent() {
    let server = Server::start().await;
    let visitor = Device::register(&server, "Visitor laptop").await;
    let operator = Device::register(&server, "Support desk").await;
    let created = create(&server, &visitor).await;
    assert_eq!(created.lookup.len(), 4);

    let (mut v, hello) = connect(&server, &visitor, &created.session_id).await;
    assert_eq!(
        hello,
        RelayMessage::Hello {
            session_id: created.session_id.clone(),
            role: Role::Visitor,
            state: SessionState::Waiting,
            peer_present: false,
            recording_stopped: None,
            peer_away_ends_in_ms: None,
        }
    );
    // Typed in lower case: still the same code.
    let joined: SessionJoined = json(join(&server, &operator, &created.lookup.to_lowercase()).await, 200).await;
    assert_eq!(joined.session_id, created.session_id);
    assert_eq!(joined.visitor_public_key, public_key(7));
    assert_eq!(joined.visitor_name, "Visitor laptop");
    assert_eq!(
        next(&mut v).await,
        RelayMessage::OperatorJoined { operator_public_key: public_key(8), operator_name: "Support desk".into() }
    );
    assert_eq!(next(&mut v).await, RelayMessage::State { state: SessionState::AwaitingConsent });

    let (mut o, hello) = connect(&server, &operator, &created.session_id).await;
    assert_eq!(
        hello,
        RelayMessage::Hello {
            session_id: created.session_id.clone(),
            role: Role::Operator,
            state: SessionState::AwaitingConsent,
            peer_present: true,
            recording_stopped: None,
            peer_away_ends_in_ms: None,
        }
    );
    assert_eq!(next(&mut v).await, RelayMessage::Peer { present: true, ends_in_ms: None });

    // Before consent nothing flows, either way.
    send(&mut v, &frame(1, "cGFnZQ==")).await;
    assert_eq!(error_code(&next(&mut v).await), "not_consented");
    send(&mut o, &frame(1, "a2V5")).await;
    assert_eq!(error_code(&next(&mut o).await), "not_consented");
    // Only the visitor consents.
    audit(&mut o, AuditEvent::Consent { approved: true }).await;
    assert_eq!(error_code(&next(&mut o).await), "forbidden");
    assert!(next_within(&mut o, Duration::from_millis(200)).await.is_none());

    audit(&mut v, AuditEvent::Consent { approved: true }).await;
    assert_eq!(next(&mut v).await, RelayMessage::State { state: SessionState::Active });
    assert_eq!(next(&mut o).await, RelayMessage::State { state: SessionState::Active });

    send(&mut o, &frame(1, "a2V5ZnJhbWU=")).await;
    assert_eq!(
        next(&mut v).await,
        RelayMessage::Frame { seq: 1, from: Some(Role::Operator), ct: "a2V5ZnJhbWU=".into() }
    );
    send(&mut v, &frame(1, "c25hcHNob3Q=")).await;
    send(&mut v, &frame(2, "bXV0YXRpb24=")).await;
    assert_eq!(
        next(&mut o).await,
        RelayMessage::Frame { seq: 1, from: Some(Role::Visitor), ct: "c25hcHNob3Q=".into() }
    );
    // A client claiming to be the other side is stamped with what it is.
    send(&mut v, &RelayMessage::Frame { seq: 3, from: Some(Role::Operator), ct: "eA==".into() }).await;
    assert_eq!(
        next(&mut o).await,
        RelayMessage::Frame { seq: 2, from: Some(Role::Visitor), ct: "bXV0YXRpb24=".into() }
    );
    assert_eq!(next(&mut o).await, RelayMessage::Frame { seq: 3, from: Some(Role::Visitor), ct: "eA==".into() });

    // The operator drops: the visitor hears it; frames to nobody are dropped.
    drop(o);
    // It hears, too, when the session ends unless the operator is back.
    let away = COBROWSE_AWAY_TTL_MS as u64;
    match next(&mut v).await {
        RelayMessage::Peer { present: false, ends_in_ms: Some(ms) } => assert!(ms <= away && ms > away - 5_000, "{ms}"),
        other => panic!("{other:?}"),
    }
    send(&mut v, &frame(4, "bG9zdA==")).await;
    // On reconnect the visitor still learns who the operator is, and when
    // the session ends without them.
    drop(v);
    let (mut v, hello) = connect(&server, &visitor, &created.session_id).await;
    assert!(
        matches!(
            hello,
            RelayMessage::Hello {
                state: SessionState::Active,
                peer_present: false,
                peer_away_ends_in_ms: Some(ms),
                ..
            } if ms <= away && ms > away - 5_000
        ),
        "{hello:?}"
    );
    assert!(matches!(next(&mut v).await, RelayMessage::OperatorJoined { .. }));
    let (mut o, _) = connect(&server, &operator, &created.session_id).await;
    assert_eq!(next(&mut v).await, RelayMessage::Peer { present: true, ends_in_ms: None });
    send(&mut v, &frame(5, "YWdhaW4=")).await;
    assert_eq!(next(&mut o).await, RelayMessage::Frame { seq: 5, from: Some(Role::Visitor), ct: "YWdhaW4=".into() });
}

#[tokio::test]
async fn only_the_sessions_two_devices_reach_its_relay() {
    let server = Server::start().await;
    let p = joined_pair(&server).await;
    let stranger = Device::register(&server, "Stranger").await;
    for (device, id) in [(&stranger, p.session_id.as_str()), (&p.visitor, "nosuchsession"), (&p.visitor, "bad.id")] {
        let response = stranger_get(&server, device, &path(id, "relay")).await;
        let err: ApiError = json(response, 404).await;
        assert_eq!(err.code, "unknown_cobrowse_session");
    }
    let err = connect_raw(&server, &stranger, &p.session_id).await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    drop(p.operator);
}

/// A plain GET (no upgrade) of a relay path.
async fn stranger_get(server: &Server, device: &Device, path: &str) -> reqwest::Response {
    device.get(server, path).await
}

#[tokio::test]
async fn wrong_used_and_own_codes_are_refused() {
    let server = Server::start().await;
    let visitor = Device::register(&server, "V").await;
    let operator = Device::register(&server, "O").await;
    let other = Device::register(&server, "O2").await;
    let created = create(&server, &visitor).await;

    let wrong = if created.lookup == "ZZZZ" { "YYYY" } else { "ZZZZ" };
    let err: ApiError = json(join(&server, &operator, wrong).await, 404).await;
    assert_eq!(err.code, "cobrowse_code_invalid");
    assert!(err.message.contains("wrong, expired or already used"), "{}", err.message);
    let err: ApiError = json(join(&server, &operator, "not a code").await, 404).await;
    assert_eq!(err.code, "cobrowse_code_invalid");

    let err: ApiError = json(join(&server, &visitor, &created.lookup).await, 400).await;
    assert!(err.message.contains("own"), "{}", err.message);

    let first: SessionJoined = json(join(&server, &operator, &created.lookup).await, 200).await;
    // A retry after a lost answer gets the same answer; anyone else finds the code used.
    let again: SessionJoined = json(join(&server, &operator, &created.lookup).await, 200).await;
    assert_eq!(again, first);
    let err: ApiError = json(join(&server, &other, &created.lookup).await, 404).await;
    assert_eq!(err.code, "cobrowse_code_invalid");

    // Bad public keys are refused before anything else.
    let bad = JoinSession { lookup: created.lookup.clone(), operator_public_key: "AAAA".into() };
    let err: ApiError = json(other.post(&server, PATH_JOIN, &bad).await, 400).await;
    assert_eq!(err.code, "invalid_request");
    let bad = CreateSession { visitor_public_key: "nope".into() };
    assert_eq!(visitor.post(&server, PATH_SESSIONS, &bad).await.status(), 400);
}

#[tokio::test]
async fn an_unjoined_code_expires_and_ends_the_session() {
    let server = Server::start_with(&["--cobrowse-code-ttl-ms", "400"]).await;
    let visitor = Device::register(&server, "V").await;
    let operator = Device::register(&server, "O").await;
    let created = create(&server, &visitor).await;
    let (mut v, _) = connect(&server, &visitor, &created.session_id).await;
    assert!(matches!(next(&mut v).await, RelayMessage::End { reason: Some(_) }));
    closed(&mut v).await;

    let err: ApiError = json(join(&server, &operator, &created.lookup).await, 404).await;
    assert_eq!(err.code, "cobrowse_code_invalid");
    // Reconnecting finds it ended, and why.
    let (mut v, hello) = connect(&server, &visitor, &created.session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { state: SessionState::Ended, .. }));
    let reason = until_end(&mut v).await.expect("a reason");
    assert!(reason.contains("code expired"), "{reason}");
    let log: AuditLog = json(visitor.get(&server, &path(&created.session_id, "audit")).await, 200).await;
    let events: Vec<_> = log.entries.iter().map(|e| e.event.clone()).collect();
    assert_eq!(events, vec![AuditEvent::Started, AuditEvent::Expired]);
}

/// Reads past other messages to the `End`; returns its reason.
async fn until_end(socket: &mut Socket) -> Option<String> {
    loop {
        if let RelayMessage::End { reason } = next(socket).await {
            return reason;
        }
    }
}

#[tokio::test]
async fn a_joined_session_the_visitor_never_approves_ends_on_its_own() {
    let server = Server::start_with(&["--cobrowse-consent-ttl-ms", "500"]).await;
    let started = Instant::now();
    let mut p = joined_pair(&server).await;
    // Nothing is sent to the server after the join: the sweep ends it.
    for socket in [&mut p.v, &mut p.o] {
        let reason = until_end(socket).await.expect("a reason");
        assert!(reason.contains("did not approve"), "{reason}");
        closed(socket).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(500));
    let log: AuditLog = json(p.visitor.get(&server, &path(&p.session_id, "audit")).await, 200).await;
    let events: Vec<_> = log.entries.iter().map(|e| e.event.clone()).collect();
    assert_eq!(
        events,
        vec![
            AuditEvent::Started,
            AuditEvent::OperatorJoined { operator_name: "Support desk".into() },
            AuditEvent::ConsentExpired
        ]
    );
    assert_eq!(log.entries.last().and_then(|e| e.role), None);
    // Reconnecting finds it ended, with the reason.
    let (mut v, hello) = connect(&server, &p.visitor, &p.session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { state: SessionState::Ended, .. }));
    let reason = until_end(&mut v).await.expect("a reason");
    assert!(reason.contains("did not approve"), "{reason}");
}

#[tokio::test]
async fn consent_in_time_keeps_the_session_past_the_deadline() {
    let server = Server::start_with(&["--cobrowse-consent-ttl-ms", "1000"]).await;
    let mut p = active_pair(&server).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    send(&mut p.v, &frame(1, "c3RpbGwgaGVyZQ==")).await;
    assert!(matches!(next(&mut p.o).await, RelayMessage::Frame { seq: 1, .. }));
}

#[tokio::test]
async fn guessing_codes_is_rate_limited_per_client() {
    let server = Server::start().await;
    let visitor = Device::register(&server, "V").await;
    let guesser = Device::register(&server, "G").await;
    let created = create(&server, &visitor).await;
    let wrong = if created.lookup == "ZZZZ" { "YYYY" } else { "ZZZZ" };
    for _ in 0..COBROWSE_GUESSES_PER_CLIENT_PER_MINUTE {
        assert_eq!(join(&server, &guesser, wrong).await.status(), 404);
    }
    // Now even the right code waits.
    let response = join(&server, &guesser, &created.lookup).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let err: ApiError = json(response, 429).await;
    assert_eq!(err.code, "rate_limited");
}

#[tokio::test]
async fn concurrent_wrong_joins_cannot_overrun_the_guess_limit() {
    const GUESSES: usize = 50;
    let server = Arc::new(Server::start().await);
    let visitor = Device::register(&server, "V").await;
    let guesser = Device::register(&server, "G").await;
    let wrong = wrong_lookup(&create(&server, &visitor).await);
    let guesses = (0..GUESSES)
        .map(|_| {
            let (server, guesser) = (Arc::clone(&server), guesser.clone());
            async move { join(&server, &guesser, wrong).await }
        })
        .collect();
    assert_only_the_limit_judged(&all_at_once(guesses).await, COBROWSE_GUESSES_PER_CLIENT_PER_MINUTE);
}

/// A wrong code for `created`'s session.
fn wrong_lookup(created: &SessionCreated) -> &'static str {
    if created.lookup == "ZZZZ" {
        "YYYY"
    } else {
        "ZZZZ"
    }
}

#[tokio::test]
async fn guess_limits_survive_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.sqlite3");
    let server = Server::start_at(&db).await;
    let visitor = Device::register(&server, "V").await;
    let guesser = Device::register(&server, "G").await;
    let created = create(&server, &visitor).await;
    for _ in 0..COBROWSE_GUESSES_PER_CLIENT_PER_MINUTE {
        let response = join(&server, &guesser, wrong_lookup(&created)).await;
        assert_eq!(response.status(), 404);
    }
    assert!(server.terminate().await.success());

    let server = Server::start_at(&db).await;
    let response = join(&server, &guesser, &created.lookup).await;
    assert!(response.headers().contains_key("retry-after"));
    let err: ApiError = json(response, 429).await;
    assert_eq!(err.code, "rate_limited");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_limited_on_its_own() {
    let server = Server::start_with(&["--trusted-proxy", "127.0.0.1"]).await;
    let visitor = Device::register(&server, "V").await;
    let guesser = Device::register(&server, "G").await;
    let created = create(&server, &visitor).await;
    let wrong = wrong_lookup(&created);
    for i in 0..COBROWSE_GUESSES_PER_CLIENT_PER_MINUTE {
        // What the client put left of the proxy's own entry does not count.
        let header = format!("10.66.0.{i}, 198.51.100.1");
        assert_eq!(join_forwarded(&server, &guesser, wrong, &header).await.status(), 404);
    }
    let limited = join_forwarded(&server, &guesser, &created.lookup, "198.51.100.1").await;
    assert_eq!(limited.status(), 429);
    // Another client behind the same proxy still gets its own guesses.
    let other = join_forwarded(&server, &guesser, wrong, "198.51.100.2").await;
    assert_eq!(other.status(), 404);
    let _: SessionJoined = json(join_forwarded(&server, &guesser, &created.lookup, "198.51.100.2").await, 200).await;
    // The proxy's own address is a third client.
    let created = create(&server, &visitor).await;
    let _: SessionJoined = json(join(&server, &guesser, &created.lookup).await, 200).await;
}

#[tokio::test]
async fn from_an_untrusted_peer_the_forwarded_header_is_ignored() {
    let server = Server::start_with(&["--trusted-proxy", "192.0.2.1"]).await;
    let visitor = Device::register(&server, "V").await;
    let guesser = Device::register(&server, "G").await;
    let created = create(&server, &visitor).await;
    let wrong = wrong_lookup(&created);
    for i in 0..COBROWSE_GUESSES_PER_CLIENT_PER_MINUTE {
        let header = format!("198.51.100.{i}");
        assert_eq!(join_forwarded(&server, &guesser, wrong, &header).await.status(), 404);
    }
    // A fresh header does not buy fresh guesses: all came from 127.0.0.1.
    let response = join_forwarded(&server, &guesser, &created.lookup, "203.0.113.77").await;
    let err: ApiError = json(response, 429).await;
    assert_eq!(err.code, "rate_limited");
}

#[tokio::test]
async fn guessing_a_used_code_blocks_it() {
    let server = Server::start().await;
    let visitor = Device::register(&server, "V").await;
    let operator = Device::register(&server, "O").await;
    let created = create(&server, &visitor).await;
    let _: SessionJoined = json(join(&server, &operator, &created.lookup).await, 200).await;
    for i in 0..COBROWSE_GUESSES_PER_CODE {
        let guesser = Device::register(&server, &format!("G{i}")).await;
        assert_eq!(join(&server, &guesser, &created.lookup).await.status(), 404);
    }
    let late = Device::register(&server, "late").await;
    let response = join(&server, &late, &created.lookup).await;
    assert!(response.headers().contains_key("retry-after"));
    let err: ApiError = json(response, 429).await;
    assert_eq!(err.code, "rate_limited");
    assert!(err.message.contains("this co-browsing code"), "{}", err.message);
}

#[tokio::test]
async fn the_audit_log_is_a_verifiable_chain_of_the_whole_session() {
    let server = Server::start().await;
    let mut p = active_pair(&server).await;
    let stranger = Device::register(&server, "Stranger").await;

    // Before grants: control entries from the wrong side are refused.
    audit(&mut p.o, AuditEvent::Granted { scopes: vec![Scope::Click] }).await;
    assert_eq!(error_code(&next(&mut p.o).await), "forbidden");
    // A command's outcome is the visitor's side to record.
    audit(&mut p.o, AuditEvent::Command { command: CommandKind::Click, ok: true }).await;
    assert_eq!(error_code(&next(&mut p.o).await), "forbidden");
    audit(&mut p.v, AuditEvent::Started).await;
    assert_eq!(error_code(&next(&mut p.v).await), "forbidden");
    audit(&mut p.v, AuditEvent::Consent { approved: true }).await;
    assert_eq!(error_code(&next(&mut p.v).await), "wrong_state");
    let huge = AuditEvent::AppState { app_id: "a".repeat(4096), state: AppState::Pushed };
    audit(&mut p.v, huge).await;
    assert_eq!(error_code(&next(&mut p.v).await), "too_large");

    audit(&mut p.v, AuditEvent::Granted { scopes: vec![Scope::Click, Scope::Scroll] }).await;
    audit(&mut p.v, AuditEvent::Command { command: CommandKind::Click, ok: true }).await;
    audit(&mut p.o, AuditEvent::Pushed { push: PushKind::Viewer }).await;
    audit(&mut p.v, AuditEvent::Revoked { scopes: vec![Scope::Click] }).await;
    // Entries are appended in order per socket; a frame round trip orders the two.
    send(&mut p.v, &frame(1, "eA==")).await;
    assert!(matches!(next(&mut p.o).await, RelayMessage::Frame { .. }));
    send(&mut p.o, &RelayMessage::End { reason: Some("done".into()) }).await;
    assert_eq!(next(&mut p.v).await, RelayMessage::End { reason: Some("done".into()) });

    let url = path(&p.session_id, "audit");
    let err: ApiError = json(stranger.get(&server, &url).await, 404).await;
    assert_eq!(err.code, "unknown_cobrowse_session");
    let log: AuditLog = json(p.operator.get(&server, &url).await, 200).await;
    let from_visitor: AuditLog = json(p.visitor.get(&server, &url).await, 200).await;
    assert_eq!(log, from_visitor);
    // Another device of the visitor's account reads it too.
    let mut visitors_phone = Device::register(&server, "Visitor phone").await;
    crate::common::pair(&server, &p.visitor, &mut visitors_phone).await;
    let from_phone: AuditLog = json(visitors_phone.get(&server, &url).await, 200).await;
    assert_eq!(from_phone, log);
    assert_eq!(log.session_id, p.session_id);

    let got: Vec<_> = log.entries.iter().map(|e| (e.role, e.event.clone())).collect();
    let want = vec![
        (Some(Role::Visitor), AuditEvent::Started),
        (Some(Role::Operator), AuditEvent::OperatorJoined { operator_name: "Support desk".into() }),
        (Some(Role::Visitor), AuditEvent::Consent { approved: true }),
        (Some(Role::Visitor), AuditEvent::Granted { scopes: vec![Scope::Click, Scope::Scroll] }),
        (Some(Role::Visitor), AuditEvent::Command { command: CommandKind::Click, ok: true }),
        (Some(Role::Operator), AuditEvent::Pushed { push: PushKind::Viewer }),
        (Some(Role::Visitor), AuditEvent::Revoked { scopes: vec![Scope::Click] }),
        (Some(Role::Operator), AuditEvent::Ended { by: Role::Operator }),
    ];
    // The two sockets' entries interleave; compare each side's order and the set.
    for role in [Role::Visitor, Role::Operator] {
        let side = |v: &Vec<(Option<Role>, AuditEvent)>| {
            v.iter().filter(|(r, _)| *r == Some(role)).cloned().collect::<Vec<_>>()
        };
        assert_eq!(side(&got), side(&want), "{role:?}");
    }
    assert_eq!(got.len(), want.len());

    let mut prev = AUDIT_GENESIS.to_owned();
    for (i, entry) in log.entries.iter().enumerate() {
        assert_eq!(entry.seq, i as u64 + 1);
        assert_eq!(entry.hash, hash(&prev, entry), "entry {}", entry.seq);
        prev = entry.hash.clone();
    }
    // Tampering with any entry breaks the chain from there on.
    let mut forged = log.entries[4].clone();
    forged.event = AuditEvent::Command { command: CommandKind::Navigate, ok: true };
    assert_ne!(hash(&log.entries[3].hash, &forged), log.entries[4].hash);
}

/// A client resends the numbered entries a lost connection may have taken
/// unread; each is applied once, on any connection, and answered `Applied`
/// every time.
#[tokio::test]
async fn a_numbered_entry_sent_again_is_applied_once() {
    let server = Server::start().await;
    let mut p = joined_pair(&server).await;
    drain_until_peer(&mut p.v).await;
    let consent = |n| RelayMessage::Audit { event: AuditEvent::Consent { approved: true }, n: Some(n) };
    send(&mut p.v, &consent(1)).await;
    // The reply and the new state (told to both sides) come in either order.
    let two = [next(&mut p.v).await, next(&mut p.v).await];
    assert!(two.contains(&RelayMessage::Applied { n: 1 }), "{two:?}");
    assert!(two.contains(&RelayMessage::State { state: SessionState::Active }), "{two:?}");
    // Again, as after a reconnect: no second entry, no `wrong_state`.
    send(&mut p.v, &consent(1)).await;
    assert_eq!(next(&mut p.v).await, RelayMessage::Applied { n: 1 });
    // A refused entry is answered too, after its error.
    let started = RelayMessage::Audit { event: AuditEvent::Started, n: Some(2) };
    send(&mut p.v, &started).await;
    assert_eq!(error_code(&next(&mut p.v).await), "forbidden");
    assert_eq!(next(&mut p.v).await, RelayMessage::Applied { n: 2 });
    // Numbers out of range are malformed, not applied.
    for n in [0, u64::MAX] {
        let odd = RelayMessage::Audit { event: AuditEvent::Granted { scopes: vec![Scope::Click] }, n: Some(n) };
        send(&mut p.v, &odd).await;
        assert_eq!(error_code(&next(&mut p.v).await), "malformed");
    }
    let grant = RelayMessage::Audit { event: AuditEvent::Granted { scopes: vec![Scope::Scroll] }, n: Some(3) };
    send(&mut p.v, &grant).await;
    assert_eq!(next(&mut p.v).await, RelayMessage::Applied { n: 3 });

    // On a new connection (the old one replaced), and from the other side.
    let (mut v, _) = connect(&server, &p.visitor, &p.session_id).await;
    send(&mut v, &grant).await;
    assert_eq!(until_applied(&mut v).await, 3);
    let held = |n| RelayMessage::Audit {
        event: AuditEvent::AppState { app_id: "a1".into(), state: AppState::Held },
        n: Some(n),
    };
    send(&mut p.o, &held(1)).await;
    assert_eq!(until_applied(&mut p.o).await, 1);
    send(&mut p.o, &held(1)).await;
    assert_eq!(until_applied(&mut p.o).await, 1);
    let log: AuditLog = json(p.visitor.get(&server, &path(&p.session_id, "audit")).await, 200).await;
    let consents = log.entries.iter().filter(|e| matches!(e.event, AuditEvent::Consent { .. })).count();
    let grants = log.entries.iter().filter(|e| matches!(e.event, AuditEvent::Granted { .. })).count();
    let holds = log.entries.iter().filter(|e| matches!(e.event, AuditEvent::AppState { .. })).count();
    assert_eq!((consents, grants, holds), (1, 1, 1), "{log:?}");
}

/// The next `Applied`'s number, past presence and state news.
async fn until_applied(socket: &mut Socket) -> u64 {
    loop {
        if let RelayMessage::Applied { n } = next(socket).await {
            return n;
        }
    }
}

#[tokio::test]
async fn refused_consent_ends_the_session() {
    let server = Server::start().await;
    let mut p = joined_pair(&server).await;
    drain_until_peer(&mut p.v).await;
    audit(&mut p.v, AuditEvent::Consent { approved: false }).await;
    assert_eq!(next(&mut p.o).await, RelayMessage::End { reason: Some("the visitor declined".into()) });
    assert!(matches!(next(&mut p.v).await, RelayMessage::End { .. }));
    closed(&mut p.o).await;
    closed(&mut p.v).await;
    // An operator socket that only connects now is told why as well.
    let (mut o, _) = connect(&server, &p.operator, &p.session_id).await;
    assert_eq!(until_end(&mut o).await.as_deref(), Some("the visitor declined"));
    let log: AuditLog = json(p.visitor.get(&server, &path(&p.session_id, "audit")).await, 200).await;
    let last: Vec<_> = log.entries.iter().rev().take(2).map(|e| e.event.clone()).collect();
    assert_eq!(last, vec![AuditEvent::Ended { by: Role::Visitor }, AuditEvent::Consent { approved: false }]);
}

#[tokio::test]
async fn frames_are_recorded_only_after_recording_consent_and_the_operator_reads_them() {
    let server = Server::start().await;
    let mut p = active_pair(&server).await;
    let stranger = Device::register(&server, "Stranger").await;
    send(&mut p.v, &frame(1, "bm90IHJlY29yZGVk")).await;
    assert!(matches!(next(&mut p.o).await, RelayMessage::Frame { seq: 1, .. }));

    audit(&mut p.o, AuditEvent::RecordingConsent { approved: true }).await;
    assert_eq!(error_code(&next(&mut p.o).await), "forbidden");
    audit(&mut p.v, AuditEvent::RecordingConsent { approved: true }).await;
    send(&mut p.v, &frame(2, "cmVjb3JkZWQ=")).await;
    assert!(matches!(next(&mut p.o).await, RelayMessage::Frame { seq: 2, .. }));
    send(&mut p.o, &frame(1, "b3BlcmF0b3I=")).await;
    assert!(matches!(next(&mut p.v).await, RelayMessage::Frame { seq: 1, .. }));
    audit(&mut p.v, AuditEvent::RecordingConsent { approved: false }).await;
    send(&mut p.v, &frame(3, "b2ZmIGFnYWlu")).await;
    assert!(matches!(next(&mut p.o).await, RelayMessage::Frame { seq: 3, .. }));

    let url = path(&p.session_id, "recording");
    let rec: Recording = json(p.operator.get(&server, &url).await, 200).await;
    assert_eq!(rec.session_id, p.session_id);
    let got: Vec<_> = rec.frames.iter().map(|f| (f.seq, f.from, f.ct.as_str())).collect();
    assert_eq!(got, vec![(2, Role::Visitor, "cmVjb3JkZWQ="), (1, Role::Operator, "b3BlcmF0b3I=")]);
    assert!(rec.frames.iter().all(|f| f.at_ms > 0));
    let err: ApiError = json(stranger.get(&server, &url).await, 404).await;
    assert_eq!(err.code, "unknown_cobrowse_session");
    let from_visitor: Recording = json(p.visitor.get(&server, &url).await, 200).await;
    assert_eq!(from_visitor, rec);
}

/// Every page of the recording, following `next` with `limit` frames a page.
async fn all_pages(server: &Server, device: &Device, session_id: &str, limit: Option<u32>) -> Vec<Recording> {
    let mut query = RecordingQuery { after: None, limit };
    let mut pages = Vec::new();
    loop {
        let page: Recording = json(device.get(server, &query.path(session_id)).await, 200).await;
        let next = page.next;
        pages.push(page);
        match next {
            Some(after) => query.after = Some(after),
            None => return pages,
        }
        assert!(pages.len() < 100, "the cursor does not advance");
    }
}

/// A recording stopped by its account's cap says that cap, to the sides
/// connected then and to any that connect later, across a restart too.
#[tokio::test]
async fn a_recording_stopped_at_the_accounts_cap_names_that_cap_to_later_sockets() {
    let server =
        Server::start_with(&["--cobrowse-recording-max-bytes", "1000", "--account-recording-bytes", "20"]).await;
    let mut p = active_pair(&server).await;
    audit(&mut p.v, AuditEvent::RecordingConsent { approved: true }).await;
    let mut told = 0;
    for seq in 1..=3 {
        send(&mut p.v, &frame(seq, "QUFBQUFB")).await;
        next_frame(&mut p.o, seq, &mut told).await;
    }
    loop {
        match next(&mut p.v).await {
            RelayMessage::RecordingStopped { max_bytes } => break assert_eq!(max_bytes, 20),
            RelayMessage::Error { message, .. } => panic!("{message}"),
            _ => {}
        }
    }
    let (_o, hello) = connect(&server, &p.operator, &p.session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { recording_stopped: Some(20), .. }), "{hello:?}");
    let server = server.restart().await;
    let (_v, hello) = connect(&server, &p.visitor, &p.session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { recording_stopped: Some(20), .. }), "{hello:?}");
}

#[tokio::test]
async fn recording_stops_at_its_cap_and_the_live_session_goes_on() {
    let server = Server::start_with(&["--cobrowse-recording-max-bytes", "20"]).await;
    let mut p = active_pair(&server).await;
    audit(&mut p.v, AuditEvent::RecordingConsent { approved: true }).await;
    // 8 bytes each: two fit in 20, the third stops the recording. Both
    // sides are told once, whenever the writer gets there.
    let mut told = 0;
    for seq in 1..=4 {
        send(&mut p.v, &frame(seq, "QUFBQUFB")).await;
        next_frame(&mut p.o, seq, &mut told).await;
    }
    let url = path(&p.session_id, "recording");
    let rec: Recording = json(p.operator.get(&server, &url).await, 200).await;
    let seqs: Vec<_> = rec.frames.iter().map(|f| f.seq).collect();
    assert_eq!(seqs, [1, 2]);

    // Asking to record again does not restart it, even for a frame that would fit.
    audit(&mut p.v, AuditEvent::RecordingConsent { approved: true }).await;
    send(&mut p.v, &frame(5, "QUE=")).await;
    next_frame(&mut p.o, 5, &mut told).await;
    let rec: Recording = json(p.operator.get(&server, &url).await, 200).await;
    assert_eq!(rec.frames.len(), 2);
    assert!(told <= 1, "told {told} times");
    if told == 0 {
        assert_eq!(next(&mut p.o).await, RelayMessage::RecordingStopped { max_bytes: 20 });
    }
    assert_eq!(next(&mut p.v).await, RelayMessage::RecordingStopped { max_bytes: 20 });
    assert_eq!(next_within(&mut p.o, Duration::from_millis(300)).await, None, "told once");

    let log: AuditLog = json(p.visitor.get(&server, &path(&p.session_id, "audit")).await, 200).await;
    let stops: Vec<_> =
        log.entries.iter().filter(|e| matches!(e.event, AuditEvent::RecordingLimitReached { .. })).collect();
    assert_eq!(stops.len(), 1, "{:#?}", log.entries);
    assert_eq!(stops[0].event, AuditEvent::RecordingLimitReached { max_bytes: 20 });
    assert_eq!(stops[0].role, None);
    // The session is still live in both directions.
    send(&mut p.o, &frame(1, "b3BlcmF0b3I=")).await;
    assert!(matches!(next(&mut p.v).await, RelayMessage::Frame { seq: 1, .. }));

    // A side that connects later is greeted with it, across a restart too.
    let (_o, hello) = connect(&server, &p.operator, &p.session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { recording_stopped: Some(20), .. }), "{hello:?}");
    let server = server.restart().await;
    let (_v, hello) = connect(&server, &p.visitor, &p.session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { recording_stopped: Some(20), .. }), "{hello:?}");
}

#[tokio::test]
async fn the_recording_is_read_in_pages_of_frames_and_bytes() {
    let server = Server::start().await;
    let mut p = active_pair(&server).await;
    audit(&mut p.v, AuditEvent::RecordingConsent { approved: true }).await;
    for seq in 1..=5 {
        send(&mut p.v, &frame(seq, &format!("ZnJhbWU{seq}"))).await;
        assert!(matches!(next(&mut p.o).await, RelayMessage::Frame { .. }));
    }
    let whole = all_pages(&server, &p.operator, &p.session_id, None).await;
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].frames.len(), 5);
    let pages = all_pages(&server, &p.operator, &p.session_id, Some(2)).await;
    let sizes: Vec<_> = pages.iter().map(|page| page.frames.len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    let joined: Vec<_> = pages.into_iter().flat_map(|page| page.frames).collect();
    assert_eq!(joined, whole[0].frames);
    // Exactly a page's worth: the last full page says so only if more follow.
    let pages = all_pages(&server, &p.operator, &p.session_id, Some(5)).await;
    assert_eq!(pages.len(), 1);

    // Large frames: a page stops at RECORDING_PAGE_BYTES, but holds at least one.
    let big = |n: usize| "A".repeat(n);
    let sizes = [RECORDING_PAGE_BYTES * 3 / 4, RECORDING_PAGE_BYTES / 8, RECORDING_PAGE_BYTES + 1024];
    for (i, n) in sizes.iter().enumerate() {
        send(&mut p.v, &frame(6 + i as u64, &big(*n))).await;
        assert!(matches!(next(&mut p.o).await, RelayMessage::Frame { .. }));
    }
    let pages = all_pages(&server, &p.operator, &p.session_id, None).await;
    let shape: Vec<Vec<usize>> = pages.iter().map(|page| page.frames.iter().map(|f| f.ct.len()).collect()).collect();
    assert_eq!(shape.len(), 2, "{:?}", shape.iter().map(Vec::len).collect::<Vec<_>>());
    assert_eq!(shape[0].len(), 7);
    assert_eq!(shape[1], [RECORDING_PAGE_BYTES + 1024]);

    // Bad queries are refused before anything is read.
    for bad in ["limit=0", "limit=1001", "after=-1", "after=x", "after=18446744073709551615"] {
        let url = format!("{}?{bad}", path(&p.session_id, "recording"));
        let err: ApiError = json(p.operator.get(&server, &url).await, 400).await;
        assert_eq!(err.code, "invalid_request", "{bad}");
    }
}

#[tokio::test]
async fn end_from_either_side_closes_both_sockets() {
    let server = Server::start().await;
    let mut p = active_pair(&server).await;
    send(&mut p.v, &RelayMessage::End { reason: None }).await;
    assert_eq!(next(&mut p.o).await, RelayMessage::End { reason: Some("the visitor ended the session".into()) });
    assert!(matches!(next(&mut p.v).await, RelayMessage::End { .. }));
    closed(&mut p.o).await;
    closed(&mut p.v).await;
    // Coming back finds it over, and why.
    let (mut o, hello) = connect(&server, &p.operator, &p.session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { state: SessionState::Ended, .. }));
    assert_eq!(until_end(&mut o).await.as_deref(), Some("the visitor ended the session"));
    closed(&mut o).await;
}

#[tokio::test]
async fn why_a_session_ended_is_kept_across_a_server_restart() {
    let server = Server::start().await;
    let mut p = active_pair(&server).await;
    let why = "the visitor closed the tab";
    send(&mut p.v, &RelayMessage::End { reason: Some(why.into()) }).await;
    assert_eq!(until_end(&mut p.o).await.as_deref(), Some(why));
    let server = server.restart().await;
    for device in [&p.operator, &p.visitor] {
        let (mut socket, hello) = connect(&server, device, &p.session_id).await;
        assert!(matches!(hello, RelayMessage::Hello { state: SessionState::Ended, .. }), "{hello:?}");
        assert_eq!(until_end(&mut socket).await.as_deref(), Some(why));
        closed(&mut socket).await;
    }
}

#[tokio::test]
async fn a_live_session_survives_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.sqlite3");
    let server = Server::start_at(&db).await;
    let mut p = active_pair(&server).await;
    audit(&mut p.v, AuditEvent::RecordingConsent { approved: true }).await;
    send(&mut p.v, &frame(1, "YmVmb3Jl")).await;
    assert!(matches!(next(&mut p.o).await, RelayMessage::Frame { seq: 1, .. }));

    assert!(server.terminate().await.success());
    closed(&mut p.v).await;
    closed(&mut p.o).await;

    let server = Server::start_at(&db).await;
    let (mut v, hello) = connect(&server, &p.visitor, &p.session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { state: SessionState::Active, peer_present: false, .. }));
    assert!(matches!(next(&mut v).await, RelayMessage::OperatorJoined { .. }));
    let (mut o, hello) = connect(&server, &p.operator, &p.session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { state: SessionState::Active, peer_present: true, .. }));
    assert_eq!(next(&mut v).await, RelayMessage::Peer { present: true, ends_in_ms: None });
    // The console asks for a keyframe; the visitor sends one.
    send(&mut o, &frame(1, "a2V5ZnJhbWUgcGxlYXNl")).await;
    assert!(matches!(next(&mut v).await, RelayMessage::Frame { seq: 1, from: Some(Role::Operator), .. }));
    send(&mut v, &frame(2, "YWZ0ZXI=")).await;
    assert_eq!(next(&mut o).await, RelayMessage::Frame { seq: 2, from: Some(Role::Visitor), ct: "YWZ0ZXI=".into() });
    // Recording carried on across the restart.
    let rec: Recording = json(p.operator.get(&server, &path(&p.session_id, "recording")).await, 200).await;
    let seqs: Vec<_> = rec.frames.iter().map(|f| (f.from, f.seq)).collect();
    assert_eq!(seqs, vec![(Role::Visitor, 1), (Role::Operator, 1), (Role::Visitor, 2)]);
}

#[tokio::test]
async fn malformed_and_oversized_messages_get_errors_and_the_socket_stays_open() {
    let server = Server::start().await;
    let mut p = active_pair(&server).await;
    for bad in ["not json", "{\"t\":\"nonsense\"}", "{\"t\":\"frame\",\"seq\":-1,\"ct\":\"x\"}", "[]"] {
        p.v.send(Message::Text(bad.into())).await.unwrap();
        assert_eq!(error_code(&next(&mut p.v).await), "malformed", "{bad}");
    }
    p.v.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert_eq!(error_code(&next(&mut p.v).await), "malformed");
    send(&mut p.v, &RelayMessage::Peer { present: true, ends_in_ms: None }).await;
    assert_eq!(error_code(&next(&mut p.v).await), "malformed");
    send(&mut p.v, &frame(1, &"A".repeat(MAX_RELAY_MESSAGE))).await;
    assert_eq!(error_code(&next(&mut p.v).await), "too_large");
    // Nothing of the above reached the operator; the socket still works.
    send(&mut p.v, &frame(2, "c3RpbGwgb3Blbg==")).await;
    assert_eq!(
        next(&mut p.o).await,
        RelayMessage::Frame { seq: 2, from: Some(Role::Visitor), ct: "c3RpbGwgb3Blbg==".into() }
    );
}

/// Latency is the `cobrowse_latency` benchmark's; this checks a long run of
/// frames, each sent after the last one landed, is forwarded whole and in order.
#[tokio::test]
async fn a_thousand_frames_are_forwarded_one_by_one_in_order() {
    let server = Server::start().await;
    let mut p = active_pair(&server).await;
    let ct = "A".repeat(200);
    for seq in 1..=1000 {
        send(&mut p.v, &frame(seq, &ct)).await;
        assert_eq!(next(&mut p.o).await, RelayMessage::Frame { seq, from: Some(Role::Visitor), ct: ct.clone() });
    }
}

/// Reads past other messages to the next `Peer`; returns whether present.
async fn until_peer(socket: &mut Socket) -> bool {
    loop {
        if let RelayMessage::Peer { present, .. } = next(socket).await {
            return present;
        }
    }
}

#[tokio::test]
async fn a_side_away_too_long_ends_the_session_and_one_back_in_time_keeps_it() {
    let away_ttl = Duration::from_millis(1_000);
    let server = Server::start_with(&["--cobrowse-away-ttl-ms", "1000"]).await;
    let mut p = active_pair(&server).await;

    // The operator's socket drops and comes back within the time: the
    // session goes on past it.
    drop(p.o);
    assert!(!until_peer(&mut p.v).await);
    tokio::time::sleep(away_ttl / 2).await;
    let (mut o, hello) = connect(&server, &p.operator, &p.session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { state: SessionState::Active, peer_present: true, .. }), "{hello:?}");
    assert!(until_peer(&mut p.v).await);
    tokio::time::sleep(away_ttl).await;
    send(&mut p.v, &frame(1, "c3RpbGwgaGVyZQ==")).await;
    assert!(matches!(next(&mut o).await, RelayMessage::Frame { seq: 1, .. }));

    // Away for good: the visitor is told why once the time is up.
    let left = Instant::now();
    drop(o);
    assert!(!until_peer(&mut p.v).await);
    let reason = until_end(&mut p.v).await.expect("a reason");
    assert_eq!(reason, "the operator stayed disconnected too long");
    assert!(left.elapsed() >= away_ttl, "{:?}", left.elapsed());
    closed(&mut p.v).await;
    let log: AuditLog = json(p.visitor.get(&server, &path(&p.session_id, "audit")).await, 200).await;
    let last = log.entries.last().expect("entries");
    assert_eq!((&last.event, last.role), (&AuditEvent::Abandoned { away: Role::Operator }, None));
    // The operator, back later, hears the same.
    let (mut o, _) = connect(&server, &p.operator, &p.session_id).await;
    assert_eq!(until_end(&mut o).await.as_deref(), Some(reason.as_str()));
}

#[tokio::test]
async fn after_a_restart_a_side_that_never_comes_back_ends_the_session() {
    let server = Server::start_with(&["--cobrowse-away-ttl-ms", "1000"]).await;
    let Pair { visitor, session_id, .. } = active_pair(&server).await;
    let server = server.restart().await;
    let restarted = Instant::now();
    // Only the visitor reconnects; the operator's absence is timed from the
    // restart, with no socket of its own to start the clock.
    let (mut v, hello) = connect(&server, &visitor, &session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { state: SessionState::Active, peer_present: false, .. }), "{hello:?}");
    let reason = until_end(&mut v).await.expect("a reason");
    assert_eq!(reason, "the operator stayed disconnected too long");
    assert!(restarted.elapsed() < Duration::from_secs(4), "{:?}", restarted.elapsed());
    // Nobody reconnecting at all ends it too.
    let Pair { operator, session_id, .. } = active_pair(&server).await;
    let server = server.restart().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (mut o, hello) = connect(&server, &operator, &session_id).await;
    assert!(matches!(hello, RelayMessage::Hello { state: SessionState::Ended, .. }), "{hello:?}");
    assert!(until_end(&mut o).await.is_some_and(|r| r.contains("stayed disconnected too long")));
}

/// Opens the relay socket over a connection with a tiny receive buffer; the
/// caller then reads nothing from it, like a peer that stopped reading.
async fn connect_stalled(server: &Server, device: &Device, session_id: &str) -> Socket {
    let addr: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(addr).await.unwrap();
    let request = relay_request(server, device, session_id);
    let (socket, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await.unwrap();
    socket
}

#[tokio::test]
async fn an_operator_that_stops_reading_is_closed_and_the_visitor_told() {
    let server = Server::start_with(&["--relay-send-timeout-ms", "1000"]).await;
    let visitor = Device::register(&server, "Visitor laptop").await;
    let operator = Device::register(&server, "Support desk").await;
    let created = create(&server, &visitor).await;
    let (mut v, _) = connect(&server, &visitor, &created.session_id).await;
    let _: SessionJoined = json(join(&server, &operator, &created.lookup).await, 200).await;
    let mut o = connect_stalled(&server, &operator, &created.session_id).await;
    drain_until_peer(&mut v).await;
    audit(&mut v, AuditEvent::Consent { approved: true }).await;
    assert_eq!(next(&mut v).await, RelayMessage::State { state: SessionState::Active });

    // The visitor keeps sending large frames the operator never reads.
    let ct = "A".repeat(4 * 1024 * 1024);
    let sending = Instant::now();
    let mut seq = 0;
    let ends_in_ms = loop {
        seq += 1;
        send(&mut v, &frame(seq, &ct)).await;
        match next_within(&mut v, Duration::from_millis(100)).await {
            Some(RelayMessage::Peer { present: false, ends_in_ms }) => break ends_in_ms,
            Some(other) => panic!("{other:?}"),
            None => assert!(sending.elapsed() < Duration::from_secs(20), "the operator's socket was never closed"),
        }
    };
    // Away from an active session, as for any disconnect.
    assert!(ends_in_ms.is_some());

    // The operator's connection ends after what the server had already sent.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, o.next()).await {
            Err(_) => panic!("the operator's connection is still open"),
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test]
async fn starting_sessions_is_limited_per_address() {
    let server = Server::start_with(&["--shares-per-hour", "2"]).await;
    let visitor = Device::register(&server, "Visitor").await;
    create(&server, &visitor).await;
    create(&server, &visitor).await;
    let body = CreateSession { visitor_public_key: public_key(7) };
    let response = visitor.post(&server, PATH_SESSIONS, &body).await;
    assert!(response.headers().contains_key("retry-after"));
    let err: ApiError = json(response, 429).await;
    assert_eq!(err.code, "rate_limited");
    assert!(err.message.contains("sessions started from this address"), "{}", err.message);
}
