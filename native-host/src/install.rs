//! `install` and `uninstall`: write or remove the host manifest for one
//! browser, and optionally record the server URL in config.json.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{self, ConfigError, ConfigFile};
use crate::manifests::{self, Browser, LocationError, ManifestError, Scope, UserDirs};
use crate::paths::NoHomeDir;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    NoHome(#[from] NoHomeDir),
    #[error("cannot find this program's own path: {0}")]
    CurrentExe(std::io::Error),
    #[error("permission denied writing {path}: run as root (sudo baton-host {command}) or drop --system to {command} for this user only")]
    SystemPermission { path: String, command: &'static str },
    #[error("permission denied writing {path}")]
    Permission { path: String },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("cannot remove {path}: {source}")]
    Remove { path: String, source: std::io::Error },
}

/// What `install` did.
#[derive(Debug)]
pub struct Installed {
    pub manifest: PathBuf,
    pub host_path: PathBuf,
    /// The server URL saved to config.json, when `--server` was given.
    pub server_url: Option<(String, PathBuf)>,
}

/// What `uninstall` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Uninstalled {
    Removed(PathBuf),
    NothingToRemove(PathBuf),
}

/// The running executable, absolute and with symlinks resolved, which is
/// what the browser must launch.
pub fn current_host_path() -> Result<PathBuf, InstallError> {
    std::env::current_exe().and_then(|p| p.canonicalize()).map_err(InstallError::CurrentExe)
}

/// Writes the manifest for `browser` in `scope` pointing at `host_path`.
/// A bad `server` URL is refused before anything is written.
pub fn install(
    browser: Browser,
    scope: &Scope,
    server: Option<&str>,
    host_path: &Path,
    user: &UserDirs,
    config_file: &Path,
) -> Result<Installed, InstallError> {
    let server_url = server.map(config::normalize_server_url).transpose()?;
    let manifest = manifests::manifest_path(browser, scope, user)?;
    let text = manifests::render(browser, host_path)?;
    write_atomically(&manifest, text.as_bytes()).map_err(|source| write_error(&manifest, scope, "install", source))?;

    let server_url = match server_url {
        Some(url) => {
            let mut file = ConfigFile::load(config_file)?;
            file.server_url = Some(url.clone());
            file.save(config_file)?;
            Some((url, config_file.to_path_buf()))
        }
        None => None,
    };
    Ok(Installed { manifest, host_path: host_path.to_path_buf(), server_url })
}

/// Removes the manifest for `browser` in `scope`; absent is not an error.
pub fn uninstall(browser: Browser, scope: &Scope, user: &UserDirs) -> Result<Uninstalled, InstallError> {
    let manifest = manifests::manifest_path(browser, scope, user)?;
    match std::fs::remove_file(&manifest) {
        Ok(()) => Ok(Uninstalled::Removed(manifest)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Uninstalled::NothingToRemove(manifest)),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && *scope == Scope::System => {
            Err(InstallError::SystemPermission { path: manifest.display().to_string(), command: "uninstall" })
        }
        Err(source) => Err(InstallError::Remove { path: manifest.display().to_string(), source }),
    }
}

fn write_error(path: &Path, scope: &Scope, command: &'static str, source: std::io::Error) -> InstallError {
    let path = path.display().to_string();
    match (source.kind(), scope) {
        (std::io::ErrorKind::PermissionDenied, Scope::System) => InstallError::SystemPermission { path, command },
        (std::io::ErrorKind::PermissionDenied, _) => InstallError::Permission { path },
        _ => InstallError::Write { path, source },
    }
}

/// Temp file in the same directory, then rename: the browser never sees a
/// half-written manifest. Mode 0644 because the browser may run as another
/// user for system-level installs.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        set_readable_by_all(&tmp)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: do not leave the temp file behind.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn set_readable_by_all(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_readable_by_all(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, UserDirs, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let user = UserDirs { home: tmp.path().join("home"), config: tmp.path().join("xdg") };
        let config = tmp.path().join("cfg/config.json");
        (tmp, user, config)
    }

    #[test]
    fn install_then_uninstall() {
        let (tmp, user, config) = setup();
        let scope = Scope::UserDataDir(tmp.path().join("profile"));
        let done = install(Browser::Chromium, &scope, None, Path::new("/bin/true"), &user, &config).unwrap();
        assert!(done.manifest.starts_with(tmp.path().join("profile/NativeMessagingHosts")));
        assert!(!config.exists(), "no --server, no config written");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&done.manifest).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        let leftovers = std::fs::read_dir(done.manifest.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "temp file left behind");
        assert_eq!(uninstall(Browser::Chromium, &scope, &user).unwrap(), Uninstalled::Removed(done.manifest.clone()));
        assert_eq!(uninstall(Browser::Chromium, &scope, &user).unwrap(), Uninstalled::NothingToRemove(done.manifest));
    }

    #[test]
    fn server_url_is_validated_before_writing() {
        let (_tmp, user, config) = setup();
        let err = install(Browser::Firefox, &Scope::User, Some("ftp://x"), Path::new("/bin/true"), &user, &config);
        assert!(matches!(err, Err(InstallError::Config(ConfigError::BadServerUrl(_)))));
        assert!(!user.home.exists());
        let done = install(Browser::Firefox, &Scope::User, Some("http://h:1/"), Path::new("/bin/true"), &user, &config)
            .unwrap();
        assert_eq!(done.server_url.map(|s| s.0).as_deref(), Some("http://h:1"));
        assert_eq!(ConfigFile::load(&config).unwrap().server_url.as_deref(), Some("http://h:1"));
    }

    #[cfg(unix)]
    #[test]
    fn unwritable_directory_is_a_permission_error() {
        use std::os::unix::fs::PermissionsExt;
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let system = write_error(Path::new("/etc/x"), &Scope::System, "install", denied);
        assert!(system.to_string().contains("run as root"), "{system}");
        let (tmp, user, config) = setup();
        let profile = tmp.path().join("ro");
        std::fs::create_dir_all(profile.join("NativeMessagingHosts")).unwrap();
        std::fs::set_permissions(profile.join("NativeMessagingHosts"), std::fs::Permissions::from_mode(0o555)).unwrap();
        // Root ignores directory modes; nothing to test then.
        if std::fs::write(profile.join("NativeMessagingHosts/probe"), b"").is_ok() {
            return;
        }
        let scope = Scope::UserDataDir(profile);
        let err = install(Browser::Chrome, &scope, None, Path::new("/bin/true"), &user, &config).unwrap_err();
        assert!(matches!(err, InstallError::Permission { .. }), "{err}");
    }
}
