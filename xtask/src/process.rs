//! Running external programs with errors that name the command.

use std::io::{self, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// `program arg arg …`, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

fn spawn_error(cmd: &Command, source: io::Error) -> Error {
    Error::Spawn { program: cmd.get_program().to_string_lossy().into_owned(), source }
}

fn check(cmd: &Command, status: ExitStatus) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        Err(Error::Failed { command: describe(cmd), status })
    }
}

/// Runs with inherited stdio; fails on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().map_err(|e| spawn_error(cmd, e))?;
    check(cmd, status)
}

/// Runs quietly and returns stdout; fails on a non-zero exit.
pub fn capture(cmd: &mut Command) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::null()).output().map_err(|e| spawn_error(cmd, e))?;
    check(cmd, out.status)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs quietly and returns stdout whatever the exit status (some tools,
/// like `dpkg-query`, report partial answers with a failing status).
pub fn capture_any(cmd: &mut Command) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::null()).output().map_err(|e| spawn_error(cmd, e))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs with inherited stdio and kills the program when it outlives `limit`.
pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Result<()> {
    let mut child = cmd.stdin(Stdio::null()).spawn().map_err(|e| spawn_error(cmd, e))?;
    let deadline = Instant::now() + limit;
    loop {
        let polled = child.try_wait().map_err(|e| Error::io("waiting for a child process", e))?;
        if let Some(status) = polled {
            return check(cmd, status);
        }
        if Instant::now() >= deadline {
            // Already exited or already gone are both fine here.
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::TimedOut { command: describe(cmd), secs: limit.as_secs() });
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs with stderr both shown and collected, so the caller can tell a
/// missing toolchain from an ordinary compile error.
pub fn run_teeing_stderr(cmd: &mut Command) -> Result<(ExitStatus, String)> {
    let mut child = cmd.stdin(Stdio::null()).stderr(Stdio::piped()).spawn().map_err(|e| spawn_error(cmd, e))?;
    let mut collected = Vec::new();
    if let Some(mut pipe) = child.stderr.take() {
        let mut buf = [0u8; 8192];
        let mut shown = io::stderr();
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("reading cargo's output", e)),
            };
            // A closed terminal must not abort the build.
            let _ = shown.write_all(&buf[..n]);
            collected.extend_from_slice(&buf[..n]);
        }
    }
    let status = child.wait().map_err(|e| Error::io("waiting for cargo", e))?;
    Ok((status, String::from_utf8_lossy(&collected).into_owned()))
}

/// Runs with stderr collected but not shown (stdout inherited).
pub fn run_collecting_stderr(cmd: &mut Command) -> Result<(ExitStatus, String)> {
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| spawn_error(cmd, e))?;
    Ok((out.status, String::from_utf8_lossy(&out.stderr).into_owned()))
}

/// True when `program` can be started from PATH (or is an existing path).
pub fn on_path(program: &str) -> bool {
    find_on_path(program).is_some()
}

pub fn find_on_path(program: &str) -> Option<std::path::PathBuf> {
    let direct = std::path::Path::new(program);
    if direct.components().count() > 1 {
        return direct.is_file().then(|| direct.to_path_buf());
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).map(|dir| dir.join(program)).find(|p| p.is_file())
}
