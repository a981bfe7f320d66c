//! Headless Chromium with (optionally) an unpacked extension, driven over
//! the DevTools protocol.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::artifacts;
use crate::cdp::Cdp;
use crate::error::HarnessError;
use crate::logs;
use crate::signal;

/// How long Chromium may take to open its DevTools endpoint (2 cores, cold).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of Chromium's output quoted in errors.
const TAIL_LINES: usize = 40;
/// Complaints about the missing D-Bus in containers; they bury real errors.
const OUTPUT_NOISE: &[&str] = &[":ERROR:dbus/"];

/// Flags that work headless as root in containers, and keep Chromium off
/// the network (only 127.0.0.1 is reachable in tests).
const BASE_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
];

pub struct BrowserOptions {
    /// Unpacked extension to load (and the only one allowed), if any.
    pub extension_dir: Option<PathBuf>,
    /// Extra environment for Chromium and thus for the native host it starts.
    pub env: Vec<(String, String)>,
    /// The profile directory; must exist. Chromium's output is kept in
    /// `chromium-output.log` inside it.
    pub user_data_dir: PathBuf,
}

pub struct Browser {
    child: Child,
    cdp: Cdp,
    log_path: PathBuf,
    user_data_dir: PathBuf,
}

impl Browser {
    pub async fn launch(options: BrowserOptions) -> Result<Browser, HarnessError> {
        let exe = artifacts::chromium_binary()?;
        let profile = options.user_data_dir;
        let log_path = profile.join("chromium-output.log");
        let log =
            File::create(&log_path).map_err(|e| HarnessError::io(format!("creating {}", log_path.display()), e))?;
        let log_for_stdout = log.try_clone().map_err(|e| HarnessError::io("duplicating Chromium's log file", e))?;
        // Chromium writes this file once DevTools listens; a stale one would lie.
        let port_file = profile.join("DevToolsActivePort");
        let _ = std::fs::remove_file(&port_file);

        let mut cmd = Command::new(&exe);
        cmd.args(BASE_FLAGS).arg(format!("--user-data-dir={}", profile.display()));
        if let Some(ext) = &options.extension_dir {
            cmd.arg(format!("--load-extension={}", ext.display()))
                .arg(format!("--disable-extensions-except={}", ext.display()));
        }
        // `BATON_CHROMIUM_FLAGS`: extra flags, for experiments (e.g. `--js-flags=…`).
        if let Ok(extra) = std::env::var("BATON_CHROMIUM_FLAGS") {
            cmd.args(extra.split_whitespace());
        }
        cmd.arg("about:blank")
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_for_stdout))
            .stderr(Stdio::from(log))
            // Own group, so Drop can take the renderers, utilities and the
            // native host along with the browser.
            .process_group(0);
        let child = cmd.spawn().map_err(|e| HarnessError::io(format!("starting {}", exe.display()), e))?;

        let mut starting = Starting { child: Some(child), log_path: log_path.clone() };
        let ws_url = starting.wait_for_devtools(&port_file).await?;
        let cdp = Cdp::connect(&ws_url).await.map_err(|e| HarnessError::Unexpected {
            what: "Chromium".into(),
            detail: format!("{e}\n{}", logs::tail_without(&log_path, TAIL_LINES, OUTPUT_NOISE)),
        })?;
        let child = starting.child.take().ok_or_else(|| HarnessError::Unexpected {
            what: "Chromium launcher".into(),
            detail: "child process lost".into(),
        })?;
        Ok(Browser { child, cdp, log_path, user_data_dir: profile })
    }

    pub fn cdp(&self) -> &Cdp {
        &self.cdp
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn user_data_dir(&self) -> &Path {
        &self.user_data_dir
    }

    /// Chromium's combined stdout/stderr file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last lines Chromium (and the native host's stderr) printed,
    /// without D-Bus noise.
    pub fn output_tail(&self, lines: usize) -> String {
        logs::tail_without(&self.log_path, lines, OUTPUT_NOISE)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// A Chromium that has not opened DevTools yet; killed if launching fails.
struct Starting {
    child: Option<Child>,
    log_path: PathBuf,
}

impl Starting {
    async fn wait_for_devtools(&mut self, port_file: &Path) -> Result<String, HarnessError> {
        let started = Instant::now();
        loop {
            if let Some(url) = read_port_file(port_file) {
                return Ok(url);
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(HarnessError::Exited {
                        what: "Chromium".into(),
                        status: status.to_string(),
                        log_tail: logs::tail_without(&self.log_path, TAIL_LINES, OUTPUT_NOISE),
                    });
                }
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                return Err(HarnessError::Timeout {
                    what: format!("Chromium's DevTools endpoint ({})", port_file.display()),
                    after: STARTUP_TIMEOUT,
                    log_tail: logs::tail_without(&self.log_path, TAIL_LINES, OUTPUT_NOISE),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            kill_group(child);
        }
    }
}

/// `DevToolsActivePort` holds the port, then the browser endpoint's path.
fn read_port_file(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let port: u16 = lines.next()?.trim().parse().ok()?;
    let ws_path = lines.next()?.trim();
    if !ws_path.starts_with("/devtools/browser/") {
        return None;
    }
    Some(format!("ws://127.0.0.1:{port}{ws_path}"))
}

fn kill_group(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        // The leader is gone but its group may live on; try anyway.
        let _ = signal::to_group(child.id(), "KILL");
        return;
    }
    if signal::to_group(child.id(), "KILL").is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
}
