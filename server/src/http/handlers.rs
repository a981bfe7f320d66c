//! Plain HTTP handlers. Inputs arrive validated (see `extract`).

use axum::extract::State;
use axum::Json;
use baton_shared::api::{DeviceRecord, DeviceRegistered, RegisterDevice, ServerInfo, SERVICE_NAME};

use super::counted::counted;
use super::error::HttpError;
use super::extract::{AuthDevice, ClientAddr, ValidJson};
use super::AppState;
use crate::clock::now_ms;
use crate::credentials::hash_token;
use crate::db::devices::{self, NewDevice};

pub async fn status() -> Json<ServerInfo> {
    Json(ServerInfo { service: SERVICE_NAME.to_owned(), version: baton_shared::VERSION.to_owned() })
}

/// Creates a new account holding this one device and hands out its token.
pub async fn register_device(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ValidJson(req): ValidJson<RegisterDevice>,
) -> Result<Json<DeviceRegistered>, HttpError> {
    let refused = "too many devices registered from this address; wait and try again";
    counted(&state.registrations, client, refused, register(&state, req)).await.map(Json)
}

async fn register(state: &AppState, req: RegisterDevice) -> Result<DeviceRegistered, HttpError> {
    let device_token = state.ids.device_token()?;
    let new = NewDevice {
        account_id: state.ids.id()?,
        device_id: state.ids.id()?,
        name: req.name,
        kind: req.kind,
        token_hash: hash_token(&device_token),
        now: now_ms(),
    };
    let record = state.db.call(move |conn| devices::register(conn, &new)).await?;
    tracing::info!(device_id = %record.device_id, account_id = %record.account_id, "registered device");
    Ok(DeviceRegistered { account_id: record.account_id, device_id: record.device_id, device_token })
}

pub async fn device_self(AuthDevice(device): AuthDevice) -> Json<DeviceRecord> {
    Json(device)
}

pub async fn not_found() -> HttpError {
    HttpError::not_found()
}

pub async fn method_not_allowed() -> HttpError {
    HttpError::method_not_allowed()
}
