//! Accounts and devices.

use baton_shared::api::{DeviceKind, DeviceRecord};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbError;
use crate::credentials::TokenHash;

/// A device about to be registered, in a new account of its own.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub account_id: String,
    pub device_id: String,
    pub name: String,
    pub kind: DeviceKind,
    pub token_hash: TokenHash,
    pub now: i64,
}

/// Creates the account and its first device in one transaction.
pub fn register(conn: &mut Connection, new: &NewDevice) -> Result<DeviceRecord, DbError> {
    let tx = conn.transaction()?;
    tx.execute("INSERT INTO account (id, created_at) VALUES (?1, ?2)", params![new.account_id, new.now])?;
    tx.execute(
        "INSERT INTO device (id, account_id, name, kind, token_hash, created_at, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![new.device_id, new.account_id, new.name, new.kind.as_str(), &new.token_hash[..], new.now],
    )?;
    tx.commit()?;
    Ok(DeviceRecord {
        account_id: new.account_id.clone(),
        device_id: new.device_id.clone(),
        name: new.name.clone(),
        kind: new.kind,
        created_at: new.now,
        last_seen: new.now,
    })
}

const DEVICE_COLUMNS: &str = "account_id, id, name, kind, created_at, last_seen";

pub fn by_token_hash(conn: &Connection, hash: &TokenHash) -> Result<Option<DeviceRecord>, DbError> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM device WHERE token_hash = ?1");
    let row = conn.query_row(&sql, params![&hash[..]], raw_device).optional()?;
    row.map(RawDevice::into_record).transpose()
}

/// Every device of the account, oldest first.
pub fn in_account(conn: &Connection, account_id: &str) -> Result<Vec<DeviceRecord>, DbError> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM device WHERE account_id = ?1 ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![account_id], raw_device)?.collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(RawDevice::into_record).collect()
}

#[cfg(test)]
pub fn by_id(conn: &Connection, device_id: &str) -> Result<Option<DeviceRecord>, DbError> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM device WHERE id = ?1");
    let row = conn.query_row(&sql, params![device_id], raw_device).optional()?;
    row.map(RawDevice::into_record).transpose()
}

/// Records that the device was heard from; `false` if it no longer exists.
pub fn touch(conn: &Connection, device_id: &str, now: i64) -> Result<bool, DbError> {
    let n = conn.execute("UPDATE device SET last_seen = max(last_seen, ?2) WHERE id = ?1", params![device_id, now])?;
    Ok(n == 1)
}

/// A row before its `kind` text is checked.
struct RawDevice {
    account_id: String,
    device_id: String,
    name: String,
    kind: String,
    created_at: i64,
    last_seen: i64,
}

fn raw_device(row: &Row<'_>) -> rusqlite::Result<RawDevice> {
    Ok(RawDevice {
        account_id: row.get(0)?,
        device_id: row.get(1)?,
        name: row.get(2)?,
        kind: row.get(3)?,
        created_at: row.get(4)?,
        last_seen: row.get(5)?,
    })
}

impl RawDevice {
    fn into_record(self) -> Result<DeviceRecord, DbError> {
        let kind = DeviceKind::parse(&self.kind)
            .ok_or_else(|| DbError::Corrupt(format!("device {} has unknown kind {:?}", self.device_id, self.kind)))?;
        Ok(DeviceRecord {
            account_id: self.account_id,
            device_id: self.device_id,
            name: self.name,
            kind,
            created_at: self.created_at,
            last_seen: self.last_seen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::hash_token;
    use crate::db::Db;

    fn new_device(n: u8) -> NewDevice {
        NewDevice {
            account_id: format!("acct{n}"),
            device_id: format!("dev{n}"),
            name: format!("Laptop {n}"),
            kind: DeviceKind::Laptop,
            token_hash: hash_token(&format!("token{n}")),
            now: 1_000,
        }
    }

    fn with_conn<T>(f: impl FnOnce(&mut Connection) -> T) -> T {
        let db = Db::open_in_memory().unwrap();
        let mut guard = db.conn.lock().unwrap();
        f(&mut guard)
    }

    #[test]
    fn register_then_find_by_token_and_id() {
        with_conn(|conn| {
            let created = register(conn, &new_device(1)).unwrap();
            let found = by_token_hash(conn, &hash_token("token1")).unwrap().unwrap();
            assert_eq!(found, created);
            assert_eq!(by_id(conn, "dev1").unwrap(), Some(created));
            assert_eq!(by_token_hash(conn, &hash_token("token2")).unwrap(), None);
            assert_eq!(by_id(conn, "nope").unwrap(), None);
        });
    }

    #[test]
    fn duplicate_device_id_fails_and_leaves_no_orphan_account() {
        with_conn(|conn| {
            register(conn, &new_device(1)).unwrap();
            let mut clash = new_device(2);
            clash.device_id = "dev1".into();
            assert!(register(conn, &clash).is_err());
            let accounts: i64 = conn.query_row("SELECT count(*) FROM account", [], |r| r.get(0)).unwrap();
            assert_eq!(accounts, 1);
        });
    }

    #[test]
    fn duplicate_token_hash_is_refused() {
        with_conn(|conn| {
            register(conn, &new_device(1)).unwrap();
            let mut clash = new_device(2);
            clash.token_hash = hash_token("token1");
            assert!(register(conn, &clash).is_err());
        });
    }

    #[test]
    fn touch_moves_last_seen_forward_only() {
        with_conn(|conn| {
            register(conn, &new_device(1)).unwrap();
            assert!(touch(conn, "dev1", 5_000).unwrap());
            assert!(touch(conn, "dev1", 2_000).unwrap());
            let d = by_id(conn, "dev1").unwrap().unwrap();
            assert_eq!((d.created_at, d.last_seen), (1_000, 5_000));
            assert!(!touch(conn, "missing", 5_000).unwrap());
        });
    }

    #[test]
    fn unknown_kind_is_reported_as_corrupt() {
        with_conn(|conn| {
            register(conn, &new_device(1)).unwrap();
            conn.execute("UPDATE device SET kind = 'toaster'", []).unwrap();
            let err = by_id(conn, "dev1").unwrap_err();
            assert!(matches!(err, DbError::Corrupt(_)), "{err}");
        });
    }

    #[tokio::test]
    async fn file_database_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let db = Db::open(&path).unwrap();
        db.call(|c| register(c, &new_device(1))).await.unwrap();
        drop(db);
        let db = Db::open(&path).unwrap();
        let found = db.call(|c| by_token_hash(c, &hash_token("token1"))).await.unwrap();
        assert_eq!(found.map(|d| d.device_id), Some("dev1".to_owned()));
        let mode: String =
            db.call(|c| Ok::<_, DbError>(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)).await.unwrap();
        assert_eq!(mode, "wal");
    }
}
