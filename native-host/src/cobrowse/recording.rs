//! Replaying a recorded session: the server keeps the frames as they
//! crossed the relay (ciphertext) and hands them out in pages; the host
//! fetches every page and opens the frames with the key it stored when it
//! took part.

use baton_shared::cobrowse::{RecordedFrame, Recording, RecordingQuery};
use baton_shared::native::{ErrorCode, RecordedPlain};

use super::frames;
use super::keys::{self, FrameKey};
use crate::context::{HostContext, RequestError};
use crate::server_api::CallError;

pub async fn fetch(ctx: &HostContext, session_id: &str) -> Result<Vec<RecordedPlain>, RequestError> {
    let key = stored_key(ctx, session_id)?;
    let (api, _) = ctx.api()?;
    let mut query = RecordingQuery::default();
    let mut recorded = Vec::new();
    loop {
        let page: Recording = api.get(&query.path(session_id)).await.map_err(|e| match e {
            CallError::Status { status: 404, .. } => RequestError::new(
                ErrorCode::CobrowseNotActive,
                format!("session {session_id} has no recording (the visitor did not allow it, or it was deleted)"),
            ),
            other => RequestError::from(other),
        })?;
        recorded.extend(page.frames);
        match page.next {
            // A cursor that does not move on would loop for ever.
            Some(next) if query.after.is_none_or(|after| next > after) => query.after = Some(next),
            Some(next) => {
                return Err(RequestError::new(
                    ErrorCode::Internal,
                    format!("the server's recording pages do not advance (cursor {next})"),
                ))
            }
            None => break,
        }
    }
    let id = session_id.to_owned();
    tokio::task::spawn_blocking(move || open_all(&key, &id, recorded))
        .await
        .map_err(|e| RequestError::new(ErrorCode::Internal, e.to_string()))
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
