//! Starting, talking to and stopping a real `baton-server` process.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use baton_shared::api::{DeviceKind, DeviceRegistered, PushMessage, RegisterDevice, PATH_DEVICES, PATH_PUSH};
use baton_shared::sync::{
    PairingClaim, PairingClaimed, PairingComplete, PairingOffer, PairingOffered, PairingProof, PATH_PAIRING,
    PATH_PAIRING_CLAIM, PATH_PAIRING_OFFER,
};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const BIN: &str = env!("CARGO_BIN_EXE_baton-server");
const STARTUP: Duration = Duration::from_secs(30);
const PREFIX: &str = "baton-server listening on ";

pub struct Server {
    child: Child,
    pub url: String,
    /// What [`Server::restart`] starts again with.
    db: PathBuf,
    args: Vec<String>,
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

    /// A server on a fresh database with extra command-line arguments.
    pub async fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self::spawn(&dir.path().join("server.sqlite3"), args).await;
        server._dir = Some(dir);
        server
    }

    /// The database file of a server from [`Server::start`].
    pub fn db_path(&self) -> std::path::PathBuf {
        self._dir.as_ref().unwrap().path().join("server.sqlite3")
    }

    /// A server on the given database file (for restarts).
    pub async fn start_at(db: &Path) -> Self {
        Self::spawn(db, &[]).await
    }

    /// Stops the server (SIGTERM) and starts it again on the same database
    /// with the same arguments.
    pub async fn restart(mut self) -> Self {
        let dir = self._dir.take();
        let (db, args) = (self.db.clone(), self.args.clone());
        assert!(self.terminate().await.success());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = Self::spawn(&db, &args).await;
        server._dir = dir;
        server
    }

    async fn spawn(db: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(args)
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
        Self { child, url, db: db.to_owned(), args: args.iter().map(|a| (*a).to_owned()).collect(), _dir: None }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws{}{path}", self.url.trim_start_matches("http"))
    }

    pub async fn register(&self, name: &str) -> DeviceRegistered {
        let body = RegisterDevice { name: name.to_owned(), kind: DeviceKind::Laptop };
        let response = client().post(self.url(PATH_DEVICES)).json(&body).send().await.unwrap();
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
        let killed = std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
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
    tokio::time::timeout(STARTUP, child.wait_with_output()).await.expect("server should have exited").unwrap()
}

/// A registered device and how to call the API as it.
#[derive(Clone)]
pub struct Device {
    pub id: String,
    pub account_id: String,
    pub token: String,
}

impl Device {
    pub async fn register(server: &Server, name: &str) -> Self {
        let r = server.register(name).await;
        Self { id: r.device_id, account_id: r.account_id, token: r.device_token }
    }

    pub async fn post<B: Serialize>(&self, server: &Server, path: &str, body: &B) -> reqwest::Response {
        client().post(server.url(path)).bearer_auth(&self.token).json(body).send().await.unwrap()
    }

    pub async fn get(&self, server: &Server, path: &str) -> reqwest::Response {
        client().get(server.url(path)).bearer_auth(&self.token).send().await.unwrap()
    }

    /// Opens the push socket and reads past its `Hello`.
    pub async fn socket(&self, server: &Server) -> Socket {
        let mut request = server.ws_url(PATH_PUSH).into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {}", self.token).parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert!(matches!(next_push(&mut socket).await, PushMessage::Hello { .. }));
        socket
    }
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The next push message, skipping pings; panics after `PUSH_WAIT`.
pub async fn next_push(socket: &mut Socket) -> PushMessage {
    next_push_within(socket, PUSH_WAIT).await.expect("no push message in time")
}

pub async fn next_push_within(socket: &mut Socket, wait: Duration) -> Option<PushMessage> {
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

pub const PUSH_WAIT: Duration = Duration::from_secs(5);

/// Parses a JSON answer after checking its status.
pub async fn json<T: DeserializeOwned>(response: reqwest::Response, status: u16) -> T {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A base64 32-byte key-agreement message (the server only checks its shape).
pub fn public_key(fill: u8) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([fill; 32])
}

/// Joins `claimer` to `offerer`'s account through the pairing routes.
pub async fn pair(server: &Server, offerer: &Device, claimer: &mut Device) {
    let offered: PairingOffered =
        json(offerer.post(server, PATH_PAIRING_OFFER, &PairingOffer { public_key: public_key(1) }).await, 200).await;
    let claim = PairingClaim { lookup: offered.lookup, public_key: public_key(2) };
    let _: PairingClaimed = json(claimer.post(server, PATH_PAIRING_CLAIM, &claim).await, 200).await;
    let proof = PairingProof { proof: public_key(9) };
    let path = format!("{PATH_PAIRING}/{}/proof", offered.pairing_id);
    assert_eq!(claimer.post(server, &path, &proof).await.status(), 204);
    let complete = PairingComplete { wrapped_account_key: "d3JhcHBlZA==".into() };
    let path = format!("{PATH_PAIRING}/{}/complete", offered.pairing_id);
    let response = offerer.post(server, &path, &complete).await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    claimer.account_id = offerer.account_id.clone();
}

/// Joins with `lookup`, saying the request was forwarded for `forwarded_for`.
pub async fn join_forwarded(
    server: &Server,
    operator: &Device,
    lookup: &str,
    forwarded_for: &str,
) -> reqwest::Response {
    let body = baton_shared::cobrowse::JoinSession { lookup: lookup.to_owned(), operator_public_key: public_key(8) };
    client()
        .post(server.url(baton_shared::cobrowse::PATH_JOIN))
        .bearer_auth(&operator.token)
        .header("x-forwarded-for", forwarded_for)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Sends `requests` all at once (released together behind a barrier);
/// their statuses, in order.
pub async fn all_at_once<F>(requests: Vec<F>) -> Vec<u16>
where
    F: std::future::Future<Output = reqwest::Response> + Send + 'static,
{
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let start = std::sync::Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                request.await.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::with_capacity(tasks.len());
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

/// Of concurrent wrong guesses: exactly `limit` judged (404), the rest refused (429).
pub fn assert_only_the_limit_judged(statuses: &[u16], limit: u32) {
    let judged = statuses.iter().filter(|&&s| s == 404).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    let limit = limit as usize;
    assert_eq!((judged, limited), (limit, statuses.len() - limit), "{statuses:?}");
}
