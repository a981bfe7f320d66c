//! Co-browsing sessions, their audit log and recorded frames.
//!
//! The database is the authority on a session's state: every change is a
//! check-and-set in one transaction together with its audit entry, so the
//! relay's in-memory rooms only ever follow it. Audit entries are chained:
//! each hash covers the previous one (`baton_shared::cobrowse::audit_hash_input`).

use baton_shared::api::DeviceRecord;
use baton_shared::cobrowse::{
    audit_hash_input, AuditEntry, AuditEvent, RecordedFrame, Role, SessionState, AUDIT_GENESIS,
};
use baton_shared::limits::COBROWSE_GUESSES_PER_CODE;
use ring::digest;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::orgs::{self, JoinDenied};
use super::DbError;
use crate::credentials::hex;

/// A session as the relay needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub visitor_id: String,
    pub visitor_account: String,
    pub operator: Option<Operator>,
    pub state: SessionState,
    pub recording: bool,
    /// The recording reached a cap (bytes: the session's or its account's)
    /// and stopped for good.
    pub recording_stopped: Option<u64>,
    pub expires_ms: i64,
    /// While awaiting consent: when the visitor's time to answer runs out.
    pub consent_by_ms: Option<i64>,
    /// Once ended: why, as both sides were told.
    pub end_reason: Option<String>,
    /// The highest numbered audit entry applied from the visitor, and from
    /// the operator (`RelayMessage::Audit`'s `n`).
    pub visitor_applied: u64,
    pub operator_applied: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub device_id: String,
    pub public_key: String,
    pub name: String,
}

impl Session {
    pub fn applied(&self, role: Role) -> u64 {
        match role {
            Role::Visitor => self.visitor_applied,
            Role::Operator => self.operator_applied,
        }
    }

    /// The role `device_id` plays in this session, if any.
    pub fn role_of(&self, device_id: &str) -> Option<Role> {
        if self.visitor_id == device_id {
            Some(Role::Visitor)
        } else if self.operator.as_ref().is_some_and(|o| o.device_id == device_id) {
            Some(Role::Operator)
        } else {
            None
        }
    }

    /// Whether the session must end now, and why.
    pub fn due(&self, now: i64) -> Option<Expiry> {
        match self.state {
            SessionState::Waiting if now >= self.expires_ms => Some(Expiry::Code),
            SessionState::AwaitingConsent if self.consent_by_ms.is_some_and(|by| now >= by) => Some(Expiry::Consent),
            _ => None,
        }
    }

    /// Whether `device` may read the audit log and the recording: the
    /// operator device, or a device of the visitor's account.
    pub fn readable_by(&self, device: &DeviceRecord) -> bool {
        self.role_of(&device.device_id).is_some() || device.account_id == self.visitor_account
    }
}

/// Why the server ended a session by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The code expired before an operator joined.
    Code,
    /// The visitor did not answer the operator in time.
    Consent,
    /// This side stayed disconnected from the active session too long.
    Away(Role),
}

impl Expiry {
    /// What both sides are told (`RelayMessage::End`).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Code => "the code expired before an operator joined",
            Self::Consent => "the visitor did not approve the operator in time",
            Self::Away(Role::Operator) => "the operator stayed disconnected too long",
            Self::Away(Role::Visitor) => "the visitor stayed disconnected too long",
        }
    }

    fn event(self) -> AuditEvent {
        match self {
            Self::Code => AuditEvent::Expired,
            Self::Consent => AuditEvent::ConsentExpired,
            Self::Away(away) => AuditEvent::Abandoned { away },
        }
    }
}

pub fn state_str(state: SessionState) -> &'static str {
    match state {
        SessionState::Waiting => "waiting",
        SessionState::AwaitingConsent => "awaiting_consent",
        SessionState::Active => "active",
        SessionState::Ended => "ended",
    }
}

fn parse_state(s: &str) -> Result<SessionState, DbError> {
    Ok(match s {
        "waiting" => SessionState::Waiting,
        "awaiting_consent" => SessionState::AwaitingConsent,
        "active" => SessionState::Active,
        "ended" => SessionState::Ended,
        other => return Err(DbError::Corrupt(format!("cobrowse state {other:?}"))),
    })
}

