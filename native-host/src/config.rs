//! The host's configuration: `config.json` in the config dir, overridden by
//! environment variables. Missing file or fields mean defaults.
//!
//! The server URL, strongest first:
//! 1. the extension's preference (the organisation's managed `serverUrl`,
//!    else the person's own), sent in a `configure` request and remembered
//!    in `extension.json` beside `config.json`, so the next start goes
//!    straight there instead of first registering with another server;
//! 2. `BATON_SERVER_URL`;
//! 3. `server_url` in `config.json`;
//! 4. [`DEFAULT_SERVER_URL`].
//!
//! A `configure` without a URL means "no preference": the file is removed
//! and 2–4 decide again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use baton_shared::ids;

/// Where `baton-server` listens by default (its own default).
pub const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:8917";

pub const ENV_SERVER_URL: &str = "BATON_SERVER_URL";
pub const ENV_DEVICE_NAME: &str = "BATON_DEVICE_NAME";
/// Comma-separated extra extension ids allowed to call the host.
pub const ENV_ALLOWED_IDS: &str = "BATON_ALLOWED_EXTENSION_IDS";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// Extension ids allowed besides Baton's own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_extension_ids: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not valid configuration: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("server URL {0:?} must start with http:// or https://")]
    BadServerUrl(String),
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| ConfigError::Parse { path: path.display().to_string(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read { path: path.display().to_string(), source }),
        }
    }

    /// Write atomically (temp file + rename) so a crash never leaves half a file.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let err = |source| ConfigError::Write { path: path.display().to_string(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).unwrap_or_default();
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// The configuration in force: file values with environment overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server_url: String,
    pub device_name: Option<String>,
    pub allowed_extension_ids: Vec<String>,
}

impl Config {
    pub fn resolve(file: ConfigFile) -> Result<Self, ConfigError> {
        let server_url = std::env::var(ENV_SERVER_URL)
            .ok()
            .filter(|s| !s.is_empty())
            .or(file.server_url)
            .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned());
        let server_url = normalize_server_url(&server_url)?;
        let device_name = std::env::var(ENV_DEVICE_NAME).ok().filter(|s| !s.is_empty()).or(file.device_name);
        let mut allowed_extension_ids = vec![ids::EXTENSION_ID.to_owned(), ids::FIREFOX_EXTENSION_ID.to_owned()];
        allowed_extension_ids.extend(file.extra_extension_ids);
        if let Ok(extra) = std::env::var(ENV_ALLOWED_IDS) {
            allowed_extension_ids.extend(extra.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from));
        }
        Ok(Self { server_url, device_name, allowed_extension_ids })
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::resolve(ConfigFile::load(path)?)
    }
}

/// The extension's remembered preference (`extension.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtensionChoice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
}

/// Where the extension's preference is remembered: beside `config.json`.
pub fn choice_file(config_file: &Path) -> PathBuf {
    config_file.with_file_name("extension.json")
}

impl ExtensionChoice {
    /// The remembered preference; a missing, unreadable or invalid file
    /// means none (the extension sends its preference again on connecting).
    pub fn load(path: &Path) -> Self {
        let file = match ConfigFile::load(path) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!("ignoring the remembered server choice: {e}");
                return Self::default();
            }
        };
        match file.server_url.as_deref().map(normalize_server_url).transpose() {
            Ok(server_url) => Self { server_url },
            Err(e) => {
                tracing::warn!("ignoring the remembered server choice: {e}");
                Self::default()
            }
        }
    }

    /// Writes the preference, or removes the file when there is none.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        match &self.server_url {
            Some(url) => ConfigFile { server_url: Some(url.clone()), ..Default::default() }.save(path),
            None => match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(ConfigError::Write { path: path.display().to_string(), source }),
            },
        }
    }
}

/// The extension's preference as sent in `configure`: `None`, empty or
/// blank mean no preference; anything else must be an http(s) URL.
pub fn preference(server_url: Option<&str>) -> Result<Option<String>, ConfigError> {
    server_url.map(str::trim).filter(|s| !s.is_empty()).map(normalize_server_url).transpose()
}

/// The server to link to: the extension's preference, else the configured one.
pub fn server_for(preference: Option<&str>, configured: &str) -> String {
    preference.unwrap_or(configured).to_owned()
}

/// Checks the scheme and drops a trailing slash so paths can be appended.
pub fn normalize_server_url(url: &str) -> Result<String, ConfigError> {
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() <= "https://".len() {
        return Err(ConfigError::BadServerUrl(url.to_owned()));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert_eq!(normalize_server_url("http://127.0.0.1:1/").unwrap(), "http://127.0.0.1:1");
        assert!(normalize_server_url("ftp://x").is_err());
        assert!(normalize_server_url("http://").is_err());
    }

    #[test]
    fn extension_preference_wins_and_none_means_configured() {
        assert_eq!(preference(None).unwrap(), None);
        assert_eq!(preference(Some("  ")).unwrap(), None);
        assert_eq!(preference(Some(" https://b.example/ ")).unwrap().as_deref(), Some("https://b.example"));
        assert!(matches!(preference(Some("javascript:alert(1)")), Err(ConfigError::BadServerUrl(_))));
        assert!(matches!(preference(Some("b.example")), Err(ConfigError::BadServerUrl(_))));
        assert_eq!(server_for(Some("https://b.example"), "http://a:1"), "https://b.example");
        assert_eq!(server_for(None, "http://a:1"), "http://a:1");
    }

    #[test]
    fn choice_is_remembered_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = choice_file(&dir.path().join("config.json"));
        assert_eq!(path, dir.path().join("extension.json"));
        assert_eq!(ExtensionChoice::load(&path), ExtensionChoice::default());
        let choice = ExtensionChoice { server_url: Some("https://b.example".into()) };
        choice.save(&path).unwrap();
        assert_eq!(ExtensionChoice::load(&path), choice);
        ExtensionChoice::default().save(&path).unwrap();
        assert!(!path.exists());
        ExtensionChoice::default().save(&path).unwrap();
        // A damaged or invalid file is no preference, never a failed start.
        std::fs::write(&path, "{oops").unwrap();
        assert_eq!(ExtensionChoice::load(&path), ExtensionChoice::default());
        std::fs::write(&path, r#"{"server_url":"ftp://x"}"#).unwrap();
        assert_eq!(ExtensionChoice::load(&path), ExtensionChoice::default());
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        assert_eq!(ConfigFile::load(&path).unwrap(), ConfigFile::default());
        let file = ConfigFile { server_url: Some("http://h:1".into()), ..Default::default() };
        file.save(&path).unwrap();
        assert_eq!(ConfigFile::load(&path).unwrap(), file);
        std::fs::write(&path, "{oops").unwrap();
        assert!(matches!(ConfigFile::load(&path), Err(ConfigError::Parse { .. })));
    }
}
