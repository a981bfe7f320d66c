//! The host's configuration: `config.json` in the config dir, overridden by
//! environment variables. Missing file or fields mean defaults.

use std::path::Path;

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
