//! Pairing routes: offer, claim, proof, complete, refuse, status (see
//! `baton_shared::sync`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use baton_shared::api::PushMessage;
use baton_shared::limits::{MAX_WRAPPED_KEY, PAIRING_GUESSES_PER_CODE};
use baton_shared::sync::{
    PairingClaim, PairingClaimed, PairingComplete, PairingOffer, PairingOffered, PairingProof, PairingStatus,
};

use super::checks;
use super::error::{code, HttpError};
use super::extract::{AuthDevice, ClientAddr, ValidJson, ValidPath, Validate};
use super::AppState;
use crate::clock::now_ms;
use crate::credentials::normalize_lookup;
use crate::db::pairing::{self, ClaimError, CompleteError, NewOffer, ProveError};

/// Lookups tried per offer before giving up (only fails with ~a million live offers).
const LOOKUP_ATTEMPTS: usize = 8;

impl Validate for PairingOffer {
    fn validate(self) -> Result<Self, HttpError> {
        checks::public_key(&self.public_key)?;
        Ok(self)
    }
}

impl Validate for PairingClaim {
    fn validate(self) -> Result<Self, HttpError> {
        checks::public_key(&self.public_key)?;
        // A malformed lookup is answered like an unknown one (and counted), in the handler.
        Ok(self)
    }
}

impl Validate for PairingProof {
    fn validate(self) -> Result<Self, HttpError> {
        // HMAC-SHA-256 (32 bytes); only the offerer can check it.
        if checks::base64("proof", &self.proof, 64)? != 32 {
            return Err(HttpError::invalid_request("proof is not 32 bytes of base64"));
        }
        Ok(self)
    }
}

impl Validate for PairingComplete {
    fn validate(self) -> Result<Self, HttpError> {
        checks::base64("wrapped_account_key", &self.wrapped_account_key, MAX_WRAPPED_KEY)?;
        Ok(self)
    }
}

pub async fn offer(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidJson(req): ValidJson<PairingOffer>,
) -> Result<Json<PairingOffered>, HttpError> {
    let now = now_ms();
    let new = NewOffer {
        pairing_id: state.ids.id()?,
        offerer_id: device.device_id,
        public_key: req.public_key,
        now,
        expires_ms: now.saturating_add(state.settings.pairing_ttl_ms),
    };
    let candidates = state.ids.lookups(LOOKUP_ATTEMPTS)?;
    let (pairing_id, expires_ms) = (new.pairing_id.clone(), new.expires_ms);
    let lookup = state.db.call(move |conn| pairing::offer(conn, &new, &candidates)).await?.ok_or_else(|| {
        HttpError::new(StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE, "no free pairing code right now; try again")
    })?;
    Ok(Json(PairingOffered { pairing_id, lookup, expires_ms }))
}

pub async fn claim(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AuthDevice(device): AuthDevice,
    ValidJson(req): ValidJson<PairingClaim>,
) -> Result<Json<PairingClaimed>, HttpError> {
    let attempt = state.pairing_guesses.reserve(client).await?.map_err(|wait| {
        HttpError::rate_limited("too many wrong pairing codes from this address; wait and try again", wait)
    })?;
    let Some(lookup) = normalize_lookup(&req.lookup) else {
        return Err(invalid_code());
    };
    let claimer = device.clone();
    let public_key = req.public_key.clone();
    let result = state.db.call(move |conn| pairing::claim(conn, &lookup, &claimer, &public_key, now_ms())).await;
    // Wrong codes stay counted against the client; anything else is given back.
    if !matches!(result, Err(ClaimError::Invalid | ClaimError::Exhausted)) {
        attempt.release().await;
    }
    let claimed = match result {
        Ok(claimed) => claimed,
        Err(ClaimError::Invalid) => {
            return Err(invalid_code());
        }
        Err(ClaimError::Exhausted) => {
            return Err(HttpError::rate_limited(
                format!(
                    "this pairing code saw {PAIRING_GUESSES_PER_CODE} wrong attempts and is blocked; \
                     show a new code on the other device"
                ),
                std::time::Duration::from_millis(u64::try_from(state.settings.pairing_ttl_ms).unwrap_or(0)),
            ));
        }
        Err(e @ (ClaimError::OwnOffer | ClaimError::SameAccount)) => {
            return Err(HttpError::invalid_request(e.to_string()))
        }
        Err(ClaimError::Db(e)) => return Err(e.into()),
    };
    Ok(Json(PairingClaimed { pairing_id: claimed.pairing_id, offer_public_key: claimed.offer_public_key }))
}

