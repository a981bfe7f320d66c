//! Failed code guesses (pairing claims, co-browsing joins) per client, kept
//! for the length of the rate-limit window so a restart does not reset them.
//! `scope` keeps the limits apart; `client` is the address the limiter keys
//! on (`http::extract::ClientAddr`).

use rusqlite::{params, Connection};

use super::DbError;

/// Failures of `client` in `scope` since `since_ms` (exclusive): how many,
/// and the oldest one's time.
pub fn recent(
    conn: &mut Connection,
    scope: &str,
    client: &str,
    since_ms: i64,
) -> Result<(u64, Option<i64>), DbError> {
    let (count, oldest) = conn.query_row(
        "SELECT count(*), min(at_ms) FROM guess_failure
         WHERE scope = ?1 AND client = ?2 AND at_ms > ?3",
        params![scope, client, since_ms],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
    )?;
    Ok((u64::try_from(count).unwrap_or(0), oldest))
}

/// Records one failure at `now` and forgets every failure (of any client)
/// at or before `forget_until_ms`, which has slid out of the window.
pub fn record(
    conn: &mut Connection,
    scope: &str,
    client: &str,
    now: i64,
    forget_until_ms: i64,
) -> Result<(), DbError> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM guess_failure WHERE scope = ?1 AND at_ms <= ?2",
        params![scope, forget_until_ms],
    )?;
    tx.execute(
        "INSERT INTO guess_failure (scope, client, at_ms) VALUES (?1, ?2, ?3)",
        params![scope, client, now],
    )?;
    tx.commit()?;
    Ok(())
}
