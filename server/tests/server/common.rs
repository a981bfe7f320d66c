//! Starting, talking to and stopping a real `baton-server` process.

use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use baton_shared::api::{DeviceKind, DeviceRegistered, RegisterDevice, PATH_DEVICES};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_baton-server");
const STARTUP: Duration = Duration::from_secs(30);
const PREFIX: &str = "baton-server listening on ";

pub struct Server {
    child: Child,
    pub url: String,
    // Held so the database directory outlives the process.
    _dir: Option<TempDir>,
}

impl Server {
    /// A server on a fresh database.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self::start_at(&dir.path().join("server.sqlite3")).await;
        server._dir = Some(dir);
        server
    }

    /// A server on the given database file (for restarts).
    pub async fn start_at(db: &Path) -> Self {
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        tokio::time::timeout(STARTUP, BufReader::new(stdout).read_line(&mut line))
            .await
            .expect("server did not announce its address in time")
            .unwrap();
        let url = line
            .strip_suffix('\n')
            .and_then(|l| l.strip_prefix(PREFIX))
            .unwrap_or_else(|| panic!("unexpected first stdout line {line:?}"))
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self {
            child,
            url,
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws{}{path}", self.url.trim_start_matches("http"))
    }

    pub async fn register(&self, name: &str) -> DeviceRegistered {
        let body = RegisterDevice {
            name: name.to_owned(),
            kind: DeviceKind::Laptop,
        };
        let response = client()
            .post(self.url(PATH_DEVICES))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(self) -> ExitStatus {
        self.signal("-TERM").await
    }

    /// Sends `signal` (as `kill` spells it, e.g. `-INT`) and waits for the process to exit.
    pub async fn signal(mut self, signal: &str) -> ExitStatus {
        let pid = self.child.id().expect("server already exited");
        let killed = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("server did not exit after the signal")
            .unwrap()
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Runs the binary with `args` to completion (for startup failures).
pub async fn run_to_exit(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::timeout(STARTUP, child.wait_with_output())
        .await
        .expect("server should have exited")
        .unwrap()
}
