//! Co-browsing with real parts: one `baton-server`, a visitor's and an
//! operator's `baton-host`, driven over pipes as their browsers would.
//! Where a test needs to see exactly what crosses the relay, it plays the
//! operator itself over HTTP and the relay WebSocket.

mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use baton_shared::limits::COBROWSE_AWAY_TTL_MS;
use serde_json::{json, Value};
use support::{http, Host, Server};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};

const PAGE_TEXT: &str = "Balance of account 7741-SECRET-PAGE-TEXT";
const WAIT: Duration = Duration::from_secs(10);

fn server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("server.sqlite3"), "127.0.0.1:0");
    (dir, server)
}

fn is_cobrowse(m: &Value, session: &str, e: &str) -> bool {
    m["type"] == "cobrowse" && m["session_id"] == session && m["event"]["e"] == e
}

/// A visitor frame: a snapshot of a page carrying `text`.
fn snapshot(text: &str) -> Value {
    json!({"dir": "visitor", "frame": {"k": "snapshot", "url": "https://bank.example/account", "title": "Account",
        "root": {"i": 1, "n": "html", "c": [{"i": 2, "n": "body", "c": [{"i": 3, "v": text}]}]},
        "viewport": [1280, 800], "scroll": []}})
}

fn text_change(text: &str) -> Value {
    json!({"dir": "visitor", "frame": {"k": "mutations", "texts": [[3, text]]}})
}

fn pointer(x: i32) -> Value {
    json!({"dir": "operator", "frame": {"k": "pointer", "x": x, "y": 5}})
}

fn send(host: &mut Host, session: &str, frame: Value) -> Value {
    host.request(json!({"type": "cobrowse_send", "session_id": session, "frame": frame}))
}

/// The visitor shares, the operator joins with the code, the visitor
/// approves (with recording as asked); returns the session id once both
/// sides see it active.
fn start_session(visitor: &mut Host, operator: &mut Host, record: bool) -> String {
    let started = visitor.request(json!({"type": "share_start"}));
    assert_eq!(started["type"], "share_started", "{started}");
    let session = started["session_id"].as_str().expect("session id").to_owned();
    let code = started["code"].as_str().expect("code").to_owned();
    assert!(started["expires_ms"].as_i64().expect("expiry") > 0);

    let joined = operator.request(json!({"type": "operator_join", "code": code.to_lowercase()}));
    assert_eq!(joined["type"], "operator_joined", "{joined}");
    assert_eq!(joined["session_id"], session.as_str());
    assert_eq!(joined["visitor_name"], "Visitor laptop");

    let asked = visitor.wait_event("operator joined", WAIT, |m| is_cobrowse(m, &session, "operator_joined"));
    assert_eq!(asked["event"]["operator_name"], "Support desk");
    let ack =
        visitor.request(json!({"type": "share_respond", "session_id": session, "approve": true, "record": record}));
    assert_eq!(ack["type"], "ack", "{ack}");
    for host in [visitor, operator] {
        host.wait_event("state active", WAIT, |m| is_cobrowse(m, &session, "state") && m["event"]["state"] == "active");
    }
    session
}

fn hosts(server: &Server) -> (Host, Host) {
    let mut visitor = Host::start(&server.url, "Visitor laptop");
    let mut operator = Host::start(&server.url, "Support desk");
    visitor.wait_connected();
    operator.wait_connected();
    (visitor, operator)
}

