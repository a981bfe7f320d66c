//! Authenticated JSON calls to `baton-server`, with one typed error for every
//! way a call can fail, so callers can tell "offline, retry later" from
//! "the server said no".

use serde::de::DeserializeOwned;
use serde::Serialize;

use baton_shared::api::ApiError;
use baton_shared::limits::MAX_HTTP_REPLY;
use baton_shared::native::ErrorCode;
use baton_shared::sync::UploadConflict;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("this device is not registered with the server yet")]
    NotRegistered,
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    #[error("the server answered HTTP {status}: {message} ({code})")]
    Status { status: u16, code: String, message: String },
    #[error("the server holds other versions of {} records", .0.conflicts.len())]
    Conflict(UploadConflict),
    #[error("the server answered something that is not Baton's protocol: {0}")]
    Garbage(String),
    #[error("local failure: {0}")]
    Local(String),
}

impl CallError {
    /// Errors that mean "try again later" and keep everything queued.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::NotRegistered)
            || matches!(self, Self::Status { status, .. } if *status >= 500)
    }

    /// The code the extension sees for a request that failed on this.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::NotRegistered | Self::Unreachable(_) => ErrorCode::Offline,
            Self::Status { status: 401 | 403, .. } => ErrorCode::ServerRejected,
            Self::Status { status: 429, .. } => ErrorCode::RateLimited,
            Self::Status { .. } | Self::Conflict(_) => ErrorCode::ServerError,
            Self::Garbage(_) => ErrorCode::ServerGarbage,
            Self::Local(_) => ErrorCode::Internal,
        }
    }
}

/// A device's authenticated view of the server.
#[derive(Clone)]
pub struct ServerApi {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl ServerApi {
    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R, CallError> {
        let req = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body);
        parse(send(req).await?)
    }

    /// A POST whose answer carries nothing (204).
    pub async fn post_empty<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<(), CallError> {
        let req = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body);
        send(req).await.map(drop)
    }

    pub async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, CallError> {
        let req = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token);
        parse(send(req).await?)
    }
}

/// Why a reply body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {limit} bytes, more than any Baton reply")]
    TooLarge { limit: usize },
    #[error("{}", crate::server_link::describe(.0))]
    Transport(reqwest::Error),
}

impl From<BodyError> for CallError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge { .. } => Self::Garbage(e.to_string()),
            BodyError::Transport(_) => Self::Unreachable(e.to_string()),
        }
    }
}

/// Reads a reply body of at most `limit` bytes. Whatever answers (a URL the
/// extension configured may point anywhere) could send without end; a
/// larger answer is refused as soon as it shows, never held whole.
pub async fn read_body(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    let announced = resp.content_length().unwrap_or(0);
    if announced > limit as u64 {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(announced as usize);
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn send(req: reqwest::RequestBuilder) -> Result<Vec<u8>, CallError> {
    let resp = req.send().await.map_err(|e| CallError::Unreachable(crate::server_link::describe(&e)))?;
    let status = resp.status();
    let bytes = read_body(resp, MAX_HTTP_REPLY).await?;
    if status.is_success() {
        return Ok(bytes);
    }
    if status.as_u16() == 409 {
        if let Ok(conflict) = serde_json::from_slice::<UploadConflict>(&bytes) {
            return Err(CallError::Conflict(conflict));
        }
    }
    let (code, message) = match serde_json::from_slice::<ApiError>(&bytes) {
        Ok(e) => (e.code, e.message),
        Err(_) => (String::new(), String::from_utf8_lossy(&bytes).chars().take(200).collect()),
    };
    Err(CallError::Status { status: status.as_u16(), code, message })
}

fn parse<R: DeserializeOwned>(body: Vec<u8>) -> Result<R, CallError> {
    serde_json::from_slice(&body).map_err(|e| CallError::Garbage(e.to_string()))
}
