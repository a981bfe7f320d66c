//! `baton-host join-org CODE`: this device's account accepts an invitation
//! into an organisation, the code its admin made. Runs beside a host the
//! browser started: it only reads the store and the vault, and makes one
//! call as this device, to the server the host uses.

use std::time::Duration;

use baton_shared::api::{AcceptInvite, OrgJoined, PATH_ORG_JOIN};

use crate::config::{self, Config, ConfigError, ExtensionChoice};
use crate::paths::{HostPaths, NoHomeDir};
use crate::server_api::{CallError, ServerApi};
use crate::server_link::{self, LinkError};
use crate::store::{Store, StoreError};
use crate::vault::{Vault, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum JoinOrgError {
    #[error(transparent)]
    NoHome(#[from] NoHomeDir),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("this device is not registered with {0} yet: open Baton in the browser once, then try again")]
    NotRegistered(String),
    #[error("cannot read this device's data: {0}")]
    Store(#[from] StoreError),
    #[error("cannot open this device's keys: {0}")]
    Vault(#[from] VaultError),
    #[error("{0}")]
    Token(#[from] LinkError),
    #[error("cannot start: {0}")]
    Runtime(String),
    #[error("{0}")]
    Server(#[from] CallError),
}

/// The organisation joined, and the role in it.
pub fn join(code: &str) -> Result<(String, OrgJoined), JoinOrgError> {
    let paths = HostPaths::from_env()?;
    let config = Config::load(&paths.config_file())?;
    let chosen = ExtensionChoice::load(&config::choice_file(&paths.config_file())).server_url;
    let server = config::server_for(chosen.as_deref(), &config.server_url);
    // No store yet means no registration: do not create one here.
    if !paths.database().exists() {
        return Err(JoinOrgError::NotRegistered(server));
    }
    let device = Store::open(&paths.database())?.device(&server)?;
    let device = device.ok_or_else(|| JoinOrgError::NotRegistered(server.clone()))?;
    let vault = Vault::load_or_create(&paths.vault_key())?;
    let token = server_link::open_device_token(&vault, &device)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| JoinOrgError::Runtime(e.to_string()))?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| JoinOrgError::Runtime(e.to_string()))?;
    let api = ServerApi { http, base: server.clone(), token };
    let joined = runtime.block_on(api.post(PATH_ORG_JOIN, &AcceptInvite { code: code.trim().to_owned() }))?;
    Ok((server, joined))
}
