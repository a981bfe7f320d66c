//! Co-browsing routes: create a session (visitor), join it with the code
//! (operator), read its audit log and recording (see `baton_shared::cobrowse`).
//! The relay socket lives in `relay_socket`.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use baton_shared::api::DeviceRecord;
use baton_shared::cobrowse::{
    AuditLog, CreateSession, JoinSession, Recording, RecordingQuery, SessionCreated, SessionJoined,
};
use baton_shared::limits::{COBROWSE_GUESSES_PER_CODE, RECORDING_PAGE_BYTES, RECORDING_PAGE_FRAMES};

use super::checks;
use super::counted::counted;
use super::error::{code, HttpError};
use super::extract::{AuthDevice, ClientAddr, ValidJson, ValidPath, ValidQuery, Validate};
use super::AppState;
use crate::clock::now_ms;
use crate::credentials::normalize_lookup;
use crate::db::cobrowse::{self, Expiry, JoinError, NewSession, PageRequest};

/// Lookups tried per session before giving up (only fails with ~a million live codes).
const LOOKUP_ATTEMPTS: usize = 8;

impl Validate for CreateSession {
    fn validate(self) -> Result<Self, HttpError> {
        checks::public_key(&self.visitor_public_key)?;
        Ok(self)
    }
}

impl Validate for RecordingQuery {
    fn validate(self) -> Result<Self, HttpError> {
        if self.after.is_some_and(|after| i64::try_from(after).is_err()) {
            return Err(HttpError::invalid_request("after is not a cursor this server gave"));
        }
        if self.limit.is_some_and(|l| !(1..=RECORDING_PAGE_FRAMES).contains(&l)) {
            return Err(HttpError::invalid_request(format!("limit must be 1 to {RECORDING_PAGE_FRAMES}")));
        }
        Ok(self)
    }
}

impl Validate for JoinSession {
    fn validate(self) -> Result<Self, HttpError> {
        checks::public_key(&self.operator_public_key)?;
        // A malformed lookup is answered like an unknown one (and counted), in the handler.
        Ok(self)
    }
}

pub async fn create(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AuthDevice(device): AuthDevice,
    ValidJson(req): ValidJson<CreateSession>,
) -> Result<Json<SessionCreated>, HttpError> {
    // Each session holds one of the few codes while it waits.
    let refused = "too many co-browsing sessions started from this address; wait and try again";
    counted(&state.shares, client, refused, create_session(&state, device, req)).await.map(Json)
}

async fn create_session(
    state: &AppState,
    device: DeviceRecord,
    req: CreateSession,
) -> Result<SessionCreated, HttpError> {
    let now = now_ms();
    let new = NewSession {
        session_id: state.ids.id()?,
        visitor: device,
        visitor_public_key: req.visitor_public_key,
        now,
        expires_ms: now.saturating_add(state.settings.cobrowse_code_ttl_ms),
    };
    let candidates = state.ids.lookups(LOOKUP_ATTEMPTS)?;
    let (session_id, expires_ms) = (new.session_id.clone(), new.expires_ms);
    let lookup = state.db.call(move |conn| cobrowse::create(conn, &new, &candidates)).await?.ok_or_else(|| {
        HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            "no free co-browsing code right now; try again",
        )
    })?;
    tracing::info!(session_id, "co-browsing session created");
    Ok(SessionCreated { session_id, lookup, expires_ms })
}

