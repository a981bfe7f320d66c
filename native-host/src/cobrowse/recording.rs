//! Replaying a recorded session: the server keeps the frames as they
//! crossed the relay (ciphertext) and hands them out in pages; the host
//! opens a page's frames with the key it stored when it took part and
//! hands them to the console a batch at a time (the console asks for the
//! next batch with the cursor of the last).

use std::sync::Arc;

use baton_shared::cobrowse::{RecordedFrame, Recording, RecordingQuery};
use baton_shared::limits::{RECORDING_PAGE_FRAMES, REPLAY_BATCH_BYTES};
use baton_shared::native::{ErrorCode, RecordedPlain};

use super::frames;
use super::keys::{self, FrameKey};
use crate::context::{HostContext, RequestError};
use crate::server_api::CallError;

/// One batch of the recording after `after`: the frames of one page of
/// the server's, opened, and the cursor of the rest. A page whose frames
/// open to more than [`REPLAY_BATCH_BYTES`] is asked for again, smaller, so
/// that an answer always fits a message to the browser.
pub async fn fetch(
    ctx: &HostContext,
    session_id: &str,
    after: Option<u64>,
) -> Result<(Vec<RecordedPlain>, Option<u64>), RequestError> {
    let key = Arc::new(stored_key(ctx, session_id)?);
    let (api, _) = ctx.api()?;
    let mut limit = RECORDING_PAGE_FRAMES;
    loop {
        let query = RecordingQuery { after, limit: Some(limit) };
        let page: Recording = api.get(&query.path(session_id)).await.map_err(|e| match e {
            CallError::Status { status: 404, .. } => RequestError::new(
                ErrorCode::CobrowseNotActive,
                format!("session {session_id} has no recording (the visitor did not allow it, or it was deleted)"),
            ),
            other => RequestError::from(other),
        })?;
        // A cursor that does not move on would loop for ever.
        if let (Some(next), Some(after)) = (page.next, after) {
            if next <= after {
                return Err(RequestError::new(
                    ErrorCode::Internal,
                    format!("the server's recording pages do not advance (cursor {next})"),
                ));
            }
        }
        let (id, k) = (session_id.to_owned(), key.clone());
        let count = page.frames.len() as u32;
        let opened = tokio::task::spawn_blocking(move || open_all(&k, &id, page.frames))
            .await
            .map_err(|e| RequestError::new(ErrorCode::Internal, e.to_string()))?;
        let size: usize = opened.iter().map(|f| serde_json::to_vec(&f.frame).map_or(0, |v| v.len())).sum();
        if size > REPLAY_BATCH_BYTES && count > 1 {
            limit = (count / 4).max(1);
            continue;
        }
        return Ok((opened, page.next));
    }
}

fn stored_key(ctx: &HostContext, session_id: &str) -> Result<FrameKey, RequestError> {
    let stored = ctx.store()?.cobrowse_key(&ctx.server_url, session_id).map_err(RequestError::storage)?;
    let Some((_role, sealed)) = stored else {
        return Err(RequestError::new(
            ErrorCode::CobrowseNotActive,
            format!("this device holds no key for session {session_id}; only a device that took part can replay it"),
        ));
    };
    let raw = ctx.vault.open(&sealed, &keys::vault_context(&ctx.server_url, session_id)).map_err(RequestError::storage)?;
    FrameKey::from_bytes(&raw).map_err(|e| RequestError::storage(e.to_string()))
}

/// Opens every frame; one that does not open is left out (and logged)
/// rather than losing the rest of the recording.
fn open_all(key: &FrameKey, session_id: &str, recorded: Vec<RecordedFrame>) -> Vec<RecordedPlain> {
    let mut frames = Vec::with_capacity(recorded.len());
    for f in recorded {
        match frames::decode(key, session_id, f.from, f.seq, &f.ct) {
            Ok(frame) => frames.push(RecordedPlain { seq: f.seq, from: f.from, at_ms: f.at_ms, frame }),
            Err(e) => tracing::warn!("co-browsing {session_id}: recorded {e}"),
        }
    }
    frames
}
