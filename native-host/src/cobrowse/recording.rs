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
        let count = page_count(limit, page.frames.len())?;
        let (id, k) = (session_id.to_owned(), key.clone());
        let opened = tokio::task::spawn_blocking(move || open_all(&k, &id, page.frames, REPLAY_BATCH_BYTES))
            .await
            .map_err(|e| RequestError::new(ErrorCode::Internal, e.to_string()))?;
        if opened.bytes > REPLAY_BATCH_BYTES && count > 1 {
            limit = smaller_page(limit, count);
            continue;
        }
        return Ok((opened.frames, page.next));
    }
}

/// The frames in a page asked for with `limit`: more than asked is not
/// Baton's protocol (and a server that keeps answering so would keep a
/// replay asking again for ever).
fn page_count(limit: u32, frames: usize) -> Result<u32, CallError> {
    match u32::try_from(frames) {
        Ok(count) if count <= limit => Ok(count),
        _ => Err(CallError::Garbage(format!("a recording page holds {frames} frames; at most {limit} were asked for"))),
    }
}

/// The page to ask for after one of `count` frames (asked for `limit`)
/// opened too large: a quarter of it, never more than before, so that pages
/// shrink to one frame whatever the server answers.
fn smaller_page(limit: u32, count: u32) -> u32 {
    (limit.min(count) / 4).max(1)
}

fn stored_key(ctx: &HostContext, session_id: &str) -> Result<FrameKey, RequestError> {
    let stored = ctx.store()?.cobrowse_key(&ctx.server_url, session_id).map_err(RequestError::storage)?;
    let Some((_role, sealed)) = stored else {
        return Err(RequestError::new(
            ErrorCode::CobrowseNotActive,
            format!("this device holds no key for session {session_id}; only a device that took part can replay it"),
        ));
    };
    let raw =
        ctx.vault.open(&sealed, &keys::vault_context(&ctx.server_url, session_id)).map_err(RequestError::storage)?;
    FrameKey::from_bytes(&raw).map_err(|e| RequestError::storage(e.to_string()))
}

/// Frames opened from one page, and their size as JSON.
struct Opened {
    frames: Vec<RecordedPlain>,
    bytes: usize,
}

/// Opens frames in order until they add up to more than `budget` bytes (as
/// JSON): stored frames are deflated and a page can open to many times its
/// size, and a page over the budget is asked for again, smaller, so opening
/// the rest would be wasted. A frame that does not open is left out (and
/// logged) rather than losing the rest of the recording.
fn open_all(key: &FrameKey, session_id: &str, recorded: Vec<RecordedFrame>, budget: usize) -> Opened {
    let mut opened = Opened { frames: Vec::with_capacity(recorded.len()), bytes: 0 };
    for f in recorded {
        if opened.bytes > budget {
            break;
        }
        match frames::decode(key, session_id, f.from, f.seq, &f.ct) {
            Ok(frame) => {
                opened.bytes += serde_json::to_vec(&frame).map_or(0, |v| v.len());
                opened.frames.push(RecordedPlain { seq: f.seq, from: f.from, at_ms: f.at_ms, frame });
            }
            Err(e) => tracing::warn!("co-browsing {session_id}: recorded {e}"),
        }
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::cobrowse::{Frame, Role, VisitorFrame};

    #[test]
    fn pages_only_shrink_whatever_the_server_answers() {
        assert_eq!(smaller_page(1_000, 1_000), 250);
        assert_eq!(smaller_page(1_000, 40), 10);
        // A server answering more than asked cannot make the next page larger.
        assert_eq!(smaller_page(8, 1_000), 2);
        assert_eq!(smaller_page(3, 3), 1);
        assert_eq!(smaller_page(1, u32::MAX), 1);
        let mut limit = RECORDING_PAGE_FRAMES;
        let mut asked = 0;
        while limit > 1 {
            let next = smaller_page(limit, u32::MAX);
            assert!(next < limit);
            (limit, asked) = (next, asked + 1);
        }
        assert!(asked <= 5, "{asked} smaller pages before one frame");
    }

    #[test]
    fn a_page_larger_than_asked_for_is_garbage() {
        assert_eq!(page_count(10, 10).unwrap(), 10);
        assert_eq!(page_count(10, 0).unwrap(), 0);
        let err = page_count(10, 11).unwrap_err();
        assert!(matches!(err, CallError::Garbage(_)), "{err}");
        assert!(err.to_string().contains("11 frames; at most 10"), "{err}");
    }

    #[test]
    fn opening_stops_once_the_batch_is_over_budget() {
        let key = FrameKey::from_bytes(&[7; 32]).unwrap();
        let frame = Frame::Visitor {
            frame: VisitorFrame::Navigated { url: "https://bank.example/".into(), title: "x".repeat(200) },
        };
        let size = serde_json::to_vec(&frame).unwrap().len();
        let recorded: Vec<RecordedFrame> = (1..=5)
            .map(|seq| RecordedFrame {
                seq,
                from: Role::Visitor,
                at_ms: 0,
                ct: frames::encode(&key, "s", Role::Visitor, seq, &frame).unwrap(),
            })
            .collect();
        let all = open_all(&key, "s", recorded.clone(), usize::MAX);
        assert_eq!((all.frames.len(), all.bytes), (5, 5 * size));
        // The second frame passes the budget: the other three stay shut.
        let some = open_all(&key, "s", recorded, size + 1);
        assert_eq!(some.frames.iter().map(|f| f.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(some.bytes, 2 * size);
    }
}
