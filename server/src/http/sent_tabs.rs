//! Send-to-device routes: send, pending list, delivery progress.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use baton_shared::api::PushMessage;
use baton_shared::limits::{MAX_SENT_TABS_PER_TARGET, MAX_SENT_TAB_BODY, MAX_SENT_TAB_BYTES_PER_TARGET};
use baton_shared::session::DeliveryState;
use baton_shared::sync::{DeliveryUpdate, PendingTabs, SendTab, TabSent};

use super::checks;
use super::error::{code, HttpError};
use super::extract::{AuthDevice, ValidJson, ValidPath, Validate};
use super::AppState;
use crate::clock::now_ms;
use crate::db::sent_tabs::{self, NewSend, Progress, Sent};

impl Validate for SendTab {
    fn validate(self) -> Result<Self, HttpError> {
        checks::id("target_device", &self.target_device)?;
        checks::base64("body", &self.body, MAX_SENT_TAB_BODY)?;
        Ok(self)
    }
}

impl Validate for DeliveryUpdate {
    fn validate(self) -> Result<Self, HttpError> {
        match self.state {
            DeliveryState::Sent => Err(HttpError::invalid_request("state must be delivered or opened")),
            _ => Ok(self),
        }
    }
}

pub async fn send(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidJson(req): ValidJson<SendTab>,
) -> Result<Json<TabSent>, HttpError> {
    let new = NewSend {
        send_id: state.ids.id()?,
        account_id: device.account_id,
        sender_id: device.device_id,
        target_id: req.target_device,
        body: req.body,
        now: now_ms(),
    };
    let msg = PushMessage::TabReceived {
        send_id: new.send_id.clone(),
        from_device: new.sender_id.clone(),
        body: new.body.clone(),
        sent_ms: new.now,
    };
    let target = new.target_id.clone();
    let send_id = new.send_id.clone();
    let sent = state.db.call(move |conn| sent_tabs::send(conn, &new)).await?;
    match sent {
        Sent::Stored => {}
        Sent::UnknownTarget => {
            return Err(HttpError::new(
                StatusCode::NOT_FOUND,
                code::UNKNOWN_DEVICE,
                "the target is not another device of this account",
            ))
        }
        Sent::TargetFull => {
            return Err(HttpError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                code::QUOTA_EXCEEDED,
                format!(
                    "that device already holds {MAX_SENT_TABS_PER_TARGET} tabs (or {} MiB) sent to it in the \
                     last 30 days; older ones make room as they expire",
                    MAX_SENT_TAB_BYTES_PER_TARGET / (1024 * 1024)
                ),
            ))
        }
    }
    state.push.send(&target, &msg);
    Ok(Json(TabSent { send_id }))
}

pub async fn pending(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
) -> Result<Json<PendingTabs>, HttpError> {
    let tabs = state.db.call(move |conn| sent_tabs::pending(conn, &device.device_id, now_ms())).await?;
    Ok(Json(PendingTabs { tabs }))
}

pub async fn set_state(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(send_id): ValidPath<String>,
    ValidJson(req): ValidJson<DeliveryUpdate>,
) -> Result<StatusCode, HttpError> {
    let unknown =
        || HttpError::new(StatusCode::NOT_FOUND, code::UNKNOWN_SEND, "no tab with that id was sent to this device");
    checks::id("send id", &send_id).map_err(|_| unknown())?;
    let id = send_id.clone();
    let progress = state
        .db
        .call(move |conn| sent_tabs::advance(conn, &id, &device.device_id, req.state))
        .await?
        .ok_or_else(unknown)?;
    if let Progress::Advanced { sender_id } = progress {
        let msg = PushMessage::Delivery { send_id, state: req.state };
        state.push.send(&sender_id, &msg);
    }
    Ok(StatusCode::NO_CONTENT)
}
