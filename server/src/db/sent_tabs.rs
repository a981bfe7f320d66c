//! Tabs sent to another device of the account, and how far each got.

use baton_shared::limits::{MAX_SENT_TABS_PER_TARGET, MAX_SENT_TAB_BYTES_PER_TARGET, SENT_TAB_TTL_MS};
use baton_shared::session::DeliveryState;
use baton_shared::sync::PendingTab;
use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;

#[derive(Debug)]
pub struct NewSend {
    pub send_id: String,
    pub account_id: String,
    pub sender_id: String,
    pub target_id: String,
    pub body: String,
    pub now: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Stored,
    /// The target is not another device of the account.
    UnknownTarget,
    /// The target holds as many sent tabs (or bytes of them) as it may.
    TargetFull,
}

/// Stores the send.
pub fn send(conn: &Connection, new: &NewSend) -> Result<Sent, DbError> {
    let target_ok = new.target_id != new.sender_id
        && conn
            .query_row(
                "SELECT 1 FROM device WHERE id = ?1 AND account_id = ?2",
                params![new.target_id, new.account_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
    if !target_ok {
        return Ok(Sent::UnknownTarget);
    }
    expire(conn, new.now)?;
    let (count, bytes): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM sent_tab WHERE target_id = ?1",
        params![new.target_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let len = i64::try_from(new.body.len()).unwrap_or(i64::MAX);
    if count >= i64::from(MAX_SENT_TABS_PER_TARGET)
        || bytes.saturating_add(len) > i64::try_from(MAX_SENT_TAB_BYTES_PER_TARGET).unwrap_or(i64::MAX)
    {
        return Ok(Sent::TargetFull);
    }
    conn.execute(
        "INSERT INTO sent_tab (id, account_id, sender_id, target_id, body, state, sent_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            new.send_id,
            new.account_id,
            new.sender_id,
            new.target_id,
            new.body,
            state_name(DeliveryState::Sent),
            new.now
        ],
    )?;
    Ok(Sent::Stored)
}

/// Tabs sent to `target_id` that it has not yet reported delivered, oldest first.
pub fn pending(conn: &Connection, target_id: &str, now: i64) -> Result<Vec<PendingTab>, DbError> {
    expire(conn, now)?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, sender_id, body, sent_ms FROM sent_tab
         WHERE target_id = ?1 AND state = ?2 ORDER BY sent_ms, id",
    )?;
    let tabs = stmt
        .query_map(params![target_id, state_name(DeliveryState::Sent)], |r| {
            Ok(PendingTab { send_id: r.get(0)?, from_device: r.get(1)?, body: r.get(2)?, sent_ms: r.get(3)? })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tabs)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// The state moved forward; tell the sender.
    Advanced { sender_id: String },
    /// Already there or beyond (a retry, or "delivered" after "opened").
    Unchanged,
}

/// Moves a send forward; `None` if `target_id` has no such send.
pub fn advance(
    conn: &Connection,
    send_id: &str,
    target_id: &str,
    state: DeliveryState,
) -> Result<Option<Progress>, DbError> {
    let row = conn
        .query_row(
            "SELECT sender_id, state FROM sent_tab WHERE id = ?1 AND target_id = ?2",
            params![send_id, target_id],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?;
    let Some((sender_id, current)) = row else {
        return Ok(None);
    };
    let current = parse_state(&current)?;
    if rank(state) <= rank(current) {
        return Ok(Some(Progress::Unchanged));
    }
    conn.execute("UPDATE sent_tab SET state = ?2 WHERE id = ?1", params![send_id, state_name(state)])?;
    Ok(Some(Progress::Advanced { sender_id }))
}

/// Forgets sends from or to a device (used when it changes accounts).
pub fn delete_for_device(conn: &Connection, device_id: &str) -> Result<(), DbError> {
    conn.execute("DELETE FROM sent_tab WHERE sender_id = ?1 OR target_id = ?1", params![device_id])?;
    Ok(())
}

fn expire(conn: &Connection, now: i64) -> Result<(), DbError> {
    conn.execute("DELETE FROM sent_tab WHERE sent_ms < ?1", params![now.saturating_sub(SENT_TAB_TTL_MS)])?;
    Ok(())
}

fn rank(state: DeliveryState) -> u8 {
    match state {
        DeliveryState::Sent => 0,
        DeliveryState::Delivered => 1,
        DeliveryState::Opened => 2,
    }
}

fn state_name(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Sent => "sent",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Opened => "opened",
    }
}

fn parse_state(s: &str) -> Result<DeliveryState, DbError> {
    [DeliveryState::Sent, DeliveryState::Delivered, DeliveryState::Opened]
        .into_iter()
        .find(|st| state_name(*st) == s)
        .ok_or_else(|| DbError::Corrupt(format!("sent tab state {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn old_sends_expire_and_state_only_moves_forward() {
        let db = Db::open_in_memory().unwrap();
        let conn = db.conn.lock().unwrap();
        conn.execute_batch(
            "INSERT INTO account VALUES ('a', 0);
             INSERT INTO device VALUES ('s', 'a', 'S', 'laptop', x'01', 0, 0);
             INSERT INTO device VALUES ('t', 'a', 'T', 'phone', x'02', 0, 0);",
        )
        .unwrap();
        let new = |id: &str, now| NewSend {
            send_id: id.into(),
            account_id: "a".into(),
            sender_id: "s".into(),
            target_id: "t".into(),
            body: "eA==".into(),
            now,
        };
        assert_eq!(send(&conn, &new("old", 1_000)).unwrap(), Sent::Stored);
        assert_eq!(send(&conn, &new("new", 1_000 + SENT_TAB_TTL_MS)).unwrap(), Sent::Stored);
        let ids: Vec<String> =
            pending(&conn, "t", 2_000 + SENT_TAB_TTL_MS).unwrap().into_iter().map(|p| p.send_id).collect();
        assert_eq!(ids, ["new"]);

        let opened = advance(&conn, "new", "t", DeliveryState::Opened).unwrap();
        assert_eq!(opened, Some(Progress::Advanced { sender_id: "s".into() }));
        let late = advance(&conn, "new", "t", DeliveryState::Delivered).unwrap();
        assert_eq!(late, Some(Progress::Unchanged));
        assert_eq!(advance(&conn, "new", "s", DeliveryState::Opened).unwrap(), None);
        // A device cannot send to itself.
        let mut to_self = new("self", 3_000 + SENT_TAB_TTL_MS);
        to_self.target_id = "s".into();
        assert_eq!(send(&conn, &to_self).unwrap(), Sent::UnknownTarget);

        // A target holds so many sends, delivered or not, until they expire.
        let now = 4_000 + SENT_TAB_TTL_MS;
        for i in 1..MAX_SENT_TABS_PER_TARGET {
            assert_eq!(send(&conn, &new(&format!("n{i}"), now)).unwrap(), Sent::Stored, "{i}");
        }
        assert_eq!(send(&conn, &new("one too many", now)).unwrap(), Sent::TargetFull);
        assert_eq!(send(&conn, &new("later", now + SENT_TAB_TTL_MS)).unwrap(), Sent::Stored);
        // And so many bytes.
        let mut big = new("big", now + SENT_TAB_TTL_MS);
        big.body = "x".repeat(MAX_SENT_TAB_BYTES_PER_TARGET);
        assert_eq!(send(&conn, &big).unwrap(), Sent::TargetFull);
    }
}
