//! A real `baton-server` on 127.0.0.1 with its own SQLite file.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use crate::artifacts;
use crate::error::HarnessError;
use crate::logs;
use crate::signal;

/// The line the server prints on stdout once it listens.
const READY_PREFIX: &str = "baton-server listening on ";
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `start_on` keeps retrying while the old socket is released.
const REBIND_TIMEOUT: Duration = Duration::from_secs(10);
const TAIL_LINES: usize = 40;

pub struct ServerProcess {
    child: Option<Child>,
    addr: SocketAddr,
    url: String,
    db_path: PathBuf,
    log_path: PathBuf,
    /// Extra command-line arguments, kept for restarts.
    args: Vec<String>,
}

impl ServerProcess {
    /// Starts a server on a free port, storing into `db_path`. Its stderr
    /// goes to `<db_path>.log` (appended across restarts).
    pub async fn start(db_path: impl Into<PathBuf>) -> Result<ServerProcess, HarnessError> {
        Self::start_with(db_path, &[]).await
    }

    /// [`ServerProcess::start`] with extra arguments (e.g. a hidden limit
    /// set low for a test); restarts keep them.
    pub async fn start_with(db_path: impl Into<PathBuf>, args: &[&str]) -> Result<ServerProcess, HarnessError> {
        let any_port: SocketAddr = ([127, 0, 0, 1], 0).into();
        let args = args.iter().map(|a| a.to_string()).collect();
        Self::spawn_once(any_port, db_path.into(), args).await
    }

    /// Starts a server on exactly `addr`, where a stopped one listened;
    /// retries for a while in case the port is still being released.
    async fn start_on(addr: SocketAddr, db_path: PathBuf, args: Vec<String>) -> Result<ServerProcess, HarnessError> {
        let started = Instant::now();
        loop {
            match Self::spawn_once(addr, db_path.clone(), args.clone()).await {
                Ok(server) => return Ok(server),
                Err(HarnessError::Exited { .. }) if started.elapsed() < REBIND_TIMEOUT => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn spawn_once(addr: SocketAddr, db_path: PathBuf, args: Vec<String>) -> Result<ServerProcess, HarnessError> {
        let exe = artifacts::server_binary()?;
        let log_path = log_path_for(&db_path);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| HarnessError::io(format!("opening {}", log_path.display()), e))?;
        let mut child = Command::new(&exe)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--db")
            .arg(&db_path)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HarnessError::io(format!("starting {}", exe.display()), e))?;

        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| HarnessError::Unexpected { what: "baton-server".into(), detail: "no stdout pipe".into() })?;
        let url = match tokio::time::timeout(READY_TIMEOUT, read_ready_line(stdout)).await {
            Ok(Ok(url)) => url,
            Ok(Err(detail)) => {
                let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                let status = match status {
                    Ok(Ok(s)) => s.to_string(),
                    _ => {
                        let _ = child.start_kill();
                        format!("killed after: {detail}")
                    }
                };
                return Err(HarnessError::Exited {
                    what: format!("baton-server on {addr}"),
                    status,
                    log_tail: logs::tail(&log_path, TAIL_LINES),
                });
            }
            Err(_) => {
                let _ = child.start_kill();
                return Err(HarnessError::Timeout {
                    what: format!("baton-server's `{READY_PREFIX}…` line"),
                    after: READY_TIMEOUT,
                    log_tail: logs::tail(&log_path, TAIL_LINES),
                });
            }
        };
        let bound = url
            .strip_prefix("http://")
            .and_then(|rest| rest.trim_end_matches('/').parse::<SocketAddr>().ok())
            .ok_or_else(|| HarnessError::Unexpected {
                what: "baton-server".into(),
                detail: format!("ready line names no 127.0.0.1 address: {url}"),
            })?;
        Ok(ServerProcess { child: Some(child), addr: bound, url, db_path, log_path, args })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Stops the server with SIGTERM and returns its exit status (the
    /// contract is exit 0). Kills it if it does not exit in time.
    pub async fn stop(&mut self) -> Result<ExitStatus, HarnessError> {
        let Some(mut child) = self.child.take() else {
            return Err(HarnessError::Unexpected {
                what: "baton-server".into(),
                detail: "stop() on a server that is not running".into(),
            });
        };
        if let Some(pid) = child.id() {
            signal::to_process(pid, "TERM")?;
        }
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(e)) => Err(HarnessError::io("waiting for baton-server", e)),
            Err(_) => {
                let _ = child.start_kill();
                Err(HarnessError::Timeout {
                    what: "baton-server to exit after SIGTERM".into(),
                    after: STOP_TIMEOUT,
                    log_tail: logs::tail(&self.log_path, TAIL_LINES),
                })
            }
        }
    }

    /// Stops the server if it runs, then starts it again on the same
    /// address with the same database.
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        if self.child.is_some() {
            self.stop().await?;
        }
        let fresh = Self::start_on(self.addr, self.db_path.clone(), self.args.clone()).await?;
        *self = fresh;
        Ok(())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        logs::tail(&self.log_path, lines)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
            // Reap it here, so neither a zombie nor its socket outlives the fixture.
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    _ => break,
                }
            }
        }
    }
}

fn log_path_for(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".log");
    PathBuf::from(name)
}

/// Reads stdout up to the ready line and returns its URL; the rest of
/// stdout is drained in the background so the server never blocks on it.
async fn read_ready_line(stdout: ChildStdout) -> Result<String, String> {
    let mut reader = BufReader::new(stdout);
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line).await {
            Ok(0) => return Err(format!("stdout closed; it printed {seen:?}")),
            Ok(_) => {}
            Err(e) => return Err(format!("reading stdout: {e}")),
        }
        let line = line.trim_end().to_owned();
        if let Some(url) = line.strip_prefix(READY_PREFIX) {
            let url = url.trim().to_owned();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
            });
            return Ok(url);
        }
        seen.push(line);
    }
}
