//! A scripted stand-in for `baton-server` on 127.0.0.1, for tests that need
//! the host to meet one particular behaviour of a server (fault injection a
//! real server cannot produce). Unit tests use it in their runtime
//! ([`start`]); the process tests include this file and run it on its own
//! thread ([`start_on_thread`]).

use std::sync::Arc;

use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{handshake::derive_accept_key, protocol::Role, Message};
use tokio_tungstenite::WebSocketStream;

/// How the server answers one request.
pub enum Reply {
    /// 200 with this JSON body.
    Json(String),
    /// 200 with an HTML body: something that is not a Baton server.
    Html(String),
    NotFound,
    /// 200 with a body of `len` bytes, sent in pieces so that nobody holds it
    /// whole; announced in `content-length`, or only ended by closing.
    Large {
        len: usize,
        announced: bool,
    },
    /// Completes the WebSocket handshake, sends these texts, then stays
    /// silent with the socket open.
    SilentSocket(Vec<String>),
    /// Reads the request and never answers, the connection left open.
    Hang,
}

pub struct TestServer {
    pub url: String,
    /// Each request's method and path (`"GET /v1/status"`), in order.
    pub requests: mpsc::UnboundedReceiver<String>,
}

/// Serves on a free port until the test's runtime ends.
pub async fn start(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (seen, requests) = mpsc::unbounded_channel();
    let route = Arc::new(route);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (route, seen) = (route.clone(), seen.clone());
            tokio::spawn(async move {
                let mut stream = stream;
                let Some((head, ws_key)) = read_request(&mut stream).await else { return };
                let _ = seen.send(head.clone());
                answer(stream, route(&head), ws_key).await;
            });
        }
    });
    TestServer { url, requests }
}

/// [`start`] on a thread of its own, for tests without a runtime; serves
/// until the test process ends.
pub fn start_on_thread(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> TestServer {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let _ = url_tx.send(start(route).await);
            std::future::pending::<()>().await
        })
    });
    url_rx.recv().expect("test server started")
}

/// A 200's head; without a length the body ends when the connection closes.
fn ok_head(content_type: &str, length: Option<usize>) -> String {
    let length = length.map(|n| format!("content-length: {n}\r\n")).unwrap_or_default();
    format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n{length}connection: close\r\n\r\n")
}

async fn answer(mut stream: TcpStream, reply: Reply, ws_key: Option<String>) {
    match reply {
        Reply::Json(body) => {
            let head = ok_head("application/json", Some(body.len()));
            let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
        }
        Reply::Html(body) => {
            let head = ok_head("text/html", Some(body.len()));
            let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
        }
        Reply::NotFound => {
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        }
        Reply::Large { len, announced } => {
            let head = ok_head("application/json", announced.then_some(len));
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let piece = [b' '; 64 * 1024];
            let mut sent = 0;
            while sent < len {
                let n = piece.len().min(len - sent);
                // A host that hangs up ends it.
                if stream.write_all(&piece[..n]).await.is_err() {
                    return;
                }
                sent += n;
            }
        }
        Reply::SilentSocket(texts) => {
            let accept = derive_accept_key(ws_key.unwrap_or_default().as_bytes());
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut socket = WebSocketStream::from_raw_socket(stream, Role::Server, None).await;
            for text in texts {
                let _ = socket.send(Message::Text(text.into())).await;
            }
            std::future::pending::<()>().await;
        }
        Reply::Hang => std::future::pending::<()>().await,
    }
}

/// Reads one request's head and `content-length` body: its method and path,
/// and its `sec-websocket-key` if it asks for a WebSocket.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Option<String>)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    };
    let body_len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body_read = raw.len() - head_end;
    while body_read < body_len {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => body_read += n,
        }
    }
    // "GET /v1/status HTTP/1.1" → "GET /v1/status"
    let request_line = head.lines().next()?;
    let method_and_path = request_line.rsplit_once(' ')?.0.to_owned();
    Some((method_and_path, header("sec-websocket-key")))
}
