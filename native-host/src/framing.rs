//! Native messaging framing: a u32 length in native byte order, then that
//! many bytes of UTF-8 JSON. Reading is blocking and bounded; writing chunks
//! anything over the browser's 1 MiB limit.

use std::io::{self, Read, Write};

use baton_shared::chunk;
use baton_shared::limits::MAX_FRAME_TO_BROWSER;
use baton_shared::native::{ErrorCode, HostMessage};

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame was read and discarded; the stream is still in sync.
    #[error("frame of {len} bytes exceeds the host's {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    /// Input ended inside a frame; the stream cannot be resynchronised.
    #[error("input ended inside a frame: expected {expected} bytes, got {got}")]
    Truncated { expected: usize, got: usize },
    #[error("reading from the browser failed: {0}")]
    Io(#[from] io::Error),
}

impl FrameError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } => ErrorCode::FrameTooLarge,
            Self::Truncated { .. } => ErrorCode::TruncatedFrame,
            Self::Io(_) => ErrorCode::Internal,
        }
    }

    /// Whether reading can go on after this error.
    pub fn is_recoverable(&self) -> bool {
        matches!(self, Self::TooLarge { .. })
    }
}

/// Reads one frame. `Ok(None)` is a clean end of input between frames.
pub fn read_frame(input: &mut impl Read, limit: usize) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; 4];
    let got = read_full(input, &mut header)?;
    if got == 0 {
        return Ok(None);
    }
    if got < header.len() {
        return Err(FrameError::Truncated { expected: header.len(), got });
    }
    let len = u32::from_ne_bytes(header) as usize;
    if len > limit {
        // Skip the body so the next frame is read from its start.
        let skipped = io::copy(&mut input.take(len as u64), &mut io::sink())? as usize;
        if skipped < len {
            return Err(FrameError::Truncated { expected: len, got: skipped });
        }
        return Err(FrameError::TooLarge { len, limit });
    }
    let mut body = vec![0u8; len];
    let got = read_full(input, &mut body)?;
    if got < len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    Ok(Some(body))
}

/// Like `read_exact`, but reports how much arrived before end of input.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Serialises a message into one or more frame payloads, each within the
/// browser's limit. A message too large even for chunking becomes a
/// `payload_too_large` error addressed to the same request.
pub fn encode(message: &HostMessage, next_chunk_id: &mut u64) -> Vec<Vec<u8>> {
    let json = match serde_json::to_string(message) {
        Ok(json) => json,
        Err(e) => {
            return vec![error_payload(reply_id(message), ErrorCode::Internal, &format!("cannot encode reply: {e}"))]
        }
    };
    if !chunk::needs_chunking(&json) {
        return vec![json.into_bytes()];
    }
    *next_chunk_id += 1;
    match chunk::split(*next_chunk_id, &json) {
        Ok(frames) => {
            frames.into_iter().filter_map(|frame| serde_json::to_vec(&HostMessage::Chunk(frame)).ok()).collect()
        }
        Err(e) => vec![error_payload(reply_id(message), ErrorCode::PayloadTooLarge, &e.to_string())],
    }
}

fn reply_id(message: &HostMessage) -> serde_json::Value {
    message.reply_id()
}

fn error_payload(id: serde_json::Value, code: ErrorCode, message: &str) -> Vec<u8> {
    let msg = HostMessage::Error { id, code, message: message.to_owned() };
    serde_json::to_vec(&msg).unwrap_or_default()
}

/// Writes one frame and flushes, so the browser sees it at once.
pub fn write_frame(output: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    debug_assert!(payload.len() <= MAX_FRAME_TO_BROWSER);
    let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("frame too large"))?;
    output.write_all(&len.to_ne_bytes())?;
    output.write_all(payload)?;
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::chunk::Reassembler;
    use serde_json::json;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_ne_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn reads_frames_then_clean_eof() {
        let mut input = [frame(b"{}"), frame(b"[1]")].concat();
        let mut r = &input[..];
        assert_eq!(read_frame(&mut r, 100).unwrap().unwrap(), b"{}");
        assert_eq!(read_frame(&mut r, 100).unwrap().unwrap(), b"[1]");
        assert!(read_frame(&mut r, 100).unwrap().is_none());
        input.truncate(3);
        assert!(matches!(read_frame(&mut &input[..], 100), Err(FrameError::Truncated { expected: 4, got: 3 })));
    }

    #[test]
    fn oversized_frame_is_skipped_and_stream_stays_in_sync() {
        let input = [frame(&[b'x'; 50]), frame(b"{}")].concat();
        let mut r = &input[..];
        let err = read_frame(&mut r, 10).unwrap_err();
        assert!(err.is_recoverable());
        assert_eq!(read_frame(&mut r, 10).unwrap().unwrap(), b"{}");
    }

    #[test]
    fn truncated_body() {
        let mut input = frame(b"{\"type\":1}");
        input.truncate(8);
        assert!(matches!(read_frame(&mut &input[..], 100), Err(FrameError::Truncated { expected: 10, got: 4 })));
    }

    #[test]
    fn large_messages_are_chunked_within_the_limit() {
        let big = "z".repeat(3 * MAX_FRAME_TO_BROWSER);
        let msg = HostMessage::Error { id: json!(1), code: ErrorCode::Internal, message: big };
        let mut next = 0;
        let frames = encode(&msg, &mut next);
        assert!(frames.len() >= 4);
        let mut re = Reassembler::default();
        let mut whole = None;
        for f in frames {
            assert!(f.len() <= MAX_FRAME_TO_BROWSER);
            let HostMessage::Chunk(c) = serde_json::from_slice(&f).unwrap() else { panic!("not a chunk") };
            whole = re.push(c).unwrap();
        }
        assert_eq!(serde_json::from_str::<HostMessage>(&whole.unwrap()).unwrap(), msg);
    }
}
