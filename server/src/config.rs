//! Command line and the settings derived from it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use baton_shared::limits::{
    COBROWSE_AWAY_TTL_MS, COBROWSE_CODE_TTL_MS, COBROWSE_CONSENT_TTL_MS, MAX_RECORDING_BYTES, PAIRING_TTL_MS,
    RELAY_SEND_TIMEOUT_MS,
};
use clap::Parser;

use crate::db::orgs::{DEFAULT_RETENTION_DAYS, RETENTION_DAYS};
use crate::forwarded::ProxyNet;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8917";
/// Eight recordings at the per-session cap; retention frees it.
pub const DEFAULT_ACCOUNT_RECORDING_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Far beyond a browser's windows, tabs and form fields (5,000 open tabs
/// are about 5,000 records and 3 MB), but a bound on what one device stores.
pub const DEFAULT_DEVICE_QUOTA_RECORDS: u64 = 50_000;
pub const DEFAULT_DEVICE_QUOTA_BYTES: u64 = 64 * 1024 * 1024;
/// Enough for a household or an office behind one address setting up its
/// devices; a script creating accounts is stopped.
pub const DEFAULT_REGISTRATIONS_PER_HOUR: u32 = 60;
/// Two a minute, all hour, from one address.
pub const DEFAULT_SHARES_PER_HOUR: u32 = 120;
/// Frames waiting for all relay sockets together (each socket holds at
/// most a few dozen MiB, for at most the send deadline).
pub const DEFAULT_RELAY_QUEUE_BYTES: u64 = 512 * 1024 * 1024;

/// Baton's server: device registration, sync, push and co-browse relay.
#[derive(Debug, Parser)]
#[command(name = "baton-server", version)]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// SQLite database file [default: <data dir>/baton-server/server.sqlite3].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// How long a pairing code stays valid (tests shorten it).
    #[arg(long, value_name = "MS", default_value_t = PAIRING_TTL_MS, hide = true,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub pairing_ttl_ms: i64,

    /// How long a co-browsing code stays valid (tests shorten it).
    #[arg(long, value_name = "MS", default_value_t = COBROWSE_CODE_TTL_MS, hide = true,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub cobrowse_code_ttl_ms: i64,

    /// How long a visitor has to approve a joined operator (tests shorten it).
    #[arg(long, value_name = "MS", default_value_t = COBROWSE_CONSENT_TTL_MS, hide = true,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub cobrowse_consent_ttl_ms: i64,

    /// How long one side may stay disconnected from an active session
    /// before it ends (tests shorten it).
    #[arg(long, value_name = "MS", default_value_t = COBROWSE_AWAY_TTL_MS, hide = true,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub cobrowse_away_ttl_ms: i64,

    /// How long a relay socket waits for its peer to take one message
    /// before closing (tests shorten it).
    #[arg(long, value_name = "MS", default_value_t = RELAY_SEND_TIMEOUT_MS, hide = true,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub relay_send_timeout_ms: i64,

    /// Recorded bytes kept per co-browsing session (tests lower it).
    #[arg(long, value_name = "BYTES", default_value_t = MAX_RECORDING_BYTES, hide = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cobrowse_recording_max_bytes: u64,

    /// Bytes of co-browsing recordings one visitor account may keep, across
    /// its sessions (each session also stops at its own cap).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_ACCOUNT_RECORDING_BYTES,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub account_recording_bytes: u64,

    /// Live sync records one device may keep on the server.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DEVICE_QUOTA_RECORDS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub device_quota_records: u64,

    /// Bytes of sync records (ciphertext) one device may keep on the server.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_DEVICE_QUOTA_BYTES,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub device_quota_bytes: u64,

    /// Devices one client address may register per hour (behind a
    /// `--trusted-proxy`, the address it forwards for).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_REGISTRATIONS_PER_HOUR,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub registrations_per_hour: u32,

    /// Co-browsing sessions one client address may start per hour (each
    /// holds a code for its lifetime; the codes are few enough to run out).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SHARES_PER_HOUR,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub shares_per_hour: u32,

    /// Bytes of co-browsing frames queued for slow relay sockets, all
    /// together; past it frames are dropped and consoles ask for a keyframe.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_RELAY_QUEUE_BYTES,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub relay_queue_bytes: u64,

    /// Days the co-browsing records (audit log, recording) of accounts in no
    /// organisation are kept after the session ends; an organisation's own
    /// policy sets its members'.
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(*RETENTION_DAYS.start() as i64..=*RETENTION_DAYS.end() as i64))]
    pub session_retention_days: u32,

    /// A reverse proxy in front of the server (an address or a network such
    /// as 10.0.0.0/8; repeat or separate with commas). Requests from it are
    /// counted against the client its X-Forwarded-For names; from anyone
    /// else that header is ignored.
    #[arg(long = "trusted-proxy", value_name = "ADDR[/BITS]", value_delimiter = ',')]
    pub trusted_proxies: Vec<ProxyNet>,
}