pub async fn join(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AuthDevice(device): AuthDevice,
    ValidJson(req): ValidJson<JoinSession>,
) -> Result<Json<SessionJoined>, HttpError> {
    let attempt = state.cobrowse_guesses.reserve(client).await?.map_err(|wait| {
        HttpError::rate_limited("too many wrong co-browsing codes from this address; wait and try again", wait)
    })?;
    let Some(lookup) = normalize_lookup(&req.lookup) else {
        return Err(invalid_code());
    };
    let operator = device.clone();
    let public_key = req.operator_public_key;
    let consent_ttl_ms = state.settings.cobrowse_consent_ttl_ms;
    let result = state
        .db
        .call(move |conn| cobrowse::join(conn, &lookup, &operator, &public_key, now_ms(), consent_ttl_ms))
        .await;
    // Wrong codes stay counted against the client, and so do refusals: a
    // 403 tells that the code is live.
    if !matches!(result, Err(JoinError::Invalid | JoinError::Exhausted | JoinError::Denied(_))) {
        attempt.release().await;
    }
    let joined = match result {
        Ok(joined) => joined,
        Err(JoinError::Invalid) => return Err(invalid_code()),
        Err(JoinError::Exhausted) => {
            return Err(HttpError::rate_limited(
                format!(
                    "this co-browsing code saw {COBROWSE_GUESSES_PER_CODE} wrong attempts and is blocked; \
                     ask the visitor to share again for a new code"
                ),
                Duration::from_millis(u64::try_from(state.settings.cobrowse_code_ttl_ms).unwrap_or(0)),
            ));
        }
        Err(JoinError::Denied(denied)) => {
            tracing::info!(operator = %device.device_id, %denied, "co-browsing join refused");
            return Err(HttpError::new(StatusCode::FORBIDDEN, code::FORBIDDEN, denied.to_string()));
        }
        Err(JoinError::ConsentExpired { session_id }) => {
            state.relay.finish(&session_id, Expiry::Consent.reason());
            return Err(invalid_code());
        }
        Err(e @ JoinError::OwnSession) => return Err(HttpError::invalid_request(e.to_string())),
        Err(JoinError::Db(e)) => return Err(e.into()),
    };
    let session_id = joined.session.id.clone();
    tracing::info!(session_id, operator = %device.device_id, "operator joined co-browsing session");
    state.relay.operator_joined(joined.session);
    Ok(Json(SessionJoined {
        session_id,
        visitor_public_key: joined.visitor_public_key,
        visitor_name: joined.visitor_name,
    }))
}

pub async fn audit(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(session_id): ValidPath<String>,
) -> Result<Json<AuditLog>, HttpError> {
    checks::id("session id", &session_id).map_err(|_| unknown_session())?;
    let id = session_id.clone();
    let (entries, expired) = state
        .db
        .call(move |conn| cobrowse::audit_log(conn, &id, &device, now_ms()))
        .await?
        .ok_or_else(unknown_session)?;
    if let Some(expiry) = expired {
        state.relay.finish(&session_id, expiry.reason());
    }
    Ok(Json(AuditLog { session_id, entries }))
}

pub async fn recording(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(session_id): ValidPath<String>,
    ValidQuery(query): ValidQuery<RecordingQuery>,
) -> Result<Json<Recording>, HttpError> {
    checks::id("session id", &session_id).map_err(|_| unknown_session())?;
    // Frames still on their way to the disk belong in the answer.
    state.relay.recorder.flush().await;
    let id = session_id.clone();
    let page = PageRequest {
        // Validated to fit.
        after: query.after.and_then(|a| i64::try_from(a).ok()).unwrap_or(0),
        max_frames: usize::try_from(query.limit.unwrap_or(RECORDING_PAGE_FRAMES)).unwrap_or(usize::MAX),
        max_bytes: RECORDING_PAGE_BYTES,
    };
    let page =
        state.db.call(move |conn| cobrowse::recording(conn, &id, &device, page)).await?.ok_or_else(unknown_session)?;
    Ok(Json(Recording { session_id, frames: page.frames, next: page.next }))
}

fn invalid_code() -> HttpError {
    HttpError::new(
        StatusCode::NOT_FOUND,
        code::COBROWSE_CODE_INVALID,
        "that co-browsing code is wrong, expired or already used; check it or ask the visitor to share again",
    )
}

pub fn unknown_session() -> HttpError {
    HttpError::new(StatusCode::NOT_FOUND, code::UNKNOWN_COBROWSE_SESSION, "no such co-browsing session for this device")
}
