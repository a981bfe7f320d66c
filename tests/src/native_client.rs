//! A `baton-host` driven directly over native messaging pipes, the way a
//! browser drives it: for tests and benchmarks of host ↔ server behaviour
//! that need no browser (many changes, thousands of tabs, kill -9).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

use baton_shared::chunk::Reassembler;
use baton_shared::ids;
use baton_shared::native::HostMessage;

use crate::artifacts;
use crate::error::HarnessError;

const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

pub struct NativeHost {
    child: Child,
    stdin: Option<ChildStdin>,
    waiters: Waiters,
    events: mpsc::UnboundedReceiver<Value>,
    next_id: u64,
    home: PathBuf,
}

impl NativeHost {
    /// Starts a host whose data and config live under `home` (reused across
    /// restarts of the same device), talking to `server_url`.
    pub async fn start(home: &Path, server_url: &str, device_name: &str) -> Result<NativeHost, HarnessError> {
        let binary = artifacts::host_binary()?;
        std::fs::create_dir_all(home)
            .map_err(|source| HarnessError::Io { context: format!("create {}", home.display()), source })?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("host-stderr.log"))
            .map_err(|source| HarnessError::Io { context: "open the host's stderr log".into(), source })?;
        let mut child = Command::new(binary)
            .arg(ids::chromium_origin(ids::EXTENSION_ID))
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("BATON_SERVER_URL", server_url)
            .env("BATON_DEVICE_NAME", device_name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| HarnessError::Io { context: "spawn baton-host".into(), source })?;
        let stdin = child.stdin.take();
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| HarnessError::Unexpected { what: "baton-host".into(), detail: "no stdout".into() })?;
        let waiters: Waiters = Arc::default();
        let (events_tx, events) = mpsc::unbounded_channel();
        let route = waiters.clone();
        tokio::spawn(async move {
            let mut reassembler = Reassembler::default();
            loop {
                let mut len = [0u8; 4];
                if stdout.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
                if stdout.read_exact(&mut body).await.is_err() {
                    return;
                }
                let Ok(mut message) = serde_json::from_slice::<Value>(&body) else { return };
                if message["type"] == "chunk" {
                    let Ok(HostMessage::Chunk(frame)) = serde_json::from_value(message) else { return };
                    match reassembler.push(frame) {
                        Ok(Some(text)) => match serde_json::from_str(&text) {
                            Ok(whole) => message = whole,
                            Err(_) => return,
                        },
                        Ok(None) => continue,
                        Err(_) => return,
                    }
                }
                let waiter = message["id"].as_u64().and_then(|id| route.lock().ok()?.remove(&id));
                match waiter {
                    Some(w) => {
                        let _ = w.send(message);
                    }
                    None => {
                        let _ = events_tx.send(message);
                    }
                }
            }
        });
        Ok(NativeHost { child, stdin, waiters, events, next_id: 0, home: home.to_path_buf() })
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home.join("data/baton")
    }

    /// Sends `body` with a fresh id and waits for the reply (of any type,
    /// including `error`).
    pub async fn request(&mut self, mut body: Value) -> Result<Value, HarnessError> {
        self.next_id += 1;
        let id = self.next_id;
        body["id"] = json!(id);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(id, tx);
        }
        self.send_raw(body.to_string().as_bytes()).await?;
        let what = format!("reply to {}", body["type"]);
        match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => {
                Err(HarnessError::Exited { what, status: "host output closed".into(), log_tail: self.log_tail() })
            }
            Err(_) => Err(HarnessError::Timeout { what, after: REPLY_TIMEOUT, log_tail: self.log_tail() }),
        }
    }

    /// Like [`request`](Self::request) but an `error` reply is an `Err`.
    pub async fn call(&mut self, body: Value) -> Result<Value, HarnessError> {
        let kind = body["type"].clone();
        let reply = self.request(body).await?;
        if reply["type"] == "error" {
            return Err(HarnessError::Unexpected { what: format!("{kind} request"), detail: reply.to_string() });
        }
        Ok(reply)
    }

    async fn send_raw(&mut self, payload: &[u8]) -> Result<(), HarnessError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| HarnessError::Unexpected { what: "baton-host".into(), detail: "stdin closed".into() })?;
        let mut frame = (payload.len() as u32).to_ne_bytes().to_vec();
        frame.extend_from_slice(payload);
        stdin
            .write_all(&frame)
            .await
            .map_err(|source| HarnessError::Io { context: "write to baton-host".into(), source })?;
        stdin.flush().await.map_err(|source| HarnessError::Io { context: "flush baton-host".into(), source })
    }

    /// The next event (message without a request id) that satisfies `pred`;
    /// events that do not are dropped.
    pub async fn wait_event(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value, HarnessError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) if pred(&event) => return Ok(event),
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(HarnessError::Exited {
                        what: format!("baton-host while waiting for {what}"),
                        status: "output closed".into(),
                        log_tail: self.log_tail(),
                    })
                }
                Err(_) => {
                    return Err(HarnessError::Timeout {
                        what: what.to_owned(),
                        after: timeout,
                        log_tail: self.log_tail(),
                    })
                }
            }
        }
    }

    /// Drops every event received so far.
    pub fn drain_events(&mut self) {
        while self.events.try_recv().is_ok() {}
    }

    /// Polls `status` until `pred` holds.
    pub async fn wait_status(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value, HarnessError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.call(json!({"type": "status"})).await?;
            if pred(&status) {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("{what} (last status {status})"),
                    after: timeout,
                    log_tail: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, as a crashing browser would leave it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Closes stdin (the browser going away) and waits for a clean exit.
    pub async fn close(mut self) -> Result<std::process::ExitStatus, HarnessError> {
        drop(self.stdin.take());
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(source)) => Err(HarnessError::Io { context: "wait for baton-host".into(), source }),
            Err(_) => Err(HarnessError::Timeout {
                what: "baton-host to exit after stdin closed".into(),
                after: Duration::from_secs(10),
                log_tail: self.log_tail(),
            }),
        }
    }

    pub fn log_tail(&self) -> String {
        crate::logs::tail(&self.home.join("host-stderr.log"), 30)
    }
}
