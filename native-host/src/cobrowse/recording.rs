//! Replaying a recorded session: the server keeps the frames as they
//! crossed the relay (ciphertext); the host opens them with the key it
//! stored when it took part.

use baton_shared::cobrowse::{Recording, PATH_SESSION};
use baton_shared::native::{ErrorCode, RecordedPlain};

use super::frames;
use super::keys::{self, FrameKey};
use crate::context::{HostContext, RequestError};
use crate::server_api::CallError;

pub async fn fetch(ctx: &HostContext, session_id: &str) -> Result<Vec<RecordedPlain>, RequestError> {
    let key = stored_key(ctx, session_id)?;
    let (api, _) = ctx.api()?;
    let recording: Recording = api.get(&format!("{PATH_SESSION}/{session_id}/recording")).await.map_err(|e| match e {
        CallError::Status { status: 404, .. } => RequestError::new(
            ErrorCode::CobrowseNotActive,
            format!("session {session_id} has no recording (the visitor did not allow it, or it was deleted)"),
        ),
        other => RequestError::from(other),
    })?;
    let id = session_id.to_owned();
    tokio::task::spawn_blocking(move || open_all(&key, &id, recording))
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
fn open_all(key: &FrameKey, session_id: &str, recording: Recording) -> Vec<RecordedPlain> {
    let mut frames = Vec::with_capacity(recording.frames.len());
    for f in recording.frames {
        match frames::decode(key, session_id, f.from, f.seq, &f.ct) {
            Ok(frame) => frames.push(RecordedPlain { seq: f.seq, from: f.from, at_ms: f.at_ms, frame }),
            Err(e) => tracing::warn!("co-browsing {session_id}: recorded {e}"),
        }
    }
    frames
}
