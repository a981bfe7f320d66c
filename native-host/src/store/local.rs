//! This device's records and the ordered outbox of changes not yet
//! acknowledged by the server.
//!
//! `local_record.server_token` is what the server is known to hold for the
//! id; a deleted record stays as a tombstone row (body NULL) until the server
//! holds nothing for it, so the tombstone can name the token it replaces.

use std::collections::HashMap;

use rusqlite::{params, Transaction};

use baton_shared::records::Collection;

use super::{Store, StoreError};

/// A record's new state: `Some((token, body JSON))`, or `None` for deleted.
pub type RecordState = Option<(String, String)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalChange {
    pub collection: Collection,
    pub id: String,
    pub state: RecordState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub seq: i64,
    pub collection: Collection,
    pub id: String,
    pub state: RecordState,
}

/// A live local record, for re-tokenising after the account key changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRecord {
    pub collection: Collection,
    pub id: String,
    pub body: String,
}

impl Store {
    /// Live records of a collection: id → token.
    pub fn local_tokens(&self, collection: Collection) -> Result<HashMap<String, String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, token FROM local_record WHERE collection = ?1 AND body IS NOT NULL")?;
        let rows = stmt.query_map(params![collection.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn live_records(&self) -> Result<Vec<LocalRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT collection, id, body FROM local_record WHERE body IS NOT NULL ORDER BY collection, id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (collection, id, body) = row?;
            if let Some(collection) = Collection::parse(&collection) {
                out.push(LocalRecord { collection, id, body });
            }
        }
        Ok(out)
    }

    /// Applies changes and queues them for upload, in one transaction.
    pub fn apply_local(&mut self, changes: &[LocalChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for c in changes {
            let coll = c.collection.as_str();
            match &c.state {
                Some((token, body)) => {
                    tx.execute(
                        "INSERT INTO local_record (collection, id, token, body) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(collection, id) DO UPDATE SET token = excluded.token, body = excluded.body",
                        params![coll, c.id, token, body],
                    )?;
                }
                None => {
                    tx.execute(
                        "UPDATE local_record SET token = NULL, body = NULL WHERE collection = ?1 AND id = ?2",
                        params![coll, c.id],
                    )?;
                }
            }
            let (token, body) = split(&c.state);
            tx.execute(
                "INSERT INTO outbox (collection, id, token, body) VALUES (?1, ?2, ?3, ?4)",
                params![coll, c.id, token, body],
            )?;
        }
        drop_settled_tombstones(&tx)?;
        tx.commit()?;
        Ok(())
    }

    pub fn pending_changes(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// The oldest unsent changes that belong to one collection: the run of
    /// consecutive outbox rows starting at the oldest, at most `limit`.
    pub fn outbox_run(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT seq, collection, id, token, body FROM outbox ORDER BY seq LIMIT ?1")?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
        })?;
        let mut out: Vec<OutboxRow> = Vec::new();
        for row in rows {
            let (seq, coll, id, token, body): (i64, String, String, Option<String>, Option<String>) = row?;
            let Some(collection) = Collection::parse(&coll) else { continue };
            if out.first().is_some_and(|first| first.collection != collection) {
                break;
            }
            let state = token.zip(body);
            out.push(OutboxRow { seq, collection, id, state });
        }
        Ok(out)
    }

    /// Keeps only the latest unsent change of each record. Used when the
    /// server refuses the oldest changes for its quota: what came later (the
    /// user closing tabs) then replaces them instead of waiting behind them.
    /// Intermediate states are lost, which is what makes room.
    pub fn compact_outbox(&mut self) -> Result<u64, StoreError> {
        let dropped = self
            .conn
            .execute("DELETE FROM outbox WHERE seq NOT IN (SELECT MAX(seq) FROM outbox GROUP BY collection, id)", [])?;
        Ok(dropped as u64)
    }

