//! Delta sync routes (`baton_shared::sync`): upload, pull, reconcile, and the
//! account's device list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_shared::api::{DeviceRecord, PushMessage};
use baton_shared::limits::{MAX_RECORD_BODY, MAX_RECORD_ID, MAX_UPLOAD_CHANGES};
use baton_shared::sync::{
    AccountDevice, AccountDevices, CollectionDelta, PullRequest, PullResponse, ReconcileRequest, UploadConflict,
    UploadRequest, UploadResponse,
};

use super::checks;
use super::error::{code, HttpError};
use super::extract::{AuthDevice, ValidJson, Validate};
use super::AppState;
use crate::clock::now_ms;
use crate::db::devices;
use crate::db::sync::{self, Owner, UploadOutcome};

fn record_id(value: &str) -> Result<(), HttpError> {
    if value.is_empty() || value.chars().count() > MAX_RECORD_ID {
        return Err(HttpError::invalid_request(format!("record id must be 1 to {MAX_RECORD_ID} characters")));
    }
    Ok(())
}

impl Validate for UploadRequest {
    fn validate(self) -> Result<Self, HttpError> {
        if self.changes.len() > MAX_UPLOAD_CHANGES {
            return Err(HttpError::invalid_request(format!(
                "{} changes in one upload; at most {MAX_UPLOAD_CHANGES}",
                self.changes.len()
            )));
        }
        for change in &self.changes {
            record_id(&change.id)?;
            if let Some(replaces) = &change.replaces {
                checks::token("replaces", replaces)?;
            }
            if let Some(record) = &change.record {
                if record.id != change.id {
                    return Err(HttpError::invalid_request(format!(
                        "change for {:?} carries record {:?}",
                        change.id, record.id
                    )));
                }
                checks::token("record token", &record.token)?;
                checks::base64("record body", &record.body, MAX_RECORD_BODY)?;
            }
        }
        Ok(self)
    }
}

impl Validate for PullRequest {
    fn validate(self) -> Result<Self, HttpError> {
        for have in &self.have {
            checks::id("owner", &have.owner)?;
            checks::token("collection token", &have.token)?;
        }
        Ok(self)
    }
}

impl Validate for ReconcileRequest {
    fn validate(self) -> Result<Self, HttpError> {
        checks::id("owner", &self.owner)?;
        for (id, token) in &self.pairs {
            record_id(id)?;
            checks::token("record token", token)?;
        }
        Ok(self)
    }
}

/// An upload's answer: the new token, or 409 naming the stale changes.
pub enum UploadReply {
    Applied(UploadResponse),
    Conflict(UploadConflict),
}

impl IntoResponse for UploadReply {
    fn into_response(self) -> Response {
        match self {
            Self::Applied(ok) => Json(ok).into_response(),
            Self::Conflict(c) => (StatusCode::CONFLICT, Json(c)).into_response(),
        }
    }
}

pub async fn upload(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidJson(req): ValidJson<UploadRequest>,
) -> Result<UploadReply, HttpError> {
    let collection = req.collection;
    let (account_id, device_id) = (device.account_id.clone(), device.device_id.clone());
    let quota = state.settings.device_quota;
    let outcome = state
        .db
        .call(move |conn| {
            let owner = Owner { account_id: &account_id, device_id: &device_id, collection };
            sync::upload(conn, owner, &req.changes, now_ms(), quota)
        })
        .await?;
    match outcome {
        UploadOutcome::Applied { token, changed } => {
            if changed {
                let msg = PushMessage::Changed { owner: device.device_id.clone(), collection, token: token.clone() };
                push_to_others(&state, &device, &msg).await?;
            }
            Ok(UploadReply::Applied(UploadResponse { token }))
        }
        UploadOutcome::Conflict { conflicts, token } => Ok(UploadReply::Conflict(UploadConflict {
            code: code::CONFLICT.to_owned(),
            message: format!(
                "{} change(s) name a token the server does not hold; reconcile and retry",
                conflicts.len()
            ),
            conflicts,
            token,
        })),
        UploadOutcome::OverQuota { usage, quota } => Err(HttpError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            code::QUOTA_EXCEEDED,
            format!(
                "this device would keep {} records, {} bytes on the server; it may keep {} records, {} bytes \
                 (close tabs or clear form data, then it syncs again)",
                usage.records, usage.bytes, quota.records, quota.bytes
            ),
        )),
    }
}

pub async fn pull(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidJson(req): ValidJson<PullRequest>,
) -> Result<Json<PullResponse>, HttpError> {
    let (account_id, device_id) = (device.account_id.clone(), device.device_id.clone());
    let (all, collections) = state
        .db
        .call(move |conn| {
            let all = devices::in_account(conn, &account_id)?;
            let collections = sync::pull(conn, &account_id, &device_id, &req.have)?;
            Ok::<_, crate::db::DbError>((all, collections))
        })
        .await?;
    let devices = listed(&state, all).into_iter().filter(|d| d.id != device.device_id).collect();
    Ok(Json(PullResponse { devices, collections }))
}

pub async fn reconcile(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidJson(req): ValidJson<ReconcileRequest>,
) -> Result<Json<CollectionDelta>, HttpError> {
    let account_id = device.account_id;
    let delta = state
        .db
        .call(move |conn| {
            let owner = Owner { account_id: &account_id, device_id: &req.owner, collection: req.collection };
            sync::reconcile(conn, owner, &req.pairs)
        })
        .await?;
    delta.map(Json).ok_or_else(|| {
        HttpError::new(StatusCode::NOT_FOUND, code::UNKNOWN_DEVICE, "no device with that id in this account")
    })
}

pub async fn account_devices(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
) -> Result<Json<AccountDevices>, HttpError> {
    let account_id = device.account_id.clone();
    let all = state.db.call(move |conn| devices::in_account(conn, &account_id)).await?;
    Ok(Json(AccountDevices { account_id: device.account_id, devices: listed(&state, all) }))
}

/// Devices as the API lists them, with whether each holds a push socket now.
fn listed(state: &AppState, all: Vec<DeviceRecord>) -> Vec<AccountDevice> {
    all.into_iter()
        .map(|d| AccountDevice {
            online: state.push.is_connected(&d.device_id),
            id: d.device_id,
            name: d.name,
            kind: d.kind,
            last_seen_ms: d.last_seen,
        })
        .collect()
}

/// Pushes `msg` to every other device of `device`'s account that is connected.
pub async fn push_to_others(state: &AppState, device: &DeviceRecord, msg: &PushMessage) -> Result<(), HttpError> {
    let account_id = device.account_id.clone();
    let all = state.db.call(move |conn| devices::in_account(conn, &account_id)).await?;
    for other in all.iter().filter(|d| d.device_id != device.device_id) {
        state.push.send(&other.device_id, msg);
    }
    Ok(())
}
