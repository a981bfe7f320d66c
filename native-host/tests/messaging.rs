//! The native messaging contract, exercised on the real `baton-host` binary
//! over pipes, the way a browser drives it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use baton_shared::limits::{MAX_FRAME_FROM_BROWSER, MAX_HTTP_BODY, MAX_HTTP_REPLY, MAX_STATUS_BODY};
use serde_json::{json, Value};
use support::test_server::{start_on_thread, Reply};
use support::{Server, ORIGIN};

mod support;

struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    home: tempfile::TempDir,
}

impl Host {
    fn start(server_url: &str, origin: &str) -> Host {
        Self::start_in(tempfile::tempdir().expect("temp dir"), server_url, origin)
    }

    /// Starts a host whose data and config live under `home`.
    fn start_in(home: tempfile::TempDir, server_url: &str, origin: &str) -> Host {
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton-host"))
            .arg(origin)
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("HOME", home.path())
            .env("BATON_SERVER_URL", server_url)
            .env("BATON_DEVICE_NAME", "Test Device")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn baton-host");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        Host { child, stdin, stdout, home }
    }

    fn data_dir(&self) -> PathBuf {
        self.home.path().join("data/baton")
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write");
        stdin.flush().expect("flush");
    }

    fn send(&mut self, payload: &[u8]) {
        let mut frame = (payload.len() as u32).to_ne_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.send_raw(&frame);
    }

    fn recv(&mut self) -> Value {
        let mut len = [0u8; 4];
        self.stdout.read_exact(&mut len).expect("frame header");
        let len = u32::from_ne_bytes(len) as usize;
        assert!(len <= 1024 * 1024, "frame of {len} bytes exceeds the browser limit");
        let mut body = vec![0u8; len];
        self.stdout.read_exact(&mut body).expect("frame body");
        serde_json::from_slice(&body).expect("host frames are JSON")
    }

    /// The next error frame, skipping unsolicited status events.
    fn next_error(&mut self) -> Value {
        loop {
            let m = self.recv();
            if m["type"] == "error" {
                return m;
            }
            assert_eq!(m["type"], "status", "unexpected message {m}");
        }
    }

    /// The reply with this id, skipping unsolicited status events.
    fn reply(&mut self, id: &Value) -> Value {
        loop {
            let m = self.recv();
            if m.get("id") == Some(id) {
                return m;
            }
            assert_eq!(m["type"], "status", "unexpected message {m}");
        }
    }

    fn request(&mut self, body: Value) -> Value {
        self.send(body.to_string().as_bytes());
        self.reply(&body["id"])
    }

    /// Polls `status` until `pred` holds.
    fn wait_status(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        for id in 1000.. {
            let status = self.request(json!({"type": "status", "id": id}));
            if pred(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; last status {status}");
            std::thread::sleep(Duration::from_millis(100));
        }
        unreachable!()
    }

    /// Closes stdin and waits (bounded) for the exit, as a browser would.
    fn close_and_wait(&mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        let started = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "host did not exit after stdin closed");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        (status, stderr)
    }
}

fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn ping_pong_and_clean_exit() {
    let mut host = Host::start(&closed_port_url(), ORIGIN);
    let pong = host.request(json!({"type": "ping", "id": 1}));
    assert_eq!(pong, json!({"type": "pong", "id": 1, "version": env!("CARGO_PKG_VERSION")}));
    assert_eq!(host.request(json!({"type": "ping", "id": "abc"}))["id"], "abc");
    let (status, stderr) = host.close_and_wait();
    assert!(status.success(), "exit {status:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn malformed_frames_get_typed_errors_and_the_host_carries_on() {
    let mut host = Host::start(&closed_port_url(), ORIGIN);
    let cases: &[(&[u8], &str)] = &[
        (b"\xff\xfe{}", "invalid_utf8"),
        (b"{not json", "invalid_json"),
        (b"[1,2]", "not_an_object"),
        (br#"{"id":5}"#, "missing_type"),
        (br#"{"type":"ping"}"#, "missing_id"),
        (br#"{"type":"open_the_pod_bay_doors","id":6}"#, "unknown_type"),
    ];
    for (payload, code) in cases {
        host.send(payload);
        let err = host.next_error();
        assert_eq!(err["code"], *code, "for {:?}: {err}", String::from_utf8_lossy(payload));
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // The id is echoed whenever it could be read.
    host.send(br#"{"type":"nope","id":77}"#);
    assert_eq!(host.reply(&json!(77))["code"], "unknown_type");

    // An oversized frame is skipped whole; the stream stays in sync.
    host.send(&vec![b' '; MAX_FRAME_FROM_BROWSER + 1]);
    assert_eq!(host.next_error()["code"], "frame_too_large");
    assert_eq!(host.request(json!({"type": "ping", "id": 2}))["type"], "pong");
    let (status, stderr) = host.close_and_wait();
    assert!(status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn truncated_frame_exits_with_a_message() {
    let mut host = Host::start(&closed_port_url(), ORIGIN);
    assert_eq!(host.request(json!({"type": "ping", "id": 1}))["type"], "pong");
    // The header promises 100 bytes; only 10 arrive before the pipe closes.
    host.send_raw(&100u32.to_ne_bytes());
    host.send_raw(b"{\"type\":\"p");
    let (status, stderr) = host.close_and_wait();
    assert!(!status.success());
    assert!(stderr.contains("expected 100 bytes, got 10"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_callers_are_refused_before_any_state_is_touched() {
    for origin in ["chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/", "https://evil.example/", "/tmp/x.json"] {
        let mut host = Host::start(&closed_port_url(), origin);
        let err = host.recv();
        assert_eq!(err["type"], "error");
        assert_eq!(err["code"], "forbidden_origin", "{err}");
        let (status, stderr) = host.close_and_wait();
        assert!(!status.success());
        assert!(stderr.contains("not an allowed Baton extension"), "{stderr}");
        assert!(!host.data_dir().join("host.sqlite3").exists());
        assert!(!host.home.path().join("config/baton/vault.key").exists());
    }
}

#[test]
fn a_server_that_is_down_is_reported() {
    let url = closed_port_url();
    let mut host = Host::start(&url, ORIGIN);
    let status = host.wait_status("unreachable", |s| s["server"]["state"] == "unreachable");
    assert_eq!(status["server"]["url"], url.as_str());
    assert_eq!(status["server"]["error_code"], "server_unreachable");
    assert!(status["server"]["error"].as_str().unwrap_or("").contains("refused"), "{status}");
    assert!(status["device"].is_null());
    assert!(host.close_and_wait().0.success());
}

/// Fault injection: something that is not a Baton server answers on the port.
#[test]
fn a_server_that_answers_garbage_is_reported() {
    let url = start_on_thread(|_| Reply::Html("<html>hello from a printer</html>".into())).url;
    let mut host = Host::start(&url, ORIGIN);
    let status = host.wait_status("garbage", |s| s["server"]["error_code"] == "server_garbage");
    assert_eq!(status["server"]["state"], "unreachable");
    assert!(status["server"]["error"].as_str().unwrap_or("").contains("not a Baton server"), "{status}");
    assert!(host.close_and_wait().0.success());
}

fn status_ok() -> Reply {
    Reply::Json(r#"{"service":"baton-server","version":"9.9.9"}"#.into())
}

fn registered() -> Reply {
    Reply::Json(r#"{"account_id":"acct-1","device_id":"dev-1","device_token":"tok-1"}"#.into())
}

/// Fault injection: a status answer larger than any status reply is
/// refused once it passes the limit, and the host carries on.
#[test]
fn an_oversized_status_answer_is_garbage() {
    let url = start_on_thread(|_| Reply::Large { len: 4 * MAX_STATUS_BODY, announced: false }).url;
    refused_as_too_large(&url, MAX_STATUS_BODY);
}

/// A host of the server at `url` reports its answer over `limit` as
/// garbage, registers nothing and carries on.
fn refused_as_too_large(url: &str, limit: usize) {
    let mut host = Host::start(url, ORIGIN);
    let status = host.wait_status("garbage", |s| s["server"]["error_code"] == "server_garbage");
    let error = status["server"]["error"].as_str().unwrap_or("");
    assert!(error.contains(&format!("larger than {limit} bytes")), "{status}");
    assert!(status["device"].is_null(), "{status}");
    assert_eq!(host.request(json!({"type": "ping", "id": 1}))["type"], "pong");
    assert!(host.close_and_wait().0.success());
}

/// A registration answer announced larger than the protocol allows is
/// refused without reading it.
#[test]
fn an_oversized_registration_answer_is_garbage() {
    let url = start_on_thread(|head| match head {
        "GET /v1/status" => status_ok(),
        _ => Reply::Large { len: MAX_HTTP_BODY + 1, announced: true },
    })
    .url;
    refused_as_too_large(&url, MAX_HTTP_BODY);
}

/// An API answer that goes on past the limit fails the request as garbage.
#[test]
fn an_oversized_api_answer_is_garbage() {
    let url = start_on_thread(|head| match head {
        "GET /v1/status" => status_ok(),
        "POST /v1/devices" => registered(),
        "GET /v1/push" => Reply::NotFound,
        _ => Reply::Large { len: MAX_HTTP_REPLY + 64 * 1024, announced: false },
    })
    .url;
    let mut host = Host::start(&url, ORIGIN);
    host.wait_status("registered", |s| s["device"]["id"] == "dev-1");
    let reply = host.request(json!({"type": "sync_now", "id": 1}));
    assert_eq!(reply["code"], "server_garbage", "{reply}");
    assert!(
        reply["message"].as_str().unwrap_or("").contains(&format!("larger than {MAX_HTTP_REPLY} bytes")),
        "{reply}"
    );
    assert_eq!(host.request(json!({"type": "ping", "id": 2}))["type"], "pong");
    assert!(host.close_and_wait().0.success());
}

#[test]
fn registers_with_a_real_server_and_keeps_the_token_sealed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("server.sqlite3"), "127.0.0.1:0");
    let mut host = Host::start(&server.url, ORIGIN);
    let status = host.wait_status("connected", |s| s["server"]["state"] == "connected");
    let device_id = status["device"]["id"].as_str().expect("device id").to_owned();
    assert_eq!(status["device"]["name"], "Test Device");
    assert!(host.close_and_wait().0.success());

    let db = rusqlite::Connection::open(host.data_dir().join("host.sqlite3")).expect("host db");
    let (id, name, sealed): (String, String, Vec<u8>) = db
        .query_row("SELECT id, name, token_sealed FROM device", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("device row");
    assert_eq!((id.as_str(), name.as_str()), (device_id.as_str(), "Test Device"));
    assert!(sealed.len() > 28, "the token is sealed (nonce + ciphertext + tag)");
    // The plain token (64 hex digits) appears in none of the host's files.
    let mut everything = Vec::new();
    for dir in [host.data_dir(), host.home.path().join("config/baton")] {
        for entry in std::fs::read_dir(dir).expect("dir").flatten() {
            everything.extend(std::fs::read(entry.path()).unwrap_or_default());
        }
    }
    let text = String::from_utf8_lossy(&everything);
    let tokens = text.split(|c: char| !c.is_ascii_hexdigit()).filter(|w| w.len() == 64).count();
    assert_eq!(tokens, 0, "a 64-hex-digit token appears in the host's files");
}

#[test]
fn a_killed_host_comes_back_with_its_registration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("server.sqlite3"), "127.0.0.1:0");
    let mut host = Host::start(&server.url, ORIGIN);
    let first = host.wait_status("connected", |s| s["server"]["state"] == "connected");
    // SIGKILL, as a crashing browser would leave it.
    host.child.kill().expect("kill");
    let _ = host.child.wait();
    let mut again = Host::start_in(host.home, &server.url, ORIGIN);
    let second = again.wait_status("connected", |s| s["server"]["state"] == "connected");
    assert_eq!(first["device"]["id"], second["device"]["id"]);
    assert!(again.close_and_wait().0.success());
}
