//! The push WebSocket.

use std::time::Duration;

use baton_shared::api::{DeviceRecord, PushMessage, PATH_DEVICE_SELF, PATH_PUSH};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{client, Server};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(server: &Server, token: &str) -> Result<Socket, tungstenite::Error> {
    let mut request = server.ws_url(PATH_PUSH).into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.map(|(socket, _)| socket)
}

async fn next(socket: &mut Socket) -> Message {
    tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("no message from server")
        .expect("socket ended")
        .unwrap()
}

#[tokio::test]
async fn hello_first_then_pings_answered() {
    let server = Server::start().await;
    let device = server.register("Desk").await;
    tokio::time::sleep(Duration::from_millis(5)).await;

    let mut socket = connect(&server, &device.device_token).await.unwrap();
    let hello: PushMessage = serde_json::from_str(next(&mut socket).await.to_text().unwrap()).unwrap();
    assert_eq!(
        hello,
        PushMessage::Hello { device_id: device.device_id.clone(), server_version: baton_shared::VERSION.into() }
    );

    socket.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::Pong(b"are you there".to_vec().into()));

    // Opening the socket counted as being seen.
    let me: DeviceRecord = client()
        .get(server.url(PATH_DEVICE_SELF))
        .bearer_auth(&device.device_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(me.last_seen > me.created_at, "{me:?}");

    // Text from the device is ignored, not fatal.
    socket.send(Message::text("{\"type\":\"whatever\"}")).await.unwrap();
    socket.send(Message::Ping(b"still".to_vec().into())).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::Pong(b"still".to_vec().into()));
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn bad_or_missing_token_is_refused_before_upgrade() {
    let server = Server::start().await;
    server.register("Desk").await;

    match connect(&server, &"f".repeat(64)).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected HTTP 401, got {:?}", other.map(|_| "a socket")),
    }

    let request = server.ws_url(PATH_PUSH).into_client_request().unwrap();
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected HTTP 401, got {:?}", other.map(|_| "a socket")),
    }
}

#[tokio::test]
async fn plain_get_on_push_is_a_typed_error() {
    let server = Server::start().await;
    let device = server.register("Desk").await;
    let response = client().get(server.url(PATH_PUSH)).bearer_auth(&device.device_token).send().await.unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let err: baton_shared::api::ApiError = response.json().await.unwrap();
    assert_eq!(err.code, "invalid_request");
}

#[tokio::test]
async fn sigterm_closes_open_sockets_and_exits_zero() {
    let server = Server::start().await;
    let device = server.register("Desk").await;
    let mut socket = connect(&server, &device.device_token).await.unwrap();
    assert!(next(&mut socket).await.is_text());

    let status = server.terminate().await;
    assert!(status.success(), "{status:?}");
    match next(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
}
