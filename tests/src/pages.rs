//! Web pages for the browser to load, served over plain HTTP on 127.0.0.1.
//!
//! Content scripts only run on http(s) pages, so tests need a real origin;
//! each server binds its own port and lives as long as the test's runtime.
//! Every response closes its connection, which keeps the server to one read
//! and one write per request.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::error::HarnessError;

/// The head of one request, as far as the first read got it.
pub struct Request {
    /// The request line and headers (and any body that came with them).
    pub head: String,
}

impl Request {
    /// The request target (`/form?x`), or `/` when the request line has none.
    pub fn path(&self) -> &str {
        self.head.split_whitespace().nth(1).unwrap_or("/")
    }
}

/// What one request gets back.
pub struct Reply {
    status: &'static str,
    content_type: Option<&'static str>,
    headers: String,
    body: Vec<u8>,
}

impl Reply {
    /// `200 OK` with an HTML body.
    pub fn html(body: impl Into<String>) -> Reply {
        Reply::ok("text/html", body.into().into_bytes())
    }

    /// `200 OK` with a body of this type (sent with `charset=utf-8`).
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply { status: "200 OK", content_type: Some(content_type), headers: String::new(), body }
    }

    /// `404 Not Found`, empty.
    pub fn not_found() -> Reply {
        Reply { status: "404 Not Found", ..Reply::html("") }
    }

    /// `204 No Content`: no type, no length, no body.
    pub fn no_content() -> Reply {
        Reply { status: "204 No Content", content_type: None, headers: String::new(), body: Vec::new() }
    }

    /// Adds a header (a page's Content-Security-Policy, CORS for a beacon).
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {}\r\n", self.status);
        if let Some(content_type) = self.content_type {
            head.push_str(&format!("Content-Type: {content_type}; charset=utf-8\r\n"));
        }
        head.push_str(&self.headers);
        if self.content_type.is_some() {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Serves every request with `route`'s reply; returns the origin,
/// `http://127.0.0.1:<port>`, without a trailing slash.
pub async fn serve(route: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Result<String, HarnessError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| HarnessError::io("bind the page server", e))?;
    let port = listener.local_addr().map_err(|e| HarnessError::io("the page server's address", e))?.port();
    let route = std::sync::Arc::new(route);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let route = route.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = Request { head: String::from_utf8_lossy(&buf[..n]).into_owned() };
                let _ = stream.write_all(&route(&request).into_bytes()).await;
            });
        }
    });
    Ok(format!("http://127.0.0.1:{port}"))
}

/// Serves one HTML page, with `headers`, at every path.
pub async fn serve_page(html: impl Into<String>, headers: &[(&str, &str)]) -> Result<String, HarnessError> {
    let html: String = html.into();
    let headers: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    serve(move |_| headers.iter().fold(Reply::html(html.clone()), |reply, (n, v)| reply.header(n, v))).await
}

/// A server that answers `204` (open to any origin) and keeps every
/// request's head, so a test can tell who called out to it.
pub async fn beacon() -> Result<(String, Heard), HarnessError> {
    let heard = Heard::default();
    let log = heard.clone();
    let url = serve(move |request| {
        if let Ok(mut requests) = log.0.lock() {
            requests.push(request.head.clone());
        }
        Reply::no_content().header("Access-Control-Allow-Origin", "*")
    })
    .await?;
    Ok((url, heard))
}

/// The request heads a [`beacon`] has heard, in arrival order.
#[derive(Clone, Default)]
pub struct Heard(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Heard {
    pub fn requests(&self) -> Vec<String> {
        self.0.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
