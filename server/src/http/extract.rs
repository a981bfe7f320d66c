//! Extractors: every request is authenticated and its body validated here,
//! before a handler runs.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use baton_shared::api::{validate_device_name, DeviceRecord, RegisterDevice};
use serde::de::DeserializeOwned;

use super::error::{code, HttpError};
use super::AppState;
use crate::clock::now_ms;
use crate::credentials::hash_token;
use crate::db::devices;

/// `last_seen` is written at most this often per device, so reads stay reads.
const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;

/// Longest bearer token looked up; real ones are 64 hex characters.
const MAX_TOKEN_LEN: usize = 256;

/// The device named by the request's `Authorization: Bearer <token>` header.
pub struct AuthDevice(pub DeviceRecord);

impl FromRequestParts<AppState> for AuthDevice {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let token = bearer_token(parts).ok_or_else(HttpError::unauthorized)?;
        let hash = hash_token(token);
        let device = state
            .db
            .call(move |conn| devices::by_token_hash(conn, &hash))
            .await?
            .ok_or_else(HttpError::unauthorized)?;
        let now = now_ms();
        if now - device.last_seen >= LAST_SEEN_RESOLUTION_MS {
            let id = device.device_id.clone();
            state.db.call(move |conn| devices::touch(conn, &id, now)).await?;
        }
        Ok(Self(device))
    }
}

/// The client a request is counted against in the guess limits: the socket
/// peer, or, when the peer is a trusted proxy (`--trusted-proxy`), the
/// right-most untrusted address of its `X-Forwarded-For` (see `forwarded`).
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied().ok_or_else(|| {
            tracing::error!("no connection info: the router was served without it");
            HttpError::internal()
        })?;
        let trusted = &state.settings.trusted_proxies;
        if trusted.is_empty() {
            return Ok(Self(peer.ip()));
        }
        // A value that is not text is nothing a proxy wrote: it ends the list.
        let values: Vec<&str> =
            parts.headers.get_all(X_FORWARDED_FOR).iter().map(|v| v.to_str().unwrap_or("-")).collect();
        Ok(Self(crate::forwarded::client_addr(peer.ip(), values.into_iter(), trusted)))
    }
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    let plausible = scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_TOKEN_LEN;
    plausible.then_some(token)
}

/// A request body that must be checked beyond its JSON shape.
pub trait Validate: Sized {
    /// Returns the value normalised, or a 400 naming what is wrong.
    fn validate(self) -> Result<Self, HttpError>;
}

impl Validate for RegisterDevice {
    fn validate(self) -> Result<Self, HttpError> {
        let name = validate_device_name(&self.name).map_err(HttpError::invalid_request)?;
        Ok(Self { name: name.to_owned(), ..self })
    }
}

/// A JSON body that parsed and passed [`Validate`].
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, HttpError> {
        let Json(value) = Json::<T>::from_request(req, state).await.map_err(json_rejection)?;
        Ok(Self(value.validate()?))
    }
}

/// A query string that parsed and passed [`Validate`].
pub struct ValidQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HttpError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| HttpError::invalid_request(e.body_text()))?;
        Ok(Self(value.validate()?))
    }
}

/// Path parameters that parsed. A bad one (say, not UTF-8 once decoded) is
/// a JSON `invalid_request`; handlers take it after [`AuthDevice`] so an
/// unauthenticated caller learns nothing about its path (extractors run in
/// argument order).
pub struct ValidPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HttpError> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await.map_err(path_rejection)?;
        Ok(Self(value))
    }
}

fn path_rejection(rejection: PathRejection) -> HttpError {
    if rejection.status().is_client_error() {
        return HttpError::invalid_request(rejection.body_text());
    }
    // The route and its handler disagree on the parameters: a bug here.
    tracing::error!(rejection = rejection.body_text(), "cannot extract path parameters");
    HttpError::internal()
}

fn json_rejection(rejection: JsonRejection) -> HttpError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => HttpError::new(StatusCode::BAD_REQUEST, code::INVALID_JSON, e.body_text()),
        JsonRejection::JsonDataError(e) => HttpError::invalid_request(e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            HttpError::invalid_request("expected header Content-Type: application/json")
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {} bytes", baton_shared::limits::MAX_HTTP_BODY),
        ),
        other => HttpError::new(other.status(), code::INVALID_REQUEST, other.body_text()),
    }
}
