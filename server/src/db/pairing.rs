//! Pairing: a device offers a short code, another claims it, the offerer
//! hands over the wrapped account key and the claimer joins its account.
//!
//! The server only sees the code's lookup part, the two SPAKE2 messages and
//! the claimer's proof that it agreed on the same key (which only the
//! offerer can check); the account key arrives wrapped under a key derived
//! from the SPAKE2 key.

use baton_shared::limits::PAIRING_GUESSES_PER_CODE;
use baton_shared::sync::{PairingState, PairingStatus};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{devices, sent_tabs, sync, DbError};

const OFFERED: &str = "offered";
const CLAIMED: &str = "claimed";
const COMPLETE: &str = "complete";
const REFUSED: &str = "refused";

#[derive(Debug)]
pub struct NewOffer {
    pub pairing_id: String,
    pub offerer_id: String,
    pub public_key: String,
    pub now: i64,
    pub expires_ms: i64,
}

/// Stores the offer under the first candidate lookup no live offer uses;
/// `None` if every candidate is taken.
pub fn offer(conn: &mut Connection, new: &NewOffer, candidates: &[String]) -> Result<Option<String>, DbError> {
    let tx = conn.transaction()?;
    // A device shows one code at a time: a new code cancels its unclaimed ones.
    tx.execute(
        "UPDATE pairing SET expires_ms = ?2 WHERE offerer_id = ?1 AND state = ?3 AND expires_ms > ?2",
        params![new.offerer_id, new.now, OFFERED],
    )?;
    for lookup in candidates {
        let taken = tx
            .query_row(
                "SELECT 1 FROM pairing WHERE lookup = ?1 AND expires_ms > ?2 AND state != ?3",
                params![lookup, new.now, COMPLETE],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if taken {
            continue;
        }
        tx.execute(
            "INSERT INTO pairing (id, lookup, offerer_id, offer_public_key, state, failed_claims, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
            params![new.pairing_id, lookup, new.offerer_id, new.public_key, OFFERED, new.now, new.expires_ms],
        )?;
        tx.commit()?;
        return Ok(Some(lookup.clone()));
    }
    Ok(None)
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// No live offer has this lookup, or it is no longer claimable.
    #[error("pairing code is unknown, expired or already used")]
    Invalid,
    /// The code has seen too many failed claims and is dead.
    #[error("too many failed attempts for this pairing code")]
    Exhausted,
    #[error("a device cannot claim its own pairing code")]
    OwnOffer,
    #[error("this device is already in the offering device's account")]
    SameAccount,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for ClaimError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e.into())
    }
}

#[derive(Debug)]
pub struct Claimed {
    pub pairing_id: String,
    pub offer_public_key: String,
}

/// The claimer takes the offer. Claiming again with the same key (a retry)
/// answers the same; anything else against a known code counts as a guess.
pub fn claim(
    conn: &mut Connection,
    lookup: &str,
    claimer: &baton_shared::api::DeviceRecord,
    public_key: &str,
    now: i64,
) -> Result<Claimed, ClaimError> {
    let tx = conn.transaction()?;
    let found = tx
        .query_row(
            "SELECT p.id, p.offerer_id, p.offer_public_key, p.state, p.failed_claims,
                    p.claimer_id, p.claim_public_key, d.account_id
             FROM pairing p JOIN device d ON d.id = p.offerer_id
             WHERE p.lookup = ?1 AND p.expires_ms > ?2
             ORDER BY p.created_ms DESC LIMIT 1",
            params![lookup, now],
            |r| {
                Ok(Found {
                    id: r.get(0)?,
                    offerer_id: r.get(1)?,
                    offer_public_key: r.get(2)?,
                    state: r.get(3)?,
                    failed_claims: r.get(4)?,
                    claimer_id: r.get(5)?,
                    claim_public_key: r.get(6)?,
                    offerer_account: r.get(7)?,
                })
            },
        )
        .optional()?;
    let Some(found) = found else {
        return Err(ClaimError::Invalid);
    };
    if found.failed_claims >= PAIRING_GUESSES_PER_CODE {
        return Err(ClaimError::Exhausted);
    }
    let claimed = Claimed { pairing_id: found.id.clone(), offer_public_key: found.offer_public_key.clone() };
    if found.offerer_id == claimer.device_id {
        return Err(ClaimError::OwnOffer);
    }
    let retry = found.state == CLAIMED
        && found.claimer_id.as_deref() == Some(claimer.device_id.as_str())
        && found.claim_public_key.as_deref() == Some(public_key);
    if retry {
        return Ok(claimed);
    }
    if found.state != OFFERED {
        tx.execute("UPDATE pairing SET failed_claims = failed_claims + 1 WHERE id = ?1", params![found.id])?;
        tx.commit()?;
        return Err(ClaimError::Invalid);
    }
    if found.offerer_account == claimer.account_id {
        return Err(ClaimError::SameAccount);
    }
    tx.execute(
        "UPDATE pairing SET state = ?2, claimer_id = ?3, claim_public_key = ?4 WHERE id = ?1",
        params![found.id, CLAIMED, claimer.device_id, public_key],
    )?;
    tx.commit()?;
    Ok(claimed)
}