pub fn role_str(role: Role) -> &'static str {
    match role {
        Role::Visitor => "visitor",
        Role::Operator => "operator",
    }
}

fn parse_role(s: &str) -> Result<Role, DbError> {
    match s {
        "visitor" => Ok(Role::Visitor),
        "operator" => Ok(Role::Operator),
        other => Err(DbError::Corrupt(format!("cobrowse role {other:?}"))),
    }
}

#[derive(Debug)]
pub struct NewSession {
    pub session_id: String,
    pub visitor: DeviceRecord,
    pub visitor_public_key: String,
    pub now: i64,
    pub expires_ms: i64,
}

/// Stores the session under the first candidate lookup no live code uses,
/// with its `Started` entry; `None` if every candidate is taken.
pub fn create(conn: &mut Connection, new: &NewSession, candidates: &[String]) -> Result<Option<String>, DbError> {
    let tx = conn.transaction()?;
    for lookup in candidates {
        let taken = tx
            .query_row(
                "SELECT 1 FROM cobrowse_session WHERE lookup = ?1 AND expires_ms > ?2 AND state = 'waiting'",
                params![lookup, new.now],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if taken {
            continue;
        }
        tx.execute(
            "INSERT INTO cobrowse_session (id, lookup, visitor_id, visitor_account, visitor_public_key,
                 state, recording, failed_joins, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 'waiting', 0, 0, ?6, ?7)",
            params![
                new.session_id,
                lookup,
                new.visitor.device_id,
                new.visitor.account_id,
                new.visitor_public_key,
                new.now,
                new.expires_ms
            ],
        )?;
        append_audit(&tx, &new.session_id, new.now, Some(Role::Visitor), &AuditEvent::Started)?;
        tx.commit()?;
        return Ok(Some(lookup.clone()));
    }
    Ok(None)
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// No live code has this lookup, or it was used.
    #[error("co-browsing code is unknown, expired or already used")]
    Invalid,
    /// The operator's earlier join waited too long for consent; the
    /// session was ended just now (committed).
    #[error("the visitor did not approve in time; the session ended")]
    ConsentExpired { session_id: String },
    /// The code has seen too many failed joins and is dead.
    #[error("too many failed attempts for this co-browsing code")]
    Exhausted,
    #[error("a device cannot join its own co-browsing session")]
    OwnSession,
    /// The organisations do not let this operator join this session.
    #[error(transparent)]
    Denied(JoinDenied),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for JoinError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e.into())
    }
}

#[derive(Debug)]
pub struct Joined {
    pub session: Session,
    pub visitor_public_key: String,
    pub visitor_name: String,
}

