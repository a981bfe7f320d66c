//! Organisations: accounts belong to at most one, as `admin`, `operator` or
//! `member`. An organisation's policy names how long its co-browsing
//! records are kept and, optionally, which operator accounts may join its
//! members' sessions.
//!
//! An account joins an organisation by accepting an invitation (a
//! single-use code an admin made, [`invite`] / [`accept`]): an admin cannot
//! enrol an account that did not agree to it, since membership opens its
//! co-browsing sessions to the organisation's operators and audit.
//!
//! Joining rules ([`join_denied`]): when the visitor's account belongs to an
//! organisation, only that organisation's operators and admins may join, and
//! only those on its allowlist when one is set; an operator or admin of an
//! organisation joins only sessions of its own organisation. Sessions
//! between accounts without any organisation are not affected.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::DbError;
use baton_shared::api::DeviceRecord;

pub const DAY_MS: i64 = 86_400_000;
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
pub const RETENTION_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;
/// How long an invitation into an organisation can be accepted.
pub const INVITE_TTL_MS: i64 = 7 * DAY_MS;

pub use baton_shared::api::OrgRole;

fn parse_role(s: &str) -> Result<OrgRole, DbError> {
    match s {
        "admin" => Ok(OrgRole::Admin),
        "operator" => Ok(OrgRole::Operator),
        "member" => Ok(OrgRole::Member),
        other => Err(DbError::Corrupt(format!("organisation role {other:?}"))),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub org_id: String,
    pub role: OrgRole,
}

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("this account already belongs to an organisation")]
    AlreadyMember,
    #[error("only an admin of this organisation may do that")]
    NotAdmin,
    #[error("that account is not in this organisation; invite it (POST /v1/orgs/{{org}}/invites)")]
    NotMember,
    #[error("that invitation is unknown, used or expired; ask the organisation's admin for a new one")]
    UnknownInvite,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for OrgError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e.into())
    }
}