/// Every byte of the server's database files.
fn server_bytes(server: &Server) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", server.db.display());
        all.extend(std::fs::read(path).unwrap_or_default());
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn share_join_consent_frames_both_ways_recording_and_end_with_only_ciphertext_at_the_server() {
    let (_dir, server) = server();
    let (mut visitor, mut operator) = hosts(&server);

    let started = visitor.request(json!({"type": "share_start"}));
    let session = started["session_id"].as_str().expect("session id").to_owned();
    let code = started["code"].as_str().expect("code").to_owned();
    visitor.wait_event("waiting", WAIT, |m| is_cobrowse(m, &session, "state") && m["event"]["state"] == "waiting");
    // Nothing can be sent before an operator joined and the visitor approved.
    let early = send(&mut visitor, &session, snapshot(PAGE_TEXT));
    assert_eq!(early["code"], "cobrowse_not_active", "{early}");

    // Codes that are malformed or wrong are clear errors.
    for bad in ["nonsense", "ZZZZ-00000"] {
        let e = operator.request(json!({"type": "operator_join", "code": bad}));
        assert_eq!(e["code"], "cobrowse_code_invalid", "{e}");
        assert!(e["message"].as_str().unwrap_or_default().contains("ABCD-7KQ2M9"), "{e}");
    }
    let (lookup, _) = code.rsplit_once('-').expect("dash");
    let wrong = operator.request(json!({"type": "operator_join", "code": format!("{lookup}X-7KQ2M9")}));
    assert_eq!(wrong["code"], "cobrowse_code_invalid", "{wrong}");
    assert!(wrong["message"].as_str().unwrap_or_default().contains("wrong or has expired"), "{wrong}");

    let joined = operator.request(json!({"type": "operator_join", "code": code}));
    assert_eq!(joined["type"], "operator_joined", "{joined}");
    let asked = visitor.wait_event("operator joined", WAIT, |m| is_cobrowse(m, &session, "operator_joined"));
    assert_eq!(asked["event"]["operator_name"], "Support desk");
    // Still nothing before consent: the visitor's host refuses, and the
    // relay refuses the operator's frames.
    let early = send(&mut visitor, &session, snapshot(PAGE_TEXT));
    assert_eq!(early["code"], "cobrowse_not_active", "{early}");
    // The operator cannot answer for the visitor, nor send visitor frames.
    let e = operator.request(json!({"type": "share_respond", "session_id": session, "approve": true, "record": true}));
    assert_eq!(e["code"], "invalid_request", "{e}");
    assert_eq!(send(&mut operator, &session, snapshot("x"))["code"], "invalid_request");

    let ack = visitor.request(json!({"type": "share_respond", "session_id": session, "approve": true, "record": true}));
    assert_eq!(ack["type"], "ack", "{ack}");
    for host in [&mut visitor, &mut operator] {
        host.wait_event("active", WAIT, |m| is_cobrowse(m, &session, "state") && m["event"]["state"] == "active");
    }
    assert!(!operator.events.iter().any(|m| is_cobrowse(m, &session, "frame")), "a frame before consent");
    // A page opened now (a reloaded console) finds the session as it stands.
    for (host, role, peer) in [(&mut visitor, "visitor", "Support desk"), (&mut operator, "operator", "Visitor laptop")]
    {
        let deadline = Instant::now() + WAIT;
        let live = loop {
            let live = host.request(json!({"type": "cobrowse_sessions"}));
            assert_eq!(live["type"], "cobrowse_sessions", "{live}");
            if live["sessions"][0]["peer_present"] == true {
                break live;
            }
            assert!(Instant::now() < deadline, "the other side never showed as present: {live}");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            live["sessions"],
            json!([{"session_id": session, "role": role, "peer_name": peer, "state": "active", "peer_present": true}])
        );
    }

    // Visitor → operator: the page text arrives.
    assert_eq!(send(&mut visitor, &session, snapshot(PAGE_TEXT))["type"], "ack");
    let got = operator.wait_event("snapshot", WAIT, |m| is_cobrowse(m, &session, "frame"));
    assert_eq!(got["event"]["seq"], 1);
    assert_eq!(got["event"]["frame"], snapshot(PAGE_TEXT));
    assert_eq!(send(&mut visitor, &session, text_change("second SECRET-PAGE-TEXT"))["type"], "ack");
    let got = operator.wait_event("mutation", WAIT, |m| is_cobrowse(m, &session, "frame"));
    assert_eq!(got["event"]["seq"], 2);

    // Operator → visitor.
    assert_eq!(send(&mut operator, &session, pointer(40))["type"], "ack");
    let got = visitor.wait_event("pointer", WAIT, |m| is_cobrowse(m, &session, "frame"));
    assert_eq!(got["event"]["frame"], pointer(40));
    assert_eq!(got["event"]["seq"], 1);

    let audit = json!({"kind": "granted", "scopes": ["scroll"]});
    let ack = visitor.request(json!({"type": "cobrowse_audit", "session_id": session, "event": audit}));
    assert_eq!(ack["type"], "ack", "{ack}");

    // The recording replays, decrypted, in order.
    let deadline = Instant::now() + WAIT;
    let recording = loop {
        let r = operator.request(json!({"type": "recording_fetch", "session_id": session}));
        assert_eq!(r["type"], "recording", "{r}");
        if r["frames"].as_array().map_or(0, Vec::len) >= 3 {
            break r;
        }
        assert!(Instant::now() < deadline, "recording incomplete: {r}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let frames = recording["frames"].as_array().expect("frames");
    let seen: Vec<(String, u64)> = frames
        .iter()
        .map(|f| (f["from"].as_str().unwrap_or_default().to_owned(), f["seq"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(seen, [("visitor".to_owned(), 1), ("visitor".to_owned(), 2), ("operator".to_owned(), 1)]);
    assert_eq!(frames[0]["frame"], snapshot(PAGE_TEXT));

    // The server stored the session, its audit log and its recording, but
    // no page text.
    let stored = server_bytes(&server);
    assert!(!contains(&stored, "SECRET-PAGE-TEXT"), "page text in the server's database");
    assert!(!contains(&stored, "bank.example"), "page URL in the server's database");

    // The visitor ends; both sides hear it; nothing more is accepted.
    assert_eq!(visitor.request(json!({"type": "cobrowse_end", "session_id": session}))["type"], "ack");
    visitor.wait_event("ended here", WAIT, |m| is_cobrowse(m, &session, "ended"));
    let ended = operator.wait_event("ended there", WAIT, |m| is_cobrowse(m, &session, "ended"));
    assert!(ended["event"]["reason"].as_str().unwrap_or_default().contains("visitor"), "{ended}");
    assert_eq!(send(&mut visitor, &session, text_change("late"))["code"], "cobrowse_not_active");
    assert_eq!(visitor.request(json!({"type": "cobrowse_sessions"}))["sessions"], json!([]));
    let deadline = Instant::now() + WAIT;
    while !send(&mut operator, &session, pointer(1))["code"].is_string() {
        assert!(Instant::now() < deadline, "the operator's session never ended");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The key outlives the session (and the host): the recording still opens.
    let home = operator.kill();
    let mut operator = Host::start_in(home, &server.url, "Support desk");
    operator.wait_connected();
    let r = operator.request(json!({"type": "recording_fetch", "session_id": session}));
    assert_eq!(r["frames"].as_array().map_or(0, Vec::len), 3, "{r}");
    let e = operator.request(json!({"type": "recording_fetch", "session_id": "no-such-session"}));
    assert_eq!(e["code"], "cobrowse_not_active", "{e}");
    let e = operator.request(json!({"type": "recording_fetch", "session_id": "../v1/devices"}));
    assert_eq!(e["code"], "invalid_request", "{e}");
}

#[test]
fn the_operator_ends_and_a_declined_operator_sees_nothing() {
    let (_dir, server) = server();
    let (mut visitor, mut operator) = hosts(&server);
    let session = start_session(&mut visitor, &mut operator, false);
    assert_eq!(send(&mut visitor, &session, snapshot("hello"))["type"], "ack");
    operator.wait_event("frame", WAIT, |m| is_cobrowse(m, &session, "frame"));
    assert_eq!(operator.request(json!({"type": "cobrowse_end", "session_id": session}))["type"], "ack");
    operator.wait_event("ended here", WAIT, |m| is_cobrowse(m, &session, "ended"));
    let ended = visitor.wait_event("ended there", WAIT, |m| is_cobrowse(m, &session, "ended"));
    assert!(ended["event"]["reason"].as_str().unwrap_or_default().contains("operator"), "{ended}");
    // Not recorded: nothing to replay.
    let r = operator.request(json!({"type": "recording_fetch", "session_id": session}));
    assert!(r["frames"].as_array().is_none_or(|f| f.is_empty()), "{r}");

    // A second session, declined.
    let started = visitor.request(json!({"type": "share_start"}));
    let session = started["session_id"].as_str().expect("id").to_owned();
    let joined = operator.request(json!({"type": "operator_join", "code": started["code"]}));
    assert_eq!(joined["type"], "operator_joined", "{joined}");
    visitor.wait_event("asked", WAIT, |m| is_cobrowse(m, &session, "operator_joined"));
    operator.wait_event("operator's relay", WAIT, |m| is_cobrowse(m, &session, "state"));
    let ack =
        visitor.request(json!({"type": "share_respond", "session_id": session, "approve": false, "record": false}));
    assert_eq!(ack["type"], "ack");
    let ended = operator.wait_event("declined", WAIT, |m| is_cobrowse(m, &session, "ended"));
    assert!(ended["event"]["reason"].as_str().unwrap_or_default().contains("declined"), "{ended}");
    assert!(!operator.events.iter().any(|m| is_cobrowse(m, &session, "frame")));
    // The code was single use.
    let again = operator.request(json!({"type": "operator_join", "code": started["code"]}));
    assert_eq!(again["code"], "cobrowse_code_invalid", "{again}");
}

/// Moving to another server (`configure`) cannot take a session along: it
/// ends on both sides with the reason, and at the server it stayed on.
#[test]
fn moving_to_another_server_ends_live_sessions_on_both_sides() {
    let (dir, server) = server();
    let other = Server::start(&dir.path().join("other.sqlite3"), "127.0.0.1:0");
    let (mut visitor, mut operator) = hosts(&server);
    let session = start_session(&mut visitor, &mut operator, false);
    assert_eq!(send(&mut visitor, &session, snapshot("hello"))["type"], "ack");
    operator.wait_event("frame", WAIT, |m| is_cobrowse(m, &session, "frame"));

    let moved = visitor.request(json!({"type": "configure", "server_url": other.url}));
    assert_eq!(moved["type"], "ack", "{moved}");
    let here = visitor.wait_event("ended here", WAIT, |m| is_cobrowse(m, &session, "ended"));
    assert!(here["event"]["reason"].as_str().unwrap_or_default().contains("another server"), "{here}");
    let there = operator.wait_event("ended there", WAIT, |m| is_cobrowse(m, &session, "ended"));
    assert!(there["event"]["reason"].as_str().unwrap_or_default().contains("visitor's Baton moved"), "{there}");
    // Nothing of it is left on the new link.
    let gone = send(&mut visitor, &session, text_change("after"));
    assert_eq!(gone["code"], "cobrowse_not_active", "{gone}");
    let conn = rusqlite::Connection::open(&server.db).expect("server db");
    let state: String = conn
        .query_row("SELECT state FROM cobrowse_session WHERE id = ?1", [&session], |r| r.get(0))
        .expect("session row");
    assert_eq!(state, "ended", "ended at the server it ran on");
}

/// A host that restarted lost its sessions (they live in its memory); the
/// extension asks it to end them, and it does so at the server, so the
/// other side is not left waiting.
#[test]
fn a_restarted_host_ends_a_session_it_lost_at_the_server() {
    let (_dir, server) = server();
    let (mut visitor, mut operator) = hosts(&server);
    let session = start_session(&mut visitor, &mut operator, false);
    let home = visitor.kill();
    let gone = operator
        .wait_event("the visitor gone", WAIT, |m| is_cobrowse(m, &session, "peer") && m["event"]["present"] == false);
    // With when the session ends unless the visitor is back, on this
    // computer's clock; a console opened now learns it too.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let away = COBROWSE_AWAY_TTL_MS;
    let ends_at = gone["event"]["ends_at_ms"].as_i64().unwrap_or_default();
    assert!((now_ms + away - 10_000..=now_ms + away).contains(&ends_at), "{gone}");
    let live = operator.request(json!({"type": "cobrowse_sessions"}));
    assert_eq!(live["sessions"][0]["peer_away_ends_at_ms"], ends_at, "{live}");
    let mut visitor = Host::start_in(home, &server.url, "Visitor laptop");
    visitor.wait_connected();
    assert_eq!(visitor.request(json!({"type": "cobrowse_sessions"}))["sessions"], json!([]));

    // A device with no part in the session cannot end it.
    let end = json!({"type": "cobrowse_end", "session_id": session});
    let mut stranger = Host::start(&server.url, "Stranger");
    stranger.wait_connected();
    let e = stranger.request(end.clone());
    assert_eq!(e["code"], "cobrowse_not_active", "{e}");
    assert!(e["message"].as_str().unwrap_or_default().contains("no part in it"), "{e}");

    let ack = visitor.request(end.clone());
    assert_eq!(ack["type"], "ack", "{ack}");
    let ended = operator.wait_event("ended there", WAIT, |m| is_cobrowse(m, &session, "ended"));
    assert!(ended["event"]["reason"].as_str().unwrap_or_default().contains("visitor"), "{ended}");
    // Ending it again does no harm; a session that never existed is an error.
    let again = visitor.request(end);
    assert_eq!(again["type"], "ack", "{again}");
    let e = stranger.request(json!({"type": "cobrowse_end", "session_id": "no-such-session"}));
    assert_eq!(e["code"], "cobrowse_not_active", "{e}");
    let e = stranger.request(json!({"type": "cobrowse_end", "session_id": "../v1/devices"}));
    assert_eq!(e["code"], "invalid_request", "{e}");
}

#[test]
fn a_sequence_gap_is_reported_as_resumed() {
    let (_dir, server) = server();
    let (mut visitor, mut operator) = hosts(&server);
    let started = visitor.request(json!({"type": "share_start"}));
    let session = started["session_id"].as_str().expect("id").to_owned();
    operator.request(json!({"type": "operator_join", "code": started["code"]}));
    visitor.wait_event("asked", WAIT, |m| is_cobrowse(m, &session, "operator_joined"));
    // The operator's first frame goes before consent: the relay refuses it,
    // so the visitor's first frame from the operator is number 2.
    assert_eq!(send(&mut operator, &session, pointer(1))["type"], "ack");
    let refused = operator.wait_event("refused", WAIT, |m| is_cobrowse(m, &session, "error"));
    assert!(refused["event"]["message"].as_str().unwrap_or_default().contains("not_consented"), "{refused}");
    visitor.request(json!({"type": "share_respond", "session_id": session, "approve": true, "record": false}));
    operator.wait_event("active", WAIT, |m| is_cobrowse(m, &session, "state") && m["event"]["state"] == "active");
    assert_eq!(send(&mut operator, &session, pointer(2))["type"], "ack");
    visitor.wait_event("resumed", WAIT, |m| is_cobrowse(m, &session, "resumed"));
    let got = visitor.wait_event("frame 2", WAIT, |m| is_cobrowse(m, &session, "frame"));
    assert_eq!(got["event"]["seq"], 2);
    // In order again: no further Resumed.
    assert_eq!(send(&mut operator, &session, pointer(3))["type"], "ack");
    let got = visitor.wait_event("frame 3", WAIT, |m| is_cobrowse(m, &session, "frame"));
    assert_eq!(got["event"]["seq"], 3);
    assert!(!visitor.events.iter().any(|m| is_cobrowse(m, &session, "resumed")));
}

#[test]
fn a_server_restart_mid_session_resumes_with_sequence_numbers_continuing() {
    let (_dir, mut server) = server();
    let (mut visitor, mut operator) = hosts(&server);
    let session = start_session(&mut visitor, &mut operator, false);
    for i in 1..=3u64 {
        assert_eq!(send(&mut visitor, &session, text_change(&format!("before {i}")))["type"], "ack");
        let got = operator.wait_event("frame", WAIT, |m| is_cobrowse(m, &session, "frame"));
        assert_eq!(got["event"]["seq"], i);
    }

    server.stop();
    // Acknowledged while the relay is down (it comes back only after these):
    // queued in the host.
    for i in 0..5 {
        assert_eq!(send(&mut visitor, &session, text_change(&format!("while down {i}")))["type"], "ack");
    }
    server.restart();
    operator.wait_event("resumed", Duration::from_secs(20), |m| is_cobrowse(m, &session, "resumed"));
    // Frames flow again, numbered after the ones before the restart.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = 3;
    loop {
        assert_eq!(send(&mut visitor, &session, text_change("after"))["type"], "ack");
        let got = operator.wait_event("frame after restart", WAIT, |m| is_cobrowse(m, &session, "frame"));
        let seq = got["event"]["seq"].as_u64().expect("seq");
        assert!(seq > last, "seq {seq} after {last}");
        last = seq;
        if seq > 8 {
            break;
        }
        assert!(Instant::now() < deadline, "frames never flowed again");
    }
    assert_eq!(send(&mut operator, &session, pointer(9))["type"], "ack");
    visitor.wait_event("operator frame", WAIT, |m| is_cobrowse(m, &session, "frame"));
}

/// Control messages a host wrote to a server that died before reading them
/// are sent again: the visitor approves, and later ends, while the server is
/// frozen, and the server is killed and started again each time. The session
/// still becomes active (the consent in the audit log once) and still ends
/// on both sides.
#[test]
fn consent_and_end_written_to_a_server_that_died_unread_are_sent_again() {
    let (_dir, mut server) = server();
    let (mut visitor, mut operator) = hosts(&server);
    let started = visitor.request(json!({"type": "share_start"}));
    let session = started["session_id"].as_str().expect("session id").to_owned();
    let joined = operator.request(json!({"type": "operator_join", "code": started["code"]}));
    assert_eq!(joined["type"], "operator_joined", "{joined}");
    visitor.wait_event("operator joined", WAIT, |m| is_cobrowse(m, &session, "operator_joined"));

    server.freeze();
    let ack =
        visitor.request(json!({"type": "share_respond", "session_id": session, "approve": true, "record": false}));
    assert_eq!(ack["type"], "ack", "{ack}");
    // Time for the host to write it into the frozen server's connection.
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    for host in [&mut visitor, &mut operator] {
        host.wait_event("state active", Duration::from_secs(20), |m| {
            is_cobrowse(m, &session, "state") && m["event"]["state"] == "active"
        });
    }
    assert_eq!(send(&mut visitor, &session, snapshot("after the restart"))["type"], "ack");
    operator.wait_event("frame", WAIT, |m| is_cobrowse(m, &session, "frame"));

    server.freeze();
    assert_eq!(visitor.request(json!({"type": "cobrowse_end", "session_id": session}))["type"], "ack");
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    let ended = operator.wait_event("ended", Duration::from_secs(20), |m| is_cobrowse(m, &session, "ended"));
    assert!(ended["event"]["reason"].as_str().unwrap_or_default().contains("visitor ended"), "{ended}");

    let conn = rusqlite::Connection::open(&server.db).expect("server db");
    let consents: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM cobrowse_audit WHERE session_id = ?1 AND event LIKE '%\"kind\":\"consent\"%'",
            [&session],
            |r| r.get(0),
        )
        .expect("audit");
    assert_eq!(consents, 1);
}

#[test]
fn guessing_codes_is_rate_limited() {
    let (_dir, server) = server();
    let (mut visitor, mut operator) = hosts(&server);
    let started = visitor.request(json!({"type": "share_start"}));
    assert_eq!(started["type"], "share_started");
    let mut limited = None;
    for i in 0..30 {
        let e = operator.request(json!({"type": "operator_join", "code": format!("GUESS{i}-7KQ2M9")}));
        if e["code"] == "rate_limited" {
            limited = Some(i);
            break;
        }
        assert_eq!(e["code"], "cobrowse_code_invalid", "{e}");
    }
    let limited = limited.expect("never rate-limited");
    assert!(limited <= 10, "rate-limited only after {limited} guesses");
    // Even the right code waits now.
    let e = operator.request(json!({"type": "operator_join", "code": started["code"]}));
    assert_eq!(e["code"], "rate_limited", "{e}");
}

/// Latency is the `cobrowse_latency` benchmark's; this checks that a long run
/// of small frames, each sent only after the last one landed, arrives whole
/// and in order.
#[test]
fn a_thousand_small_frames_cross_one_by_one_in_order() {
    let (_dir, server) = server();
    let (mut visitor, mut operator) = hosts(&server);
    let session = start_session(&mut visitor, &mut operator, false);
    for i in 1..=1000u64 {
        let text = format!("tick {i}");
        assert_eq!(send(&mut visitor, &session, text_change(&text))["type"], "ack");
        let got = operator.wait_event("frame", WAIT, |m| is_cobrowse(m, &session, "frame"));
        assert_eq!(got["event"]["seq"], i);
        assert_eq!(got["event"]["frame"], text_change(&text));
    }
}

#[test]
fn a_several_megabyte_snapshot_crosses_and_small_frames_follow_it() {
    let (_dir, server) = server();
    let (mut visitor, mut operator) = hosts(&server);
    let session = start_session(&mut visitor, &mut operator, false);
    // ~5 MB of text that does not compress to nothing.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let big: String = (0..600_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            format!("{:08x}", seed as u32)
        })
        .collect();
    let started = Instant::now();
    assert_eq!(send(&mut visitor, &session, snapshot(&big))["type"], "ack");
    // The host keeps answering while it seals the snapshot.
    assert_eq!(visitor.request(json!({"type": "ping"}))["type"], "pong");
    assert_eq!(send(&mut visitor, &session, text_change("right after"))["type"], "ack");
    let got = operator.wait_event("big snapshot", WAIT, |m| is_cobrowse(m, &session, "frame"));
    assert_eq!(got["event"]["seq"], 1);
    assert_eq!(got["event"]["frame"]["frame"]["root"]["c"][0]["c"][0]["v"].as_str().map(str::len), Some(big.len()));
    let got = operator.wait_event("small frame", WAIT, |m| is_cobrowse(m, &session, "frame"));
    assert_eq!(got["event"]["seq"], 2);
    eprintln!("5 MB snapshot and the frame after it crossed in {:?}", started.elapsed());
    assert!(!operator.events.iter().any(|m| is_cobrowse(m, &session, "resumed") || is_cobrowse(m, &session, "error")));
}

#[test]
fn a_recording_longer_than_a_page_replays_whole_and_in_order() {
    let (_dir, server) = server();
    let (mut visitor, mut operator) = hosts(&server);
    let session = start_session(&mut visitor, &mut operator, true);
    // More frames than one page of the server's recording holds.
    let count = baton_shared::limits::RECORDING_PAGE_FRAMES as u64 + 150;
    for i in 1..=count {
        assert_eq!(send(&mut visitor, &session, text_change(&format!("tick {i}")))["type"], "ack");
    }
    // The host answers a batch (one page) at a time; `next` asks for the rest.
    let (frames, batches) = replay_whole(&mut operator, &session, count);
    assert!(batches >= 2, "more than a page comes in batches ({batches})");
    assert_eq!(frames.len() as u64, count);
    for (i, f) in frames.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(f["seq"], n);
        assert_eq!(f["frame"], text_change(&format!("tick {n}")));
    }
}

// ---- the test as the operator, to see exactly what crosses the relay ----

/// An operator's SPAKE2 message the visitor can agree with (the test never
/// needs the key, so any password does): the group element, without the
/// side byte.
fn operator_message() -> Vec<u8> {
    use spake2::{Ed25519Group, Identity, Password, Spake2};
    let (_, message) = Spake2::<Ed25519Group>::start_b(
        &Password::new(b"000000"),
        &Identity::new(b"baton cobrowse|shows"),
        &Identity::new(b"baton cobrowse|types"),
    );
    message[1..].to_vec()
}

/// 32 bytes the server takes as a key (it checks only the length) that are
/// no SPAKE2 message: not a point of the group.
fn not_a_message() -> Vec<u8> {
    use spake2::{Ed25519Group, Identity, Password, Spake2};
    (2u8..)
        .map(|first| [&[first][..], &[0u8; 31]].concat())
        .find(|candidate| {
            let (a, _) =
                Spake2::<Ed25519Group>::start_a(&Password::new(b"x"), &Identity::new(b"a"), &Identity::new(b"b"));
            a.finish(&[&[b'B'][..], candidate].concat()).is_err()
        })
        .expect("some 32 bytes are not a point")
}

type RawSocket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

fn raw_relay(server: &Server, session: &str, token: &str) -> RawSocket {
    let url = format!("ws://{}/v1/cobrowse/{session}/relay", server.url.trim_start_matches("http://"));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
    let (socket, _) = tungstenite::connect(request).expect("relay socket");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    }
    socket
}

/// Reads relay messages until `pred` holds, keeping every text seen.
fn read_until(socket: &mut RawSocket, seen: &mut Vec<String>, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "relay never sent what was expected; seen {seen:?}");
        match socket.read() {
            Ok(Message::Text(text)) => {
                seen.push(text.to_string());
                let v: Value = serde_json::from_str(text.as_str()).expect("relay JSON");
                if pred(&v) {
                    return v;
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("relay socket: {e}"),
        }
    }
}

/// A visitor's host shares; the test, as an operator device of its own,
/// joins with `message` as its key-agreement message. Returns the visitor,
/// the session id, the code's secret half and the operator's token.
fn raw_operator_joins(server: &Server, message: &[u8]) -> (Host, String, String, String) {
    let mut visitor = Host::start(&server.url, "Visitor laptop");
    visitor.wait_connected();
    let (status, reg) = http(server, "POST", "/v1/devices", None, &json!({"name": "Raw operator", "kind": "desktop"}));
    assert_eq!(status, 200, "{reg}");
    let token = reg["device_token"].as_str().expect("token").to_owned();
    let started = visitor.request(json!({"type": "share_start"}));
    let session = started["session_id"].as_str().expect("id").to_owned();
    let (lookup, secret) = started["code"].as_str().expect("code").rsplit_once('-').expect("dash");
    let (status, joined) = http(
        server,
        "POST",
        "/v1/cobrowse/join",
        Some(&token),
        &json!({"lookup": lookup, "operator_public_key": B64.encode(message)}),
    );
    assert_eq!(status, 200, "{joined}");
    (visitor, session, secret.to_owned(), token)
}

#[test]
fn the_relay_carries_only_ciphertext_and_bad_frames_are_errors_not_crashes() {
    let (_dir, server) = server();
    let (mut visitor, session, secret, token) = raw_operator_joins(&server, &operator_message());
    let mut socket = raw_relay(&server, &session, &token);
    let mut seen = Vec::new();
    read_until(&mut socket, &mut seen, |m| m["t"] == "hello");
    visitor.wait_event("asked", WAIT, |m| is_cobrowse(m, &session, "operator_joined"));
    visitor.request(json!({"type": "share_respond", "session_id": session, "approve": true, "record": true}));
    read_until(&mut socket, &mut seen, |m| m["t"] == "state" && m["state"] == "active");

    // What the visitor's page says never crosses the relay in the clear.
    assert_eq!(send(&mut visitor, &session, snapshot(PAGE_TEXT))["type"], "ack");
    let frame = read_until(&mut socket, &mut seen, |m| m["t"] == "frame");
    assert_eq!(frame["seq"], 1);
    assert_eq!(frame["from"], "visitor");
    let all = seen.concat();
    assert!(!all.contains("SECRET") && !all.contains("bank.example") && !all.contains(secret.as_str()), "{all}");

    // Frames that do not open, or are not frames, become error events.
    for (seq, ct) in [(1, "%%% not base64".to_owned()), (2, B64.encode([0u8; 40])), (3, B64.encode([1u8; 5]))] {
        let bad = json!({"t": "frame", "seq": seq, "ct": ct}).to_string();
        socket.send(Message::Text(bad.into())).expect("send");
        let e = visitor.wait_event("error event", WAIT, |m| is_cobrowse(m, &session, "error"));
        assert!(e["event"]["message"].as_str().unwrap_or_default().contains("does not open"), "{e}");
    }
    assert!(!visitor.events.iter().any(|m| is_cobrowse(m, &session, "frame")));
    // The visitor's host is fine and keeps sharing.
    assert_eq!(visitor.request(json!({"type": "ping"}))["type"], "pong");
    assert_eq!(send(&mut visitor, &session, text_change(PAGE_TEXT))["type"], "ack");
    let frame = read_until(&mut socket, &mut seen, |m| m["t"] == "frame");
    assert_eq!(frame["seq"], 2);
    assert!(!seen.concat().contains("SECRET"));
}

/// An operator (or a server in between) whose key-agreement message is not
/// one: no frame could ever cross, so the visitor's host ends the session at
/// once, telling both sides why.
#[test]
fn an_unusable_operator_key_ends_the_session_at_once() {
    let (_dir, server) = server();
    let (mut visitor, session, _, token) = raw_operator_joins(&server, &not_a_message());
    let mut socket = raw_relay(&server, &session, &token);
    let mut seen = Vec::new();
    let ended = visitor.wait_event("ended", WAIT, |m| is_cobrowse(m, &session, "ended"));
    assert!(ended["event"]["reason"].as_str().unwrap_or_default().contains("key is not usable"), "{ended}");
    assert!(!visitor.events.iter().any(|m| is_cobrowse(m, &session, "operator_joined")), "nobody was asked");
    let end = read_until(&mut socket, &mut seen, |m| m["t"] == "end");
    assert!(end["reason"].as_str().unwrap_or_default().contains("key is not usable"), "{end}");
}

/// Stored frames are deflated, so a page of the server's can open to far
/// more than it weighs. Frames that open to 1 MB each (a few KB on the
/// wire): the host hands them out in batches under `REPLAY_BATCH_BYTES`,
/// asking the server again for fewer, and the console's cursor walks all
/// of them in order.
#[test]
fn a_recording_that_opens_large_is_replayed_in_smaller_batches() {
    const FRAMES: u64 = 20;
    let (_dir, server) = server();
    let (mut visitor, mut operator) = hosts(&server);
    let session = start_session(&mut visitor, &mut operator, true);
    for n in 0..FRAMES {
        let text = format!("{n:02}{}", "A".repeat(1_000_000));
        assert_eq!(send(&mut visitor, &session, snapshot(&text))["type"], "ack");
        operator.wait_event("frame", WAIT, |m| is_cobrowse(m, &session, "frame") && m["event"]["seq"] == n + 1);
    }
    let (frames, batches) = replay_whole(&mut operator, &session, FRAMES);
    let seen: Vec<(u64, String, usize)> = frames
        .iter()
        .map(|f| {
            let text = f["frame"]["frame"]["root"]["c"][0]["c"][0]["v"].as_str().unwrap_or_default();
            (f["seq"].as_u64().unwrap_or(0), text.chars().take(2).collect(), text.len())
        })
        .collect();
    let expected: Vec<(u64, String, usize)> = (0..FRAMES).map(|n| (n + 1, format!("{n:02}"), 1_000_002)).collect();
    assert_eq!(seen, expected);
    assert!(batches >= 2, "{batches} batch(es): the page was not asked for again, smaller");
}

/// Fetches a whole recording as the console does (each answer's `next` as
/// the following `after`), checking every batch stays under
/// `REPLAY_BATCH_BYTES`: the frames and how many batches it took. Frames
/// are stored off the forwarding path, so it walks again until `count`
/// frames are in.
fn replay_whole(operator: &mut Host, session: &str, count: u64) -> (Vec<Value>, u32) {
    let deadline = Instant::now() + WAIT * 3;
    loop {
        let (mut frames, mut batches, mut after) = (Vec::new(), 0, None::<u64>);
        loop {
            let mut ask = json!({"type": "recording_fetch", "session_id": session});
            if let Some(a) = after {
                ask["after"] = json!(a);
            }
            let r = operator.request(ask);
            assert_eq!(r["type"], "recording", "{}", r["message"]);
            let batch = r["frames"].as_array().cloned().unwrap_or_default();
            let opened: usize = batch.iter().map(|f| f["frame"].to_string().len()).sum();
            assert!(opened <= baton_shared::limits::REPLAY_BATCH_BYTES, "a batch of {opened} bytes");
            batches += 1;
            frames.extend(batch);
            match r["next"].as_u64() {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        if frames.len() as u64 >= count {
            return (frames, batches);
        }
        assert!(Instant::now() < deadline, "recording incomplete: {} frames", frames.len());
        std::thread::sleep(Duration::from_millis(100));
    }
}
