//! Versioned schema. `PRAGMA user_version` counts the steps applied; each step
//! runs in its own transaction together with the version bump, so a crash
//! leaves the database at a whole version. Append steps; never edit one.

use rusqlite::Connection;

use super::DbError;

const MIGRATIONS: &[&str] = &[
    // 1: accounts and their devices. Only the SHA-256 of a device token is kept.
    "CREATE TABLE account (
        id          TEXT PRIMARY KEY,
        created_at  INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE device (
        id          TEXT PRIMARY KEY,
        account_id  TEXT NOT NULL REFERENCES account(id),
        name        TEXT NOT NULL,
        kind        TEXT NOT NULL,
        token_hash  BLOB NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX device_account ON device(account_id);",
    // 2: delta sync, pairing and sent tabs. Record bodies, keys and tabs are
    // ciphertext from the hosts; the server sees ids and keyed tokens only.
    "CREATE TABLE record (
        owner_id    TEXT NOT NULL,
        collection  TEXT NOT NULL,
        id          TEXT NOT NULL,
        account_id  TEXT NOT NULL,
        token       TEXT NOT NULL,
        body        TEXT NOT NULL,
        deleted     INTEGER NOT NULL,
        changed_seq INTEGER NOT NULL,
        updated_ms  INTEGER NOT NULL,
        PRIMARY KEY (owner_id, collection, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX record_changed ON record(owner_id, collection, changed_seq);
    CREATE TABLE collection_state (
        owner_id    TEXT NOT NULL,
        collection  TEXT NOT NULL,
        account_id  TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        token       TEXT NOT NULL,
        PRIMARY KEY (owner_id, collection)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE change_log (
        owner_id    TEXT NOT NULL,
        collection  TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        token       TEXT NOT NULL,
        PRIMARY KEY (owner_id, collection, seq)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX change_log_token ON change_log(owner_id, collection, token);
    CREATE TABLE pairing (
        id                  TEXT PRIMARY KEY,
        lookup              TEXT NOT NULL,
        offerer_id          TEXT NOT NULL,
        offer_public_key    TEXT NOT NULL,
        claimer_id          TEXT,
        claim_public_key    TEXT,
        wrapped_account_key TEXT,
        account_id          TEXT,
        state               TEXT NOT NULL,
        failed_claims       INTEGER NOT NULL,
        created_ms          INTEGER NOT NULL,
        expires_ms          INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX pairing_lookup ON pairing(lookup, expires_ms);
    CREATE TABLE sent_tab (
        id          TEXT PRIMARY KEY,
        account_id  TEXT NOT NULL,
        sender_id   TEXT NOT NULL,
        target_id   TEXT NOT NULL,
        body        TEXT NOT NULL,
        state       TEXT NOT NULL,
        sent_ms     INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX sent_tab_target ON sent_tab(target_id, state, sent_ms);",
    // 3: co-browsing sessions, their hash-chained audit log and recorded
    // frames (ciphertext from the hosts).
    "CREATE TABLE cobrowse_session (
        id                  TEXT PRIMARY KEY,
        lookup              TEXT NOT NULL,
        visitor_id          TEXT NOT NULL,
        visitor_account     TEXT NOT NULL,
        visitor_public_key  TEXT NOT NULL,
        operator_id         TEXT,
        operator_public_key TEXT,
        operator_name       TEXT,
        state               TEXT NOT NULL,
        recording           INTEGER NOT NULL,
        failed_joins        INTEGER NOT NULL,
        created_ms          INTEGER NOT NULL,
        expires_ms          INTEGER NOT NULL,
        ended_ms            INTEGER
    ) STRICT;
    CREATE INDEX cobrowse_session_lookup ON cobrowse_session(lookup, expires_ms);
    CREATE INDEX cobrowse_session_state ON cobrowse_session(state, expires_ms);
    CREATE TABLE cobrowse_audit (
        session_id  TEXT NOT NULL REFERENCES cobrowse_session(id),
        seq         INTEGER NOT NULL,
        at_ms       INTEGER NOT NULL,
        role        TEXT,
        event       TEXT NOT NULL,
        hash        TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE cobrowse_frame (
        session_id  TEXT NOT NULL REFERENCES cobrowse_session(id),
        seq         INTEGER NOT NULL,
        from_role   TEXT NOT NULL,
        at_ms       INTEGER NOT NULL,
        ct          TEXT NOT NULL
    ) STRICT;
    CREATE INDEX cobrowse_frame_session ON cobrowse_frame(session_id);",
    // 4: organisations: accounts as admins, operators or members (one
    // organisation per account), retention, and the operator allowlist.
    "CREATE TABLE org (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        retention_days  INTEGER NOT NULL,
        created_ms      INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE org_member (
        org_id      TEXT NOT NULL REFERENCES org(id),
        account_id  TEXT NOT NULL UNIQUE,
        role        TEXT NOT NULL,
        PRIMARY KEY (org_id, account_id)
    ) STRICT;
    CREATE TABLE org_operator_allow (
        org_id      TEXT NOT NULL REFERENCES org(id),
        account_id  TEXT NOT NULL,
        PRIMARY KEY (org_id, account_id)
    ) STRICT;
    CREATE INDEX cobrowse_session_visitor_account ON cobrowse_session(visitor_account);",
    // 5: failed code guesses per client (rate limits survive a restart);
    // rows older than the window are deleted as it slides.
    "CREATE TABLE guess_failure (
        scope   TEXT NOT NULL,
        client  TEXT NOT NULL,
        at_ms   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX guess_failure_client ON guess_failure(scope, client, at_ms);
    CREATE INDEX guess_failure_at ON guess_failure(scope, at_ms);",
    // 6: the visitor's consent deadline, set when an operator joins.
    "ALTER TABLE cobrowse_session ADD COLUMN consent_by_ms INTEGER;
    CREATE INDEX cobrowse_session_consent ON cobrowse_session(state, consent_by_ms);",
    // 7: recorded bytes per session, and whether recording stopped at its cap.
    "ALTER TABLE cobrowse_session ADD COLUMN recorded_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE cobrowse_session ADD COLUMN recording_full INTEGER NOT NULL DEFAULT 0;
    UPDATE cobrowse_session SET recorded_bytes =
        (SELECT coalesce(sum(length(ct)), 0) FROM cobrowse_frame f WHERE f.session_id = cobrowse_session.id);",
    // 8: why an ended session ended, for sockets that connect afterwards.
    "ALTER TABLE cobrowse_session ADD COLUMN end_reason TEXT;",
    // 9: the claimer's proof that it knows the pairing code's secret part.
    "ALTER TABLE pairing ADD COLUMN claim_proof TEXT;",
    // 10: live records and their bytes per device, for the storage quota;
    // kept by every upload, started from what is stored.
    "CREATE TABLE device_usage (
        device_id TEXT PRIMARY KEY,
        records   INTEGER NOT NULL,
        bytes     INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO device_usage (device_id, records, bytes)
        SELECT owner_id, COUNT(*), SUM(LENGTH(body)) FROM record WHERE deleted = 0 GROUP BY owner_id;",
    // 11: invitations into an organisation, accepted by the invited account
    // (only the SHA-256 of the code is kept; single use).
    "CREATE TABLE org_invite (
        code_hash   BLOB PRIMARY KEY,
        org_id      TEXT NOT NULL REFERENCES org(id),
        role        TEXT NOT NULL,
        expires_ms  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;",
    // 12: recorded bytes per visitor account, for its cap across sessions;
    // kept by the recorder and by retention, started from what is stored.
    "CREATE TABLE account_recording (
        account_id TEXT PRIMARY KEY,
        bytes      INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO account_recording (account_id, bytes)
        SELECT visitor_account, SUM(recorded_bytes) FROM cobrowse_session GROUP BY visitor_account;",
    // 13: the highest numbered audit entry applied from each side, so an
    // entry resent after a lost connection is applied once.
    "ALTER TABLE cobrowse_session ADD COLUMN visitor_applied INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE cobrowse_session ADD COLUMN operator_applied INTEGER NOT NULL DEFAULT 0;",
    // 14: a stopped recording keeps the cap it met (the session's or its
    // account's), not only that it stopped; taken from its audit entry.
    "ALTER TABLE cobrowse_session RENAME COLUMN recording_full TO recording_stopped_at;
    UPDATE cobrowse_session SET recording_stopped_at = COALESCE(
        (SELECT json_extract(a.event, '$.max_bytes') FROM cobrowse_audit a
         WHERE a.session_id = cobrowse_session.id AND json_extract(a.event, '$.kind') = 'recording_limit_reached'
         ORDER BY a.seq DESC LIMIT 1), recording_stopped_at)
    WHERE recording_stopped_at != 0;",
];

pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn apply(conn: &mut Connection) -> Result<(), DbError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > latest_version() {
        return Err(DbError::SchemaTooNew { found: current, known: latest_version() });
    }
    let done = usize::try_from(current)
        .map_err(|_| DbError::Corrupt(format!("schema version {current} is not one this server wrote")))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
    }

    /// A database migrated up to `version` only, as an older server left it.
    fn at_version(version: usize) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", version as i64).unwrap();
        conn
    }

    #[test]
    fn fresh_database_reaches_latest_and_reapplying_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        assert_eq!(version(&conn), latest_version());
        apply(&mut conn).unwrap();
        assert_eq!(version(&conn), latest_version());
    }

    #[test]
    fn device_usage_starts_from_the_records_stored_before() {
        let mut conn = at_version(9);
        for (owner, id, body, deleted) in
            [("d1", "t:1", "abcd", 0), ("d1", "t:2", "ab", 0), ("d1", "t:3", "", 1), ("d2", "t:1", "abc", 0)]
        {
            conn.execute(
                "INSERT INTO record (owner_id, collection, id, account_id, token, body, deleted, changed_seq, updated_ms)
                 VALUES (?1, 'tabs', ?2, 'a', 't', ?3, ?4, 1, 0)",
                rusqlite::params![owner, id, body, deleted],
            )
            .unwrap();
        }
        apply(&mut conn).unwrap();
        let usage: Vec<(String, i64, i64)> = conn
            .prepare("SELECT device_id, records, bytes FROM device_usage ORDER BY device_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(usage, [("d1".to_owned(), 2, 6), ("d2".to_owned(), 1, 3)]);
    }

    #[test]
    fn a_stopped_recording_keeps_the_cap_its_audit_entry_names() {
        let mut conn = at_version(13);
        for (id, full) in [("stopped", 1), ("recording", 0)] {
            conn.execute(
                "INSERT INTO cobrowse_session (id, lookup, visitor_id, visitor_account, visitor_public_key, state,
                     recording, failed_joins, created_ms, expires_ms, recording_full)
                 VALUES (?1, 'ABCD', 'v', 'a', 'k', 'active', 0, 0, 0, 0, ?2)",
                rusqlite::params![id, full],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO cobrowse_audit (session_id, seq, at_ms, role, event, hash)
             VALUES ('stopped', 1, 0, NULL, '{\"kind\":\"recording_limit_reached\",\"max_bytes\":20}', 'h')",
            [],
        )
        .unwrap();
        apply(&mut conn).unwrap();
        let caps: Vec<(String, i64)> = conn
            .prepare("SELECT id, recording_stopped_at FROM cobrowse_session ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(caps, [("recording".to_owned(), 0), ("stopped".to_owned(), 20)]);
    }

    #[test]
    fn newer_schema_is_refused_and_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = apply(&mut conn).unwrap_err();
        assert!(matches!(err, DbError::SchemaTooNew { found: 99, .. }), "{err}");
        assert_eq!(version(&conn), 99);
    }

    #[test]
    fn failed_step_leaves_version_unchanged() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A table the first step wants to create already exists: the step fails whole.
        conn.execute_batch("CREATE TABLE device (x INTEGER)").unwrap();
        assert!(apply(&mut conn).is_err());
        assert_eq!(version(&conn), 0);
        let accounts: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'account'", [], |r| r.get(0)).unwrap();
        assert_eq!(accounts, 0);
    }
}
