//! Other devices of the account: their device entries, their records
//! (decrypted) and the collection tokens this device holds for them.

use rusqlite::{params, OptionalExtension};

use baton_shared::api::DeviceKind;
use baton_shared::records::Collection;
use baton_shared::sync::{AccountDevice, CollectionRef};

use super::{Store, StoreError};

/// One collection's changes from the server, already decrypted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteDelta {
    /// (id, token, body JSON)
    pub changed: Vec<(String, String, String)>,
    pub deleted: Vec<String>,
}

impl Store {
    pub fn remote_have(&self) -> Result<Vec<CollectionRef>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT owner, collection, token FROM remote_collection ORDER BY owner, collection")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (owner, coll, token) = row?;
            if let Some(collection) = Collection::parse(&coll) {
                out.push(CollectionRef { owner, collection, token });
            }
        }
        Ok(out)
    }

    /// Applies one collection's delta and records its new token, in one transaction.
    pub fn apply_remote(
        &mut self,
        owner: &str,
        collection: Collection,
        token: Option<&str>,
        delta: &RemoteDelta,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let coll = collection.as_str();
            let mut upsert = tx.prepare_cached(
                "INSERT INTO remote_record (owner, collection, id, token, body) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(owner, collection, id) DO UPDATE SET token = excluded.token, body = excluded.body",
            )?;
            for (id, rtoken, body) in &delta.changed {
                upsert.execute(params![owner, coll, id, rtoken, body])?;
            }
            let mut delete =
                tx.prepare_cached("DELETE FROM remote_record WHERE owner = ?1 AND collection = ?2 AND id = ?3")?;
            for id in &delta.deleted {
                delete.execute(params![owner, coll, id])?;
            }
            // Without a token the collection keeps the one it had, so the
            // next pull asks for the same changes again.
            if let Some(token) = token {
                tx.execute(
                    "INSERT INTO remote_collection (owner, collection, token) VALUES (?1, ?2, ?3)
                     ON CONFLICT(owner, collection) DO UPDATE SET token = excluded.token",
                    params![owner, coll, token],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every `(id, token)` held for another device's collection (for reconcile).
    pub fn remote_pairs(&self, owner: &str, collection: Collection) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, token FROM remote_record WHERE owner = ?1 AND collection = ?2 ORDER BY id")?;
        let rows = stmt.query_map(params![owner, collection.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn remote_bodies(&self, owner: &str, collection: Collection) -> Result<Vec<String>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT body FROM remote_record WHERE owner = ?1 AND collection = ?2")?;
        let rows = stmt.query_map(params![owner, collection.as_str()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn remote_body(&self, owner: &str, collection: Collection, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT body FROM remote_record WHERE owner = ?1 AND collection = ?2 AND id = ?3",
                params![owner, collection.as_str(), id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Replaces the list of the account's other devices; data of devices
    /// that left the account goes with them.
    pub fn set_account_devices(&mut self, devices: &[AccountDevice]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM account_device", [])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO account_device (id, name, kind, last_seen_ms, online) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for d in devices {
                insert.execute(params![d.id, d.name, d.kind.as_str(), d.last_seen_ms, d.online])?;
            }
        }
        tx.execute("DELETE FROM remote_record WHERE owner NOT IN (SELECT id FROM account_device)", [])?;
        tx.execute("DELETE FROM remote_collection WHERE owner NOT IN (SELECT id FROM account_device)", [])?;
        tx.commit()?;
        Ok(())
    }

    /// The account's other devices, most recently seen first.
    pub fn account_devices(&self) -> Result<Vec<AccountDevice>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, kind, last_seen_ms, online FROM account_device ORDER BY last_seen_ms DESC, name",
        )?;
        let rows = stmt.query_map([], |r| {
            let kind: String = r.get(2)?;
            Ok(AccountDevice {
                id: r.get(0)?,
                name: r.get(1)?,
                kind: DeviceKind::parse(&kind).unwrap_or(DeviceKind::Other),
                last_seen_ms: r.get(3)?,
                online: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn meta(&self, key: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row("SELECT value FROM sync_meta WHERE key = ?1", params![key], |r| r.get(0)).optional()?)
    }

    pub fn set_meta(&mut self, key: &str, value: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO sync_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, seen: i64) -> AccountDevice {
        AccountDevice {
            id: id.into(),
            name: id.to_uppercase(),
            kind: DeviceKind::Laptop,
            last_seen_ms: seen,
            online: true,
        }
    }

    #[test]
    fn deltas_apply_and_departed_devices_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("h.sqlite3")).unwrap();
        s.set_account_devices(&[device("a", 1), device("b", 2)]).unwrap();
        assert_eq!(s.account_devices().unwrap()[0].id, "b");
        let delta = RemoteDelta { changed: vec![("t:1".into(), "x".into(), "{}".into())], deleted: vec![] };
        s.apply_remote("a", Collection::Tabs, Some("ct1"), &delta).unwrap();
        assert_eq!(s.remote_pairs("a", Collection::Tabs).unwrap(), [("t:1".to_owned(), "x".to_owned())]);
        s.apply_remote(
            "a",
            Collection::Tabs,
            Some("ct2"),
            &RemoteDelta { changed: vec![], deleted: vec!["t:1".into()] },
        )
        .unwrap();
        assert!(s.remote_bodies("a", Collection::Tabs).unwrap().is_empty());
        assert_eq!(s.remote_have().unwrap()[0].token, "ct2");
        // An incomplete delta keeps the old token, so the next pull asks again.
        let partial = RemoteDelta { changed: vec![("t:2".into(), "y".into(), "{}".into())], deleted: vec![] };
        s.apply_remote("a", Collection::Tabs, None, &partial).unwrap();
        assert_eq!(s.remote_have().unwrap()[0].token, "ct2");
        s.set_account_devices(&[device("b", 2)]).unwrap();
        assert!(s.remote_have().unwrap().is_empty());
    }
}
