//! Where the host keeps its files. `directories` follows the platform rules,
//! so on Linux `XDG_DATA_HOME` and `XDG_CONFIG_HOME` move them.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct HostPaths {
    /// SQLite store and logs.
    pub data_dir: PathBuf,
    /// Configuration and the vault key.
    pub config_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot determine a home directory for Baton's data (set HOME or XDG_DATA_HOME)")]
pub struct NoHomeDir;

impl HostPaths {
    pub fn from_env() -> Result<Self, NoHomeDir> {
        let dirs = directories::ProjectDirs::from("org", "Baton", "Baton").ok_or(NoHomeDir)?;
        Ok(Self { data_dir: dirs.data_dir().to_path_buf(), config_dir: dirs.config_dir().to_path_buf() })
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("host.sqlite3")
    }

    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("host.log")
    }

    pub fn vault_key(&self) -> PathBuf {
        self.config_dir.join("vault.key")
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.json")
    }
}