/// The operator takes the code; the visitor then has until
/// `now + consent_ttl_ms` to approve. Joining again with the same device and
/// key (a retry after a lost answer) answers the same; any other join of a
/// used code counts against it. An operator the organisations refuse
/// (`orgs::join_denied`) does not count against the code: a stranger must
/// not be able to block a visitor's code by being refused.
pub fn join(
    conn: &mut Connection,
    lookup: &str,
    operator: &DeviceRecord,
    public_key: &str,
    now: i64,
    consent_ttl_ms: i64,
) -> Result<Joined, JoinError> {
    let tx = conn.transaction()?;
    let found = tx
        .query_row(
            "SELECT s.id, s.failed_joins, s.visitor_public_key, d.name, s.visitor_account
             FROM cobrowse_session s JOIN device d ON d.id = s.visitor_id
             WHERE s.lookup = ?1 AND s.expires_ms > ?2
             ORDER BY s.created_ms DESC LIMIT 1",
            params![lookup, now],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((id, failed_joins, visitor_public_key, visitor_name, visitor_account)) = found else {
        return Err(JoinError::Invalid);
    };
    if let Some(denied) = orgs::join_denied(&tx, &visitor_account, operator)? {
        return Err(JoinError::Denied(denied));
    }
    if failed_joins >= COBROWSE_GUESSES_PER_CODE {
        return Err(JoinError::Exhausted);
    }
    let session = load_in(&tx, &id)?.ok_or(JoinError::Invalid)?;
    if session.visitor_id == operator.device_id {
        return Err(JoinError::OwnSession);
    }
    let joined = |session| Joined {
        session,
        visitor_public_key: visitor_public_key.clone(),
        visitor_name: visitor_name.clone(),
    };
    if let Some(op) = &session.operator {
        if session.state != SessionState::Ended && op.device_id == operator.device_id && op.public_key == public_key {
            if let Some(expiry) = session.due(now) {
                expire_in(&tx, &id, now, expiry)?;
                tx.commit()?;
                return Err(JoinError::ConsentExpired { session_id: id });
            }
            return Ok(joined(session));
        }
    }
    if session.state != SessionState::Waiting {
        tx.execute("UPDATE cobrowse_session SET failed_joins = failed_joins + 1 WHERE id = ?1", params![id])?;
        tx.commit()?;
        return Err(JoinError::Invalid);
    }
    tx.execute(
        "UPDATE cobrowse_session SET state = 'awaiting_consent', operator_id = ?2,
             operator_public_key = ?3, operator_name = ?4, consent_by_ms = ?5
         WHERE id = ?1",
        params![id, operator.device_id, public_key, operator.name, now.saturating_add(consent_ttl_ms)],
    )?;
    let event = AuditEvent::OperatorJoined { operator_name: operator.name.clone() };
    append_audit(&tx, &id, now, Some(Role::Operator), &event)?;
    let session = load_in(&tx, &id)?.ok_or(JoinError::Invalid)?;
    tx.commit()?;
    Ok(joined(session))
}

/// The session, after ending it if its code expired unjoined or its
/// visitor did not consent in time.
pub fn load(conn: &mut Connection, id: &str, now: i64) -> Result<Option<Session>, DbError> {
    let tx = conn.transaction()?;
    let Some(mut session) = load_in(&tx, id)? else {
        return Ok(None);
    };
    let expired = session.due(now);
    if let Some(expiry) = expired {
        expire_in(&tx, id, now, expiry)?;
        session.state = SessionState::Ended;
        session.recording = false;
        session.end_reason = Some(expiry.reason().to_owned());
    }
    tx.commit()?;
    Ok(Some(session))
}

fn load_in(tx: &Transaction<'_>, id: &str) -> Result<Option<Session>, DbError> {
    let row = tx
        .query_row(
            "SELECT visitor_id, visitor_account, operator_id, operator_public_key, operator_name,
                    state, recording, expires_ms, consent_by_ms, recording_stopped_at, end_reason,
                    visitor_applied, operator_applied
             FROM cobrowse_session WHERE id = ?1",
            params![id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, Option<String>>(10)?,
                    r.get::<_, i64>(11)?,
                    r.get::<_, i64>(12)?,
                ))
            },
        )
        .optional()?;
    let Some((
        visitor_id,
        visitor_account,
        op_id,
        op_key,
        op_name,
        state,
        recording,
        expires_ms,
        consent_by_ms,
        recording_stopped_at,
        end_reason,
        visitor_applied,
        operator_applied,
    )) = row
    else {
        return Ok(None);
    };
    let operator = match (op_id, op_key, op_name) {
        (Some(device_id), Some(public_key), Some(name)) => Some(Operator { device_id, public_key, name }),
        (None, None, None) => None,
        _ => return Err(DbError::Corrupt(format!("cobrowse session {id}: partial operator"))),
    };
    Ok(Some(Session {
        id: id.to_owned(),
        visitor_id,
        visitor_account,
        operator,
        state: parse_state(&state)?,
        recording,
        recording_stopped: u64::try_from(recording_stopped_at).ok().filter(|&cap| cap > 0),
        expires_ms,
        consent_by_ms,
        end_reason,
        visitor_applied: u64::try_from(visitor_applied).unwrap_or(0),
        operator_applied: u64::try_from(operator_applied).unwrap_or(0),
    }))
}

fn expire_in(tx: &Transaction<'_>, id: &str, now: i64, expiry: Expiry) -> Result<(), DbError> {
    set_ended(tx, id, now, expiry.reason())?;
    append_audit(tx, id, now, None, &expiry.event())?;
    Ok(())
}