pub fn membership(conn: &Connection, account_id: &str) -> Result<Option<Membership>, DbError> {
    let row = conn
        .query_row("SELECT org_id, role FROM org_member WHERE account_id = ?1", params![account_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    row.map(|(org_id, role)| Ok(Membership { org_id, role: parse_role(&role)? })).transpose()
}

/// Creates an organisation with `admin` (an account) as its first admin.
pub fn create(
    conn: &mut Connection,
    org_id: &str,
    name: &str,
    admin: &str,
    retention_days: u32,
    now: i64,
) -> Result<(), OrgError> {
    let tx = conn.transaction()?;
    if membership(&tx, admin)?.is_some() {
        return Err(OrgError::AlreadyMember);
    }
    tx.execute(
        "INSERT INTO org (id, name, retention_days, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![org_id, name, retention_days, now],
    )?;
    tx.execute("INSERT INTO org_member (org_id, account_id, role) VALUES (?1, ?2, 'admin')", params![org_id, admin])?;
    tx.commit()?;
    Ok(())
}

/// `caller` must be an admin of `org_id`.
pub fn require_admin(conn: &Connection, org_id: &str, caller: &DeviceRecord) -> Result<(), OrgError> {
    match membership(conn, &caller.account_id)? {
        Some(m) if m.org_id == org_id && m.role == OrgRole::Admin => Ok(()),
        _ => Err(OrgError::NotAdmin),
    }
}

/// Changes the role of a member of the organisation (accounts come in by
/// accepting an invitation).
pub fn set_member(
    conn: &mut Connection,
    org_id: &str,
    caller: &DeviceRecord,
    account_id: &str,
    role: OrgRole,
) -> Result<(), OrgError> {
    let tx = conn.transaction()?;
    require_admin(&tx, org_id, caller)?;
    match membership(&tx, account_id)? {
        Some(m) if m.org_id == org_id => {}
        _ => return Err(OrgError::NotMember),
    }
    tx.execute(
        "UPDATE org_member SET role = ?3 WHERE org_id = ?1 AND account_id = ?2",
        params![org_id, account_id, role.as_str()],
    )?;
    tx.commit()?;
    Ok(())
}

/// Stores an invitation into the organisation with `role`, under the hash of
/// its code; expired ones go meanwhile.
pub fn invite(
    conn: &mut Connection,
    org_id: &str,
    caller: &DeviceRecord,
    code_hash: &[u8],
    role: OrgRole,
    now: i64,
) -> Result<i64, OrgError> {
    let tx = conn.transaction()?;
    require_admin(&tx, org_id, caller)?;
    tx.execute("DELETE FROM org_invite WHERE expires_ms <= ?1", params![now])?;
    let expires_ms = now.saturating_add(INVITE_TTL_MS);
    tx.execute(
        "INSERT INTO org_invite (code_hash, org_id, role, expires_ms) VALUES (?1, ?2, ?3, ?4)",
        params![code_hash, org_id, role.as_str(), expires_ms],
    )?;
    tx.commit()?;
    Ok(expires_ms)
}

/// The account accepts the invitation whose code hashes to `code_hash`: it
/// joins with the invitation's role, and the invitation is used up.
pub fn accept(conn: &mut Connection, code_hash: &[u8], account_id: &str, now: i64) -> Result<Membership, OrgError> {
    let tx = conn.transaction()?;
    let found = tx
        .query_row(
            "SELECT org_id, role FROM org_invite WHERE code_hash = ?1 AND expires_ms > ?2",
            params![code_hash, now],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?;
    let Some((org_id, role)) = found else {
        return Err(OrgError::UnknownInvite);
    };
    if membership(&tx, account_id)?.is_some() {
        return Err(OrgError::AlreadyMember);
    }
    tx.execute(
        "INSERT INTO org_member (org_id, account_id, role) VALUES (?1, ?2, ?3)",
        params![org_id, account_id, role],
    )?;
    tx.execute("DELETE FROM org_invite WHERE code_hash = ?1", params![code_hash])?;
    tx.commit()?;
    Ok(Membership { org_id, role: parse_role(&role)? })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgPolicy {
    pub retention_days: u32,
    /// Operator account ids; empty means every operator of the organisation.
    pub operator_allowlist: Vec<String>,
}

pub fn set_policy(
    conn: &mut Connection,
    org_id: &str,
    caller: &DeviceRecord,
    policy: &OrgPolicy,
) -> Result<(), OrgError> {
    let tx = conn.transaction()?;
    require_admin(&tx, org_id, caller)?;
    tx.execute("UPDATE org SET retention_days = ?2 WHERE id = ?1", params![org_id, policy.retention_days])?;
    tx.execute("DELETE FROM org_operator_allow WHERE org_id = ?1", params![org_id])?;
    for account in &policy.operator_allowlist {
        tx.execute(
            "INSERT OR IGNORE INTO org_operator_allow (org_id, account_id) VALUES (?1, ?2)",
            params![org_id, account],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn allowlist(conn: &Connection, org_id: &str) -> Result<Vec<String>, DbError> {
    let mut stmt =
        conn.prepare_cached("SELECT account_id FROM org_operator_allow WHERE org_id = ?1 ORDER BY account_id")?;
    let rows = stmt.query_map(params![org_id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// Why an operator may not join a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinDenied {
    #[error("this co-browsing session belongs to another organisation")]
    OtherOrganisation,
    #[error("this organisation's operators only join its own members' sessions")]
    OutsideOrganisation,
    #[error("this account is not an operator of the visitor's organisation")]
    NotOperator,
    #[error("this operator is not on the organisation's operator allowlist")]
    NotAllowlisted,
}

/// Whether `operator` may join a session of `visitor_account`. `None`: no
/// objection. Checked by `cobrowse::join` on the session it found.
pub fn join_denied(
    conn: &Connection,
    visitor_account: &str,
    operator: &DeviceRecord,
) -> Result<Option<JoinDenied>, DbError> {
    let visitor_org = membership(conn, visitor_account)?;
    let operator_org = membership(conn, &operator.account_id)?;
    let denied = match (&visitor_org, &operator_org) {
        (None, None) => None,
        (None, Some(op)) if op.role.operates() => Some(JoinDenied::OutsideOrganisation),
        (None, Some(_)) => None,
        (Some(v), Some(op)) if v.org_id != op.org_id => Some(JoinDenied::OtherOrganisation),
        (Some(_), None) => Some(JoinDenied::OtherOrganisation),
        (Some(v), Some(op)) => {
            let list = allowlist(conn, &v.org_id)?;
            if !op.role.operates() {
                Some(JoinDenied::NotOperator)
            } else if !list.is_empty() && !list.contains(&operator.account_id) {
                Some(JoinDenied::NotAllowlisted)
            } else {
                None
            }
        }
    };
    Ok(denied)
}

/// One session as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub state: String,
    pub visitor_device: String,
    pub visitor_name: String,
    pub operator_device: Option<String>,
    pub operator_name: Option<String>,
    pub recording: bool,
    pub created_ms: i64,
    pub ended_ms: Option<i64>,
}

pub fn sessions(conn: &Connection, org_id: &str, caller: &DeviceRecord) -> Result<Vec<SessionSummary>, OrgError> {
    require_admin(conn, org_id, caller)?;
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.state, s.visitor_id, COALESCE(d.name, ''), s.operator_id, s.operator_name,
                s.recording, s.created_ms, s.ended_ms
         FROM cobrowse_session s
         JOIN org_member m ON m.account_id = s.visitor_account AND m.org_id = ?1
         LEFT JOIN device d ON d.id = s.visitor_id
         ORDER BY s.created_ms, s.id",
    )?;
    let rows = stmt
        .query_map(params![org_id], |r| {
            Ok(SessionSummary {
                session_id: r.get(0)?,
                state: r.get(1)?,
                visitor_device: r.get(2)?,
                visitor_name: r.get(3)?,
                operator_device: r.get(4)?,
                operator_name: r.get(5)?,
                recording: r.get::<_, i64>(6)? != 0,
                created_ms: r.get(7)?,
                ended_ms: r.get(8)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One audit entry, as a line of the export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditLine {
    pub session_id: String,
    pub seq: i64,
    pub at_ms: i64,
    pub role: Option<String>,
    pub event: serde_json::Value,
    pub hash: String,
}

/// The organisation's audit log as JSON lines, session by session, in order.
pub fn audit_export(conn: &Connection, org_id: &str, caller: &DeviceRecord) -> Result<String, OrgError> {
    require_admin(conn, org_id, caller)?;
    let mut stmt = conn.prepare_cached(
        "SELECT a.session_id, a.seq, a.at_ms, a.role, a.event, a.hash
         FROM cobrowse_audit a
         JOIN cobrowse_session s ON s.id = a.session_id
         JOIN org_member m ON m.account_id = s.visitor_account AND m.org_id = ?1
         ORDER BY s.created_ms, a.session_id, a.seq",
    )?;
    let rows = stmt
        .query_map(params![org_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = String::new();
    for (session_id, seq, at_ms, role, event, hash) in rows {
        let event = serde_json::from_str(&event).map_err(|e| DbError::Corrupt(format!("audit event: {e}")))?;
        let line = AuditLine { session_id, seq, at_ms, role, event, hash };
        let text = serde_json::to_string(&line).map_err(|e| DbError::Corrupt(e.to_string()))?;
        out.push_str(&text);
        out.push('\n');
    }
    Ok(out)
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub sessions: u64,
    pub audit_entries: u64,
    pub frames: u64,
}

impl std::ops::AddAssign for Deleted {
    fn add_assign(&mut self, other: Deleted) {
        self.sessions += other.sessions;
        self.audit_entries += other.audit_entries;
        self.frames += other.frames;
    }
}

/// Deletes the sessions of organisation members (all organisations, or
/// `only_org`) that ended — or whose code expired — more than the
/// organisation's retention period ago, with their audit entries and
/// recorded frames. Live sessions are never deleted.
pub fn enforce_retention(conn: &mut Connection, only_org: Option<&str>, now: i64) -> Result<Deleted, DbError> {
    delete_due(
        conn,
        "SELECT s.id FROM cobrowse_session s
         JOIN org_member m ON m.account_id = s.visitor_account
         JOIN org o ON o.id = m.org_id
         WHERE (?1 IS NULL OR o.id = ?1)
           AND (s.state = 'ended' OR (s.state = 'waiting' AND s.expires_ms <= ?2))
           AND COALESCE(s.ended_ms, s.expires_ms) < ?2 - o.retention_days * ?3",
        params![only_org, now, DAY_MS],
    )
}

/// The same for the sessions of accounts in no organisation, with the
/// server's own retention period (`--session-retention-days`).
pub fn enforce_default_retention(conn: &mut Connection, days: u32, now: i64) -> Result<Deleted, DbError> {
    delete_due(
        conn,
        "SELECT s.id FROM cobrowse_session s
         WHERE NOT EXISTS (SELECT 1 FROM org_member m WHERE m.account_id = s.visitor_account)
           AND (s.state = 'ended' OR (s.state = 'waiting' AND s.expires_ms <= ?1))
           AND COALESCE(s.ended_ms, s.expires_ms) < ?1 - ?2 * ?3",
        params![now, days, DAY_MS],
    )
}

/// Deletes the sessions `due` (a query of their ids) lists, in one transaction.
fn delete_due(conn: &mut Connection, due: &str, params: impl rusqlite::Params) -> Result<Deleted, DbError> {
    let tx = conn.transaction()?;
    let ids: Vec<String> = {
        let mut stmt = tx.prepare_cached(due)?;
        let rows = stmt.query_map(params, |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
        rows
    };
    let deleted = delete_sessions(&tx, &ids)?;
    tx.commit()?;
    Ok(deleted)
}

/// Sessions with their audit entries and recorded frames.
fn delete_sessions(tx: &rusqlite::Transaction<'_>, ids: &[String]) -> Result<Deleted, DbError> {
    let mut deleted = Deleted::default();
    for id in ids {
        // The account's recorded bytes go with the recording.
        tx.execute(
            "UPDATE account_recording SET bytes = bytes - s.recorded_bytes
             FROM (SELECT visitor_account, recorded_bytes FROM cobrowse_session WHERE id = ?1) AS s
             WHERE account_recording.account_id = s.visitor_account",
            params![id],
        )?;
        deleted.frames += tx.execute("DELETE FROM cobrowse_frame WHERE session_id = ?1", params![id])? as u64;
        deleted.audit_entries += tx.execute("DELETE FROM cobrowse_audit WHERE session_id = ?1", params![id])? as u64;
        deleted.sessions += tx.execute("DELETE FROM cobrowse_session WHERE id = ?1", params![id])? as u64;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    fn device(account: &str, id: &str) -> DeviceRecord {
        DeviceRecord {
            account_id: account.into(),
            device_id: id.into(),
            name: id.into(),
            kind: baton_shared::api::DeviceKind::Other,
            created_at: 0,
            last_seen: 0,
        }
    }

    fn session_ids(conn: &Connection) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT id FROM cobrowse_session ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn session(
        conn: &Connection,
        id: &str,
        lookup: &str,
        visitor_account: &str,
        state: &str,
        ended_ms: Option<i64>,
        expires_ms: i64,
    ) {
        conn.execute(
            "INSERT INTO cobrowse_session (id, lookup, visitor_id, visitor_account, visitor_public_key, state,
                 recording, failed_joins, created_ms, expires_ms, ended_ms)
             VALUES (?1, ?2, ?3, ?4, 'pk', ?5, 1, 0, 0, ?6, ?7)",
            params![id, lookup, format!("dev-{visitor_account}"), visitor_account, state, expires_ms, ended_ms],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO cobrowse_audit (session_id, seq, at_ms, role, event, hash) VALUES (?1, 1, 0, NULL, '{\"kind\":\"started\"}', 'h')",
            params![id],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO cobrowse_frame (session_id, seq, from_role, at_ms, ct) VALUES (?1, 1, 'visitor', 0, 'ct')",
            params![id],
        )
        .unwrap();
    }

    /// `account` joins `org` as invited by `admin`.
    fn enrol(c: &mut Connection, org: &str, admin: &DeviceRecord, account: &str, role: OrgRole) {
        let code = format!("hash-of-{org}-{account}");
        invite(c, org, admin, code.as_bytes(), role, 0).unwrap();
        accept(c, code.as_bytes(), account, 1).unwrap();
    }

    async fn with_conn<T: Send + 'static>(db: &Db, f: impl FnOnce(&mut Connection) -> T + Send + 'static) -> T {
        db.call(move |c| Ok::<_, DbError>(f(c))).await.unwrap()
    }

    #[tokio::test]
    async fn joining_follows_the_organisations() {
        let db = Db::open_in_memory().unwrap();
        with_conn(&db, |c| {
            create(c, "orgA", "A", "accA-admin", 30, 0).unwrap();
            create(c, "orgB", "B", "accB-admin", 30, 0).unwrap();
            let admin_a = device("accA-admin", "d1");
            enrol(c, "orgA", &admin_a, "accA-op", OrgRole::Operator);
            enrol(c, "orgA", &admin_a, "accA-visitor", OrgRole::Member);
            enrol(c, "orgA", &admin_a, "accA-op2", OrgRole::Operator);

            let check = |c: &mut Connection, visitor: &str, op: &DeviceRecord| join_denied(c, visitor, op).unwrap();
            assert_eq!(check(c, "accA-visitor", &device("accB-admin", "x")), Some(JoinDenied::OtherOrganisation));
            assert_eq!(check(c, "accA-visitor", &device("nobody", "x")), Some(JoinDenied::OtherOrganisation));
            assert_eq!(check(c, "accA-visitor", &device("accA-visitor", "x")), Some(JoinDenied::NotOperator));
            assert_eq!(check(c, "accA-visitor", &device("accA-op", "x")), None);
            assert_eq!(check(c, "loner", &device("accA-op", "x")), Some(JoinDenied::OutsideOrganisation));
            assert_eq!(check(c, "loner", &device("other-loner", "x")), None);

            let policy = OrgPolicy { retention_days: 7, operator_allowlist: vec!["accA-op2".into()] };
            set_policy(c, "orgA", &admin_a, &policy).unwrap();
            assert_eq!(check(c, "accA-visitor", &device("accA-op", "x")), Some(JoinDenied::NotAllowlisted));
            assert_eq!(check(c, "accA-visitor", &device("accA-op2", "x")), None);
        })
        .await;
    }

    #[tokio::test]
    async fn accounts_join_only_by_accepting_an_invitation_once() {
        let db = Db::open_in_memory().unwrap();
        with_conn(&db, |c| {
            create(c, "orgA", "A", "admin", 30, 0).unwrap();
            create(c, "orgB", "B", "other-admin", 30, 0).unwrap();
            let admin = device("admin", "d1");
            // No enrolling an account that did not accept.
            assert!(matches!(set_member(c, "orgA", &admin, "someone", OrgRole::Member), Err(OrgError::NotMember)));
            assert!(matches!(
                invite(c, "orgA", &device("someone", "d"), b"h0", OrgRole::Admin, 0),
                Err(OrgError::NotAdmin)
            ));
            let expires = invite(c, "orgA", &admin, b"h1", OrgRole::Operator, 0).unwrap();
            assert_eq!(expires, INVITE_TTL_MS);
            assert!(matches!(accept(c, b"wrong", "someone", 1), Err(OrgError::UnknownInvite)));
            assert!(
                matches!(accept(c, b"h1", "other-admin", 1), Err(OrgError::AlreadyMember)),
                "one organisation each"
            );
            let joined = accept(c, b"h1", "someone", 1).unwrap();
            assert_eq!(joined, Membership { org_id: "orgA".into(), role: OrgRole::Operator });
            assert!(matches!(accept(c, b"h1", "another", 2), Err(OrgError::UnknownInvite)), "single use");
            // Members' roles change; other organisations' members are not touched.
            set_member(c, "orgA", &admin, "someone", OrgRole::Member).unwrap();
            assert_eq!(membership(c, "someone").unwrap().unwrap().role, OrgRole::Member);
            assert!(matches!(set_member(c, "orgA", &admin, "other-admin", OrgRole::Member), Err(OrgError::NotMember)));
            // Expired invitations cannot be accepted, and go with the next one made.
            invite(c, "orgA", &admin, b"h2", OrgRole::Member, 0).unwrap();
            assert!(matches!(accept(c, b"h2", "late", INVITE_TTL_MS), Err(OrgError::UnknownInvite)));
            invite(c, "orgA", &admin, b"h3", OrgRole::Member, INVITE_TTL_MS + 1).unwrap();
            let left: i64 = c.query_row("SELECT COUNT(*) FROM org_invite", [], |r| r.get(0)).unwrap();
            assert_eq!(left, 1);
        })
        .await;
    }

    #[tokio::test]
    async fn admins_list_export_and_retention_deletes_what_is_due() {
        let db = Db::open_in_memory().unwrap();
        with_conn(&db, |c| {
            create(c, "orgA", "A", "admin", 10, 0).unwrap();
            let admin = device("admin", "d1");
            enrol(c, "orgA", &admin, "visitor", OrgRole::Member);
            let now = 100 * DAY_MS;
            session(c, "old", "L1", "visitor", "ended", Some(now - 11 * DAY_MS), now - 11 * DAY_MS);
            session(c, "recent", "L2", "visitor", "ended", Some(now - 9 * DAY_MS), now - 9 * DAY_MS);
            session(c, "live", "L3", "visitor", "active", None, now - 20 * DAY_MS);
            session(c, "expired", "L4", "visitor", "waiting", None, now - 12 * DAY_MS);
            session(c, "outsider", "L5", "loner", "ended", Some(0), 0);

            let listed = sessions(c, "orgA", &admin).unwrap();
            assert_eq!(listed.len(), 4, "only the organisation's sessions");
            assert!(matches!(sessions(c, "orgA", &device("visitor", "v")), Err(OrgError::NotAdmin)));
            let export = audit_export(c, "orgA", &admin).unwrap();
            assert_eq!(export.lines().count(), 4);
            let line: AuditLine = serde_json::from_str(export.lines().next().unwrap()).unwrap();
            assert_eq!(line.event["kind"], "started");

            let deleted = enforce_retention(c, None, now).unwrap();
            assert_eq!(deleted, Deleted { sessions: 2, audit_entries: 2, frames: 2 });
            let left = session_ids(c);
            assert_eq!(left, ["live", "outsider", "recent"]);

            // Outside every organisation, the server's own period applies,
            // and to nothing inside one.
            session(c, "loner-recent", "L6", "loner", "ended", Some(now - 29 * DAY_MS), now - 29 * DAY_MS);
            session(c, "loner-live", "L7", "loner", "active", None, 0);
            c.execute("INSERT INTO account_recording (account_id, bytes) VALUES ('loner', 100)", []).unwrap();
            c.execute("UPDATE cobrowse_session SET recorded_bytes = 60 WHERE id = 'outsider'", []).unwrap();
            let deleted = enforce_default_retention(c, 30, now).unwrap();
            assert_eq!(deleted, Deleted { sessions: 1, audit_entries: 1, frames: 1 });
            let left: i64 = c
                .query_row("SELECT bytes FROM account_recording WHERE account_id = 'loner'", [], |r| r.get(0))
                .unwrap();
            assert_eq!(left, 40, "the account's recorded bytes went with the session");
            let left = session_ids(c);
            assert_eq!(left, ["live", "loner-live", "loner-recent", "recent"]);
        })
        .await;
    }
}