    /// What the server is known to hold for these ids (absent: nothing).
    pub fn server_tokens(&self, collection: Collection) -> Result<HashMap<String, String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, server_token FROM local_record WHERE collection = ?1 AND server_token IS NOT NULL",
        )?;
        let rows = stmt.query_map(params![collection.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The server acknowledged an upload: drop the sent outbox rows (all at
    /// or before `last_seq`) and record what the server now holds.
    pub fn ack_upload(
        &mut self,
        collection: Collection,
        last_seq: i64,
        held: &HashMap<String, Option<String>>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM outbox WHERE seq <= ?1", params![last_seq])?;
        set_server_tokens(&tx, collection, held)?;
        drop_settled_tombstones(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// After a conflict: adopt what the server says it holds, then queue a
    /// correction for every record where that differs from the local state
    /// and no change is pending already.
    pub fn adopt_server_view(
        &mut self,
        collection: Collection,
        held: &HashMap<String, Option<String>>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        set_server_tokens(&tx, collection, held)?;
        tx.execute(
            "INSERT INTO outbox (collection, id, token, body)
             SELECT collection, id, token, body FROM local_record l
             WHERE collection = ?1 AND token IS NOT server_token
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.collection = l.collection AND o.id = l.id)
             ORDER BY id",
            params![collection.as_str()],
        )?;
        drop_settled_tombstones(&tx)?;
        tx.commit()?;
        Ok(())
    }
}

fn split(state: &RecordState) -> (Option<&str>, Option<&str>) {
    match state {
        Some((t, b)) => (Some(t.as_str()), Some(b.as_str())),
        None => (None, None),
    }
}

fn set_server_tokens(
    tx: &Transaction<'_>,
    collection: Collection,
    held: &HashMap<String, Option<String>>,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO local_record (collection, id, token, body, server_token) VALUES (?1, ?2, NULL, NULL, ?3)
         ON CONFLICT(collection, id) DO UPDATE SET server_token = excluded.server_token",
    )?;
    for (id, token) in held {
        stmt.execute(params![collection.as_str(), id, token])?;
    }
    Ok(())
}

/// A tombstone the server no longer holds, with nothing pending, is done.
fn drop_settled_tombstones(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM local_record WHERE body IS NULL AND server_token IS NULL
           AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.collection = local_record.collection AND o.id = local_record.id)",
        [],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("h.sqlite3")).unwrap();
        (dir, s)
    }

    fn put(id: &str, token: &str) -> LocalChange {
        LocalChange { collection: Collection::Tabs, id: id.into(), state: Some((token.into(), "{}".into())) }
    }

    fn del(id: &str) -> LocalChange {
        LocalChange { collection: Collection::Tabs, id: id.into(), state: None }
    }

    #[test]
    fn outbox_keeps_every_change_in_order_until_acknowledged() {
        let (_d, mut s) = store();
        s.apply_local(&[put("t:1", "a")]).unwrap();
        s.apply_local(&[put("t:1", "b"), LocalChange { collection: Collection::Pages, ..put("p:1", "p") }]).unwrap();
        s.apply_local(&[put("t:2", "c")]).unwrap();
        assert_eq!(s.pending_changes().unwrap(), 4);
        let run = s.outbox_run(100).unwrap();
        assert_eq!(run.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["t:1", "t:1"]);
        let held = HashMap::from([("t:1".to_owned(), Some("b".to_owned()))]);
        s.ack_upload(Collection::Tabs, run[1].seq, &held).unwrap();
        assert_eq!(s.outbox_run(100).unwrap()[0].collection, Collection::Pages);
        assert_eq!(s.server_tokens(Collection::Tabs).unwrap(), HashMap::from([("t:1".into(), "b".into())]));
        assert_eq!(s.pending_changes().unwrap(), 2);
    }

    #[test]
    fn compacting_keeps_each_records_latest_change() {
        let (_d, mut s) = store();
        s.apply_local(&[put("t:1", "a"), put("t:2", "b")]).unwrap();
        s.apply_local(&[LocalChange { collection: Collection::Pages, ..put("t:1", "p") }]).unwrap();
        s.apply_local(&[del("t:1"), put("t:2", "c")]).unwrap();
        assert_eq!(s.compact_outbox().unwrap(), 2);
        let left: Vec<(Collection, String, RecordState)> =
            s.outbox_run(10).unwrap().into_iter().map(|r| (r.collection, r.id, r.state)).collect();
        assert_eq!(left, [(Collection::Pages, "t:1".to_owned(), Some(("p".into(), "{}".into())))]);
        assert_eq!(s.pending_changes().unwrap(), 3, "the pages change, the deletion and the latest t:2");
    }

    #[test]
    fn tombstones_live_until_the_server_forgets_the_record() {
        let (_d, mut s) = store();
        s.apply_local(&[put("t:1", "a")]).unwrap();
        let run = s.outbox_run(10).unwrap();
        s.ack_upload(Collection::Tabs, run[0].seq, &HashMap::from([("t:1".into(), Some("a".into()))])).unwrap();
        s.apply_local(&[del("t:1")]).unwrap();
        assert!(s.local_tokens(Collection::Tabs).unwrap().is_empty());
        assert_eq!(s.server_tokens(Collection::Tabs).unwrap().len(), 1, "the tombstone remembers the server token");
        let run = s.outbox_run(10).unwrap();
        assert_eq!(run[0].state, None);
        s.ack_upload(Collection::Tabs, run[0].seq, &HashMap::from([("t:1".into(), None)])).unwrap();
        let rows: i64 = s.conn.query_row("SELECT COUNT(*) FROM local_record", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn adopting_the_server_view_queues_corrections() {
        let (_d, mut s) = store();
        s.apply_local(&[put("t:1", "a"), put("t:2", "b")]).unwrap();
        let run = s.outbox_run(10).unwrap();
        s.ack_upload(
            Collection::Tabs,
            run[1].seq,
            &HashMap::from([("t:1".into(), Some("a".into())), ("t:2".into(), Some("b".into()))]),
        )
        .unwrap();
        // The server lost t:2 and holds a stray t:9.
        let held = HashMap::from([("t:2".into(), None), ("t:9".into(), Some("z".into()))]);
        s.adopt_server_view(Collection::Tabs, &held).unwrap();
        let run = s.outbox_run(10).unwrap();
        let ids: Vec<_> = run.iter().map(|r| (r.id.as_str(), r.state.is_some())).collect();
        assert_eq!(ids, [("t:2", true), ("t:9", false)]);
    }
}
