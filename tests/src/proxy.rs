//! A TCP proxy in front of `baton-server` that counts the bytes crossing it
//! in each direction: how benchmarks measure what sync puts on the wire
//! (HTTP and WebSocket alike, headers included). Started with
//! [`CountingProxy::start_recording`], it also keeps every byte, for tests
//! that check what never crossed the wire.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::HarnessError;

#[derive(Debug, Default)]
struct Counters {
    to_server: AtomicU64,
    to_client: AtomicU64,
    /// `Some` when recording: the bytes in each direction, concatenated.
    kept: Option<Mutex<Kept>>,
}

#[derive(Debug, Default)]
struct Kept {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

pub struct CountingProxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

/// Bytes seen since the last [`CountingProxy::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    pub to_server: u64,
    pub to_client: u64,
}

impl Traffic {
    pub fn total(&self) -> u64 {
        self.to_server + self.to_client
    }
}

impl CountingProxy {
    pub async fn start(target: SocketAddr) -> Result<CountingProxy, HarnessError> {
        Self::spawn(target, false).await
    }

    /// Like [`CountingProxy::start`], and keeps a copy of every byte
    /// (see [`CountingProxy::recorded`]).
    pub async fn start_recording(target: SocketAddr) -> Result<CountingProxy, HarnessError> {
        Self::spawn(target, true).await
    }

    async fn spawn(target: SocketAddr, keep: bool) -> Result<CountingProxy, HarnessError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| HarnessError::Io { context: "bind the counting proxy".into(), source })?;
        let addr =
            listener.local_addr().map_err(|source| HarnessError::Io { context: "proxy address".into(), source })?;
        let counters = Arc::new(Counters { kept: keep.then(Mutex::default), ..Counters::default() });
        let shared = counters.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counters = shared.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let up = pump(cr, sw, counters.clone(), true);
                    let down = pump(sr, cw, counters, false);
                    let _ = tokio::join!(up, down);
                });
            }
        });
        Ok(CountingProxy { addr, counters, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Returns the traffic counted so far and starts counting from zero.
    pub fn take(&self) -> Traffic {
        Traffic {
            to_server: self.counters.to_server.swap(0, Ordering::SeqCst),
            to_client: self.counters.to_client.swap(0, Ordering::SeqCst),
        }
    }
}

impl CountingProxy {
    /// The bytes kept so far, `(to_server, to_client)`, each direction
    /// concatenated over all connections; empty unless recording.
    pub fn recorded(&self) -> (Vec<u8>, Vec<u8>) {
        match self.counters.kept.as_ref().map(|k| k.lock()) {
            Some(Ok(k)) => (k.to_server.clone(), k.to_client.clone()),
            _ => (Vec::new(), Vec::new()),
        }
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counters: Arc<Counters>,
    upstream: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let counter = if upstream { &counters.to_server } else { &counters.to_client };
        counter.fetch_add(n as u64, Ordering::SeqCst);
        if let Some(Ok(mut kept)) = counters.kept.as_ref().map(|k| k.lock()) {
            let into = if upstream { &mut kept.to_server } else { &mut kept.to_client };
            into.extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
