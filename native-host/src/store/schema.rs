//! Versioned migrations, tracked in `PRAGMA user_version`. Append new steps;
//! never edit a released one.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: this device's registration, one per server.
    "CREATE TABLE device (
        server_url   TEXT PRIMARY KEY NOT NULL,
        id           TEXT NOT NULL,
        account_id   TEXT NOT NULL,
        name         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        token_sealed BLOB NOT NULL,
        created_at   INTEGER NOT NULL
    ) STRICT;",
];

pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > LATEST {
        return Err(StoreError::TooNew { path: path.display().to_string(), found, known: LATEST });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