/// The claimer's proof; the offerer hears of the claim only with it.
pub async fn prove(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(pairing_id): ValidPath<String>,
    ValidJson(req): ValidJson<PairingProof>,
) -> Result<StatusCode, HttpError> {
    checks::id("pairing id", &pairing_id).map_err(|_| unknown_pairing())?;
    let (pid, proof) = (pairing_id.clone(), req.proof.clone());
    let proven =
        state.db.call(move |conn| pairing::prove(conn, &pid, &device.device_id, &proof, now_ms())).await.map_err(
            |e| match e {
                ProveError::NotFound => unknown_pairing(),
                ProveError::Expired => HttpError::new(StatusCode::GONE, code::PAIRING_EXPIRED, e.to_string()),
                ProveError::State => HttpError::new(StatusCode::CONFLICT, code::PAIRING_STATE, e.to_string()),
                ProveError::Db(e) => e.into(),
            },
        )?;
    let msg =
        PushMessage::PairingClaimed { pairing_id, claim_public_key: proven.claim_public_key, claim_proof: req.proof };
    state.push.send(&proven.offerer_id, &msg);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn complete(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(pairing_id): ValidPath<String>,
    ValidJson(req): ValidJson<PairingComplete>,
) -> Result<StatusCode, HttpError> {
    checks::id("pairing id", &pairing_id).map_err(|_| unknown_pairing())?;
    let pid = pairing_id.clone();
    let done = state
        .db
        .call(move |conn| pairing::complete(conn, &pid, &device.device_id, &req.wrapped_account_key, now_ms()))
        .await
        .map_err(|e| match e {
            CompleteError::NotFound => unknown_pairing(),
            CompleteError::Expired => HttpError::new(StatusCode::GONE, code::PAIRING_EXPIRED, e.to_string()),
            CompleteError::NotClaimed | CompleteError::AlreadyComplete => {
                HttpError::new(StatusCode::CONFLICT, code::PAIRING_STATE, e.to_string())
            }
            CompleteError::Db(e) => e.into(),
        })?;
    tracing::info!(device_id = %done.claimer_id, account_id = %done.account_id, "device joined account");
    state
        .push
        .send(&done.claimer_id, &PushMessage::PairingCompleted { pairing_id, account_id: done.account_id.clone() });
    for id in done.account_devices.iter().chain(&done.former_account_devices) {
        state.push.send(id, &PushMessage::DevicesChanged);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The offerer's host found the claimer's proof wrong: the code is spent.
pub async fn refuse(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(pairing_id): ValidPath<String>,
) -> Result<StatusCode, HttpError> {
    checks::id("pairing id", &pairing_id).map_err(|_| unknown_pairing())?;
    let refused = state.db.call(move |conn| pairing::refuse(conn, &pairing_id, &device.device_id)).await?;
    if !refused {
        return Err(unknown_pairing());
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn status(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(pairing_id): ValidPath<String>,
) -> Result<Json<PairingStatus>, HttpError> {
    checks::id("pairing id", &pairing_id).map_err(|_| unknown_pairing())?;
    state
        .db
        .call(move |conn| pairing::status(conn, &pairing_id, &device.device_id, now_ms()))
        .await?
        .map(Json)
        .ok_or_else(unknown_pairing)
}

fn invalid_code() -> HttpError {
    HttpError::new(
        StatusCode::NOT_FOUND,
        code::PAIRING_CODE_INVALID,
        "that pairing code is wrong, expired or already used; check it or show a new code on the other device",
    )
}

fn unknown_pairing() -> HttpError {
    HttpError::new(StatusCode::NOT_FOUND, code::UNKNOWN_PAIRING, "no such pairing for this device")
}