fn set_ended(tx: &Transaction<'_>, id: &str, now: i64, reason: &str) -> Result<(), DbError> {
    tx.execute(
        "UPDATE cobrowse_session SET state = 'ended', recording = 0, ended_ms = ?2, end_reason = ?3
         WHERE id = ?1",
        params![id, now, reason],
    )?;
    Ok(())
}

/// Ends every session whose code expired before an operator joined, or
/// whose visitor did not consent in time; returns their ids and why.
pub fn expire_due(conn: &mut Connection, now: i64) -> Result<Vec<(String, Expiry)>, DbError> {
    let tx = conn.transaction()?;
    let due = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, 0 FROM cobrowse_session WHERE state = 'waiting' AND expires_ms <= ?1
             UNION ALL
             SELECT id, 1 FROM cobrowse_session
             WHERE state = 'awaiting_consent' AND consent_by_ms <= ?1",
        )?;
        let due = stmt
            .query_map(params![now], |r| {
                let expiry = if r.get::<_, i64>(1)? == 0 { Expiry::Code } else { Expiry::Consent };
                Ok((r.get::<_, String>(0)?, expiry))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        due
    };
    for (id, expiry) in &due {
        expire_in(&tx, id, now, *expiry)?;
    }
    tx.commit()?;
    Ok(due)
}

/// Ends the session because `away` stayed disconnected too long; `false`
/// if it was not active (any more).
pub fn abandon(conn: &mut Connection, id: &str, away: Role, now: i64) -> Result<bool, DbError> {
    let tx = conn.transaction()?;
    let active = load_in(&tx, id)?.is_some_and(|s| s.state == SessionState::Active);
    if active {
        expire_in(&tx, id, now, Expiry::Away(away))?;
        tx.commit()?;
    }
    Ok(active)
}

/// Every active session (the relay watches who stays away from them).
pub fn active(conn: &mut Connection) -> Result<Vec<Session>, DbError> {
    let tx = conn.transaction()?;
    let ids = {
        let mut stmt = tx.prepare("SELECT id FROM cobrowse_session WHERE state = 'active'")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        ids
    };
    let mut sessions = Vec::with_capacity(ids.len());
    for id in ids {
        sessions.extend(load_in(&tx, &id)?);
    }
    Ok(sessions)
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the session is {}, not in a state for this entry", state_str(*.0))]
    WrongState(SessionState),
    /// The session was due to end and was ended just now (committed),
    /// instead of taking the entry.
    #[error("the session ended: {}", .0.reason())]
    Expired(Expiry),
    #[error("no such session")]
    NotFound,
    /// Numbered at or below what this side had applied: a resend of an
    /// entry that is in the log already.
    #[error("this entry was applied already")]
    Duplicate,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for AuditError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e.into())
    }
}

/// A session's state and recording flag after an entry was appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    pub state: SessionState,
    pub recording: bool,
    /// Why, when the entry ended the session (as stored with it).
    pub ended: Option<&'static str>,
}

/// Appends a client's entry after checking the session's state allows it,
/// applying what it means: consent moves the session to `Active` (or ends
/// it, with an `Ended` entry), recording consent sets the flag.
pub fn client_audit(
    conn: &mut Connection,
    id: &str,
    role: Role,
    event: &AuditEvent,
    n: Option<u64>,
    now: i64,
) -> Result<After, AuditError> {
    use SessionState::{Active, AwaitingConsent};
    let tx = conn.transaction()?;
    let session = load_in(&tx, id)?.ok_or(AuditError::NotFound)?;
    if n.is_some_and(|n| n <= session.applied(role)) {
        return Err(AuditError::Duplicate);
    }
    if let Some(expiry) = session.due(now) {
        expire_in(&tx, id, now, expiry)?;
        tx.commit()?;
        return Err(AuditError::Expired(expiry));
    }
    let allowed: &[SessionState] = match event {
        AuditEvent::Consent { .. } => &[AwaitingConsent],
        AuditEvent::RecordingConsent { .. } => &[AwaitingConsent, Active],
        _ => &[Active],
    };
    if !allowed.contains(&session.state) {
        return Err(AuditError::WrongState(session.state));
    }
    append_audit(&tx, id, now, Some(role), event)?;
    if let Some(n) = n {
        let column = match role {
            Role::Visitor => "visitor_applied",
            Role::Operator => "operator_applied",
        };
        let n = i64::try_from(n).map_err(|_| DbError::Corrupt(format!("audit number {n}")))?;
        tx.execute(&format!("UPDATE cobrowse_session SET {column} = ?2 WHERE id = ?1"), params![id, n])?;
    }
    let mut after = After { state: session.state, recording: session.recording, ended: None };
    match event {
        AuditEvent::Consent { approved: true } => {
            tx.execute("UPDATE cobrowse_session SET state = 'active' WHERE id = ?1", params![id])?;
            after.state = Active;
        }
        AuditEvent::Consent { approved: false } => {
            end_in(&tx, id, role, DECLINED, now)?;
            after.state = SessionState::Ended;
            after.ended = Some(DECLINED);
        }
        AuditEvent::RecordingConsent { approved } => {
            // A recording that reached its cap stays stopped.
            after.recording = tx.query_row(
                "UPDATE cobrowse_session SET recording = (?2 AND recording_stopped_at = 0)
                 WHERE id = ?1 RETURNING recording",
                params![id, approved],
                |r| r.get(0),
            )?;
        }
        _ => {}
    }
    tx.commit()?;
    Ok(after)
}