#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("no such pairing for this device")]
    NotFound,
    #[error("the pairing code has expired")]
    Expired,
    #[error("the pairing already has another proof, or is over")]
    State,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for ProveError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Who to tell about a proven claim.
#[derive(Debug)]
pub struct Proven {
    pub offerer_id: String,
    pub claim_public_key: String,
}

/// The claimer's proof that it agreed on the offerer's key; only the
/// claimer gives it, once (a repeat of the same proof answers the same).
pub fn prove(
    conn: &mut Connection,
    pairing_id: &str,
    claimer_id: &str,
    proof: &str,
    now: i64,
) -> Result<Proven, ProveError> {
    let tx = conn.transaction()?;
    let row = tx
        .query_row(
            "SELECT state, offerer_id, claim_public_key, claim_proof, expires_ms
             FROM pairing WHERE id = ?1 AND claimer_id = ?2",
            params![pairing_id, claimer_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((state, offerer_id, claim_public_key, given, expires_ms)) = row else {
        return Err(ProveError::NotFound);
    };
    if now >= expires_ms {
        return Err(ProveError::Expired);
    }
    let (CLAIMED, Some(claim_public_key)) = (state.as_str(), claim_public_key) else {
        return Err(ProveError::State);
    };
    match given {
        Some(given) if given == proof => {}
        Some(_) => return Err(ProveError::State),
        None => {
            tx.execute("UPDATE pairing SET claim_proof = ?2 WHERE id = ?1", params![pairing_id, proof])?;
            tx.commit()?;
        }
    }
    Ok(Proven { offerer_id, claim_public_key })
}

struct Found {
    id: String,
    offerer_id: String,
    offer_public_key: String,
    state: String,
    failed_claims: u32,
    claimer_id: Option<String>,
    claim_public_key: Option<String>,
    offerer_account: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    #[error("no such pairing for this device")]
    NotFound,
    #[error("the pairing code has expired")]
    Expired,
    #[error("the pairing has not been claimed (with a proof) yet")]
    NotClaimed,
    #[error("the pairing was already completed with another key")]
    AlreadyComplete,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for CompleteError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Who to tell after a completed pairing.
#[derive(Debug)]
pub struct Completed {
    pub claimer_id: String,
    pub account_id: String,
    /// Devices of the joined account, the claimer included.
    pub account_devices: Vec<String>,
    /// Devices left behind in the claimer's former account.
    pub former_account_devices: Vec<String>,
}

/// Stores the wrapped key and moves the claimer into the offerer's account,
/// forgetting what it uploaded and was sent under its old key.
pub fn complete(
    conn: &mut Connection,
    pairing_id: &str,
    offerer_id: &str,
    wrapped_key: &str,
    now: i64,
) -> Result<Completed, CompleteError> {
    let tx = conn.transaction()?;
    let row = tx
        .query_row(
            "SELECT p.state, p.claimer_id, p.wrapped_account_key, p.expires_ms, d.account_id,
                    p.claim_proof IS NOT NULL
             FROM pairing p JOIN device d ON d.id = p.offerer_id
             WHERE p.id = ?1 AND p.offerer_id = ?2",
            params![pairing_id, offerer_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((state, claimer_id, stored_key, expires_ms, account_id, proven)) = row else {
        return Err(CompleteError::NotFound);
    };
    let claimer_id = match (state.as_str(), claimer_id) {
        (COMPLETE, Some(claimer_id)) if stored_key.as_deref() == Some(wrapped_key) => {
            // A retry after a lost answer: already done.
            return Ok(Completed {
                account_devices: device_ids(&tx, &account_id)?,
                claimer_id,
                account_id,
                former_account_devices: Vec::new(),
            });
        }
        (COMPLETE, _) => return Err(CompleteError::AlreadyComplete),
        _ if now >= expires_ms => return Err(CompleteError::Expired),
        // The offerer checks the proof before handing the key over.
        (CLAIMED, Some(claimer_id)) if proven => claimer_id,
        _ => return Err(CompleteError::NotClaimed),
    };
    let former_account: String = tx
        .query_row("SELECT account_id FROM device WHERE id = ?1", params![claimer_id], |r| r.get(0))
        .optional()?
        .ok_or(CompleteError::NotFound)?;

    sync::delete_device_records(&tx, &claimer_id)?;
    sent_tabs::delete_for_device(&tx, &claimer_id)?;
    tx.execute("UPDATE device SET account_id = ?2 WHERE id = ?1", params![claimer_id, account_id])?;
    let former_account_devices = device_ids(&tx, &former_account)?;
    if former_account_devices.is_empty() {
        tx.execute("DELETE FROM account WHERE id = ?1", params![former_account])?;
    }
    tx.execute(
        "UPDATE pairing SET state = ?2, wrapped_account_key = ?3, account_id = ?4 WHERE id = ?1",
        params![pairing_id, COMPLETE, wrapped_key, account_id],
    )?;
    let account_devices = device_ids(&tx, &account_id)?;
    tx.commit()?;
    Ok(Completed { claimer_id, account_id, account_devices, former_account_devices })
}

/// The offerer refuses a claim whose proof did not hold; `false` when it
/// has no such pairing (a repeat is fine: the pairing stays refused).
pub fn refuse(conn: &Connection, pairing_id: &str, offerer_id: &str) -> Result<bool, DbError> {
    let found = conn.execute(
        "UPDATE pairing SET state = ?3 WHERE id = ?1 AND offerer_id = ?2 AND state IN (?3, ?4)",
        params![pairing_id, offerer_id, REFUSED, CLAIMED],
    )?;
    Ok(found > 0)
}

/// The pairing as its offerer or claimer sees it; `None` for anyone else.
pub fn status(
    conn: &Connection,
    pairing_id: &str,
    device_id: &str,
    now: i64,
) -> Result<Option<PairingStatus>, DbError> {
    let row = conn
        .query_row(
            "SELECT state, claim_public_key, wrapped_account_key, account_id, expires_ms, claim_proof
             FROM pairing WHERE id = ?1 AND (offerer_id = ?2 OR claimer_id = ?2)",
            params![pairing_id, device_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((state, claim_public_key, wrapped_account_key, account_id, expires_ms, claim_proof)) = row else {
        return Ok(None);
    };
    let state = match state.as_str() {
        COMPLETE => PairingState::Complete,
        REFUSED => PairingState::Refused,
        _ if now >= expires_ms => PairingState::Expired,
        CLAIMED => PairingState::Claimed,
        OFFERED => PairingState::Offered,
        other => return Err(DbError::Corrupt(format!("pairing state {other:?}"))),
    };
    Ok(Some(PairingStatus {
        pairing_id: pairing_id.to_owned(),
        state,
        claim_public_key,
        claim_proof,
        wrapped_account_key,
        account_id,
    }))
}

fn device_ids(tx: &Transaction<'_>, account_id: &str) -> Result<Vec<String>, DbError> {
    Ok(devices::in_account(tx, account_id)?.into_iter().map(|d| d.device_id).collect())
}
