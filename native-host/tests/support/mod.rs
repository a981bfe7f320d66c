//! Real `baton-host` and `baton-server` processes for the continuation
//! tests: a host is driven over pipes as a browser would, with chunked
//! replies reassembled and events kept aside for the test to inspect.

#![allow(dead_code)]

/// The host's scripted stand-in server, shared with its unit tests.
#[path = "../../src/test_server.rs"]
pub mod test_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use baton_shared::chunk::{ChunkFrame, Reassembler};
use serde_json::{json, Value};

pub const ORIGIN: &str = "chrome-extension://iclfinohpipjahhnkmeiddmpdphogdem/";
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Host {
    pub child: Child,
    stdin: Option<ChildStdin>,
    inbox: mpsc::Receiver<Value>,
    /// Unsolicited messages (events, status) seen while waiting for replies.
    pub events: Vec<Value>,
    pub home: tempfile::TempDir,
    next_id: u64,
}

impl Host {
    pub fn start(server_url: &str, name: &str) -> Host {
        Self::start_in(tempfile::tempdir().expect("temp dir"), server_url, name)
    }

    pub fn start_in(home: tempfile::TempDir, server_url: &str, name: &str) -> Host {
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton-host"))
            .arg(ORIGIN)
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("HOME", home.path())
            .env("BATON_SERVER_URL", server_url)
            .env("BATON_DEVICE_NAME", name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn baton-host");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, inbox) = mpsc::channel();
        std::thread::spawn(move || {
            let mut chunks = Reassembler::default();
            loop {
                let mut len = [0u8; 4];
                if stdout.read_exact(&mut len).is_err() {
                    return;
                }
                let len = u32::from_ne_bytes(len) as usize;
                assert!(len <= 1024 * 1024, "frame of {len} bytes exceeds the browser limit");
                let mut body = vec![0u8; len];
                if stdout.read_exact(&mut body).is_err() {
                    return;
                }
                let mut message: Value = serde_json::from_slice(&body).expect("host frames are JSON");
                if message["type"] == "chunk" {
                    let frame: ChunkFrame = serde_json::from_value(message).expect("chunk frame");
                    match chunks.push(frame).expect("valid chunk") {
                        Some(whole) => message = serde_json::from_str(&whole).expect("reassembled JSON"),
                        None => continue,
                    }
                }
                if tx.send(message).is_err() {
                    return;
                }
            }
        });
        Host { child, stdin, inbox, events: Vec::new(), home, next_id: 1 }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home.path().join("data/baton")
    }

    fn send(&mut self, body: &Value) {
        let payload = body.to_string();
        let mut frame = (payload.len() as u32).to_ne_bytes().to_vec();
        frame.extend_from_slice(payload.as_bytes());
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(&frame).expect("write");
        stdin.flush().expect("flush");
    }

    /// Sends a request (an id is added) and waits for its reply.
    pub fn request(&mut self, mut body: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        body["id"] = json!(id);
        self.send(&body);
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self.inbox.recv_timeout(left).unwrap_or_else(|_| panic!("no reply to {} (id {id})", body["type"]));
            if m.get("id") == Some(&json!(id)) {
                return m;
            }
            self.events.push(m);
        }
    }

    /// Asks for the status and returns it.
    pub fn status(&mut self) -> Value {
        self.request(json!({"type": "status"}))
    }

    /// Polls `status` until `pred` holds.
    pub fn wait_status(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = self.status();
            if pred(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; last status {status}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_connected(&mut self) -> String {
        let s = self.wait_status("connected", |s| s["server"]["state"] == "connected");
        s["device"]["id"].as_str().expect("device id").to_owned()
    }

    /// Waits for an event matching `pred`, looking at those already seen first.
    pub fn wait_event(&mut self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.events.iter().position(&pred) {
            return self.events.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self.inbox.recv_timeout(left).unwrap_or_else(|_| panic!("timed out waiting for {what}"));
            if pred(&m) {
                return m;
            }
            self.events.push(m);
        }
    }

    /// `list_devices` until `pred` holds on the device list.
    pub fn wait_devices(&mut self, what: &str, timeout: Duration, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.request(json!({"type": "list_devices"}));
            assert_eq!(reply["type"], "devices", "{reply}");
            let devices = reply["devices"].as_array().cloned().unwrap_or_default();
            if pred(&devices) {
                return devices;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; devices: {devices:?}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.stdin.take());
        std::mem::replace(&mut self.home, tempfile::tempdir().expect("temp dir"))
    }

    pub fn close(mut self) {
        drop(self.stdin.take());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Server {
    child: Child,
    pub url: String,
    pub db: PathBuf,
}

impl Server {
    /// Starts a server on `listen` (`127.0.0.1:0` for any port).
    pub fn start(db: &Path, listen: &str) -> Server {
        Self::start_with(db, listen, &[])
    }

    /// [`Server::start`] with more command-line settings.
    pub fn start_with(db: &Path, listen: &str, args: &[&str]) -> Server {
        let mut child = Command::new(server_binary())
            .args(["--listen", listen, "--db"])
            .arg(db)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn baton-server (build it first: cargo build -p baton-server)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("banner");
        let url = line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected server banner {line:?}");
        Server { child, url, db: db.to_owned() }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server's process without ending it (SIGSTOP): its
    /// connections stay open and take what is written, unread. `stop` and
    /// `restart` kill it.
    pub fn freeze(&self) {
        let status = Command::new("sh").args(["-c", &format!("kill -STOP {}", self.child.id())]).status().expect("sh");
        assert!(status.success(), "could not stop the server's process");
    }

    /// Starts again on the same address and database.
    pub fn restart(&mut self) {
        self.stop();
        let listen = self.url.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        // The port may linger briefly after the kill.
        while TcpListener::bind(&listen).is_err() {
            assert!(Instant::now() < deadline, "port {listen} stays busy");
            std::thread::sleep(Duration::from_millis(50));
        }
        *self = Server::start(&self.db.clone(), &listen);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn server_binary() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_baton-host")).with_file_name("baton-server")
}

/// Pairs `b` into `a`'s account through the real pairing flow.
pub fn pair(a: &mut Host, b: &mut Host) -> String {
    let code = a.request(json!({"type": "pair_start"}));
    assert_eq!(code["type"], "pair_code", "{code}");
    let code = code["code"].as_str().expect("code").to_owned();
    let paired = b.request(json!({"type": "pair_join", "code": code}));
    assert_eq!(paired["type"], "paired", "{paired}");
    paired["account_id"].as_str().expect("account id").to_owned()
}

pub fn window(id: i64, focused: bool) -> Value {
    json!({"id": id, "focused": focused})
}

pub fn tab(id: i64, window_id: i64, index: u32, url: &str, title: &str) -> Value {
    json!({
        "id": id, "window_id": window_id, "index": index, "url": url, "title": title,
        "pinned": false, "active": index == 0, "last_accessed_ms": 1_700_000_000_000i64 + id,
    })
}

pub fn snapshot(windows: Vec<Value>, tabs: Vec<Value>) -> Value {
    json!({"type": "session_snapshot", "windows": windows, "tabs": tabs})
}

/// Every tab URL of one listed device.
pub fn urls(device: &Value) -> Vec<String> {
    device["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|w| w["tabs"].as_array().cloned().unwrap_or_default())
        .map(|t| t["url"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A minimal HTTP/1.1 JSON call (the test has no HTTP client of its own).
pub fn http(server: &Server, method: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let addr = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    let body = body.to_string();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let payload = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    (status, serde_json::from_str(payload).unwrap_or(Value::Null))
}
