//! The HTTP and WebSocket API (`baton_shared::api`).

mod error;
mod extract;
mod handlers;
mod push_socket;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use baton_shared::api::{PATH_DEVICES, PATH_DEVICE_SELF, PATH_PUSH, PATH_STATUS};
use baton_shared::limits::MAX_HTTP_BODY;
use tokio::sync::watch;

use crate::credentials::Generator;
use crate::db::Db;
use crate::push::PushRegistry;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub ids: Generator,
    pub push: PushRegistry,
    /// Turns `true` when the server is stopping; open sockets close on it.
    pub shutdown: watch::Receiver<bool>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(PATH_STATUS, get(handlers::status))
        .route(PATH_DEVICES, post(handlers::register_device))
        .route(PATH_DEVICE_SELF, get(handlers::device_self))
        .route(PATH_PUSH, get(push_socket::upgrade))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_HTTP_BODY))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    tracing::debug!(%method, path, status = response.status().as_u16(), "request");
    response
}
