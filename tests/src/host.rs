//! The native host as the browser sees it: its manifest in a profile, and
//! the `baton-host` processes Chromium started for that profile.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use baton_shared::ids::HOST_NAME;
use tokio::process::Command;

use crate::artifacts;
use crate::error::HarnessError;
use crate::signal;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The executable's file name; `/proc/PID/exe` may add " (deleted)" after a rebuild.
const HOST_EXE_NAME: &str = "baton-host";

/// Where `baton-host install --browser chromium` puts the manifest.
pub fn manifest_path(user_data_dir: &Path) -> PathBuf {
    user_data_dir.join("NativeMessagingHosts").join(format!("{HOST_NAME}.json"))
}

/// Runs the real `baton-host install --browser chromium --user-data-dir DIR
/// [--server URL]` with `env` (the profile's XDG directories).
pub async fn install(
    user_data_dir: &Path,
    server_url: Option<&str>,
    env: &[(String, String)],
) -> Result<(), HarnessError> {
    let mut args = vec![
        "install".to_owned(),
        "--browser".to_owned(),
        "chromium".to_owned(),
        "--user-data-dir".to_owned(),
        user_data_dir.display().to_string(),
    ];
    if let Some(url) = server_url {
        args.push("--server".to_owned());
        args.push(url.to_owned());
    }
    run_host_command(&args, env).await?;
    let manifest = manifest_path(user_data_dir);
    if !manifest.is_file() {
        return Err(HarnessError::Unexpected {
            what: "baton-host install".into(),
            detail: format!("succeeded but {} does not exist", manifest.display()),
        });
    }
    Ok(())
}

/// Runs the real `baton-host uninstall --browser chromium --user-data-dir DIR`.
pub async fn uninstall(user_data_dir: &Path, env: &[(String, String)]) -> Result<(), HarnessError> {
    let args = [
        "uninstall".to_owned(),
        "--browser".to_owned(),
        "chromium".to_owned(),
        "--user-data-dir".to_owned(),
        user_data_dir.display().to_string(),
    ];
    run_host_command(&args, env).await?;
    let manifest = manifest_path(user_data_dir);
    if manifest.exists() {
        return Err(HarnessError::Unexpected {
            what: "baton-host uninstall".into(),
            detail: format!("succeeded but {} still exists", manifest.display()),
        });
    }
    Ok(())
}

async fn run_host_command(args: &[String], env: &[(String, String)]) -> Result<(), HarnessError> {
    let exe = artifacts::host_binary()?;
    let command = format!("baton-host {}", args.join(" "));
    let run = Command::new(&exe).args(args).envs(env.iter().map(|(k, v)| (k, v))).kill_on_drop(true).output();
    let out = tokio::time::timeout(COMMAND_TIMEOUT, run)
        .await
        .map_err(|_| HarnessError::Timeout {
            what: format!("`{command}`"),
            after: COMMAND_TIMEOUT,
            log_tail: String::new(),
        })?
        .map_err(|e| HarnessError::io(format!("running `{command}`"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Command {
            command,
            status: out.status.to_string(),
            output: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        })
    }
}

/// Live `baton-host` processes whose environment has
/// `XDG_DATA_HOME=<data_home>`, i.e. the hosts serving one test profile.
/// Zombies are not listed (their environment is gone).
pub fn pids(data_home: &Path) -> Vec<u32> {
    let wanted = format!("XDG_DATA_HOME={}", data_home.display()).into_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| is_host_process(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|var| var == wanted.as_slice()))
                .unwrap_or(false)
        })
        .collect();
    found.sort_unstable();
    found
}

fn is_host_process(pid: u32) -> bool {
    if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
        if let Some(name) = exe.file_name().and_then(OsStr::to_str) {
            return name == HOST_EXE_NAME || name.starts_with(&format!("{HOST_EXE_NAME} "));
        }
    }
    // exe unreadable: fall back to argv[0].
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|cmdline| {
            let argv0 = cmdline.split(|b| *b == 0).next()?.to_vec();
            let argv0 = String::from_utf8(argv0).ok()?;
            Some(Path::new(&argv0).file_name()? == HOST_EXE_NAME)
        })
        .unwrap_or(false)
}

/// SIGKILLs every host of the profile and returns their pids.
pub fn kill(data_home: &Path) -> Result<Vec<u32>, HarnessError> {
    let victims = pids(data_home);
    for pid in &victims {
        if let Err(e) = signal::to_process(*pid, "KILL") {
            // Exiting on its own in the meantime is fine.
            if Path::new(&format!("/proc/{pid}")).exists() {
                return Err(e);
            }
        }
    }
    Ok(victims)
}
