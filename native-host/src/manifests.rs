//! The native messaging host manifest: which browsers we support, where each
//! one looks for `org.baton.host.json`, and how the manifest is rendered from
//! the templates in `manifest/`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use baton_shared::ids;

const CHROMIUM_TEMPLATE: &str = include_str!("../../manifest/chromium.json.in");
const FIREFOX_TEMPLATE: &str = include_str!("../../manifest/firefox.json.in");

const HOST_PATH_PLACEHOLDER: &str = "@HOST_PATH@";
const EXTENSION_ID_PLACEHOLDER: &str = "@EXTENSION_ID@";

/// The `type` every Baton manifest declares.
pub const HOST_TYPE: &str = "stdio";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Browser {
    Chromium,
    Chrome,
    Edge,
    Brave,
    Firefox,
}

/// Chromium-family browsers share a manifest format; Firefox has its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Chromium,
    Firefox,
}

impl Browser {
    pub const ALL: [Browser; 5] = [Browser::Chromium, Browser::Chrome, Browser::Edge, Browser::Brave, Browser::Firefox];

    /// The spelling used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Chrome => "chrome",
            Browser::Edge => "edge",
            Browser::Brave => "brave",
            Browser::Firefox => "firefox",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Browser::Firefox => Family::Firefox,
            _ => Family::Chromium,
        }
    }

    /// The extension id the manifest must allow in this browser.
    pub fn extension_id(self) -> &'static str {
        match self.family() {
            Family::Chromium => ids::EXTENSION_ID,
            Family::Firefox => ids::FIREFOX_EXTENSION_ID,
        }
    }

    /// The entry the manifest's allow list must contain: an origin for
    /// Chromium (`allowed_origins`), a bare id for Firefox (`allowed_extensions`).
    pub fn allowed_entry(self) -> String {
        match self.family() {
            Family::Chromium => ids::chromium_origin(ids::EXTENSION_ID),
            Family::Firefox => ids::FIREFOX_EXTENSION_ID.to_owned(),
        }
    }

    /// Name of the manifest field that holds the allow list.
    pub fn allow_list_field(self) -> &'static str {
        match self.family() {
            Family::Chromium => "allowed_origins",
            Family::Firefox => "allowed_extensions",
        }
    }

    fn template(self) -> &'static str {
        match self.family() {
            Family::Chromium => CHROMIUM_TEMPLATE,
            Family::Firefox => FIREFOX_TEMPLATE,
        }
    }
}

impl fmt::Display for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which of a browser's manifest directories is meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The current user's default profile location.
    User,
    /// `--user-data-dir DIR`: a Chromium-family profile directory.
    UserDataDir(PathBuf),
    /// Machine-wide, read by every user (needs root to write).
    System,
}

impl Scope {
    pub fn describe(&self) -> String {
        match self {
            Scope::User => "user level".to_owned(),
            Scope::UserDataDir(dir) => format!("user data dir {}", dir.display()),
            Scope::System => "system level".to_owned(),
        }
    }

    /// The command-line flags that select this scope, for printed fix commands.
    pub fn flags(&self) -> String {
        match self {
            Scope::User => String::new(),
            Scope::UserDataDir(dir) => format!(" --user-data-dir {}", shell_quote(&dir.display().to_string())),
            Scope::System => " --system".to_owned(),
        }
    }
}

