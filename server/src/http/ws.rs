//! What the two WebSocket routes (`push_socket`, `relay_socket`) share:
//! the upgrade check and writing JSON messages and close frames.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use serde::Serialize;

use super::error::{code, HttpError};

/// A plain request where a WebSocket upgrade was expected is a typed error.
pub fn expect_upgrade(ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Result<WebSocketUpgrade, HttpError> {
    ws.map_err(|r| {
        HttpError::new(r.status(), code::INVALID_REQUEST, format!("expected a WebSocket upgrade: {}", r.body_text()))
    })
}

/// Sends one message as a JSON text frame.
pub async fn send<T: Serialize>(socket: &mut WebSocket, msg: &T) -> Result<(), axum::Error> {
    let text = serde_json::to_string(msg).map_err(axum::Error::new)?;
    socket.send(Message::Text(text.into())).await
}

pub async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame { code, reason: reason.into() };
    // The peer may already be gone; nothing more to do then.
    let _ = socket.send(Message::Close(Some(frame))).await;
}
