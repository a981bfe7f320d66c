//! Delta sync: records, the cached token of each collection and its change log.
//!
//! Each `(owner, collection)` has a sequence number bumped by every upload
//! that changes something; a record remembers the sequence that last changed
//! it, and the log maps "collection token after upload N" to N. A reader that
//! names a token from the log gets exactly the records with a higher sequence.
//! Deleted records stay as tombstones until the log no longer reaches back
//! to them.

use std::collections::HashMap;

use baton_shared::limits::CHANGE_LOG_ENTRIES;
use baton_shared::records::Collection;
use baton_shared::sync::{CollectionDelta, CollectionRef, Conflict, DeltaKind, RecordChange, SyncRecord};
use baton_shared::token::collection_token;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::DbError;

/// The token of a collection with no live records.
pub fn empty_token() -> String {
    collection_token([])
}

#[derive(Debug, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Every change was applied (or was already in place).
    Applied {
        token: String,
        /// Whether the collection's token moved, i.e. readers have news.
        changed: bool,
    },
    /// Some change named a token the server does not hold; nothing was applied.
    Conflict { conflicts: Vec<Conflict>, token: String },
    /// The changes would take the device over its quota; nothing was applied.
    OverQuota { usage: Usage, quota: Quota },
}

/// What one device may keep on the server: live records and their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub records: u64,
    pub bytes: u64,
}

/// What one device keeps on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub records: i64,
    pub bytes: i64,
}

impl Usage {
    fn over(self, quota: Quota) -> bool {
        u64::try_from(self.records).unwrap_or(0) > quota.records || u64::try_from(self.bytes).unwrap_or(0) > quota.bytes
    }
}

/// Whose collection an upload or read is about.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub account_id: &'a str,
    pub device_id: &'a str,
    pub collection: Collection,
}

/// Applies `changes` in order, all or nothing.
///
/// A change applies when its `replaces` names the live token the server holds
/// (`None`: no live record). A change whose result is already in place is a
/// no-op whatever it names, so a retried upload whose answer was lost is
/// harmless. Any other mismatch is a conflict and nothing is written. A
/// batch that adds records or bytes and leaves the device over `quota` is
/// refused whole; one that shrinks it always goes.
pub fn upload(
    conn: &mut Connection,
    owner: Owner<'_>,
    changes: &[RecordChange],
    now: i64,
    quota: Quota,
) -> Result<UploadOutcome, DbError> {
    let tx = conn.transaction()?;
    let (seq, old_token) = state(&tx, owner)?.unwrap_or((0, empty_token()));

    // The live token of each id as earlier changes in this batch leave it.
    let mut view: HashMap<&str, Option<String>> = HashMap::new();
    let mut effective: Vec<&RecordChange> = Vec::new();
    let mut conflicts = Vec::new();
    for change in changes {
        let stored = match view.get(change.id.as_str()) {
            Some(token) => token.clone(),
            None => live_token(&tx, owner, &change.id)?,
        };
        let new = change.record.as_ref().map(|r| r.token.clone());
        if new == stored {
            continue;
        }
        if change.replaces != stored {
            conflicts.push(Conflict { id: change.id.clone(), server_token: stored });
            continue;
        }
        view.insert(&change.id, new);
        effective.push(change);
    }
    if !conflicts.is_empty() {
        return Ok(UploadOutcome::Conflict { conflicts, token: old_token });
    }
    if effective.is_empty() {
        return Ok(UploadOutcome::Applied { token: old_token, changed: false });
    }

    let seq = seq + 1;
    let mut grown = Usage::default();
    for change in effective {
        let (records, bytes) = write_change(&tx, owner, change, seq, now)?;
        grown.records += records;
        grown.bytes += bytes;
    }
    let usage = add_usage(&tx, owner.device_id, grown)?;
    if (grown.records > 0 || grown.bytes > 0) && usage.over(quota) {
        // Dropping the transaction undoes every write above.
        return Ok(UploadOutcome::OverQuota { usage, quota });
    }
    let token = current_token(&tx, owner)?;
    tx.execute(
        "INSERT INTO collection_state (owner_id, collection, account_id, seq, token)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (owner_id, collection) DO UPDATE SET seq = excluded.seq, token = excluded.token",
        params![owner.device_id, owner.collection.as_str(), owner.account_id, seq, token],
    )?;
    if seq == 1 {
        // A reader holding the empty collection is also served from the log.
        append_log(&tx, owner, 0, &empty_token())?;
    }
    append_log(&tx, owner, seq, &token)?;
    trim_log(&tx, owner, seq)?;
    tx.commit()?;
    Ok(UploadOutcome::Applied { changed: token != old_token, token })
}

