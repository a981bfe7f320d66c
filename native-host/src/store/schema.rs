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
    // 2: continuation. Local records are this device's captured state (body
    // NULL: deleted, kept until the server has the tombstone); the outbox
    // holds every unsent change in order, with its own copy of the body so
    // intermediate states are sent too; remote records are other devices'
    // state after decryption.
    "CREATE TABLE account_key (
        server_url TEXT PRIMARY KEY NOT NULL,
        key_sealed BLOB NOT NULL
    ) STRICT;
    CREATE TABLE local_record (
        collection   TEXT NOT NULL,
        id           TEXT NOT NULL,
        token        TEXT,
        body         TEXT,
        server_token TEXT,
        PRIMARY KEY (collection, id)
    ) STRICT;
    CREATE TABLE outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        collection TEXT NOT NULL,
        id         TEXT NOT NULL,
        token      TEXT,
        body       TEXT
    ) STRICT;
    CREATE TABLE remote_record (
        owner      TEXT NOT NULL,
        collection TEXT NOT NULL,
        id         TEXT NOT NULL,
        token      TEXT NOT NULL,
        body       TEXT NOT NULL,
        PRIMARY KEY (owner, collection, id)
    ) STRICT;
    CREATE TABLE remote_collection (
        owner      TEXT NOT NULL,
        collection TEXT NOT NULL,
        token      TEXT NOT NULL,
        PRIMARY KEY (owner, collection)
    ) STRICT;
    CREATE TABLE account_device (
        id           TEXT PRIMARY KEY NOT NULL,
        name         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        online       INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE sync_meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE received_tab (
        send_id        TEXT PRIMARY KEY NOT NULL,
        from_device    TEXT NOT NULL,
        url            TEXT NOT NULL,
        title          TEXT NOT NULL,
        state          TEXT NOT NULL,
        reported_state TEXT,
        received_ms    INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE sent_tab (
        send_id   TEXT PRIMARY KEY NOT NULL,
        target    TEXT NOT NULL,
        url       TEXT NOT NULL,
        title     TEXT NOT NULL,
        state     TEXT NOT NULL,
        sent_ms   INTEGER NOT NULL
    ) STRICT;",
    // 3: co-browsing frame keys, sealed by the vault, kept so a recorded
    // session can be replayed after the live session (and this host) ended.
    "CREATE TABLE cobrowse_key (
        server_url TEXT NOT NULL,
        session_id TEXT NOT NULL,
        role       TEXT NOT NULL,
        key_sealed BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (server_url, session_id)
    ) STRICT;",
];

pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > LATEST {
        return Err(StoreError::TooNew { path: path.display().to_string(), found, known: LATEST });
    }
    // No host writes a negative version; taking one as "done" would skip every step.
    let done =
        usize::try_from(found).map_err(|_| StoreError::BadVersion { path: path.display().to_string(), found })?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
