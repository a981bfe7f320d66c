//! The one error type handlers and extractors return: an HTTP status with an
//! [`ApiError`] JSON body. Internal details go to the log, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_shared::api::ApiError;

use crate::credentials::RandomError;
use crate::db::DbError;

/// `ApiError.code` values this server sends.
pub mod code {
    pub const INVALID_JSON: &str = "invalid_json";
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const INTERNAL: &str = "internal";
    pub const CONFLICT: &str = "conflict";
    pub const UNKNOWN_DEVICE: &str = "unknown_device";
    pub const UNKNOWN_SEND: &str = "unknown_send";
    pub const UNKNOWN_PAIRING: &str = "unknown_pairing";
    pub const PAIRING_CODE_INVALID: &str = "pairing_code_invalid";
    pub const PAIRING_EXPIRED: &str = "pairing_expired";
    pub const PAIRING_STATE: &str = "pairing_state";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    pub const NOT_A_MEMBER: &str = "not_a_member";
    pub const INVITE_INVALID: &str = "invite_invalid";
    pub const COBROWSE_CODE_INVALID: &str = "cobrowse_code_invalid";
    pub const UNKNOWN_COBROWSE_SESSION: &str = "unknown_cobrowse_session";
    pub const UNAVAILABLE: &str = "unavailable";
    /// The caller is known but may not do this (organisation roles).
    pub const FORBIDDEN: &str = "forbidden";
}

#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds for a `Retry-After` header (429s).
    retry_after: Option<u64>,
}

impl HttpError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self {
            // Round up so a client that waits exactly this long is let in.
            retry_after: Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code::RATE_LIMITED, message)
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::INVALID_REQUEST, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code::UNAUTHORIZED, "missing or unknown device token")
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, code::NOT_FOUND, "no such endpoint")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, code::METHOD_NOT_ALLOWED, "method not allowed on this endpoint")
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL, "internal server error")
    }
}

impl From<DbError> for HttpError {
    fn from(err: DbError) -> Self {
        tracing::error!(%err, "database error");
        Self::internal()
    }
}

impl From<RandomError> for HttpError {
    fn from(err: RandomError) -> Self {
        tracing::error!(%err, "cannot generate credentials");
        Self::internal()
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = ApiError { code: self.code.to_owned(), message: self.message };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
