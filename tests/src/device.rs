//! One simulated device: its own profile and XDG directories, the host
//! manifest installed into the profile, and Chromium running the extension.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Duration;

use baton_shared::ids::EXTENSION_ID;

use tempfile::TempDir;

use crate::artifacts;
use crate::browser::{Browser, BrowserOptions};
use crate::error::HarnessError;
use crate::host;
use crate::logs;
use crate::popup::{popup_url, Popup};
use crate::server::ServerProcess;

const TAIL_LINES: usize = 40;

pub struct DeviceOptions {
    /// `BATON_DEVICE_NAME`.
    pub name: String,
    /// `BATON_SERVER_URL` (and `--server` for the install).
    pub server_url: String,
    /// Defaults to the built `dist/extension/`.
    pub extension_dir: Option<PathBuf>,
}

impl DeviceOptions {
    pub fn new(name: &str, server_url: &str) -> DeviceOptions {
        DeviceOptions { name: name.to_owned(), server_url: server_url.to_owned(), extension_dir: None }
    }
}

pub struct Device {
    // Dropped before `root`, so Chromium is gone before its profile is deleted.
    browser: Browser,
    name: String,
    server_url: String,
    profile: PathBuf,
    data_home: PathBuf,
    env: Vec<(String, String)>,
    root: TempDir,
}

impl Device {
    /// A visitor's and an operator's device on the same server, started
    /// side by side (each with its own Chromium and host).
    pub async fn start_pair(visitor: &str, operator: &str, server_url: &str) -> Result<(Device, Device), HarnessError> {
        let (visitor, operator) = tokio::join!(
            Device::start(DeviceOptions::new(visitor, server_url)),
            Device::start(DeviceOptions::new(operator, server_url)),
        );
        Ok((visitor?, operator?))
    }

    /// Creates the directories, installs the host manifest with the real
    /// `baton-host install`, and launches Chromium with the extension.
    pub async fn start(options: DeviceOptions) -> Result<Device, HarnessError> {
        let extension_dir = match options.extension_dir {
            Some(dir) => dir,
            None => artifacts::extension_dir()?,
        };
        artifacts::host_binary()?;
        let root = tempfile::Builder::new()
            .prefix("baton-e2e-device-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the device directory", e))?;
        let dir = |name: &str| -> Result<PathBuf, HarnessError> {
            let path = root.path().join(name);
            std::fs::create_dir_all(&path).map_err(|e| HarnessError::io(format!("creating {}", path.display()), e))?;
            Ok(path)
        };
        let profile = dir("profile")?;
        let data_home = dir("data")?;
        let config_home = dir("config")?;
        let cache_home = dir("cache")?;

        let env = vec![
            ("XDG_DATA_HOME".to_owned(), data_home.display().to_string()),
            ("XDG_CONFIG_HOME".to_owned(), config_home.display().to_string()),
            ("XDG_CACHE_HOME".to_owned(), cache_home.display().to_string()),
            ("BATON_SERVER_URL".to_owned(), options.server_url.clone()),
            ("BATON_DEVICE_NAME".to_owned(), options.name.clone()),
        ];
        host::install(&profile, Some(&options.server_url), &env).await?;

        let browser = Browser::launch(BrowserOptions {
            extension_dir: Some(extension_dir),
            env: env.clone(),
            user_data_dir: profile.clone(),
        })
        .await?;
        Ok(Device { browser, name: options.name, server_url: options.server_url, profile, data_home, env, root })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn browser(&self) -> &Browser {
        &self.browser
    }

    pub fn profile_dir(&self) -> &Path {
        &self.profile
    }

