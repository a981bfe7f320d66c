//! The host's SQLite store. Every write is one transaction; WAL keeps readers
//! and a crash-interrupted writer from ever seeing half a change.

mod cobrowse;
mod local;
mod remote;
mod schema;
mod tabs;

pub use local::LocalChange;
pub use remote::RemoteDelta;
pub use tabs::ReceivedTab;

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use baton_shared::api::DeviceKind;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("database {path} has schema version {found}, newer than this baton-host understands ({known}); update baton-host")]
    TooNew { path: String, found: i64, known: i64 },
    #[error("the store's schema version {found} is not one this host knows; the file {path} is damaged")]
    BadVersion { path: String, found: i64 },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// This device's registration with one server.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub server_url: String,
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub kind: DeviceKind,
    /// The device token, sealed by the vault (never stored in the clear).
    pub token_sealed: Vec<u8>,
    pub created_at: i64,
}

pub struct Store {
    conn: Connection,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::CreateDir { path: dir.display().to_string(), source })?;
        }
        let open_err = |source| StoreError::Open { path: path.display().to_string(), source };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
        schema::migrate(&mut conn, path)?;
        Ok(Self { conn })
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    pub fn device(&self, server_url: &str) -> Result<Option<DeviceRow>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT server_url, id, account_id, name, kind, token_sealed, created_at
                 FROM device WHERE server_url = ?1",
                params![server_url],
                |r| {
                    let kind: String = r.get(4)?;
                    Ok(DeviceRow {
                        server_url: r.get(0)?,
                        id: r.get(1)?,
                        account_id: r.get(2)?,
                        name: r.get(3)?,
                        kind: DeviceKind::parse(&kind).unwrap_or(DeviceKind::Other),
                        token_sealed: r.get(5)?,
                        created_at: r.get(6)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// Records a registration, replacing any earlier one with the same server.
    pub fn save_device(&mut self, d: &DeviceRow) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO device (server_url, id, account_id, name, kind, token_sealed, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(server_url) DO UPDATE SET id = excluded.id, account_id = excluded.account_id,
               name = excluded.name, kind = excluded.kind, token_sealed = excluded.token_sealed,
               created_at = excluded.created_at",
            params![d.server_url, d.id, d.account_id, d.name, d.kind.as_str(), d.token_sealed, d.created_at],
        )?;
        tx.commit()?;
        Ok(())
    }
}

impl Store {
    pub fn account_key_sealed(&self, server_url: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT key_sealed FROM account_key WHERE server_url = ?1", params![server_url], |r| r.get(0))
            .optional()?)
    }

    pub fn save_account_key(&mut self, server_url: &str, sealed: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO account_key (server_url, key_sealed) VALUES (?1, ?2)
             ON CONFLICT(server_url) DO UPDATE SET key_sealed = excluded.key_sealed",
            params![server_url, sealed],
        )?;
        Ok(())
    }

    /// This device joined another account (pairing): adopt its key, re-token
    /// every local record, forget what the server held (it dropped this
    /// device's old records) and queue everything again; forget the old
    /// account's devices. One transaction.
    pub fn join_account(
        &mut self,
        server_url: &str,
        account_id: &str,
        key_sealed: &[u8],
        new_tokens: &[(baton_shared::records::Collection, String, String)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO account_key (server_url, key_sealed) VALUES (?1, ?2)
             ON CONFLICT(server_url) DO UPDATE SET key_sealed = excluded.key_sealed",
            params![server_url, key_sealed],
        )?;
        tx.execute("UPDATE device SET account_id = ?2 WHERE server_url = ?1", params![server_url, account_id])?;
        {
            let mut update = tx.prepare("UPDATE local_record SET token = ?3 WHERE collection = ?1 AND id = ?2")?;
            for (coll, id, token) in new_tokens {
                update.execute(params![coll.as_str(), id, token])?;
            }
        }
        tx.execute("DELETE FROM local_record WHERE body IS NULL", [])?;
        tx.execute("UPDATE local_record SET server_token = NULL", [])?;
        tx.execute("DELETE FROM outbox", [])?;
        tx.execute(
            "INSERT INTO outbox (collection, id, token, body)
             SELECT collection, id, token, body FROM local_record
             ORDER BY CASE collection WHEN 'tabs' THEN 0 WHEN 'history' THEN 1 ELSE 2 END, id",
            [],
        )?;
        for table in ["remote_record", "remote_collection", "account_device"] {
            tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(server: &str, id: &str) -> DeviceRow {
        DeviceRow {
            server_url: server.into(),
            id: id.into(),
            account_id: "acc".into(),
            name: "Laptop".into(),
            kind: DeviceKind::Laptop,
            token_sealed: vec![1, 2, 3],
            created_at: 42,
        }
    }

    #[test]
    fn device_round_trip_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/host.sqlite3");
        {
            let mut s = Store::open(&path).unwrap();
            assert_eq!(s.device("http://a").unwrap(), None);
            s.save_device(&row("http://a", "d1")).unwrap();
            s.save_device(&row("http://a", "d2")).unwrap();
            s.save_device(&row("http://b", "d3")).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.device("http://a").unwrap().unwrap().id, "d2");
        assert_eq!(s.device("http://b").unwrap().unwrap(), row("http://b", "d3"));
        assert_eq!(s.schema_version().unwrap(), schema::LATEST);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.sqlite3");
        drop(Store::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 999).unwrap();
        assert!(matches!(Store::open(&path), Err(StoreError::TooNew { found: 999, .. })));
    }

    #[test]
    fn refuses_a_negative_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.sqlite3");
        drop(Store::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", -1).unwrap();
        let err = Store::open(&path).err().expect("a damaged schema version is refused");
        assert!(err.to_string().contains("schema version -1 is not one this host knows"), "{err}");
    }

    #[test]
    fn garbage_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.sqlite3");
        std::fs::write(&path, vec![0x55u8; 8192]).unwrap();
        assert!(Store::open(&path).is_err());
    }
}
