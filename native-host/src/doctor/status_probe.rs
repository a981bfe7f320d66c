//! `GET <server>/v1/status` over plain HTTP/1.1 on a blocking `TcpStream`, so
//! `doctor` needs no async runtime. Only what a status check needs: one
//! request, `Connection: close`, a body read to the end (plain or chunked).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use baton_shared::api::{ServerInfo, PATH_STATUS, SERVICE_NAME};
use baton_shared::limits::MAX_STATUS_BODY;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("only http:// URLs can be checked here")]
    NotHttp,
    #[error("{0:?} is not a valid http:// URL")]
    BadUrl(String),
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: std::io::Error },
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("connection to {addr} failed: {source}")]
    Io { addr: String, source: std::io::Error },
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    #[error("HTTP status {0} from {1}")]
    Status(u16, String),
    #[error("response is not a Baton status reply ({0})")]
    NotStatus(String),
    #[error("something else answers there: service is {0:?}, not {SERVICE_NAME:?}")]
    WrongService(String),
}

/// The pieces of an `http://host[:port][/base]` URL.
#[derive(Debug, PartialEq, Eq)]
struct HttpUrl {
    host: String,
    port: u16,
    base_path: String,
}

fn parse_url(url: &str) -> Result<HttpUrl, ProbeError> {
    let rest = url.strip_prefix("http://").ok_or(ProbeError::NotHttp)?;
    let bad = || ProbeError::BadUrl(url.to_owned());
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') || path.contains(['?', '#']) {
        return Err(bad());
    }
    // `[::1]:8917` or `host:8917` or `host`.
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => 80,
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(HttpUrl { host: host.to_owned(), port, base_path: path.trim_end_matches('/').to_owned() })
}

/// Fetches and checks the server's status within `timeout` overall.
pub fn probe(server_url: &str, timeout: Duration) -> Result<ServerInfo, ProbeError> {
    let url = parse_url(server_url)?;
    let deadline = Instant::now() + timeout;
    let display = format!("{}:{}", url.host, url.port);
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|source| ProbeError::Resolve { host: url.host.clone(), source })?
        .collect();
    let mut stream = connect(&addrs, &display, timeout)?;
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            ProbeError::Timeout { addr: display.clone(), timeout }
        }
        _ => ProbeError::Io { addr: display.clone(), source },
    };
    let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    stream.set_write_timeout(Some(remaining)).map_err(io)?;
    let host_header = if url.host.contains(':') { format!("[{}]", url.host) } else { url.host.clone() };
    let request = format!(
        "GET {}{PATH_STATUS} HTTP/1.1\r\nHost: {host_header}:{}\r\nAccept: application/json\r\n\
         User-Agent: baton-host/{}\r\nConnection: close\r\n\r\n",
        url.base_path,
        url.port,
        env!("CARGO_PKG_VERSION"),
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    // Read with the remaining time as each read's timeout, so a server that
    // trickles bytes cannot stretch the overall limit.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ProbeError::Timeout { addr: display, timeout });
        }
        stream.set_read_timeout(Some(remaining)).map_err(io)?;
        match stream.read(&mut buf).map_err(io)? {
            0 => break,
            n => raw.extend_from_slice(&buf[..n]),
        }
        // Headers included: they are a few hundred bytes of it.
        if raw.len() > MAX_STATUS_BODY {
            return Err(ProbeError::Malformed("response too large"));
        }
    }
    let (status, body) = parse_response(&raw)?;
    if status != 200 {
        return Err(ProbeError::Status(status, display));
    }
    let info: ServerInfo = serde_json::from_slice(&body).map_err(|e| ProbeError::NotStatus(e.to_string()))?;
    if info.service != SERVICE_NAME {
        return Err(ProbeError::WrongService(info.service));
    }
    Ok(info)
}

fn connect(addrs: &[SocketAddr], display: &str, timeout: Duration) -> Result<TcpStream, ProbeError> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(ProbeError::Timeout { addr: display.to_owned(), timeout })
            }
            Err(e) => last = e,
        }
    }
    Err(ProbeError::Connect { addr: display.to_owned(), source: last })
}

/// Splits a full response into its status code and (de-chunked) body.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), ProbeError> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or(ProbeError::Malformed("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| ProbeError::Malformed("headers are not UTF-8"))?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(ProbeError::Malformed("not an HTTP/1.x status line"));
    }
    let status = parts.next().and_then(|s| s.parse().ok()).ok_or(ProbeError::Malformed("bad status code"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| ProbeError::Malformed("bad Content-Length"))?);
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        body.get(..n).ok_or(ProbeError::Malformed("body shorter than Content-Length"))?.to_vec()
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, ProbeError> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").ok_or(ProbeError::Malformed("truncated chunk"))?;
        let size_text = std::str::from_utf8(&data[..eol]).map_err(|_| ProbeError::Malformed("bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| ProbeError::Malformed("bad chunk size"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or(ProbeError::Malformed("truncated chunk"))?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or(ProbeError::Malformed("truncated chunk"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8917").unwrap();
        assert_eq!(u, HttpUrl { host: "127.0.0.1".into(), port: 8917, base_path: String::new() });
        let u = parse_url("http://[::1]/baton/").unwrap();
        assert_eq!(u, HttpUrl { host: "::1".into(), port: 80, base_path: "/baton".into() });
        assert!(matches!(parse_url("https://x"), Err(ProbeError::NotHttp)));
        assert!(matches!(parse_url("http://x:port"), Err(ProbeError::BadUrl(_))));
        assert!(matches!(parse_url("http://:1"), Err(ProbeError::BadUrl(_))));
    }

    #[test]
    fn responses() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}xx";
        assert_eq!(parse_response(plain).unwrap(), (200, b"{}".to_vec()));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (200, b"abcde".to_vec()));
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }

    fn serve_once(reply: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(reply.as_bytes());
            }
        });
        url
    }

    #[test]
    fn probes_a_server() {
        let url = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 44\r\n\r\n{\"service\":\"baton-server\",\"version\":\"0.1.0\"}",
        );
        assert_eq!(probe(&url, Duration::from_secs(3)).unwrap().version, "0.1.0");
        let url = serve_once("HTTP/1.1 200 OK\r\n\r\n{\"service\":\"other\",\"version\":\"1\"}");
        assert!(matches!(probe(&url, Duration::from_secs(3)), Err(ProbeError::WrongService(_))));
        let url = serve_once("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(probe(&url, Duration::from_secs(3)), Err(ProbeError::Status(404, _))));
    }

    #[test]
    fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let started = Instant::now();
        let err = probe(&url, Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, ProbeError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
    }
}
