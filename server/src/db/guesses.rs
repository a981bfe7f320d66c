//! Failed code guesses (pairing claims, co-browsing joins) per client, kept
//! for the length of the rate-limit window so a restart does not reset them.
//! `scope` keeps the limits apart; `client` is the address the limiter keys
//! on (`http::extract::ClientAddr`).

use rusqlite::{params, Connection};

use super::DbError;

/// Counts one attempt of `client` in `scope` at `now`, unless it already has
/// `limit` since `since_ms` (exclusive), and forgets every attempt (of any
/// client) at or before `since_ms`, which has slid out of the window.
/// Counting and inserting are one transaction, so concurrent attempts cannot
/// all pass under the limit. `Ok(id)` of the counted attempt (for
/// [`release`]), or `Err(oldest)`: when the oldest counted attempt was made.
pub fn reserve(
    conn: &mut Connection,
    scope: &str,
    client: &str,
    now: i64,
    since_ms: i64,
    limit: u64,
) -> Result<Result<i64, i64>, DbError> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM guess_failure WHERE scope = ?1 AND at_ms <= ?2", params![scope, since_ms])?;
    let (count, oldest) = tx.query_row(
        "SELECT count(*), min(at_ms) FROM guess_failure
         WHERE scope = ?1 AND client = ?2 AND at_ms > ?3",
        params![scope, client, since_ms],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
    )?;
    let result = match oldest {
        Some(oldest) if u64::try_from(count).unwrap_or(0) >= limit => Err(oldest),
        _ => {
            tx.execute(
                "INSERT INTO guess_failure (scope, client, at_ms) VALUES (?1, ?2, ?3)",
                params![scope, client, now],
            )?;
            Ok(tx.last_insert_rowid())
        }
    };
    tx.commit()?;
    Ok(result)
}

/// Forgets the attempt [`reserve`] counted as `id` (matched on all its
/// columns, so a row id reused after the window forgot it is left alone).
pub fn release(conn: &mut Connection, id: i64, scope: &str, client: &str, at_ms: i64) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM guess_failure WHERE rowid = ?1 AND scope = ?2 AND client = ?3 AND at_ms = ?4",
        params![id, scope, client, at_ms],
    )?;
    Ok(())
}
