//! Creations limited per client address (devices, co-browsing sessions):
//! every one counts against the window, unless it failed.

use std::future::Future;
use std::net::IpAddr;

use super::error::HttpError;
use crate::rate_limit::FailureWindow;

/// Runs `create` as one of `client`'s attempts in `window`: a 429 saying
/// `refused` while the window is full. The attempt is counted before it
/// runs, so requests sent at once cannot all pass, and given back if it
/// fails.
pub async fn counted<T>(
    window: &FailureWindow,
    client: IpAddr,
    refused: &str,
    create: impl Future<Output = Result<T, HttpError>>,
) -> Result<T, HttpError> {
    let attempt = window.reserve(client).await?.map_err(|wait| HttpError::rate_limited(refused, wait))?;
    let created = create.await;
    if created.is_err() {
        attempt.release().await;
    }
    created
}