/// What both sides are told when the visitor declines the operator.
const DECLINED: &str = "the visitor declined";

/// Ends the session on `by`'s request, for `reason`; `false` if it had
/// already ended.
pub fn end(conn: &mut Connection, id: &str, by: Role, reason: &str, now: i64) -> Result<bool, DbError> {
    let tx = conn.transaction()?;
    let Some(session) = load_in(&tx, id)? else {
        return Ok(false);
    };
    if session.state == SessionState::Ended {
        return Ok(false);
    }
    end_in(&tx, id, by, reason, now)?;
    tx.commit()?;
    Ok(true)
}

fn end_in(tx: &Transaction<'_>, id: &str, by: Role, reason: &str, now: i64) -> Result<(), DbError> {
    set_ended(tx, id, now, reason)?;
    append_audit(tx, id, now, Some(by), &AuditEvent::Ended { by })?;
    Ok(())
}

/// Appends one entry, chained to the session's last.
fn append_audit(
    tx: &Transaction<'_>,
    id: &str,
    at_ms: i64,
    role: Option<Role>,
    event: &AuditEvent,
) -> Result<AuditEntry, DbError> {
    let last = tx
        .query_row(
            "SELECT seq, hash FROM cobrowse_audit WHERE session_id = ?1 ORDER BY seq DESC LIMIT 1",
            params![id],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, AUDIT_GENESIS.to_owned()));
    let seq = u64::try_from(prev_seq + 1).map_err(|_| DbError::Corrupt(format!("audit seq {prev_seq}")))?;
    let input = audit_hash_input(&prev_hash, seq, at_ms, role, event);
    let hash = hex(digest::digest(&digest::SHA256, &input).as_ref());
    let event_json = serde_json::to_string(event).map_err(|e| DbError::Corrupt(format!("audit event: {e}")))?;
    tx.execute(
        "INSERT INTO cobrowse_audit (session_id, seq, at_ms, role, event, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, prev_seq + 1, at_ms, role.map(role_str), event_json, hash],
    )?;
    Ok(AuditEntry { seq, at_ms, role, event: event.clone(), hash })
}

/// An audit log, and why the session ended on this read, if it did.
pub type AuditRead = (Vec<AuditEntry>, Option<Expiry>);

/// The audit log in order, if `device` may read it, after ending the
/// session if it was due (then with why, for the relay to tell).
pub fn audit_log(
    conn: &mut Connection,
    id: &str,
    device: &DeviceRecord,
    now: i64,
) -> Result<Option<AuditRead>, DbError> {
    let tx = conn.transaction()?;
    let Some(session) = load_in(&tx, id)?.filter(|s| s.readable_by(device)) else {
        return Ok(None);
    };
    let expired = session.due(now);
    if let Some(expiry) = expired {
        expire_in(&tx, id, now, expiry)?;
    }
    let entries = read_audit(&tx, id)?;
    tx.commit()?;
    Ok(Some((entries, expired)))
}