/// The directories user-level manifest locations are built from.
#[derive(Debug, Clone)]
pub struct UserDirs {
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME` or `~/.config` on Linux; `~/Library/Application Support` on macOS.
    pub config: PathBuf,
}

impl UserDirs {
    pub fn from_env() -> Result<Self, LocationError> {
        let base = directories::BaseDirs::new().ok_or(LocationError::NoHome)?;
        Ok(Self { home: base.home_dir().to_path_buf(), config: base.config_dir().to_path_buf() })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("cannot determine the home directory (set HOME)")]
    NoHome,
    #[error("--user-data-dir applies to Chromium-family browsers only; Firefox reads {0}")]
    UserDataDirForFirefox(String),
    #[cfg_attr(not(windows), allow(dead_code))]
    #[error(
        "on this platform native messaging hosts are registered under the registry key {0}; see manifest/README.md"
    )]
    Registry(String),
    #[error("cannot resolve {path}: {source}")]
    BadUserDataDir { path: String, source: std::io::Error },
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("host path {0:?} is not valid UTF-8; browsers cannot launch it from a JSON manifest")]
    NonUtf8Path(PathBuf),
    #[error("host path {0} is not absolute")]
    RelativePath(PathBuf),
    #[error("manifest template for {browser} is not valid JSON after rendering: {source}")]
    Template { browser: Browser, source: serde_json::Error },
}

/// `org.baton.host.json`.
pub fn manifest_file_name() -> String {
    format!("{}.json", ids::HOST_NAME)
}

/// The directory `browser` searches for host manifests in `scope`.
pub fn manifest_dir(browser: Browser, scope: &Scope, user: &UserDirs) -> Result<PathBuf, LocationError> {
    match scope {
        Scope::UserDataDir(dir) => match browser.family() {
            Family::Chromium => Ok(absolute(dir)?.join("NativeMessagingHosts")),
            Family::Firefox => {
                Err(LocationError::UserDataDirForFirefox(user_dir(browser, user)?.display().to_string()))
            }
        },
        Scope::User => user_dir(browser, user),
        Scope::System => system_dir(browser),
    }
}

/// Full path of the manifest file for `browser` in `scope`.
pub fn manifest_path(browser: Browser, scope: &Scope, user: &UserDirs) -> Result<PathBuf, LocationError> {
    Ok(manifest_dir(browser, scope, user)?.join(manifest_file_name()))
}

fn absolute(dir: &Path) -> Result<PathBuf, LocationError> {
    std::path::absolute(dir).map_err(|source| LocationError::BadUserDataDir { path: dir.display().to_string(), source })
}

#[cfg(not(any(target_os = "macos", windows)))]
fn user_dir(browser: Browser, user: &UserDirs) -> Result<PathBuf, LocationError> {
    let hosts = "NativeMessagingHosts";
    Ok(match browser {
        Browser::Chromium => user.config.join("chromium").join(hosts),
        Browser::Chrome => user.config.join("google-chrome").join(hosts),
        Browser::Edge => user.config.join("microsoft-edge").join(hosts),
        Browser::Brave => user.config.join("BraveSoftware/Brave-Browser").join(hosts),
        // Firefox ignores XDG_CONFIG_HOME here.
        Browser::Firefox => user.home.join(".mozilla/native-messaging-hosts"),
    })
}

#[cfg(not(any(target_os = "macos", windows)))]
fn system_dir(browser: Browser) -> Result<PathBuf, LocationError> {
    Ok(PathBuf::from(match browser {
        Browser::Chromium => "/etc/chromium/native-messaging-hosts",
        Browser::Chrome => "/etc/opt/chrome/native-messaging-hosts",
        Browser::Edge => "/etc/opt/edge/native-messaging-hosts",
        // Brave keeps Chrome's system directory (it has no /etc/opt/brave one).
        Browser::Brave => "/etc/opt/chrome/native-messaging-hosts",
        Browser::Firefox => "/usr/lib/mozilla/native-messaging-hosts",
    }))
}

#[cfg(target_os = "macos")]
fn user_dir(browser: Browser, user: &UserDirs) -> Result<PathBuf, LocationError> {
    // `user.config` is ~/Library/Application Support.
    let hosts = "NativeMessagingHosts";
    Ok(match browser {
        Browser::Chromium => user.config.join("Chromium").join(hosts),
        Browser::Chrome => user.config.join("Google/Chrome").join(hosts),
        Browser::Edge => user.config.join("Microsoft Edge").join(hosts),
        Browser::Brave => user.config.join("BraveSoftware/Brave-Browser").join(hosts),
        Browser::Firefox => user.config.join("Mozilla").join(hosts),
    })
}

#[cfg(target_os = "macos")]
fn system_dir(browser: Browser) -> Result<PathBuf, LocationError> {
    Ok(PathBuf::from(match browser {
        Browser::Chromium => "/Library/Application Support/Chromium/NativeMessagingHosts",
        Browser::Chrome => "/Library/Google/Chrome/NativeMessagingHosts",
        Browser::Edge => "/Library/Microsoft/Edge/NativeMessagingHosts",
        Browser::Brave => "/Library/Google/Chrome/NativeMessagingHosts",
        Browser::Firefox => "/Library/Application Support/Mozilla/NativeMessagingHosts",
    }))
}

/// The registry key under which Windows browsers look for the host: its
/// default value is the manifest's full path. `hive` is `HKCU` or `HKLM`.
pub fn registry_key(browser: Browser, hive: &str) -> String {
    let vendor = match browser {
        Browser::Chromium => "Chromium",
        Browser::Chrome | Browser::Brave => "Google\\Chrome",
        Browser::Edge => "Microsoft\\Edge",
        Browser::Firefox => "Mozilla",
    };
    format!("{hive}\\Software\\{vendor}\\NativeMessagingHosts\\{}", ids::HOST_NAME)
}

/// A `.reg` file registering the manifests for every browser at once
/// (`reg import FILE`): `chromium_manifest` for the Chromium family,
/// `firefox_manifest` for Firefox. `system` picks `HKEY_LOCAL_MACHINE`.
pub fn registry_file(system: bool, chromium_manifest: &str, firefox_manifest: &str) -> String {
    let (hive, long) = if system { ("HKLM", "HKEY_LOCAL_MACHINE") } else { ("HKCU", "HKEY_CURRENT_USER") };
    let mut out = String::from("Windows Registry Editor Version 5.00\r\n");
    let mut seen = Vec::new();
    for browser in Browser::ALL {
        let key = registry_key(browser, hive).replacen(hive, long, 1);
        if seen.contains(&key) {
            continue;
        }
        let manifest = if browser.family() == Family::Firefox { firefox_manifest } else { chromium_manifest };
        let value = manifest.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str(&format!("\r\n[{key}]\r\n@=\"{value}\"\r\n"));
        seen.push(key);
    }
    out
}

#[cfg(windows)]
fn user_dir(browser: Browser, _user: &UserDirs) -> Result<PathBuf, LocationError> {
    Err(LocationError::Registry(registry_key(browser, "HKCU")))
}

#[cfg(windows)]
fn system_dir(browser: Browser) -> Result<PathBuf, LocationError> {
    Err(LocationError::Registry(registry_key(browser, "HKLM")))
}

/// The user-level and system-level directories of `browser`, for detection.
pub fn default_dirs(browser: Browser, user: &UserDirs) -> Vec<(Scope, PathBuf)> {
    [Scope::User, Scope::System]
        .into_iter()
        .filter_map(|scope| manifest_dir(browser, &scope, user).ok().map(|dir| (scope, dir)))
        .collect()
}

/// Renders the manifest for `browser` pointing at `host_path`.
///
/// Values are JSON-escaped before they go into the template, and the result
/// is parsed again so a broken template can never be written out.
pub fn render(browser: Browser, host_path: &Path) -> Result<String, ManifestError> {
    if !host_path.is_absolute() {
        return Err(ManifestError::RelativePath(host_path.to_path_buf()));
    }
    let path = host_path.to_str().ok_or_else(|| ManifestError::NonUtf8Path(host_path.to_path_buf()))?;
    let text = browser
        .template()
        .replace(HOST_PATH_PLACEHOLDER, &json_string_body(path))
        .replace(EXTENSION_ID_PLACEHOLDER, &json_string_body(browser.extension_id()));
    serde_json::from_str::<serde_json::Value>(&text).map_err(|source| ManifestError::Template { browser, source })?;
    Ok(text)
}

/// The inside of a JSON string literal for `s` (escaped, without quotes).
fn json_string_body(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// A manifest as read back from disk. Every field is optional so that a
/// manifest missing one can be reported precisely instead of as a parse error.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HostManifest {
    pub name: Option<String>,
    pub path: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub allowed_extensions: Option<Vec<String>>,
}

impl HostManifest {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The allow list that applies to `browser`.
    pub fn allow_list(&self, browser: Browser) -> Option<&[String]> {
        match browser.family() {
            Family::Chromium => self.allowed_origins.as_deref(),
            Family::Firefox => self.allowed_extensions.as_deref(),
        }
    }
}

/// Single-quotes `s` for a POSIX shell when it contains anything unusual.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    fn dirs() -> UserDirs {
        UserDirs { home: PathBuf::from("/home/u"), config: PathBuf::from("/xdg") }
    }

    #[test]
    fn templates_render_for_every_browser() {
        for browser in Browser::ALL {
            let text = render(browser, Path::new("/opt/baton/baton-host")).unwrap();
            for placeholder in [HOST_PATH_PLACEHOLDER, EXTENSION_ID_PLACEHOLDER] {
                assert!(!text.contains(placeholder), "{browser}: {placeholder} left in {text}");
            }
            let m = HostManifest::parse(&text).unwrap();
            assert_eq!(m.name.as_deref(), Some(ids::HOST_NAME));
            assert_eq!(m.path.as_deref(), Some("/opt/baton/baton-host"));
            assert_eq!(m.kind.as_deref(), Some(HOST_TYPE));
            assert_eq!(m.allow_list(browser), Some(&[browser.allowed_entry()][..]));
        }
    }

    #[test]
    fn paths_are_json_escaped() {
        let odd = Path::new("/tmp/a \"quoted\" \\ dir/baton-host");
        let text = render(Browser::Chrome, odd).unwrap();
        let m = HostManifest::parse(&text).unwrap();
        assert_eq!(m.path.as_deref(), odd.to_str());
    }

    #[test]
    fn relative_host_path_is_refused() {
        assert!(matches!(render(Browser::Chrome, Path::new("baton-host")), Err(ManifestError::RelativePath(_))));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_locations() {
        let user = dirs();
        let dir = |b, s: &Scope| manifest_dir(b, s, &user).unwrap();
        assert_eq!(dir(Browser::Chromium, &Scope::User), Path::new("/xdg/chromium/NativeMessagingHosts"));
        assert_eq!(
            dir(Browser::Brave, &Scope::User),
            Path::new("/xdg/BraveSoftware/Brave-Browser/NativeMessagingHosts")
        );
        assert_eq!(dir(Browser::Firefox, &Scope::User), Path::new("/home/u/.mozilla/native-messaging-hosts"));
        assert_eq!(dir(Browser::Edge, &Scope::System), Path::new("/etc/opt/edge/native-messaging-hosts"));
        let profile = Scope::UserDataDir(PathBuf::from("/p"));
        assert_eq!(dir(Browser::Chrome, &profile), Path::new("/p/NativeMessagingHosts"));
        assert!(matches!(
            manifest_dir(Browser::Firefox, &profile, &user),
            Err(LocationError::UserDataDirForFirefox(_))
        ));
        assert_eq!(
            manifest_path(Browser::Chrome, &profile, &user).unwrap(),
            Path::new("/p/NativeMessagingHosts/org.baton.host.json")
        );
    }

    #[test]
    fn windows_registry_file() {
        let reg =
            registry_file(true, r"C:\Program Files\Baton\org.baton.host.json", r"C:\Program Files\Baton\firefox.json");
        assert!(reg.starts_with("Windows Registry Editor Version 5.00\r\n"));
        assert!(reg.contains(
            "[HKEY_LOCAL_MACHINE\\Software\\Google\\Chrome\\NativeMessagingHosts\\org.baton.host]\r\n@=\"C:\\\\Program Files\\\\Baton\\\\org.baton.host.json\"\r\n"
        ));
        assert!(reg.contains("[HKEY_LOCAL_MACHINE\\Software\\Mozilla\\NativeMessagingHosts\\org.baton.host]\r\n@=\"C:\\\\Program Files\\\\Baton\\\\firefox.json\""));
        // Brave shares Chrome's key: four keys, not five.
        assert_eq!(reg.matches("\r\n[").count(), 4);
        assert!(registry_file(false, "a", "b").contains("[HKEY_CURRENT_USER\\Software\\Chromium\\"));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a/b"), "/a/b");
        assert_eq!(shell_quote("/a b/it's"), "'/a b/it'\\''s'");
    }
}