    pub fn data_home(&self) -> &Path {
        &self.data_home
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// `$XDG_DATA_HOME/baton/host.sqlite3`
    pub fn host_db_path(&self) -> PathBuf {
        self.data_home.join("baton").join("host.sqlite3")
    }

    /// `$XDG_DATA_HOME/baton/host.log`
    pub fn host_log_path(&self) -> PathBuf {
        self.data_home.join("baton").join("host.log")
    }

    /// Opens `popup.html` in a new tab.
    pub async fn popup(&self) -> Result<Popup, HarnessError> {
        let session = self.browser.cdp().open_page(&popup_url()).await?;
        Ok(Popup::new(session))
    }

    /// Shares "this tab" (the tab used last) from the popup once it is
    /// connected to the host and the server, closes the popup and gives
    /// the code the visitor reads out.
    pub async fn share_from_popup(&self, connect: Duration, share: Duration) -> Result<String, HarnessError> {
        let popup = self.popup().await?;
        popup.wait_until("connected", connect, |s| s.host_is("connected") && s.server_is("connected")).await?;
        let code = popup.share_code(share).await?;
        popup.session().close().await?;
        Ok(code)
    }

    /// Opens the operator console in a new tab.
    pub async fn console(&self) -> Result<crate::cdp::Session, HarnessError> {
        Ok(self.browser.cdp().open_page(&format!("chrome-extension://{EXTENSION_ID}/console.html")).await?)
    }

    pub async fn install_host(&self) -> Result<(), HarnessError> {
        host::install(&self.profile, Some(&self.server_url), &self.env).await
    }

    pub async fn uninstall_host(&self) -> Result<(), HarnessError> {
        host::uninstall(&self.profile, &self.env).await
    }

    /// Pids of the live `baton-host` processes Chromium started for this device.
    pub fn host_pids(&self) -> Vec<u32> {
        host::pids(&self.data_home)
    }

    /// SIGKILLs this device's hosts; returns their pids.
    pub fn kill_host(&self) -> Result<Vec<u32>, HarnessError> {
        host::kill(&self.data_home)
    }
}

/// Set to keep a failed test's device directories (profile, host store,
/// logs) for inspection.
pub const KEEP_ENV: &str = "BATON_E2E_KEEP";

impl Drop for Device {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os(KEEP_ENV).is_some() {
            self.root.disable_cleanup(true);
            eprintln!("kept {} ({KEEP_ENV} is set)", self.root.path().display());
        }
        // Chromium starts hosts in their own process group, so killing the
        // browser's group does not reach them.
        let _ = host::kill(&self.data_home);
    }
}

/// Something that can explain a failure with its logs.
pub trait Diagnose {
    fn diagnostics(&self) -> String;
}

impl Diagnose for Device {
    fn diagnostics(&self) -> String {
        format!(
            "=== device {:?} ({}) ===\nhost pids: {:?}\n--- host log {} ---\n{}\n--- chromium output {} ---\n{}",
            self.name,
            self.root.path().display(),
            self.host_pids(),
            self.host_log_path().display(),
            logs::tail(&self.host_log_path(), TAIL_LINES),
            self.browser.log_path().display(),
            self.browser.output_tail(TAIL_LINES),
        )
    }
}

impl Diagnose for ServerProcess {
    fn diagnostics(&self) -> String {
        format!(
            "=== baton-server {} (running: {}) ===\n--- server log {} ---\n{}",
            self.url(),
            self.is_running(),
            self.log_path().display(),
            self.log_tail(TAIL_LINES),
        )
    }
}

/// `expect` for tests, with the logs of the parts involved in the panic.
pub trait OrReport<T> {
    fn or_report(self, what: &str, parts: &[&dyn Diagnose]) -> T;
}

impl<T, E: Display> OrReport<T> for Result<T, E> {
    #[track_caller]
    fn or_report(self, what: &str, parts: &[&dyn Diagnose]) -> T {
        match self {
            Ok(v) => v,
            Err(e) => {
                let logs: Vec<String> = parts.iter().map(|p| p.diagnostics()).collect();
                panic!("{what}: {e}\n\n{}", logs.join("\n\n"))
            }
        }
    }
}

impl Diagnose for Browser {
    fn diagnostics(&self) -> String {
        format!("--- chromium output {} ---\n{}", self.log_path().display(), self.output_tail(TAIL_LINES))
    }
}
