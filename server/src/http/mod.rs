//! The HTTP and WebSocket API (`baton_shared::api`).

mod checks;
mod cobrowse;
mod counted;
mod error;
mod extract;
mod handlers;
mod orgs;
mod pairing;
mod push_socket;
mod relay_socket;
mod sent_tabs;
mod sync;
mod ws;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use baton_shared::api::{PATH_DEVICES, PATH_DEVICE_SELF, PATH_PUSH, PATH_STATUS};
use baton_shared::cobrowse::{PATH_JOIN, PATH_SESSIONS};
use baton_shared::limits::MAX_HTTP_BODY;
use baton_shared::sync::{
    PATH_ACCOUNT_DEVICES, PATH_PAIRING_CLAIM, PATH_PAIRING_OFFER, PATH_PULL, PATH_RECONCILE, PATH_SENDTAB,
    PATH_SENDTAB_PENDING, PATH_UPLOAD,
};
use tokio::sync::watch;

use crate::config::Settings;
use crate::credentials::Generator;
use crate::db::Db;
use crate::push::PushRegistry;
use crate::rate_limit::FailureWindow;
use crate::relay::Relay;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub ids: Generator,
    pub push: PushRegistry,
    /// Turns `true` when the server is stopping; open sockets close on it.
    pub shutdown: watch::Receiver<bool>,
    pub settings: Settings,
    /// Failed pairing claims per client address.
    pub pairing_guesses: FailureWindow,
    /// Failed co-browsing joins per client address.
    pub cobrowse_guesses: FailureWindow,
    /// Device registrations per client address (every one counts).
    pub registrations: FailureWindow,
    /// Co-browsing sessions started per client address (every one counts).
    pub shares: FailureWindow,
    /// Live co-browsing rooms and the recording writer.
    pub relay: Relay,
}

pub fn router(state: AppState) -> Router {
    orgs::start_retention(state.db.clone(), state.settings.session_retention_days, state.shutdown.clone());
    Router::new()
        .route(PATH_STATUS, get(handlers::status))
        .route(PATH_DEVICES, post(handlers::register_device))
        .route(PATH_DEVICE_SELF, get(handlers::device_self))
        .route(PATH_PUSH, get(push_socket::upgrade))
        .route(PATH_UPLOAD, post(sync::upload))
        .route(PATH_PULL, post(sync::pull))
        .route(PATH_RECONCILE, post(sync::reconcile))
        .route(PATH_ACCOUNT_DEVICES, get(sync::account_devices))
        .route(PATH_PAIRING_OFFER, post(pairing::offer))
        .route(PATH_PAIRING_CLAIM, post(pairing::claim))
        .route("/v1/pairing/{pairing_id}", get(pairing::status))
        .route("/v1/pairing/{pairing_id}/proof", post(pairing::prove))
        .route("/v1/pairing/{pairing_id}/complete", post(pairing::complete))
        .route("/v1/pairing/{pairing_id}/refuse", post(pairing::refuse))
        .route(PATH_SENDTAB, post(sent_tabs::send))
        .route(PATH_SENDTAB_PENDING, get(sent_tabs::pending))
        .route("/v1/sendtab/{send_id}/state", post(sent_tabs::set_state))
        .route(PATH_SESSIONS, post(cobrowse::create))
        .route(PATH_JOIN, post(cobrowse::join))
        .route("/v1/cobrowse/{session_id}/relay", get(relay_socket::upgrade))
        .route("/v1/cobrowse/{session_id}/audit", get(cobrowse::audit))
        .route("/v1/cobrowse/{session_id}/recording", get(cobrowse::recording))
        .route("/v1/orgs", post(orgs::create))
        .route(baton_shared::api::PATH_ORG_JOIN, post(orgs::join))
        .route("/v1/orgs/{org_id}/invites", post(orgs::invite))
        .route("/v1/orgs/{org_id}/members/{account_id}", put(orgs::set_member))
        .route("/v1/orgs/{org_id}/policy", put(orgs::set_policy))
        .route("/v1/orgs/{org_id}/sessions", get(orgs::sessions))
        .route("/v1/orgs/{org_id}/audit", get(orgs::audit))
        .route("/v1/orgs/{org_id}/retention", post(orgs::run_retention))
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