fn read_audit(tx: &Transaction<'_>, id: &str) -> Result<Vec<AuditEntry>, DbError> {
    let mut stmt = tx.prepare_cached(
        "SELECT seq, at_ms, role, event, hash FROM cobrowse_audit WHERE session_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt
        .query_map(params![id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(seq, at_ms, role, event, hash)| {
            Ok(AuditEntry {
                seq: u64::try_from(seq).map_err(|_| DbError::Corrupt(format!("audit seq {seq}")))?,
                at_ms,
                role: role.as_deref().map(parse_role).transpose()?,
                event: serde_json::from_str(&event).map_err(|e| DbError::Corrupt(format!("audit event: {e}")))?,
                hash,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()
}

/// One frame to record.
#[derive(Debug, Clone)]
pub struct FrameRow {
    pub session_id: String,
    pub frame: RecordedFrame,
}

/// How much recorded ciphertext (text) is kept: per session, and per
/// visitor account across its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingCaps {
    pub session: u64,
    pub account: u64,
}

/// Stores a batch of recorded frames in one transaction, each only if its
/// session's recording stays within `caps.session` and its visitor
/// account's within `caps.account`. The first frame that does not fit stops
/// the session's recording for good, with a `RecordingLimitReached` entry
/// naming the cap it met; returns those sessions with that cap. Frames of
/// sessions that no longer exist (retention) are dropped.
pub fn store_frames(
    conn: &mut Connection,
    rows: &[FrameRow],
    caps: RecordingCaps,
) -> Result<Vec<(String, u64)>, DbError> {
    let session_max = i64::try_from(caps.session).unwrap_or(i64::MAX);
    let account_max = i64::try_from(caps.account).unwrap_or(i64::MAX);
    let mut stopped = Vec::new();
    let tx = conn.transaction()?;
    {
        let mut account_of = tx.prepare_cached(
            "SELECT visitor_account FROM cobrowse_session WHERE id = ?1 AND recording_stopped_at = 0",
        )?;
        let mut account_room = tx.prepare_cached(
            "SELECT COALESCE((SELECT bytes FROM account_recording WHERE account_id = ?1), 0) + ?2 <= ?3",
        )?;
        let mut count = tx.prepare_cached(
            "UPDATE cobrowse_session SET recorded_bytes = recorded_bytes + ?2
             WHERE id = ?1 AND recording_stopped_at = 0 AND recorded_bytes + ?2 <= ?3",
        )?;
        let mut count_account = tx.prepare_cached(
            "INSERT INTO account_recording (account_id, bytes) VALUES (?1, ?2)
             ON CONFLICT (account_id) DO UPDATE SET bytes = bytes + excluded.bytes",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO cobrowse_frame (session_id, seq, from_role, at_ms, ct) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut stop = tx.prepare_cached(
            "UPDATE cobrowse_session SET recording_stopped_at = MAX(?2, 1), recording = 0
             WHERE id = ?1 AND recording_stopped_at = 0",
        )?;
        for row in rows {
            let f = &row.frame;
            let len = i64::try_from(f.ct.len()).unwrap_or(i64::MAX);
            // Gone (retention) or stopped already: nothing to do.
            let Some(account) = account_of.query_row(params![row.session_id], |r| r.get::<_, String>(0)).optional()?
            else {
                continue;
            };
            let met = if !account_room.query_row(params![account, len, account_max], |r| r.get::<_, bool>(0))? {
                Some(caps.account)
            } else if count.execute(params![row.session_id, len, session_max])? == 1 {
                count_account.execute(params![account, len])?;
                let seq = i64::try_from(f.seq).unwrap_or(i64::MAX);
                insert.execute(params![row.session_id, seq, role_str(f.from), f.at_ms, f.ct])?;
                None
            } else {
                Some(caps.session)
            };
            if let Some(max_bytes) = met {
                let cap = i64::try_from(max_bytes).unwrap_or(i64::MAX);
                if stop.execute(params![row.session_id, cap])? == 1 {
                    let event = AuditEvent::RecordingLimitReached { max_bytes };
                    append_audit(&tx, &row.session_id, f.at_ms, None, &event)?;
                    stopped.push((row.session_id.clone(), max_bytes));
                }
            }
        }
    }
    tx.commit()?;
    Ok(stopped)
}

/// Where a page of a recording starts and how large it may be.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// The cursor: frames stored after this one (0: from the start).
    pub after: i64,
    pub max_frames: usize,
    pub max_bytes: usize,
}

/// One page of a recording and the cursor of the next, if more follow.
#[derive(Debug)]
pub struct Page {
    pub frames: Vec<RecordedFrame>,
    pub next: Option<u64>,
}

/// A page of the recorded frames in storage order, if `device` may read
/// them. The cursor is the frame's rowid, which only grows.
pub fn recording(
    conn: &mut Connection,
    id: &str,
    device: &DeviceRecord,
    page: PageRequest,
) -> Result<Option<Page>, DbError> {
    let tx = conn.transaction()?;
    if !load_in(&tx, id)?.is_some_and(|s| s.readable_by(device)) {
        return Ok(None);
    }
    let mut stmt = tx.prepare_cached(
        "SELECT rowid, seq, from_role, at_ms, ct FROM cobrowse_frame
         WHERE session_id = ?1 AND rowid > ?2 ORDER BY rowid",
    )?;
    let mut rows = stmt.query(params![id, page.after])?;
    let mut frames = Vec::new();
    let (mut bytes, mut last, mut more) = (0usize, None, false);
    while let Some(r) = rows.next()? {
        let ct: String = r.get(4)?;
        let full =
            frames.len() >= page.max_frames || (!frames.is_empty() && bytes.saturating_add(ct.len()) > page.max_bytes);
        if full {
            more = true;
            break;
        }
        bytes = bytes.saturating_add(ct.len());
        let (rowid, seq) = (r.get::<_, i64>(0)?, r.get::<_, i64>(1)?);
        last = Some(rowid);
        frames.push(RecordedFrame {
            seq: u64::try_from(seq).unwrap_or(0),
            from: parse_role(&r.get::<_, String>(2)?)?,
            at_ms: r.get(3)?,
            ct,
        });
    }
    let next = match (more, last) {
        (true, Some(rowid)) => {
            Some(u64::try_from(rowid).map_err(|_| DbError::Corrupt(format!("frame rowid {rowid}")))?)
        }
        _ => None,
    };
    Ok(Some(Page { frames, next }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::devices::{self, NewDevice};
    use crate::db::Db;
    use baton_shared::api::DeviceKind;

    async fn device(db: &Db, id: &str) -> DeviceRecord {
        let new = NewDevice {
            account_id: format!("acc-{id}"),
            device_id: id.to_owned(),
            name: id.to_owned(),
            kind: DeviceKind::Laptop,
            token_hash: crate::credentials::hash_token(id),
            now: 0,
        };
        db.call(move |c| devices::register(c, &new)).await.unwrap()
    }

    /// A session joined at `t0` with a 1 s consent deadline.
    async fn joined(db: &Db, t0: i64) -> (String, DeviceRecord, DeviceRecord) {
        let visitor = device(db, "v").await;
        let operator = device(db, "o").await;
        let new = NewSession {
            session_id: "s1".into(),
            visitor: visitor.clone(),
            visitor_public_key: "vk".into(),
            now: t0,
            expires_ms: t0 + 600_000,
        };
        let lookup = db.call(move |c| create(c, &new, &["ABCD".to_owned()])).await.unwrap().unwrap();
        let op = operator.clone();
        db.call(move |c| join(c, &lookup, &op, "ok", t0, 1_000)).await.unwrap();
        ("s1".into(), visitor, operator)
    }

    fn events(log: &[AuditEntry]) -> Vec<AuditEvent> {
        log.iter().map(|e| e.event.clone()).collect()
    }

    #[tokio::test]
    async fn recordings_stop_at_the_sessions_cap_and_at_the_accounts_across_sessions() {
        let db = Db::open_in_memory().unwrap();
        let (_, _, _) = joined(&db, 0).await;
        let caps = RecordingCaps { session: 10, account: 15 };
        let frame = |session: &str, seq: u64| FrameRow {
            session_id: session.into(),
            frame: RecordedFrame { seq, from: Role::Visitor, at_ms: 0, ct: "xxxx".into() },
        };
        db.call(move |c| {
            // A second session of the same visitor account.
            c.execute_batch(
                "CREATE TEMP TABLE copy AS SELECT * FROM cobrowse_session WHERE id = 's1';
                 UPDATE copy SET id = 's2', lookup = 'EFGH';
                 INSERT INTO cobrowse_session SELECT * FROM copy;",
            )?;
            // s1: 4 + 4 fit its 10; the third frame meets the session's cap.
            let stopped = store_frames(c, &[frame("s1", 1), frame("s1", 2), frame("s1", 3)], caps)?;
            assert_eq!(stopped, [("s1".to_owned(), 10)]);
            // s2: the account holds 8; 4 more fit its 15, the next does not.
            let stopped = store_frames(c, &[frame("s2", 1), frame("s2", 2), frame("s2", 3)], caps)?;
            assert_eq!(stopped, [("s2".to_owned(), 15)]);
            let (frames, account): (i64, i64) = c.query_row(
                "SELECT (SELECT COUNT(*) FROM cobrowse_frame), (SELECT bytes FROM account_recording WHERE account_id = 'acc-v')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            assert_eq!((frames, account), (3, 12));
            // Stopped is stopped: later frames are dropped without another entry.
            assert!(store_frames(c, &[frame("s2", 4)], caps)?.is_empty());
            // Each session keeps the cap it met, for sockets that connect later.
            let tx = c.transaction()?;
            let met = |id: &str| load_in(&tx, id).map(|s| s.and_then(|s| s.recording_stopped));
            assert_eq!((met("s1")?, met("s2")?), (Some(10), Some(15)));
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn consent_after_the_deadline_ends_the_session_instead() {
        let db = Db::open_in_memory().unwrap();
        let (id, visitor, _) = joined(&db, 10_000).await;
        let consent = AuditEvent::Consent { approved: true };
        let sid = id.clone();
        let late = db.call(move |c| client_audit(c, &sid, Role::Visitor, &consent, None, 11_000)).await;
        assert!(matches!(late, Err(AuditError::Expired(Expiry::Consent))), "{late:?}");
        let sid = id.clone();
        let (log, again) = db.call(move |c| audit_log(c, &sid, &visitor, 12_000)).await.unwrap().unwrap();
        assert_eq!(again, None, "already ended");
        assert_eq!(
            events(&log),
            [AuditEvent::Started, AuditEvent::OperatorJoined { operator_name: "o".into() }, AuditEvent::ConsentExpired]
        );
        // Nothing was left for the sweep.
        assert!(db.call(|c| expire_due(c, 99_000)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn loading_or_rejoining_after_the_deadline_ends_it_and_in_time_it_stays() {
        let db = Db::open_in_memory().unwrap();
        let (id, _, operator) = joined(&db, 10_000).await;
        let sid = id.clone();
        let session = db.call(move |c| load(c, &sid, 10_999)).await.unwrap().unwrap();
        assert_eq!((session.state, session.end_reason), (SessionState::AwaitingConsent, None));
        assert!(db.call(|c| expire_due(c, 10_999)).await.unwrap().is_empty());

        // The operator's retry after the deadline ends it.
        let op = operator.clone();
        let retried = db.call(move |c| join(c, "ABCD", &op, "ok", 11_000, 1_000)).await;
        assert!(matches!(retried, Err(JoinError::ConsentExpired { .. })), "{retried:?}");
        let sid = id.clone();
        let session = db.call(move |c| load(c, &sid, 11_000)).await.unwrap().unwrap();
        let why = Some(Expiry::Consent.reason().to_owned());
        assert_eq!((session.state, session.end_reason), (SessionState::Ended, why));
    }

    #[tokio::test]
    async fn the_sweep_ends_unconsented_sessions_once() {
        let db = Db::open_in_memory().unwrap();
        let (id, _, _) = joined(&db, 10_000).await;
        let due = db.call(|c| expire_due(c, 11_000)).await.unwrap();
        assert_eq!(due, [(id.clone(), Expiry::Consent)]);
        assert!(db.call(|c| expire_due(c, 12_000)).await.unwrap().is_empty());
        let session = db.call(move |c| load(c, &id, 12_000)).await.unwrap().unwrap();
        let why = Some(Expiry::Consent.reason().to_owned());
        assert_eq!((session.state, session.end_reason), (SessionState::Ended, why));
    }
}
