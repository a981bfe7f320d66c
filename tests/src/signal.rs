//! Sending signals through the `kill` utility, which keeps this crate free
//! of `unsafe` and of a direct libc dependency.

use std::process::Command;

use crate::error::HarnessError;

/// Sends `signal` (e.g. "TERM", "KILL") to process `pid`.
pub fn to_process(pid: u32, signal: &str) -> Result<(), HarnessError> {
    run_kill(signal, &pid.to_string())
}

/// Sends `signal` to every process in process group `pgid`.
pub fn to_group(pgid: u32, signal: &str) -> Result<(), HarnessError> {
    run_kill(signal, &format!("-{pgid}"))
}

fn run_kill(signal: &str, target: &str) -> Result<(), HarnessError> {
    let command = format!("kill -{signal} -- {target}");
    let out = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(target)
        .output()
        .map_err(|e| HarnessError::io(format!("running `{command}`"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Command {
            command,
            status: out.status.to_string(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