/// Settings handlers read, derived from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub pairing_ttl_ms: i64,
    pub cobrowse_code_ttl_ms: i64,
    pub cobrowse_consent_ttl_ms: i64,
    pub cobrowse_away_ttl_ms: i64,
    pub relay_send_timeout_ms: i64,
    pub cobrowse_recording_max_bytes: u64,
    /// Retention of sessions outside any organisation, in days.
    pub session_retention_days: u32,
    /// Frames queued for all relay sockets together, in bytes.
    pub relay_queue_bytes: usize,
    /// Device registrations per client address and hour.
    pub registrations_per_hour: u32,
    /// Co-browsing sessions started per client address and hour.
    pub shares_per_hour: u32,
    /// What one device may keep in sync records.
    pub device_quota: crate::db::sync::Quota,
    /// Recorded bytes per visitor account, across its sessions.
    pub account_recording_max_bytes: u64,
    /// Peers whose `X-Forwarded-For` names the client (`forwarded`).
    pub trusted_proxies: Arc<[ProxyNet]>,
}

#[derive(Debug, thiserror::Error)]
#[error("no --db given and no home directory to put the default database in")]
pub struct NoDataDir;

impl Cli {
    pub fn settings(&self) -> Settings {
        Settings {
            pairing_ttl_ms: self.pairing_ttl_ms,
            cobrowse_code_ttl_ms: self.cobrowse_code_ttl_ms,
            cobrowse_consent_ttl_ms: self.cobrowse_consent_ttl_ms,
            cobrowse_away_ttl_ms: self.cobrowse_away_ttl_ms,
            relay_send_timeout_ms: self.relay_send_timeout_ms,
            cobrowse_recording_max_bytes: self.cobrowse_recording_max_bytes,
            session_retention_days: self.session_retention_days,
            relay_queue_bytes: usize::try_from(self.relay_queue_bytes).unwrap_or(usize::MAX),
            registrations_per_hour: self.registrations_per_hour,
            shares_per_hour: self.shares_per_hour,
            device_quota: crate::db::sync::Quota { records: self.device_quota_records, bytes: self.device_quota_bytes },
            account_recording_max_bytes: self.account_recording_bytes,
            trusted_proxies: self.trusted_proxies.clone().into(),
        }
    }

    /// The database path: `--db`, else the platform data directory
    /// (`$XDG_DATA_HOME/baton-server/server.sqlite3` on Linux).
    pub fn db_path(&self) -> Result<PathBuf, NoDataDir> {
        if let Some(path) = &self.db {
            return Ok(path.clone());
        }
        let base = directories::BaseDirs::new().ok_or(NoDataDir)?;
        Ok(base.data_dir().join("baton-server").join("server.sqlite3"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["baton-server"]).unwrap();
        assert_eq!(cli.listen, DEFAULT_LISTEN.parse().unwrap());
        assert!(cli.db.is_none());
        assert_eq!(cli.settings().pairing_ttl_ms, PAIRING_TTL_MS);
        assert_eq!(cli.settings().cobrowse_code_ttl_ms, COBROWSE_CODE_TTL_MS);
        assert_eq!(cli.settings().cobrowse_consent_ttl_ms, COBROWSE_CONSENT_TTL_MS);
        assert_eq!(cli.settings().cobrowse_away_ttl_ms, COBROWSE_AWAY_TTL_MS);
        assert_eq!(cli.settings().relay_send_timeout_ms, RELAY_SEND_TIMEOUT_MS);
        assert_eq!(cli.settings().cobrowse_recording_max_bytes, MAX_RECORDING_BYTES);
        assert_eq!(cli.settings().session_retention_days, DEFAULT_RETENTION_DAYS);
        assert_eq!(cli.settings().relay_queue_bytes as u64, DEFAULT_RELAY_QUEUE_BYTES);
        assert_eq!(cli.settings().registrations_per_hour, DEFAULT_REGISTRATIONS_PER_HOUR);
        assert_eq!(cli.settings().shares_per_hour, DEFAULT_SHARES_PER_HOUR);
        assert_eq!(cli.settings().device_quota.records, DEFAULT_DEVICE_QUOTA_RECORDS);
        assert_eq!(cli.settings().device_quota.bytes, DEFAULT_DEVICE_QUOTA_BYTES);
        assert_eq!(cli.settings().account_recording_max_bytes, DEFAULT_ACCOUNT_RECORDING_BYTES);
        assert!(Cli::try_parse_from(["baton-server", "--session-retention-days", "0"]).is_err());
    }

    #[test]
    fn explicit_db_wins() {
        let cli = Cli::try_parse_from(["baton-server", "--listen", "127.0.0.1:0", "--db", "/x/s.db"]).unwrap();
        assert_eq!(cli.db_path().unwrap(), PathBuf::from("/x/s.db"));
        assert_eq!(cli.listen.port(), 0);
    }

    #[test]
    fn trusted_proxies_repeat_or_split_on_commas() {
        let cli =
            Cli::try_parse_from(["baton-server", "--trusted-proxy", "10.0.0.1,10.1.0.0/16", "--trusted-proxy", "::1"])
                .unwrap();
        let listed: Vec<String> = cli.settings().trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(listed, ["10.0.0.1/32", "10.1.0.0/16", "::1/128"]);
        assert!(Cli::try_parse_from(["baton-server"]).unwrap().settings().trusted_proxies.is_empty());
        assert!(Cli::try_parse_from(["baton-server", "--trusted-proxy", "proxy.local"]).is_err());
    }

    #[test]
    fn bad_listen_is_rejected() {
        assert!(Cli::try_parse_from(["baton-server", "--listen", "nonsense"]).is_err());
    }
}
