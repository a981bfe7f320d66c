//! `GET /v1/push`: the WebSocket a device keeps open to hear from the server.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use baton_shared::api::PushMessage;

use super::error::HttpError;
use super::extract::AuthDevice;
use super::ws::{close, expect_upgrade, send};
use super::AppState;
use crate::clock::now_ms;
use crate::db::devices;

/// Devices send nothing large on this socket; anything bigger is hostile or a bug.
const MAX_INCOMING_MESSAGE: usize = 64 * 1024;
/// Server pings this often so dead peers are noticed and proxies keep the socket open.
const KEEPALIVE: Duration = Duration::from_secs(30);

pub async fn upgrade(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, HttpError> {
    let ws = expect_upgrade(ws)?;
    Ok(ws
        .max_message_size(MAX_INCOMING_MESSAGE)
        .on_upgrade(move |socket| serve_socket(socket, state, device.device_id)))
}

async fn serve_socket(mut socket: WebSocket, state: AppState, device_id: String) {
    let id = device_id.clone();
    let now = now_ms();
    match state.db.call(move |conn| devices::touch(conn, &id, now)).await {
        Ok(true) => {}
        Ok(false) => {
            // Removed between authentication and upgrade.
            close(&mut socket, close_code::POLICY, "device no longer registered").await;
            return;
        }
        Err(err) => {
            tracing::error!(%err, device_id, "cannot record push connection");
            close(&mut socket, close_code::ERROR, "internal server error").await;
            return;
        }
    }

    let (_registration, mut outbox) = state.push.register(&device_id);
    tracing::info!(device_id, "push socket open");
    let hello = PushMessage::Hello { device_id: device_id.clone(), server_version: baton_shared::VERSION.to_owned() };
    if send(&mut socket, &hello).await.is_err() {
        return;
    }

    let mut shutdown = state.shutdown.clone();
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                None | Some(Ok(Message::Close(_))) => break,
                Some(Err(err)) => {
                    tracing::debug!(%err, device_id, "push socket read failed");
                    break;
                }
                // The socket answers pings itself on the next read.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    tracing::debug!(device_id, "ignoring message from device on push socket");
                }
            },
            Some(msg) = outbox.recv() => {
                if send(&mut socket, &msg).await.is_err() {
                    break;
                }
            }
            _ = keepalive.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            // Fires on shutdown, and also if the sender is gone: either way, leave.
            _ = shutdown.changed() => {
                close(&mut socket, close_code::AWAY, "server shutting down").await;
                break;
            }
        }
    }
    tracing::info!(device_id, "push socket closed");
}