/// What the caller lacks of every collection of the account's other devices.
pub fn pull(
    conn: &Connection,
    account_id: &str,
    caller_id: &str,
    have: &[CollectionRef],
) -> Result<Vec<CollectionDelta>, DbError> {
    let held: HashMap<(&str, Collection), &str> =
        have.iter().map(|h| ((h.owner.as_str(), h.collection), h.token.as_str())).collect();
    let mut stmt = conn.prepare(
        "SELECT s.owner_id, s.collection, s.token FROM collection_state s
         JOIN device d ON d.id = s.owner_id
         WHERE d.account_id = ?1 AND s.owner_id != ?2
         ORDER BY s.owner_id, s.collection",
    )?;
    let rows = stmt
        .query_map(params![account_id, caller_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;

    let mut deltas = Vec::new();
    for (owner_id, collection, token) in rows {
        let collection = parse_collection(&collection)?;
        let owner = Owner { account_id, device_id: &owner_id, collection };
        let change = match held.get(&(owner_id.as_str(), collection)) {
            Some(&theirs) if theirs == token => continue,
            Some(&theirs) => match log_seq(conn, owner, theirs)? {
                Some(since) => changes_since(conn, owner, since)?,
                None => DeltaKind::NeedPairs,
            },
            None => DeltaKind::Changes { changed: live_records(conn, owner)?, deleted: Vec::new() },
        };
        deltas.push(CollectionDelta { owner: owner_id.clone(), collection, token, change });
    }
    Ok(deltas)
}

/// Compares the caller's `(id, token)` pairs with the collection; `None` when
/// the owner is not a device of the account.
pub fn reconcile(
    conn: &Connection,
    owner: Owner<'_>,
    pairs: &[(String, String)],
) -> Result<Option<CollectionDelta>, DbError> {
    let in_account = conn
        .query_row(
            "SELECT 1 FROM device WHERE id = ?1 AND account_id = ?2",
            params![owner.device_id, owner.account_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !in_account {
        return Ok(None);
    }
    let token = state(conn, owner)?.map_or_else(empty_token, |(_, t)| t);
    let theirs: HashMap<&str, &str> = pairs.iter().map(|(id, token)| (id.as_str(), token.as_str())).collect();
    let live = live_records(conn, owner)?;
    let deleted = {
        let live_ids: std::collections::HashSet<&str> = live.iter().map(|r| r.id.as_str()).collect();
        let mut gone: Vec<String> =
            theirs.keys().filter(|id| !live_ids.contains(*id)).map(|id| (*id).to_owned()).collect();
        gone.sort_unstable();
        gone
    };
    let changed = live.into_iter().filter(|r| theirs.get(r.id.as_str()) != Some(&r.token.as_str())).collect();
    Ok(Some(CollectionDelta {
        owner: owner.device_id.to_owned(),
        collection: owner.collection,
        token,
        change: DeltaKind::Changes { changed, deleted },
    }))
}

/// Forgets everything a device uploaded (its records were sealed under a key
/// it no longer uses).
pub fn delete_device_records(conn: &Connection, device_id: &str) -> Result<(), DbError> {
    for table in ["record", "collection_state", "change_log"] {
        conn.execute(&format!("DELETE FROM {table} WHERE owner_id = ?1"), params![device_id])?;
    }
    conn.execute("DELETE FROM device_usage WHERE device_id = ?1", params![device_id])?;
    Ok(())
}

fn state(conn: &Connection, owner: Owner<'_>) -> Result<Option<(i64, String)>, DbError> {
    Ok(conn
        .query_row(
            "SELECT seq, token FROM collection_state WHERE owner_id = ?1 AND collection = ?2",
            params![owner.device_id, owner.collection.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

fn live_token(conn: &Connection, owner: Owner<'_>, id: &str) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT token FROM record
             WHERE owner_id = ?1 AND collection = ?2 AND id = ?3 AND deleted = 0",
            params![owner.device_id, owner.collection.as_str(), id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Writes one change; returns how many live records and bytes it added
/// (negative: removed).
fn write_change(
    tx: &Transaction<'_>,
    owner: Owner<'_>,
    change: &RecordChange,
    seq: i64,
    now: i64,
) -> Result<(i64, i64), DbError> {
    let (token, body, deleted) = match &change.record {
        Some(r) => (r.token.as_str(), r.body.as_str(), false),
        None => ("", "", true),
    };
    let before: Option<i64> = tx
        .query_row(
            "SELECT LENGTH(body) FROM record
             WHERE owner_id = ?1 AND collection = ?2 AND id = ?3 AND deleted = 0",
            params![owner.device_id, owner.collection.as_str(), change.id],
            |r| r.get(0),
        )
        .optional()?;
    let after = (!deleted).then(|| i64::try_from(body.chars().count()).unwrap_or(i64::MAX));
    tx.execute(
        "INSERT INTO record (owner_id, collection, id, account_id, token, body, deleted, changed_seq, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (owner_id, collection, id) DO UPDATE SET
            token = excluded.token, body = excluded.body, deleted = excluded.deleted,
            changed_seq = excluded.changed_seq, updated_ms = excluded.updated_ms",
        params![
            owner.device_id,
            owner.collection.as_str(),
            change.id,
            owner.account_id,
            token,
            body,
            deleted,
            seq,
            now
        ],
    )?;
    let records = i64::from(after.is_some()) - i64::from(before.is_some());
    Ok((records, after.unwrap_or(0) - before.unwrap_or(0)))
}

/// Adds `grown` to the device's usage; returns the new usage.
fn add_usage(tx: &Transaction<'_>, device_id: &str, grown: Usage) -> Result<Usage, DbError> {
    Ok(tx.query_row(
        "INSERT INTO device_usage (device_id, records, bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (device_id) DO UPDATE SET
            records = records + excluded.records, bytes = bytes + excluded.bytes
         RETURNING records, bytes",
        params![device_id, grown.records, grown.bytes],
        |r| Ok(Usage { records: r.get(0)?, bytes: r.get(1)? }),
    )?)
}

fn current_token(conn: &Connection, owner: Owner<'_>) -> Result<String, DbError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, token FROM record WHERE owner_id = ?1 AND collection = ?2 AND deleted = 0")?;
    let pairs = stmt
        .query_map(params![owner.device_id, owner.collection.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(collection_token(pairs.iter().map(|(i, t)| (i.as_str(), t.as_str()))))
}

fn append_log(tx: &Transaction<'_>, owner: Owner<'_>, seq: i64, token: &str) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO change_log (owner_id, collection, seq, token) VALUES (?1, ?2, ?3, ?4)",
        params![owner.device_id, owner.collection.as_str(), seq, token],
    )?;
    Ok(())
}

/// Keeps the last [`CHANGE_LOG_ENTRIES`] entries, and drops tombstones no
/// remaining entry needs (a reader older than the log reconciles instead).
fn trim_log(tx: &Transaction<'_>, owner: Owner<'_>, seq: i64) -> Result<(), DbError> {
    let keep = i64::try_from(CHANGE_LOG_ENTRIES).unwrap_or(i64::MAX);
    let trimmed = tx.execute(
        "DELETE FROM change_log WHERE owner_id = ?1 AND collection = ?2 AND seq <= ?3",
        params![owner.device_id, owner.collection.as_str(), seq - keep],
    )?;
    if trimmed > 0 {
        tx.execute(
            "DELETE FROM record WHERE owner_id = ?1 AND collection = ?2 AND deleted = 1
             AND changed_seq <= (SELECT min(seq) FROM change_log WHERE owner_id = ?1 AND collection = ?2)",
            params![owner.device_id, owner.collection.as_str()],
        )?;
    }
    Ok(())
}

/// The latest sequence at which the collection had `token`.
fn log_seq(conn: &Connection, owner: Owner<'_>, token: &str) -> Result<Option<i64>, DbError> {
    Ok(conn.query_row(
        "SELECT max(seq) FROM change_log WHERE owner_id = ?1 AND collection = ?2 AND token = ?3",
        params![owner.device_id, owner.collection.as_str(), token],
        |r| r.get(0),
    )?)
}

fn changes_since(conn: &Connection, owner: Owner<'_>, since: i64) -> Result<DeltaKind, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, token, body, deleted FROM record
         WHERE owner_id = ?1 AND collection = ?2 AND changed_seq > ?3 ORDER BY id",
    )?;
    let mut changed = Vec::new();
    let mut deleted = Vec::new();
    let mut rows = stmt.query(params![owner.device_id, owner.collection.as_str(), since])?;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        if row.get::<_, bool>(3)? {
            deleted.push(id);
        } else {
            changed.push(SyncRecord { id, token: row.get(1)?, body: row.get(2)? });
        }
    }
    Ok(DeltaKind::Changes { changed, deleted })
}

fn live_records(conn: &Connection, owner: Owner<'_>) -> Result<Vec<SyncRecord>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, token, body FROM record
         WHERE owner_id = ?1 AND collection = ?2 AND deleted = 0 ORDER BY id",
    )?;
    let records = stmt
        .query_map(params![owner.device_id, owner.collection.as_str()], |r| {
            Ok(SyncRecord { id: r.get(0)?, token: r.get(1)?, body: r.get(2)? })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(records)
}

fn parse_collection(s: &str) -> Result<Collection, DbError> {
    Collection::parse(s).ok_or_else(|| DbError::Corrupt(format!("unknown collection {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    const OWNER: Owner<'static> = Owner { account_id: "acct", device_id: "dev", collection: Collection::Tabs };

    fn put(id: &str, replaces: Option<&str>, token: &str) -> RecordChange {
        RecordChange {
            id: id.into(),
            replaces: replaces.map(Into::into),
            record: Some(SyncRecord { id: id.into(), token: token.into(), body: "Ym9keQ==".into() }),
        }
    }

    fn delete(id: &str, replaces: &str) -> RecordChange {
        RecordChange { id: id.into(), replaces: Some(replaces.into()), record: None }
    }

    fn tok(c: char) -> String {
        c.to_string().repeat(40)
    }

    /// Uploads with no quota to speak of.
    fn upload(
        conn: &mut Connection,
        owner: Owner<'_>,
        changes: &[RecordChange],
        now: i64,
    ) -> Result<UploadOutcome, DbError> {
        super::upload(conn, owner, changes, now, Quota { records: u64::MAX, bytes: u64::MAX })
    }

    fn applied(outcome: UploadOutcome) -> (String, bool) {
        match outcome {
            UploadOutcome::Applied { token, changed } => (token, changed),
            other => panic!("expected applied, got {other:?}"),
        }
    }

    #[test]
    fn batch_applies_in_order_and_conflicts_apply_nothing() {
        let db = Db::open_in_memory().unwrap();
        let mut conn = db.conn.lock().unwrap();
        let (a, b) = (tok('a'), tok('b'));
        // The same id twice in one batch: the second names the first's token.
        let (t1, changed) =
            applied(upload(&mut conn, OWNER, &[put("t:1", None, &a), put("t:1", Some(&a), &b)], 1).unwrap());
        assert!(changed);
        assert_eq!(t1, collection_token([("t:1", b.as_str())]));

        // A stale replace among good ones: nothing applied, the conflict named.
        let outcome = upload(&mut conn, OWNER, &[put("t:2", None, &a), delete("t:1", &a)], 2).unwrap();
        assert_eq!(
            outcome,
            UploadOutcome::Conflict {
                conflicts: vec![Conflict { id: "t:1".into(), server_token: Some(b.clone()) }],
                token: t1.clone()
            }
        );
        assert_eq!(live_token(&conn, OWNER, "t:2").unwrap(), None);

        // Deleting, then the same delete again (a retry) is a no-op.
        let (t2, _) = applied(upload(&mut conn, OWNER, &[delete("t:1", &b)], 3).unwrap());
        assert_eq!(t2, empty_token());
        let (t3, changed) = applied(upload(&mut conn, OWNER, &[delete("t:1", &b)], 4).unwrap());
        assert_eq!((t3, changed), (t2, false));
    }

    fn usage(conn: &Connection) -> (i64, i64) {
        conn.query_row("SELECT records, bytes FROM device_usage WHERE device_id = 'dev'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    }

    #[test]
    fn a_batch_that_grows_a_device_over_its_quota_applies_nothing() {
        let db = Db::open_in_memory().unwrap();
        let mut conn = db.conn.lock().unwrap();
        let (a, b) = (tok('a'), tok('b'));
        // Bodies are 8 characters: two records fit, by count and by bytes.
        let two = Quota { records: 2, bytes: 16 };
        applied(super::upload(&mut conn, OWNER, &[put("t:1", None, &a), put("t:2", None, &a)], 1, two).unwrap());
        assert_eq!(usage(&conn), (2, 16));
        let outcome = super::upload(&mut conn, OWNER, &[put("t:3", None, &a)], 2, two).unwrap();
        assert_eq!(outcome, UploadOutcome::OverQuota { usage: Usage { records: 3, bytes: 24 }, quota: two });
        assert_eq!(live_token(&conn, OWNER, "t:3").unwrap(), None, "nothing applied");
        assert_eq!(usage(&conn), (2, 16), "usage as before");
        // Replacing in place keeps the usage; it goes.
        applied(super::upload(&mut conn, OWNER, &[put("t:1", Some(&a), &b)], 3, two).unwrap());
        assert_eq!(usage(&conn), (2, 16));
        // Over a lowered quota, what shrinks the device still goes.
        let one = Quota { records: 1, bytes: 1 };
        assert!(matches!(
            super::upload(&mut conn, OWNER, &[put("t:2", Some(&a), &b)], 4, one).unwrap(),
            UploadOutcome::Applied { .. }
        ));
        applied(super::upload(&mut conn, OWNER, &[delete("t:2", &b)], 5, one).unwrap());
        assert_eq!(usage(&conn), (1, 8));
        // Deleting tombstones keeps the count of live records only.
        applied(super::upload(&mut conn, OWNER, &[delete("t:2", &b)], 6, one).unwrap());
        assert_eq!(usage(&conn), (1, 8));
        delete_device_records(&conn, "dev").unwrap();
        let left: i64 = conn.query_row("SELECT count(*) FROM device_usage", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn log_is_trimmed_and_old_tombstones_purged() {
        let db = Db::open_in_memory().unwrap();
        let mut conn = db.conn.lock().unwrap();
        let (a, b) = (tok('a'), tok('b'));
        applied(upload(&mut conn, OWNER, &[put("t:gone", None, &a)], 1).unwrap());
        applied(upload(&mut conn, OWNER, &[delete("t:gone", &a)], 1).unwrap());
        // Flip one record back and forth until the log has rolled over.
        let mut current = None::<String>;
        for i in 0..CHANGE_LOG_ENTRIES + 2 {
            let next = if i % 2 == 0 { a.clone() } else { b.clone() };
            applied(upload(&mut conn, OWNER, &[put("t:1", current.as_deref(), &next)], 1).unwrap());
            current = Some(next);
        }
        let entries: i64 = conn.query_row("SELECT count(*) FROM change_log", [], |r| r.get(0)).unwrap();
        assert_eq!(entries, CHANGE_LOG_ENTRIES as i64);
        let tombstones: i64 =
            conn.query_row("SELECT count(*) FROM record WHERE deleted = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(tombstones, 0);
        // The empty collection's token (seq 0) has left the log.
        assert_eq!(log_seq(&conn, OWNER, &empty_token()).unwrap(), None);
    }
}
