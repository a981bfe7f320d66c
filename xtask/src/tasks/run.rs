//! `cargo xtask run`: a release build, a local server in the foreground, the
//! host registered with the local browsers, and — when there is a screen — a
//! Chromium with the extension loaded. Ctrl-C stops it all.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::apt::Apt;
use crate::error::{Error, Result};
use crate::process;
use crate::report::Report;
use crate::signals;
use crate::tasks::build::build;
use crate::ui;
use crate::workspace::{Workspace, EXTENSION_ID};

const READY_PREFIX: &str = "baton-server listening on ";
const STARTUP_LIMIT: Duration = Duration::from_secs(30);
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

pub struct RunOptions {
    /// Passed to `baton-server --listen`; the server's default when None.
    pub listen: Option<String>,
}

pub fn run(ws: &Workspace, apt: &mut Apt, options: &RunOptions) -> Result<()> {
    let mut report = Report::default();
    let built = build(ws, apt, true, &mut report)?;
    report.print("build");

    // From here Ctrl-C means "stop the server cleanly", not "die".
    signals::catch_stop_signals();
    let (mut server, url) = start_server(&built.server, options.listen.as_deref())?;
    ui::step(format!("baton-server is running at {url}"));

    install_host(&built.host, "chromium", &url, None);
    if process::on_path("google-chrome") {
        install_host(&built.host, "chrome", &url, None);
    }

    let browser = match find_chromium() {
        Some(chromium) if has_display() => launch_chromium(ws, &chromium, &built.host, &built.extension, &url),
        Some(_) => {
            print_manual_steps(&built.extension, &url, "no display (DISPLAY and WAYLAND_DISPLAY are unset)");
            None
        }
        None => {
            print_manual_steps(&built.extension, &url, "no Chromium found on PATH");
            None
        }
    };

    let outcome = wait_for_stop(&mut server);
    if let Some(mut browser) = browser {
        signals::terminate(browser.id());
        let _ = browser.wait();
    }
    outcome
}

/// Starts the server, forwards its stdout, and returns once it has announced its URL.
fn start_server(binary: &Path, listen: Option<&str>) -> Result<(Child, String)> {
    let mut cmd = Command::new(binary);
    if let Some(addr) = listen {
        cmd.args(["--listen", addr]);
    }
    ui::step(format!("starting {}", process::describe(&cmd)));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn { program: binary.display().to_string(), source })?;

    let (ready_tx, ready_rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|line| line.ok()) {
                if let Some(url) = line.strip_prefix(READY_PREFIX) {
                    let _ = ready_tx.send(url.trim().to_string());
                }
                println!("{line}");
            }
        });
    }

    let deadline = Instant::now() + STARTUP_LIMIT;
    loop {
        if let Ok(url) = ready_rx.recv_timeout(Duration::from_millis(200)) {
            return Ok((child, url));
        }
        let exited = child.try_wait().map_err(|e| Error::io("waiting for baton-server", e))?;
        if let Some(status) = exited {
            return Err(Error::Setup(format!(
                "baton-server exited during startup ({status}); if the port is taken by another \
                 baton-server, stop that one or pass `--listen 127.0.0.1:PORT`"
            )));
        }
        if signals::stop_requested() || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Setup(if signals::stop_requested() {
                "stopped before baton-server was ready".into()
            } else {
                format!("baton-server did not report `{READY_PREFIX}…` within {} s", STARTUP_LIMIT.as_secs())
            }));
        }
    }
}

/// Registering the host is a convenience here; a failure must not stop the server.
fn install_host(host: &Path, browser: &str, url: &str, user_data_dir: Option<&Path>) {
    let mut cmd = Command::new(host);
    cmd.args(["install", "--browser", browser, "--server", url]);
    if let Some(dir) = user_data_dir {
        cmd.arg("--user-data-dir").arg(dir);
    }
    ui::step(format!("registering the native host: {}", process::describe(&cmd)));
    if let Err(e) = process::run(cmd.stdin(Stdio::null())) {
        ui::warn(format!("{e}; the extension will not reach the host in {browser} until this works"));
    }
}

fn find_chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].into_iter().find_map(process::find_on_path)
}

fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|var| std::env::var_os(var).is_some_and(|value| !value.is_empty()))
}

/// A separate Baton profile, so the developer's own browser profile is untouched.
fn launch_chromium(ws: &Workspace, chromium: &Path, host: &Path, extension: &Path, url: &str) -> Option<Child> {
    let profile = ws.tools().join("profile");
    if let Err(e) = fs::create_dir_all(&profile) {
        ui::warn(format!("cannot create {}: {e}", profile.display()));
        return None;
    }
    // Chromium reads user-level host manifests from the profile it runs with.
    install_host(host, "chromium", url, Some(&profile));

    let mut cmd = Command::new(chromium);
    cmd.arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--load-extension={}", extension.display()))
        .args(["--no-first-run", "--no-default-browser-check"])
        .arg(format!("chrome-extension://{EXTENSION_ID}/popup.html"));
    if signals::is_root() {
        // Chromium refuses to start as root with its sandbox on.
        cmd.arg("--no-sandbox");
    }
    let log_path = ws.tools().join("chromium.log");
    let log = File::create(&log_path).ok();
    cmd.stdin(Stdio::null());
    if let Some(log) = log.as_ref().and_then(|f| f.try_clone().ok()) {
        cmd.stdout(log);
    }
    if let Some(log) = log {
        cmd.stderr(log);
    }
    ui::step(format!("launching {} with the extension (log: {})", chromium.display(), log_path.display()));
    match cmd.spawn() {
        Ok(child) => Some(child),
        Err(e) => {
            ui::warn(format!("could not launch {}: {e}", chromium.display()));
            print_manual_steps(extension, url, "the browser did not start");
            None
        }
    }
}

fn print_manual_steps(extension: &Path, url: &str, why: &str) {
    println!();
    println!("Not launching a browser: {why}. To load Baton yourself:");
    println!("  1. Open chrome://extensions in Chromium, Chrome, Edge or Brave.");
    println!("  2. Switch on \"Developer mode\" (top right).");
    println!("  3. Click \"Load unpacked\" and choose {}", extension.display());
    println!("     (its id is {EXTENSION_ID}).");
    println!();
    println!("baton-server is running at {url}. Press Ctrl-C to stop it.");
}

/// Keeps the server in the foreground until Ctrl-C/SIGTERM or until it exits.
fn wait_for_stop(server: &mut Child) -> Result<()> {
    loop {
        let exited = server.try_wait().map_err(|e| Error::io("waiting for baton-server", e))?;
        match exited {
            // On a terminal, Ctrl-C reaches the server directly too.
            Some(_) if signals::stop_requested() => break,
            Some(status) => {
                return Err(Error::Setup(format!("baton-server exited unexpectedly ({status})")));
            }
            None if signals::stop_requested() => {
                ui::step("stopping baton-server");
                signals::terminate(server.id());
                let deadline = Instant::now() + SHUTDOWN_LIMIT;
                while server.try_wait().ok().flatten().is_none() {
                    if Instant::now() >= deadline {
                        ui::warn("baton-server did not stop in time; killing it");
                        let _ = server.kill();
                        break;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
                break;
            }
            None => thread::sleep(Duration::from_millis(200)),
        }
    }
    let status = server.wait().map_err(|e| Error::io("waiting for baton-server", e))?;
    ui::step(format!("baton-server stopped ({status})"));
    Ok(())
}
